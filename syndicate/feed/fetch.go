package feed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/files"
)

// Defaults of a Fetcher.
const (
	// DefaultTimeout bounds a whole request, body included.
	DefaultTimeout = 30 * time.Second
	// DefaultHeaderTimeout bounds the wait for the response headers.
	DefaultHeaderTimeout = 10 * time.Second
	// MaxRedirects is the most redirects followed.
	MaxRedirects = 5
)

// Errors a caller may test with errors.Is.
var (
	// ErrTooLarge is a feed over MaxBytes or a picture over MaxImageBytes
	// (the same error as files.ErrTooLarge).
	ErrTooLarge = files.ErrTooLarge
	// ErrTimeout is a server that did not answer, or finish, in time.
	ErrTimeout = errors.New("timed out")
	// ErrRefused is a URL or redirect the fetcher will not follow: not
	// http(s), with credentials, too many redirects, or (for pictures) an
	// address on this machine or its private network.
	ErrRefused = errors.New("refused")
)

// Cache is what a server said of the last answer it gave, kept by the
// caller (in its state) and sent back for a conditional GET.
type Cache struct {
	ETag         string
	LastModified string
}

// Response is the outcome of a Fetch.
type Response struct {
	Status int
	// Body is the feed; nil when NotModified or on an error.
	Body []byte
	// NotModified is a 304: the feed is as the cache says; nothing to do.
	NotModified bool
	// Cache is what to send next time: the server's new validators after a
	// 200, the old ones (updated by the 304's own) after a 304, the old
	// ones after an error.
	Cache Cache
	// RetryAfter is the wait the server asked for with a 429 or 503 (0:
	// none given). It is returned, never slept on.
	RetryAfter time.Duration
	// URL is where the body came from, after redirects.
	URL string
}

// HTTPError is an answer other than 2xx or 304.
type HTTPError struct {
	URL        string
	Status     int
	RetryAfter time.Duration // from Retry-After, on a 429 or 503
}

func (e *HTTPError) Error() string {
	msg := fmt.Sprintf("HTTP %d from %s", e.Status, e.URL)
	if e.RetryAfter > 0 {
		msg += fmt.Sprintf(" (it asks to retry after %s)", e.RetryAfter.Round(time.Second))
	}
	return msg
}

// Fetcher fetches feeds and their pictures. The zero value is ready to
// use; a Fetcher is safe for concurrent use and must not be copied after
// its first use.
type Fetcher struct {
	// Client sends the requests; nil is a client of this package's own
	// (connection, TLS and header timeouts, no cookies). Its redirect
	// policy is replaced by the fetcher's.
	Client *http.Client
	// UserAgent is sent with every request; "" is syndicate.UserAgent().
	UserAgent string
	// MaxBytes is the largest feed body read (0: MaxFeedSize, 10 MiB).
	MaxBytes int64
	// MaxImageBytes is the largest picture read (0: files.MaxImageSize).
	MaxImageBytes int64
	// Timeout bounds a whole request, the body included (0:
	// DefaultTimeout); HeaderTimeout the wait for the headers (0:
	// DefaultHeaderTimeout).
	Timeout, HeaderTimeout time.Duration
	// AllowPrivateImages lets FetchImage reach addresses of this machine
	// and private networks (loopback, RFC 1918, link-local, ULA). A
	// picture URL comes from whoever wrote the item, so by default it may
	// not make the bot probe its own network (a cloud metadata service,
	// the bot's own /metrics). Feeds themselves are named by the
	// operator and may be anywhere. Applies only when Client is nil.
	AllowPrivateImages bool
	// TrustedHosts are hosts (as in a URL: "news.example.org" or
	// "127.0.0.1:8080") whose pictures may be at any address: the
	// configured feeds' own, named by the operator like the feeds (an
	// intranet CMS). Applies only when Client is nil.
	TrustedHosts []string
	// Now is the clock Retry-After dates are read against (nil: time.Now).
	Now func() time.Time

	once            sync.Once
	feeds, pictures *http.Client
}

func (f *Fetcher) clients() (feeds, pictures *http.Client) {
	f.once.Do(func() {
		if f.Client != nil {
			f.feeds = f.withRedirects(f.Client)
			f.pictures = f.feeds
			return
		}
		f.feeds = f.withRedirects(&http.Client{Transport: f.transport(false)})
		f.pictures = f.withRedirects(&http.Client{Transport: f.transport(!f.AllowPrivateImages)})
	})
	return f.feeds, f.pictures
}

// transport is this package's own: bounded dialing, TLS handshake and
// header size; restricted, it dials only public addresses (checked on the
// address dialed, so no DNS answer or redirect gets round it).
func (f *Fetcher) transport(restricted bool) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if restricted {
		d.Control = func(network, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			ip, err := netip.ParseAddr(host)
			if err != nil {
				return fmt.Errorf("address %q: %w", host, ErrRefused)
			}
			if !public(ip) {
				return fmt.Errorf("address %s is on this machine or a private network: %w", ip, ErrRefused)
			}
			return nil
		}
	}
	t.DialContext = d.DialContext
	t.TLSHandshakeTimeout = 10 * time.Second
	t.MaxResponseHeaderBytes = 64 << 10 // the header timeout is get's, for every client
	return t
}

