// Package bluesky is the Bluesky outlet: it posts a thread's posts as
// app.bsky.feed.post records to the account's PDS, each written with
// com.atproto.repo.putRecord under a record key fixed when the post was
// planned, so that a retry (after a timeout, a crash, a lost answer)
// sends the very same record and cannot make a second post.
//
// It uses indigo (github.com/bluesky-social/indigo) for the lexicon types
// (api/bsky, api/atproto, lex/util) and the syntax of TIDs, AT URIs and
// handles (atproto/syntax), and makes its XRPC calls itself over net/http:
// a timeout on every attempt, 429s answered by waiting for the PDS's
// ratelimit-reset (Unix seconds) or Retry-After within a bound, a session
// refreshed on 400 ExpiredToken and made anew when the refresh fails, and
// errors sorted into syndicate.ErrUnauthorized, syndicate.ErrRejected and
// transient ones. The app password and the session tokens never appear in
// an error or a log line.
package bluesky

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/bluesky-social/indigo/atproto/syntax"
	"golang.org/x/text/language"

	"github.com/syndicate-bot/syndicate/syndicate"
)

// The lexicon's and the app's limits.
const (
	// MaxGraphemes and MaxBytes bound a post's text (app.bsky.feed.post).
	MaxGraphemes = 300
	MaxBytes     = 3000
	// MaxImages is the most pictures a post embeds (app.bsky.embed.images).
	MaxImages = 4
	// MaxAltText is the alt text the Bluesky app lets a person write, in
	// graphemes; the lexicon itself sets no limit.
	MaxAltText = 2000
	// MaxImageSize is the largest picture posted, in bytes. The images
	// lexicon of PDS 0.5.35 allows 2,000,000, the public app.bsky lexicon
	// and older PDSes 1,000,000: the stricter one holds everywhere.
	MaxImageSize = 1_000_000
	// postCollection is the collection posts are written to.
	postCollection = "app.bsky.feed.post"
)

// ImageTypes are the picture types posted as they are; others are refused.
var ImageTypes = []string{"image/png", "image/jpeg", "image/webp", "image/gif"}

// Options configure a Client. Service, Handle, AppPassword and Language
// are the configuration's bluesky.service, handle, app_password and
// language.
type Options struct {
	// Service is the account's PDS (default https://bsky.social).
	Service string
	// Handle (or the account's DID or e-mail) logs in with AppPassword.
	Handle      string
	AppPassword string
	// Language is the posts' language when a post does not name one
	// (a BCP 47 tag; "" for none).
	Language string
	// WebURL is where people see posts (default https://bsky.app).
	WebURL string
	// Timeout bounds every attempt of every call (default 30 s).
	Timeout time.Duration
	// MaxRateWait is the longest one call waits for a rate-limit reset
	// (default 15 min); a later reset is ErrRateLimited.
	MaxRateWait time.Duration
	// Retries is how many times a 5xx or network error is retried
	// (default 0: none); Backoff is the first wait between them (default
	// 1 s), doubling. Every call may be retried, putRecord included: a
	// repeat writes nothing.
	Retries int
	Backoff time.Duration
	// Transport carries the requests (default: a clone of
	// http.DefaultTransport).
	Transport http.RoundTripper
	Logger    *slog.Logger
}

// LogValue keeps the app password out of any log line that shows the
// options.
func (o Options) LogValue() slog.Value {
	return slog.GroupValue(slog.String("service", o.Service), slog.String("handle", o.Handle),
		slog.String("app_password", redacted), slog.String("language", o.Language))
}

// Client is a Bluesky account that threads are posted to. It is safe for
// concurrent use. It logs in on its first call that needs the account.
type Client struct {
	opts    Options
	service string // without a trailing slash
	web     string
	lang    string // the default language, canonical
	http    *http.Client

	// now and sleep are time, for tests.
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error

	authMu sync.Mutex // one login or refresh at a time
	mu     sync.Mutex // guards sess
	sess   session
}

var _ syndicate.Outlet = (*Client)(nil)

