package source

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/feed"
	"github.com/syndicate-bot/syndicate/syndicate/files"
	"github.com/syndicate-bot/syndicate/syndicate/text"
)

// Mode is how the feeds are read.
type Mode int

const (
	// Live fetches the feeds and records what they gave (post, digest,
	// the daemon).
	Live Mode = iota
	// Dry fetches the feeds and records nothing: a dry run.
	Dry
	// Offline fetches nothing: what the state last saw (status, and a
	// dry run given --offline).
	Offline
)

// FeedState is the part of the state the feeds use (store.Store has it).
type FeedState interface {
	FeedStates(ctx context.Context) (map[string]syndicate.FeedState, error)
	FeedItems(ctx context.Context) ([]*syndicate.Article, error)
	RecordFetch(ctx context.Context, name string, st syndicate.FeedState, items, adopt []*syndicate.Article) error
}

// FeedConfig is one configured feed.
type FeedConfig struct {
	feed.Config
	// Backfill is how many of the items in the feed at its first fetch
	// go out (the newest); the rest are adopted.
	Backfill int
	// Every is how often the daemon fetches it (0: each time it is
	// asked); see Feeds.RespectEvery.
	Every time.Duration
}

// Feeds is the configured feeds, as one source.
type Feeds struct {
	List    []FeedConfig
	Fetcher *feed.Fetcher
	// State keeps what the feeds gave; nil when there is none yet (a dry
	// run before the first live one): every fetch is then a first fetch.
	State FeedState
	Mode  Mode
	// RespectEvery makes a feed fetched more recently than its Every use
	// what the state has (the daemon); commands run by hand always fetch.
	RespectEvery bool
	Extract      func(paragraphs []string, lang string) []string
	Now          func() time.Time
	Log          *slog.Logger

	// mu makes one load at a time: the daemon's post and digest jobs
	// share the feeds, and two first fetches racing could adopt an item
	// that only one of them saw.
	mu   sync.Mutex
	memo map[[32]byte][]string // key points extracted, by the text they came from
}

// Name is "feeds".
func (*Feeds) Name() string { return "feeds" }

// Load fetches each feed (as the mode says) and returns the items of
// every configured feed the state holds or the fetch gave.
func (f *Feeds) Load(ctx context.Context) (Set, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.List) == 0 {
		return Set{}, nil
	}
	now := time.Now
	if f.Now != nil {
		now = f.Now
	}
	log := f.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	states := map[string]syndicate.FeedState{}
	var stored []*syndicate.Article
	if f.State != nil {
		var err error
		if states, err = f.State.FeedStates(ctx); err != nil {
			return Set{}, err
		}
		if stored, err = f.State.FeedItems(ctx); err != nil {
			return Set{}, err
		}
	}
	bySource := map[string][]*syndicate.Article{}
	for _, a := range stored {
		bySource[a.Source] = append(bySource[a.Source], a)
	}
	extract, used := f.memoized()
	var out Set
	for _, fc := range f.List {
		name, err := fc.FeedName()
		if err != nil {
			out.Problems = append(out.Problems, err)
			continue
		}
		r := f.one(ctx, fc, name, states[name], bySource["feed:"+name], now(), extract, log)
		out.Articles = append(out.Articles, r.Articles...)
		out.Problems = append(out.Problems, r.Problems...)
		out.Notes = append(out.Notes, r.Notes...)
		if errors.Is(r.err, context.Canceled) || ctx.Err() != nil {
			return out, ctx.Err()
		}
		if r.err != nil {
			return out, r.err // the state could not be written
		}
	}
	f.memo = used
	return out, nil
}

type feedResult struct {
	Set
	err error
}

