package main

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/syndicate-bot/syndicate/syndicate/mastodon/mastotest"
)

// tideArticle is an article with key points in its front matter; extra
// front matter lines go after them.
func tideArticle(points []string, extra string) string {
	var b strings.Builder
	b.WriteString("---\ntitle: Tide barrier closes for the winter\ndate: 2026-11-20\nkey_points:\n")
	for _, p := range points {
		fmt.Fprintf(&b, "  - %s\n", p)
	}
	b.WriteString(extra)
	b.WriteString("---\nThe tide barrier closed on Monday for the winter, a week earlier than planned.\n\n" +
		"Engineers said the storm season had started early and the gates would stay shut until March.\n")
	return b.String()
}

var (
	tidePoints = []string{
		"The barrier closed on Monday, a week earlier than planned.",
		"Engineers expect the gates to stay shut until March.",
		"The closure costs the port 40,000 a day in delays.",
	}
	// Two points edited, one added.
	tideEdited = []string{
		"The barrier closed on Sunday, eight days earlier than planned.",
		"Engineers expect the gates to stay shut until March.",
		"The closure costs the port 14,000 a day in delays.",
		"Ferries to the islands run from the outer harbour until then.",
	}
)

// TestCorrections_KilledMidEditResumes posts a thread, changes its file
// so that two key points are edited and one is added (the numbering 1/4
// becomes 1/5, so every post changes), and kills the binary with SIGKILL
// while the server has applied the second edit and its answer has not
// left. The rerun finishes: every post edited exactly once (one version
// in each status's public history), the added point appended once, the
// chain whole. A run with nothing changed then makes no request at all.
func TestCorrections_KilledMidEditResumes(t *testing.T) {
	srv := mastotest.New(token)
	defer srv.Close()
	e := newEnv(t, mastodonConfig(srv, ""), "shehbaz-sharif-putin-letters.txt")
	e.write("articles/tide-barrier.md", tideArticle(tidePoints, ""))
	if r := e.run("post"); r.code != 0 {
		t.Fatal(r)
	}
	before := map[string]mastotest.Status{}
	var tide []mastotest.Status
	for _, th := range mustThreads(t, srv) {
		if strings.Contains(th[0].Text, "/articles/tide-barrier") {
			tide = th
		}
	}
	if len(tide) != 4 {
		t.Fatalf("the tide thread has %d posts, want 4", len(tide))
	}
	for _, st := range tide {
		before[st.ID] = st
	}
	other := len(srv.Statuses()) - len(tide)

	e.write("articles/tide-barrier.md", tideArticle(tideEdited, ""))
	var k killable
	reached, release := make(chan struct{}), make(chan struct{})
	var edits atomic.Int32
	srv.OnEdit(func(mastotest.Status) {
		if edits.Add(1) == 2 { // the bot edits one post at a time
			close(reached)
			k.kill()
			<-release // the answer leaves only once the process is gone
		}
	})
	r := e.runKillable(&k, "post")
	close(release)
	if r.code != -1 {
		t.Fatalf("not killed: %s", r)
	}
	select {
	case <-reached:
	default:
		t.Fatal("the second edit was never reached")
	}
	srv.OnEdit(nil)
	if n := len(srv.Statuses()); n != other+4 {
		t.Fatalf("%d statuses after the kill, want %d (nothing appended yet)", n, other+4)
	}
	editedAtKill := 0
	for _, st := range srv.Statuses() {
		editedAtKill += st.Edits
	}
	if editedAtKill != 2 {
		t.Fatalf("%d edits on the server at the kill, want 2 (the second's answer lost)", editedAtKill)
	}

	r = e.run("post")
	if r.code != 0 || !strings.Contains(r.stdout, "tide-barrier") {
		t.Fatal(r)
	}
	var got []mastotest.Status
	for _, th := range mustThreads(t, srv) {
		if strings.Contains(th[0].Text, "/articles/tide-barrier") {
			got = th
		}
	}
	if len(got) != 5 {
		t.Fatalf("the tide thread has %d posts, want 5", len(got))
	}
	wantTexts := []string{
		"1/5",
		tideEdited[0] + "\n\n2/5",
		tideEdited[1] + "\n\n3/5",
		tideEdited[2] + "\n\n4/5",
		tideEdited[3] + "\n\n5/5",
	}
	for i, st := range got {
		if !strings.HasSuffix(st.Text, wantTexts[i]) {
			t.Errorf("post %d = %q, want it to end %q", i+1, st.Text, wantTexts[i])
		}
		if i < 4 {
			old, ok := before[st.ID]
			if !ok {
				t.Errorf("post %d is a new status %s: it should have been edited in place", i+1, st.ID)
				continue
			}
			h := srv.History(st.ID)
			if len(h) != 1 || st.Edits != 1 {
				t.Errorf("post %d: %d versions in its history, %d edits; want exactly one edit", i+1, len(h), st.Edits)
			} else if h[0].Text != old.Text {
				t.Errorf("post %d's history holds %q, want the original %q", i+1, h[0].Text, old.Text)
			}
		} else if _, ok := before[st.ID]; ok || st.Edits != 0 {
			t.Errorf("the added point is status %s with %d edits, want a new status never edited", st.ID, st.Edits)
		}
	}
	if n := len(srv.Statuses()); n != other+5 {
		t.Errorf("%d statuses, want %d: the added point appended once and nothing else", n, other+5)
	}
	if len(srv.Deleted()) != 0 {
		t.Errorf("deleted %d statuses", len(srv.Deleted()))
	}
	wantThreads(t, srv, map[string]int{"shehbaz-sharif-putin-letters": 3, "tide-barrier": 5})

	// Nothing changed: no request at all, not even for the limits.
	n := srv.Requests()
	if r := e.run("post"); r.code != 0 || !strings.Contains(r.stdout, "nothing to post") {
		t.Fatal(r)
	}
	if got := srv.Requests() - n; got != 0 {
		t.Errorf("a run with nothing changed made %d requests, want none", got)
	}
	// A change that changes no post (whitespace in the body, a credit in the
	// front matter) is no edit either, and makes no request.
	e.write("articles/tide-barrier.md", strings.Replace(tideArticle(tideEdited, "credit: The harbour desk\n"), "early and", "early  and\n", 1))
	n = srv.Requests()
	if r := e.run("post"); r.code != 0 {
		t.Fatal(r)
	}
	if got := srv.Requests() - n; got != 0 {
		t.Errorf("a change that changes no post made %d requests, want none", got)
	}
	for _, st := range got {
		if now, _ := srv.Status(st.ID); now.Edits != st.Edits {
			t.Errorf("status %s edited again", st.ID)
		}
	}
}

