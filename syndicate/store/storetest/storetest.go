// Package storetest is the contract suite of store.Store: the behaviour
// the post job, the digest job and the commands rely on, run against
// every implementation (SQLite and PostgreSQL), as litestream's
// replica_client_test.go runs one suite against every replica client.
//
//	func TestDB(t *testing.T) {
//		storetest.Run(t, func(t *testing.T, opts store.Options) store.Store {
//			st, err := store.Open(ctx, filepath.Join(t.TempDir(), "state.db"), opts)
//			...
//			return st
//		})
//	}
package storetest

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/store"
)

// Open returns a new, empty store with the given options. The suite
// closes it when the test ends.
type Open func(t *testing.T, opts store.Options) store.Store

// Run runs the contract suite, each test on a store of its own.
func Run(t *testing.T, open Open) {
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := NewClock(time.Date(2026, 11, 30, 9, 0, 0, 123456789, time.UTC))
			st := open(t, store.Options{Now: clock.Now})
			t.Cleanup(func() {
				if err := st.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, &env{ctx: context.Background(), st: st, clock: clock})
		})
	}
}

var tests = []struct {
	name string
	fn   func(*testing.T, *env)
}{
	{"Ping", testPing},
	{"Empty", testEmpty},
	{"PlanThread_New", testPlanThreadNew},
	{"PlanThread_ResumeKeepsMadeAndInDoubtPosts", testPlanThreadResume},
	{"MarkAttempt_KeepsTheFirstAttempt", testMarkAttemptKeepsFirst},
	{"RecordPost_HeadPostIsTheArticles", testRecordPost},
	{"FinishArticle", testFinishArticle},
	{"FailArticle_AndRetry", testFailAndRetry},
	{"FailArticle_WithoutAPlan", testFailWithoutPlan},
	{"FailArticle_EditedFileIsPlannedAgain", testFailThenEdit},
	{"RetryArticle_OnlyFailed", testRetryOnlyFailed},
	{"AdoptArticles", testAdoptArticles},
	{"RecordFetch_ItemsAndStates", testRecordFetch},
	{"RecordFetch_AdoptsInTheSameTransaction", testRecordFetchAdopts},
	{"Threads_PerNetwork", testThreadsPerNetwork},
	{"PlanThread_KeepsWhatARetryRepeats", testPlanThreadRecordFields},
	{"AdoptArticles_PerNetwork", testAdoptPerNetwork},
	{"CreateDigest", testCreateDigest},
	{"CreateDigest_IsOneTransaction", testCreateDigestAtomic},
	{"CreateDigest_IDsFollowEachOther", testDigestIDs},
	{"AddReaders_SkipsUnsubscribedAndDuplicates", testAddReaders},
	{"ResetReaders", testResetReaders},
	{"PendingDeliveries_Pages", testPendingPages},
	{"RecordOutcomes_AndPendingCounts", testOutcomes},
	{"PendingDeliveries_SkipsLateUnsubscribes", testLateUnsubscribe},
	{"Digests_UnsubscribedAreNotPending", testDoneDigestHasNonePending},
	{"GiveUp", testGiveUp},
	{"RetryFailed", testRetryFailed},
	{"DigestStates", testDigestStates},
	{"Digests_NewestFirst", testDigestsNewestFirst},
	{"Secret", testSecret},
	{"ServerInfo", testServerInfo},
	{"Unsubscribe", testUnsubscribe},
	// Corrections (edits.go).
	{"PlanEdit_AppliedOnce", testPlanEdit},
	{"CorrectInstead", testCorrectInstead},
	{"Retraction", testRetraction},
	{"UpdateHash", testUpdateHash},
	// What the next digest says of them (notices.go).
	{"Notices_CarriedOnceByADigest", testNoticesCarriedOnce},
	{"Notices_ConcurrentCreators", testNoticesConcurrentCreators},
	// Replicas sharing one state (claims.go).
	{"CreateDigestFor_OncePerSlot", testSlotOnce},
	{"CreateDigestFor_ArticleTakenMeanwhile", testArticleTakenMeanwhile},
	{"CreateDigestFor_ConcurrentCreators", testConcurrentCreators},
	{"ClaimPreparation", testClaimPreparation},
	{"ResetReaders_OnlyWhilePreparing", testResetOnlyWhilePreparing},
	{"ClaimDeliveries", testClaimDeliveries},
	{"ClaimDeliveries_KeepThePendingRule", testClaimsKeepThePendingRule},
	{"ClaimDeliveries_Concurrent", testConcurrentClaims},
	{"Senders", testSenders},
}

// The networks the suite keeps threads on; most tests use Mastodon's.
const (
	mastodon = syndicate.NetworkMastodon
	bluesky  = syndicate.NetworkBluesky
)

// Clock is a settable clock for Options.Now.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock standing at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type env struct {
	ctx   context.Context
	st    store.Store
	clock *Clock
}

