package source_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/article"
	"github.com/syndicate-bot/syndicate/syndicate/feed"
	"github.com/syndicate-bot/syndicate/syndicate/source"
	"github.com/syndicate-bot/syndicate/syndicate/store"
)

var epoch = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)

// site serves an RSS feed whose items a test changes, with an ETag, and
// counts what it was asked.
type site struct {
	*httptest.Server
	mu          sync.Mutex
	items       []string // <item> elements, newest first
	status      int      // answer this instead of the feed (0: the feed)
	retryAfter  string
	gets, conds int
}

func newSite(t *testing.T) *site {
	s := &site{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.gets++
		if s.status != 0 {
			if s.retryAfter != "" {
				w.Header().Set("Retry-After", s.retryAfter)
			}
			w.WriteHeader(s.status)
			return
		}
		body := `<?xml version="1.0"?><rss version="2.0"><channel><title>Harbour</title><link>https://harbour.example/</link>` + strings.Join(s.items, "") + `</channel></rss>`
		etag := fmt.Sprintf(`"%x"`, len(body)*31+len(s.items))
		w.Header().Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			s.conds++
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Type", "application/rss+xml")
		fmt.Fprint(w, body)
	}))
	t.Cleanup(s.Close)
	return s
}

func item(guid string, published time.Time, text string) string {
	return fmt.Sprintf(`<item><title>Story %s</title><link>https://harbour.example/%s</link><guid>%s</guid><pubDate>%s</pubDate><description>%s</description></item>`,
		guid, guid, guid, published.Format(time.RFC1123Z), text)
}

func (s *site) set(items ...string) { s.mu.Lock(); s.items = items; s.mu.Unlock() }
func (s *site) counts() (int, int)  { s.mu.Lock(); defer s.mu.Unlock(); return s.gets, s.conds }

