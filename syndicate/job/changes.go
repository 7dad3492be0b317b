package job

import (
	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/thread"
)

// Kinds of Change.
const (
	ChangeEdit       = "edit"       // the post is edited in place
	ChangeAppend     = "append"     // a key point added: a reply at the thread's end
	ChangeDelete     = "delete"     // a key point removed: the post is deleted
	ChangeRemove     = "remove"     // a key point removed before replies: edited to "(removed)"
	ChangeCorrect    = "correct"    // a changed post on a network without edits: a reply "Correction: …"
	ChangeCorrection = "correction" // the front matter's correction: a reply "Correction: …"
)

// Change is one step of changing a thread made into the thread its
// article composes to now, as the post job plans it and a dry run shows
// it.
type Change struct {
	Kind string
	// Position is the post's place in the thread (0: the head post) for
	// an edit, a delete, a removal or a correction of a changed post;
	// for an append, the place the new post takes.
	Position int
	// Before is the post as the ledger recorded it (not for an append or
	// the front matter's correction).
	Before syndicate.PlannedPost
	// After is the new post (edit, remove, append) or the correction's
	// replies (correct, correction).
	After []syndicate.Post
	// Note is the front matter's correction text (ChangeCorrection).
	Note string
	// Composed is the post as composed now (ChangeCorrect): what the
	// thread says once the correction is out.
	Composed syndicate.Post
}

// CanEdit reports whether a network's posts can be edited in place: the
// dry runs' answer (which open no connection); a live run asks the
// outlet (syndicate.Editor) and, on a server without edits, learns it
// from the first refusal.
func CanEdit(network string) bool { return network == syndicate.NetworkMastodon }

// ThreadPosts are the posts of a thread made as the next composition is
// compared with them, in order: posts of the composition (not correction
// replies, not removed or deleted posts) that were made or may have been
// (in doubt).
func ThreadPosts(posts []syndicate.PlannedPost) []syndicate.PlannedPost {
	var out []syndicate.PlannedPost
	for _, p := range posts {
		if kindOf(p) == syndicate.PostThread && Standing(p) {
			out = append(out, p)
		}
	}
	return out
}

// Standing reports a post that is on the server, or may be: made or in
// doubt, and not deleted. It is what a comparison and a retraction see of
// a thread made.
func Standing(p syndicate.PlannedPost) bool {
	return p.DeletedAt.IsZero() && (p.StatusID != "" || !p.AttemptedAt.IsZero())
}

func kindOf(p syndicate.PlannedPost) string {
	if p.Kind == "" {
		return syndicate.PostThread
	}
	return p.Kind
}

// Changes compares the thread an article composes to now (t, composed as
// a new thread would be, with opts) with the posts the ledger holds of
// its thread on the network, by position: for each position both have,
// an edit when anything of the post differs (text, content warning,
// language, picture, alt text) — on a network that cannot edit, a
// correction reply with the new text instead, when the text differs but
// for its numbering; the new thread's further posts are appended; the old
// thread's further posts are deleted, from the end back (a removal always
// surfaces at the end), or, where replies follow them (corrections) and
// the network can edit, edited to "(removed)" so the chain stays whole.
// The front matter's correction, when no reply of the thread carries its
// text yet, is a correction reply. No change: none.
func Changes(a *syndicate.Article, posts []syndicate.PlannedPost, t syndicate.Thread, opts thread.Options, canEdit bool) []Change {
	old := ThreadPosts(posts)
	var out, corrections []Change
	n := min(len(old), len(t.Posts))
	for i := 0; i < n; i++ {
		o, p := old[i], t.Posts[i]
		if !differs(o, p) {
			continue
		}
		if canEdit {
			out = append(out, Change{Kind: ChangeEdit, Position: i, Before: o, After: []syndicate.Post{p}})
			continue
		}
		if newText := thread.WithoutNumbering(p.Text); newText != thread.WithoutNumbering(o.Text) {
			corrections = append(corrections, Change{Kind: ChangeCorrect, Position: i, Before: o, After: thread.Correction(a, newText, opts), Composed: p})
		}
	}
	// Removed: from the end back, deleted while nothing live follows.
	deleted := map[int]bool{}
	for i := len(old) - 1; i >= n; i-- {
		o := old[i]
		follows := false
		for _, q := range posts {
			if q.Index > o.Index && !deleted[q.Index] && Standing(q) {
				follows = true
				break
			}
		}
		if follows && canEdit {
			removed := syndicate.Post{Text: thread.Removed, ContentWarning: o.ContentWarning, Visibility: o.Visibility, Language: o.Language}
			out = append(out, Change{Kind: ChangeRemove, Position: i, Before: o, After: []syndicate.Post{removed}})
			continue
		}
		deleted[o.Index] = true
		out = append(out, Change{Kind: ChangeDelete, Position: i, Before: o})
	}
	for i := n; i < len(t.Posts); i++ {
		p := t.Posts[i]
		p.Card = nil // a reply carries no card
		out = append(out, Change{Kind: ChangeAppend, Position: i, After: []syndicate.Post{p}})
	}
	out = append(out, corrections...)
	if c := a.Correction; c != "" && !noted(posts, c) {
		out = append(out, Change{Kind: ChangeCorrection, Note: c, After: thread.Correction(a, c, opts)})
	}
	return out
}

// Retraction is what retracting a thread made deletes: every post on the
// server or that may be (Standing), correction replies too, as the post
// job plans it and a dry run shows it. Position is the post's place in
// posts.
func Retraction(posts []syndicate.PlannedPost) []Change {
	var out []Change
	for i, p := range posts {
		if Standing(p) {
			out = append(out, Change{Kind: ChangeDelete, Position: i, Before: p})
		}
	}
	return out
}

// differs reports whether a post made differs from the one composed now.
func differs(o syndicate.PlannedPost, p syndicate.Post) bool {
	file, alt := "", ""
	if len(p.Media) > 0 {
		file, alt = p.Media[0].File, p.Media[0].Description
	}
	return o.Text != p.Text || o.ContentWarning != p.ContentWarning || o.Language != p.Language || o.MediaFile != file || o.MediaAlt != alt
}

// noted reports whether a correction reply of the thread carries text.
func noted(posts []syndicate.PlannedPost, text string) bool {
	for _, p := range posts {
		if kindOf(p) == syndicate.PostCorrection && p.Note == text {
			return true
		}
	}
	return false
}

// planned is a composed post as the ledger plans it.
func planned(p syndicate.Post, kind, note string) syndicate.PlannedPost {
	pp := syndicate.PlannedPost{Text: p.Text, ContentWarning: p.ContentWarning, Visibility: p.Visibility, Language: p.Language, Kind: kind, Note: note}
	if len(p.Media) > 0 {
		pp.MediaFile, pp.MediaAlt = p.Media[0].File, p.Media[0].Description
	}
	if c := p.Card; c != nil {
		pp.CardURL, pp.CardTitle, pp.CardDescription = c.URL, c.Title, c.Description
	}
	return pp
}
