package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate"
)

// The change of a thread already made (store/edits.go): planned at once,
// applied one change at a time, each once.

// posted makes a thread of n posts on Mastodon, every post made.
func (e *env) posted(t *testing.T, id string, n int) {
	t.Helper()
	ok(t, e.st.PlanThread(e.ctx, mastodon, id, "h-1", plan(n, "old")))
	for i := 0; i < n; i++ {
		ok(t, e.st.MarkAttempt(e.ctx, mastodon, id, i))
		ok(t, e.st.RecordPost(e.ctx, mastodon, id, i, syndicate.Status{ID: fmt.Sprint(100 + i), URL: fmt.Sprintf("https://example.social/@bot/%d", 100+i)}))
	}
	ok(t, e.st.FinishArticle(e.ctx, mastodon, id))
}

func testPlanEdit(t *testing.T, e *env) {
	e.posted(t, "wind", 3)
	e.clock.Advance(time.Minute)
	edited := plan(3, "new")
	ok(t, e.st.PlanEdit(e.ctx, mastodon, "wind", syndicate.EditPlan{
		Hash: "h-2",
		Changes: []syndicate.PlannedChange{
			{Index: 1, Kind: syndicate.ChangeEdit, Post: edited[1]},
			{Index: 2, Kind: syndicate.ChangeDelete},
		},
		Posts: []syndicate.PlannedPost{{Text: "Correction: the figure is 12.", Visibility: "unlisted", Language: "en", Kind: syndicate.PostCorrection, Note: "the figure is 12"}},
	}))
	r := e.record(t, "wind")
	if r.State != syndicate.StateEditing || r.Hash != "h-2" || r.Changes != 2 {
		t.Errorf("record = %+v, want editing at h-2 with 2 changes", r)
	}
	// Deletes from the end back first, then edits in thread order.
	changes, err := e.st.PlannedChanges(e.ctx, mastodon, "wind")
	ok(t, err)
	var got []string
	for _, c := range changes {
		got = append(got, fmt.Sprintf("%s:%d", c.Kind, c.Index))
	}
	if want := []string{"delete:2", "edit:1"}; !slices.Equal(got, want) {
		t.Errorf("PlannedChanges = %v, want %v", got, want)
	}
	if changes[1].Post.Text != "new post 2" || changes[1].Post.Visibility != "unlisted" {
		t.Errorf("the edit carries %+v, want the new text and the post's visibility", changes[1].Post)
	}
	// The correction reply follows the thread's last post.
	posts := e.posts(t, "wind")
	if len(posts) != 4 || posts[3].Kind != syndicate.PostCorrection || posts[3].Note != "the figure is 12" || posts[3].StatusID != "" {
		t.Fatalf("posts = %+v, want the thread and one correction to send", posts)
	}

	for _, c := range changes {
		ok(t, e.st.ApplyChange(e.ctx, mastodon, "wind", c))
	}
	// Applied again (a crash between the request and the record): the
	// same outcome.
	ok(t, e.st.ApplyChange(e.ctx, mastodon, "wind", changes[1]))
	changes, err = e.st.PlannedChanges(e.ctx, mastodon, "wind")
	ok(t, err)
	if len(changes) != 0 {
		t.Errorf("PlannedChanges after applying = %+v, want none", changes)
	}
	posts = e.posts(t, "wind")
	if posts[1].Text != "new post 2" {
		t.Errorf("post 2 = %q, want its new text", posts[1].Text)
	}
	sameTime(t, "post 2 EditedAt", posts[1].EditedAt, e.clock.Now())
	sameTime(t, "post 3 DeletedAt", posts[2].DeletedAt, e.clock.Now())
	if !posts[0].EditedAt.IsZero() || !posts[0].DeletedAt.IsZero() {
		t.Errorf("the head post, unchanged, = %+v", posts[0])
	}
	r = e.record(t, "wind")
	sameTime(t, "EditedAt", r.EditedAt, e.clock.Now())
	if r.Changes != 0 {
		t.Errorf("record Changes = %d, want 0", r.Changes)
	}
	ok(t, e.st.RecordPost(e.ctx, mastodon, "wind", 3, syndicate.Status{ID: "200", URL: "https://example.social/@bot/200"}))
	ok(t, e.st.FinishArticle(e.ctx, mastodon, "wind"))
	if r := e.record(t, "wind"); r.State != syndicate.StatePosted {
		t.Errorf("record after the edit = %+v, want posted", r)
	}
}