// ok fails the test at once on err.
func ok(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func sameTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func (e *env) record(t *testing.T, id string) syndicate.ArticleRecord {
	t.Helper()
	records, err := e.st.ArticleRecords(e.ctx, mastodon)
	ok(t, err)
	r, found := records[id]
	if !found {
		t.Fatalf("no record of %s in %v", id, records)
	}
	return r
}

func (e *env) posts(t *testing.T, id string) []syndicate.PlannedPost {
	t.Helper()
	posts, err := e.st.PlannedPosts(e.ctx, mastodon, id)
	ok(t, err)
	return posts
}

// plan is a thread of n posts, each text marked with tag.
func plan(n int, tag string) []syndicate.PlannedPost {
	out := make([]syndicate.PlannedPost, n)
	for i := range out {
		out[i] = syndicate.PlannedPost{
			Index: i, Text: fmt.Sprintf("%s post %d", tag, i+1), Visibility: "unlisted", Language: "en", Kind: syndicate.PostThread,
		}
	}
	out[0].Visibility = "public"
	return out
}

func texts(posts []syndicate.PlannedPost) []string {
	var out []string
	for _, p := range posts {
		out = append(out, p.Text)
	}
	return out
}

func testPing(t *testing.T, e *env) {
	ok(t, e.st.Ping(e.ctx))
}

func testEmpty(t *testing.T, e *env) {
	records, err := e.st.ArticleRecords(e.ctx, mastodon)
	ok(t, err)
	if len(records) != 0 {
		t.Errorf("ArticleRecords = %v, want none", records)
	}
	if posts := e.posts(t, "nothing"); len(posts) != 0 {
		t.Errorf("PlannedPosts = %v, want none", posts)
	}
	done, err := e.st.DigestedArticles(e.ctx)
	ok(t, err)
	if len(done) != 0 {
		t.Errorf("DigestedArticles = %v, want none", done)
	}
	if _, open, err := e.st.OpenDigest(e.ctx); err != nil || open {
		t.Errorf("OpenDigest = %v, %v; want none", open, err)
	}
	if _, found, err := e.st.LastDigest(e.ctx); err != nil || found {
		t.Errorf("LastDigest = %v, %v; want none", found, err)
	}
	list, err := e.st.Digests(e.ctx, 5)
	ok(t, err)
	if len(list) != 0 {
		t.Errorf("Digests = %v, want none", list)
	}
	un, err := e.st.Unsubscribed(e.ctx)
	ok(t, err)
	if len(un) != 0 {
		t.Errorf("Unsubscribed = %v, want none", un)
	}
	if _, found, err := e.st.ServerInfo(e.ctx, "https://example.social"); err != nil || found {
		t.Errorf("ServerInfo = %v, %v; want none", found, err)
	}
}

func testPlanThreadNew(t *testing.T, e *env) {
	want := plan(3, "first")
	want[0].ContentWarning = "politics"
	want[1].MediaFile, want[1].MediaAlt = "wind.png", "Turbines at sea"
	want[2].IdempotencyKey = "key-3"
	ok(t, e.st.PlanThread(e.ctx, mastodon, "wind", "hash-1", want))

	r := e.record(t, "wind")
	if r.State != syndicate.StatePosting || r.Hash != "hash-1" || r.PostsPlanned != 3 || r.PostsDone != 0 || r.HeadURL != "" || !r.PostedAt.IsZero() {
		t.Errorf("record = %+v, want posting, hash-1, 0 of 3 posts", r)
	}
	sameTime(t, "UpdatedAt", r.UpdatedAt, e.clock.Now())
	if got := e.posts(t, "wind"); !reflect.DeepEqual(got, want) {
		t.Errorf("PlannedPosts =\n%+v\nwant\n%+v", got, want)
	}
	if posts := e.posts(t, "other"); len(posts) != 0 {
		t.Errorf("another article's posts = %v", posts)
	}
}

func testPlanThreadResume(t *testing.T, e *env) {
	ok(t, e.st.PlanThread(e.ctx, mastodon, "wind", "hash-1", plan(4, "old")))
	ok(t, e.st.MarkAttempt(e.ctx, mastodon, "wind", 0))
	ok(t, e.st.RecordPost(e.ctx, mastodon, "wind", 0, syndicate.Status{ID: "100", URL: "https://example.social/@bot/100"}))
	e.clock.Advance(time.Minute)
	ok(t, e.st.MarkAttempt(e.ctx, mastodon, "wind", 1)) // the process dies here: post 2 is in doubt
	attempted := e.clock.Now()

	// The resumed run plans again (the file may have changed meanwhile):
	// what exists or may exist keeps its text, the rest is the new plan.
	e.clock.Advance(time.Minute)
	ok(t, e.st.PlanThread(e.ctx, mastodon, "wind", "hash-2", plan(5, "new")))
	got := e.posts(t, "wind")
	if want := []string{"old post 1", "old post 2", "new post 3", "new post 4", "new post 5"}; !reflect.DeepEqual(texts(got), want) {
		t.Fatalf("texts = %q, want %q", texts(got), want)
	}
	if got[0].StatusID != "100" || got[0].URL != "https://example.social/@bot/100" {
		t.Errorf("post 1 = %+v, want status 100", got[0])
	}
	sameTime(t, "post 2 AttemptedAt", got[1].AttemptedAt, attempted)
	if got[1].StatusID != "" {
		t.Errorf("post 2 StatusID = %q, want none (in doubt)", got[1].StatusID)
	}
	for _, p := range got[2:] {
		if !p.AttemptedAt.IsZero() || p.StatusID != "" {
			t.Errorf("post %d = %+v, want not attempted", p.Index+1, p)
		}
	}
	r := e.record(t, "wind")
	if r.State != syndicate.StatePosting || r.Hash != "hash-2" || r.PostsDone != 1 || r.PostsPlanned != 5 {
		t.Errorf("record = %+v, want posting, hash-2, 1 of 5 posts", r)
	}
	sameTime(t, "UpdatedAt", r.UpdatedAt, e.clock.Now())

	// A shorter plan drops the posts never tried.
	ok(t, e.st.PlanThread(e.ctx, mastodon, "wind", "hash-3", plan(1, "short")))
	if got, want := texts(e.posts(t, "wind")), []string{"old post 1", "old post 2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("after a shorter plan: texts = %q, want %q", got, want)
	}
}

func testMarkAttemptKeepsFirst(t *testing.T, e *env) {
	ok(t, e.st.PlanThread(e.ctx, mastodon, "wind", "h", plan(2, "a")))
	first := e.clock.Now()
	ok(t, e.st.MarkAttempt(e.ctx, mastodon, "wind", 1))
	e.clock.Advance(time.Hour)
	ok(t, e.st.MarkAttempt(e.ctx, mastodon, "wind", 1))
	got := e.posts(t, "wind")
	if !got[0].AttemptedAt.IsZero() {
		t.Errorf("post 1 AttemptedAt = %v, want none", got[0].AttemptedAt)
	}
	sameTime(t, "post 2 AttemptedAt", got[1].AttemptedAt, first)
	// An unknown post is no error: there is nothing to mark.
	ok(t, e.st.MarkAttempt(e.ctx, mastodon, "wind", 7))
	ok(t, e.st.MarkAttempt(e.ctx, mastodon, "nothing", 0))
}

func testRecordPost(t *testing.T, e *env) {
	ok(t, e.st.PlanThread(e.ctx, mastodon, "wind", "h", plan(3, "a")))
	e.clock.Advance(time.Second)
	head := e.clock.Now()
	ok(t, e.st.RecordPost(e.ctx, mastodon, "wind", 0, syndicate.Status{ID: "100", URL: "https://example.social/@bot/100"}))
	e.clock.Advance(time.Second)
	ok(t, e.st.RecordPost(e.ctx, mastodon, "wind", 1, syndicate.Status{ID: "101", URL: "https://example.social/@bot/101"}))
	r := e.record(t, "wind")
	if r.HeadURL != "https://example.social/@bot/100" || r.PostsDone != 2 || r.PostsPlanned != 3 || r.State != syndicate.StatePosting {
		t.Errorf("record = %+v, want the head post's URL, 2 of 3 posts, posting", r)
	}
	sameTime(t, "PostedAt", r.PostedAt, head)
	sameTime(t, "UpdatedAt", r.UpdatedAt, head) // a reply does not touch the article
	got := e.posts(t, "wind")
	if got[1].StatusID != "101" || got[1].URL != "https://example.social/@bot/101" || got[2].StatusID != "" {
		t.Errorf("posts = %+v", got)
	}
}

func testFinishArticle(t *testing.T, e *env) {
	ok(t, e.st.PlanThread(e.ctx, mastodon, "wind", "h", plan(1, "a")))
	ok(t, e.st.RecordPost(e.ctx, mastodon, "wind", 0, syndicate.Status{ID: "100", URL: "https://example.social/@bot/100"}))
	e.clock.Advance(time.Second)
	ok(t, e.st.FinishArticle(e.ctx, mastodon, "wind"))
	r := e.record(t, "wind")
	if r.State != syndicate.StatePosted || r.Reason != "" || r.PostsDone != 1 {
		t.Errorf("record = %+v, want posted", r)
	}
	sameTime(t, "UpdatedAt", r.UpdatedAt, e.clock.Now())
}

func testFailAndRetry(t *testing.T, e *env) {
	ok(t, e.st.PlanThread(e.ctx, mastodon, "wind", "hash-1", plan(3, "old")))
	ok(t, e.st.RecordPost(e.ctx, mastodon, "wind", 0, syndicate.Status{ID: "100", URL: "https://example.social/@bot/100"}))
	ok(t, e.st.MarkAttempt(e.ctx, mastodon, "wind", 1))
	e.clock.Advance(time.Second)
	ok(t, e.st.FailArticle(e.ctx, mastodon, "wind", "hash-1", "Validation failed: Text character limit of 500 exceeded"))

	r := e.record(t, "wind")
	if r.State != syndicate.StateFailed || r.FailedHash != "hash-1" || r.Hash != "hash-1" ||
		r.Reason != "Validation failed: Text character limit of 500 exceeded" || r.PostsDone != 1 {
		t.Errorf("record = %+v, want failed with the reason", r)
	}
	sameTime(t, "UpdatedAt", r.UpdatedAt, e.clock.Now())
	// The refused post does not exist: it is not in doubt any more.
	got := e.posts(t, "wind")
	if !got[1].AttemptedAt.IsZero() {
		t.Errorf("the refused post's AttemptedAt = %v, want none", got[1].AttemptedAt)
	}
	if got[0].StatusID != "100" {
		t.Errorf("the made post = %+v, want it kept", got[0])
	}

	retried, err := e.st.RetryArticle(e.ctx, mastodon, "wind")
	ok(t, err)
	if !retried {
		t.Fatal("RetryArticle = false for a failed article")
	}
	r = e.record(t, "wind")
	if r.State != syndicate.StatePosting || r.FailedHash != "" {
		t.Errorf("after the retry: record = %+v, want posting with no failed hash", r)
	}
	// The retry plans the unmade posts afresh and keeps the made one.
	ok(t, e.st.PlanThread(e.ctx, mastodon, "wind", "hash-1", plan(3, "fixed")))
	if got, want := texts(e.posts(t, "wind")), []string{"old post 1", "fixed post 2", "fixed post 3"}; !reflect.DeepEqual(got, want) {
		t.Errorf("texts = %q, want %q", got, want)
	}
	if r := e.record(t, "wind"); r.Reason != "" {
		t.Errorf("the reason %q outlived the new plan", r.Reason)
	}
}

func testFailWithoutPlan(t *testing.T, e *env) {
	// A thread that cannot be composed fails before any plan.
	ok(t, e.st.FailArticle(e.ctx, mastodon, "long", "hash-1", "a key point is too long"))
	r := e.record(t, "long")
	if r.State != syndicate.StateFailed || r.Hash != "hash-1" || r.FailedHash != "hash-1" || r.Reason != "a key point is too long" || r.PostsPlanned != 0 {
		t.Errorf("record = %+v", r)
	}
	// Failing again (a retry refused once more) keeps one record.
	ok(t, e.st.FailArticle(e.ctx, mastodon, "long", "hash-2", "still too long"))
	r = e.record(t, "long")
	if r.FailedHash != "hash-2" || r.Reason != "still too long" || r.Hash != "hash-1" {
		t.Errorf("after a second failure: record = %+v", r)
	}
}

func testFailThenEdit(t *testing.T, e *env) {
	// An edit of a failed article's file is posted without --retry: the
	// job plans it again with the new hash.
	ok(t, e.st.PlanThread(e.ctx, mastodon, "wind", "hash-1", plan(2, "old")))
	ok(t, e.st.MarkAttempt(e.ctx, mastodon, "wind", 0))
	ok(t, e.st.FailArticle(e.ctx, mastodon, "wind", "hash-1", "refused"))
	ok(t, e.st.PlanThread(e.ctx, mastodon, "wind", "hash-2", plan(2, "edited")))
	r := e.record(t, "wind")
	if r.State != syndicate.StatePosting || r.Hash != "hash-2" || r.Reason != "" {
		t.Errorf("record = %+v, want posting with the new hash", r)
	}
	if got, want := texts(e.posts(t, "wind")), []string{"edited post 1", "edited post 2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("texts = %q, want %q", got, want)
	}
}

func testRetryOnlyFailed(t *testing.T, e *env) {
	ok(t, e.st.PlanThread(e.ctx, mastodon, "posting", "h", plan(1, "a")))
	ok(t, e.st.PlanThread(e.ctx, mastodon, "posted", "h", plan(1, "a")))
	ok(t, e.st.FinishArticle(e.ctx, mastodon, "posted"))
	for _, id := range []string{"posting", "posted", "unknown"} {
		retried, err := e.st.RetryArticle(e.ctx, mastodon, id)
		ok(t, err)
		if retried {
			t.Errorf("RetryArticle(%s) = true, want false: it is not failed", id)
		}
	}
	if r := e.record(t, "posted"); r.State != syndicate.StatePosted {
		t.Errorf("RetryArticle changed a posted article: %+v", r)
	}
}

func testAdoptArticles(t *testing.T, e *env) {
	ok(t, e.st.PlanThread(e.ctx, mastodon, "posted", "h", plan(1, "a")))
	ok(t, e.st.FinishArticle(e.ctx, mastodon, "posted"))
	_, err := e.st.CreateDigest(e.ctx, []syndicate.DigestItem{{ID: "posted", Title: "Posted"}}, nil)
	ok(t, err)
	articles := []*syndicate.Article{{ID: "old-1", Hash: "h1"}, {ID: "old-2", Hash: "h2"}, {ID: "posted", Hash: "h"}}

	posts, mailed, err := e.st.AdoptArticles(e.ctx, articles, []string{mastodon}, true)
	ok(t, err)
	if posts[mastodon] != 2 || mailed != 2 {
		t.Errorf("AdoptArticles = %v posts, %d mailed; want 2, 2 (the posted and digested article has its record)", posts, mailed)
	}
	r := e.record(t, "old-1")
	if r.State != syndicate.StateAdopted || r.Hash != "h1" || r.PostsPlanned != 0 {
		t.Errorf("adopted record = %+v", r)
	}
	sameTime(t, "UpdatedAt", r.UpdatedAt, e.clock.Now())
	if r := e.record(t, "posted"); r.State != syndicate.StatePosted {
		t.Errorf("a posted article became %q", r.State)
	}
	done, err := e.st.DigestedArticles(e.ctx)
	ok(t, err)
	if want := map[string]bool{"old-1": true, "old-2": true, "posted": true}; !reflect.DeepEqual(done, want) {
		t.Errorf("DigestedArticles = %v, want %v", done, want)
	}

	// Adopting again changes nothing.
	posts, mailed, err = e.st.AdoptArticles(e.ctx, articles, []string{mastodon}, true)
	ok(t, err)
	if posts[mastodon] != 0 || mailed != 0 {
		t.Errorf("adopting again = %v, %d; want 0, 0", posts, mailed)
	}
	// An article posted but never mailed is adopted for the digest only.
	ok(t, e.st.PlanThread(e.ctx, mastodon, "unmailed", "h", plan(1, "a")))
	ok(t, e.st.FinishArticle(e.ctx, mastodon, "unmailed"))
	posts, mailed, err = e.st.AdoptArticles(e.ctx, []*syndicate.Article{{ID: "unmailed", Hash: "h"}}, []string{mastodon}, true)
	ok(t, err)
	if posts[mastodon] != 0 || mailed != 1 {
		t.Errorf("adopting a posted article = %v, %d; want 0, 1", posts, mailed)
	}
	if r := e.record(t, "unmailed"); r.State != syndicate.StatePosted {
		t.Errorf("a posted article became %q", r.State)
	}
}

func feedItem(id, hash string, seen time.Time) *syndicate.Article {
	return &syndicate.Article{ID: id, Title: "Item " + id, URL: "https://feed.example/" + id, Hash: hash, ModTime: seen,
		Date: seen, Source: "feed:news", KeyPoints: []string{"A point."}, Image: &syndicate.Image{URL: "https://feed.example/" + id + ".jpg", Alt: "alt"}}
}

func testRecordFetch(t *testing.T, e *env) {
	states, err := e.st.FeedStates(e.ctx)
	ok(t, err)
	if len(states) != 0 {
		t.Errorf("a new state has feeds: %v", states)
	}
	seen := e.clock.Now().Add(-time.Hour)
	st := syndicate.FeedState{URL: "https://feed.example/rss", ETag: `"v1"`, LastModified: "Mon, 30 Nov 2026 08:00:00 GMT", FetchedAt: e.clock.Now(), AdoptedAt: e.clock.Now()}
	ok(t, e.st.RecordFetch(e.ctx, "news", st, []*syndicate.Article{feedItem("news-a", "h1", seen), feedItem("news-b", "h1", seen.Add(time.Minute))}, nil))
	states, err = e.st.FeedStates(e.ctx)
	ok(t, err)
	got := states["news"]
	if got.URL != st.URL || got.ETag != st.ETag || got.LastModified != st.LastModified || !got.RetryAt.IsZero() || got.Problem != "" {
		t.Errorf("FeedStates = %+v, want %+v", got, st)
	}
	sameTime(t, "FetchedAt", got.FetchedAt, st.FetchedAt)
	sameTime(t, "AdoptedAt", got.AdoptedAt, st.AdoptedAt)

	list, err := e.st.FeedItems(e.ctx)
	ok(t, err)
	if len(list) != 2 || list[0].ID != "news-a" || list[1].ID != "news-b" {
		t.Fatalf("FeedItems = %v", list)
	}
	a := list[0]
	if a.Title != "Item news-a" || a.Source != "feed:news" || a.Image == nil || a.Image.URL != "https://feed.example/news-a.jpg" || len(a.KeyPoints) != 1 {
		t.Errorf("the item came back as %+v", a)
	}
	sameTime(t, "first seen", a.ModTime, seen)

	// Seen again, later, edited: the text is replaced, the first-seen
	// time kept. A fetch that failed keeps its problem and Retry-After.
	e.clock.Advance(time.Hour)
	edited := feedItem("news-a", "h2", e.clock.Now())
	edited.Title = "Edited"
	failed := st
	failed.Problem, failed.RetryAt = "HTTP 503", e.clock.Now().Add(10*time.Minute)
	ok(t, e.st.RecordFetch(e.ctx, "news", failed, []*syndicate.Article{edited}, nil))
	list, err = e.st.FeedItems(e.ctx)
	ok(t, err)
	if len(list) != 2 || list[0].Title != "Edited" || list[0].Hash != "h2" {
		t.Errorf("after an edit: %+v", list[0])
	}
	sameTime(t, "first seen after an edit", list[0].ModTime, seen)
	states, err = e.st.FeedStates(e.ctx)
	ok(t, err)
	if got := states["news"]; got.Problem != "HTTP 503" {
		t.Errorf("the problem was not kept: %+v", got)
	} else {
		sameTime(t, "RetryAt", got.RetryAt, failed.RetryAt)
	}
}

func testRecordFetchAdopts(t *testing.T, e *env) {
	now := e.clock.Now()
	old1, old2, fresh := feedItem("news-old1", "h", now), feedItem("news-old2", "h", now), feedItem("news-new", "h", now)
	st := syndicate.FeedState{URL: "https://feed.example/rss", FetchedAt: now, AdoptedAt: now}
	ok(t, e.st.RecordFetch(e.ctx, "news", st, []*syndicate.Article{old1, old2, fresh}, []*syndicate.Article{old1, old2}))
	// Adopted on every network, configured or not: a network added
	// later does not post a feed's old items either.
	for _, network := range syndicate.AllNetworks {
		for _, id := range []string{"news-old1", "news-old2"} {
			if r, _ := e.recordOf(t, network, id); r.State != syndicate.StateAdopted {
				t.Errorf("%s on %s is %q, want adopted", id, network, r.State)
			}
		}
		if _, known := e.recordOf(t, network, "news-new"); known {
			t.Errorf("the backfilled item was adopted on %s", network)
		}
	}
	done, err := e.st.DigestedArticles(e.ctx)
	ok(t, err)
	if !done["news-old1"] || !done["news-old2"] || done["news-new"] {
		t.Errorf("DigestedArticles = %v", done)
	}
}

// testThreadsPerNetwork: one article has a thread on each network, each
// with its own state, plan, posts and record, untouched by the other's.
func testThreadsPerNetwork(t *testing.T, e *env) {
	ok(t, e.st.PlanThread(e.ctx, mastodon, "wind", "hash-1", plan(3, "toot")))
	ok(t, e.st.PlanThread(e.ctx, bluesky, "wind", "hash-1", plan(2, "skeet")))
	ok(t, e.st.MarkAttempt(e.ctx, mastodon, "wind", 0))
	ok(t, e.st.RecordPost(e.ctx, mastodon, "wind", 0, syndicate.Status{ID: "100", URL: "https://example.social/@bot/100"}))
	ok(t, e.st.RecordPost(e.ctx, bluesky, "wind", 0, syndicate.Status{ID: "at://did:plc:x/app.bsky.feed.post/3l", URL: "https://bsky.app/profile/x/post/3l", CID: "bafyhead"}))
	ok(t, e.st.MarkAttempt(e.ctx, bluesky, "wind", 1))
	ok(t, e.st.FailArticle(e.ctx, bluesky, "wind", "hash-1", "grapheme too big"))

	if got, want := texts(e.posts(t, "wind")), []string{"toot post 1", "toot post 2", "toot post 3"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Mastodon's posts = %q, want %q", got, want)
	}
	sky, err := e.st.PlannedPosts(e.ctx, bluesky, "wind")
	ok(t, err)
	if got, want := texts(sky), []string{"skeet post 1", "skeet post 2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Bluesky's posts = %q, want %q", got, want)
	}
	if sky[0].StatusID != "at://did:plc:x/app.bsky.feed.post/3l" || sky[0].CID != "bafyhead" || !sky[1].AttemptedAt.IsZero() {
		t.Errorf("Bluesky's posts = %+v, want the head with its CID, the refused reply not in doubt", sky)
	}
	if got := e.posts(t, "wind"); !got[0].AttemptedAt.Equal(e.clock.Now()) || got[0].CID != "" {
		t.Errorf("Mastodon's head = %+v: the other network's failure touched it", got[0])
	}

	r := e.record(t, "wind")
	if r.Network != mastodon || r.State != syndicate.StatePosting || r.HeadURL != "https://example.social/@bot/100" || r.PostsDone != 1 || r.PostsPlanned != 3 {
		t.Errorf("Mastodon's record = %+v", r)
	}
	records, err := e.st.ArticleRecords(e.ctx, bluesky)
	ok(t, err)
	b := records["wind"]
	if b.Network != bluesky || b.State != syndicate.StateFailed || b.Reason != "grapheme too big" || b.HeadURL != "https://bsky.app/profile/x/post/3l" || b.PostsDone != 1 || b.PostsPlanned != 2 {
		t.Errorf("Bluesky's record = %+v", b)
	}
	if len(records) != 1 {
		t.Errorf("Bluesky's records = %v, want wind's alone", records)
	}

	// A retry is of one network; the other is left as it is.
	retried, err := e.st.RetryArticle(e.ctx, mastodon, "wind")
	ok(t, err)
	if retried {
		t.Error("RetryArticle on Mastodon = true, but the article failed on Bluesky only")
	}
	retried, err = e.st.RetryArticle(e.ctx, bluesky, "wind")
	ok(t, err)
	if !retried {
		t.Error("RetryArticle on Bluesky = false for an article failed there")
	}
	ok(t, e.st.FinishArticle(e.ctx, mastodon, "wind"))
	records, err = e.st.ArticleRecords(e.ctx, bluesky)
	ok(t, err)
	if s := records["wind"].State; s != syndicate.StatePosting {
		t.Errorf("Bluesky's state = %q after finishing on Mastodon, want posting", s)
	}
	if r := e.record(t, "wind"); r.State != syndicate.StatePosted {
		t.Errorf("Mastodon's state = %q, want posted", r.State)
	}
	// A network with nothing recorded has no records.
	none, err := e.st.ArticleRecords(e.ctx, "elsewhere")
	ok(t, err)
	if len(none) != 0 {
		t.Errorf("ArticleRecords of an unused network = %v", none)
	}
}