// public reports an address on the public internet.
func public(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip.IsGlobalUnicast() && !ip.IsPrivate() && !ip.IsLoopback() && !ip.IsLinkLocalUnicast() &&
		!netip.MustParsePrefix("100.64.0.0/10").Contains(ip) // carrier-grade NAT
}

// withRedirects copies c with the fetcher's redirect rules: at most
// MaxRedirects, only to http(s) URLs without credentials.
func (f *Fetcher) withRedirects(c *http.Client) *http.Client {
	cp := *c
	cp.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) > MaxRedirects {
			return fmt.Errorf("more than %d redirects: %w", MaxRedirects, ErrRefused)
		}
		if s := req.URL.Scheme; s != "http" && s != "https" {
			return fmt.Errorf("redirected to a %s: URL, not http(s): %w", s, ErrRefused)
		}
		if req.URL.User != nil {
			return fmt.Errorf("redirected to a URL with credentials: %w", ErrRefused)
		}
		return nil
	}
	return &cp
}

func (f *Fetcher) timeout() time.Duration {
	if f.Timeout > 0 {
		return f.Timeout
	}
	return DefaultTimeout
}

func (f *Fetcher) headerTimeout() time.Duration {
	if f.HeaderTimeout > 0 {
		return f.HeaderTimeout
	}
	return DefaultHeaderTimeout
}

func (f *Fetcher) userAgent() string {
	if f.UserAgent != "" {
		return f.UserAgent
	}
	return syndicate.UserAgent()
}

func (f *Fetcher) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

// checkURL accepts an absolute http(s) URL with a host and without
// credentials (the bot sends none).
func checkURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, fmt.Errorf("%q is not a URL: %w", raw, ErrRefused)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%q is not an http or https URL: %w", raw, ErrRefused)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%q has no host: %w", raw, ErrRefused)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%s carries credentials, which the bot never sends: %w", u.Redacted(), ErrRefused)
	}
	return u, nil
}

// Fetch gets a feed with a conditional GET: If-None-Match and
// If-Modified-Since from c. A 304 gives NotModified and no body. A body
// over MaxBytes is refused (ErrTooLarge), never cut and parsed. An answer
// other than 2xx or 304 is an *HTTPError, with the Retry-After of a 429 or
// 503 also in the Response; a server that does not answer in time is
// ErrTimeout. Pass the Body to Parse.
func (f *Fetcher) Fetch(ctx context.Context, feedURL string, c Cache) (Response, error) {
	out := Response{Cache: c}
	u, err := checkURL(feedURL)
	if err != nil {
		return out, err
	}
	client, _ := f.clients()
	header := http.Header{}
	header.Set("Accept", "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5")
	if validator(c.ETag) {
		header.Set("If-None-Match", c.ETag)
	}
	if validator(c.LastModified) {
		header.Set("If-Modified-Since", c.LastModified)
	}
	limit := f.MaxBytes
	if limit <= 0 {
		limit = MaxFeedSize
	}
	r, err := f.get(ctx, client, u, header, limit)
	if r.status != 0 {
		out.Status, out.URL = r.status, r.url
	}
	if err != nil {
		var he *HTTPError
		if errors.As(err, &he) {
			out.RetryAfter = he.RetryAfter
		}
		if errors.Is(err, ErrTooLarge) {
			return out, fmt.Errorf("feed %s is over the %s limit: refused, not parsed: %w", u.Redacted(), sizeOf(limit), err)
		}
		return out, err
	}
	// A 304 updates the old validators with its own; a 200's are new.
	if out.NotModified = r.status == http.StatusNotModified; !out.NotModified {
		out.Body, out.Cache = r.body, Cache{}
	}
	if e := r.header.Get("ETag"); validator(e) {
		out.Cache.ETag = e
	}
	if lm := r.header.Get("Last-Modified"); validator(lm) {
		out.Cache.LastModified = lm
	}
	return out, nil
}

// validator reports a cache validator worth sending back: present, short,
// and a valid header value (the state it came from is not trusted blindly).
func validator(v string) bool {
	return v != "" && len(v) <= 1024 && httpguts.ValidHeaderFieldValue(v)
}

