package job

import (
	"testing"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate"
)

func TestClassify(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	art := func(mod func(*syndicate.Article)) *syndicate.Article {
		a := &syndicate.Article{ID: "a", Hash: "h1", ModTime: now.Add(-time.Hour)}
		if mod != nil {
			mod(a)
		}
		return a
	}
	rec := func(state, failedHash string) syndicate.ArticleRecord {
		return syndicate.ArticleRecord{ID: "a", State: state, Hash: "h1", FailedHash: failedHash}
	}
	changed := func(mod func(*syndicate.Article)) *syndicate.Article {
		return art(func(a *syndicate.Article) {
			a.Hash = "h2"
			if mod != nil {
				mod(a)
			}
		})
	}
	retracted := func(a *syndicate.Article) { a.Retracted = true }
	made := func(state string) syndicate.ArticleRecord { r := rec(state, "h1"); r.PostsDone = 1; return r }
	tests := []struct {
		name   string
		a      *syndicate.Article
		r      syndicate.ArticleRecord
		known  bool
		settle time.Duration
		want   State
	}{
		{"new", art(nil), syndicate.ArticleRecord{}, false, 0, Pending},
		{"draft", art(func(a *syndicate.Article) { a.Draft = true }), syndicate.ArticleRecord{}, false, 0, Draft},
		{"embargoed", art(func(a *syndicate.Article) { a.Date = now.Add(time.Hour) }), syndicate.ArticleRecord{}, false, 0, Waiting},
		{"dated in the past", art(func(a *syndicate.Article) { a.Date = now.Add(-time.Hour) }), syndicate.ArticleRecord{}, false, 0, Pending},
		{"half posted", art(nil), rec(syndicate.StatePosting, ""), true, 0, Posting},
		{"half posted, then a draft", art(func(a *syndicate.Article) { a.Draft = true }), rec(syndicate.StatePosting, ""), true, 0, Stopped},
		{"half posted, just edited: the plan stands", art(func(a *syndicate.Article) { a.ModTime = now }), rec(syndicate.StatePosting, ""), true, time.Minute, Posting},
		{"posted", art(nil), rec(syndicate.StatePosted, ""), true, 0, Posted},
		{"posted, now a draft", art(func(a *syndicate.Article) { a.Draft = true }), rec(syndicate.StatePosted, ""), true, 0, Posted},
		{"adopted", art(nil), rec(syndicate.StateAdopted, ""), true, 0, Adopted},
		{"failed, unchanged", art(nil), rec(syndicate.StateFailed, "h1"), true, 0, Failed},
		{"failed, edited since", art(nil), rec(syndicate.StateFailed, "h0"), true, 0, Pending},
		{"failed half made, retried (unchanged)", art(nil), made(syndicate.StateFailed), true, 0, Failed},
		{"changed 5 s ago, by hand", art(func(a *syndicate.Article) { a.ModTime = now.Add(-5 * time.Second) }), syndicate.ArticleRecord{}, false, 0, Pending},
		{"changed 5 s ago, daemon", art(func(a *syndicate.Article) { a.ModTime = now.Add(-5 * time.Second) }), syndicate.ArticleRecord{}, false, 10 * time.Second, Settling},
		{"changed \"in a year\" (a wrong clock), daemon", art(func(a *syndicate.Article) { a.ModTime = now.Add(365 * 24 * time.Hour) }), syndicate.ArticleRecord{}, false, 10 * time.Second, Pending},
		{"posted, changed since", changed(nil), rec(syndicate.StatePosted, ""), true, 0, Changed},
		{"posted, changed 5 s ago, daemon: it settles", changed(func(a *syndicate.Article) { a.ModTime = now.Add(-5 * time.Second) }), rec(syndicate.StatePosted, ""), true, 10 * time.Second, Settling},
		{"posted, changed, now a draft", changed(func(a *syndicate.Article) { a.Draft = true }), rec(syndicate.StatePosted, ""), true, 0, Posted},
		{"posted, changed to a future date", changed(func(a *syndicate.Article) { a.Date = now.Add(time.Hour) }), rec(syndicate.StatePosted, ""), true, 0, Changed},
		{"an edit half applied", art(nil), rec(syndicate.StateEditing, ""), true, 0, Changed},
		{"an edit half applied, changed again", changed(nil), rec(syndicate.StateEditing, ""), true, 0, Changed},
		{"failed half made, edited since", changed(nil), made(syndicate.StateFailed), true, 0, Changed},
		{"adopted, changed since", changed(nil), rec(syndicate.StateAdopted, ""), true, 0, Adopted},
		{"retracted, never posted", art(retracted), syndicate.ArticleRecord{}, false, 0, Retracted},
		{"retracted, posted", changed(retracted), rec(syndicate.StatePosted, ""), true, 0, Retracting},
		{"retracted, half posted", changed(retracted), rec(syndicate.StatePosting, ""), true, 0, Retracting},
		{"retracted, failed half made", changed(retracted), made(syndicate.StateFailed), true, 0, Retracting},
		{"retracted, failed with nothing made", changed(retracted), rec(syndicate.StateFailed, "h1"), true, 0, Retracted},
		{"retracted, adopted", changed(retracted), rec(syndicate.StateAdopted, ""), true, 0, Retracted},
		{"retracted while being deleted: the deletion goes on", art(nil), rec(syndicate.StateRetracting, ""), true, 0, Retracting},
		{"deleted, then the flag taken back: never posted again", art(nil), rec(syndicate.StateRetracted, ""), true, 0, Retracted},
		{"changed 11 s ago, daemon", art(func(a *syndicate.Article) { a.ModTime = now.Add(-11 * time.Second) }), syndicate.ArticleRecord{}, false, 10 * time.Second, Pending},
	}
	for _, tt := range tests {
		if got := Classify(tt.a, tt.r, tt.known, now, tt.settle); got != tt.want {
			t.Errorf("%s: Classify = %s, want %s", tt.name, got, tt.want)
		}
	}
	for s, want := range map[State]bool{Pending: true, Posting: true, Posted: true, Adopted: true, Failed: true, Draft: false, Waiting: false, Settling: false, Stopped: false,
		Changed: true, Retracting: false, Retracted: false} {
		if got := s.Mailable(); got != want {
			t.Errorf("%s.Mailable() = %v, want %v", s, got, want)
		}
	}
}