// testPlanThreadRecordFields: what a Bluesky retry must send byte for
// byte — the record key, createdAt to the millisecond, the link card —
// is kept with the post, and a post in doubt keeps its own through a new
// plan; a post's CID is kept when it is recorded.
func testPlanThreadRecordFields(t *testing.T, e *env) {
	created := time.Date(2026, 11, 30, 9, 0, 0, 987_000_000, time.UTC)
	want := plan(2, "sky")
	want[0].RecordKey, want[0].CreatedAt = "3lbqz7cvqxk2a", created
	want[0].CardURL, want[0].CardTitle, want[0].CardDescription = "https://news.example.org/wind", "Wind", "The auction, site by site."
	want[1].RecordKey, want[1].CreatedAt = "3lbqz7cvqxk2b", created.Add(time.Millisecond)
	ok(t, e.st.PlanThread(e.ctx, bluesky, "wind", "h", want))
	got, err := e.st.PlannedPosts(e.ctx, bluesky, "wind")
	ok(t, err)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("PlannedPosts =\n%+v\nwant\n%+v", got, want)
	}
	if got[0].CreatedAt.Format("2006-01-02T15:04:05.000Z") != "2026-11-30T09:00:00.987Z" {
		t.Errorf("CreatedAt = %v, want the millisecond kept", got[0].CreatedAt)
	}

	// Post 1 is made, post 2 in doubt; a new plan (new keys, new times)
	// keeps both as they were.
	ok(t, e.st.RecordPost(e.ctx, bluesky, "wind", 0, syndicate.Status{ID: "at://did:plc:x/app.bsky.feed.post/3lbqz7cvqxk2a", URL: "https://bsky.app/x", CID: "bafyone"}))
	ok(t, e.st.MarkAttempt(e.ctx, bluesky, "wind", 1))
	again := plan(3, "new")
	for i := range again {
		again[i].RecordKey, again[i].CreatedAt = fmt.Sprintf("3lbqzaaaaaa%da", i), created.Add(time.Hour)
	}
	ok(t, e.st.PlanThread(e.ctx, bluesky, "wind", "h2", again))
	got, err = e.st.PlannedPosts(e.ctx, bluesky, "wind")
	ok(t, err)
	if len(got) != 3 {
		t.Fatalf("%d posts, want 3", len(got))
	}
	if got[0].RecordKey != want[0].RecordKey || !got[0].CreatedAt.Equal(created) || got[0].CID != "bafyone" || got[0].CardTitle != "Wind" {
		t.Errorf("the made post = %+v, want its planned record and CID kept", got[0])
	}
	if got[1].RecordKey != want[1].RecordKey || !got[1].CreatedAt.Equal(want[1].CreatedAt) || got[1].Text != "sky post 2" {
		t.Errorf("the post in doubt = %+v, want its planned record kept (a retry must send the same bytes)", got[1])
	}
	if got[2].RecordKey != again[2].RecordKey || !got[2].CreatedAt.Equal(again[2].CreatedAt) {
		t.Errorf("the new post = %+v, want the new plan", got[2])
	}
}

