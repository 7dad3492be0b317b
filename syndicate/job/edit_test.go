package job_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/job"
	"github.com/syndicate-bot/syndicate/syndicate/mastodon/mastotest"
)

// edited is a copy of a with other key points (and so another hash).
func edited(a *syndicate.Article, points ...string) *syndicate.Article {
	c := *a
	c.KeyPoints = points
	c.Hash = a.Hash + "+" + strings.Join(points, "|")
	return &c
}

// texts are the server's statuses' texts, in the order they were made,
// of those still there.
func (e *postEnv) chain(t *testing.T) []string {
	t.Helper()
	threads := e.threads(t)
	if len(threads) != 1 {
		t.Fatalf("%d threads, want 1: %q", len(threads), threads)
	}
	return threads[0]
}

// noRequest checks that a run of the articles makes no request at all.
func (e *postEnv) noRequest(t *testing.T, articles ...*syndicate.Article) {
	t.Helper()
	before := e.srv.Requests()
	rep := e.post(t, articles...)
	if got := e.srv.Requests() - before; got != 0 || rep.Posts != 0 || rep.Edits != 0 || rep.Deletes != 0 {
		t.Errorf("a run with nothing changed made %d requests: %+v", got, rep)
	}
}

func TestEdit_ChangedKeyPointIsEditedInPlace(t *testing.T) {
	e := newPostEnv(t)
	a := article("wind", epoch.Add(-time.Hour), "Turbines rise.", "Prices fall.", "Jobs grow.")
	e.post(t, a)
	before := e.srv.Statuses()
	b := edited(a, "Turbines rise.", "Prices fall by a third.", "Jobs grow.")
	rep := e.post(t, b)
	if rep.Edits != 1 || rep.Posts != 0 || fmt.Sprint(rep.Edited) != "[wind]" {
		t.Fatalf("report %+v", rep)
	}
	got := e.chain(t)
	if want := "Prices fall by a third.\n\n3/4"; got[2] != want {
		t.Errorf("post 3 = %q, want %q", got[2], want)
	}
	h := e.srv.History(before[2].ID)
	if len(h) != 1 || h[0].Text != "Prices fall.\n\n3/4" {
		t.Errorf("history of the edited status: %+v", h)
	}
	for _, i := range []int{0, 1, 3} {
		if len(e.srv.History(before[i].ID)) != 0 {
			t.Errorf("post %d was edited, though it did not change", i+1)
		}
	}
	e.noRequest(t, b)
	recs, _ := e.st.ArticleRecords(context.Background(), syndicate.NetworkMastodon)
	if r := recs["wind"]; r.State != syndicate.StatePosted || r.EditedAt.IsZero() || r.Hash != b.Hash {
		t.Errorf("record %+v", r)
	}
}

func TestEdit_AddedKeyPointIsAppended(t *testing.T) {
	e := newPostEnv(t)
	a := article("wind", epoch.Add(-time.Hour), "One.", "Two.")
	e.post(t, a)
	b := edited(a, "One.", "Two.", "Three.")
	rep := e.post(t, b)
	// 1/3 → 1/4 everywhere: every post is edited, one is added.
	if rep.Edits != 3 || rep.Posts != 1 {
		t.Fatalf("report %+v", rep)
	}
	want := []string{"Headline of wind\n\nhttps://news.example/wind\n\n1/4", "One.\n\n2/4", "Two.\n\n3/4", "Three.\n\n4/4"}
	if got := e.chain(t); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("thread %q, want %q", got, want)
	}
	e.noRequest(t, b)
}

func TestEdit_RemovedKeyPointIsDeleted(t *testing.T) {
	e := newPostEnv(t)
	a := article("wind", epoch.Add(-time.Hour), "One.", "Two.", "Three.")
	e.post(t, a)
	last := e.srv.Statuses()[3]
	b := edited(a, "One.", "Three.")
	rep := e.post(t, b)
	if rep.Deletes != 1 || rep.Edits != 3 || rep.Posts != 0 {
		t.Fatalf("report %+v", rep)
	}
	want := []string{"Headline of wind\n\nhttps://news.example/wind\n\n1/3", "One.\n\n2/3", "Three.\n\n3/3"}
	if got := e.chain(t); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("thread %q, want %q", got, want)
	}
	if d := e.srv.Deleted(); len(d) != 1 || d[0].ID != last.ID {
		t.Errorf("deleted %+v, want the last post", d)
	}
	e.noRequest(t, b)
}