// TestCorrections_KilledMidRetractionResumes retracts a posted thread
// (retracted: true) and kills the binary with SIGKILL once the server has
// deleted the second status and before its answer left. The rerun
// deletes the rest (the one deleted already answers 404, which is done),
// posts nothing, and later runs never post the article again.
func TestCorrections_KilledMidRetractionResumes(t *testing.T) {
	srv := mastotest.New(token)
	defer srv.Close()
	e := newEnv(t, mastodonConfig(srv, ""), "shehbaz-sharif-putin-letters.txt")
	e.write("articles/tide-barrier.md", tideArticle(tidePoints, ""))
	if r := e.run("post"); r.code != 0 {
		t.Fatal(r)
	}
	made := len(srv.Statuses())
	var tide []mastotest.Status
	for _, th := range mustThreads(t, srv) {
		if strings.Contains(th[0].Text, "/articles/tide-barrier") {
			tide = th
		}
	}
	if len(tide) != 4 {
		t.Fatalf("the tide thread has %d posts, want 4", len(tide))
	}

	e.write("articles/tide-barrier.md", tideArticle(tidePoints, "retracted: true\n"))
	var k killable
	release := make(chan struct{})
	var deletes atomic.Int32
	srv.OnDelete(func(mastotest.Status) {
		if deletes.Add(1) == 2 {
			k.kill()
			<-release
		}
	})
	r := e.runKillable(&k, "post")
	close(release)
	if r.code != -1 {
		t.Fatalf("not killed: %s", r)
	}
	srv.OnDelete(nil)
	if n := len(srv.Deleted()); n != 2 {
		t.Fatalf("%d deleted at the kill, want 2", n)
	}

	r = e.run("post")
	if r.code != 0 || !strings.Contains(r.stdout, "retracted") {
		t.Fatal(r)
	}
	deleted := srv.Deleted()
	if len(deleted) != 4 {
		t.Fatalf("%d statuses deleted, want the thread's 4", len(deleted))
	}
	// Each once, from the end back: a reply never outlives its parent.
	for i, st := range deleted {
		if want := tide[len(tide)-1-i]; st.ID != want.ID {
			t.Errorf("delete %d was status %s, want %s", i+1, st.ID, want.ID)
		}
	}
	if n := len(srv.Statuses()); n != made-4 {
		t.Errorf("%d statuses left, want %d", n, made-4)
	}
	if len(srv.Statuses()) != 3 {
		t.Errorf("statuses %d, want the other article's 3", len(srv.Statuses()))
	}
	wantThreads(t, srv, map[string]int{"shehbaz-sharif-putin-letters": 3})

	// Never posted again: not while retracted, not with the flag taken back.
	n := srv.Requests()
	if r := e.run("post"); r.code != 0 {
		t.Fatal(r)
	}
	e.write("articles/tide-barrier.md", tideArticle(tidePoints, ""))
	if r := e.run("post"); r.code != 0 {
		t.Fatal(r)
	}
	if got := srv.Requests() - n; got != 0 {
		t.Errorf("runs after the retraction made %d requests, want none", got)
	}
	if r := e.run("status"); r.code != 0 || !strings.Contains(r.stdout, "retracted") {
		t.Errorf("status: %s", r)
	}
}