// TestIdempotencyKey: the same post replying to another status is another
// post to the server, so a head made anew can never adopt old replies.
func TestIdempotencyKey(t *testing.T) {
	p := syndicate.PlannedPost{Index: 1, Text: "A point\n\n2/3", Visibility: "unlisted", Language: "en"}
	k1, k2 := IdempotencyKey("a", p, "1001"), IdempotencyKey("a", p, "2002")
	if k1 == k2 {
		t.Error("replies to different heads share a key")
	}
	if k1 != IdempotencyKey("a", p, "1001") {
		t.Error("the key is not stable")
	}
	q := p
	q.Text = "Another point\n\n2/3"
	if IdempotencyKey("a", q, "1001") == k1 || IdempotencyKey("b", p, "1001") == k1 {
		t.Error("the key ignores the text or the article")
	}
}

// TestCombine: an article's state over its networks is the first state
// any network is in, in the order work in hand, posted, adopted, held
// back; so it is posted once every network is done with it.
func TestCombine(t *testing.T) {
	tests := []struct {
		states []State
		want   State
	}{
		{nil, Pending},
		{[]State{Posted}, Posted},
		{[]State{Posted, Posted}, Posted},
		{[]State{Posted, Adopted}, Posted},
		{[]State{Adopted, Adopted}, Adopted},
		{[]State{Posted, Pending}, Pending}, // Bluesky added later: it has the thread to do
		{[]State{Pending, Posting}, Posting},
		{[]State{Failed, Posted}, Failed},
		{[]State{Failed, Pending}, Failed}, // the failure is said first; the other network's thread still goes out
		{[]State{Failed, Posting}, Posting},
		{[]State{Stopped, Posted}, Stopped},
		{[]State{Posted, Draft}, Posted}, // out on one network, then made a draft: it stays posted (and mailable)
		{[]State{Draft, Draft}, Draft},
		{[]State{Waiting, Waiting}, Waiting},
		{[]State{Settling, Settling}, Settling},
		{[]State{Posted, Waiting}, Posted},
		{[]State{Changed, Posted}, Changed}, // edited on one network, the other's edit to do
		{[]State{Changed, Pending}, Changed},
		{[]State{Retracting, Retracted}, Retracting},
		{[]State{Retracting, Posting}, Posting},
		{[]State{Retracted, Retracted}, Retracted},
		{[]State{Settling, Posted}, Posted},
	}
	for _, tt := range tests {
		if got := Combine(tt.states...); got != tt.want {
			t.Errorf("Combine(%v) = %s, want %s", tt.states, got, tt.want)
		}
	}
}

