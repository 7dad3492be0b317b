package unsubscribe

import (
	"bytes"
	"context"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

type memStore struct {
	mu  sync.Mutex
	got []string
}

func (m *memStore) Unsubscribe(_ context.Context, email string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.got = append(m.got, email)
	return nil
}

func TestHandler(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	const list = "digest.example.org"
	good := Token(secret, list, "Ada@Example.org")
	multipartBody := func(field, value string) (string, *bytes.Buffer) {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		mw.WriteField(field, value)
		mw.Close()
		return mw.FormDataContentType(), &b
	}
	tests := []struct {
		name        string
		method      string
		token       string
		contentType string
		body        func() *bytes.Buffer
		wantCode    int
		wantStored  bool
	}{
		{"one-click POST, urlencoded (RFC 8058 MAY)", "POST", good, "application/x-www-form-urlencoded",
			func() *bytes.Buffer { return bytes.NewBufferString("List-Unsubscribe=One-Click") }, 200, true},
		{"one-click POST, multipart (RFC 8058 SHOULD)", "POST", good, "", nil, 200, true},
		{"GET shows a page and unsubscribes nobody (link scanners)", "GET", good, "", nil, 200, false},
		{"POST without One-Click", "POST", good, "application/x-www-form-urlencoded",
			func() *bytes.Buffer { return bytes.NewBufferString("List-Unsubscribe=Yes") }, 400, false},
		{"forged token", "POST", Token([]byte("another secret of thirty-two...."), list, "ada@example.org"), "application/x-www-form-urlencoded",
			func() *bytes.Buffer { return bytes.NewBufferString("List-Unsubscribe=One-Click") }, 403, false},
		{"a dry run's token", "POST", DryRunToken("ada@example.org"), "application/x-www-form-urlencoded",
			func() *bytes.Buffer { return bytes.NewBufferString("List-Unsubscribe=One-Click") }, 403, false},
		{"another list's token", "POST", Token(secret, "other.example.org", "ada@example.org"), "application/x-www-form-urlencoded",
			func() *bytes.Buffer { return bytes.NewBufferString("List-Unsubscribe=One-Click") }, 403, false},
		{"malformed token", "POST", "not-a-token", "application/x-www-form-urlencoded",
			func() *bytes.Buffer { return bytes.NewBufferString("List-Unsubscribe=One-Click") }, 400, false},
		{"a huge body is cut", "POST", good, "application/x-www-form-urlencoded",
			func() *bytes.Buffer {
				return bytes.NewBufferString("x=" + strings.Repeat("a", 1<<20) + "&List-Unsubscribe=One-Click")
			}, 400, false},
		{"PUT", "PUT", good, "", nil, 405, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &memStore{}
			h := &Handler{Secret: secret, List: list, Store: st, Log: slog.New(slog.DiscardHandler)}
			var body *bytes.Buffer
			ctype := tt.contentType
			switch {
			case tt.body != nil:
				body = tt.body()
			case tt.method == "POST":
				ctype, body = multipartBody("List-Unsubscribe", "One-Click")
			default:
				body = &bytes.Buffer{}
			}
			req := httptest.NewRequest(tt.method, "/unsubscribe?token="+url.QueryEscape(tt.token), body)
			if ctype != "" {
				req.Header.Set("Content-Type", ctype)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.wantCode {
				t.Errorf("status %d, want %d: %s", rec.Code, tt.wantCode, rec.Body)
			}
			if stored := len(st.got) == 1 && st.got[0] == "ada@example.org"; stored != tt.wantStored {
				t.Errorf("stored %v, want stored %v", st.got, tt.wantStored)
			}
			if rec.Header().Get("Cache-Control") != "no-store" && tt.wantCode != http.StatusMethodNotAllowed {
				t.Error("the answer may be cached")
			}
		})
	}
}
