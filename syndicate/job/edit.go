package job

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/thread"
)

// limiter reads the server's limits once per run, when a post must be
// composed against them; a change that may change no post is first
// composed against what the state remembers, so that it makes no request.
type limiter struct {
	d    PostDeps
	lim  syndicate.Limits
	read bool
}

// get is the server's limits, read once (a configured limit wins), and
// remembered for the dry runs.
func (l *limiter) get(ctx context.Context) (syndicate.Limits, error) {
	if l.read {
		return l.lim, nil
	}
	lim, err := l.d.Outlet.Limits(ctx)
	if err != nil {
		return lim, fmt.Errorf("reading the server's limits: %w", err)
	}
	if m := l.d.Options.MaxCharacters; m > 0 {
		lim.MaxCharacters = m
	}
	if err := rememberServer(ctx, l.d, lim); err != nil {
		return lim, err
	}
	l.lim, l.read = lim, true
	return lim, nil
}

// remembered is what the state keeps of the server (the limits the
// thread was last composed against), or the server's own when the state
// keeps nothing (Bluesky's are its lexicon's: no request).
func (l *limiter) remembered(ctx context.Context) (syndicate.Limits, error) {
	if l.read {
		return l.lim, nil
	}
	if server := l.d.Options.Server; server != "" {
		info, known, err := l.d.Ledger.ServerInfo(ctx, server)
		if err != nil {
			return syndicate.Limits{}, err
		}
		if known {
			lim := info.Limits
			if m := l.d.Options.MaxCharacters; m > 0 {
				lim.MaxCharacters = m
			}
			return lim, nil
		}
	}
	return l.get(ctx)
}

// run is one network's run: what is learned on the way.
type run struct {
	d   PostDeps
	lim *limiter
	rep *PostReport
	// noEdits is set once the server said it cannot edit (logged once).
	noEdits bool
}

// threadEdited reports whether a thread's posts were changed after they
// were planned (a correction, a deleted or removed post): such a thread
// is only ever changed through the edit path.
func threadEdited(posts []syndicate.PlannedPost) bool {
	for _, p := range posts {
		if kindOf(p) != syndicate.PostThread || !p.DeletedAt.IsZero() {
			return true
		}
	}
	return false
}

// made reports whether any post of the thread was made or may have been.
func made(posts []syndicate.PlannedPost) bool {
	for _, p := range posts {
		if p.StatusID != "" || !p.AttemptedAt.IsZero() {
			return true
		}
	}
	return false
}

// editArticle brings a thread made into what its article composes to
// now. What an earlier run planned is finished first (a crash half-way
// resumes there); then, if the article changed since the plan, the
// change is planned — every edit, delete and new reply in the ledger at
// once, before the first request — and applied. A change that changes no
// post only records the article's hash: no request.
func (r *run) editArticle(ctx context.Context, a *syndicate.Article, rec syndicate.ArticleRecord) (int, error) {
	d := r.d
	network := d.Outlet.Network()
	posts, err := d.Ledger.PlannedPosts(ctx, network, a.ID)
	if err != nil {
		return 0, err
	}
	n := 0
	// An edit refused (failed) is planned again from the article; a
	// thread resumed (editing, or posting after --retry) goes on with
	// what was planned.
	resume := rec.State == syndicate.StateEditing || rec.State == syndicate.StatePosting
	if resume || rec.Changes > 0 {
		made, err := r.apply(ctx, a, resume)
		n += made
		if err != nil {
			return n, err
		}
		if posts, err = d.Ledger.PlannedPosts(ctx, network, a.ID); err != nil {
			return n, err
		}
	}
	if a.Hash != rec.Hash || rec.State == syndicate.StateFailed {
		// Composed first against what the state remembers of the server:
		// a change that changes no post makes no request.
		lim, err := r.lim.remembered(ctx)
		if err != nil {
			return n, err
		}
		changes, err := r.changes(a, posts, lim)
		if err != nil {
			return n, err
		}
		if len(changes) > 0 && !r.lim.read {
			if lim, err = r.lim.get(ctx); err != nil {
				return n, err
			}
			if changes, err = r.changes(a, posts, lim); err != nil {
				return n, err
			}
		}
		if len(changes) == 0 {
			if err := d.Ledger.UpdateHash(ctx, network, a.ID, a.Hash); err != nil {
				return n, err
			}
			if rec.State != syndicate.StatePosted || rec.Hash != a.Hash {
				d.Log.Info("the article changed, but none of its posts did: nothing to edit", "article", a.ID)
			}
		} else {
			if err := d.Ledger.PlanEdit(ctx, network, a.ID, r.editPlan(a, changes)); err != nil {
				return n, err
			}
			d.Log.Info("the article changed: its thread is edited", "article", a.ID, "changes", describe(changes))
			made, err := r.apply(ctx, a, true)
			n += made
			if err != nil {
				return n, err
			}
		}
	}
	return n, d.Ledger.FinishArticle(ctx, network, a.ID)
}

