package main

// End to end against a real Bluesky PDS (@atproto/pds, from
// syndicate/testpeer/pds; these tests skip where it is not installed, and
// fail where SYNDICATE_REQUIRE_PEERS=1): the program's own binary posts
// the shipped articles, the records are read back from the PDS, and the
// binary is SIGKILLed by a proxy between it and the PDS at several points.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate/mastodon/mastotest"
	"github.com/syndicate-bot/syndicate/syndicate/testpeer/pds"
	"github.com/syndicate-bot/syndicate/syndicate/thread"
)

const postCollection = "app.bsky.feed.post"

// blueskyConfig is a bluesky section for the PDS (or a proxy in front of
// it, at service) and its account.
func blueskyConfig(service, handle, extra string) string {
	return fmt.Sprintf("bluesky:\n  service: %s\n  handle: %s\n  app_password: ${BLUESKY_APP_PASSWORD}\n  max_threads_per_run: 0\n  timeout: 5s\n%s", service, handle, extra)
}

// skyEnv is an installation posting to Bluesky alone, through a proxy in
// front of the PDS.
func skyEnv(t *testing.T, srv *pds.Server, extra string, articles ...string) (*env, *pdsProxy) {
	t.Helper()
	proxy := newPDSProxy(t, srv.URL)
	e := newEnv(t, blueskyConfig(proxy.URL, srv.Handle, extra), articles...)
	e.vars = append(e.vars, "BLUESKY_APP_PASSWORD="+srv.AppPassword)
	return e, proxy
}

// runSky is e.run, checking the app password is never printed.
func runSky(t *testing.T, e *env, srv *pds.Server, args ...string) result {
	t.Helper()
	r := e.run(args...)
	if strings.Contains(r.stdout+r.stderr, srv.AppPassword) {
		t.Errorf("syndicate %v printed the app password", args)
	}
	return r
}

// pdsProxy stands between the binary and the PDS. Its hook sees every
// XRPC call twice — when the request arrives ("request", before the PDS
// has it) and when the PDS has answered ("response") — with the count of
// calls of that method so far, and may act: kill the binary, answer in the
// PDS's stead, drop the connection.
type pdsProxy struct {
	URL string

	mu       sync.Mutex
	counts   map[string]int
	hook     func(nsid string, n int, phase string) action
	inflight sync.WaitGroup
}

// action is what the proxy does with a call.
type action struct {
	kill    *killable // SIGKILL the binary first
	status  int       // answer this (and the body) instead of the PDS
	body    string
	headers map[string]string
	drop    bool          // close the connection without an answer
	stall   time.Duration // wait this long before going on
}

func newPDSProxy(t *testing.T, target string) *pdsProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &pdsProxy{counts: map[string]int{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) { drop(w) }
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.inflight.Add(1)
		defer p.inflight.Done()
		nsid := strings.TrimPrefix(r.URL.Path, "/xrpc/")
		p.mu.Lock()
		p.counts[nsid]++
		n, hook := p.counts[nsid], p.hook
		p.mu.Unlock()
		if hook == nil {
			rp.ServeHTTP(w, r)
			return
		}
		a := hook(nsid, n, "request")
		if a.stall > 0 {
			// The request reaches the PDS late, whether or not the client
			// still waits for it.
			time.Sleep(a.stall)
			r = r.WithContext(context.WithoutCancel(r.Context()))
			a.stall = 0
		}
		if p.act(w, a) {
			return
		}
		// Hold the PDS's answer until the hook has seen it.
		rec := httptest.NewRecorder()
		rp.ServeHTTP(rec, r)
		if p.act(w, hook(nsid, n, "response")) {
			return
		}
		for k, vs := range rec.Header() {
			w.Header()[k] = vs
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	}))
	t.Cleanup(front.Close)
	p.URL = front.URL
	return p
}

// set replaces the hook (nil: pass everything) and restarts the counts.
func (p *pdsProxy) set(hook func(nsid string, n int, phase string) action) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hook, p.counts = hook, map[string]int{}
}