func TestEdit_NoPostChangedMakesNoRequest(t *testing.T) {
	e := newPostEnv(t)
	a := article("wind", epoch.Add(-time.Hour), "One.", "Two.")
	e.post(t, a)
	// A whitespace or front-matter change: another hash, the same posts.
	b := *a
	b.Hash, b.Tags = "hash-whitespace", nil
	b.Body = []string{"A paragraph the thread does not show."}
	e.noRequest(t, &b)
	recs, _ := e.st.ArticleRecords(context.Background(), syndicate.NetworkMastodon)
	if r := recs["wind"]; r.State != syndicate.StatePosted || r.Hash != b.Hash || !r.EditedAt.IsZero() {
		t.Errorf("record %+v: want posted under the new hash, never edited", r)
	}
}

func TestEdit_CorrectionIsRepliedOncePerText(t *testing.T) {
	e := newPostEnv(t)
	a := article("wind", epoch.Add(-time.Hour), "One.", "Two.")
	e.post(t, a)
	b := *a
	b.Hash, b.Correction = "hash-c1", "The auction is in May, not June."
	rep := e.post(t, &b)
	if rep.Posts != 1 || rep.Corrections != 1 || rep.Edits != 0 {
		t.Fatalf("report %+v", rep)
	}
	got := e.chain(t)
	if last := got[len(got)-1]; last != "Correction: The auction is in May, not June." {
		t.Errorf("last post %q", last)
	}
	e.noRequest(t, &b)
	// The same text in a file changed otherwise: not again.
	c := b
	c.Hash = "hash-c1-again"
	e.noRequest(t, &c)
	// Another text: another reply, after the first (the chain never forks).
	d := b
	d.Hash, d.Correction = "hash-c2", "And the site is Dogger Bank."
	if rep := e.post(t, &d); rep.Corrections != 1 {
		t.Fatalf("report %+v", rep)
	}
	if got := e.chain(t); len(got) != 5 || got[4] != "Correction: And the site is Dogger Bank." {
		t.Errorf("thread %q", got)
	}
	// A key point added after the corrections goes at the end too.
	f := *edited(&d, "One.", "Two.", "Three.")
	f.Correction = d.Correction
	e.post(t, &f)
	if got := e.chain(t); len(got) != 6 || got[5] != "Three.\n\n4/4" {
		t.Errorf("thread %q", got)
	}
	// Removing it again: it is the end of the chain, deleted.
	g := *edited(&f, "One.", "Two.")
	g.Correction = d.Correction
	if rep := e.post(t, &g); rep.Deletes != 1 {
		t.Errorf("report %+v", rep)
	}
	// Removing a key point before the corrections: edited to "(removed)",
	// so the chain holds.
	h := *edited(&g, "One.")
	h.Correction = d.Correction
	if rep := e.post(t, &h); rep.Deletes != 0 || rep.Edits != 3 {
		t.Errorf("report %+v", rep)
	}
	want := []string{"Headline of wind\n\nhttps://news.example/wind\n\n1/2", "One.\n\n2/2", "(removed)",
		"Correction: The auction is in May, not June.", "Correction: And the site is Dogger Bank."}
	if got := e.chain(t); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("thread %q, want %q", got, want)
	}
	e.noRequest(t, &h)
}

