package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate/mastodon/mastotest"
)

func mastodonConfig(srv *mastotest.Server, extra string) string {
	return fmt.Sprintf("mastodon:\n  server: %s\n  access_token: ${MASTODON_ACCESS_TOKEN}\n  max_threads_per_run: 0\n  timeout: 2s\n%s", srv.URL, extra)
}

// wantThreads checks the server holds exactly the sample threads, each
// post once, each chain intact: head public, replies unlisted.
func wantThreads(t *testing.T, srv *mastotest.Server, sizes map[string]int) {
	t.Helper()
	threads, err := srv.Threads()
	if err != nil {
		t.Fatalf("chains broken: %v", err)
	}
	got := map[string]int{}
	for _, th := range threads {
		head := th[0]
		id := ""
		for name := range sizes {
			if strings.Contains(head.Text, "/articles/"+name) {
				id = name
			}
		}
		if id == "" {
			t.Errorf("unexpected thread: %q", head.Text)
			continue
		}
		if got[id] > 0 {
			t.Errorf("%s posted twice", id)
		}
		got[id] = len(th)
		if head.Visibility != "public" {
			t.Errorf("%s head is %s", id, head.Visibility)
		}
		for i, p := range th[1:] {
			if p.Visibility != "unlisted" {
				t.Errorf("%s reply %d is %s", id, i+1, p.Visibility)
			}
			if want := fmt.Sprintf("%d/%d", i+2, len(th)); !strings.HasSuffix(p.Text, want) {
				t.Errorf("%s reply %d ends %q, want %s", id, i+1, p.Text[max(0, len(p.Text)-8):], want)
			}
		}
	}
	for id, n := range sizes {
		if got[id] != n {
			t.Errorf("%s: %d posts, want %d", id, got[id], n)
		}
	}
}

var sampleThreads = map[string]int{"north-sea-wind-auction": 4, "harbour-library-reopens": 4, "city-budget-vote": 5, "shehbaz-sharif-putin-letters": 3}

func TestPost_NormalRunThenNothing(t *testing.T) {
	srv := mastotest.New(token)
	defer srv.Close()
	srv.Set(func(s *mastotest.Settings) { s.MediaPolls = 2 })
	e := newEnv(t, mastodonConfig(srv, ""))
	r := e.run("post")
	if r.code != 0 {
		t.Fatal(r)
	}
	wantThreads(t, srv, sampleThreads)
	// The seed: title (= first key point) and link, then its three points.
	for _, st := range srv.Statuses() {
		if strings.Contains(st.Text, "Asif HASSAN") || strings.Contains(st.Text, "white suit") {
			t.Errorf("caption or credit posted: %q", st.Text)
		}
		if st.Language != "en" {
			t.Errorf("language %q", st.Language)
		}
	}
	// The picture went up with its alt text, on the wind article's head.
	var withMedia int
	for _, st := range srv.Statuses() {
		if len(st.MediaIDs) > 0 {
			withMedia++
			if !strings.Contains(st.Text, "North Sea wind auction") || srv.MediaDescription(st.MediaIDs[0]) == "" {
				t.Errorf("media on %q, alt %q", st.Text, srv.MediaDescription(st.MediaIDs[0]))
			}
		}
	}
	if withMedia != 1 {
		t.Errorf("%d posts with media, want 1", withMedia)
	}
	before := srv.Requests()
	r = e.run("post")
	if r.code != 0 || !strings.Contains(r.stdout, "nothing to post") {
		t.Fatal(r)
	}
	if n := len(srv.Statuses()); n != 16 {
		t.Errorf("second run: %d statuses, want 16", n)
	}
	if srv.Requests() != before {
		t.Errorf("second run made %d requests, want none", srv.Requests()-before)
	}
}

func TestPost_CapOldestFirst(t *testing.T) {
	srv := mastotest.New(token)
	defer srv.Close()
	e := newEnv(t, mastodonConfig(srv, "")+"  max_threads_per_run: 1\n")
	e.write("config.yaml", strings.Replace(readFile(t, e.path("config.yaml")), "  max_threads_per_run: 0\n", "", 1))
	r := e.run("post")
	if r.code != 0 || !strings.Contains(r.stdout, "3 left for later runs") {
		t.Fatal(r)
	}
	wantThreads(t, srv, map[string]int{"north-sea-wind-auction": 4})
}

func TestPost_Faults(t *testing.T) {
	tests := []struct {
		name   string
		inject func(*mastotest.Server)
	}{
		{"lost response after the post was created", func(s *mastotest.Server) { s.DropAfterCreate(3) }},
		{"503 without creating", func(s *mastotest.Server) { s.Fail503(3) }},
		{"429 burst", func(s *mastotest.Server) { s.RateLimitBurst(4, time.Now().Add(2*time.Second)) }},
		{"stall past the client timeout", func(s *mastotest.Server) { s.Stall(1, 2500*time.Millisecond) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := mastotest.New(token)
			defer srv.Close()
			srv.Set(func(s *mastotest.Settings) { s.KeyTTL = time.Hour })
			e := newEnv(t, mastodonConfig(srv, ""))
			tt.inject(srv)
			// Rerun until done, as cron would; at most three runs.
			for run := 0; run < 3; run++ {
				r := e.run("post")
				if r.code == 0 {
					break
				}
				t.Logf("run %d: %s", run+1, r)
			}
			wantThreads(t, srv, sampleThreads)
		})
	}
}