// idle waits until no call is in flight (a stalled one may reach the PDS
// after the run that sent it ended), at most until the deadline.
func (p *pdsProxy) idle(t *testing.T, within time.Duration) {
	t.Helper()
	done := make(chan struct{})
	go func() { p.inflight.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(within):
		t.Fatalf("calls still in flight after %s", within)
	}
}

// act does what a says; it reports whether the call is answered.
func (p *pdsProxy) act(w http.ResponseWriter, a action) bool {
	if a.kill != nil {
		a.kill.kill()
		drop(w)
		return true
	}
	if a.drop {
		drop(w)
		return true
	}
	if a.status != 0 {
		for k, v := range a.headers {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		io.WriteString(w, a.body)
		return true
	}
	return false
}

// drop closes the client's connection without an answer.
func drop(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if c, _, err := hj.Hijack(); err == nil {
			c.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

// skyRecord is a post of the account as the PDS holds it.
type skyRecord struct {
	URI, CID string
	Text     string `json:"text"`
	Langs    []string
	Facets   []struct {
		Index    struct{ ByteStart, ByteEnd int }
		Features []struct {
			Type string `json:"$type"`
			URI  string `json:"uri"`
			Tag  string `json:"tag"`
		}
	} `json:"facets"`
	Reply *struct{ Root, Parent struct{ URI, CID string } } `json:"reply"`
	Embed *struct {
		Type   string `json:"$type"`
		Images []struct {
			Alt         string `json:"alt"`
			AspectRatio struct{ Width, Height int }
		} `json:"images"`
		External *struct{ URI, Title, Description string } `json:"external"`
	} `json:"embed"`
}

// skyThreads reads the account's posts not in before (record keys) and
// groups them into chains from each head, by the article whose link the
// head's link facet holds. A fork (two replies to one post), a reply
// whose root is not its chain's head, or a ref whose CID is not the
// post's, fails the test: the chain is not intact.
func skyThreads(t *testing.T, srv *pds.Server, before map[string]bool) map[string][]skyRecord {
	t.Helper()
	byURI := map[string]skyRecord{}
	children := map[string][]skyRecord{}
	var heads []skyRecord
	for _, rec := range srv.ListRecords(t, postCollection) {
		if before[rec.RKey] {
			continue
		}
		var p skyRecord
		if err := json.Unmarshal(rec.Value, &p); err != nil {
			t.Fatal(err)
		}
		p.URI, p.CID = rec.URI, rec.CID
		byURI[p.URI] = p
		if p.Reply == nil {
			heads = append(heads, p)
		} else {
			children[p.Reply.Parent.URI] = append(children[p.Reply.Parent.URI], p)
		}
	}
	out := map[string][]skyRecord{}
	for _, h := range heads {
		id := ""
		for _, f := range h.Facets {
			for _, ft := range f.Features {
				if i := strings.Index(ft.URI, "/articles/"); i >= 0 && ft.Type == "app.bsky.richtext.facet#link" {
					id = ft.URI[i+len("/articles/"):]
				}
			}
		}
		if out[id] != nil {
			t.Errorf("%q posted twice", id)
		}
		chain := []skyRecord{h}
		for cur := h; ; {
			next := children[cur.URI]
			if len(next) == 0 {
				break
			}
			if len(next) > 1 {
				t.Errorf("%s has %d replies: a post was made twice", cur.URI, len(next))
			}
			n := next[0]
			if n.Reply.Parent.CID != cur.CID || n.Reply.Root.URI != h.URI || n.Reply.Root.CID != h.CID {
				t.Errorf("%s: reply %+v, want parent %s (%s), root %s (%s)", n.URI, n.Reply, cur.URI, cur.CID, h.URI, h.CID)
			}
			chain = append(chain, n)
			cur = n
		}
		out[id] = chain
	}
	for uri, p := range byURI {
		if p.Reply != nil {
			if _, ok := byURI[p.Reply.Parent.URI]; !ok && !before[rkey(p.Reply.Parent.URI)] {
				t.Errorf("%s replies to %s, which is not there", uri, p.Reply.Parent.URI)
			}
		}
	}
	return out
}

func rkey(uri string) string { return uri[strings.LastIndexByte(uri, '/')+1:] }

// recordKeys are the account's posts now, to tell later ones from.
func recordKeys(t *testing.T, srv *pds.Server) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, r := range srv.ListRecords(t, postCollection) {
		out[r.RKey] = true
	}
	return out
}

// dryRunThreads is what "post --dry-run --json --all" would post on a
// network, by article.
func dryRunThreads(t *testing.T, e *env, network string) map[string][]string {
	t.Helper()
	r := e.run("post", "--dry-run", "--json", "--all")
	var doc struct {
		Threads []struct {
			Network, Article string
			Posts            []struct{ Text string }
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("%v: %s", err, r)
	}
	out := map[string][]string{}
	for _, th := range doc.Threads {
		if th.Network != network {
			continue
		}
		for _, p := range th.Posts {
			out[th.Article] = append(out[th.Article], p.Text)
		}
	}
	return out
}

// wantSkyThreads checks the PDS holds exactly the threads want (each as
// the dry run showed it, as Bluesky shows it: URLs shortened), every post
// once, every chain intact.
func wantSkyThreads(t *testing.T, srv *pds.Server, before map[string]bool, want map[string][]string) map[string][]skyRecord {
	t.Helper()
	got := skyThreads(t, srv, before)
	for id, texts := range want {
		th := got[id]
		if len(th) != len(texts) {
			t.Errorf("%s: %d posts on the PDS, want %d", id, len(th), len(texts))
			continue
		}
		for i, p := range th {
			if w := thread.BlueskyText(texts[i]); p.Text != w {
				t.Errorf("%s post %d:\n%q\nwant\n%q", id, i+1, p.Text, w)
			}
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			t.Errorf("an unexpected thread %q on the PDS", id)
		}
	}
	return got
}

// TestBluesky_ThreadsAsDryRunShows: the shipped articles go to a real PDS
// through the binary as the dry run showed them — the head with its
// picture (alt text, aspect ratio) or its link card, hashtags and links as
// facets, langs, each reply naming the head and the post before — every
// post once; a second run posts nothing; status says where each is.
func TestBluesky_ThreadsAsDryRunShows(t *testing.T) {
	srv := pds.Start(t)
	e, _ := skyEnv(t, srv, "")
	want := dryRunThreads(t, e, "bluesky")
	if len(want) != 4 {
		t.Fatalf("the dry run shows %d Bluesky threads, want the 4 due", len(want))
	}
	before := recordKeys(t, srv)
	r := runSky(t, e, srv, "post")
	if r.code != 0 || !strings.Contains(r.stdout, "bluesky: posted 4 thread(s)") || strings.Contains(r.stdout, "mastodon") {
		t.Fatal(r)
	}
	got := wantSkyThreads(t, srv, before, want)

	wind := got["north-sea-wind-auction"]
	if len(wind) > 0 {
		h := wind[0]
		if h.Embed == nil || h.Embed.Type != "app.bsky.embed.images" || len(h.Embed.Images) != 1 ||
			!strings.HasPrefix(h.Embed.Images[0].Alt, "Three white wind turbines") || h.Embed.Images[0].AspectRatio.Width == 0 {
			t.Errorf("the wind article's head embeds %+v, want its picture with alt text and aspect ratio", h.Embed)
		}
		tags := 0
		for _, f := range h.Facets {
			if b := []byte(h.Text); f.Index.ByteEnd > len(b) || f.Index.ByteStart >= f.Index.ByteEnd {
				t.Errorf("facet %+v outside a text of %d bytes", f.Index, len(b))
				continue
			}
			covered := h.Text[f.Index.ByteStart:f.Index.ByteEnd]
			switch ft := f.Features[0]; ft.Type {
			case "app.bsky.richtext.facet#tag":
				tags++
				if covered != "#"+ft.Tag {
					t.Errorf("tag facet %q covers %q", ft.Tag, covered)
				}
			case "app.bsky.richtext.facet#link":
				if ft.URI != "https://news.example.org/articles/north-sea-wind-auction" {
					t.Errorf("link facet %s", ft.URI)
				}
			}
		}
		if tags != 3 {
			t.Errorf("%d tag facets on the wind head, want 3 (#OffshoreWind #NorthSea #energy)", tags)
		}
	}
	for id, th := range got {
		for i, p := range th {
			if len(p.Langs) != 1 || p.Langs[0] != "en" {
				t.Errorf("%s post %d langs %v", id, i+1, p.Langs)
			}
			if i > 0 && p.Embed != nil {
				t.Errorf("%s reply %d embeds %+v", id, i, p.Embed)
			}
		}
		if id != "north-sea-wind-auction" && len(th) > 0 {
			if c := th[0].Embed; c == nil || c.External == nil || c.External.URI != "https://news.example.org/articles/"+id || c.External.Title == "" || c.External.Description == "" {
				t.Errorf("%s head embeds %+v, want the link card", id, th[0].Embed)
			}
		}
	}

	n := len(srv.ListRecords(t, postCollection))
	if r := runSky(t, e, srv, "post"); r.code != 0 || !strings.Contains(r.stdout, "bluesky: nothing to post") || len(srv.ListRecords(t, postCollection)) != n {
		t.Errorf("second run: %s", r)
	}
	r = runSky(t, e, srv, "status", "--json")
	var doc struct {
		Articles []struct {
			ID, State string
			Networks  []struct{ Network, State, URL string }
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("%v\n%s", err, r)
	}
	for _, a := range doc.Articles {
		if _, due := want[a.ID]; !due {
			continue
		}
		if a.State != "posted" || len(a.Networks) != 1 || a.Networks[0].Network != "bluesky" || !strings.HasPrefix(a.Networks[0].URL, "https://bsky.app/profile/") {
			t.Errorf("status of %s: %+v", a.ID, a)
		}
	}
}

// skyKillPoint is where the proxy kills the binary: at the n-th call of
// nsid, when it arrives or once the PDS has answered it.
type skyKillPoint struct {
	nsid  string
	n     int
	phase string
}

func (p skyKillPoint) String() string {
	what := map[string]string{"request": "before the PDS had it", "response": "the PDS wrote it, the answer lost"}[p.phase]
	return fmt.Sprintf("%s #%d, %s", strings.TrimPrefix(p.nsid, "com.atproto.repo."), p.n, what)
}

// TestBluesky_SIGKILL: killed at a post the PDS wrote before the answer
// came back, at a post it never had, and while the picture was uploaded,
// a rerun posts every post once, the chains intact (the ledger planned
// each record key and createdAt before the first attempt; the rerun finds
// a post in doubt under its key, and a post sent again is the same record).
func TestBluesky_SIGKILL(t *testing.T) {
	srv := pds.Start(t)
	points := []skyKillPoint{
		{"com.atproto.repo.uploadBlob", 1, "response"},
		{"com.atproto.repo.putRecord", 1, "response"},
		{"com.atproto.repo.putRecord", 2, "request"},
		{"com.atproto.repo.putRecord", 6, "response"},
		{"com.atproto.repo.putRecord", 9, "request"},
		{"com.atproto.repo.putRecord", 12, "response"},
	}
	for _, at := range points {
		t.Run(at.String(), func(t *testing.T) {
			e, proxy := skyEnv(t, srv, "", "north-sea-wind-auction.md", "offshore-wind.png", "harbour-library-reopens.md", "city-budget-vote.txt")
			want := dryRunThreads(t, e, "bluesky")
			total := 0
			for _, texts := range want {
				total += len(texts)
			}
			before := recordKeys(t, srv)
			var k killable
			proxy.set(func(nsid string, n int, phase string) action {
				if nsid == at.nsid && n == at.n && phase == at.phase {
					return action{kill: &k}
				}
				return action{}
			})
			if r := e.runKillable(&k, "post"); r.code != -1 {
				t.Fatalf("not killed: %s", r)
			}
			proxy.set(nil)
			made := len(srv.ListRecords(t, postCollection)) - len(before)
			if at.nsid == "com.atproto.repo.putRecord" {
				wantMade := at.n
				if at.phase == "request" {
					wantMade--
				}
				if made != wantMade {
					t.Fatalf("%d posts when killed, want %d", made, wantMade)
				}
			}
			if r := runSky(t, e, srv, "post"); r.code != 0 {
				t.Fatal(r)
			}
			wantSkyThreads(t, srv, before, want)
			if n := len(srv.ListRecords(t, postCollection)) - len(before); n != total {
				t.Errorf("%d posts, want %d: a post was made twice or not at all", n, total)
			}
		})
	}
}

// TestBluesky_Faults: the PDS's faults a run meets — an answer lost after
// the post was written, a 503 before it was, a burst of 429s with a
// ratelimit-reset, a stall past the client's timeout (the PDS writes the
// post late, while the client sends it again) — end with every post once,
// rerunning as cron would.
func TestBluesky_Faults(t *testing.T) {
	srv := pds.Start(t)
	tests := []struct {
		name    string
		wantLog string // what the first run says it met
		hook    func(nsid string, n int, phase string) action
	}{
		{"lost answer after the post was written", "the post was there already (a repeat wrote nothing)", func(nsid string, n int, phase string) action {
			if nsid == "com.atproto.repo.putRecord" && n == 3 && phase == "response" {
				return action{drop: true}
			}
			return action{}
		}},
		{"503 without writing", "bluesky: call failed; retrying", func(nsid string, n int, phase string) action {
			if nsid == "com.atproto.repo.putRecord" && n >= 3 && n <= 4 && phase == "request" {
				return action{status: 503, body: `{"error":"InternalServerError","message":"Service Unavailable"}`}
			}
			return action{}
		}},
		{"429 burst with a ratelimit-reset", "bluesky: rate limited; waiting for the reset", func(nsid string, n int, phase string) action {
			if nsid == "com.atproto.repo.putRecord" && n >= 2 && n <= 4 && phase == "request" {
				reset := time.Now().Add(1500 * time.Millisecond).Unix()
				return action{status: 429, body: `{"error":"RateLimitExceeded","message":"Rate Limit Exceeded"}`,
					headers: map[string]string{"RateLimit-Limit": "5000", "RateLimit-Remaining": "0", "RateLimit-Reset": fmt.Sprint(reset)}}
			}
			return action{}
		}},
		{"stall past the client timeout", "context deadline exceeded", func(nsid string, n int, phase string) action {
			if nsid == "com.atproto.repo.putRecord" && n == 2 && phase == "request" {
				return action{stall: 6 * time.Second}
			}
			return action{}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, proxy := skyEnv(t, srv, "", "north-sea-wind-auction.md", "offshore-wind.png", "harbour-library-reopens.md", "city-budget-vote.txt")
			want := dryRunThreads(t, e, "bluesky")
			before := recordKeys(t, srv)
			proxy.set(tt.hook)
			for run := 0; run < 3; run++ {
				r := runSky(t, e, srv, "post")
				if run == 0 && !strings.Contains(r.stderr, tt.wantLog) {
					t.Errorf("the first run does not say %q:\n%s", tt.wantLog, r.stderr)
				}
				if r.code == 0 {
					break
				}
				t.Logf("run %d: %s", run+1, r)
			}
			proxy.set(nil)
			proxy.idle(t, 30*time.Second) // a stalled call may reach the PDS after the run
			wantSkyThreads(t, srv, before, want)
		})
	}
}

// TestBluesky_BesideMastodon: with both sections the same articles go to
// both networks. One network refusing the credentials (Mastodon, 401)
// never stops the other; the run exits 2 naming the key to fix, and once
// it is fixed the next run posts to Mastodon alone. A reply Bluesky
// refuses fails the article there alone, and "post --retry ID --network
// bluesky" continues its thread under the same head.
func TestBluesky_BesideMastodon(t *testing.T) {
	srv := pds.Start(t)
	masto := mastotest.New("the-right-token")
	defer masto.Close()
	proxy := newPDSProxy(t, srv.URL)
	e := newEnv(t, mastodonConfig(masto, "")+blueskyConfig(proxy.URL, srv.Handle, ""))
	e.vars = append(e.vars, "BLUESKY_APP_PASSWORD="+srv.AppPassword)
	want := dryRunThreads(t, e, "bluesky")
	before := recordKeys(t, srv)

	r := runSky(t, e, srv, "post")
	if r.code != 2 || !strings.Contains(r.stderr, "mastodon.access_token") || !strings.Contains(r.stdout, "bluesky: posted 4 thread(s)") {
		t.Fatalf("Mastodon refused, Bluesky fine: %s", r)
	}
	if len(masto.Statuses()) != 0 {
		t.Error("something was posted to Mastodon")
	}
	wantSkyThreads(t, srv, before, want)
	masto.Set(func(s *mastotest.Settings) { s.Token = token })
	n := len(srv.ListRecords(t, postCollection))
	if r := runSky(t, e, srv, "post"); r.code != 0 || !strings.Contains(r.stdout, "bluesky: nothing to post") {
		t.Fatal(r)
	}
	wantThreads(t, masto, sampleThreads)
	if len(srv.ListRecords(t, postCollection)) != n {
		t.Error("the second run posted to Bluesky again")
	}

	// A new article: Bluesky refuses its second post; Mastodon takes all.
	e.write("articles/refused-reply.md", "---\ntitle: A reply Bluesky refuses\nkey_points: [One point., Two points.]\n---\nText.\n")
	proxy.set(func(nsid string, n int, phase string) action {
		if nsid == "com.atproto.repo.putRecord" && n == 2 && phase == "request" {
			return action{status: 400, body: `{"error":"InvalidRequest","message":"Invalid app.bsky.feed.post record: refused by the test"}`}
		}
		return action{}
	})
	r = runSky(t, e, srv, "post")
	if r.code != 1 || !strings.Contains(r.stderr, "bluesky: refused-reply: failed:") || !strings.Contains(r.stderr, "refused by the test") || !strings.Contains(r.stdout, "mastodon: posted 1 thread(s) (refused-reply)") {
		t.Fatalf("a refused reply: %s", r)
	}
	proxy.set(nil)
	r = runSky(t, e, srv, "status")
	if !strings.Contains(r.stdout, "post --retry refused-reply --network bluesky") {
		t.Errorf("status does not say how to retry on Bluesky:\n%s", r.stdout)
	}
	for _, line := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(line, "refused-reply ") && strings.Contains(line, "mastodon") && !strings.Contains(line, "posted") {
			t.Errorf("Mastodon's line: %q", line)
		}
	}
	if r := runSky(t, e, srv, "post"); r.code != 0 || strings.Contains(r.stdout, "refused-reply") {
		t.Errorf("a failed article was retried without --retry: %s", r)
	}
	if r := runSky(t, e, srv, "post", "--retry", "refused-reply", "--network", "mastodon"); r.code != 2 || !strings.Contains(r.stderr, "failed on mastodon") {
		t.Errorf("--retry on a network where it did not fail: %s", r)
	}
	if r := runSky(t, e, srv, "post", "--retry", "refused-reply", "--network", "bluesky"); r.code != 0 || !strings.Contains(r.stdout, "bluesky: posted 1 thread(s) (refused-reply)") {
		t.Fatal(r)
	}
	want["refused-reply"] = dryRunTextsOf(t, e, "refused-reply")
	wantSkyThreads(t, srv, before, want)
	if got := len(masto.Statuses()); got != 16+3 {
		t.Errorf("%d Mastodon statuses, want 19", got)
	}
}

// dryRunTextsOf is the Bluesky thread the dry run composes for one
// article now (its plan: a posted article is no longer pending, so it is
// composed by a config that forgets the state).
func dryRunTextsOf(t *testing.T, e *env, id string) []string {
	t.Helper()
	cfg := readFile(t, e.path("config.yaml"))
	e.write("config.yaml", strings.Replace(cfg, "state: state/syndicate.db", "state: state/none.db", 1))
	defer e.write("config.yaml", cfg)
	return dryRunThreads(t, e, "bluesky")[id]
}

// TestBluesky_Daemon: "run" with a config that has a bluesky section and
// no mastodon one posts to Bluesky on each tick (here SIGUSR1), logging in
// once for all its ticks (a PDS allows 30 logins in 5 minutes), and says
// so in /metrics; "run --dry-run" logs what a tick would post there.
func TestBluesky_Daemon(t *testing.T) {
	srv := pds.Start(t)
	port := freePort(t)
	extra := fmt.Sprintf("articles_settle: 0s\nschedule: {post: %s, digest: \"\"}\nhttp: {listen: \"127.0.0.1:%d\"}\n", yearly, port)
	e, proxy := skyEnv(t, srv, extra, "shehbaz-sharif-putin-letters.txt")
	logins := 0
	var mu sync.Mutex
	proxy.set(func(nsid string, n int, phase string) action {
		if nsid == "com.atproto.server.createSession" && phase == "request" {
			mu.Lock()
			logins++
			mu.Unlock()
		}
		return action{}
	})
	loginCount := func() int { mu.Lock(); defer mu.Unlock(); return logins }

	dry, _, dryLog := e.command("run", "--dry-run")
	if err := dry.Start(); err != nil {
		t.Fatal(err)
	}
	runNow(t, dry.Process, dryLog, syscall.SIGUSR1)
	eventually(t, 15*time.Second, "the dry tick", func() bool { return strings.Contains(dryLog.String(), "dry run: this tick would post") })
	dry.Process.Signal(syscall.SIGTERM)
	dry.Wait()
	if l := dryLog.String(); !strings.Contains(l, "network=bluesky threads=1") || strings.Contains(l, "network=mastodon") {
		t.Errorf("dry daemon log:\n%s", l)
	}

	before := recordKeys(t, srv)
	daemon, _, stderr := e.command("run")
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		daemon.Process.Signal(syscall.SIGTERM)
		daemon.Wait()
		if t.Failed() {
			t.Logf("daemon log:\n%s", stderr)
		}
	}()
	runNow(t, daemon.Process, stderr, syscall.SIGUSR1)
	eventually(t, 20*time.Second, "the seed's thread", func() bool { return len(srv.ListRecords(t, postCollection)) == len(before)+3 })
	e.write("articles/breaking.md", "---\ntitle: Breaking news from the harbour\nkey_points: [A ship came in.]\n---\nText.\n")
	runNow(t, daemon.Process, stderr, syscall.SIGUSR1)
	eventually(t, 20*time.Second, "the new article's thread", func() bool { return len(srv.ListRecords(t, postCollection)) == len(before)+5 })
	got := skyThreads(t, srv, before)
	if len(got["shehbaz-sharif-putin-letters"]) != 3 || len(got["breaking"]) != 2 {
		t.Errorf("threads %v", got)
	}
	if n := loginCount(); n != 1 {
		t.Errorf("%d logins over two ticks, want 1: the client (and its session) is made once per process", n)
	}
	_, body := get(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	for _, want := range []string{`syndicate_posts_total{network="bluesky",result="made"} 5`, `syndicate_pending_articles{network="bluesky"} 0`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(body, `network="mastodon"`) {
		t.Error("/metrics has Mastodon series with no mastodon section")
	}
	if strings.Contains(stderr.String(), srv.AppPassword) {
		t.Error("the daemon logged the app password")
	}
}

// TestBluesky_AddedToAnInstallation: a bluesky section added to an
// installation whose archive is on Mastodon makes every article pending
// on Bluesky (nothing is skipped); "post --mark-posted --network bluesky"
// starts Bluesky from now instead, leaving Mastodon's threads and the
// digest as they are.
func TestBluesky_AddedToAnInstallation(t *testing.T) {
	masto := mastotest.New(token)
	defer masto.Close()
	e := newEnv(t, mastodonConfig(masto, ""))
	if r := e.run("post"); r.code != 0 {
		t.Fatal(r)
	}
	// No PDS: nothing below may reach one.
	cfg := readFile(t, e.path("config.yaml"))
	e.write("config.yaml", cfg+blueskyConfig("http://127.0.0.1:1", "newsroom.example.org", ""))
	e.vars = append(e.vars, "BLUESKY_APP_PASSWORD=app-SECRET-never-used")
	if got := dryRunThreads(t, e, "bluesky"); len(got) != 4 {
		t.Errorf("the dry run shows %d Bluesky threads, want the archive's 4", len(got))
	}
	if got := dryRunThreads(t, e, "mastodon"); len(got) != 0 {
		t.Errorf("the dry run shows %d Mastodon threads, want none", len(got))
	}
	r := e.run("post", "--mark-posted", "--network", "bluesky")
	if r.code != 0 || !strings.Contains(r.stdout, "4 article(s) recorded as posted on Bluesky without posting (0 already had a record there)") ||
		!strings.Contains(r.stdout, "the digest is left as it is") || strings.Contains(r.stdout, "Mastodon") {
		t.Fatal(r)
	}
	if got := dryRunThreads(t, e, "bluesky"); len(got) != 0 {
		t.Errorf("after --mark-posted the dry run shows %d Bluesky threads", len(got))
	}
	r = e.run("post")
	if r.code != 0 || !strings.Contains(r.stdout, "bluesky: nothing to post") || !strings.Contains(r.stdout, "mastodon: nothing to post") {
		t.Errorf("post: %s", r)
	}
	r = e.run("status", "--json")
	var doc struct {
		Articles []struct {
			ID, State string
			Networks  []struct{ Network, State string }
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatal(err)
	}
	for _, a := range doc.Articles {
		if _, due := sampleThreads[a.ID]; !due {
			continue
		}
		if a.State != "posted" || fmt.Sprint(a.Networks) != "[{mastodon posted} {bluesky adopted}]" {
			t.Errorf("status of %s: %+v", a.ID, a)
		}
	}
	if r := e.run("digest", "--dry-run", "--json"); !strings.Contains(r.stdout, `"id": "north-sea-wind-auction"`) {
		t.Errorf("the digest lost the articles adopted on Bluesky alone:\n%s", r)
	}
}

// TestBluesky_WrongAppPassword: a refused login stops the run with exit 2,
// naming the keys to check and never the password; nothing is recorded as
// posted, so with the right password everything goes out.
func TestBluesky_WrongAppPassword(t *testing.T) {
	srv := pds.Start(t)
	e, _ := skyEnv(t, srv, "", "harbour-library-reopens.md")
	const wrong = "wrong-SECRET-app-pass"
	e.vars = append(e.vars, "BLUESKY_APP_PASSWORD="+wrong)
	before := recordKeys(t, srv)
	r := runSky(t, e, srv, "post")
	if r.code != 2 || !strings.Contains(r.stderr, "bluesky.app_password") || !strings.Contains(r.stderr, "App passwords") {
		t.Fatalf("a wrong app password: %s", r)
	}
	if strings.Contains(r.stdout+r.stderr, wrong) {
		t.Error("the wrong app password was printed")
	}
	if n := len(srv.ListRecords(t, postCollection)); n != len(before) {
		t.Errorf("%d posts made with a refused login", n-len(before))
	}
	e.vars = append(e.vars, "BLUESKY_APP_PASSWORD="+srv.AppPassword)
	if r := runSky(t, e, srv, "post"); r.code != 0 || !strings.Contains(r.stdout, "bluesky: posted 1 thread(s)") {
		t.Fatal(r)
	}
}
