// Package mastodon is the live Mastodon outlet: go-mastodon for the API,
// plus what it lacks — an Idempotency-Key on every post, the v2 instance
// limits, rate-limit headers honoured, a timeout on every call, retries of
// 5xx and network errors with the same key, and reading the account's
// recent statuses to settle a post whose outcome is unknown.
package mastodon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	gomastodon "github.com/mattn/go-mastodon"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/thread"
)

// Options configure a Client.
type Options struct {
	Server string
	Token  string
	// Timeout bounds every API call (each attempt).
	Timeout time.Duration
	// MaxRateWait is the longest a run waits for a rate-limit reset.
	MaxRateWait time.Duration
	// Retries is how many times a 5xx or network error is retried.
	Retries int
	// Backoff is the first wait between retries; it doubles.
	Backoff time.Duration
	// MediaWait bounds the wait for an upload to finish processing.
	MediaWait time.Duration
	// Counting forces a counting rule (thread.Counting); "" or "auto"
	// takes the server's, from NodeInfo.
	Counting string
	Logger   *slog.Logger
}

// Client posts to one account. It is a syndicate.Outlet.
type Client struct {
	api       *gomastodon.Client
	http      *http.Client
	opts      Options
	accountID string
	// noEdits is set once the server showed it cannot edit statuses.
	noEdits atomic.Bool
}

var _ syndicate.Outlet = (*Client)(nil)