func TestPost_ServerLimitIsObeyed(t *testing.T) {
	srv := mastotest.New(token)
	defer srv.Close()
	srv.Set(func(s *mastotest.Settings) { s.MaxCharacters = 300 })
	e := newEnv(t, mastodonConfig(srv, ""), "city-budget-vote.txt")
	if r := e.run("post"); r.code != 0 {
		t.Fatal(r)
	}
	sts := srv.Statuses()
	if len(sts) != 6 {
		t.Errorf("%d posts at a limit of 300, want 6 (5 at 500)", len(sts))
	}
	for _, st := range sts {
		if n := mastotest.Length("", st.Text, 23); n > 300 {
			t.Errorf("post of %d > 300", n)
		}
	}
}

func TestPost_RejectedArticleFailsOthersGoOn(t *testing.T) {
	srv := mastotest.New(token)
	defer srv.Close()
	// The config claims 1000 characters; the server allows 500: the city
	// article's long point is refused with 422, the others are posted.
	e := newEnv(t, mastodonConfig(srv, "  max_characters: 1000\n"), "city-budget-vote.txt", "shehbaz-sharif-putin-letters.txt")
	r := e.run("post")
	if r.code != 1 || !strings.Contains(r.stderr, "city-budget-vote: failed") || !strings.Contains(r.stderr, "character limit of 500") {
		t.Fatal(r)
	}
	threads, _ := srv.Threads()
	if len(threads) != 2 {
		t.Fatalf("%d threads", len(threads))
	}
	// Not retried blindly.
	n := len(srv.Statuses())
	if r := e.run("post"); r.code != 0 || len(srv.Statuses()) != n {
		t.Fatalf("a failed article was retried without --retry: %s", r)
	}
	// Fixed config, then --retry: the thread is completed under the head.
	e.write("config.yaml", strings.Replace(readFile(t, e.path("config.yaml")), "  max_characters: 1000\n", "", 1))
	if r := e.run("post", "--retry", "city-budget-vote"); r.code != 0 {
		t.Fatal(r)
	}
	threads, err := srv.Threads()
	if err != nil || len(threads) != 2 {
		t.Fatalf("threads %d, %v", len(threads), err)
	}
	if r := e.run("post", "--retry", "no-such-article"); r.code != 2 {
		t.Errorf("--retry of an unknown article: %s", r)
	}
}

func TestPost_Unauthorized(t *testing.T) {
	srv := mastotest.New("the-right-token")
	defer srv.Close()
	e := newEnv(t, mastodonConfig(srv, ""))
	r := e.run("post")
	if r.code != 2 || !strings.Contains(r.stderr, "mastodon.access_token") || !strings.Contains(r.stderr, "401") {
		t.Fatal(r)
	}
	if len(srv.Statuses()) != 0 {
		t.Error("something was posted")
	}
	// Nothing was recorded as posted: with the right token all goes out.
	srv.Set(func(s *mastotest.Settings) { s.Token = token })
	if r := e.run("post"); r.code != 0 {
		t.Fatal(r)
	}
	wantThreads(t, srv, sampleThreads)
}

func TestPost_MarkPostedAndEmbargo(t *testing.T) {
	srv := mastotest.New(token)
	defer srv.Close()
	e := newEnv(t, mastodonConfig(srv, ""))
	if r := e.run("post", "--mark-posted"); r.code != 0 || !strings.Contains(r.stdout, "4 article(s) recorded as posted on Mastodon without posting") {
		t.Fatal(r)
	}
	if r := e.run("post"); r.code != 0 || len(srv.Statuses()) != 0 {
		t.Fatalf("posted after --mark-posted: %s", r)
	}
	// A new article goes out; the embargoed one still waits.
	e.write("articles/new-story.md", "---\ntitle: A new story\n---\nText.\n")
	if r := e.run("post"); r.code != 0 || !strings.Contains(r.stdout, "1 waiting for their date") {
		t.Fatal(r)
	}
	wantThreads(t, srv, map[string]int{"new-story": 1})
}

func TestPost_SecondRunWhileLockedRefuses(t *testing.T) {
	srv := mastotest.New(token)
	defer srv.Close()
	e := newEnv(t, mastodonConfig(srv, ""), "shehbaz-sharif-putin-letters.txt")
	srv.Stall(1, 3*time.Second)
	first, _, _ := e.command("post")
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	defer first.Wait()
	time.Sleep(time.Second)
	r := e.run("post")
	if r.code != 2 || !strings.Contains(r.stderr, fmt.Sprintf("process %d", first.Process.Pid)) {
		t.Errorf("second run: %s", r)
	}
}