// TestClassifyAll: each network's record classified, then combined; the
// digest takes the article by the combined state.
func TestClassifyAll(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	a := &syndicate.Article{ID: "a", Hash: "h1", ModTime: now.Add(-time.Hour)}
	draft := &syndicate.Article{ID: "a", Hash: "h1", ModTime: now.Add(-time.Hour), Draft: true}
	rec := func(state string) map[string]syndicate.ArticleRecord {
		return map[string]syndicate.ArticleRecord{"a": {ID: "a", State: state, Hash: "h1", FailedHash: "h1"}}
	}
	none := map[string]syndicate.ArticleRecord{}
	tests := []struct {
		name     string
		a        *syndicate.Article
		recs     Records
		want     State
		mailable bool
	}{
		{"no network (mail only)", a, Records{}, Pending, true},
		{"no network, a draft", draft, Records{}, Draft, false},
		{"new on both", a, Records{"mastodon": none, "bluesky": none}, Pending, true},
		{"posted on both", a, Records{"mastodon": rec(syndicate.StatePosted), "bluesky": rec(syndicate.StatePosted)}, Posted, true},
		{"posted on Mastodon, new on Bluesky", a, Records{"mastodon": rec(syndicate.StatePosted), "bluesky": none}, Pending, true},
		{"half posted on Bluesky", a, Records{"mastodon": rec(syndicate.StatePosted), "bluesky": rec(syndicate.StatePosting)}, Posting, true},
		{"failed on Bluesky", a, Records{"mastodon": rec(syndicate.StatePosted), "bluesky": rec(syndicate.StateFailed)}, Failed, true},
		{"posted on Mastodon, then a draft", draft, Records{"mastodon": rec(syndicate.StatePosted), "bluesky": none}, Posted, true},
		{"half posted on Mastodon, then a draft", draft, Records{"mastodon": rec(syndicate.StatePosting), "bluesky": none}, Stopped, false},
		{"adopted on both", a, Records{"mastodon": rec(syndicate.StateAdopted), "bluesky": rec(syndicate.StateAdopted)}, Adopted, true},
	}
	for _, tt := range tests {
		got := ClassifyAll(tt.a, tt.recs, now, 0)
		if got != tt.want || got.Mailable() != tt.mailable {
			t.Errorf("%s: ClassifyAll = %s (mailable %v), want %s (%v)", tt.name, got, got.Mailable(), tt.want, tt.mailable)
		}
	}
	if got := ForDigest([]*syndicate.Article{a, draft}, Records{"mastodon": none, "bluesky": rec(syndicate.StatePosted)}, nil, now, 0); len(got) != 2 {
		t.Errorf("ForDigest = %d articles, want both (the draft went out on Bluesky)", len(got))
	}
}