// New makes a client. It does not touch the network.
func New(opts Options) *Client {
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
	if opts.MediaWait <= 0 {
		opts.MediaWait = 2 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	tr := &transport{base: http.DefaultTransport.(*http.Transport).Clone(), timeout: opts.Timeout, maxWait: opts.MaxRateWait, log: opts.Logger, now: time.Now, sleep: sleepCtx}
	// go-mastodon's client has no timeout of its own; the transport puts
	// one on every attempt.
	api := gomastodon.NewClient(&gomastodon.Config{Server: strings.TrimRight(opts.Server, "/"), AccessToken: opts.Token})
	api.Transport = tr
	api.UserAgent = syndicate.UserAgent()
	return &Client{api: api, http: &http.Client{Transport: tr}, opts: opts}
}

// classify wraps an error from the API with its kind.
func classify(op string, err error) error {
	var api *gomastodon.APIError
	if errors.As(err, &api) {
		msg := api.Message
		if msg == "" {
			msg = http.StatusText(api.StatusCode)
		}
		switch {
		case api.StatusCode == http.StatusUnauthorized || api.StatusCode == http.StatusForbidden:
			return fmt.Errorf("%s: %w: %d %s", op, syndicate.ErrUnauthorized, api.StatusCode, msg)
		case api.StatusCode >= 400 && api.StatusCode < 500 && api.StatusCode != http.StatusRequestTimeout && api.StatusCode != http.StatusTooManyRequests:
			return fmt.Errorf("%s: %w: %d %s", op, syndicate.ErrRejected, api.StatusCode, msg)
		}
		return fmt.Errorf("%s: %d %s", op, api.StatusCode, msg)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// retryable reports whether a classified error may succeed on a retry.
func retryable(err error) bool {
	if errors.Is(err, syndicate.ErrUnauthorized) || errors.Is(err, syndicate.ErrRejected) || errors.Is(err, ErrRateLimited) {
		return false
	}
	return !errors.Is(err, context.Canceled)
}

// retry runs fn until it succeeds, fails for good, or the retries are
// used up; each attempt gets its own timeout through the HTTP client.
func (c *Client) retry(ctx context.Context, op string, fn func(context.Context) error) error {
	wait := c.opts.Backoff
	for attempt := 0; ; attempt++ {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		err = classify(op, err)
		if !retryable(err) || attempt >= c.opts.Retries || ctx.Err() != nil {
			return err
		}
		c.opts.Logger.Warn("mastodon call failed; retrying", "op", op, "attempt", attempt+1, "wait", wait, "err", err)
		if err := sleepCtx(ctx, wait); err != nil {
			return err
		}
		wait = min(2*wait, time.Minute)
	}
}

// Limits reads the server's limits from /api/v2/instance, falling back to
// /api/v1/instance and then to Mastodon's defaults for what neither says.
//
// The server is identified by NodeInfo, and the limits say how it counts a
// post's length (mastodon.counting may force a rule) and whether it
// honours Idempotency-Key.
func (c *Client) Limits(ctx context.Context) (syndicate.Limits, error) {
	lim := syndicate.DefaultLimits()
	lim.Software, lim.Version = c.identify(ctx)
	lim.Counting = string(thread.CountingFor(lim.Software))
	if c.opts.Counting != "" && c.opts.Counting != "auto" {
		lim.Counting = c.opts.Counting
	}
	lim.IdempotencyKeys = honoursIdempotencyKey(lim.Software)
	var v2 struct {
		Configuration struct {
			Statuses struct {
				MaxCharacters            int `json:"max_characters"`
				MaxMediaAttachments      int `json:"max_media_attachments"`
				CharactersReservedPerURL int `json:"characters_reserved_per_url"`
			} `json:"statuses"`
			MediaAttachments struct {
				DescriptionLimit   int      `json:"description_limit"`
				ImageSizeLimit     int64    `json:"image_size_limit"`
				SupportedMIMETypes []string `json:"supported_mime_types"`
			} `json:"media_attachments"`
		} `json:"configuration"`
		MaxTootChars int `json:"max_toot_chars"` // Pleroma and glitch-soc, v1 only
	}
	err := c.getJSON(ctx, "/api/v2/instance", &v2)
	if err != nil {
		if errors.Is(err, syndicate.ErrUnauthorized) || ctx.Err() != nil {
			return lim, err
		}
		c.opts.Logger.Info("no /api/v2/instance; trying /api/v1/instance", "err", err)
		if err := c.getJSON(ctx, "/api/v1/instance", &v2); err != nil {
			c.opts.Logger.Warn("the server states no limits; using Mastodon's defaults", "err", err)
			return lim, nil
		}
	}
	s := v2.Configuration.Statuses
	if s.MaxCharacters > 0 {
		lim.MaxCharacters = s.MaxCharacters
	} else if v2.MaxTootChars > 0 {
		lim.MaxCharacters = v2.MaxTootChars
	}
	if s.CharactersReservedPerURL > 0 {
		lim.URLLength = s.CharactersReservedPerURL
	}
	if s.MaxMediaAttachments > 0 {
		lim.MaxMedia = s.MaxMediaAttachments
	}
	ma := v2.Configuration.MediaAttachments
	if ma.DescriptionLimit > 0 {
		lim.DescriptionLimit = ma.DescriptionLimit
	}
	lim.ImageSizeLimit = ma.ImageSizeLimit
	for _, t := range ma.SupportedMIMETypes {
		if strings.HasPrefix(t, "image/") {
			lim.ImageTypes = append(lim.ImageTypes, t)
		}
	}
	return lim, nil
}

// honoursIdempotencyKey reports whether a server is known to replay a
// post for a repeated Idempotency-Key (GoToSocial v0.18 ignores it).
func honoursIdempotencyKey(software string) bool {
	switch strings.ToLower(software) {
	case "mastodon", "glitchsoc", "glitch-soc", "hometown", "fedibird", "pleroma", "akkoma":
		return true
	}
	return false
}

// identify reads the server's software name and version from NodeInfo
// (/.well-known/nodeinfo, then the document it links on the same host).
// A server without NodeInfo is "" and counted strictly.
func (c *Client) identify(ctx context.Context) (software, version string) {
	base, err := url.Parse(strings.TrimRight(c.opts.Server, "/"))
	if err != nil {
		return "", ""
	}
	var wellKnown struct {
		Links []struct {
			Rel  string `json:"rel"`
			Href string `json:"href"`
		} `json:"links"`
	}
	if err := c.getPublic(ctx, base.String()+"/.well-known/nodeinfo", &wellKnown); err != nil {
		c.opts.Logger.Info("no NodeInfo", "err", err)
		return "", ""
	}
	href := ""
	for _, l := range wellKnown.Links {
		if strings.HasPrefix(l.Rel, "http://nodeinfo.diaspora.software/ns/schema/2.") && l.Href > href {
			href = l.Href
		}
	}
	// Only a document on the server itself: NodeInfo must not send the
	// bot elsewhere.
	u, err := url.Parse(href)
	if err != nil || u.Host != base.Host || (u.Scheme != base.Scheme) {
		return "", ""
	}
	var doc struct {
		Software struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		} `json:"software"`
	}
	if err := c.getPublic(ctx, u.String(), &doc); err != nil {
		c.opts.Logger.Info("no NodeInfo document", "err", err)
		return "", ""
	}
	return doc.Software.Name, doc.Software.Version
}

// getPublic reads a public JSON document without the access token.
func (c *Client) getPublic(ctx context.Context, u string, v any) error {
	return c.retry(ctx, "GET "+u, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Accept", "application/json")
		resp, err := c.http.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return &gomastodon.APIError{StatusCode: resp.StatusCode, Message: http.StatusText(resp.StatusCode)}
		}
		return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v)
	})
}

