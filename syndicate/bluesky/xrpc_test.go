package bluesky

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate"
)

const (
	testHandle   = "newsroom.test"
	testPassword = "abcd-efgh-ijkl-mnop" // an app password's shape
	testDID      = "did:plc:abcdefghijklmnopqrstuvwx"
)

// syncBuffer is a log sink safe for the client's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testClient is a client whose sleeps are recorded, not slept, and whose
// log lines are kept.
type testClient struct {
	*Client
	log    *syncBuffer
	mu     sync.Mutex
	sleeps []time.Duration
}

func (tc *testClient) slept() []time.Duration {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return append([]time.Duration(nil), tc.sleeps...)
}

var fixedNow = time.Date(2026, 12, 1, 19, 0, 0, 0, time.UTC)

func newTestClient(t *testing.T, service string, opt ...func(*Options)) *testClient {
	t.Helper()
	log := &syncBuffer{}
	o := Options{Service: service, Handle: testHandle, AppPassword: testPassword, Timeout: 10 * time.Second,
		Retries: 2, Backoff: time.Millisecond, Logger: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	for _, f := range opt {
		f(&o)
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	tc := &testClient{Client: c, log: log}
	c.now = func() time.Time { return fixedNow }
	c.sleep = func(ctx context.Context, d time.Duration) error {
		tc.mu.Lock()
		tc.sleeps = append(tc.sleeps, d)
		tc.mu.Unlock()
		return ctx.Err()
	}
	return tc
}

// fake is a scripted PDS: one handler per NSID, each call counted.
type fake struct {
	*httptest.Server
	mu       sync.Mutex
	handlers map[string]http.HandlerFunc
	calls    map[string]int
	tokens   []string // the Authorization of each call, in order
}

func newFake(t *testing.T) *fake {
	f := &fake{handlers: map[string]http.HandlerFunc{}, calls: map[string]int{}}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nsid := strings.TrimPrefix(r.URL.Path, "/xrpc/")
		f.mu.Lock()
		f.calls[nsid]++
		f.tokens = append(f.tokens, nsid+" "+r.Header.Get("Authorization"))
		h := f.handlers[nsid]
		f.mu.Unlock()
		if h == nil {
			xrpcErr(w, 501, "MethodNotImplemented", "Method Not Implemented")
			return
		}
		h(w, r)
	}))
	t.Cleanup(f.Close)
	f.handle("com.atproto.server.createSession", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"accessJwt": "access-1", "refreshJwt": "refresh-1", "handle": testHandle, "did": testDID, "active": true})
	})
	return f
}

func (f *fake) handle(nsid string, h http.HandlerFunc) {
	f.mu.Lock()
	f.handlers[nsid] = h
	f.mu.Unlock()
}

func (f *fake) count(nsid string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[nsid]
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func xrpcErr(w http.ResponseWriter, status int, name, msg string) {
	writeJSON(w, status, map[string]string{"error": name, "message": msg})
}

func okRecord(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, map[string]any{"uri": headURI, "cid": headCID, "value": map[string]any{"text": "x"}})
}