// one reads one feed: the state's items, and what a fetch adds.
func (f *Feeds) one(ctx context.Context, fc FeedConfig, name string, st syndicate.FeedState, known []*syndicate.Article, now time.Time,
	extract func([]string, string) []string, log *slog.Logger) feedResult {
	var r feedResult
	where := "feed " + name
	problem := func(format string, args ...any) {
		r.Problems = append(r.Problems, fmt.Errorf("%s: %s", where, fmt.Sprintf(format, args...)))
	}
	r.Articles = known
	switch {
	case f.Mode == Offline:
		switch {
		case st.FetchedAt.IsZero() && st.Problem != "":
			problem("no fetch has worked yet; the last one said: %s", st.Problem)
		case st.FetchedAt.IsZero():
			problem("never fetched yet: run without --offline, or wait for the daemon")
		}
		return r
	case now.Before(st.RetryAt):
		problem("the server asked to be left alone until %s; what it gave before stands", st.RetryAt.UTC().Format(time.RFC3339))
		return r
	case f.RespectEvery && fc.Every > 0 && !st.FetchedAt.IsZero() && now.Sub(st.FetchedAt) < fc.Every:
		return r
	}

	next := st
	next.URL = fc.URL
	cache := feed.Cache{ETag: st.ETag, LastModified: st.LastModified}
	if st.URL != fc.URL {
		cache = feed.Cache{} // another address: the old one's validators mean nothing there
	}
	resp, err := f.Fetcher.Fetch(ctx, fc.URL, cache)
	var parsed *feed.Feed
	kept := make(map[string]*syndicate.Article, len(known))
	for _, a := range known {
		kept[a.ID] = a
	}
	if err == nil && !resp.NotModified {
		firstSeen := func(id string) time.Time {
			if a, ok := kept[id]; ok {
				return a.ModTime
			}
			return now
		}
		parsed, err = feed.Parse(fc.Config, resp.Body, feed.ParseOptions{FirstSeen: firstSeen, Extract: extract})
	}
	if err != nil {
		if ctx.Err() != nil {
			r.err = ctx.Err()
			return r
		}
		problem("%s", text.OneLine(err.Error()))
		next.Problem = text.Shorten(text.OneLine(err.Error()), 500)
		if resp.RetryAfter > 0 {
			next.RetryAt = now.Add(min(resp.RetryAfter, 24*time.Hour))
		}
		if f.Mode == Live && f.State != nil {
			r.err = f.State.RecordFetch(ctx, name, next, nil, nil)
		}
		return r
	}
	next.ETag, next.LastModified = resp.Cache.ETag, resp.Cache.LastModified
	next.FetchedAt, next.RetryAt, next.Problem = now, time.Time{}, ""
	if parsed == nil { // 304: nothing new
		if f.Mode == Live && f.State != nil {
			r.err = f.State.RecordFetch(ctx, name, next, nil, nil)
		}
		return r
	}
	r.Problems = append(r.Problems, parsed.Problems...)

	var adopt []*syndicate.Article
	if st.FetchedAt.IsZero() {
		adopt = adoption(parsed.Items, fc.Backfill)
		next.AdoptedAt = now
		r.Notes = append(r.Notes, fmt.Sprintf("%s: first fetch: %d item(s) recorded as done, %d to go out (backfill %d)", where, len(adopt), len(parsed.Items)-len(adopt), fc.Backfill))
	} else if fresh := newItems(parsed.Items, kept); len(fresh) > MaxNewPerFetch {
		// A flood is a feed that changed under us (a new CMS, new GUIDs
		// and links), not news: the newest go out, the rest are done.
		adopt = adoption(fresh, MaxNewPerFetch)
		problem("%d new items at once (more than %d: did the feed's GUIDs and links change?): the newest %d go out, the other %d are recorded as done",
			len(fresh), MaxNewPerFetch, MaxNewPerFetch, len(adopt))
	}
	adopted := make(map[string]bool, len(adopt))
	for _, a := range adopt {
		adopted[a.ID] = true
	}
	f.measure(ctx, parsed.Items, kept, adopted, log)
	if f.Mode == Live && f.State != nil {
		if r.err = f.State.RecordFetch(ctx, name, next, parsed.Items, adopt); r.err != nil {
			return r
		}
	}
	r.Articles = merge(known, parsed.Items)
	if f.Mode != Live && len(adopt) > 0 {
		// A dry run records nothing: the items a live run would adopt
		// are left out, as a live run would leave them.
		r.Articles = slices.DeleteFunc(r.Articles, func(a *syndicate.Article) bool { return adopted[a.ID] })
	}
	return r
}