// testAdoptPerNetwork: --mark-posted for one network records that
// network only, and leaves the digest alone when asked to.
func testAdoptPerNetwork(t *testing.T, e *env) {
	ok(t, e.st.PlanThread(e.ctx, mastodon, "posted", "h", plan(1, "a")))
	ok(t, e.st.FinishArticle(e.ctx, mastodon, "posted"))
	articles := []*syndicate.Article{{ID: "old", Hash: "h1"}, {ID: "posted", Hash: "h"}}

	posts, mailed, err := e.st.AdoptArticles(e.ctx, articles, []string{bluesky}, false)
	ok(t, err)
	if posts[bluesky] != 2 || posts[mastodon] != 0 || mailed != 0 {
		t.Errorf("AdoptArticles(bluesky, no mail) = %v, %d; want 2 on Bluesky, none mailed", posts, mailed)
	}
	records, err := e.st.ArticleRecords(e.ctx, bluesky)
	ok(t, err)
	if records["old"].State != syndicate.StateAdopted || records["posted"].State != syndicate.StateAdopted {
		t.Errorf("Bluesky's records = %+v, want both adopted", records)
	}
	if _, found := e.recordOf(t, mastodon, "old"); found {
		t.Error("adopting on Bluesky made a Mastodon record")
	}
	done, err := e.st.DigestedArticles(e.ctx)
	ok(t, err)
	if len(done) != 0 {
		t.Errorf("DigestedArticles = %v, want none: the digest was not asked for", done)
	}

	posts, mailed, err = e.st.AdoptArticles(e.ctx, articles, []string{mastodon, bluesky}, true)
	ok(t, err)
	if posts[mastodon] != 1 || posts[bluesky] != 0 || mailed != 2 {
		t.Errorf("AdoptArticles(both, mail) = %v, %d; want 1 on Mastodon (posted has its record), 0 on Bluesky, 2 mailed", posts, mailed)
	}
}