func TestSend_RateLimits(t *testing.T) {
	f := newFake(t)
	var mu sync.Mutex
	var answers []func(http.ResponseWriter)
	f.handle("com.atproto.repo.getRecord", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		var a func(http.ResponseWriter)
		if len(answers) > 0 {
			a, answers = answers[0], answers[1:]
		}
		mu.Unlock()
		if a == nil {
			okRecord(w, r)
			return
		}
		a(w)
	})
	limited := func(h map[string]string) func(http.ResponseWriter) {
		return func(w http.ResponseWriter) {
			for k, v := range h {
				w.Header().Set(k, v)
			}
			xrpcErr(w, 429, "RateLimitExceeded", "Rate Limit Exceeded")
		}
	}
	unix := func(d time.Duration) string { return strconv.FormatInt(fixedNow.Add(d).Unix(), 10) }
	tests := []struct {
		name    string
		answers []func(http.ResponseWriter)
		sleeps  []time.Duration
		limited bool
	}{
		{"reset", []func(http.ResponseWriter){limited(map[string]string{"RateLimit-Reset": unix(30 * time.Second), "RateLimit-Policy": "30;w=300"})},
			[]time.Duration{30*time.Second + 500*time.Millisecond}, false},
		{"retry-after later than the reset", []func(http.ResponseWriter){limited(map[string]string{"RateLimit-Reset": unix(30 * time.Second), "Retry-After": "120"})},
			[]time.Duration{120*time.Second + 500*time.Millisecond}, false},
		{"a reset in the past waits a second", []func(http.ResponseWriter){limited(map[string]string{"RateLimit-Reset": unix(-time.Minute)})},
			[]time.Duration{time.Second}, false},
		{"no headers: a backoff", []func(http.ResponseWriter){limited(nil), limited(nil)},
			[]time.Duration{time.Second, 2 * time.Second}, false},
		{"beyond MaxRateWait", []func(http.ResponseWriter){limited(map[string]string{"RateLimit-Reset": unix(time.Hour)})},
			nil, true},
		{"two waits adding up beyond MaxRateWait", []func(http.ResponseWriter){
			limited(map[string]string{"RateLimit-Reset": unix(10 * time.Minute)}),
			limited(map[string]string{"RateLimit-Reset": unix(10 * time.Minute)})},
			[]time.Duration{10*time.Minute + 500*time.Millisecond}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestClient(t, f.URL)
			mu.Lock()
			answers = tt.answers
			mu.Unlock()
			_, found, err := c.getPost(t.Context(), "read", testDID, "3lbcdefghij22")
			if got := c.slept(); !equalDurations(got, tt.sleeps) {
				t.Errorf("slept %v, want %v", got, tt.sleeps)
			}
			if tt.limited {
				if !errors.Is(err, ErrRateLimited) || errors.Is(err, syndicate.ErrRejected) || errors.Is(err, syndicate.ErrUnauthorized) {
					t.Errorf("err = %v, want ErrRateLimited only", err)
				}
				return
			}
			if err != nil || !found {
				t.Errorf("found %v, err %v", found, err)
			}
		})
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestCall_Classification(t *testing.T) {
	tests := []struct {
		status       int
		name, msg    string
		rejected     bool
		unauthorized bool
		attempts     int // with Retries 2
	}{
		{500, "InternalServerError", "Internal Server Error", false, false, 3},
		{502, "", "", false, false, 3},
		{408, "", "", false, false, 3},
		{400, "InvalidRequest", "Invalid app.bsky.feed.post record: grapheme too big (maximum 300, got 301) at $.record.text", true, false, 1},
		{413, "PayloadTooLarge", "request entity too large", true, false, 1},
		{403, "Forbidden", "Bad token scope", false, true, 1},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.status)+tt.name, func(t *testing.T) {
			f := newFake(t)
			f.handle("com.atproto.repo.getRecord", func(w http.ResponseWriter, r *http.Request) {
				if tt.name == "" {
					w.WriteHeader(tt.status)
					io.WriteString(w, "<html>Bad Gateway</html>")
					return
				}
				xrpcErr(w, tt.status, tt.name, tt.msg)
			})
			c := newTestClient(t, f.URL)
			_, _, err := c.getPost(t.Context(), "read post 1", testDID, "3lbcdefghij22")
			if err == nil {
				t.Fatal("no error")
			}
			if got := errors.Is(err, syndicate.ErrRejected); got != tt.rejected {
				t.Errorf("rejected = %v (%v)", got, err)
			}
			if got := errors.Is(err, syndicate.ErrUnauthorized); got != tt.unauthorized {
				t.Errorf("unauthorized = %v (%v)", got, err)
			}
			if got := f.count("com.atproto.repo.getRecord"); got != tt.attempts {
				t.Errorf("%d attempts, want %d", got, tt.attempts)
			}
			if tt.msg != "" && !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err %q lacks the server's message %q", err, tt.msg)
			}
			if !strings.HasPrefix(err.Error(), "bluesky: read post 1: ") {
				t.Errorf("err %q does not name the operation", err)
			}
		})
	}
}

func TestCall_TimeoutPerAttempt(t *testing.T) {
	f := newFake(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	f.handle("com.atproto.repo.getRecord", func(w http.ResponseWriter, r *http.Request) {
		select { // never answers; the client gives up
		case <-r.Context().Done():
		case <-release:
		}
	})
	c := newTestClient(t, f.URL, func(o *Options) { o.Timeout = 50 * time.Millisecond; o.Retries = 1 })
	_, _, err := c.getPost(t.Context(), "read", testDID, "3lbcdefghij22")
	if err == nil || errors.Is(err, syndicate.ErrRejected) || errors.Is(err, syndicate.ErrUnauthorized) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want a transient timeout", err)
	}
	if got := f.count("com.atproto.repo.getRecord"); got != 2 {
		t.Errorf("%d attempts, want 2", got)
	}
}

// secretsIn lists the secrets found in s.
func secretsIn(s string, secrets ...string) []string {
	var found []string
	for _, v := range secrets {
		if strings.Contains(s, v) {
			found = append(found, v)
		}
	}
	return found
}