func TestEdit_RetractionDeletesTheThread(t *testing.T) {
	e := newPostEnv(t)
	a := article("wind", epoch.Add(-time.Hour), "One.", "Two.")
	other := article("tide", epoch.Add(-2*time.Hour), "Tides.")
	e.post(t, a, other)
	b := *a
	b.Hash, b.Retracted = "hash-r", true
	rep := e.post(t, &b, other)
	if rep.Deletes != 3 || fmt.Sprint(rep.Retracted) != "[wind]" {
		t.Fatalf("report %+v", rep)
	}
	if got := e.chain(t); fmt.Sprint(got) != fmt.Sprint([]string{"Headline of tide\n\nhttps://news.example/tide\n\n1/2", "Tides.\n\n2/2"}) {
		t.Errorf("left %q", got)
	}
	// Deleted from the end back: a reply never outlives its parent.
	d := e.srv.Deleted()
	if len(d) != 3 || d[0].Text != "Two.\n\n3/3" || d[2].InReplyToID != "" {
		t.Errorf("deleted %+v", d)
	}
	e.noRequest(t, &b, other)
	// The flag taken back: never posted again.
	c := *a
	c.Hash = "hash-unretracted"
	e.noRequest(t, &c, other)
	recs, _ := e.st.ArticleRecords(context.Background(), syndicate.NetworkMastodon)
	if r := recs["wind"]; r.State != syndicate.StateRetracted || r.RetractedAt.IsZero() {
		t.Errorf("record %+v", r)
	}
	// An article retracted before it went out is never posted.
	never := article("never", epoch.Add(-time.Hour), "Gone.")
	never.Retracted = true
	e.noRequest(t, never)
}

func TestEdit_HalfPostedThreadRetractedIsDeleted(t *testing.T) {
	e := newPostEnv(t)
	a := article("wind", epoch.Add(-time.Hour), "One.", "Two.")
	e.srv.Set(func(s *mastotest.Settings) { s.MaxCharacters = 60 })
	e.d.Options.MaxCharacters = 500 // posts longer than the server takes: the head goes, a reply is refused
	b := edited(a, "One.", strings.Repeat("Long ", 20))
	if rep := e.post(t, b); len(rep.Failed) != 1 {
		t.Fatalf("report %+v", rep)
	}
	made := len(e.srv.Statuses())
	if made == 0 {
		t.Fatal("nothing made")
	}
	c := *b
	c.Hash, c.Retracted = "hash-r", true
	if rep := e.post(t, &c); rep.Deletes != made {
		t.Fatalf("report %+v, want %d deletes", rep, made)
	}
	if n := len(e.srv.Statuses()); n != 0 {
		t.Errorf("%d statuses left", n)
	}
}

func TestEdit_RefusedEditFailsTheArticle(t *testing.T) {
	e := newPostEnv(t)
	a := article("wind", epoch.Add(-time.Hour), "One.", "Two.")
	e.post(t, a)
	e.d.Options.MaxCharacters = 2000 // the server takes 500
	b := edited(a, "One.", strings.Repeat("word ", 150))
	rep := e.post(t, b)
	if len(rep.Failed) != 1 || !strings.Contains(rep.Failed[0].Reason, "character limit") {
		t.Fatalf("report %+v", rep)
	}
	e.noRequest(t, b) // it waits for --retry or another edit
	e.d.Options.MaxCharacters = 0
	c := edited(a, "One.", "Two, shorter.")
	if rep := e.post(t, c); len(rep.Failed) != 0 || rep.Edits != 1 {
		t.Fatalf("report %+v", rep)
	}
	if got := e.chain(t); got[2] != "Two, shorter.\n\n3/3" {
		t.Errorf("thread %q", got)
	}
}

func TestEdit_StatusDeletedByHandFailsTheArticle(t *testing.T) {
	e := newPostEnv(t)
	a := article("wind", epoch.Add(-time.Hour), "One.", "Two.")
	e.post(t, a)
	sts := e.srv.Statuses()
	deleteStatus(t, e.srv, sts[2].ID)
	rep := e.post(t, edited(a, "One.", "Two, changed."))
	if len(rep.Failed) != 1 || !strings.Contains(rep.Failed[0].Reason, "deleted by hand") {
		t.Fatalf("report %+v", rep)
	}
}

