package mastodon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate"
)

type idempotencyKey struct{}

// WithIdempotencyKey returns a context whose POST /api/v1/statuses request
// carries the key in the Idempotency-Key header: the server answers a
// repeat within its window (an hour) with the original post.
func WithIdempotencyKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, idempotencyKey{}, key)
}

// transport adds what go-mastodon lacks: the Idempotency-Key header, and
// a 429 answered by waiting until X-RateLimit-Reset
// (an ISO 8601 time) instead of go-mastodon's blind backoff of up to hours.
// It never lets go-mastodon see a 429.
type transport struct {
	base    http.RoundTripper
	timeout time.Duration // per attempt, the response body included
	maxWait time.Duration // longest wait for a rate-limit reset
	log     *slog.Logger
	now     func() time.Time
	sleep   func(context.Context, time.Duration) error
}

// ErrRateLimited is returned when the server's reset is further away than
// the bot is willing to wait in one run; nothing was created.
var ErrRateLimited = errors.New("rate limited by the server")

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if key, ok := req.Context().Value(idempotencyKey{}).(string); ok && key != "" && req.Method == http.MethodPost {
		req = req.Clone(req.Context())
		req.Header.Set("Idempotency-Key", key)
	}
	if req.Header.Get("User-Agent") == "" {
		req = req.Clone(req.Context())
		req.Header.Set("User-Agent", syndicate.UserAgent())
	}
	// Go's transport resends a request by itself when a reused
	// connection dies before the answer, if it can rewind the body and
	// the request looks idempotent — as one with an Idempotency-Key does.
	// A server that ignores the key (GoToSocial) would then make the post
	// twice. A request that changes something is never resent here: the
	// post job decides, after looking for the post.
	rewind := req.GetBody
	if req.Method != http.MethodGet && req.Method != http.MethodHead && rewind != nil {
		req = req.Clone(req.Context())
		req.GetBody = nil
	}
	for attempt := 0; ; attempt++ {
		// The timeout is per attempt, so a wait for a rate-limit reset
		// does not count against it (http.Client.Timeout would).
		actx, cancel := context.WithTimeout(req.Context(), t.timeout)
		resp, err := t.base.RoundTrip(req.WithContext(actx))
		if err != nil {
			cancel()
			return nil, err
		}
		resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
		if resp.StatusCode != http.StatusTooManyRequests {
			return resp, nil
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		resp.Body.Close()
		// Nothing was created: waiting for the reset and retrying is safe.
		reset := t.reset(resp.Header)
		wait := time.Second
		if !reset.IsZero() {
			wait = reset.Sub(t.now()) + 500*time.Millisecond
		}
		if wait < time.Second {
			wait = time.Second
		}
		if wait > t.maxWait || attempt >= 20 {
			return nil, fmt.Errorf("%w: reset at %s is beyond the %s this run waits", ErrRateLimited, reset.Format(time.RFC3339), t.maxWait)
		}
		t.log.Info("rate limited: waiting for the reset", "wait", wait.Round(time.Second), "reset", reset.Format(time.RFC3339), "path", req.URL.Path)
		if err := t.sleep(req.Context(), wait); err != nil {
			return nil, err
		}
		if rewind != nil {
			body, err := rewind()
			if err != nil {
				return nil, err
			}
			req = req.Clone(req.Context())
			req.Body = body
		}
	}
}

// reset is when the server's rate limit resets (X-RateLimit-Reset: an
// ISO 8601 time; some servers and proxies send seconds instead), or zero.
func (t *transport) reset(h http.Header) time.Time {
	v := strings.TrimSpace(h.Get("X-RateLimit-Reset"))
	if v == "" {
		return time.Time{}
	}
	if ts, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return ts
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		return t.now().Add(time.Duration(secs * float64(time.Second)))
	}
	return time.Time{}
}

// cancelOnClose ends an attempt's context when its body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
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
