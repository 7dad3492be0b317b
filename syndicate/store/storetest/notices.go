package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate"
)

// Notices: what the next digest says of articles sent before (a
// correction, a retraction), recorded by PlanEdit and carried by exactly
// one digest, marked in the transaction that makes it.

// noticed records a notice as the post job does: with an edit plan of a
// thread made.
func (e *env) noticed(t *testing.T, n syndicate.Notice) {
	t.Helper()
	plan := syndicate.EditPlan{Hash: "h-" + n.Text, Notices: []syndicate.Notice{n}}
	if n.Kind == syndicate.NoticeRetraction {
		plan.Retract = true
	}
	ok(t, e.st.PlanEdit(e.ctx, mastodon, n.ArticleID, plan))
}

func correction(id, text string) syndicate.Notice {
	return syndicate.Notice{ArticleID: id, Kind: syndicate.NoticeCorrection, Title: "Title of " + id, URL: "https://news.example.org/" + id, Text: text}
}

func retraction(id string) syndicate.Notice {
	return syndicate.Notice{ArticleID: id, Kind: syndicate.NoticeRetraction, Title: "Title of " + id}
}

// bare is a notice without its time, to compare.
func bare(list []syndicate.Notice) []syndicate.Notice {
	out := make([]syndicate.Notice, len(list))
	for i, n := range list {
		n.At = time.Time{}
		out[i] = n
	}
	return out
}

func testNoticesCarriedOnce(t *testing.T, e *env) {
	if got, err := e.st.PendingNotices(e.ctx, 10); err != nil || len(got) != 0 {
		t.Fatalf("PendingNotices of an empty state = %v, %v", got, err)
	}
	e.posted(t, "wind", 2)
	e.posted(t, "library", 2)
	hostile := correction("wind", "<script>alert(1)</script>\r\nBcc: x@example.org — 6.2 million, not 8.2")
	e.noticed(t, hostile)
	at := e.clock.Now()
	e.clock.Advance(time.Minute)
	e.noticed(t, retraction("library"))
	e.clock.Advance(time.Minute)
	// The same correction again (the other network's plan, a plan made
	// anew): one notice, as it was first recorded.
	ok(t, e.st.PlanThread(e.ctx, bluesky, "wind", "h-1", plan(1, "sky")))
	ok(t, e.st.PlanEdit(e.ctx, bluesky, "wind", syndicate.EditPlan{Hash: "h-x", Notices: []syndicate.Notice{hostile}}))
	ok(t, e.st.PlanEdit(e.ctx, mastodon, "wind", syndicate.EditPlan{Hash: "h-y", Notices: []syndicate.Notice{hostile}}))

	pending, err := e.st.PendingNotices(e.ctx, 10)
	ok(t, err)
	want := []syndicate.Notice{hostile, retraction("library")}
	if !reflect.DeepEqual(bare(pending), want) {
		t.Fatalf("PendingNotices =\n%+v\nwant, oldest first and the text as it was\n%+v", pending, want)
	}
	sameTime(t, "At", pending[0].At, at)
	if got, err := e.st.PendingNotices(e.ctx, 1); err != nil || len(got) != 1 || got[0].ArticleID != "wind" {
		t.Errorf("PendingNotices(1) = %+v, %v; want the oldest alone", got, err)
	}

	// A digest of corrections alone carries them: marked in its creation.
	rec, created, err := e.st.CreateDigestFor(e.ctx, "tick:monday", nil, nil, pending)
	ok(t, err)
	if !created {
		t.Fatal("a digest of notices alone was not made")
	}
	got, err := e.st.DigestNotices(e.ctx, rec.ID)
	ok(t, err)
	if !reflect.DeepEqual(got, pending) {
		t.Errorf("DigestNotices =\n%+v\nwant\n%+v", got, pending)
	}
	if got, err := e.st.PendingNotices(e.ctx, 10); err != nil || len(got) != 0 {
		t.Errorf("PendingNotices after the digest = %+v, %v; want none", got, err)
	}
	// Carried once: a second digest with the same notices writes nothing.
	digests, err := e.st.Digests(e.ctx, 10)
	ok(t, err)
	if _, _, err := e.st.CreateDigestFor(e.ctx, "", items("auction"), nil, pending[1:]); !errors.Is(err, syndicate.ErrChanged) {
		t.Errorf("CreateDigestFor of a notice carried already = %v, want syndicate.ErrChanged", err)
	}
	after, err := e.st.Digests(e.ctx, 10)
	ok(t, err)
	if len(after) != len(digests) {
		t.Errorf("a refused digest was made: %d digests, want %d", len(after), len(digests))
	}
	if done, _ := e.st.DigestedArticles(e.ctx); done["auction"] {
		t.Error("the refused digest's article counts as mailed")
	}
	// A new notice waits for the next digest; the one carried stays with
	// its digest.
	e.clock.Advance(time.Minute)
	next := correction("wind", "And the site is Dogger Bank.")
	e.noticed(t, next)
	if got, err := e.st.PendingNotices(e.ctx, 10); err != nil || !reflect.DeepEqual(bare(got), []syndicate.Notice{next}) {
		t.Errorf("PendingNotices = %+v, %v; want the new one alone", got, err)
	}
	if got, _ := e.st.DigestNotices(e.ctx, rec.ID); len(got) != 2 {
		t.Errorf("the first digest's notices changed: %+v", got)
	}
	rec2, _, err := e.st.CreateDigestFor(e.ctx, "", items("auction"), nil, []syndicate.Notice{next})
	ok(t, err)
	if got, _ := e.st.DigestNotices(e.ctx, rec2.ID); !reflect.DeepEqual(bare(got), []syndicate.Notice{next}) {
		t.Errorf("DigestNotices of the second digest = %+v", got)
	}
	if got, _ := e.st.DigestNotices(e.ctx, rec2.ID+1); len(got) != 0 {
		t.Errorf("DigestNotices of no digest = %+v", got)
	}
}

// Replicas making digests at once: each notice goes into one of them.
func testNoticesConcurrentCreators(t *testing.T, e *env) {
	e.posted(t, "wind", 1)
	n := correction("wind", "The figure is 12.")
	e.noticed(t, n)
	pending, err := e.st.PendingNotices(e.ctx, 10)
	ok(t, err)
	const creators = 6
	var wg sync.WaitGroup
	recs, errs := make([]syndicate.DigestRecord, creators), make([]error, creators)
	for i := range creators {
		wg.Add(1)
		go func() {
			defer wg.Done()
			recs[i], _, errs[i] = e.st.CreateDigestFor(e.ctx, "", items(fmt.Sprintf("own-%d", i)), nil, pending)
		}()
	}
	wg.Wait()
	carried := 0
	for i := range creators {
		switch {
		case errs[i] == nil:
			carried++
			if got, _ := e.st.DigestNotices(e.ctx, recs[i].ID); len(got) != 1 {
				t.Errorf("creator %d's digest carries %+v", i, got)
			}
		case !errors.Is(errs[i], syndicate.ErrChanged):
			t.Errorf("creator %d: %v, want syndicate.ErrChanged", i, errs[i])
		}
	}
	if carried != 1 {
		t.Errorf("%d digests carry the correction, want 1", carried)
	}
	// Those refused made nothing: their articles are free for the next.
	done, err := e.st.DigestedArticles(e.ctx)
	ok(t, err)
	if len(done) != 1 {
		t.Errorf("DigestedArticles = %v, want the one digest's article", done)
	}
}
