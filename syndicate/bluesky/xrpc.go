package bluesky

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/syndicate-bot/syndicate/syndicate"
)

// APIError is an XRPC error answer: {"error": Name, "message": Message}.
// Message is the server's, with any secret of the session taken out.
type APIError struct {
	Status  int
	Name    string
	Message string
}

func (e *APIError) Error() string {
	s := "HTTP " + strconv.Itoa(e.Status)
	if e.Name != "" {
		s += " " + e.Name
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// ErrRateLimited is returned when the PDS's rate limit resets later than
// MaxRateWait; nothing was written (the PDS checks its limits before the
// handler runs), so a later retry is safe.
var ErrRateLimited = errors.New("rate limited by the PDS")

const redacted = "[redacted]"

// maxAnswer bounds the answers read (a getRecord of a post is a few KB).
const maxAnswer = 4 << 20

// request is one XRPC call.
type request struct {
	method string // GET (query) or POST (procedure)
	nsid   string
	query  url.Values
	ctype  string // of body
	body   []byte
	token  string // Bearer token, if any
}

// send makes one XRPC call and waits out 429s within MaxRateWait; it
// does not retry anything else. out receives the JSON answer (a *[]byte
// the raw body). A non-2xx answer is an *APIError.
func (c *Client) send(ctx context.Context, r request, out any) error {
	u := c.service + "/xrpc/" + r.nsid
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	var waited time.Duration
	for attempt := 0; ; attempt++ {
		status, header, body, err := c.attempt(ctx, r, u)
		if err != nil {
			return err
		}
		if status == http.StatusTooManyRequests {
			// The limit is checked before the handler: nothing was
			// written, and waiting for the reset and sending again is safe.
			wait, reset := c.rateWait(header, attempt)
			if waited+wait > c.opts.MaxRateWait || attempt >= 20 {
				return fmt.Errorf("%w: %s resets at %s, beyond the %s one call waits: %w", ErrRateLimited, r.nsid,
					reset.UTC().Format(time.RFC3339), c.opts.MaxRateWait, c.apiError(status, body))
			}
			c.opts.Logger.Info("bluesky: rate limited; waiting for the reset", "nsid", r.nsid,
				"wait", wait.Round(time.Second), "reset", reset.UTC().Format(time.RFC3339), "policy", header.Get("RateLimit-Policy"))
			if err := c.sleep(ctx, wait); err != nil {
				return err
			}
			waited += wait
			continue
		}
		if status < 200 || status > 299 {
			return c.apiError(status, body)
		}
		switch o := out.(type) {
		case nil:
			return nil
		case *[]byte:
			*o = body
			return nil
		}
		if err := json.Unmarshal(body, out); err != nil {
			return fmt.Errorf("%s: the answer is not the JSON expected: %v", r.nsid, err)
		}
		return nil
	}
}

// attempt is one HTTP exchange under its own timeout, the body read in
// full within it.
func (c *Client) attempt(ctx context.Context, r request, u string) (int, http.Header, []byte, error) {
	actx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(actx, r.method, u, body)
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("User-Agent", syndicate.UserAgent())
	req.Header.Set("Accept", "application/json")
	if r.body != nil {
		req.Header.Set("Content-Type", r.ctype)
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, nil, c.netError(r.nsid, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return 0, nil, nil, c.netError(r.nsid, err)
	}
	if len(b) > maxAnswer {
		return 0, nil, nil, fmt.Errorf("%s: the answer is larger than %d bytes", r.nsid, maxAnswer)
	}
	return resp.StatusCode, resp.Header, b, nil
}

// netError is a failed exchange: its outcome is unknown.
func (c *Client) netError(nsid string, err error) error {
	return fmt.Errorf("%s: %w", nsid, err)
}

// apiError reads an XRPC error body.
func (c *Client) apiError(status int, body []byte) *APIError {
	e := &APIError{Status: status}
	var eb struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &eb) == nil {
		e.Name, e.Message = clean(c.redact(eb.Error), 100), clean(c.redact(eb.Message), 1000)
	}
	if e.Name == "" && e.Message == "" {
		e.Message = http.StatusText(status)
	}
	return e
}

// rateWait is how long to wait after a 429: until RateLimit-Reset (Unix
// seconds, an absolute time) or Retry-After (seconds or an HTTP date),
// whichever is later, and at least a second; without either, a backoff.
func (c *Client) rateWait(h http.Header, attempt int) (time.Duration, time.Time) {
	now := c.now()
	var reset time.Time
	if v := strings.TrimSpace(h.Get("RateLimit-Reset")); v != "" {
		if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
			reset = time.Unix(secs, 0)
		}
	}
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		var at time.Time
		if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
			at = now.Add(time.Duration(secs) * time.Second)
		} else if t, err := http.ParseTime(v); err == nil {
			at = t
		}
		if at.After(reset) {
			reset = at
		}
	}
	if reset.IsZero() {
		wait := time.Second << min(attempt, 8)
		return wait, now.Add(wait)
	}
	// Half a second past the reset: its second has then surely passed.
	wait := max(reset.Sub(now)+500*time.Millisecond, time.Second)
	return wait, reset
}

