package main

// End to end against a real GoToSocial v0.18.3 (a Mastodon-API server
// written by others): it counts length in code points with URLs in full,
// refuses an over-long post with a 400, and ignores Idempotency-Key.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/syndicate-bot/syndicate/syndicate/testpeer/gotosocial"
)

// hardArticle has key points that fit a Mastodon post (URLs count 23, a
// flag one character) but not a GoToSocial one (URLs in full, a flag two
// code points): about 540 code points each, 300 to 380 as Mastodon counts.
var hardArticle = "---\ntitle: Links and flags that only Mastodon would count as short\ntags: [Counting]\nkey_points:\n" +
	"  - \"The full report is at https://news.example.org/reports/2026/12/01/offshore-wind-auction-results-by-site-and-bidder-with-every-annex.pdf" +
	" and the annexes are at https://news.example.org/reports/2026/12/01/offshore-wind-auction-annexes-with-maps-of-every-site-and-cable-route.zip" +
	" while the data is at https://data.example.org/datasets/offshore-wind/auction-2026/results/bids-by-site-by-round-and-by-price.csv" +
	" and the method at https://news.example.org/reports/2026/12/01/how-we-checked-the-auction-figures.html for anyone who wants to check the figures themselves.\"\n" +
	"  - \"Delegations came from everywhere: " + strings.TrimSpace(strings.Repeat("🇵🇰 ", 170)) + ".\"\n" +
	"---\nText.\n"

// gtsEnv is an installation posting to its own account on the shared
// GoToSocial server.
func gtsEnv(t *testing.T, extra string, articles ...string) (*env, *gotosocial.Server, *gotosocial.Account) {
	t.Helper()
	srv := gotosocial.SharedWith(t, gotosocial.Options{RateLimit: gotosocial.RateLimitOff})
	name := strings.NewReplacer("/", "", "_", "", " ", "").Replace(strings.ToLower(t.Name()))
	if len(name) > 30 {
		name = name[len(name)-30:]
	}
	acct := srv.NewAccount(t, name)
	cfg := fmt.Sprintf("mastodon:\n  server: %s\n  access_token: ${MASTODON_ACCESS_TOKEN}\n  max_threads_per_run: 0\n  timeout: 10s\n%s", srv.URL, extra)
	e := newEnv(t, cfg, articles...)
	e.vars = append(e.vars, "MASTODON_ACCESS_TOKEN="+acct.Token)
	return e, srv, acct
}

// gtsThreads groups an account's statuses into chains from each head; it
// fails the test if a chain forks.
func gtsThreads(t *testing.T, acct *gotosocial.Account) [][]gotosocial.Status {
	t.Helper()
	all := acct.Statuses(t)
	children := map[string][]gotosocial.Status{}
	var heads []gotosocial.Status
	for _, st := range all {
		if st.InReplyToID == "" {
			heads = append(heads, st)
		} else {
			children[st.InReplyToID] = append(children[st.InReplyToID], st)
		}
	}
	var out [][]gotosocial.Status
	for _, h := range heads {
		chain := []gotosocial.Status{h}
		for cur := h; ; {
			next := children[cur.ID]
			if len(next) == 0 {
				break
			}
			if len(next) > 1 {
				t.Errorf("status %s has %d replies: a post was made twice", cur.ID, len(next))
			}
			cur = next[0]
			chain = append(chain, cur)
		}
		out = append(out, chain)
	}
	return out
}