func (c *Client) getJSON(ctx context.Context, path string, v any) error {
	return c.retry(ctx, "GET "+path, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(c.opts.Server, "/")+path, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+c.opts.Token)
		resp, err := c.http.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			var e struct {
				Error string `json:"error"`
			}
			json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&e)
			return &gomastodon.APIError{StatusCode: resp.StatusCode, Message: e.Error}
		}
		return json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(v)
	})
}

// Account returns the ID of the token's account (needs read:accounts).
func (c *Client) Account(ctx context.Context) (string, error) {
	if c.accountID != "" {
		return c.accountID, nil
	}
	err := c.retry(ctx, "verify credentials", func(ctx context.Context) error {
		a, err := c.api.GetAccountCurrentUser(ctx)
		if err != nil {
			return err
		}
		c.accountID = string(a.ID)
		return nil
	})
	return c.accountID, err
}

// Network is the outlet's name in the ledger.
func (c *Client) Network() string { return syndicate.NetworkMastodon }

// Plan fixes nothing: a Mastodon retry is recognised by its idempotency
// key (made when the post is sent, from the status it replies to) and by
// reading the account's statuses, not by a planned record.
func (c *Client) Plan(*syndicate.PlannedPost, time.Time) {}

// Post creates one status replying to parent (none for a head post; the
// root is not needed: a Mastodon reply names its parent only), with the
// post's idempotency key.
func (c *Client) Post(ctx context.Context, p syndicate.PlannedPost, parent, root syndicate.Ref, mediaIDs []string) (syndicate.Status, error) {
	toot := &gomastodon.Toot{
		Status: p.Text, SpoilerText: p.ContentWarning, Visibility: p.Visibility, Language: p.Language,
		InReplyToID: gomastodon.ID(parent.ID),
	}
	for _, id := range mediaIDs {
		toot.MediaIDs = append(toot.MediaIDs, gomastodon.ID(id))
	}
	// One attempt: after a failure the outcome may be unknown, and the
	// caller looks for the post before sending it again (same key).
	s, err := c.api.PostStatus(WithIdempotencyKey(ctx, p.IdempotencyKey), toot)
	if err != nil {
		return syndicate.Status{}, classify(fmt.Sprintf("post %d", p.Index+1), err)
	}
	return syndicate.Status{ID: string(s.ID), URL: s.URL}, nil
}