// redact takes the app password and the session's tokens out of a text
// the server sent, in case it ever echoes one.
func (c *Client) redact(s string) string {
	c.mu.Lock()
	secrets := []string{c.opts.AppPassword, c.sess.access, c.sess.refresh}
	c.mu.Unlock()
	for _, v := range secrets {
		if len(v) >= 4 {
			s = strings.ReplaceAll(s, v, redacted)
		}
	}
	return s
}

// clean makes a server's text one line of printable characters, at most
// n runes long.
func clean(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return ' '
		}
		return r
	}, s)
	if r := []rune(s); len(r) > n {
		s = string(r[:n]) + "…"
	}
	return strings.TrimSpace(s)
}

// Error names the PDS uses for a session that no longer works.
var sessionErrors = map[string]bool{"ExpiredToken": true, "InvalidToken": true}

// accountErrors are refusals of the account itself.
var accountErrors = map[string]bool{"AccountTakedown": true, "AccountDeactivated": true, "AuthenticationRequired": true, "AuthMissing": true}

// classify wraps an error with its kind: syndicate.ErrUnauthorized (the
// login or the session is refused), syndicate.ErrRejected (a refusal the
// PDS will repeat: an invalid record, a wrong swap), or neither — a 5xx,
// a 408, a network error or a timeout, whose outcome is unknown and which
// a retry (of the same record) settles.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, syndicate.ErrUnauthorized) || errors.Is(err, syndicate.ErrRejected) {
		return err
	}
	var api *APIError
	if errors.As(err, &api) && !errors.Is(err, ErrRateLimited) {
		switch {
		case api.Status == http.StatusUnauthorized || api.Status == http.StatusForbidden ||
			sessionErrors[api.Name] || accountErrors[api.Name]:
			return fmt.Errorf("bluesky: %s: %w: %w", op, syndicate.ErrUnauthorized, err)
		case api.Status >= 400 && api.Status < 500 && api.Status != http.StatusRequestTimeout && api.Status != http.StatusTooManyRequests:
			return fmt.Errorf("bluesky: %s: %w: %w", op, syndicate.ErrRejected, err)
		}
	}
	return fmt.Errorf("bluesky: %s: %w", op, err)
}

// transient reports whether a classified error may succeed on a retry.
func transient(err error) bool {
	return !errors.Is(err, syndicate.ErrUnauthorized) && !errors.Is(err, syndicate.ErrRejected) &&
		!errors.Is(err, ErrRateLimited) && !errors.Is(err, context.Canceled)
}

// retry runs fn until it succeeds, fails for good, or the retries are
// used up, and returns the classified error.
func (c *Client) retry(ctx context.Context, op string, fn func(context.Context) error) error {
	wait := c.opts.Backoff
	for attempt := 0; ; attempt++ {
		err := classify(op, fn(ctx))
		if err == nil {
			return nil
		}
		if !transient(err) || attempt >= c.opts.Retries || ctx.Err() != nil {
			return err
		}
		c.opts.Logger.Warn("bluesky: call failed; retrying", "op", op, "attempt", attempt+1, "wait", wait, "err", err)
		if err := c.sleep(ctx, wait); err != nil {
			return classify(op, err)
		}
		wait = min(2*wait, time.Minute)
	}
}

// sleepCtx waits for d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