// changes composes the article as a new thread and compares it with the
// thread made.
func (r *run) changes(a *syndicate.Article, posts []syndicate.PlannedPost, lim syndicate.Limits) ([]Change, error) {
	opts := r.d.Options.Thread
	opts.Limits = lim
	t, err := thread.Compose(a, opts)
	if err != nil {
		return nil, &rejection{reason: err.Error()}
	}
	_, canEdit := r.d.Outlet.(syndicate.Editor)
	return Changes(a, posts, t, opts, canEdit && !r.noEdits), nil
}

// editPlan is the ledger's plan of changes.
func (r *run) editPlan(a *syndicate.Article, changes []Change) syndicate.EditPlan {
	now := r.d.Now()
	plan := syndicate.EditPlan{Hash: a.Hash}
	add := func(p syndicate.Post, kind, note string) {
		pp := planned(p, kind, note)
		r.d.Outlet.Plan(&pp, now)
		plan.Posts = append(plan.Posts, pp)
	}
	for _, c := range changes {
		switch c.Kind {
		case ChangeEdit, ChangeRemove:
			kind := syndicate.ChangeEdit
			if c.Kind == ChangeRemove {
				kind = syndicate.ChangeRemove
			}
			plan.Changes = append(plan.Changes, syndicate.PlannedChange{Index: c.Before.Index, Kind: kind, Post: planned(c.After[0], "", "")})
		case ChangeDelete:
			plan.Changes = append(plan.Changes, syndicate.PlannedChange{Index: c.Before.Index, Kind: syndicate.ChangeDelete})
		case ChangeAppend:
			add(c.After[0], syndicate.PostThread, "")
		case ChangeCorrect:
			for _, p := range c.After {
				add(p, syndicate.PostCorrection, "")
			}
			// The thread says the new text now (the reply says so).
			plan.Corrected = append(plan.Corrected, syndicate.PlannedChange{Index: c.Before.Index, Kind: syndicate.ChangeEdit, Post: planned(c.Composed, "", "")})
		case ChangeCorrection:
			for _, p := range c.After {
				add(p, syndicate.PostCorrection, c.Note)
			}
			plan.Notices = append(plan.Notices, syndicate.Notice{ArticleID: a.ID, Kind: syndicate.NoticeCorrection, Title: a.Title, URL: a.URL, Text: c.Note})
		}
	}
	return plan
}

