package job_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/job"
	"github.com/syndicate-bot/syndicate/syndicate/mail"
)

// correctionsEnv posts and mails over one state: the post job records
// the corrections and retractions, the digest job carries them.
func correctionsEnv(t *testing.T, readers int) (*postEnv, *digestEnv) {
	t.Helper()
	p := newPostEnv(t)
	d := newDigestEnv(t, readers)
	d.st = p.st
	d.d.Ledger = p.st
	return p, d
}

// body is the reader's last message, its quoted-printable soft breaks
// undone.
func (e *digestEnv) body(reader string) string {
	e.relay.mu.Lock()
	defer e.relay.mu.Unlock()
	b := strings.ReplaceAll(e.relay.bodies[syndicate.EmailKey(reader)], "=\r\n", "")
	return strings.NewReplacer("=3D", "=", "=E2=80=94", "—").Replace(b)
}

func TestSendDigest_CorrectionsReachTheReaders(t *testing.T) {
	p, d := correctionsEnv(t, 12)
	harbour := article("harbour", epoch.Add(-3*time.Hour), "The library reopens.")
	ferry := article("ferry", epoch.Add(-2*time.Hour), "The ferry runs again.")
	p.post(t, harbour, ferry)
	if rep := d.send(t, harbour, ferry); rep.Sent != 12 || rep.Digests[0].Corrections != 0 {
		t.Fatalf("first digest %+v", rep)
	}

	// A correction of a story mailed: the next digest carries it, alone.
	corrected := *harbour
	corrected.Hash, corrected.Correction = "hash-c", "The library opens at 9, not 10."
	if rep := p.post(t, &corrected, ferry); rep.Corrections != 1 {
		t.Fatalf("post %+v", rep)
	}
	rep := d.send(t, &corrected, ferry)
	if len(rep.Digests) != 1 || rep.Sent != 12 || rep.Digests[0].Articles != 0 || rep.Digests[0].Corrections != 1 {
		t.Fatalf("a digest of the correction alone: %+v", rep)
	}
	d.everyone(t, 2)
	body := d.body("reader3@example.org")
	for _, want := range []string{"Subject: The Harbour Post: Corrections", "== Corrections ==", "Headline of harbour: The library opens at 9, not 10.",
		"https://news.example/harbour", "here is a correction to stories sent before"} {
		if !strings.Contains(body, want) {
			t.Errorf("the message lacks %q:\n%s", want, body)
		}
	}
	// Carried once: the next run has nothing to send.
	if rep := d.send(t, &corrected, ferry); !rep.NothingNew || rep.Sent != 0 {
		t.Errorf("a run after the correction's digest: %+v", rep)
	}

	// A retraction and a new story: both in the next digest.
	retracted := *ferry
	retracted.Hash, retracted.Retracted = "hash-r", true
	tide := article("tide", epoch.Add(-time.Hour), "High tide at noon.")
	if rep := p.post(t, &corrected, &retracted, tide); len(rep.Retracted) != 1 {
		t.Fatalf("post %+v", rep)
	}
	rep = d.send(t, &corrected, &retracted, tide)
	if rep.Sent != 12 || rep.Digests[0].Articles != 1 || rep.Digests[0].Corrections != 1 {
		t.Fatalf("digest %+v", rep)
	}
	body = d.body("reader3@example.org")
	for _, want := range []string{"Subject: The Harbour Post: Headline of tide", "High tide at noon.", "== Corrections ==", "* Retracted: Headline of ferry"} {
		if !strings.Contains(body, want) {
			t.Errorf("the message lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "The library opens at 9") {
		t.Error("the correction was carried a second time")
	}
	if strings.Contains(body, "https://news.example/ferry") {
		t.Error("the retracted story is linked")
	}
}

// A digest that carries a correction and stops half-way (the relay dies)
// is finished by the next run with the same correction, and the
// correction is in no new digest.
func TestSendDigest_CorrectionsOfAResumedDigest(t *testing.T) {
	p, d := correctionsEnv(t, 20)
	harbour := article("harbour", epoch.Add(-3*time.Hour), "The library reopens.")
	p.post(t, harbour)
	d.send(t, harbour)
	corrected := *harbour
	corrected.Hash, corrected.Correction = "hash-c", "The library opens at 9."
	p.post(t, &corrected)

	d.relay.downAfter = 7
	rep, err := job.SendDigest(context.Background(), d.d, []*syndicate.Article{&corrected})
	if !errors.Is(err, mail.ErrRelayDown) || rep.Sent != 7 {
		t.Fatalf("%+v, %v: want 7 sent and the relay down", rep, err)
	}
	d.relay.downAfter = 0
	// Meanwhile another correction: it waits for the digest after.
	again := corrected
	again.Hash, again.Correction = "hash-c2", "And on Sundays too."
	p.post(t, &again)
	rep = d.send(t, &again)
	if len(rep.Digests) != 2 || !rep.Digests[0].Resumed || rep.Digests[0].Sent != 13 || rep.Digests[0].Corrections != 1 ||
		rep.Digests[1].Corrections != 1 || rep.Digests[1].Articles != 0 || rep.Digests[1].Sent != 20 {
		t.Fatalf("%+v: want the first correction's digest finished, then one of the second", rep)
	}
	d.everyone(t, 3)
	if body := d.body("reader19@example.org"); !strings.Contains(body, "And on Sundays too.") || strings.Contains(body, "opens at 9") {
		t.Errorf("the last digest:\n%s", body)
	}
}