func (e *env) recordOf(t *testing.T, network, id string) (syndicate.ArticleRecord, bool) {
	t.Helper()
	records, err := e.st.ArticleRecords(e.ctx, network)
	ok(t, err)
	r, found := records[id]
	return r, found
}

func items(ids ...string) []syndicate.DigestItem {
	var out []syndicate.DigestItem
	for i, id := range ids {
		out = append(out, syndicate.DigestItem{
			ID: id, Title: "Title of " + id, URL: "https://news.example.org/" + id,
			Date:      time.Date(2026, 11, 20+i, 8, 0, 0, 0, time.UTC),
			KeyPoints: []string{"first point of " + id, "second point"}, ImageAlt: "alt", ImageCredit: "credit",
		})
	}
	return out
}

func testCreateDigest(t *testing.T, e *env) {
	want := items("wind", "library", "auction")
	id, err := e.st.CreateDigest(e.ctx, want, []string{"extra-1", "extra-2"})
	ok(t, err)
	d, open, err := e.st.OpenDigest(e.ctx)
	ok(t, err)
	if !open || d.ID != id || d.State != syndicate.DigestPreparing || d.Omitted != 2 {
		t.Errorf("OpenDigest = %+v, %v; want digest %d preparing with 2 omitted", d, open, id)
	}
	sameTime(t, "CreatedAt", d.CreatedAt, e.clock.Now())
	got, err := e.st.DigestItems(e.ctx, id)
	ok(t, err)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("DigestItems =\n%+v\nwant\n%+v", got, want)
	}
	done, err := e.st.DigestedArticles(e.ctx)
	ok(t, err)
	if want := map[string]bool{"wind": true, "library": true, "auction": true, "extra-1": true, "extra-2": true}; !reflect.DeepEqual(done, want) {
		t.Errorf("DigestedArticles = %v, want %v", done, want)
	}
	list, err := e.st.Digests(e.ctx, 5)
	ok(t, err)
	if len(list) != 1 || list[0].Articles != 3 || list[0].Omitted != 2 || list[0].State != syndicate.DigestPreparing || !list[0].CompletedAt.IsZero() {
		t.Errorf("Digests = %+v", list)
	}
	if other, err := e.st.DigestItems(e.ctx, id+1); err != nil || len(other) != 0 {
		t.Errorf("DigestItems of no digest = %v, %v", other, err)
	}
}