// deleteStatus deletes a status as a person would, in the web app.
func deleteStatus(t *testing.T, srv *mastotest.Server, id string) {
	t.Helper()
	req, _ := newRequest("DELETE", srv.URL+"/api/v1/statuses/"+id)
	resp, err := srv.Client().Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("delete by hand: %v %v", resp, err)
	}
	resp.Body.Close()
}

func TestEdit_ServerWithoutEditsGetsCorrections(t *testing.T) {
	e := newPostEnv(t)
	a := article("wind", epoch.Add(-time.Hour), "One.", "Two.", "Three.")
	e.post(t, a)
	e.srv.Set(func(s *mastotest.Settings) { s.NoEdits = true })
	b := edited(a, "One, changed.", "Two.", "Three, changed.")
	rep := e.post(t, b)
	if rep.Edits != 0 || rep.Corrections != 2 {
		t.Fatalf("report %+v", rep)
	}
	got := e.chain(t)
	if len(got) != 6 || got[4] != "Correction: One, changed." || got[5] != "Correction: Three, changed." {
		t.Errorf("thread %q", got)
	}
	if n := strings.Count(e.log.String(), `msg="the server cannot edit posts`); n != 1 {
		t.Errorf("said %d times that the server cannot edit, want once:\n%s", n, e.log)
	}
	e.noRequest(t, b)
}

func TestEdit_ResumesAfterAStop(t *testing.T) {
	e := newPostEnv(t)
	a := article("wind", epoch.Add(-time.Hour), "One.", "Two.", "Three.")
	e.post(t, a)
	ctx, cancel := context.WithCancel(context.Background())
	edits := 0
	e.srv.OnEdit(func(mastotest.Status) {
		if edits++; edits == 2 {
			cancel()
		}
	})
	b := edited(a, "One.", "Two.", "Three.", "Four.", "Five.")
	if _, err := job.Post(ctx, e.d, []*syndicate.Article{b}); !errors.Is(err, job.ErrStopped) {
		t.Fatalf("err = %v, want stopped", err)
	}
	e.srv.OnEdit(nil)
	rep := e.post(t, b)
	if rep.Posts != 2 {
		t.Errorf("report %+v", rep)
	}
	want := []string{"Headline of wind\n\nhttps://news.example/wind\n\n1/6", "One.\n\n2/6", "Two.\n\n3/6", "Three.\n\n4/6", "Four.\n\n5/6", "Five.\n\n6/6"}
	if got := e.chain(t); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("thread %q, want %q", got, want)
	}
	for _, st := range e.srv.Statuses() {
		if st.Edits > 1 {
			t.Errorf("status %s edited %d times", st.ID, st.Edits)
		}
	}
	e.noRequest(t, b)
}

func TestEdit_VanishedFilesAreDeletedWithAGuard(t *testing.T) {
	e := newPostEnv(t)
	e.d.Options.DeleteVanished = true
	var all []*syndicate.Article
	for i := range 6 {
		all = append(all, article(fmt.Sprintf("a%d", i), epoch.Add(-time.Duration(10-i)*time.Hour), "Point."))
	}
	files := func(list []*syndicate.Article) []string {
		var out []string
		for _, a := range list {
			out = append(out, a.ID)
		}
		return out
	}
	e.d.Files = files(all)
	e.post(t, all...)
	// One file gone: its thread is deleted.
	e.d.Files = files(all[1:])
	if rep := e.post(t, all[1:]...); fmt.Sprint(rep.Retracted) != "[a0]" || rep.Deletes != 2 {
		t.Fatalf("report %+v", rep)
	}
	// A file that cannot be read is still there: nothing is deleted.
	e.d.Files = files(all[1:])
	e.noRequest(t, all[2:]...)
	// The folder emptied (or unmounted): refused, and said.
	e.d.Files = []string{}
	before := e.srv.Requests()
	rep := e.post(t)
	if rep.Refused == "" || len(rep.Retracted) != 0 || e.srv.Requests() != before {
		t.Errorf("report %+v", rep)
	}
	if !strings.Contains(e.log.String(), "NOT deleted") {
		t.Errorf("log:\n%s", e.log)
	}
	// Four of five gone at once: more than a few, refused.
	e.d.Files = files(all[5:])
	if rep := e.post(t, all[5:]...); rep.Refused == "" || rep.Deletes != 0 {
		t.Errorf("report %+v", rep)
	}
	// Without on_delete: delete, a file gone leaves its thread.
	e.d.Options.DeleteVanished = false
	e.d.Files = files(all[2:])
	e.noRequest(t, all[2:]...)
}