// dryRunTexts is what "post --dry-run --json --all" would post, by article.
func dryRunTexts(t *testing.T, e *env) map[string][]string {
	t.Helper()
	r := e.run("post", "--dry-run", "--json", "--all")
	var doc struct {
		Counting string
		Threads  []struct {
			Article string
			Posts   []struct{ Text string }
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("%v: %s", err, r)
	}
	out := map[string][]string{}
	for _, th := range doc.Threads {
		for _, p := range th.Posts {
			out[th.Article] = append(out[th.Article], p.Text)
		}
	}
	return out
}

// TestGoToSocial_ThreadsAsDryRunShows: the shipped articles and one with
// long URLs and flags are posted to a real GoToSocial as the dry run
// (counting as GoToSocial does) showed them, every post once, each chain
// intact; a second run posts nothing.
func TestGoToSocial_ThreadsAsDryRunShows(t *testing.T) {
	e, _, acct := gtsEnv(t, "  counting: gotosocial\n")
	e.write("articles/links-and-flags.md", hardArticle)
	want := dryRunTexts(t, e)
	// Counted as Mastodon counts, the hard article would need fewer posts:
	// the rule is what makes it fit.
	cfg := readFile(t, e.path("config.yaml"))
	e.write("config.yaml", strings.Replace(cfg, "  counting: gotosocial\n", "  counting: mastodon\n", 1))
	if asMastodon := dryRunTexts(t, e); len(asMastodon["links-and-flags"]) >= len(want["links-and-flags"]) {
		t.Fatalf("the hard article is %d posts counted as Mastodon and %d as GoToSocial: it tests nothing", len(asMastodon["links-and-flags"]), len(want["links-and-flags"]))
	}
	// The live run finds out by itself what the server is.
	e.write("config.yaml", strings.Replace(cfg, "  counting: gotosocial\n", "", 1))
	r := e.run("post")
	if r.code != 0 {
		t.Fatal(r)
	}
	if !strings.Contains(r.stderr, "does not honour Idempotency-Key") || !strings.Contains(r.stderr, "software=gotosocial") {
		t.Errorf("the run does not say the server ignores Idempotency-Key:\n%s", r.stderr)
	}
	threads := gtsThreads(t, acct)
	got := map[string][]gotosocial.Status{}
	for _, th := range threads {
		for id := range want {
			if strings.Contains(th[0].Source, "/articles/"+id) {
				if got[id] != nil {
					t.Errorf("%s posted twice", id)
				}
				got[id] = th
			}
		}
	}
	for id, texts := range want {
		th := got[id]
		if len(th) != len(texts) {
			t.Errorf("%s: %d posts on the server, the dry run showed %d", id, len(th), len(texts))
			continue
		}
		for i, st := range th {
			if st.Source != texts[i] {
				t.Errorf("%s post %d:\n%q\nthe dry run showed\n%q", id, i+1, st.Source, texts[i])
			}
			if n := utf8.RuneCountInString(st.Source + st.SpoilerText); n > 500 {
				t.Errorf("%s post %d is %d code points", id, i+1, n)
			}
			wantVis := "unlisted"
			if i == 0 {
				wantVis = "public"
			}
			if st.Visibility != wantVis || st.Language != "en" {
				t.Errorf("%s post %d: %s, %s", id, i+1, st.Visibility, st.Language)
			}
		}
	}
	if head := got["north-sea-wind-auction"]; len(head) > 0 {
		if m := head[0].MediaAttachments; len(m) != 1 || !strings.HasPrefix(m[0].Description, "Three white wind turbines") {
			t.Errorf("the wind article's picture: %+v", m)
		}
	}
	// The dry run now composes by the rule the live run learned.
	e.write("articles/later.md", "---\ntitle: A later story\n---\nText.\n")
	if r := e.run("post", "--dry-run", "--all"); !strings.Contains(r.stdout, "as GoToSocial counts") || !strings.Contains(r.stdout, "as last seen at") {
		t.Errorf("the dry run does not use the rule it learned: %s", r)
	}
	e.write("articles/later.md", "---\ntitle: A later story\ndraft: true\n---\nText.\n")
	n := len(acct.Statuses(t))
	if r := e.run("post"); r.code != 0 || !strings.Contains(r.stdout, "nothing to post") || len(acct.Statuses(t)) != n {
		t.Errorf("second run: %s", r)
	}
}

// killingProxy stands between the binary and GoToSocial and SIGKILLs
// the binary when the server has created the at-th status, before the
// answer reaches it: the post exists and the bot does not know.
func killingProxy(t *testing.T, target string, k *killable, at int) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	created := 0
	proxy := httputil.NewSingleHostReverseProxy(u)
	var front *httptest.Server
	proxy.ModifyResponse = func(resp *http.Response) error {
		switch {
		case resp.Request.URL.Path == "/.well-known/nodeinfo":
			// Point the NodeInfo link at the proxy, as a server's own
			// front would.
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				return err
			}
			b = []byte(strings.ReplaceAll(string(b), target, front.URL))
			resp.Body = io.NopCloser(strings.NewReader(string(b)))
			resp.ContentLength = int64(len(b))
			resp.Header.Del("Content-Length")
		case resp.Request.Method == http.MethodPost && resp.Request.URL.Path == "/api/v1/statuses" && resp.StatusCode == 200:
			mu.Lock()
			created++
			n := created
			mu.Unlock()
			if n == at {
				k.kill()
				return errors.New("killed")
			}
		}
		return nil
	}
	front = httptest.NewServer(proxy)
	t.Cleanup(front.Close)
	return front.URL
}