func testCreateDigestAtomic(t *testing.T, e *env) {
	// The same article twice is refused, and nothing of the digest stays.
	if _, err := e.st.CreateDigest(e.ctx, items("wind", "wind"), []string{"extra"}); err == nil {
		t.Fatal("CreateDigest took the same article twice")
	}
	if _, open, err := e.st.OpenDigest(e.ctx); err != nil || open {
		t.Errorf("OpenDigest = %v, %v after a failed CreateDigest; want none", open, err)
	}
	done, err := e.st.DigestedArticles(e.ctx)
	ok(t, err)
	if len(done) != 0 {
		t.Errorf("DigestedArticles = %v after a failed CreateDigest", done)
	}
}

func testDigestIDs(t *testing.T, e *env) {
	first, err := e.st.CreateDigest(e.ctx, items("a"), nil)
	ok(t, err)
	ok(t, e.st.StartDigest(e.ctx, first))
	ok(t, e.st.FinishDigest(e.ctx, first))
	second, err := e.st.CreateDigest(e.ctx, items("b"), nil)
	ok(t, err)
	if first <= 0 || second <= first {
		t.Errorf("digest IDs %d then %d, want positive and increasing", first, second)
	}
}

func readers(emails ...string) []syndicate.Reader {
	var out []syndicate.Reader
	for _, e := range emails {
		name := strings.SplitN(e, "@", 2)[0]
		out = append(out, syndicate.Reader{Email: e, Name: name, Fields: map[string]string{"email": e, "name": name, "city": "Oslo"}})
	}
	return out
}

// newDigest creates a digest sending to the given readers.
func (e *env) newDigest(t *testing.T, emails ...string) int64 {
	t.Helper()
	id, err := e.st.CreateDigest(e.ctx, items("wind"), nil)
	ok(t, err)
	n, err := e.st.AddReaders(e.ctx, id, readers(emails...))
	ok(t, err)
	if n != len(emails) {
		t.Fatalf("AddReaders = %d, want %d", n, len(emails))
	}
	ok(t, e.st.StartDigest(e.ctx, id))
	return id
}

func (e *env) pendingKeys(t *testing.T, id int64, maxAttempts int) []string {
	t.Helper()
	list, err := e.st.PendingDeliveries(e.ctx, id, "", maxAttempts, 1000)
	ok(t, err)
	var keys []string
	for _, d := range list {
		keys = append(keys, d.Key)
	}
	n, err := e.st.CountPending(e.ctx, id, maxAttempts)
	ok(t, err)
	if n != len(keys) {
		t.Errorf("CountPending = %d, PendingDeliveries lists %d", n, len(keys))
	}
	return keys
}

func testAddReaders(t *testing.T, e *env) {
	ok(t, e.st.Unsubscribe(e.ctx, "Gone@Example.org"))
	id, err := e.st.CreateDigest(e.ctx, items("wind"), nil)
	ok(t, err)
	n, err := e.st.AddReaders(e.ctx, id, readers("ada@example.org", "gone@example.org", " ADA@example.org", "bob@example.org"))
	ok(t, err)
	if n != 2 {
		t.Errorf("AddReaders = %d, want 2 (one unsubscribed, one the same address)", n)
	}
	// A later batch skips those already in, too.
	n, err = e.st.AddReaders(e.ctx, id, readers("bob@example.org", "cy@example.org"))
	ok(t, err)
	if n != 1 {
		t.Errorf("second AddReaders = %d, want 1", n)
	}
	list, err := e.st.PendingDeliveries(e.ctx, id, "", 10, 100)
	ok(t, err)
	want := []syndicate.Delivery{
		{Key: "ada@example.org", Reader: readers("ada@example.org")[0], State: syndicate.DeliveryPending},
		{Key: "bob@example.org", Reader: readers("bob@example.org")[0], State: syndicate.DeliveryPending},
		{Key: "cy@example.org", Reader: readers("cy@example.org")[0], State: syndicate.DeliveryPending},
	}
	if !reflect.DeepEqual(list, want) {
		t.Errorf("PendingDeliveries =\n%+v\nwant\n%+v", list, want)
	}
	// Another digest has readers of its own.
	other, err := e.st.CreateDigest(e.ctx, items("library"), nil)
	ok(t, err)
	if n, err := e.st.AddReaders(e.ctx, other, readers("ada@example.org")); err != nil || n != 1 {
		t.Errorf("AddReaders to another digest = %d, %v; want 1", n, err)
	}
	if n, err := e.st.AddReaders(e.ctx, other, nil); err != nil || n != 0 {
		t.Errorf("AddReaders of none = %d, %v", n, err)
	}
}

