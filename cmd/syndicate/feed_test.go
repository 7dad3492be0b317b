package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate/mastodon/mastotest"
)

// newsSite serves an RSS feed a test adds items to, with an ETag, and a
// picture.
type newsSite struct {
	*httptest.Server
	mu    sync.Mutex
	items []string // newest first
	gets  int
}

func newNewsSite(t *testing.T) *newsSite {
	s := &newsSite{}
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/pictures/harbour.png" {
			w.Header().Set("Content-Type", "image/png")
			w.Write(png)
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.gets++
		body := `<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel><title>The Harbour Gazette</title><link>` + s.URL + `/</link><language>en</language>` + strings.Join(s.items, "") + `</channel></rss>`
		etag := fmt.Sprintf(`"%d-%d"`, len(s.items), len(body))
		w.Header().Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Type", "application/rss+xml; charset=utf-8")
		fmt.Fprint(w, body)
	}))
	t.Cleanup(s.Close)
	return s
}

// add puts an item with the given key points at the top of the feed.
func (s *newsSite) add(slug string, published time.Time, points ...string) {
	var list strings.Builder
	for _, p := range points {
		list.WriteString("<li>" + p + "</li>")
	}
	picture := ""
	if slug == "storm" {
		picture = `<media:content url="` + s.URL + `/pictures/harbour.png" medium="image"><media:description>The harbour wall in the storm</media:description></media:content>`
	}
	item := fmt.Sprintf(`<item><title>Feed story: %s</title><link>%s/news/%s</link><guid isPermaLink="false">gazette-%s</guid><pubDate>%s</pubDate>%s<content:encoded xmlns:content="http://purl.org/rss/1.0/modules/content/"><![CDATA[<h2>Key points</h2><ul>%s</ul><p>The full story of %s.</p>]]></content:encoded></item>`,
		slug, s.URL, slug, slug, published.UTC().Format(time.RFC1123Z), picture, list.String(), slug)
	s.mu.Lock()
	s.items = append([]string{item}, s.items...)
	s.mu.Unlock()
}

// feedThreads counts, per feed story, the threads whose head links to it
// and their sizes; it fails on a broken chain.
func feedThreads(t *testing.T, srv *mastotest.Server) map[string][]int {
	t.Helper()
	threads, err := srv.Threads()
	if err != nil {
		t.Fatalf("chains broken: %v", err)
	}
	out := map[string][]int{}
	for _, th := range threads {
		head := th[0].Text
		i := strings.Index(head, "/news/")
		if i < 0 {
			t.Errorf("a thread that is not a feed story's: %q", head)
			continue
		}
		slug := strings.Fields(head[i+len("/news/"):])[0]
		out[slug] = append(out[slug], len(th))
	}
	return out
}

// TestFeeds_DaemonEndToEnd: a daemon with a feed; items appear over time;
// the daemon is killed (SIGKILL) in the middle of a thread and started
// again. Every item that came after the feed was added is threaded once
// and mailed once; the items already in the feed when it was added (but
// the newest, the backfill) never go out.
func TestFeeds_DaemonEndToEnd(t *testing.T) {
	site := newNewsSite(t)
	start := time.Now().Add(-48 * time.Hour)
	site.add("archive-1", start, "An old story.")
	site.add("archive-2", start.Add(time.Hour), "Another old story.")
	site.add("newest-at-start", start.Add(2*time.Hour), "The backfilled story.", "It goes out.")

	srv := mastotest.New(token)
	defer srv.Close()
	port := freePort(t)
	extra := mastodonConfig(srv, "") + fmt.Sprintf("schedule: {post: %s, digest: %s}\nhttp: {listen: \"127.0.0.1:%d\"}\nfeeds:\n  - url: %s/feed.xml\n    name: gazette\n    backfill: 1\n",
		yearly, yearly, port, site.URL)
	e, relay := digestEnv(t, 5, extra, "harbour-library-reopens.md")
	os.Remove(e.path("articles/harbour-library-reopens.md")) // the feed only

	// A dry run before anything: it shows the backfilled item only, and
	// writes no state.
	if r := e.run("post", "--dry-run", "--json"); r.code != 0 || !strings.Contains(r.stdout, `"source": "feed:gazette"`) ||
		!strings.Contains(r.stdout, "newest-at-start") || strings.Contains(r.stdout, "archive-1") {
		t.Fatalf("dry run before the first fetch:\n%s", r)
	}
	if _, err := os.Stat(e.path("state/syndicate.db")); err == nil {
		t.Fatal("the dry run wrote a state")
	}

	var daemon *exec.Cmd
	var stderr *syncBuffer
	startDaemon := func() {
		t.Helper()
		daemon, _, stderr = e.command("--log-format", "json", "run")
		if err := daemon.Start(); err != nil {
			t.Fatal(err)
		}
	}
	stop := func() {
		daemon.Process.Signal(syscall.SIGTERM)
		daemon.Wait()
	}
	startDaemon()
	defer func() {
		stop()
		if t.Failed() {
			t.Logf("daemon log:\n%s", stderr)
		}
	}()
	runNow(t, daemon.Process, stderr, syscall.SIGUSR1)
	eventually(t, 15*time.Second, "the backfilled story's thread", func() bool { return len(srv.Statuses()) == 3 })

	// A new story with a picture; the daemon is killed as its second
	// reply is made, before it can record it.
	site.add("storm", time.Now().Add(-time.Minute), "A storm hit the harbour.", "The ferry stayed in port.", "Nobody was hurt.")
	var once sync.Once
	killed := make(chan struct{})
	srv.OnCreate(func(st mastotest.Status) {
		if strings.Contains(st.Text, "The ferry stayed in port.") {
			once.Do(func() { daemon.Process.Kill(); close(killed) })
		}
	})
	daemon.Process.Signal(syscall.SIGUSR1)
	select {
	case <-killed:
	case <-time.After(15 * time.Second):
		t.Fatal("the storm thread never reached its second reply")
	}
	daemon.Wait()
	srv.OnCreate(nil)
	if n := len(srv.Statuses()); n != 6 {
		t.Fatalf("%d statuses when killed, want 6 (3 + the storm's head and two replies)", n)
	}

	// Started again, the daemon finishes the half-posted thread by itself.
	startDaemon()
	eventually(t, 20*time.Second, "the storm thread finished after the restart", func() bool { return len(srv.Statuses()) == 7 })

	// Another story appears; then the digest.
	site.add("regatta", time.Now(), "The regatta is on Sunday.")
	runNow(t, daemon.Process, stderr, syscall.SIGUSR1)
	eventually(t, 15*time.Second, "the regatta thread", func() bool { return len(srv.Statuses()) == 9 })
	daemon.Process.Signal(syscall.SIGUSR2)
	eventually(t, 15*time.Second, "the digest", func() bool { return relay.Delivered() == 5 })

	if got, want := fmt.Sprint(feedThreads(t, srv)), "map[newest-at-start:[3] regatta:[2] storm:[4]]"; got != want {
		t.Errorf("threads %s, want %s (each once, the archive never)", got, want)
	}
	storm := srv.Statuses()[3]
	if len(storm.MediaIDs) != 1 {
		t.Errorf("the storm's head post carries %d pictures, want the feed's one", len(storm.MediaIDs))
	}
	if ups := srv.Uploads(); len(ups) == 0 || ups[len(ups)-1].Description != "The harbour wall in the storm" {
		t.Errorf("uploads %+v", ups)
	}
	if dups := wantEveryReader(t, relay, 5); dups != 0 {
		t.Errorf("%d readers mailed twice", dups)
	}
	body := string(relay.Messages()[0].Data)
	for _, want := range []string{"Feed story: newest-at-start", "Feed story: storm", "Feed story: regatta", "A storm hit the harbour."} {
		if !strings.Contains(body, want) {
			t.Errorf("the digest lacks %q", want)
		}
	}
	if strings.Contains(body, "archive-") {
		t.Error("the digest mails an item the feed held when it was added")
	}

	// status sees the items from the state, without fetching.
	stop()
	gets := site.gets
	r := e.run("status")
	if r.code != 0 || !strings.Contains(r.stdout, "gazette-") {
		t.Errorf("status:\n%s", r)
	}
	if site.gets != gets {
		t.Error("status fetched the feed")
	}
	startDaemon() // for the deferred stop
}