// MaxNewPerFetch is the most new items one fetch of a known feed sends
// out; the older ones beyond it are adopted, and the fetch says so.
const MaxNewPerFetch = 50

// newItems is the items not kept yet.
func newItems(items []*syndicate.Article, kept map[string]*syndicate.Article) []*syndicate.Article {
	var out []*syndicate.Article
	for _, a := range items {
		if _, seen := kept[a.ID]; !seen {
			out = append(out, a)
		}
	}
	return out
}

// MaxMeasured bounds the pictures one fetch of a feed downloads to learn
// their size (for the digest's width and height).
const MaxMeasured = 20

// measureTime bounds the time one fetch spends measuring pictures: the
// feeds are read under one lock, and 20 pictures on a server that sends
// a byte a second would hold the post and digest jobs for 20 times the
// fetcher's timeout. What is not measured in time is shown at an
// unknown size, as a picture that cannot be fetched is.
var measureTime = 30 * time.Second

// measure gives the pictures of a fetch's items their width and height
// (the digest shows them at their size): an item already kept keeps what
// was measured when it was new; a new one that goes out has its picture
// fetched, at most MaxMeasured per fetch; an adopted one is never fetched.
// A picture that cannot be fetched or read is shown at an unknown size.
func (f *Feeds) measure(ctx context.Context, items []*syndicate.Article, kept map[string]*syndicate.Article, adopted map[string]bool, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, measureTime)
	defer cancel()
	fetched := 0
	for _, a := range items {
		img := a.Image
		if img == nil || img.URL == "" {
			continue
		}
		if old, seen := kept[a.ID]; seen {
			if k := old.Image; k != nil && k.URL == img.URL {
				img.Width, img.Height = k.Width, k.Height
			}
			continue // measured when it was new, or never to be
		}
		if adopted[a.ID] || fetched >= MaxMeasured || ctx.Err() != nil {
			continue
		}
		fetched++
		pic, err := f.Fetcher.FetchImage(ctx, img.URL)
		if err == nil {
			img.Width, img.Height, err = files.ImageSize(pic.Data)
		}
		if err != nil {
			log.Warn("a feed item's picture: its size is unknown", "article", a.ID, "err", text.OneLine(err.Error()))
		}
	}
}

// adoption is the items of a first fetch that are recorded as done: all
// but the newest backfill.
func adoption(items []*syndicate.Article, backfill int) []*syndicate.Article {
	sorted := append([]*syndicate.Article(nil), items...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].When().After(sorted[j].When()) })
	if backfill >= len(sorted) {
		return nil
	}
	return sorted[backfill:]
}

// merge is the state's items with a fetch's: a fetched item replaces the
// kept one of its ID, kept ones the feed has moved past stay.
func merge(known, fetched []*syndicate.Article) []*syndicate.Article {
	byID := map[string]int{}
	out := append([]*syndicate.Article(nil), known...)
	for i, a := range out {
		byID[a.ID] = i
	}
	for _, a := range fetched {
		if i, ok := byID[a.ID]; ok {
			out[i] = a
			continue
		}
		byID[a.ID] = len(out)
		out = append(out, a)
	}
	return out
}

// memoized wraps the extractor so an item's key points are chosen once,
// not at every fetch that brings the item again: the result is kept by
// the text it came from for as long as the feeds still carry that text.
func (f *Feeds) memoized() (func([]string, string) []string, map[[32]byte][]string) {
	used := map[[32]byte][]string{}
	if f.Extract == nil {
		return nil, used
	}
	return func(paragraphs []string, lang string) []string {
		h := sha256.New()
		h.Write([]byte(lang))
		for _, p := range paragraphs {
			h.Write([]byte{0})
			h.Write([]byte(p))
		}
		var key [32]byte
		h.Sum(key[:0])
		points, ok := used[key]
		if !ok {
			if points, ok = f.memo[key]; !ok {
				points = f.Extract(paragraphs, lang)
			}
			used[key] = points
		}
		return slices.Clone(points)
	}, used
}
