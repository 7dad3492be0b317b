package mastodon_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/mastodon"
	"github.com/syndicate-bot/syndicate/syndicate/mastodon/mastotest"
	"github.com/syndicate-bot/syndicate/syndicate/thread"
)

const token = "test-token-SECRET-9f8e"

func client(srv *mastotest.Server, tok string) *mastodon.Client {
	return mastodon.New(mastodon.Options{Server: srv.URL, Token: tok, Timeout: 2 * time.Second, Retries: 3, Backoff: 10 * time.Millisecond})
}

func TestLimits(t *testing.T) {
	srv := mastotest.New(token)
	defer srv.Close()
	srv.Set(func(s *mastotest.Settings) { s.MaxCharacters = 300 })
	lim, err := client(srv, token).Limits(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := syndicate.Limits{MaxCharacters: 300, URLLength: 23, MaxMedia: 4, DescriptionLimit: 1500, ImageSizeLimit: 16 << 20,
		ImageTypes: []string{"image/jpeg", "image/png", "image/gif", "image/heic", "image/heif", "image/webp", "image/avif"},
		Counting:   "mastodon", Software: "mastodon", Version: "4.3.0", IdempotencyKeys: true}
	if got := lim; !reflect.DeepEqual(got, want) {
		t.Errorf("limits = %+v, want %+v", got, want)
	}
	srv.Set(func(s *mastotest.Settings) { s.NoV2Instance = true })
	srv.Set(func(s *mastotest.Settings) { s.MaxCharacters = 1000 })
	lim, err = client(srv, token).Limits(context.Background())
	if err != nil || lim.MaxCharacters != 1000 {
		t.Errorf("v1 fallback: %+v, %v", lim, err)
	}
}

func TestPost_RulesAndErrors(t *testing.T) {
	srv := mastotest.New(token)
	defer srv.Close()
	c := client(srv, token)
	ctx := context.Background()
	head, err := c.Post(ctx, syndicate.PlannedPost{Text: "head", Visibility: "public", IdempotencyKey: "k1"}, syndicate.Ref{}, syndicate.Ref{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The key replays the original post.
	again, err := c.Post(ctx, syndicate.PlannedPost{Text: "head", Visibility: "public", IdempotencyKey: "k1"}, syndicate.Ref{}, syndicate.Ref{}, nil)
	if err != nil || again.ID != head.ID || len(srv.Statuses()) != 1 {
		t.Errorf("replay: %+v %v, %d statuses", again, err, len(srv.Statuses()))
	}
	_, err = c.Post(ctx, syndicate.PlannedPost{Text: "reply", IdempotencyKey: "k2"}, syndicate.Ref{ID: "999"}, syndicate.Ref{ID: "999"}, nil)
	if !errors.Is(err, syndicate.ErrRejected) || !strings.Contains(err.Error(), "does not appear to exist") {
		t.Errorf("unknown reply target: %v", err)
	}
	_, err = c.Post(ctx, syndicate.PlannedPost{Text: strings.Repeat("x", 501), IdempotencyKey: "k3"}, syndicate.Ref{}, syndicate.Ref{}, nil)
	if !errors.Is(err, syndicate.ErrRejected) || !strings.Contains(err.Error(), "character limit of 500") {
		t.Errorf("too long: %v", err)
	}
	_, err = client(srv, "wrong").Post(ctx, syndicate.PlannedPost{Text: "x", IdempotencyKey: "k4"}, syndicate.Ref{}, syndicate.Ref{}, nil)
	if !errors.Is(err, syndicate.ErrUnauthorized) {
		t.Errorf("bad token: %v", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Errorf("the token is in the error: %v", err)
	}
	// A 503 is an error of unknown outcome: not retried here (the job
	// looks for the post before sending it again).
	srv.Fail503(1)
	_, err = c.Post(ctx, syndicate.PlannedPost{Text: "after 503", IdempotencyKey: "k5"}, syndicate.Ref{ID: head.ID}, syndicate.Ref{ID: head.ID}, nil)
	if err == nil || errors.Is(err, syndicate.ErrRejected) || errors.Is(err, syndicate.ErrUnauthorized) {
		t.Errorf("503: err = %v, want a transient error", err)
	}
	// A lost response is an error whose outcome is unknown (the post job
	// looks for the post before it sends it again): never resent here,
	// so one post (see TestPost_NoSilentResend).
	srv.DropAfterCreate(1)
	if _, err := c.Post(ctx, syndicate.PlannedPost{Text: "dropped", IdempotencyKey: "k6"}, syndicate.Ref{ID: head.ID}, syndicate.Ref{ID: head.ID}, nil); err == nil || errors.Is(err, syndicate.ErrRejected) {
		t.Errorf("dropped response: err = %v, want an unknown outcome", err)
	}
	n := 0
	for _, s := range srv.Statuses() {
		if s.Text == "dropped" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the dropped post exists %d times", n)
	}
}

func TestRateLimit_WaitsForReset(t *testing.T) {
	srv := mastotest.New(token)
	defer srv.Close()
	reset := time.Now().Add(1500 * time.Millisecond)
	srv.RateLimitBurst(3, reset)
	start := time.Now()
	if _, err := client(srv, token).Post(context.Background(), syndicate.PlannedPost{Text: "x", IdempotencyKey: "k"}, syndicate.Ref{}, syndicate.Ref{}, nil); err != nil {
		t.Fatal(err)
	}
	if time.Now().Before(reset) {
		t.Errorf("posted at +%v, before the reset at +%v", time.Since(start), reset.Sub(start))
	}
	if got := len(srv.Statuses()); got != 1 {
		t.Errorf("%d statuses", got)
	}
}

// TestLimits_ServerIdentified: the counting rule follows the software
// NodeInfo names; an unknown or silent server is counted strictly, and a
// NodeInfo link to another host is not followed.
func TestLimits_ServerIdentified(t *testing.T) {
	other := mastotest.New(token)
	defer other.Close()
	other.Set(func(s *mastotest.Settings) { s.Software = "gotosocial" })
	tests := []struct {
		name     string
		set      func(*mastotest.Settings)
		force    string
		counting string
		idem     bool
	}{
		{"mastodon", func(s *mastotest.Settings) {}, "", "mastodon", true},
		{"gotosocial", func(s *mastotest.Settings) { s.Software = "gotosocial" }, "", "gotosocial", false},
		{"akkoma", func(s *mastotest.Settings) { s.Software = "akkoma" }, "", "pleroma", true},
		{"unknown software", func(s *mastotest.Settings) { s.Software = "misskey" }, "", "strict", false},
		{"no NodeInfo", func(s *mastotest.Settings) { s.Software = "" }, "", "strict", false},
		{"NodeInfo on another host", func(s *mastotest.Settings) { s.NodeInfoHref = other.URL + "/nodeinfo/2.0" }, "", "strict", false},
		{"forced", func(s *mastotest.Settings) { s.Software = "gotosocial" }, "mastodon", "mastodon", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := mastotest.New(token)
			defer srv.Close()
			srv.Set(tt.set)
			c := mastodon.New(mastodon.Options{Server: srv.URL, Token: token, Timeout: 2 * time.Second, Retries: 0, Counting: tt.force})
			lim, err := c.Limits(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if lim.Counting != tt.counting || lim.IdempotencyKeys != tt.idem {
				t.Errorf("counting %q, idempotency keys %v; want %q, %v", lim.Counting, lim.IdempotencyKeys, tt.counting, tt.idem)
			}
		})
	}
	if other.Requests() != 0 {
		t.Errorf("the other host got %d requests", other.Requests())
	}
}

func TestRateLimit_ResetTooFarIsAnError(t *testing.T) {
	srv := mastotest.New(token)
	defer srv.Close()
	srv.RateLimitBurst(1, time.Now().Add(3*time.Hour))
	c := mastodon.New(mastodon.Options{Server: srv.URL, Token: token, MaxRateWait: time.Second, Retries: 0})
	_, err := c.Post(context.Background(), syndicate.PlannedPost{Text: "x", IdempotencyKey: "k"}, syndicate.Ref{}, syndicate.Ref{}, nil)
	if !errors.Is(err, mastodon.ErrRateLimited) {
		t.Errorf("err = %v, want ErrRateLimited", err)
	}
}

func TestUpload_WaitsForProcessing(t *testing.T) {
	srv := mastotest.New(token)
	defer srv.Close()
	srv.Set(func(s *mastotest.Settings) { s.MediaPolls = 2 })
	png, err := os.ReadFile("../../articles/offshore-wind.png")
	if err != nil {
		t.Fatal(err)
	}
	c := client(srv, token)
	id, err := c.Upload(context.Background(), syndicate.Picture{Name: "offshore-wind.png", Type: "image/png", Data: png}, "a calm sea")
	if err != nil {
		t.Fatal(err)
	}
	if got := srv.MediaDescription(id); got != "a calm sea" {
		t.Errorf("alt text = %q", got)
	}
	// The server is told the base name and the type, never a local path.
	if got, want := srv.Uploads()[0], (mastotest.Upload{Description: "a calm sea", FileName: "offshore-wind.png", Type: "image/png", Size: len(png)}); got != want {
		t.Errorf("upload = %+v, want %+v", got, want)
	}
	if _, err := c.Post(context.Background(), syndicate.PlannedPost{Text: "with picture", IdempotencyKey: "m"}, syndicate.Ref{}, syndicate.Ref{}, []string{id}); err != nil {
		t.Errorf("attaching processed media: %v", err)
	}
}

func TestFindPosted(t *testing.T) {
	srv := mastotest.New(token)
	defer srv.Close()
	c := client(srv, token)
	ctx := context.Background()
	since := time.Now().Add(-time.Minute)
	head, _ := c.Post(ctx, syndicate.PlannedPost{Text: "Title & more\n\nhttps://news.example.org/a\n\n1/2", IdempotencyKey: "h"}, syndicate.Ref{}, syndicate.Ref{}, nil)
	reply, _ := c.Post(ctx, syndicate.PlannedPost{Text: "A <point>\n\n2/2", IdempotencyKey: "r"}, syndicate.Ref{ID: head.ID}, syndicate.Ref{ID: head.ID}, nil)
	for i := 0; i < 50; i++ { // push them past the first page
		c.Post(ctx, syndicate.PlannedPost{Text: "filler " + string(rune('a'+i%26)) + strings.Repeat("!", i), IdempotencyKey: fmt.Sprint("f", i)}, syndicate.Ref{}, syndicate.Ref{}, nil)
	}
	got, found, err := c.FindPosted(ctx, syndicate.PlannedPost{Text: "A <point>\n\n2/2"}, syndicate.Ref{ID: head.ID}, since)
	if err != nil || !found || got.ID != reply.ID {
		t.Errorf("reply: %+v %v %v", got, found, err)
	}
	got, found, err = c.FindPosted(ctx, syndicate.PlannedPost{Text: "Title & more\n\nhttps://news.example.org/a\n\n1/2"}, syndicate.Ref{}, since)
	if err != nil || !found || got.ID != head.ID {
		t.Errorf("head: %+v %v %v", got, found, err)
	}
	if _, found, _ := c.FindPosted(ctx, syndicate.PlannedPost{Text: "never posted"}, syndicate.Ref{ID: head.ID}, since); found {
		t.Error("found a post that was never made")
	}
}

// The test server counts independently of the bot; both must agree.
func TestCounters_Agree(t *testing.T) {
	for _, text := range []string{
		"plain", "see https://example.org/a/very/long/path?q=1 now.", "(https://e.org/x), then!",
		"hi @alice@mastodon.social and @bob", "🇵🇰 👨‍👩‍👧‍👦 👍🏽 日本語", "e\u0301 x",
		"https://en.wikipedia.org/wiki/Foo_(bar) done",
	} {
		if a, b := thread.Length("cw", text, 23), mastotest.Length("cw", text, 23); a != b {
			t.Errorf("%q: bot counts %d, server %d", text, a, b)
		}
	}
}

// TestPost_NoSilentResend: Go's HTTP transport resends a request that
// carries an Idempotency-Key by itself when a reused connection dies
// before the answer. A server that ignores the key (GoToSocial) would
// then make the post twice; the client must leave the resend to the post
// job, which looks for the post first.
func TestPost_NoSilentResend(t *testing.T) {
	srv := mastotest.New(token)
	defer srv.Close()
	srv.Set(func(s *mastotest.Settings) { s.KeyTTL = 0 }) // keys ignored
	c := client(srv, token)
	ctx := context.Background()
	head, err := c.Post(ctx, syndicate.PlannedPost{Text: "Head.", IdempotencyKey: "k1"}, syndicate.Ref{}, syndicate.Ref{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv.DropAfterCreate(1) // the connection is reused, then dropped
	_, err = c.Post(ctx, syndicate.PlannedPost{Index: 1, Text: "Reply.", IdempotencyKey: "k2"}, syndicate.Ref{ID: head.ID}, syndicate.Ref{ID: head.ID}, nil)
	if err == nil {
		t.Fatal("a dropped answer was reported as a success")
	}
	if got := len(srv.Statuses()); got != 2 {
		t.Errorf("%d statuses, want 2: the transport sent the reply again on its own", got)
	}
}