// describe is a change's summary for the log: "edit 2, append 5".
func describe(changes []Change) string {
	var parts []string
	for _, c := range changes {
		if c.Kind == ChangeCorrection {
			parts = append(parts, c.Kind)
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %d", c.Kind, c.Position+1))
	}
	return strings.Join(parts, ", ")
}

// apply applies what the ledger plans for the thread, each step once:
// the deletes (from the end back), the edits, then the new posts (key
// points added, correction replies) through the post path, each replying
// to the thread's last post made before it. Without all it applies the
// deletes alone (a retraction; an edit refused, whose other steps are
// planned again).
func (r *run) apply(ctx context.Context, a *syndicate.Article, all bool) (int, error) {
	d := r.d
	network := d.Outlet.Network()
	changes, err := d.Ledger.PlannedChanges(ctx, network, a.ID)
	if err != nil {
		return 0, err
	}
	posts, err := d.Ledger.PlannedPosts(ctx, network, a.ID)
	if err != nil {
		return 0, err
	}
	byIndex := map[int]syndicate.PlannedPost{}
	for _, p := range posts {
		byIndex[p.Index] = p
	}
	for _, c := range changes {
		if c.Kind != syndicate.ChangeDelete && !all {
			continue
		}
		if ctx.Err() != nil {
			return 0, ErrStopped
		}
		old, ok := byIndex[c.Index]
		if !ok {
			return 0, fmt.Errorf("the ledger plans a change of post %d, which it does not hold", c.Index+1)
		}
		if c.Kind == syndicate.ChangeDelete {
			err = r.delete(ctx, a, old)
		} else {
			err = r.edit(ctx, a, old, c)
		}
		if err != nil {
			return 0, err
		}
	}
	if !all {
		return 0, nil
	}
	if posts, err = d.Ledger.PlannedPosts(ctx, network, a.ID); err != nil {
		return 0, err
	}
	n := 0
	var prev, root syndicate.Ref
	for _, p := range posts {
		if !p.DeletedAt.IsZero() {
			continue
		}
		if p.StatusID != "" {
			prev = syndicate.Ref{ID: p.StatusID, CID: p.CID}
			if p.Index == 0 {
				root = prev
			}
			continue
		}
		if ctx.Err() != nil {
			return n, ErrStopped
		}
		lim, err := r.lim.get(ctx)
		if err != nil {
			return n, err
		}
		st, err := makePost(ctx, d, a, p, prev, root, lim, r.rep)
		if err != nil {
			return n, err
		}
		n++
		prev = syndicate.Ref{ID: st.ID, CID: st.CID}
		if p.Index == 0 {
			root = prev
		}
		what := "posted a reply at the thread's end"
		if kindOf(p) == syndicate.PostCorrection {
			what = "posted a correction"
			r.rep.Corrections++
		}
		d.Log.Info(what, "article", a.ID, "post", p.Index+1, "status", st.ID)
	}
	return n, nil
}

// edit applies one planned edit: the post is edited in place (its
// picture kept, or the new one uploaded with its alt text). A server
// that cannot edit gets a reply "Correction: …" instead.
func (r *run) edit(ctx context.Context, a *syndicate.Article, old syndicate.PlannedPost, c syndicate.PlannedChange) error {
	d := r.d
	network := d.Outlet.Network()
	ed, ok := d.Outlet.(syndicate.Editor)
	if !ok || r.noEdits {
		return r.correctInstead(ctx, a, old, c)
	}
	p := c.Post
	p.Index = old.Index
	callCtx, cancel := graceful(ctx, d)
	defer cancel()
	keep := p.MediaFile != "" && p.MediaFile == old.MediaFile
	var media []string
	if p.MediaFile != "" && !keep {
		lim, err := r.lim.get(ctx)
		if err != nil {
			return err
		}
		pic, err := readPicture(d.Images, p.MediaFile, lim)
		if err != nil {
			return err
		}
		id, err := d.Outlet.Upload(callCtx, pic, p.MediaAlt)
		if err != nil {
			return classifyPostError(err)
		}
		media = []string{id}
	}
	_, err := ed.Edit(callCtx, old.StatusID, p, keep, media)
	if errors.Is(err, syndicate.ErrNoEdits) {
		r.noEdits = true
		d.Log.Warn("the server cannot edit posts: changed posts get a reply \"Correction: …\" with their new text instead", "article", a.ID, "err", err)
		return r.correctInstead(ctx, a, old, c)
	}
	if err != nil {
		return classifyPostError(err)
	}
	if err := d.Ledger.ApplyChange(context.WithoutCancel(ctx), network, a.ID, c); err != nil {
		return err
	}
	r.rep.Edits++
	d.Log.Info("edited a post in place", "article", a.ID, "post", old.Index+1, "status", old.StatusID)
	return nil
}

// correctInstead turns a planned edit into correction replies (a post to
// be removed, which cannot be edited, is deleted; one whose text is the
// same but for its numbering gets none, as on Bluesky).
func (r *run) correctInstead(ctx context.Context, a *syndicate.Article, old syndicate.PlannedPost, c syndicate.PlannedChange) error {
	d := r.d
	if c.Kind == syndicate.ChangeRemove {
		return r.delete(ctx, a, old)
	}
	newText := thread.WithoutNumbering(c.Post.Text)
	if newText == thread.WithoutNumbering(old.Text) {
		// Its numbering alone changed (a point added or removed), or what
		// a reply cannot say (a picture, a language): as on a network
		// without edits, no reply; the post is recorded as it is now.
		return d.Ledger.CorrectInstead(ctx, d.Outlet.Network(), a.ID, old.Index, nil)
	}
	lim, err := r.lim.get(ctx)
	if err != nil {
		return err
	}
	opts := d.Options.Thread
	opts.Limits = lim
	now := d.Now()
	var posts []syndicate.PlannedPost
	for _, p := range thread.Correction(a, newText, opts) {
		pp := planned(p, syndicate.PostCorrection, "")
		d.Outlet.Plan(&pp, now)
		posts = append(posts, pp)
	}
	return d.Ledger.CorrectInstead(ctx, d.Outlet.Network(), a.ID, old.Index, posts)
}

// delete applies one planned delete; a post not there is deleted.
func (r *run) delete(ctx context.Context, a *syndicate.Article, old syndicate.PlannedPost) error {
	d := r.d
	if old.StatusID != "" {
		del, ok := d.Outlet.(syndicate.Deleter)
		if !ok {
			return &rejection{reason: d.Outlet.Network() + " cannot delete posts"}
		}
		callCtx, cancel := graceful(ctx, d)
		err := del.Delete(callCtx, syndicate.Ref{ID: old.StatusID, CID: old.CID})
		cancel()
		if err != nil {
			return classifyPostError(err)
		}
		r.rep.Deletes++
		d.Log.Info("deleted a post", "article", a.ID, "post", old.Index+1, "status", old.StatusID)
	}
	c := syndicate.PlannedChange{Index: old.Index, Kind: syndicate.ChangeDelete}
	return d.Ledger.ApplyChange(context.WithoutCancel(ctx), d.Outlet.Network(), a.ID, c)
}

// retractArticle deletes a thread: a post in doubt is first looked for
// (one made is deleted too), every post's delete is planned at once, then
// each is applied, from the end back; the article is then retracted and
// never posted again. The next digest says so.
func (r *run) retractArticle(ctx context.Context, a *syndicate.Article, rec syndicate.ArticleRecord) error {
	d := r.d
	network := d.Outlet.Network()
	if rec.State != syndicate.StateRetracting {
		posts, err := d.Ledger.PlannedPosts(ctx, network, a.ID)
		if err != nil {
			return err
		}
		var prev syndicate.Ref
		for i, p := range posts {
			if !p.DeletedAt.IsZero() {
				continue
			}
			if p.StatusID == "" && !p.AttemptedAt.IsZero() {
				st, found, err := d.Outlet.FindPosted(ctx, p, prev, p.AttemptedAt.Add(-10*time.Minute))
				if err != nil {
					return classifyPostError(err)
				}
				if found {
					if err := d.Ledger.RecordPost(ctx, network, a.ID, p.Index, st); err != nil {
						return err
					}
					posts[i].StatusID, posts[i].CID = st.ID, st.CID
				}
			}
			if posts[i].StatusID != "" {
				prev = syndicate.Ref{ID: posts[i].StatusID, CID: posts[i].CID}
			}
		}
		plan := syndicate.EditPlan{Hash: rec.Hash, Retract: true}
		for _, c := range Retraction(posts) {
			plan.Changes = append(plan.Changes, syndicate.PlannedChange{Index: c.Before.Index, Kind: syndicate.ChangeDelete})
		}
		title := a.Title
		if title == "" {
			title = headTitle(posts)
		}
		plan.Notices = []syndicate.Notice{{ArticleID: a.ID, Kind: syndicate.NoticeRetraction, Title: title}}
		if err := d.Ledger.PlanEdit(ctx, network, a.ID, plan); err != nil {
			return err
		}
		d.Log.Info("the article is retracted: its thread is deleted", "article", a.ID, "posts", len(plan.Changes))
	}
	if _, err := r.apply(ctx, a, false); err != nil {
		return err
	}
	return d.Ledger.FinishArticle(ctx, network, a.ID)
}

// headTitle is a thread's title as its head post says it (its first
// line), for an article the folder no longer has.
func headTitle(posts []syndicate.PlannedPost) string {
	for _, p := range posts {
		if p.Index == 0 {
			line, _, _ := strings.Cut(strings.TrimSpace(p.Text), "\n")
			return line
		}
	}
	return ""
}

// editing reports whether an article's thread goes the edit path: it
// changed (Changed), or it is resumed with changes planned or made
// before (a thread once corrected or cut is never planned anew), or its
// file changed while it was half posted.
func (r *run) editing(ctx context.Context, a *syndicate.Article, rec syndicate.ArticleRecord, state State) bool {
	if state == Changed || rec.Changes > 0 {
		return true
	}
	if state != Posting {
		return false
	}
	posts, err := r.d.Ledger.PlannedPosts(ctx, r.d.Outlet.Network(), a.ID)
	if err != nil {
		return false // postArticle reads them again and says so
	}
	return threadEdited(posts) || (a.Hash != rec.Hash && made(posts))
}