// TestFeeds_CheckAndBadFeeds: check reports what is wrong with each feed;
// a bad feed is a problem of its own, the folder goes on.
func TestFeeds_CheckAndBadFeeds(t *testing.T) {
	good := newNewsSite(t)
	good.add("one", time.Now().Add(-time.Hour), "A point.")
	htmlPage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, `<!DOCTYPE html><html><head><title>Not a feed</title></head><body>Hello</body></html>`)
	}))
	defer htmlPage.Close()
	missing := httptest.NewServer(http.NotFoundHandler())
	defer missing.Close()
	srv := mastotest.New(token)
	defer srv.Close()
	extra := mastodonConfig(srv, "") + fmt.Sprintf("feeds:\n  - {url: %s/feed.xml, name: good, backfill: 5}\n  - {url: %s/, name: page}\n  - {url: %s/feed, name: gone}\n",
		good.URL, htmlPage.URL, missing.URL)
	e := newEnv(t, extra, "harbour-library-reopens.md")

	r := e.run("check")
	if r.code != 1 {
		t.Errorf("check with bad feeds: %s", r)
	}
	for _, want := range []string{"feed page: not a feed: the server sent an HTML page", "feed gone: HTTP 404", "2 article(s) read (1 from 3 feed(s))"} {
		if !strings.Contains(r.stdout+r.stderr, want) {
			t.Errorf("check does not say %q:\n%s", want, r)
		}
	}
	r = e.run("post")
	if r.code != 1 || len(srv.Statuses()) == 0 {
		t.Fatalf("post with bad feeds: %s", r)
	}
	if got, want := len(srv.Statuses()), 4+2; got != want { // the folder's article and the good feed's item
		t.Errorf("%d statuses, want %d", got, want)
	}
	// An item edited after it was posted (same GUID, other text) and the
	// same item again in a reordered feed are never posted again.
	good.mu.Lock()
	good.items = nil
	good.mu.Unlock()
	good.add("two", time.Now().Add(-2*time.Hour), "A new story.")
	good.add("one", time.Now().Add(-time.Hour), "A point, corrected.")
	if r = e.run("post"); len(srv.Statuses()) != 6+2 {
		t.Errorf("after an edit and a new item: %d statuses, want 8 (only the new item's thread)\n%s", len(srv.Statuses()), r)
	}
	// --offline fetches nothing: the good feed's item is in the state.
	before := good.gets
	r = e.run("post", "--dry-run", "--offline")
	if good.gets != before {
		t.Error("--offline fetched a feed")
	}
	if !strings.Contains(r.stdout, "nothing to post") || !strings.Contains(r.stderr, "feed gone: no fetch has worked yet; the last one said: HTTP 404") {
		t.Errorf("offline dry run after everything was posted:\n%s", r)
	}
	if b, err := os.ReadFile(filepath.Join(e.dir, "config.yaml")); err != nil || !strings.Contains(string(b), "feeds:") {
		t.Fatal("config lost")
	}
}
