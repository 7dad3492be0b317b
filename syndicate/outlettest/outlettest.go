// Package outlettest is the contract every syndicate.Outlet meets, as one
// suite to run against each network's server (Bluesky against a real PDS,
// Mastodon against its test server or GoToSocial): a thread posted as a
// head and chained replies, each post read back from the server; a post
// in doubt found as that post, a post never sent not found; every post
// sent again as the job would resend it — after FindPosted found nothing,
// or, where the server answers a repeat with the original (Mastodon's
// Idempotency-Key, Bluesky's record key), at once — answered with the same
// post and nothing new on the server.
package outlettest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate"
)

// Peer is what the suite needs of the server behind the outlet.
type Peer struct {
	// ReadBack reads a post back from the server: its text as the server
	// holds it and the ID of the post it replies to ("" for none).
	ReadBack func(t *testing.T, st syndicate.Status) (text, parent string)
	// Count is how many posts the account has; nil: not checked.
	Count func(t *testing.T) int
	// Shown is a post's text as the network shows it (Bluesky shortens
	// URLs: thread.BlueskyText); nil: as written.
	Shown func(text string) string
	// NoReplay is true for a server that does not answer a repeated post
	// with the original (GoToSocial ignores Idempotency-Key): only
	// FindPosted keeps a retry from posting twice there, so the suite
	// sends a post again only after FindPosted, as the job does.
	NoReplay bool
	// Exists reports whether a post is still on the server, for the
	// add-ons' part (syndicate.Deleter); nil: not checked.
	Exists func(t *testing.T, st syndicate.Status) bool
}

// Thread is the thread the suite posts: a head with a link and replies
// with multi-byte text, a long URL and a hashtag, unique to the run.
func Thread() []string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	nonce := hex.EncodeToString(b)
	return []string{
		"Contract " + nonce + ": the harbour reopens https://example.com/news/harbour-" + nonce,
		"1/3 Ships are back: é, 日本の船, 👨‍👩‍👧‍👦 — https://www.example.com/a/very/long/path/to/the/story/" + nonce + "?ref=contract and more.",
		"2/3 The city says the quays are safe #Harbour #Contract" + nonce,
		"3/3 Plain text to end the thread " + nonce + ".",
	}
}