// TestGoToSocial_SIGKILLMidThread: killed when a post was created but its
// answer never came back, on a server that ignores Idempotency-Key, a
// rerun posts every post once (the ledger and reading the account's
// statuses are all there is).
func TestGoToSocial_SIGKILLMidThread(t *testing.T) {
	for _, at := range []int{1, 4, 9, 13} {
		t.Run(fmt.Sprintf("at status %d of 13", at), func(t *testing.T) {
			e, srv, acct := gtsEnv(t, "", "north-sea-wind-auction.md", "offshore-wind.png", "harbour-library-reopens.md", "city-budget-vote.txt")
			var k killable
			front := killingProxy(t, srv.URL, &k, at)
			cfg := readFile(t, e.path("config.yaml"))
			e.write("config.yaml", strings.Replace(cfg, srv.URL, front, 1))
			if r := e.runKillable(&k, "post"); r.code != -1 {
				t.Fatalf("not killed: %s", r)
			}
			if n := len(acct.Statuses(t)); n != at {
				t.Fatalf("%d statuses when killed, want %d", n, at)
			}
			if r := e.run("post"); r.code != 0 {
				t.Fatal(r)
			}
			sizes := map[string]int{}
			for _, th := range gtsThreads(t, acct) {
				for _, id := range []string{"north-sea-wind-auction", "harbour-library-reopens", "city-budget-vote"} {
					if strings.Contains(th[0].Source, "/articles/"+id) {
						if sizes[id] > 0 {
							t.Errorf("%s posted twice", id)
						}
						sizes[id] = len(th)
					}
				}
			}
			for id, want := range map[string]int{"north-sea-wind-auction": 4, "harbour-library-reopens": 4, "city-budget-vote": 5} {
				if sizes[id] != want {
					t.Errorf("%s: %d posts, want %d", id, sizes[id], want)
				}
			}
			if n := len(acct.Statuses(t)); n != 13 {
				t.Errorf("%d statuses, want 13: a post was made twice or not at all", n)
			}
		})
	}
}

// TestGoToSocial_RefusedReplyFailsThenRetryContinues: counting by the
// wrong rule, the head post goes out and GoToSocial refuses the first
// reply; the run says so, the article is failed with the server's reason,
// and once the rule is right "post --retry" continues the thread under
// the same head.
func TestGoToSocial_RefusedReplyFailsThenRetryContinues(t *testing.T) {
	e, _, acct := gtsEnv(t, "  counting: mastodon\n", "harbour-library-reopens.md")
	e.write("articles/links-and-flags.md", hardArticle)
	r := e.run("post")
	if r.code != 1 || !strings.Contains(r.stderr, "links-and-flags: failed:") || !strings.Contains(r.stderr, "exceed max chars (500)") {
		t.Fatalf("want the thread reported failed with the server's reason: %s", r)
	}
	heads := 0
	for _, th := range gtsThreads(t, acct) {
		if strings.Contains(th[0].Source, "/articles/links-and-flags") {
			heads++
			if len(th) != 1 {
				t.Fatalf("thread of %d posts, want the head alone", len(th))
			}
		}
	}
	if heads != 1 {
		t.Fatalf("%d heads", heads)
	}
	if r := e.run("status"); !strings.Contains(r.stdout, "failed") || !strings.Contains(r.stdout, "exceed max chars") || !strings.Contains(r.stdout, "post --retry links-and-flags") {
		t.Errorf("status: %s", r)
	}
	cfg := readFile(t, e.path("config.yaml"))
	e.write("config.yaml", strings.Replace(cfg, "  counting: mastodon\n", "", 1))
	if r := e.run("post", "--retry", "links-and-flags"); r.code != 0 {
		t.Fatal(r)
	}
	heads = 0
	for _, th := range gtsThreads(t, acct) {
		if strings.Contains(th[0].Source, "/articles/links-and-flags") {
			heads++
			if len(th) < 4 {
				t.Errorf("the retried thread has %d posts", len(th))
			}
			// The head keeps the numbering it was posted with; the
			// replies are numbered by the new plan.
			for i, st := range th[1:] {
				if want := fmt.Sprintf("%d/%d", i+2, len(th)); !strings.HasSuffix(st.Source, want) {
					t.Errorf("reply %d ends %q, want %s", i+1, st.Source[max(0, len(st.Source)-10):], want)
				}
			}
		}
	}
	if heads != 1 {
		t.Errorf("%d heads after the retry, want the same one", heads)
	}
}
