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
		return syndicate.ArticleRecord{ID: "a", State: state, FailedHash: failedHash}
	}
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
		{"changed 5 s ago, by hand", art(func(a *syndicate.Article) { a.ModTime = now.Add(-5 * time.Second) }), syndicate.ArticleRecord{}, false, 0, Pending},
		{"changed 5 s ago, daemon", art(func(a *syndicate.Article) { a.ModTime = now.Add(-5 * time.Second) }), syndicate.ArticleRecord{}, false, 10 * time.Second, Settling},
		{"changed \"in a year\" (a wrong clock), daemon", art(func(a *syndicate.Article) { a.ModTime = now.Add(365 * 24 * time.Hour) }), syndicate.ArticleRecord{}, false, 10 * time.Second, Pending},
		{"changed 11 s ago, daemon", art(func(a *syndicate.Article) { a.ModTime = now.Add(-11 * time.Second) }), syndicate.ArticleRecord{}, false, 10 * time.Second, Pending},
	}
	for _, tt := range tests {
		if got := Classify(tt.a, tt.r, tt.known, now, tt.settle); got != tt.want {
			t.Errorf("%s: Classify = %s, want %s", tt.name, got, tt.want)
		}
	}
	for s, want := range map[State]bool{Pending: true, Posting: true, Posted: true, Adopted: true, Failed: true, Draft: false, Waiting: false, Settling: false, Stopped: false} {
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
