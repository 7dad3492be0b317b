package feed

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/files"
)

// server runs handler on a real HTTP server for one test.
func server(t *testing.T, handler http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	return srv
}

// stall returns a channel that is closed when the test ends, before its
// servers close: a handler waiting on it holds its request until then.
func stall(t *testing.T) <-chan struct{} {
	ch := make(chan struct{})
	t.Cleanup(func() { close(ch) })
	return ch
}

func TestFetcher_Fetch_Conditional(t *testing.T) {
	body, err := os.ReadFile("testdata/wordpress.xml")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []http.Header
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Clone())
		mu.Unlock()
		w.Header().Set("ETag", `W/"v1"`)
		w.Header().Set("Last-Modified", "Fri, 01 May 2026 09:41:12 GMT")
		if r.Header.Get("If-None-Match") == `W/"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Write(body)
	})
	f := &Fetcher{}
	ctx := context.Background()

	first, err := f.Fetch(ctx, srv.URL+"/feed/", Cache{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := first.Cache, (Cache{ETag: `W/"v1"`, LastModified: "Fri, 01 May 2026 09:41:12 GMT"}); got != want {
		t.Errorf("cache %+v, want %+v", got, want)
	}
	if first.NotModified || !bytes.Equal(first.Body, body) || first.Status != 200 || first.URL != srv.URL+"/feed/" {
		t.Errorf("first fetch: NotModified %v, %d bytes, status %d, URL %q", first.NotModified, len(first.Body), first.Status, first.URL)
	}

	second, err := f.Fetch(ctx, srv.URL+"/feed/", first.Cache)
	if err != nil {
		t.Fatal(err)
	}
	if !second.NotModified || second.Body != nil || second.Cache != first.Cache {
		t.Errorf("second fetch: NotModified %v, %d bytes, cache %+v", second.NotModified, len(second.Body), second.Cache)
	}

	// A changed feed: the old validators go, the new ones come.
	third, err := f.Fetch(ctx, srv.URL+"/feed/", Cache{ETag: `"old"`, LastModified: "Thu, 30 Apr 2026 00:00:00 GMT"})
	if err != nil {
		t.Fatal(err)
	}
	if third.NotModified || third.Cache.ETag != `W/"v1"` {
		t.Errorf("third fetch: NotModified %v, cache %+v", third.NotModified, third.Cache)
	}

	mu.Lock()
	defer mu.Unlock()
	tests := []struct {
		req                int
		ifNoneMatch, ifMod string
	}{
		{0, "", ""},
		{1, `W/"v1"`, "Fri, 01 May 2026 09:41:12 GMT"},
		{2, `"old"`, "Thu, 30 Apr 2026 00:00:00 GMT"},
	}
	for _, tt := range tests {
		h := seen[tt.req]
		if got := h.Get("If-None-Match"); got != tt.ifNoneMatch {
			t.Errorf("request %d: If-None-Match %q, want %q", tt.req, got, tt.ifNoneMatch)
		}
		if got := h.Get("If-Modified-Since"); got != tt.ifMod {
			t.Errorf("request %d: If-Modified-Since %q, want %q", tt.req, got, tt.ifMod)
		}
		if got, want := h.Get("User-Agent"), syndicate.UserAgent(); got != want || !strings.HasPrefix(got, "syndicate/") {
			t.Errorf("request %d: User-Agent %q, want %q", tt.req, got, want)
		}
		if h.Get("Authorization") != "" || h.Get("Cookie") != "" {
			t.Errorf("request %d sent credentials: %v", tt.req, h)
		}
	}
}

func TestFetcher_Fetch_CacheFromStateNotTrusted(t *testing.T) {
	var got http.Header
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		w.Write([]byte("<rss/>"))
	})
	_, err := (&Fetcher{}).Fetch(context.Background(), srv.URL, Cache{ETag: "\"x\"\r\nX-Injected: 1", LastModified: strings.Repeat("a", 5000)})
	if err != nil {
		t.Fatal(err)
	}
	if got.Get("If-None-Match") != "" || got.Get("If-Modified-Since") != "" || got.Get("X-Injected") != "" {
		t.Errorf("sent %v", got)
	}
}

func TestFetcher_Fetch_HTTPErrors(t *testing.T) {
	now := time.Date(2026, 5, 2, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		status     int
		retryAfter string
		wantErr    string
		wantRetry  time.Duration
	}{
		{"not found", 404, "", "HTTP 404 from %s", 0},
		{"server error", 500, "", "HTTP 500 from %s", 0},
		{"gone", 410, "", "HTTP 410 from %s", 0},
		{"too many requests, seconds", 429, "120", "HTTP 429 from %s (it asks to retry after 2m0s)", 2 * time.Minute},
		{"unavailable, date", 503, now.Add(90 * time.Minute).Format(http.TimeFormat), "HTTP 503 from %s (it asks to retry after 1h30m0s)", 90 * time.Minute},
		{"unavailable, date past", 503, now.Add(-time.Hour).Format(http.TimeFormat), "HTTP 503 from %s", 0},
		{"unavailable, nonsense", 503, "soon", "HTTP 503 from %s", 0},
		{"404 ignores Retry-After", 404, "60", "HTTP 404 from %s", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := server(t, func(w http.ResponseWriter, r *http.Request) {
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				w.WriteHeader(tt.status)
				fmt.Fprint(w, "<html><body>error page</body></html>")
			})
			u := srv.URL + "/feed.xml"
			f := &Fetcher{Now: func() time.Time { return now }}
			resp, err := f.Fetch(context.Background(), u, Cache{ETag: `"kept"`})
			if err == nil {
				t.Fatal("no error")
			}
			if got, want := err.Error(), fmt.Sprintf(tt.wantErr, u); got != want {
				t.Errorf("error %q, want %q", got, want)
			}
			var he *HTTPError
			if !errors.As(err, &he) || he.Status != tt.status || he.RetryAfter != tt.wantRetry {
				t.Errorf("error %#v: want an *HTTPError %d, retry after %s", err, tt.status, tt.wantRetry)
			}
			if resp.Status != tt.status || resp.RetryAfter != tt.wantRetry || resp.Body != nil || resp.Cache.ETag != `"kept"` {
				t.Errorf("response %+v", resp)
			}
		})
	}
}

// endless writes a feed that never ends, counting what it wrote.
func endless(written *atomic.Int64, done <-chan struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/rss+xml")
		chunk := []byte(strings.Repeat("<item><title>x</title></item>\n", 1000))
		io.WriteString(w, `<rss version="2.0"><channel>`)
		for {
			select {
			case <-done:
				return
			case <-r.Context().Done():
				return
			default:
			}
			n, err := w.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
	}
}

func TestFetcher_Fetch_TooLarge(t *testing.T) {
	t.Run("endless body", func(t *testing.T) {
		var written atomic.Int64
		srv := server(t, endless(&written, stall(t)))
		resp, err := (&Fetcher{}).Fetch(context.Background(), srv.URL, Cache{})
		if !errors.Is(err, ErrTooLarge) {
			t.Fatalf("error %v, want ErrTooLarge", err)
		}
		if !strings.Contains(err.Error(), "over the 10 MiB limit: refused, not parsed") {
			t.Errorf("error %q", err)
		}
		if resp.Body != nil {
			t.Errorf("a body of %d bytes came back", len(resp.Body))
		}
	})
	t.Run("1 GB announced", func(t *testing.T) {
		var wrote atomic.Int64
		srv := server(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", fmt.Sprint(1<<30))
			w.WriteHeader(200)
			n, _ := w.Write(make([]byte, 64<<10))
			wrote.Add(int64(n))
		})
		_, err := (&Fetcher{}).Fetch(context.Background(), srv.URL, Cache{})
		if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "says it is 1024 MiB") {
			t.Fatalf("error %v, want ErrTooLarge from the Content-Length", err)
		}
	})
	t.Run("a gzip bomb", func(t *testing.T) {
		var zipped bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&zipped, gzip.BestSpeed)
		zw.Write([]byte(`<rss version="2.0"><channel><title>`))
		zw.Write(make([]byte, 11<<20)) // 11 MiB of zeros, a few KiB sent
		zw.Close()
		srv := server(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			w.Write(zipped.Bytes())
		})
		_, err := (&Fetcher{}).Fetch(context.Background(), srv.URL, Cache{})
		if !errors.Is(err, ErrTooLarge) {
			t.Errorf("error %v, want ErrTooLarge on the unpacked size", err)
		}
	})
	t.Run("a smaller limit, just over and just at", func(t *testing.T) {
		srv := server(t, func(w http.ResponseWriter, r *http.Request) {
			w.(http.Flusher).Flush() // chunked: no Content-Length to refuse by
			io.WriteString(w, strings.Repeat("a", 1000+len(r.URL.Path)-1))
		})
		f := &Fetcher{MaxBytes: 1000}
		if _, err := f.Fetch(context.Background(), srv.URL+"/", Cache{}); err != nil {
			t.Errorf("1000 bytes: %v", err)
		}
		if _, err := f.Fetch(context.Background(), srv.URL+"/x", Cache{}); !errors.Is(err, ErrTooLarge) {
			t.Errorf("1001 bytes: error %v, want ErrTooLarge", err)
		}
	})
}

func TestFetcher_Fetch_Timeouts(t *testing.T) {
	t.Run("no headers", func(t *testing.T) {
		release := stall(t)
		srv := server(t, func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		})
		f := &Fetcher{HeaderTimeout: 50 * time.Millisecond}
		_, err := f.Fetch(context.Background(), srv.URL, Cache{})
		if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "no answer within 50ms") {
			t.Errorf("error %v, want ErrTimeout for the headers", err)
		}
	})
	t.Run("a body that stops", func(t *testing.T) {
		release := stall(t)
		srv := server(t, func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `<rss version="2.0"><channel><title>`)
			w.(http.Flusher).Flush()
			select {
			case <-release:
			case <-r.Context().Done():
			}
		})
		f := &Fetcher{Timeout: 100 * time.Millisecond}
		_, err := f.Fetch(context.Background(), srv.URL, Cache{})
		if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "not finished within 100ms") {
			t.Errorf("error %v, want ErrTimeout for the whole request", err)
		}
	})
	t.Run("a caller's client is held to the header timeout too", func(t *testing.T) {
		release := stall(t)
		srv := server(t, func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		})
		f := &Fetcher{Client: srv.Client(), HeaderTimeout: 50 * time.Millisecond}
		_, err := f.Fetch(context.Background(), srv.URL, Cache{})
		if !errors.Is(err, ErrTimeout) {
			t.Errorf("error %v, want ErrTimeout", err)
		}
	})
	t.Run("the caller's context", func(t *testing.T) {
		release := stall(t)
		srv := server(t, func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		})
		ctx, cancel := context.WithCancel(context.Background())
		go func() { time.Sleep(20 * time.Millisecond); cancel() }()
		_, err := (&Fetcher{}).Fetch(ctx, srv.URL, Cache{})
		if !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
			t.Errorf("error %v, want context.Canceled", err)
		}
	})
}

func TestFetcher_Fetch_Redirects(t *testing.T) {
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		switch p := r.URL.Path; {
		case strings.HasPrefix(p, "/hop/"):
			var n int
			fmt.Sscanf(p, "/hop/%d", &n)
			if n == 0 {
				io.WriteString(w, `<rss version="2.0"><channel><title>arrived</title></channel></rss>`)
				return
			}
			http.Redirect(w, r, fmt.Sprintf("/hop/%d", n-1), http.StatusFound)
		case p == "/to-file":
			http.Redirect(w, r, "file:///etc/passwd", http.StatusMovedPermanently)
		case p == "/to-ftp":
			http.Redirect(w, r, "ftp://example.com/feed", http.StatusMovedPermanently)
		case p == "/to-credentials":
			http.Redirect(w, r, "http://user:pass@"+r.Host+"/hop/0", http.StatusFound)
		}
	})
	tests := []struct {
		path, wantErr string
	}{
		{"/hop/5", ""},
		{"/hop/6", "more than 5 redirects"},
		{"/to-file", "redirected to a file: URL, not http(s)"},
		{"/to-ftp", "redirected to a ftp: URL, not http(s)"},
		{"/to-credentials", "redirected to a URL with credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, err := (&Fetcher{}).Fetch(context.Background(), srv.URL+tt.path, Cache{})
			if tt.wantErr == "" {
				if err != nil || resp.URL != srv.URL+"/hop/0" {
					t.Errorf("error %v, URL %q", err, resp.URL)
				}
				return
			}
			if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %v, want ErrRefused: %s", err, tt.wantErr)
			}
		})
	}
}

func TestFetcher_Fetch_Schemes(t *testing.T) {
	var hits atomic.Int64
	srv := server(t, func(w http.ResponseWriter, r *http.Request) { hits.Add(1) })
	tests := []struct {
		url, want string
	}{
		{"file:///etc/passwd", "not an http or https URL"},
		{"ftp://example.com/feed", "not an http or https URL"},
		{"gopher://example.com/", "not an http or https URL"},
		{"/relative/feed.xml", "not an http or https URL"},
		{"http:///no-host", "has no host"},
		{strings.Replace(srv.URL, "http://", "http://user:secret@", 1), "carries credentials"},
	}
	f := &Fetcher{}
	for _, tt := range tests {
		_, err := f.Fetch(context.Background(), tt.url, Cache{})
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.url, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("the error shows the password: %v", err)
		}
		if _, err := f.FetchImage(context.Background(), tt.url); !errors.Is(err, ErrRefused) {
			t.Errorf("FetchImage(%s): error %v, want ErrRefused", tt.url, err)
		}
	}
	if hits.Load() != 0 {
		t.Errorf("%d requests reached the server", hits.Load())
	}
}

func pngBytes(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	img.Set(1, 1, color.RGBA{200, 10, 10, 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestFetcher_FetchImage(t *testing.T) {
	pic := pngBytes(t)
	var written atomic.Int64
	done := stall(t)
	var ua atomic.Value
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		ua.Store(r.Header.Get("User-Agent"))
		switch r.URL.EscapedPath() {
		case "/wp-content/uploads/library-1024x683.png", "/image/fetch/w_1456/https%3A%2F%2Fcdn.example%2Fcover", "/":
			w.Header().Set("Content-Type", "image/jpeg") // a lie: the bytes decide
			w.Write(pic)
		case "/page.png":
			w.Header().Set("Content-Type", "image/png")
			io.WriteString(w, "<!doctype html><title>Not found</title>")
		case "/huge.png":
			w.Write(pic)
			endless(&written, done)(w, r)
		case "/missing.png":
			http.NotFound(w, r)
		case "/moved.png":
			http.Redirect(w, r, "/wp-content/uploads/library-1024x683.png", http.StatusMovedPermanently)
		}
	})
	f := &Fetcher{AllowPrivateImages: true}
	ctx := context.Background()

	tests := []struct {
		path, name string
	}{
		{"/wp-content/uploads/library-1024x683.png", "library-1024x683.png"},
		{"/moved.png", "library-1024x683.png"},
		{"/image/fetch/w_1456/https%3A%2F%2Fcdn.example%2Fcover", "cover.png"},
		{"/", "image.png"},
	}
	for _, tt := range tests {
		img, err := f.FetchImage(ctx, srv.URL+tt.path)
		if err != nil {
			t.Errorf("%s: %v", tt.path, err)
			continue
		}
		if img.Name != tt.name || img.Type != "image/png" || !bytes.Equal(img.Data, pic) || img.Path != srv.URL+tt.path {
			t.Errorf("%s: name %q, type %q, %d bytes, path %q", tt.path, img.Name, img.Type, len(img.Data), img.Path)
		}
	}
	if got := ua.Load(); got != syndicate.UserAgent() {
		t.Errorf("User-Agent %q", got)
	}

	_, err := f.FetchImage(ctx, srv.URL+"/page.png")
	var p *files.Problem
	if !errors.Is(err, files.ErrNotImage) || !errors.As(err, &p) || !strings.Contains(err.Error(), "is not a PNG, JPEG, GIF, WebP or AVIF picture") {
		t.Errorf("an HTML page: error %v, want a files.Problem with ErrNotImage", err)
	}
	_, err = f.FetchImage(ctx, srv.URL+"/huge.png")
	if !errors.Is(err, files.ErrTooLarge) || !strings.Contains(err.Error(), "over the 16 MiB limit for pictures") {
		t.Errorf("an endless picture: error %v, want files.ErrTooLarge", err)
	}
	_, err = (&Fetcher{AllowPrivateImages: true, MaxImageBytes: 10}).FetchImage(ctx, srv.URL+"/")
	if !errors.Is(err, files.ErrTooLarge) {
		t.Errorf("over MaxImageBytes: error %v, want files.ErrTooLarge", err)
	}
	_, err = f.FetchImage(ctx, srv.URL+"/missing.png")
	if err == nil || err.Error() != "HTTP 404 from "+srv.URL+"/missing.png" {
		t.Errorf("a missing picture: error %v", err)
	}
}

func TestFetcher_FetchImage_PrivateAddresses(t *testing.T) {
	var hits atomic.Int64
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Write(pngBytes(t))
	})
	f := &Fetcher{} // pictures only from public addresses
	for _, u := range []string{srv.URL + "/x.png", strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) + "/x.png"} {
		_, err := f.FetchImage(context.Background(), u)
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "is on this machine or a private network") {
			t.Errorf("%s: error %v, want ErrRefused", u, err)
		}
	}
	// Feeds are the operator's choice and may be anywhere.
	if _, err := f.Fetch(context.Background(), srv.URL, Cache{}); err != nil {
		t.Errorf("a feed on this machine: %v", err)
	}
	if hits.Load() != 1 {
		t.Errorf("%d requests reached the server, want only the feed's", hits.Load())
	}
	// A picture on a configured feed's own host may be anywhere; another
	// host of this machine still may not.
	host := strings.TrimPrefix(srv.URL, "http://")
	trusted := &Fetcher{TrustedHosts: []string{host}}
	if _, err := trusted.FetchImage(context.Background(), srv.URL+"/x.png"); err != nil {
		t.Errorf("a picture on the feed's host: %v", err)
	}
	if _, err := trusted.FetchImage(context.Background(), strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)+"/x.png"); !errors.Is(err, ErrRefused) {
		t.Errorf("a picture on another host of this machine: %v, want ErrRefused", err)
	}
}

func TestPublic(t *testing.T) {
	tests := map[string]bool{
		"93.184.215.14": true, "2606:2800:21f:cb07:6820:80da:af6b:8b2c": true,
		"127.0.0.1": false, "::1": false, "10.1.2.3": false, "172.16.0.1": false, "192.168.1.1": false,
		"169.254.169.254": false, "fe80::1": false, "fd00::1": false, "0.0.0.0": false, "::": false,
		"100.64.0.1": false, "::ffff:127.0.0.1": false, "224.0.0.1": false, "255.255.255.255": false,
	}
	for addr, want := range tests {
		if got := public(mustAddr(t, addr)); got != want {
			t.Errorf("public(%s) = %v, want %v", addr, got, want)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 5, 2, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0}, {"0", 0}, {"-5", 0}, {"30", 30 * time.Second}, {" 3600 ", time.Hour},
		{"99999999999", 365 * 24 * time.Hour},
		{"Sat, 02 May 2026 12:10:00 GMT", 10 * time.Minute},
		{"Saturday, 02-May-26 12:10:00 GMT", 10 * time.Minute},
		{"Sat, 02 May 2026 11:00:00 GMT", 0},
		{"tomorrow", 0},
	}
	for _, tt := range tests {
		if got := retryAfter(tt.in, now); got != tt.want {
			t.Errorf("retryAfter(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestBadFeeds fetches and parses each kind of bad feed from a real server,
// as the caller will: each ends in one clear error, and nothing panics.
func TestBadFeeds(t *testing.T) {
	wordpress, err := os.ReadFile("testdata/wordpress.xml")
	if err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile("testdata/bad-html-page.html")
	if err != nil {
		t.Fatal(err)
	}
	var written atomic.Int64
	release := stall(t)
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/page":
			w.Header().Set("Content-Type", "text/html")
			w.Write(page)
		case "/truncated":
			w.Write(wordpress[:len(wordpress)*2/3])
		case "/404":
			http.NotFound(w, r)
		case "/500":
			http.Error(w, "database down", http.StatusInternalServerError)
		case "/endless":
			endless(&written, release)(w, r)
		case "/stalled":
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
	})
	tests := []struct {
		path, want string
		is         error
	}{
		{"/page", "not a feed: the server sent an HTML page (the page names a feed at https://harbourgazette.example/feed/: use that URL)", ErrNotFeed},
		{"/truncated", "not a feed: broken XML (XML syntax error on line 80: unexpected EOF); the feed may be cut short", ErrNotFeed},
		{"/404", "HTTP 404 from %s/404", nil},
		{"/500", "HTTP 500 from %s/500", nil},
		{"/endless", "feed %s/endless is over the 10 MiB limit: refused, not parsed: %s/endless sent more than 10 MiB: over the size limit", ErrTooLarge},
		{"/stalled", "GET %s/stalled: no answer within 100ms: timed out", ErrTimeout},
	}
	f := &Fetcher{HeaderTimeout: 100 * time.Millisecond}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			cfg := Config{URL: srv.URL + tt.path, Name: "bad"}
			resp, err := f.Fetch(context.Background(), cfg.URL, Cache{})
			if err == nil {
				_, err = Parse(cfg, resp.Body, ParseOptions{})
			}
			if err == nil {
				t.Fatal("no error")
			}
			want := strings.ReplaceAll(tt.want, "%s", srv.URL)
			if err.Error() != want {
				t.Errorf("error\n  %s\nwant\n  %s", err, want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
		})
	}
}
