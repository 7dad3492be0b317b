package job_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/testpeer/pds"
)

// skyChain reads an article's live Bluesky thread back from the PDS in
// the ledger's order (deleted posts left out), checking that every reply
// names the head as its root and the live post before it as its parent.
func (e *skyEnv) skyChain(t *testing.T, articleID string) []string {
	t.Helper()
	planned, err := e.st.PlannedPosts(context.Background(), syndicate.NetworkBluesky, articleID)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	var prev, head syndicate.PlannedPost
	for i, p := range planned {
		if !p.DeletedAt.IsZero() {
			continue
		}
		rec, ok := e.srv.GetRecord(t, postCollection, p.RecordKey)
		if !ok {
			t.Fatalf("%s post %d: no record %s", articleID, i+1, p.RecordKey)
		}
		var v skyPost
		if err := json.Unmarshal(rec.Value, &v); err != nil {
			t.Fatal(err)
		}
		if len(out) == 0 {
			head = p
		} else if v.Reply == nil || v.Reply.Parent.URI != prev.StatusID || v.Reply.Root.URI != head.StatusID {
			t.Errorf("%s post %d: reply %+v, want parent %s and root %s", articleID, i+1, v.Reply, prev.StatusID, head.StatusID)
		}
		out = append(out, v.Text)
		prev = p
	}
	return out
}

// TestPostBluesky_Corrections: on a real PDS, which has no edits, a
// changed post gets a reply "Correction: …" with its new text (a change
// of numbering alone is none), a key point added is appended, the front
// matter's correction is replied once, a retraction deletes every record
// of the thread (deleteRecord), and a rerun with nothing changed writes
// nothing.
func TestPostBluesky_Corrections(t *testing.T) {
	srv := pds.Start(t)
	e := newSkyEnv(t, srv, nil)
	base := len(srv.ListRecords(t, postCollection))
	a := article("wind", epoch.Add(-time.Hour), "Turbines rise.", "Prices fall.", "Jobs grow.")
	e.post(t, a)
	count := func() int { return len(srv.ListRecords(t, postCollection)) - base }
	if n := count(); n != 4 {
		t.Fatalf("%d posts, want 4", n)
	}
	still := func(b *syndicate.Article) {
		t.Helper()
		n := count()
		if rep := e.post(t, b); rep.Posts != 0 || rep.Deletes != 0 || count() != n {
			t.Errorf("a rerun with nothing changed: %+v, %d posts then %d", rep, n, count())
		}
	}

	b := edited(a, "Turbines rise.", "Prices fall by a third.", "Jobs grow.")
	if rep := e.post(t, b); rep.Corrections != 1 || rep.Edits != 0 {
		t.Fatalf("report %+v", rep)
	}
	got := e.skyChain(t, "wind")
	if len(got) != 5 || got[4] != "Correction: Prices fall by a third." || got[2] != "Prices fall.\n\n3/4" {
		t.Errorf("thread %q", got)
	}
	still(b)

	c := edited(b, "Turbines rise.", "Prices fall by a third.", "Jobs grow.", "Ports expand.")
	if rep := e.post(t, c); rep.Posts != 1 || rep.Corrections != 0 {
		t.Fatalf("report %+v (a change of numbering alone is no correction)", rep)
	}
	if got := e.skyChain(t, "wind"); len(got) != 6 || got[5] != "Ports expand.\n\n5/5" {
		t.Errorf("thread %q", got)
	}
	still(c)

	d := *c
	d.Hash, d.Correction = "hash-correction", "The auction is in May."
	if rep := e.post(t, &d); rep.Corrections != 1 {
		t.Fatalf("report %+v", rep)
	}
	if got := e.skyChain(t, "wind"); len(got) != 7 || !strings.HasPrefix(got[6], "Correction: The auction is in May.") {
		t.Errorf("thread %q", got)
	}
	still(&d)

	r := d
	r.Hash, r.Retracted = "hash-retracted", true
	if rep := e.post(t, &r); rep.Deletes != 7 || len(rep.Retracted) != 1 {
		t.Fatalf("report %+v", rep)
	}
	if n := count(); n != 0 {
		t.Errorf("%d posts of the thread left on the PDS", n)
	}
	still(&r)
}