func testResetReaders(t *testing.T, e *env) {
	id, err := e.st.CreateDigest(e.ctx, items("wind"), nil)
	ok(t, err)
	_, err = e.st.AddReaders(e.ctx, id, readers("ada@example.org", "bob@example.org"))
	ok(t, err)
	// The preparation was interrupted: it starts over.
	ok(t, e.st.ResetReaders(e.ctx, id))
	if keys := e.pendingKeys(t, id, 10); len(keys) != 0 {
		t.Errorf("after ResetReaders: pending %v", keys)
	}
	n, err := e.st.AddReaders(e.ctx, id, readers("ada@example.org", "bob@example.org"))
	ok(t, err)
	if n != 2 {
		t.Errorf("AddReaders after ResetReaders = %d, want 2", n)
	}
}

func testPendingPages(t *testing.T, e *env) {
	var emails []string
	for i := 0; i < 25; i++ {
		emails = append(emails, fmt.Sprintf("reader%02d@example.org", 24-i))
	}
	id := e.newDigest(t, emails...)
	var got []string
	after := ""
	for page := 0; ; page++ {
		list, err := e.st.PendingDeliveries(e.ctx, id, after, 10, 10)
		ok(t, err)
		if len(list) == 0 {
			break
		}
		if page > 3 || len(list) > 10 {
			t.Fatalf("page %d has %d deliveries", page, len(list))
		}
		for _, d := range list {
			got = append(got, d.Key)
		}
		after = list[len(list)-1].Key
	}
	want := append([]string(nil), emails...)
	sort.Strings(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("pages = %v, want every reader once, in key order", got)
	}
}

func testOutcomes(t *testing.T, e *env) {
	id := e.newDigest(t, "ada@example.org", "bob@example.org", "cy@example.org", "dee@example.org")
	ok(t, e.st.RecordOutcomes(e.ctx, id, nil))
	ok(t, e.st.RecordOutcomes(e.ctx, id, []syndicate.Outcome{
		{Key: "ada@example.org", State: syndicate.DeliverySent, Reply: "250 2.0.0 Ok: queued"},
		{Key: "bob@example.org", State: syndicate.DeliveryTemp, Reply: "451 4.7.1 Try again later"},
		{Key: "cy@example.org", State: syndicate.DeliveryFailed, Reply: "550 5.1.1 No such user"},
	}))
	if got, want := e.pendingKeys(t, id, 3), []string{"bob@example.org", "dee@example.org"}; !reflect.DeepEqual(got, want) {
		t.Errorf("pending = %v, want %v (the temporary failure and the untried)", got, want)
	}
	list, err := e.st.PendingDeliveries(e.ctx, id, "", 3, 10)
	ok(t, err)
	if list[0].State != syndicate.DeliveryTemp || list[0].Attempts != 1 || list[1].Attempts != 0 {
		t.Errorf("PendingDeliveries = %+v, want bob temp after 1 attempt, dee untried", list)
	}
	// Two more temporary failures reach three attempts: bob is no longer
	// pending for a limit of three, still for a limit of four.
	for i := 0; i < 2; i++ {
		ok(t, e.st.RecordOutcomes(e.ctx, id, []syndicate.Outcome{{Key: "bob@example.org", State: syndicate.DeliveryTemp, Reply: "451"}}))
	}
	if got, want := e.pendingKeys(t, id, 3), []string{"dee@example.org"}; !reflect.DeepEqual(got, want) {
		t.Errorf("pending (3 attempts) = %v, want %v", got, want)
	}
	if got, want := e.pendingKeys(t, id, 4), []string{"bob@example.org", "dee@example.org"}; !reflect.DeepEqual(got, want) {
		t.Errorf("pending (4 attempts) = %v, want %v", got, want)
	}
	d, found, err := e.st.LastDigest(e.ctx)
	ok(t, err)
	if !found || d.ID != id || d.Sent != 1 || d.Failed != 1 || d.Pending != 2 || d.Articles != 1 {
		t.Errorf("LastDigest = %+v, want 1 sent, 1 failed, 2 pending (temp or untried)", d)
	}
	// An outcome for an address not in the digest changes nothing.
	ok(t, e.st.RecordOutcomes(e.ctx, id, []syndicate.Outcome{{Key: "stranger@example.org", State: syndicate.DeliverySent}}))
	if d, _, _ := e.st.LastDigest(e.ctx); d.Sent != 1 {
		t.Errorf("Sent = %d after an outcome for a stranger", d.Sent)
	}
}

func testLateUnsubscribe(t *testing.T, e *env) {
	id := e.newDigest(t, "ada@example.org", "bob@example.org")
	ok(t, e.st.Unsubscribe(e.ctx, "BOB@example.org"))
	if got, want := e.pendingKeys(t, id, 10), []string{"ada@example.org"}; !reflect.DeepEqual(got, want) {
		t.Errorf("pending = %v, want %v (bob unsubscribed while the digest was sent)", got, want)
	}
}

func testDoneDigestHasNonePending(t *testing.T, e *env) {
	id := e.newDigest(t, "ada@example.org", "bob@example.org")
	ok(t, e.st.RecordOutcomes(e.ctx, id, []syndicate.Outcome{{Key: "ada@example.org", State: syndicate.DeliverySent}}))
	ok(t, e.st.Unsubscribe(e.ctx, "bob@example.org"))
	// The job finds no one left and finishes the digest.
	if n, err := e.st.CountPending(e.ctx, id, 10); err != nil || n != 0 {
		t.Fatalf("CountPending = %d, %v; want 0", n, err)
	}
	ok(t, e.st.FinishDigest(e.ctx, id))
	d, _, err := e.st.LastDigest(e.ctx)
	ok(t, err)
	if d.State != syndicate.DigestDone || d.Sent != 1 || d.Pending != 0 {
		t.Errorf("LastDigest = %+v, want done with 1 sent and none pending", d)
	}
}

func testGiveUp(t *testing.T, e *env) {
	id := e.newDigest(t, "ada@example.org", "bob@example.org", "cy@example.org")
	for i := 0; i < 3; i++ {
		ok(t, e.st.RecordOutcomes(e.ctx, id, []syndicate.Outcome{{Key: "ada@example.org", State: syndicate.DeliveryTemp, Reply: "451 busy"}}))
	}
	ok(t, e.st.RecordOutcomes(e.ctx, id, []syndicate.Outcome{{Key: "bob@example.org", State: syndicate.DeliveryTemp, Reply: "451 busy"}}))
	n, err := e.st.GiveUp(e.ctx, id, 3)
	ok(t, err)
	if n != 1 {
		t.Errorf("GiveUp = %d, want 1 (ada, after 3 attempts)", n)
	}
	if got, want := e.pendingKeys(t, id, 3), []string{"bob@example.org", "cy@example.org"}; !reflect.DeepEqual(got, want) {
		t.Errorf("pending = %v, want %v", got, want)
	}
	d, _, err := e.st.LastDigest(e.ctx)
	ok(t, err)
	if d.Failed != 1 || d.Pending != 2 {
		t.Errorf("LastDigest = %+v, want 1 failed, 2 pending", d)
	}
	if n, err := e.st.GiveUp(e.ctx, id, 3); err != nil || n != 0 {
		t.Errorf("GiveUp again = %d, %v; want 0", n, err)
	}
}