func openState(t *testing.T) *store.DB {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "state.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func ids(list []*syndicate.Article) string {
	var out []string
	for _, a := range list {
		out = append(out, a.Title)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

func newFeeds(st source.FeedState, mode source.Mode, list ...source.FeedConfig) *source.Feeds {
	return &source.Feeds{List: list, Fetcher: &feed.Fetcher{}, State: st, Mode: mode, Now: func() time.Time { return epoch }}
}

func load(t *testing.T, f *source.Feeds) source.Set {
	t.Helper()
	set, err := f.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// The first fetch of a feed adopts all but the newest backfill items;
// the items that appear later go out.
func TestFeeds_FirstFetchAdoptsAllButBackfill(t *testing.T) {
	s := newSite(t)
	s.set(item("e", epoch.Add(-1*time.Hour), "E."), item("d", epoch.Add(-2*time.Hour), "D."), item("c", epoch.Add(-3*time.Hour), "C."),
		item("b", epoch.Add(-4*time.Hour), "B."), item("a", epoch.Add(-5*time.Hour), "A."))
	cfg := source.FeedConfig{Config: feed.Config{URL: s.URL, Name: "harbour"}, Backfill: 2}
	st := openState(t)
	ctx := context.Background()

	// A dry run first: it shows what a live run would post, records nothing.
	dry := load(t, newFeeds(st, source.Dry, cfg))
	if got, want := ids(dry.Articles), "Story d, Story e"; got != want {
		t.Errorf("dry run sees %s, want %s (the others would be adopted)", got, want)
	}
	if states, _ := st.FeedStates(ctx); len(states) != 0 {
		t.Errorf("a dry run recorded %v", states)
	}

	live := load(t, newFeeds(st, source.Live, cfg))
	if got, want := ids(live.Articles), "Story a, Story b, Story c, Story d, Story e"; got != want {
		t.Errorf("live run sees %s, want %s", got, want)
	}
	if len(live.Notes) != 1 || !strings.Contains(live.Notes[0], "3 item(s) recorded as done, 2 to go out") {
		t.Errorf("notes %q", live.Notes)
	}
	records, _ := st.ArticleRecords(ctx, syndicate.NetworkMastodon)
	done, _ := st.DigestedArticles(ctx)
	for _, a := range live.Articles {
		adopted := records[a.ID].State == syndicate.StateAdopted
		if want := a.Title < "Story d"; adopted != want || done[a.ID] != want {
			t.Errorf("%s: adopted %v, digested %v; want %v", a.Title, adopted, done[a.ID], want)
		}
		if a.Source != "feed:harbour" || !strings.HasPrefix(a.ID, "harbour-") {
			t.Errorf("%s: source %q, ID %q", a.Title, a.Source, a.ID)
		}
	}

	// Later: a new item is not adopted; an item the feed drops stays.
	s.set(item("f", epoch, "F."), item("e", epoch.Add(-1*time.Hour), "E."))
	later := load(t, newFeeds(st, source.Live, cfg))
	if got, want := ids(later.Articles), "Story a, Story b, Story c, Story d, Story e, Story f"; got != want {
		t.Errorf("after the feed moved on: %s, want %s", got, want)
	}
	records, _ = st.ArticleRecords(ctx, syndicate.NetworkMastodon)
	for _, a := range later.Articles {
		if a.Title == "Story f" {
			if _, known := records[a.ID]; known {
				t.Error("an item that appeared later was adopted")
			}
		}
	}
	if len(later.Notes) != 0 {
		t.Errorf("a later fetch adopted again: %q", later.Notes)
	}
}

// An unchanged feed is a 304 that costs nothing; the state's items stand.
func TestFeeds_ConditionalGet(t *testing.T) {
	s := newSite(t)
	s.set(item("a", epoch.Add(-time.Hour), "A."))
	cfg := source.FeedConfig{Config: feed.Config{URL: s.URL, Name: "harbour"}, Backfill: 1}
	st := openState(t)
	load(t, newFeeds(st, source.Live, cfg))
	set := load(t, newFeeds(st, source.Live, cfg))
	if gets, conds := s.counts(); gets != 2 || conds != 1 {
		t.Errorf("%d GETs, %d answered 304; want 2 and 1", gets, conds)
	}
	if got := ids(set.Articles); got != "Story a" {
		t.Errorf("after a 304: %s", got)
	}
}

// A feed that fails is a problem of that feed; its items already seen
// stand, the other feeds go on, and a Retry-After is kept to.
func TestFeeds_BadFeedOthersGoOn(t *testing.T) {
	good, bad := newSite(t), newSite(t)
	good.set(item("g", epoch.Add(-time.Hour), "G."))
	bad.set(item("x", epoch.Add(-time.Hour), "X."))
	cfgs := []source.FeedConfig{
		{Config: feed.Config{URL: bad.URL, Name: "bad"}, Backfill: 5},
		{Config: feed.Config{URL: good.URL, Name: "good"}, Backfill: 5},
	}
	st := openState(t)
	load(t, newFeeds(st, source.Live, cfgs...))

	bad.mu.Lock()
	bad.status, bad.retryAfter = http.StatusServiceUnavailable, "600"
	bad.mu.Unlock()
	good.set(item("h", epoch, "H."), item("g", epoch.Add(-time.Hour), "G."))
	set := load(t, newFeeds(st, source.Live, cfgs...))
	if got, want := ids(set.Articles), "Story g, Story h, Story x"; got != want {
		t.Errorf("articles %s, want %s", got, want)
	}
	if len(set.Problems) != 1 || !strings.Contains(set.Problems[0].Error(), "feed bad: HTTP 503") {
		t.Fatalf("problems %v", set.Problems)
	}
	states, _ := st.FeedStates(context.Background())
	if got := states["bad"]; !got.RetryAt.Equal(epoch.Add(10*time.Minute)) || !strings.Contains(got.Problem, "503") {
		t.Errorf("the bad feed's state %+v", got)
	}
	gets, _ := bad.counts()
	set = load(t, newFeeds(st, source.Live, cfgs...))
	if now, _ := bad.counts(); now != gets {
		t.Error("the feed was fetched before its Retry-After")
	}
	if len(set.Problems) != 1 || !strings.Contains(set.Problems[0].Error(), "left alone until") {
		t.Errorf("problems while waiting: %v", set.Problems)
	}
}

// Offline uses what the state saw; RespectEvery leaves a feed fetched
// recently alone.
func TestFeeds_OfflineAndEvery(t *testing.T) {
	s := newSite(t)
	s.set(item("a", epoch.Add(-time.Hour), "A."))
	cfg := source.FeedConfig{Config: feed.Config{URL: s.URL, Name: "harbour"}, Backfill: 1, Every: time.Hour}
	st := openState(t)

	offline := load(t, newFeeds(st, source.Offline, cfg))
	if len(offline.Articles) != 0 || len(offline.Problems) != 1 || !strings.Contains(offline.Problems[0].Error(), "never fetched") {
		t.Errorf("offline before any fetch: %v, %v", offline.Articles, offline.Problems)
	}
	load(t, newFeeds(st, source.Live, cfg))
	s.set(item("b", epoch, "B."), item("a", epoch.Add(-time.Hour), "A."))
	gets, _ := s.counts()
	if set := load(t, newFeeds(st, source.Offline, cfg)); ids(set.Articles) != "Story a" || len(set.Problems) != 0 {
		t.Errorf("offline: %s, %v", ids(set.Articles), set.Problems)
	}
	daemon := newFeeds(st, source.Live, cfg)
	daemon.RespectEvery = true
	load(t, daemon)
	if now, _ := s.counts(); now != gets {
		t.Error("offline or a feed within its every was fetched")
	}
	daemon.Now = func() time.Time { return epoch.Add(2 * time.Hour) }
	if set := load(t, daemon); ids(set.Articles) != "Story a, Story b" {
		t.Errorf("after every: %s", ids(set.Articles))
	}
}

// Key points are extracted once per item text, not at every fetch.
func TestFeeds_ExtractsOncePerText(t *testing.T) {
	s := newSite(t)
	s.set(item("a", epoch.Add(-time.Hour), "First sentence here. Second sentence there."))
	var calls int
	f := newFeeds(openState(t), source.Live, source.FeedConfig{Config: feed.Config{URL: s.URL, Name: "harbour"}, Backfill: 1})
	f.Extract = func(p []string, lang string) []string { calls++; return []string{"Extracted."} }
	for i := range 3 {
		s.set(item("a", epoch.Add(-time.Hour), "First sentence here. Second sentence there."), item(fmt.Sprint("n", i), epoch, "Other text."))
		set := load(t, f)
		for _, a := range set.Articles {
			if len(a.KeyPoints) != 1 || a.KeyPoints[0] != "Extracted." || !a.KeyPointsExtracted {
				t.Errorf("%s: key points %q", a.Title, a.KeyPoints)
			}
		}
	}
	if calls != 2 { // the two texts
		t.Errorf("the extractor ran %d times, want 2", calls)
	}
}

// A new item's picture is measured once (the digest shows it at its
// size); an adopted item's is never fetched.
func TestFeeds_MeasuresNewPictures(t *testing.T) {
	var pictures int
	var buf bytes.Buffer
	png.Encode(&buf, image.NewRGBA(image.Rect(0, 0, 120, 80)))
	s := newSite(t)
	pics := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		pictures++
		s.mu.Unlock()
		w.Write(buf.Bytes())
	}))
	defer pics.Close()
	withPicture := func(guid string, at time.Time) string {
		return strings.Replace(item(guid, at, "Text."), "</item>", `<enclosure url="`+pics.URL+`/`+guid+`.png" type="image/png" length="1"/></item>`, 1)
	}
	s.set(withPicture("old", epoch.Add(-time.Hour)))
	st := openState(t)
	f := newFeeds(st, source.Live, source.FeedConfig{Config: feed.Config{URL: s.URL, Name: "harbour"}})
	f.Fetcher = &feed.Fetcher{AllowPrivateImages: true}
	load(t, f) // adopts "old"
	s.set(withPicture("new", epoch), withPicture("old", epoch.Add(-time.Hour)))
	for range 2 {
		set := load(t, f)
		found := false
		for _, a := range set.Articles {
			if a.Title == "Story new" {
				found = true
				if a.Image == nil || a.Image.Width != 120 || a.Image.Height != 80 {
					t.Errorf("the new item's picture: %+v", a.Image)
				}
			}
		}
		if !found {
			t.Errorf("no new item among %s", ids(set.Articles))
		}
		s.set(withPicture("new", epoch), withPicture("old", epoch.Add(-time.Hour)), item("third", epoch, "Three."))
	}
	if pictures != 1 {
		t.Errorf("%d pictures fetched, want 1 (the new item's, once)", pictures)
	}
}