// OutletContract runs the suite against o.
func OutletContract(t *testing.T, o syndicate.Outlet, peer Peer) {
	t.Helper()
	shown := peer.Shown
	if shown == nil {
		shown = func(s string) string { return s }
	}
	ctx := t.Context()

	if o.Network() == "" {
		t.Fatal("Network() is empty")
	}
	lim, err := o.Limits(ctx)
	if err != nil {
		t.Fatalf("Limits: %v", err)
	}
	if lim.MaxCharacters <= 0 || lim.Counting == "" {
		t.Errorf("Limits = %+v: no length or counting rule", lim)
	}

	texts := Thread()
	now := time.Now()
	posts := make([]syndicate.PlannedPost, len(texts))
	for i, text := range texts {
		posts[i] = syndicate.PlannedPost{Index: i, Text: text, Visibility: "public", Language: "en",
			IdempotencyKey: fmt.Sprintf("outlettest-%d-%s", i, text)}
		o.Plan(&posts[i], now)
	}
	before := -1
	if peer.Count != nil {
		before = peer.Count(t)
	}

	// The thread: the head, then each reply to the one before, all naming
	// the head as their root.
	sts := make([]syndicate.Status, len(posts))
	refs := func(i int) (parent, root syndicate.Ref) {
		if i == 0 {
			return syndicate.Ref{}, syndicate.Ref{}
		}
		return syndicate.Ref{ID: sts[i-1].ID, CID: sts[i-1].CID}, syndicate.Ref{ID: sts[0].ID, CID: sts[0].CID}
	}
	seen := map[string]bool{}
	for i, p := range posts {
		parent, root := refs(i)
		st, err := o.Post(ctx, p, parent, root, nil)
		if err != nil {
			t.Fatalf("post %d: %v", i+1, err)
		}
		if st.ID == "" || st.URL == "" || seen[st.ID] {
			t.Fatalf("post %d: status %+v (an ID and a URL, new)", i+1, st)
		}
		seen[st.ID] = true
		sts[i] = st
	}
	for i, st := range sts {
		text, parent := peer.ReadBack(t, st)
		if want := shown(texts[i]); text != want {
			t.Errorf("post %d reads back as %q, want %q", i+1, text, want)
		}
		wantParent := ""
		if i > 0 {
			wantParent = sts[i-1].ID
		}
		if parent != wantParent {
			t.Errorf("post %d replies to %q, want %q", i+1, parent, wantParent)
		}
	}
	if peer.Count != nil {
		if got := peer.Count(t); got != before+len(posts) {
			t.Errorf("the account has %d posts after the thread, want %d", got, before+len(posts))
		}
	}

	// A post in doubt that was made is found as that post; one planned
	// and never sent is not found (below).
	for i, p := range posts {
		parent, _ := refs(i)
		st, found, err := o.FindPosted(ctx, p, parent, now.Add(-10*time.Minute))
		if err != nil {
			t.Fatalf("find post %d: %v", i+1, err)
		}
		if !found || st.ID != sts[i].ID {
			t.Errorf("find post %d: found %v, %+v; want %+v", i+1, found, st, sts[i])
		}
	}

	// A retry of each post, exactly as the job resends one whose outcome
	// is unknown: the same post, nothing new. (Where the server does not
	// replay, the job resends only what FindPosted did not find: none.)
	if !peer.NoReplay {
		for i, p := range posts {
			parent, root := refs(i)
			st, err := o.Post(ctx, p, parent, root, nil)
			if err != nil {
				t.Fatalf("post %d again: %v", i+1, err)
			}
			if st.ID != sts[i].ID || (sts[i].CID != "" && st.CID != sts[i].CID) {
				t.Errorf("post %d again: %+v, want %+v", i+1, st, sts[i])
			}
		}
	}
	if peer.Count != nil {
		if got := peer.Count(t); got != before+len(posts) {
			t.Errorf("the account has %d posts after the retries, want %d", got, before+len(posts))
		}
	}

	never := syndicate.PlannedPost{Index: len(posts), Text: texts[len(texts)-1] + " (never sent)", Visibility: "public",
		IdempotencyKey: "outlettest-never-" + texts[0]}
	o.Plan(&never, now)
	parent, _ := refs(len(posts))
	if st, found, err := o.FindPosted(ctx, never, parent, now.Add(-10*time.Minute)); err != nil || found {
		t.Errorf("find a post never sent: %+v, %v, %v; want not found", st, found, err)
	}
	addOns(t, o, peer, posts, sts)
}

// addOns checks the outlet's add-ons, where it has them: an edit
// (syndicate.Editor) replaces a post's text, keeps its place in the
// thread, and sent again changes nothing; a delete (syndicate.Deleter)
// removes a post, and a post not there is deleted already.
func addOns(t *testing.T, o syndicate.Outlet, peer Peer, posts []syndicate.PlannedPost, sts []syndicate.Status) {
	ctx := t.Context()
	shown := peer.Shown
	if shown == nil {
		shown = func(s string) string { return s }
	}
	if ed, ok := o.(syndicate.Editor); ok {
		p := posts[2]
		p.Text += " (edited)"
		for attempt := range 2 {
			st, err := ed.Edit(ctx, sts[2].ID, p, false, nil)
			if err != nil {
				t.Fatalf("edit post 3 (attempt %d): %v", attempt+1, err)
			}
			if st.ID != sts[2].ID {
				t.Errorf("edit post 3: status %+v, want the same ID %s", st, sts[2].ID)
			}
			text, parent := peer.ReadBack(t, sts[2])
			if want := shown(p.Text); text != want || parent != sts[1].ID {
				t.Errorf("post 3 after the edit reads back as %q replying to %q, want %q replying to %q", text, parent, want, sts[1].ID)
			}
		}
	}
	if del, ok := o.(syndicate.Deleter); ok {
		last := sts[len(sts)-1]
		for attempt := range 2 {
			if err := del.Delete(ctx, syndicate.Ref{ID: last.ID, CID: last.CID}); err != nil {
				t.Fatalf("delete the last post (attempt %d): %v", attempt+1, err)
			}
		}
		if peer.Exists != nil {
			// A server may apply a delete after answering it: GoToSocial
			// answers 200 and deletes in its worker queue.
			for deadline := time.Now().Add(30 * time.Second); peer.Exists(t, last); time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Error("the last post is still there 30 s after its delete")
					break
				}
			}
			if !peer.Exists(t, sts[len(sts)-2]) {
				t.Error("the post before the last is gone too")
			}
		}
	}
}