func testCorrectInstead(t *testing.T, e *env) {
	e.posted(t, "wind", 2)
	edited := plan(2, "new")
	ok(t, e.st.PlanEdit(e.ctx, mastodon, "wind", syndicate.EditPlan{Hash: "h-2",
		Changes: []syndicate.PlannedChange{{Index: 1, Kind: syndicate.ChangeEdit, Post: edited[1]}}}))
	// The server cannot edit: a correction reply instead, and the post
	// counts as changed so that it is not corrected again.
	ok(t, e.st.CorrectInstead(e.ctx, mastodon, "wind", 1, []syndicate.PlannedPost{
		{Text: "Correction: new post 2", Visibility: "unlisted", Language: "en", Kind: syndicate.PostCorrection}}))
	changes, err := e.st.PlannedChanges(e.ctx, mastodon, "wind")
	ok(t, err)
	if len(changes) != 0 {
		t.Errorf("PlannedChanges = %+v, want none", changes)
	}
	posts := e.posts(t, "wind")
	if len(posts) != 3 || posts[1].Text != "new post 2" || !posts[1].EditedAt.IsZero() || posts[2].Text != "Correction: new post 2" {
		t.Errorf("posts = %+v, want post 2 recorded as its new text (not edited) and a correction after", posts)
	}
	if err := e.st.CorrectInstead(e.ctx, mastodon, "wind", 1, nil); err == nil {
		t.Error("CorrectInstead of a change no longer planned: no error")
	}
}

func testRetraction(t *testing.T, e *env) {
	e.posted(t, "wind", 2)
	ok(t, e.st.PlanEdit(e.ctx, mastodon, "wind", syndicate.EditPlan{Hash: "h-1", Retract: true,
		Changes: []syndicate.PlannedChange{{Index: 0, Kind: syndicate.ChangeDelete}, {Index: 1, Kind: syndicate.ChangeDelete}},
		Notices: []syndicate.Notice{{ArticleID: "wind", Kind: syndicate.NoticeRetraction, Title: "Wind"}}}))
	if r := e.record(t, "wind"); r.State != syndicate.StateRetracting || r.Changes != 2 {
		t.Errorf("record = %+v, want retracting with 2 deletes", r)
	}
	changes, err := e.st.PlannedChanges(e.ctx, mastodon, "wind")
	ok(t, err)
	if len(changes) != 2 || changes[0].Index != 1 || changes[1].Index != 0 {
		t.Fatalf("PlannedChanges = %+v, want the reply deleted before the head", changes)
	}
	for _, c := range changes {
		ok(t, e.st.ApplyChange(e.ctx, mastodon, "wind", c))
	}
	e.clock.Advance(time.Second)
	ok(t, e.st.FinishArticle(e.ctx, mastodon, "wind"))
	r := e.record(t, "wind")
	if r.State != syndicate.StateRetracted {
		t.Errorf("record = %+v, want retracted", r)
	}
	sameTime(t, "RetractedAt", r.RetractedAt, e.clock.Now())
	// A second plan for the same retraction keeps one notice (the
	// primary key); it must not fail.
	ok(t, e.st.PlanEdit(e.ctx, mastodon, "wind", syndicate.EditPlan{Hash: "h-1", Retract: true,
		Notices: []syndicate.Notice{{ArticleID: "wind", Kind: syndicate.NoticeRetraction, Title: "Wind"}}}))
}

func testUpdateHash(t *testing.T, e *env) {
	e.posted(t, "wind", 1)
	ok(t, e.st.UpdateHash(e.ctx, mastodon, "wind", "h-2"))
	if r := e.record(t, "wind"); r.Hash != "h-2" || r.State != syndicate.StatePosted {
		t.Errorf("record = %+v, want posted at h-2", r)
	}
	if err := e.st.PlanEdit(e.ctx, mastodon, "nothing", syndicate.EditPlan{Hash: "h"}); err == nil {
		t.Error("PlanEdit of an article with no thread: no error")
	}
}