func TestSession_LoginRefused(t *testing.T) {
	for _, echo := range []bool{false, true} {
		f := newFake(t)
		f.handle("com.atproto.server.createSession", func(w http.ResponseWriter, r *http.Request) {
			msg := "Invalid identifier or password"
			if echo { // a server that should not, but does
				var in map[string]string
				json.NewDecoder(r.Body).Decode(&in)
				msg += " (got " + in["password"] + ")"
			}
			xrpcErr(w, 401, "AuthenticationRequired", msg)
		})
		c := newTestClient(t, f.URL)
		_, _, err := c.Session(t.Context())
		if !errors.Is(err, syndicate.ErrUnauthorized) || !strings.Contains(err.Error(), "Invalid identifier or password") {
			t.Errorf("err = %v, want ErrUnauthorized with the server's reason", err)
		}
		_, err = c.Post(t.Context(), syndicate.PlannedPost{Text: "x", RecordKey: "3lbcdefghij22", CreatedAt: fixedNow}, syndicate.Ref{}, syndicate.Ref{}, nil)
		if !errors.Is(err, syndicate.ErrUnauthorized) {
			t.Errorf("post: err = %v", err)
		}
		c.opts.Logger.Info("options", "opts", c.opts) // LogValue hides the password
		for _, s := range []string{err.Error(), c.log.String()} {
			if found := secretsIn(s, testPassword); len(found) > 0 {
				t.Errorf("the app password is in %q", s)
			}
		}
		if got := f.count("com.atproto.server.createSession"); got != 2 {
			t.Errorf("%d logins, want 2 (one per call, no retries of a refusal)", got)
		}
	}
}

func TestSession_RefreshAndLogInAgain(t *testing.T) {
	f := newFake(t)
	var mu sync.Mutex
	valid := map[string]bool{"access-1": true}
	refreshOK := true
	logins := 0
	f.handle("com.atproto.server.createSession", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		logins++
		n := strconv.Itoa(100 + logins)
		valid["access-"+n] = true
		mu.Unlock()
		writeJSON(w, 200, map[string]any{"accessJwt": "access-" + n, "refreshJwt": "refresh-" + n, "handle": testHandle, "did": testDID})
	})
	f.handle("com.atproto.server.refreshSession", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if !refreshOK {
			xrpcErr(w, 400, "ExpiredToken", "Token has expired")
			return
		}
		old := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer refresh-")
		valid["access-r"+old] = true
		writeJSON(w, 200, map[string]any{"accessJwt": "access-r" + old, "refreshJwt": "refresh-r" + old, "handle": testHandle, "did": testDID})
	})
	f.handle("com.atproto.repo.getRecord", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ok := valid[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
		mu.Unlock()
		if !ok {
			xrpcErr(w, 400, "ExpiredToken", "Token has expired")
			return
		}
		okRecord(w, r)
	})
	c := newTestClient(t, f.URL)
	read := func() error {
		_, _, err := c.getPost(t.Context(), "read", testDID, "3lbcdefghij22")
		return err
	}
	// First use logs in.
	if err := read(); err != nil {
		t.Fatal(err)
	}
	// The access token expires: refreshed, the call goes through.
	mu.Lock()
	valid = map[string]bool{}
	mu.Unlock()
	if err := read(); err != nil {
		t.Fatal(err)
	}
	nlogins := func() int {
		mu.Lock()
		defer mu.Unlock()
		return logins
	}
	if f.count("com.atproto.server.refreshSession") != 1 || nlogins() != 1 {
		t.Errorf("%d refreshes, %d logins; want 1 and 1", f.count("com.atproto.server.refreshSession"), nlogins())
	}
	// Both tokens expire: the refresh is refused, a new login follows.
	mu.Lock()
	valid, refreshOK = map[string]bool{}, false
	mu.Unlock()
	if err := read(); err != nil {
		t.Fatal(err)
	}
	if f.count("com.atproto.server.refreshSession") != 2 || nlogins() != 2 {
		t.Errorf("%d refreshes, %d logins; want 2 and 2", f.count("com.atproto.server.refreshSession"), nlogins())
	}
	// A token the PDS never takes, even fresh: ErrUnauthorized.
	f.handle("com.atproto.repo.getRecord", func(w http.ResponseWriter, r *http.Request) {
		xrpcErr(w, 400, "InvalidToken", "Token could not be verified")
	})
	err := read()
	if !errors.Is(err, syndicate.ErrUnauthorized) {
		t.Errorf("err = %v, want ErrUnauthorized", err)
	}
	out := err.Error() + c.log.String()
	if found := secretsIn(out, testPassword, "access-", "refresh-"); len(found) > 0 {
		t.Errorf("secrets %q in %q", found, out)
	}
}