// FetchImage gets a feed item's picture under the rules of a picture file:
// at most MaxImageBytes (never reading past the limit), and a PNG, JPEG,
// GIF, WebP or AVIF by its bytes (files.Sniff). Its Name is the base name
// of the URL's path (with the type's extension when it has none), its Path
// the URL. Size and type problems are *files.Problem values
// (files.ErrTooLarge, files.ErrNotImage), as for a file.
func (f *Fetcher) FetchImage(ctx context.Context, imageURL string) (files.Image, error) {
	u, err := checkURL(imageURL)
	if err != nil {
		return files.Image{}, err
	}
	feeds, client := f.clients()
	for _, h := range f.TrustedHosts {
		if strings.EqualFold(h, u.Host) {
			client = feeds
		}
	}
	header := http.Header{}
	header.Set("Accept", "image/avif, image/webp, image/png, image/jpeg, image/gif;q=0.9, */*;q=0.5")
	limit := f.MaxImageBytes
	if limit <= 0 {
		limit = files.MaxImageSize
	}
	r, err := f.get(ctx, client, u, header, limit)
	shown := u.Redacted()
	if err != nil {
		if errors.Is(err, ErrTooLarge) {
			return files.Image{}, &files.Problem{Path: shown, Reason: "is over the " + sizeOf(limit) + " limit for pictures", Err: ErrTooLarge}
		}
		return files.Image{}, err
	}
	if r.status != http.StatusOK {
		return files.Image{}, &HTTPError{URL: shown, Status: r.status}
	}
	typ := files.Sniff(r.body)
	if typ == "" {
		return files.Image{}, &files.Problem{Path: shown, Reason: "is not a PNG, JPEG, GIF, WebP or AVIF picture (by its content)", Err: files.ErrNotImage}
	}
	return files.Image{Path: imageURL, Name: imageName(r.url, typ), Type: typ, Data: r.body}, nil
}

// imageName is the upload's file name: the base name of the URL's path,
// without control characters and at most 100 bytes, with the type's
// extension when it has none.
func imageName(raw, typ string) string {
	name := ""
	if u, err := url.Parse(raw); err == nil {
		name = path.Base(u.Path)
	}
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '/' || r == '\\' || r == '\ufffd' {
			return -1
		}
		return r
	}, strings.ToValidUTF8(name, ""))
	if name == "." || name == ".." || name == "/" {
		name = ""
	}
	if len(name) > 100 {
		name = strings.ToValidUTF8(name[len(name)-100:], "")
	}
	if path.Ext(name) == "" {
		ext := "." + strings.TrimPrefix(typ, "image/")
		if ext == ".jpeg" {
			ext = ".jpg"
		}
		if name == "" {
			name = "image"
		}
		name += ext
	}
	return name
}

// result is one answer of get.
type result struct {
	status int
	header http.Header
	body   []byte // a 2xx's body
	url    string // the final URL
}

var (
	errHeaderTimeout = errors.New("header timeout")
	errWholeTimeout  = errors.New("request timeout")
)

// get sends one GET with the fetcher's rules and reads a 2xx body of at
// most limit bytes. Any status other than 2xx or 304 is an *HTTPError.
func (f *Fetcher) get(ctx context.Context, client *http.Client, u *url.URL, header http.Header, limit int64) (result, error) {
	shown := u.Redacted()
	ctx, cancel := context.WithTimeoutCause(ctx, f.timeout(), errWholeTimeout)
	defer cancel()
	hctx, hcancel := context.WithCancelCause(ctx)
	defer hcancel(nil)
	// The header timeout is kept here rather than in a transport, so a
	// caller's Client is held to it too.
	timer := time.AfterFunc(f.headerTimeout(), func() { hcancel(errHeaderTimeout) })
	defer timer.Stop()

	req, err := http.NewRequestWithContext(hctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return result{}, fmt.Errorf("GET %s: %w", shown, err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("User-Agent", f.userAgent())
	resp, err := client.Do(req)
	timer.Stop()
	if err != nil {
		return result{}, f.requestError(shown, hctx, err)
	}
	defer resp.Body.Close()
	r := result{status: resp.StatusCode, header: resp.Header, url: resp.Request.URL.String()}
	switch {
	case resp.StatusCode == http.StatusNotModified:
		_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
		return r, nil
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		_, _ = io.CopyN(io.Discard, resp.Body, 4<<10) // lets the connection be reused
		he := &HTTPError{URL: shown, Status: resp.StatusCode}
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			he.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), f.now())
		}
		return r, he
	}
	if resp.ContentLength > limit {
		return r, fmt.Errorf("%s says it is %s: %w", shown, sizeOf(resp.ContentLength), ErrTooLarge)
	}
	// One byte past the limit tells a body over it; nothing more is read.
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return r, f.requestError(shown, hctx, err)
	}
	if int64(len(body)) > limit {
		return r, fmt.Errorf("%s sent more than %s: %w", shown, sizeOf(limit), ErrTooLarge)
	}
	r.body = body
	return r, nil
}

// requestError says in words why a request failed.
func (f *Fetcher) requestError(shown string, ctx context.Context, err error) error {
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errHeaderTimeout):
		return fmt.Errorf("GET %s: no answer within %s: %w", shown, f.headerTimeout(), ErrTimeout)
	case errors.Is(cause, errWholeTimeout):
		return fmt.Errorf("GET %s: not finished within %s: %w", shown, f.timeout(), ErrTimeout)
	case cause != nil:
		return fmt.Errorf("GET %s: %w", shown, cause) // the caller's context ended
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("GET %s: %v: %w", shown, err, ErrTimeout)
	}
	return fmt.Errorf("GET %s: %w", shown, err)
}

// retryAfter reads a Retry-After value: seconds, or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		if n > int64(365*24*time.Hour/time.Second) {
			n = int64(365 * 24 * time.Hour / time.Second)
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d.Round(time.Second)
		}
	}
	return 0
}

func sizeOf(n int64) string { return files.Size(n) }