// A known feed whose every item is new at once (its GUIDs and links
// changed) does not flood: the newest MaxNewPerFetch go out.
func TestFeeds_NoFloodFromAChangedFeed(t *testing.T) {
	s := newSite(t)
	s.set(item("a", epoch.Add(-time.Hour), "A."))
	st := openState(t)
	cfg := source.FeedConfig{Config: feed.Config{URL: s.URL, Name: "harbour"}}
	load(t, newFeeds(st, source.Live, cfg))
	var items []string
	for i := range source.MaxNewPerFetch + 10 {
		items = append(items, item(fmt.Sprintf("moved-%03d", i), epoch.Add(-time.Duration(i)*time.Minute), "Moved."))
	}
	s.set(items...)
	set := load(t, newFeeds(st, source.Live, cfg))
	if len(set.Problems) != 1 || !strings.Contains(set.Problems[0].Error(), fmt.Sprintf("%d new items at once", source.MaxNewPerFetch+10)) {
		t.Errorf("problems %v", set.Problems)
	}
	records, _ := st.ArticleRecords(context.Background(), syndicate.NetworkMastodon)
	adopted := 0
	for _, r := range records {
		if r.State == syndicate.StateAdopted {
			adopted++
		}
	}
	if adopted != 1+10 { // "a" at the first fetch, and the 10 oldest moved ones
		t.Errorf("%d adopted, want 11", adopted)
	}
}

type fixed struct {
	name string
	set  source.Set
}