func newRequest(method, url string) (*http.Request, error) {
	req, err := http.NewRequest(method, url, nil)
	if err == nil {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req, err
}

func TestEdit_ServerWithoutEditsIgnoresNumbering(t *testing.T) {
	e := newPostEnv(t)
	a := article("wind", epoch.Add(-time.Hour), "One.", "Two.")
	e.post(t, a)
	e.srv.Set(func(s *mastotest.Settings) { s.NoEdits = true })
	// A point added: every post's numbering changes (1/3 → 1/4), and one
	// text changes. Only that one is corrected; the point is appended.
	b := edited(a, "One, changed.", "Two.", "Three.")
	rep := e.post(t, b)
	if rep.Edits != 0 || rep.Corrections != 1 || rep.Posts != 2 {
		t.Fatalf("report %+v", rep)
	}
	want := []string{"Headline of wind\n\nhttps://news.example/wind\n\n1/3", "One.\n\n2/3", "Two.\n\n3/3", "Three.\n\n4/4", "Correction: One, changed."}
	if got := e.chain(t); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("thread %q, want %q", got, want)
	}
	e.noRequest(t, b)
}

// ATTACK: a checkout, a copy or an editor rewriting the folder makes a
// file vanish for a moment; under on_delete: delete the daemon took it for
// gone at once, deleted its thread and marked the article retracted for
// good, though a file changed moments ago is otherwise left for the next
// tick (articles_settle). The files gone wait until the folder is quiet.
func TestEdit_VanishedFileWaitsWhileTheFolderSettles(t *testing.T) {
	e := newPostEnv(t)
	e.d.Options.DeleteVanished = true
	var all []*syndicate.Article
	for i := range 5 {
		all = append(all, article(fmt.Sprintf("s%d", i), epoch.Add(-time.Duration(10-i)*time.Hour), "Point."))
	}
	ids := func(list []*syndicate.Article) []string {
		var out []string
		for _, a := range list {
			out = append(out, a.ID)
		}
		return out
	}
	e.d.Files = ids(all)
	e.post(t, all...)
	e.d.Settle = 10 * time.Second
	// The folder was listed as s0's file was being replaced: gone.
	e.d.Files, e.d.FolderChanged = ids(all[1:]), e.d.Now().Add(-2*time.Second)
	e.noRequest(t, all[1:]...)
	// Back the next tick: nothing was lost.
	e.d.Files = ids(all)
	e.noRequest(t, all...)
	// Gone for good, the folder quiet since: deleted.
	e.d.Files, e.d.FolderChanged = ids(all[1:]), e.d.Now().Add(-time.Minute)
	if rep := e.post(t, all[1:]...); fmt.Sprint(rep.Retracted) != "[s0]" {
		t.Fatalf("report %+v", rep)
	}
}

func TestFolderSettling(t *testing.T) {
	now, s := epoch, 10*time.Second
	for _, tt := range []struct {
		changed time.Time
		settle  time.Duration
		want    bool
	}{
		{now.Add(-2 * time.Second), s, true},
		{now.Add(-time.Minute), s, false},
		{now.Add(2 * time.Second), s, true},   // a clock a little ahead
		{now.Add(24 * time.Hour), s, false},   // far ahead: not for ever
		{now.Add(-2 * time.Second), 0, false}, // a command run by hand
		{time.Time{}, s, false},               // not known
	} {
		if got := job.FolderSettling(tt.changed, now, tt.settle); got != tt.want {
			t.Errorf("FolderSettling(%v, settle %v) = %v, want %v", tt.changed.Sub(now), tt.settle, got, tt.want)
		}
	}
}