// Upload uploads a picture with its alt text and waits until the server
// has processed it (202, then 206 while processing, then 200). The file
// name sent is the picture's base name and its type the sniffed one:
// never a path of this machine.
func (c *Client) Upload(ctx context.Context, pic syndicate.Picture, description string) (string, error) {
	var id string
	err := c.retry(ctx, "upload "+pic.Name, func(ctx context.Context) error {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, pic.Name))
		h.Set("Content-Type", pic.Type)
		part, err := mw.CreatePart(h)
		if err != nil {
			return err
		}
		part.Write(pic.Data)
		if description != "" {
			mw.WriteField("description", description)
		}
		if err := mw.Close(); err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(c.opts.Server, "/")+"/api/v2/media", bytes.NewReader(body.Bytes()))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+c.opts.Token)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		resp, err := c.http.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusAccepted {
			var e struct {
				Error string `json:"error"`
			}
			json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&e)
			return &gomastodon.APIError{StatusCode: resp.StatusCode, Message: e.Error}
		}
		var a struct {
			ID  string  `json:"id"`
			URL *string `json:"url"`
		}
		if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&a); err != nil {
			return err
		}
		if a.ID == "" {
			return errors.New("the server answered an upload without a media ID")
		}
		id = a.ID
		if resp.StatusCode == http.StatusOK && a.URL != nil && *a.URL != "" {
			return nil
		}
		return c.waitForMedia(ctx, &gomastodon.Attachment{ID: gomastodon.ID(a.ID)})
	})
	return id, err
}

func (c *Client) waitForMedia(ctx context.Context, a *gomastodon.Attachment) error {
	deadline := time.Now().Add(c.opts.MediaWait)
	wait := 500 * time.Millisecond
	for {
		err := c.api.GetMediaStatus(ctx, a)
		if err == nil {
			return nil
		}
		var api *gomastodon.APIError
		if !errors.As(err, &api) || api.StatusCode != http.StatusPartialContent {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("media %s still processing after %s", a.ID, c.opts.MediaWait)
		}
		if err := sleepCtx(ctx, wait); err != nil {
			return err
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// FindPosted looks through the account's recent statuses, newest first
// and back to since, for one replying to parent (none for a head post)
// whose text is the post's. It settles a post whose outcome is unknown
// after the server's idempotency window, or on a server that has none
// (GoToSocial). The status's source text is compared where the server
// gives it (GoToSocial does, to the author), else its HTML made plain.
func (c *Client) FindPosted(ctx context.Context, p syndicate.PlannedPost, parent syndicate.Ref, since time.Time) (syndicate.Status, bool, error) {
	inReplyTo, text := parent.ID, p.Text
	account, err := c.Account(ctx)
	if err != nil {
		return syndicate.Status{}, false, err
	}
	want := collapse(text)
	maxID := ""
	for page := 0; page < 10; page++ {
		path := "/api/v1/accounts/" + url.PathEscape(account) + "/statuses?limit=40"
		if maxID != "" {
			path += "&max_id=" + url.QueryEscape(maxID)
		}
		var statuses []struct {
			ID          string    `json:"id"`
			URL         string    `json:"url"`
			CreatedAt   time.Time `json:"created_at"`
			InReplyToID *string   `json:"in_reply_to_id"`
			Content     string    `json:"content"`
			Text        string    `json:"text"`
		}
		if err := c.getJSON(ctx, path, &statuses); err != nil {
			return syndicate.Status{}, false, err
		}
		for _, s := range statuses {
			if s.CreatedAt.Before(since) {
				return syndicate.Status{}, false, nil
			}
			parent := ""
			if s.InReplyToID != nil {
				parent = *s.InReplyToID
			}
			got := s.Text
			if got == "" {
				got = PlainText(s.Content)
			}
			if parent == inReplyTo && collapse(got) == want {
				return syndicate.Status{ID: s.ID, URL: s.URL}, true, nil
			}
		}
		if len(statuses) == 0 {
			return syndicate.Status{}, false, nil
		}
		maxID = statuses[len(statuses)-1].ID
	}
	return syndicate.Status{}, false, nil
}

var (
	paragraphBreak = regexp.MustCompile(`(?i)</p>\s*<p[^>]*>`)
	lineBreak      = regexp.MustCompile(`(?i)<br\s*/?>`)
	tag            = regexp.MustCompile(`<[^>]*>`)
)

// PlainText turns a status's HTML content back into the text that was
// posted: paragraphs and line breaks become newlines, links their text.
func PlainText(content string) string {
	s := paragraphBreak.ReplaceAllString(content, "\n\n")
	s = lineBreak.ReplaceAllString(s, "\n")
	s = tag.ReplaceAllString(s, "")
	return html.UnescapeString(s)
}

func collapse(s string) string { return strings.Join(strings.Fields(s), " ") }