func testRetryFailed(t *testing.T, e *env) {
	id := e.newDigest(t, "ada@example.org", "bob@example.org", "cy@example.org")
	if n, err := e.st.RetryFailed(e.ctx, id); err != nil || n != 0 {
		t.Errorf("RetryFailed with none failed = %d, %v", n, err)
	}
	ok(t, e.st.RecordOutcomes(e.ctx, id, []syndicate.Outcome{
		{Key: "ada@example.org", State: syndicate.DeliveryFailed, Reply: "550 no such user"},
		{Key: "bob@example.org", State: syndicate.DeliverySent},
		{Key: "cy@example.org", State: syndicate.DeliveryFailed, Reply: "554 refused"},
	}))
	ok(t, e.st.FinishDigest(e.ctx, id))
	if _, open, _ := e.st.OpenDigest(e.ctx); open {
		t.Fatal("a done digest is open")
	}
	n, err := e.st.RetryFailed(e.ctx, id)
	ok(t, err)
	if n != 2 {
		t.Errorf("RetryFailed = %d, want 2", n)
	}
	d, open, err := e.st.OpenDigest(e.ctx)
	ok(t, err)
	if !open || d.ID != id || d.State != syndicate.DigestSending {
		t.Errorf("OpenDigest = %+v, %v; want the digest sending again", d, open)
	}
	list, err := e.st.PendingDeliveries(e.ctx, id, "", 10, 10)
	ok(t, err)
	if len(list) != 2 || list[0].Key != "ada@example.org" || list[0].State != syndicate.DeliveryPending || list[0].Attempts != 0 || list[1].Key != "cy@example.org" {
		t.Errorf("PendingDeliveries = %+v, want ada and cy pending with no attempts", list)
	}
}

func testDigestStates(t *testing.T, e *env) {
	id, err := e.st.CreateDigest(e.ctx, items("wind"), nil)
	ok(t, err)
	created := e.clock.Now()
	ok(t, e.st.StartDigest(e.ctx, id))
	d, open, err := e.st.OpenDigest(e.ctx)
	ok(t, err)
	if !open || d.State != syndicate.DigestSending {
		t.Errorf("after StartDigest: %+v, %v", d, open)
	}
	e.clock.Advance(time.Hour)
	ok(t, e.st.FinishDigest(e.ctx, id))
	if _, open, err := e.st.OpenDigest(e.ctx); err != nil || open {
		t.Errorf("OpenDigest after FinishDigest = %v, %v", open, err)
	}
	d, found, err := e.st.LastDigest(e.ctx)
	ok(t, err)
	if !found || d.ID != id || d.State != syndicate.DigestDone {
		t.Errorf("LastDigest = %+v, %v", d, found)
	}
	sameTime(t, "CreatedAt", d.CreatedAt, created)
	sameTime(t, "CompletedAt", d.CompletedAt, e.clock.Now())
}

func testDigestsNewestFirst(t *testing.T, e *env) {
	var ids []int64
	for _, a := range []string{"a", "b", "c"} {
		id, err := e.st.CreateDigest(e.ctx, items(a), nil)
		ok(t, err)
		ok(t, e.st.StartDigest(e.ctx, id))
		ok(t, e.st.FinishDigest(e.ctx, id))
		ids = append(ids, id)
		e.clock.Advance(24 * time.Hour)
	}
	list, err := e.st.Digests(e.ctx, 2)
	ok(t, err)
	if len(list) != 2 || list[0].ID != ids[2] || list[1].ID != ids[1] {
		t.Errorf("Digests(2) = %+v, want digests %d and %d", list, ids[2], ids[1])
	}
	if d, _, _ := e.st.LastDigest(e.ctx); d.ID != ids[2] {
		t.Errorf("LastDigest = %d, want %d", d.ID, ids[2])
	}
	// The oldest open digest is resumed first.
	first, err := e.st.CreateDigest(e.ctx, items("d"), nil)
	ok(t, err)
	_, err = e.st.CreateDigest(e.ctx, items("e"), nil)
	ok(t, err)
	if d, _, _ := e.st.OpenDigest(e.ctx); d.ID != first {
		t.Errorf("OpenDigest = %d, want the older open digest %d", d.ID, first)
	}
}

func testSecret(t *testing.T, e *env) {
	a, err := e.st.Secret(e.ctx, "unsubscribe")
	ok(t, err)
	if len(a) != 32 || bytes.Equal(a, make([]byte, 32)) {
		t.Fatalf("Secret = %x, want 32 random bytes", a)
	}
	again, err := e.st.Secret(e.ctx, "unsubscribe")
	ok(t, err)
	if !bytes.Equal(a, again) {
		t.Errorf("Secret changed: %x then %x", a, again)
	}
	other, err := e.st.Secret(e.ctx, "message-id")
	ok(t, err)
	if bytes.Equal(a, other) {
		t.Error("two secrets are the same")
	}
}

func testServerInfo(t *testing.T, e *env) {
	server := "https://example.social"
	info := syndicate.ServerInfo{Limits: syndicate.DefaultLimits(), SeenAt: e.clock.Now()}
	info.Software, info.Version, info.ImageTypes = "mastodon", "4.3.0", []string{"image/png"}
	ok(t, e.st.RememberServer(e.ctx, server, info))
	got, found, err := e.st.ServerInfo(e.ctx, server)
	ok(t, err)
	if !found || !reflect.DeepEqual(got.Limits, info.Limits) || !got.SeenAt.Equal(info.SeenAt) {
		t.Errorf("ServerInfo = %+v, %v; want %+v", got, found, info)
	}
	info.MaxCharacters, info.Counting = 5000, "gotosocial"
	ok(t, e.st.RememberServer(e.ctx, server, info))
	if got, _, _ := e.st.ServerInfo(e.ctx, server); got.MaxCharacters != 5000 || got.Counting != "gotosocial" {
		t.Errorf("after a second run: %+v", got)
	}
	if _, found, err := e.st.ServerInfo(e.ctx, "https://other.example"); err != nil || found {
		t.Errorf("another server = %v, %v", found, err)
	}
}

func testUnsubscribe(t *testing.T, e *env) {
	ok(t, e.st.Unsubscribe(e.ctx, " Ada@Example.org "))
	ok(t, e.st.Unsubscribe(e.ctx, "ada@example.org")) // twice: no error
	ok(t, e.st.Unsubscribe(e.ctx, "bob@example.org"))
	got, err := e.st.Unsubscribed(e.ctx)
	ok(t, err)
	if want := map[string]bool{"ada@example.org": true, "bob@example.org": true}; !reflect.DeepEqual(got, want) {
		t.Errorf("Unsubscribed = %v, want %v", got, want)
	}
}