// New checks the options and makes a client. It does not touch the
// network.
func New(opts Options) (*Client, error) {
	if opts.Service == "" {
		opts.Service = "https://bsky.social"
	}
	u, err := url.Parse(opts.Service)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("bluesky: service %q is not an http(s) URL of a PDS", opts.Service)
	}
	if strings.TrimSpace(opts.Handle) == "" {
		return nil, errors.New("bluesky: handle is empty")
	}
	if opts.AppPassword == "" {
		return nil, errors.New("bluesky: app_password is empty")
	}
	lang := ""
	if opts.Language != "" {
		if lang, err = canonicalLanguage(opts.Language); err != nil {
			return nil, fmt.Errorf("bluesky: language: %w", err)
		}
	}
	if opts.WebURL == "" {
		opts.WebURL = "https://bsky.app"
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.MaxRateWait <= 0 {
		opts.MaxRateWait = 15 * time.Minute
	}
	if opts.Retries < 0 {
		opts.Retries = 0
	}
	if opts.Backoff <= 0 {
		opts.Backoff = time.Second
	}
	if opts.Transport == nil {
		opts.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Client{
		opts:    opts,
		service: strings.TrimRight(opts.Service, "/"),
		web:     strings.TrimRight(opts.WebURL, "/"),
		lang:    lang,
		// No http.Client timeout: each attempt has its own (a wait for a
		// rate-limit reset must not count against it).
		http:  &http.Client{Transport: opts.Transport, CheckRedirect: noRedirects},
		now:   time.Now,
		sleep: sleepCtx,
	}, nil
}

// noRedirects refuses redirects: an XRPC answer is never one, and a
// redirect must not carry the Authorization header elsewhere.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Network is the outlet's name in the ledger.
func (c *Client) Network() string { return syndicate.NetworkBluesky }

// Limits are the lexicon's rules (DefaultLimits); they are the same on
// every PDS, so no call is made.
func (c *Client) Limits(ctx context.Context) (syndicate.Limits, error) {
	return DefaultLimits(), nil
}

// DefaultLimits are the rules a post meets on every PDS: the lexicon's
// 300 graphemes (and 3,000 bytes, in the counting), four pictures of at
// most MaxImageSize each, which Upload shrinks to fit.
func DefaultLimits() syndicate.Limits {
	return syndicate.Limits{
		MaxCharacters:    MaxGraphemes,
		MaxMedia:         MaxImages,
		DescriptionLimit: MaxAltText,
		ImageSizeLimit:   MaxImageSize,
		ImageTypes:       append([]string(nil), ImageTypes...),
		Counting:         syndicate.NetworkBluesky, // thread.CountBluesky
		Software:         "atproto",
		ShrinksImages:    true,
	}
}

// Plan fixes the post's record key (a TID, later than every key this
// process made before) and its createdAt (now, to the millisecond, in
// UTC), unless the post already has them: the ledger keeps both, and
// every attempt writes the record with them.
func (c *Client) Plan(p *syndicate.PlannedPost, now time.Time) {
	if now.IsZero() {
		now = time.Now()
	}
	if p.RecordKey == "" {
		p.RecordKey = NextTID(now)
	}
	if p.CreatedAt.IsZero() {
		p.CreatedAt = now.UTC().Truncate(time.Millisecond)
	}
}

// tids makes the record keys: microseconds since 1970 and a clock ID
// drawn once per process, strictly increasing within the process.
var tids struct {
	sync.Mutex
	last  int64
	clock uint
	drawn bool
}

// NextTID is a new TID for the time now, later than every TID this
// process made before.
func NextTID(now time.Time) string {
	us := now.UnixMicro()
	tids.Lock()
	if !tids.drawn {
		var b [2]byte
		_, _ = rand.Read(b[:])
		tids.clock, tids.drawn = uint(binary.BigEndian.Uint16(b[:])&0x3ff), true
	}
	if us <= tids.last {
		us = tids.last + 1
	}
	tids.last = us
	tids.Unlock()
	return syntax.NewTID(us, tids.clock).String()
}

// canonicalLanguage is a BCP 47 tag as the PDS takes it: well formed, in
// its canonical case ("EN" is refused, "en" taken).
func canonicalLanguage(tag string) (string, error) {
	t, err := language.Parse(tag)
	if err != nil {
		return "", fmt.Errorf("%q is not a BCP 47 language tag", tag)
	}
	s := t.String()
	if _, err := syntax.ParseLanguage(s); err != nil {
		return "", fmt.Errorf("%q is not a language tag the PDS takes", tag)
	}
	return s, nil
}