func (f fixed) Name() string                             { return f.name }
func (f fixed) Load(context.Context) (source.Set, error) { return f.set, nil }

func art(id, src, link string) *syndicate.Article {
	return &syndicate.Article{ID: id, Source: src, Path: src + "/" + id, URL: link, Title: id}
}

func TestGather_OneArticlePerLink(t *testing.T) {
	folder := fixed{"folder", source.Set{Articles: []*syndicate.Article{art("story", "folder", "https://harbour.example/story")}}}
	feeds := fixed{"feeds", source.Set{Articles: []*syndicate.Article{
		art("a-1", "feed:a", "http://Harbour.example/story/#top"), // the same page
		art("b-1", "feed:b", "https://harbour.example/other"),
		art("a-2", "feed:a", "https://harbour.example/other/"),
		art("story", "feed:c", "https://elsewhere.example/"), // the folder's ID
	}, Problems: []error{fmt.Errorf("feed:b: a problem")}}}
	set, err := source.Gather(context.Background(), []source.Source{folder, feeds}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(set.Articles), "b-1, story"; got != want {
		t.Errorf("kept %s, want %s", got, want)
	}
	if len(set.Notes) != 2 || len(set.Problems) != 2 || !strings.Contains(set.Problems[1].Error(), `article ID "story" is also folder/story's`) {
		t.Errorf("notes %q, problems %v", set.Notes, set.Problems)
	}
	// The one the state knows wins, whatever the order.
	set, _ = source.Gather(context.Background(), []source.Source{folder, feeds}, func(id string) bool { return id == "a-1" || id == "a-2" })
	if got, want := ids(set.Articles), "a-1, a-2"; got != want {
		t.Errorf("with a-1 and a-2 known, kept %s, want %s", got, want)
	}
}

func TestSameLink(t *testing.T) {
	tests := []struct{ a, b string }{
		{"https://x.example/a", "HTTPS://X.EXAMPLE/a/"},
		{"https://x.example/a#frag", "http://x.example:80/a"},
		{"https://x.example:443/a?q=1", "https://x.example/a?q=1"},
	}
	for _, tt := range tests {
		if got, want := source.SameLink(tt.a), source.SameLink(tt.b); got != want || got == "" {
			t.Errorf("SameLink(%q) = %q, SameLink(%q) = %q: want the same", tt.a, got, tt.b, want)
		}
	}
	for _, differ := range [][2]string{{"https://x.example/a", "https://x.example/A"}, {"https://x.example/a?q=1", "https://x.example/a?q=2"}} {
		if source.SameLink(differ[0]) == source.SameLink(differ[1]) {
			t.Errorf("%q and %q are taken for one link", differ[0], differ[1])
		}
	}
	if source.SameLink("not a link") != "" || source.SameLink("") != "" {
		t.Error("a non-link has a form")
	}
}

func TestFolder(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.md"), []byte("---\ntitle: A\n---\nText.\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "broken.md"), []byte("---\ntitle: [\n---\n"), 0o644)
	set, err := (&source.Folder{Dir: dir, Options: article.Options{}}).Load(context.Background())
	if err != nil || len(set.Articles) != 1 || len(set.Problems) != 1 {
		t.Errorf("folder: %v, %v, %v", set.Articles, set.Problems, err)
	}
}

// Pictures on a server that answers slowly cost the fetch at most the
// measuring budget, not the fetcher's timeout for each of them: the feeds
// are read under one lock the post and digest jobs share.
func TestFeeds_SlowPicturesAreBounded(t *testing.T) {
	defer source.SetMeasureTime(time.Second)()
	release := make(chan struct{})
	pics := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // a tarpit: never a byte until the test ends
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer pics.Close()
	defer close(release)
	withPicture := func(guid string, at time.Time) string {
		return strings.Replace(item(guid, at, "Text."), "</item>", `<enclosure url="`+pics.URL+`/`+guid+`.png" type="image/png" length="1"/></item>`, 1)
	}
	s := newSite(t)
	s.set(item("old", epoch.Add(-time.Hour), "Old."))
	st := openState(t)
	f := newFeeds(st, source.Live, source.FeedConfig{Config: feed.Config{URL: s.URL, Name: "harbour"}})
	f.Fetcher = &feed.Fetcher{AllowPrivateImages: true, Timeout: 3 * time.Second, HeaderTimeout: 3 * time.Second}
	load(t, f) // adopts "old"
	s.set(withPicture("a", epoch), withPicture("b", epoch), withPicture("c", epoch), withPicture("d", epoch))
	start := time.Now()
	set := load(t, f)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the fetch took %s with four slow pictures (3s each), want about the 1s budget", d)
	}
	if got := len(set.Articles); got != 5 {
		t.Errorf("%d articles, want 5: %s", got, ids(set.Articles))
	}
}