// TestCorrections_TheDigestCarriesThem: a story mailed, then corrected
// (correction: in its front matter) and another retracted. The post run
// replies with the correction; the digest's dry run, its JSON and the
// preview show a Corrections section; the send mails a digest of the
// corrections alone to every reader, once; nothing is sent after.
func TestCorrections_TheDigestCarriesThem(t *testing.T) {
	srv := mastotest.New(token)
	defer srv.Close()
	e, relay := digestEnv(t, 5, mastodonConfig(srv, ""), "shehbaz-sharif-putin-letters.txt")
	e.write("articles/tide-barrier.md", tideArticle(tidePoints, ""))
	if r := e.run("post"); r.code != 0 {
		t.Fatal(r)
	}
	if r := e.run("digest"); r.code != 0 || len(relay.Messages()) != 5 {
		t.Fatalf("first digest: %s", r)
	}

	const fix = "The barrier closed on Sunday, not Monday."
	e.write("articles/tide-barrier.md", tideArticle(tidePoints, "correction: \""+fix+"\"\n"))
	e.write("articles/shehbaz-sharif-putin-letters.txt", "---\nretracted: true\n---\n"+readFile(t, "../../articles/shehbaz-sharif-putin-letters.txt"))
	if r := e.run("post"); r.code != 0 {
		t.Fatal(r)
	}
	if n := len(srv.Statuses()); n != 5 {
		t.Fatalf("%d statuses, want the tide thread and its correction reply", n)
	}

	r := e.run("digest", "--dry-run")
	title := "Tide barrier closes for the winter"
	for _, want := range []string{"Subject: Daily Brief: Corrections", "Corrections:", "* " + title + ": " + fix, "https://news.example.org/articles/tide-barrier", "* Retracted: "} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the dry run lacks %q:\n%s", want, r)
		}
	}
	r = e.run("digest", "--dry-run", "--json")
	if !strings.Contains(r.stdout, `"corrections": [`) || !strings.Contains(r.stdout, `"text": "`+fix+`"`) || !strings.Contains(r.stdout, `"kind": "retraction"`) {
		t.Errorf("the dry run's JSON:\n%s", r)
	}
	if r := e.run("digest", "--dry-run", "--out", e.path("out")); r.code != 0 {
		t.Fatal(r)
	}
	dryText := readFile(t, e.path("out/digest.txt"))
	if r := e.run("preview", "--out", e.path("pv")); r.code != 0 {
		t.Fatal(r)
	}
	if page := readFile(t, e.path("pv/index.html")); !strings.Contains(page, "Corrections") || !strings.Contains(page, "The barrier closed on Sunday") {
		t.Error("the preview shows no Corrections section")
	}

	if r := e.run("digest"); r.code != 0 || !strings.Contains(r.stdout, "0 article(s), 2 correction(s)") {
		t.Fatalf("the corrections' digest: %s", r)
	}
	msgs := relay.Messages()
	if len(msgs) != 10 {
		t.Fatalf("%d messages, want 5 and 5", len(msgs))
	}
	for _, m := range msgs[5:] {
		body := string(m.Data)
		if m.Header("Subject") != "Daily Brief: Corrections" || !strings.Contains(body, "== Corrections ==") || !strings.Contains(body, "* Retracted: ") ||
			!strings.Contains(strings.Join(strings.Fields(body), " "), title+": "+fix) {
			t.Errorf("message to %v:\n%s", m.To, body)
		}
	}
	// The dry run showed what was sent (but for the reader and the link).
	sent := string(msgs[5].Data)
	for _, line := range strings.Split(dryText, "\n") {
		if strings.Contains(line, "unsubscribe") || strings.Contains(line, "Hello") || strings.Contains(line, "You receive") {
			continue
		}
		if !strings.Contains(sent, line) {
			t.Errorf("the dry run's line %q is not in the message sent", line)
		}
	}
	if r := e.run("digest"); r.code != 0 || !strings.Contains(r.stdout, "no new articles or corrections") || len(relay.Messages()) != 10 {
		t.Errorf("a digest after: %s", r)
	}
	if r := e.run("digest", "--dry-run"); !strings.Contains(r.stdout, "No new articles or corrections") {
		t.Errorf("a dry run after: %s", r)
	}
}
