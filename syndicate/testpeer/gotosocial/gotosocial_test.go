package gotosocial_test

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/syndicate-bot/syndicate/syndicate/testpeer/gotosocial"
)

func TestMain(m *testing.M) { os.Exit(gotosocial.Main(m)) }

// call makes one API request as acct and returns the status, headers and body.
func call(t *testing.T, srv *gotosocial.Server, token, method, path string, body io.Reader, ctype string, hdr map[string]string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

func getJSON(t *testing.T, srv *gotosocial.Server, token, path string, v any) http.Header {
	t.Helper()
	code, hdr, b := call(t, srv, token, http.MethodGet, path, nil, "", nil)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, code, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, b)
	}
	return hdr
}

// post posts a status (form fields) and returns the HTTP status and body.
func post(t *testing.T, srv *gotosocial.Server, token string, form url.Values, hdr map[string]string) (int, []byte) {
	t.Helper()
	code, _, b := call(t, srv, token, http.MethodPost, "/api/v1/statuses", strings.NewReader(form.Encode()), "application/x-www-form-urlencoded", hdr)
	return code, b
}

func mustPost(t *testing.T, srv *gotosocial.Server, token string, form url.Values) gotosocial.Status {
	t.Helper()
	code, b := post(t, srv, token, form, nil)
	if code != http.StatusOK {
		t.Fatalf("POST /api/v1/statuses %v: %d %s", form, code, b)
	}
	st, err := gotosocial.ParseStatus(b)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestServer_Smoke(t *testing.T) {
	srv := gotosocial.Shared(t)
	tok := srv.Token

	t.Run("instance", func(t *testing.T) {
		var inst struct {
			Version       string `json:"version"`
			Configuration struct {
				Statuses struct {
					MaxCharacters            int `json:"max_characters"`
					MaxMediaAttachments      int `json:"max_media_attachments"`
					CharactersReservedPerURL int `json:"characters_reserved_per_url"`
				} `json:"statuses"`
				MediaAttachments map[string]any `json:"media_attachments"`
			} `json:"configuration"`
		}
		hdr := getJSON(t, srv, tok, "/api/v2/instance", &inst)
		st := inst.Configuration.Statuses
		t.Logf("/api/v2/instance: version %q, max_characters %d, characters_reserved_per_url %d, max_media_attachments %d, media_attachments %v",
			inst.Version, st.MaxCharacters, st.CharactersReservedPerURL, st.MaxMediaAttachments, inst.Configuration.MediaAttachments)
		t.Logf("X-RateLimit-Limit %q, -Remaining %q, -Reset %q", hdr.Get("X-RateLimit-Limit"), hdr.Get("X-RateLimit-Remaining"), hdr.Get("X-RateLimit-Reset"))
		if got, want := st.MaxCharacters, 500; got != want {
			t.Errorf("max_characters = %d, want %d", got, want)
		}
		if got, want := st.MaxMediaAttachments, 4; got != want {
			t.Errorf("max_media_attachments = %d, want %d", got, want)
		}
		if hdr.Get("X-RateLimit-Limit") != "300" {
			t.Errorf("X-RateLimit-Limit = %q, want 300 (the default limiter is on)", hdr.Get("X-RateLimit-Limit"))
		}
		if _, err := time.Parse(time.RFC3339, hdr.Get("X-RateLimit-Reset")); err != nil {
			t.Errorf("X-RateLimit-Reset %q is not an RFC 3339 timestamp: %v", hdr.Get("X-RateLimit-Reset"), err)
		}
	})

	t.Run("nodeinfo", func(t *testing.T) {
		var wk struct {
			Links []struct{ Rel, Href string } `json:"links"`
		}
		getJSON(t, srv, "", "/.well-known/nodeinfo", &wk)
		if len(wk.Links) == 0 {
			t.Fatal("no links in /.well-known/nodeinfo")
		}
		u, err := url.Parse(wk.Links[0].Href)
		if err != nil {
			t.Fatal(err)
		}
		var ni struct {
			Software struct{ Name, Version string } `json:"software"`
		}
		getJSON(t, srv, "", u.RequestURI(), &ni)
		t.Logf("nodeinfo %s (%s): software %s %s", wk.Links[0].Href, wk.Links[0].Rel, ni.Software.Name, ni.Software.Version)
		if ni.Software.Name != "gotosocial" || !strings.Contains(ni.Software.Version, "0.18.3") {
			t.Errorf("software = %+v, want gotosocial 0.18.3", ni.Software)
		}
	})

	t.Run("idempotency key ignored", func(t *testing.T) {
		acct := srv.NewAccount(t, "idem")
		key := map[string]string{"Idempotency-Key": "syndicate-test-key-1"}
		form := url.Values{"status": {"same key twice"}, "visibility": {"public"}}
		c1, b1 := post(t, srv, acct.Token, form, key)
		c2, b2 := post(t, srv, acct.Token, form, key)
		s1, _ := gotosocial.ParseStatus(b1)
		s2, _ := gotosocial.ParseStatus(b2)
		t.Logf("same Idempotency-Key twice: %d id %s, %d id %s", c1, s1.ID, c2, s2.ID)
		if c1 != 200 || c2 != 200 || s1.ID == s2.ID {
			t.Errorf("want two distinct posts (GoToSocial ignores Idempotency-Key); got %d %s / %d %s", c1, b1, c2, b2)
		}
		if n := len(acct.Statuses(t)); n != 2 {
			t.Errorf("%d statuses, want 2", n)
		}
	})

	t.Run("thread read back", func(t *testing.T) {
		acct := srv.NewAccount(t, "thread")
		head := mustPost(t, srv, acct.Token, url.Values{
			"status":     {"Headline & <news>\nsecond line https://example.org/articles/1?x=1&y=2"},
			"visibility": {"public"}, "language": {"en"},
		})
		r1 := mustPost(t, srv, acct.Token, url.Values{"status": {"1/2 first point #tag"}, "visibility": {"unlisted"}, "in_reply_to_id": {head.ID}, "language": {"en"}})
		r2 := mustPost(t, srv, acct.Token, url.Values{"status": {"2/2 second point\n\nnew paragraph"}, "visibility": {"unlisted"}, "in_reply_to_id": {r1.ID}, "spoiler_text": {"cw"}})
		got := acct.Statuses(t)
		if len(got) != 3 {
			t.Fatalf("%d statuses, want 3", len(got))
		}
		for i, want := range []gotosocial.Status{head, r1, r2} {
			g := got[i]
			t.Logf("status %d: id %s in_reply_to_id %q visibility %s language %q spoiler %q\n  content %q\n  text    %q\n  Text()  %q",
				i, g.ID, g.InReplyToID, g.Visibility, g.Language, g.SpoilerText, g.Content, g.Source, g.Text)
			if g.ID != want.ID {
				t.Errorf("status %d: id %s, want %s (oldest first)", i, g.ID, want.ID)
			}
		}
		if got[0].InReplyToID != "" || got[1].InReplyToID != head.ID || got[2].InReplyToID != r1.ID {
			t.Errorf("in_reply_to_id chain: %q, %q, %q", got[0].InReplyToID, got[1].InReplyToID, got[2].InReplyToID)
		}
		if got[0].Visibility != "public" || got[1].Visibility != "unlisted" {
			t.Errorf("visibility %s, %s", got[0].Visibility, got[1].Visibility)
		}
		if want := "Headline & <news>\nsecond line https://example.org/articles/1?x=1&y=2"; got[0].Text != want || got[0].Source != want {
			t.Errorf("head Text %q / Source %q, want %q", got[0].Text, got[0].Source, want)
		}
		if want := "2/2 second point\n\nnew paragraph"; got[2].Text != want {
			t.Errorf("reply Text %q, want %q", got[2].Text, want)
		}
		// What another account sees of the same post.
		if other, ok := srv.Status(t, head.ID); !ok || other.Source != got[0].Source {
			t.Logf("read by another account: ok %v, text field %q", ok, other.Source)
		} else {
			t.Logf("read by another account: the text field is there too")
		}
		if got[2].SpoilerText != "cw" || got[0].Language != "en" {
			t.Errorf("spoiler %q language %q", got[2].SpoilerText, got[0].Language)
		}
	})

	t.Run("media", func(t *testing.T) {
		acct := srv.NewAccount(t, "media")
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		fw, err := mw.CreateFormFile("file", "pixel.png")
		if err != nil {
			t.Fatal(err)
		}
		img := image.NewRGBA(image.Rect(0, 0, 16, 8))
		for x := 0; x < 16; x++ {
			img.Set(x, x/2, color.RGBA{200, 30, 30, 255})
		}
		if err := png.Encode(fw, img); err != nil {
			t.Fatal(err)
		}
		const alt = "A red diagonal line on black — alt text"
		_ = mw.WriteField("description", alt)
		_ = mw.Close()
		code, _, b := call(t, srv, acct.Token, http.MethodPost, "/api/v2/media", &body, mw.FormDataContentType(), nil)
		var m struct {
			ID          string  `json:"id"`
			URL         *string `json:"url"`
			Description string  `json:"description"`
		}
		if err := json.Unmarshal(b, &m); err != nil || (code != 200 && code != 202) {
			t.Fatalf("POST /api/v2/media: %d %s", code, b)
		}
		t.Logf("POST /api/v2/media: %d, id %s, url %v, description %q", code, m.ID, m.URL, m.Description)
		st := mustPost(t, srv, acct.Token, url.Values{"status": {"with a picture"}, "media_ids[]": {m.ID}, "visibility": {"public"}})
		got := acct.Statuses(t)
		if len(got) != 1 || got[0].ID != st.ID || len(got[0].MediaAttachments) != 1 {
			t.Fatalf("statuses %+v, want one with one attachment", got)
		}
		a := got[0].MediaAttachments[0]
		t.Logf("attachment: %+v", a)
		if a.Description != alt || a.URL == "" || a.Type != "image" {
			t.Errorf("attachment %+v, want an image with description %q and a URL", a, alt)
		}
		if code, _, _ := call(t, srv, "", http.MethodGet, strings.TrimPrefix(a.URL, srv.URL), nil, "", nil); code != 200 {
			t.Errorf("GET %s: %d", a.URL, code)
		}
	})

	t.Run("length", func(t *testing.T) {
		acct := srv.NewAccount(t, "length")
		longURL := "https://example.org/" + strings.Repeat("a", 200)
		text := func(n int) string { // n code points in all, ending in the long URL
			return strings.Repeat("é", n-1-len(longURL)) + " " + longURL
		}
		flag := "🇩🇪" // 2 code points, 1 grapheme
		cases := []struct {
			name string
			form url.Values
			ok   bool
		}{
			{"500 code points with a 220-char URL", url.Values{"status": {text(500)}}, true},
			{"501 code points", url.Values{"status": {text(501)}}, false},
			{"250 flags = 500 code points", url.Values{"status": {strings.Repeat(flag, 250)}}, true},
			{"250 flags + x = 501 code points, 251 graphemes", url.Values{"status": {strings.Repeat(flag, 250) + "x"}}, false},
			{"spoiler 10 + text 490", url.Values{"status": {strings.Repeat("b", 490)}, "spoiler_text": {strings.Repeat("s", 10)}}, true},
			{"spoiler 10 + text 491", url.Values{"status": {strings.Repeat("b", 491)}, "spoiler_text": {strings.Repeat("s", 10)}}, false},
		}
		for _, c := range cases {
			code, b := post(t, srv, acct.Token, c.form, nil)
			t.Logf("%s (%d code points of text): %d %s", c.name, utf8.RuneCountInString(c.form.Get("status")), code, firstLine(b))
			if ok := code == 200; ok != c.ok {
				t.Errorf("%s: %d %s, want ok=%v", c.name, code, b, c.ok)
			}
			if !c.ok && (code != 400 || !strings.Contains(string(b), "exceed max chars (500)")) {
				t.Errorf("%s: %d %s, want 400 ... exceed max chars (500)", c.name, code, b)
			}
		}
	})

	t.Run("edit and delete", func(t *testing.T) {
		acct := srv.NewAccount(t, "edit")
		st := mustPost(t, srv, acct.Token, url.Values{"status": {"before the edit"}, "visibility": {"public"}})
		code, _, b := call(t, srv, acct.Token, http.MethodPut, "/api/v1/statuses/"+st.ID,
			strings.NewReader(url.Values{"status": {"after the edit"}}.Encode()), "application/x-www-form-urlencoded", nil)
		t.Logf("PUT /api/v1/statuses/:id: %d %s", code, firstLine(b))
		if code != 200 {
			t.Fatalf("edit: %d %s", code, b)
		}
		got, ok := acct.Status(t, st.ID)
		if !ok || got.Text != "after the edit" || got.EditedAt.IsZero() {
			t.Errorf("after edit: ok %v text %q edited_at %v", ok, got.Text, got.EditedAt)
		}
		var hist []json.RawMessage
		getJSON(t, srv, acct.Token, "/api/v1/statuses/"+st.ID+"/history", &hist)
		t.Logf("history: %d versions", len(hist))
		code, _, b = call(t, srv, acct.Token, http.MethodDelete, "/api/v1/statuses/"+st.ID, nil, "", nil)
		t.Logf("DELETE /api/v1/statuses/:id: %d %s", code, firstLine(b))
		if code != 200 {
			t.Fatalf("delete: %d %s", code, b)
		}
		// GoToSocial deletes in a background worker: the 200 comes first,
		// the status goes moments later.
		deadline := time.Now().Add(20 * time.Second)
		for {
			_, there := acct.Status(t, st.ID)
			n := len(acct.Statuses(t))
			if !there && n == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("status %s still there 20 s after delete (%d statuses)", st.ID, n)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}

func firstLine(b []byte) string {
	s := string(b)
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// TestServer_KillRestart checks a private server with the rate limiter off survives SIGKILL and a restart
// with its data and token.
func TestServer_KillRestart(t *testing.T) {
	srv := gotosocial.StartWith(t, gotosocial.Options{RateLimit: gotosocial.RateLimitOff, Username: "killme"})
	st := mustPost(t, srv, srv.Token, url.Values{"status": {"before the crash"}})
	var inst map[string]any
	hdr := getJSON(t, srv, srv.Token, "/api/v2/instance", &inst)
	if v := hdr.Get("X-RateLimit-Limit"); v != "" {
		t.Errorf("rate limiter off, but X-RateLimit-Limit = %q", v)
	}

	srv.Kill()
	if srv.Running() {
		t.Fatal("still running after Kill")
	}
	if _, err := http.Get(srv.URL + "/readyz"); err == nil {
		t.Fatal("server answers after Kill")
	}
	srv.Restart(t)
	got := srv.Statuses(t)
	if len(got) != 1 || got[0].ID != st.ID || got[0].Text != "before the crash" {
		t.Fatalf("after restart: %+v", got)
	}
	mustPost(t, srv, srv.Token, url.Values{"status": {"after the crash"}})
	if n := len(srv.Statuses(t)); n != 2 {
		t.Errorf("%d statuses, want 2", n)
	}
	if n := strings.Count(srv.Log(), "=== harness: server start"); n != 2 {
		t.Errorf("the log shows %d starts, want 2", n)
	}
}