func TestNew_Options(t *testing.T) {
	for _, o := range []Options{
		{Service: "ftp://x", Handle: "a", AppPassword: "p"},
		{Service: "https://bsky.social", AppPassword: "p"},
		{Service: "https://bsky.social", Handle: "a"},
		{Service: "https://bsky.social", Handle: "a", AppPassword: "p", Language: "not a tag"},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v): no error", o)
		} else if strings.Contains(err.Error(), "p\"") {
			t.Errorf("error shows the password: %v", err)
		}
	}
	c, err := New(Options{Handle: "a", AppPassword: "p", Language: "EN-gb"})
	if err != nil || c.service != "https://bsky.social" || c.lang != "en-GB" || c.web != "https://bsky.app" {
		t.Errorf("defaults: %+v %v", c, err)
	}
}

// TestSession_ConcurrentRefresh: calls that find the access token expired
// at once refresh it once, and all go through.
func TestSession_ConcurrentRefresh(t *testing.T) {
	f := newFake(t)
	var mu sync.Mutex
	current := "access-1"
	f.handle("com.atproto.server.refreshSession", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		current = "access-2"
		mu.Unlock()
		writeJSON(w, 200, map[string]any{"accessJwt": "access-2", "refreshJwt": "refresh-2", "handle": testHandle, "did": testDID})
	})
	f.handle("com.atproto.repo.getRecord", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ok := r.Header.Get("Authorization") == "Bearer "+current
		mu.Unlock()
		if !ok {
			xrpcErr(w, 400, "ExpiredToken", "Token has expired")
			return
		}
		okRecord(w, r)
	})
	c := newTestClient(t, f.URL)
	if _, _, err := c.Session(t.Context()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	current = "access-expired-all"
	mu.Unlock()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			_, _, err := c.getPost(t.Context(), "read", testDID, "3lbcdefghij22")
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	// The first refresh makes access-2 current; the test's "expired all"
	// token is replaced by it, so every call succeeds after one refresh.
	if got := f.count("com.atproto.server.refreshSession"); got != 1 {
		t.Errorf("%d refreshes, want 1", got)
	}
}

func TestSession_Answers(t *testing.T) {
	no := false
	for _, a := range []sessionAnswer{
		{AccessJwt: "a", RefreshJwt: "r", DID: testDID, Active: &no, Status: "takendown"},
		{AccessJwt: "a", RefreshJwt: "r", DID: "not a did"},
		{DID: testDID},
	} {
		if _, err := a.session(); err == nil {
			t.Errorf("%+v: no error", a)
		}
	}
	f := newFake(t)
	f.handle("com.atproto.server.createSession", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"accessJwt": "a", "refreshJwt": "r", "did": testDID, "active": false, "status": "deactivated"})
	})
	_, _, err := newTestClient(t, f.URL).Session(t.Context())
	if !errors.Is(err, syndicate.ErrUnauthorized) || !strings.Contains(err.Error(), "deactivated") {
		t.Errorf("an inactive account: %v", err)
	}
}

func TestUpload_Answers(t *testing.T) {
	var pngb bytes.Buffer
	png.Encode(&pngb, gradient(30, 20))
	pic := syndicate.Picture{Name: "p.png", Type: "image/png", Data: pngb.Bytes()}
	for _, tt := range []struct {
		name   string
		answer func(w http.ResponseWriter)
		want   string
		kind   error
	}{
		{"too large for the PDS", func(w http.ResponseWriter) { xrpcErr(w, 413, "PayloadTooLarge", "request entity too large") },
			"request entity too large", syndicate.ErrRejected},
		{"no blob", func(w http.ResponseWriter) { writeJSON(w, 200, map[string]any{}) }, "without a blob", nil},
		{"not an image", func(w http.ResponseWriter) {
			writeJSON(w, 200, map[string]any{"blob": map[string]any{"$type": "blob", "ref": map[string]string{"$link": "bafkreih2fsgmj4ubo2565vfxg3pvngruy6ong4r6t3cc7ftuwtkgvrvyxa"}, "mimeType": "text/plain", "size": 5}})
		}, "not an image", syndicate.ErrRejected},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.handle("com.atproto.repo.uploadBlob", func(w http.ResponseWriter, r *http.Request) { tt.answer(w) })
			_, err := newTestClient(t, f.URL).Upload(t.Context(), pic, "alt")
			if err == nil || !strings.Contains(err.Error(), tt.want) || (tt.kind != nil && !errors.Is(err, tt.kind)) {
				t.Errorf("err = %v, want %q (%v)", err, tt.want, tt.kind)
			}
		})
	}
}
