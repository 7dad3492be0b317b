package job_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/digest"
	"github.com/syndicate-bot/syndicate/syndicate/job"
	"github.com/syndicate-bot/syndicate/syndicate/mail"
	"github.com/syndicate-bot/syndicate/syndicate/store"
	"github.com/syndicate-bot/syndicate/syndicate/unsubscribe"
)

// The digest job is tested over a real state and a relay that is a
// Mailer: it builds every message as the real relay would and answers as
// the test says. The SMTP conversation itself is package mail's tests,
// and end to end the program's against go-smtp and Mailpit.

// relay is a Mailer that records what it was given.
type relay struct {
	mu        sync.Mutex
	delivered map[string]int    // reader key: messages taken
	attempts  map[string]int    // reader key: messages offered
	bodies    map[string]string // reader key: the last message, encoded
	// answer decides a message's outcome ("" or DeliverySent: taken);
	// nil takes them all.
	answer func(key string, attempt int) (state, reply string)
	// downAfter makes the relay die after this many messages in one Send
	// (0: never).
	downAfter int
	// before is called before each message (a hook for stopping a run).
	before func(n int)
}

func newRelay() *relay {
	return &relay{delivered: map[string]int{}, attempts: map[string]int{}, bodies: map[string]string{}}
}

func (r *relay) Send(ctx context.Context, jobs <-chan mail.Job, outcomes chan<- syndicate.Outcome) error {
	n := 0
	for j := range jobs {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if r.downAfter > 0 && n >= r.downAfter {
			return mail.ErrRelayDown
		}
		if r.before != nil {
			r.before(n)
		}
		n++
		msg, err := j.Build(gomail.EncodingQP)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		if _, err := msg.WriteTo(&buf); err != nil {
			return err
		}
		r.mu.Lock()
		r.attempts[j.Key]++
		attempt := r.attempts[j.Key]
		state, reply := syndicate.DeliverySent, "250 OK"
		if r.answer != nil {
			if s, rep := r.answer(j.Key, attempt); s != "" {
				state, reply = s, rep
			}
		}
		if state == syndicate.DeliverySent {
			r.delivered[j.Key]++
			r.bodies[j.Key] = buf.String()
		}
		r.mu.Unlock()
		outcomes <- syndicate.Outcome{Key: j.Key, State: state, Reply: reply}
	}
	return nil
}

func (r *relay) count(key string) int { r.mu.Lock(); defer r.mu.Unlock(); return r.delivered[key] }

// total is every message taken; twice the number of readers who got two.
func (r *relay) total() (messages, twice int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.delivered {
		messages += n
		if n > 1 {
			twice++
		}
	}
	return messages, twice
}

type digestEnv struct {
	st      *store.DB
	relay   *relay
	d       job.DigestDeps
	log     *logBuffer
	now     time.Time
	readers []string
}

// newDigestEnv has n readers (reader0@example.org …).
func newDigestEnv(t *testing.T, n int) *digestEnv {
	t.Helper()
	e := &digestEnv{relay: newRelay(), now: epoch}
	clock := func() time.Time { return e.now }
	e.st = openState(t, clock)
	var csv strings.Builder
	csv.WriteString("email,name\n")
	for i := range n {
		email := fmt.Sprintf("reader%d@example.org", i)
		e.readers = append(e.readers, email)
		fmt.Fprintf(&csv, "%s,Reader %d\n", email, i)
	}
	list := filepath.Join(t.TempDir(), "subscribers.csv")
	if err := os.WriteFile(list, []byte(csv.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := digest.NewRenderer("", "{{.ListName}}: {{(index .Articles 0).Title}}{{if .More}} and {{.More}} more{{end}}", "The Harbour Post")
	if err != nil {
		t.Fatal(err)
	}
	logger, buf := newLog()
	e.log = buf
	e.d = job.DigestDeps{
		Options: job.DigestOptions{
			MaxArticles: 25, Retries: 2, RetryBackoff: time.Millisecond, Subscribers: list, Networks: []string{syndicate.NetworkMastodon},
			Issue: job.IssueOptions{From: "The Harbour Post <digest@harbour.example>", ArchiveURL: "https://harbour.example/",
				UnsubscribeURL: "https://harbour.example/unsubscribe", Location: time.UTC},
		},
		Ledger: e.st, Renderer: r, Mailer: e.relay, Log: logger, Now: clock,
	}
	return e
}

func (e *digestEnv) send(t *testing.T, articles ...*syndicate.Article) job.DigestReport {
	t.Helper()
	rep, err := job.SendDigest(context.Background(), e.d, articles)
	if err != nil {
		t.Fatalf("SendDigest: %v", err)
	}
	return rep
}

// everyoneOnce checks each reader has exactly want messages.
func (e *digestEnv) everyone(t *testing.T, want int) {
	t.Helper()
	for _, r := range e.readers {
		if got := e.relay.count(syndicate.EmailKey(r)); got != want {
			t.Errorf("%s got %d messages, want %d", r, got, want)
		}
	}
}

func TestSendDigest_EveryReaderOnce(t *testing.T) {
	e := newDigestEnv(t, 30)
	a := article("harbour", epoch.Add(-time.Hour), "The library reopens.")
	b := article("ferry", epoch.Add(-2*time.Hour), "The ferry runs again.")
	var progress []int
	e.d.Progress = func(done, total int) {
		if total != 30 {
			t.Errorf("progress total %d, want 30", total)
		}
		progress = append(progress, done)
	}
	rep := e.send(t, a, b)
	if len(rep.Digests) != 1 || rep.Sent != 30 || rep.Digests[0].Articles != 2 || rep.Digests[0].Readers != 30 || rep.Digests[0].Pending != 0 || rep.Digests[0].Resumed {
		t.Fatalf("report %+v", rep)
	}
	if len(progress) != 30 || progress[29] != 30 {
		t.Errorf("progress %v", progress)
	}
	e.everyone(t, 1)
	body := e.relay.bodies["reader7@example.org"]
	for _, want := range []string{"Subject: The Harbour Post: Headline of harbour and 1 more", "To: \"Reader 7\" <reader7@example.org>", "List-Unsubscribe-Post: List-Unsubscribe=One-Click", "The library reopens."} {
		if !strings.Contains(body, want) {
			t.Errorf("the message lacks %q:\n%s", want, body)
		}
	}
	// The unsubscribe link is signed with the state's key, for this reader.
	secret, _ := e.st.Secret(context.Background(), job.SecretUnsubscribe)
	env, _ := mail.NewEnvelope(e.d.Options.Issue.From, "", "1", "x", epoch)
	want := unsubscribe.Link(e.d.Options.Issue.UnsubscribeURL, unsubscribe.Token(secret, env.ListID, "reader7@example.org"))
	if !strings.Contains(strings.ReplaceAll(body, "=\r\n", ""), strings.ReplaceAll(want, "=", "=3D")) {
		t.Errorf("the message lacks the reader's unsubscribe link %s", want)
	}

	// Nothing new: nothing sent.
	if rep = e.send(t, a, b); !rep.NothingNew || rep.Sent != 0 {
		t.Errorf("a run with nothing new: %+v", rep)
	}
	// A new article makes a new digest of it alone.
	c := article("storm", epoch.Add(-time.Minute), "A storm is coming.")
	if rep = e.send(t, a, b, c); rep.Sent != 30 || rep.Digests[0].Articles != 1 || rep.Digests[0].ID != 2 {
		t.Errorf("the next digest: %+v", rep)
	}
	e.everyone(t, 2)
}

// Drafts, embargoed and settling articles stay out; the cap on articles
// shown in full lists the rest in one line.
func TestSendDigest_WhatGoesIn(t *testing.T) {
	e := newDigestEnv(t, 1)
	e.d.Options.MaxArticles = 1
	e.d.Settle = time.Minute
	draft := article("draft", epoch.Add(-time.Hour), "Not yet.")
	draft.Draft = true
	future := article("future", epoch.Add(time.Hour), "Later.")
	settling := article("settling", epoch.Add(-time.Hour), "Just saved.")
	settling.Date, settling.ModTime = time.Time{}, epoch.Add(-time.Second)
	first := article("first", epoch.Add(-time.Hour), "One.")
	second := article("second", epoch.Add(-2*time.Hour), "Two.")
	rep := e.send(t, draft, future, settling, first, second)
	if rep.Digests[0].Articles != 1 {
		t.Fatalf("report %+v", rep)
	}
	body := e.relay.bodies["reader0@example.org"]
	if !strings.Contains(body, "Headline of first") || strings.Contains(body, "Not yet.") || strings.Contains(body, "Later.") || strings.Contains(body, "Just saved.") {
		t.Errorf("the digest holds the wrong articles:\n%s", body)
	}
	if !strings.Contains(body, "1 more") {
		t.Errorf("the article beyond max_articles is not counted:\n%s", body)
	}
	if !strings.Contains(e.log.String(), "omitted_beyond_max_articles=1") {
		t.Errorf("the omitted article is not logged:\n%s", e.log)
	}
}

// Temporary failures are retried within the run; a permanent one is
// recorded and the rest are mailed.
func TestSendDigest_FailuresRecordedOthersMailed(t *testing.T) {
	e := newDigestEnv(t, 10)
	e.relay.answer = func(key string, attempt int) (string, string) {
		switch {
		case key == "reader3@example.org":
			return syndicate.DeliveryFailed, "550 no such user"
		case key == "reader5@example.org" && attempt == 1:
			return syndicate.DeliveryTemp, "451 try later"
		}
		return "", ""
	}
	rep := e.send(t, article("a", epoch.Add(-time.Hour), "A."))
	if rep.Sent != 9 || rep.Failed != 1 || rep.Temporary != 1 || rep.Digests[0].Pending != 0 {
		t.Fatalf("report %+v", rep)
	}
	if got := e.relay.count("reader5@example.org"); got != 1 {
		t.Errorf("the reader with a temporary failure got %d messages", got)
	}
	log := e.log.String()
	if !strings.Contains(log, "550 no such user") || !strings.Contains(log, "retrying temporary failures") {
		t.Errorf("the failures are not logged:\n%s", log)
	}
}

// A reader whose every attempt fails for a while is given up on after
// MaxAttempts attempts over all runs.
func TestSendDigest_GivesUpAfterMaxAttempts(t *testing.T) {
	e := newDigestEnv(t, 2)
	e.d.Options.Retries = job.MaxAttempts // more passes than attempts allowed
	e.relay.answer = func(key string, attempt int) (string, string) {
		if key == "reader1@example.org" {
			return syndicate.DeliveryTemp, "452 mailbox full"
		}
		return "", ""
	}
	rep := e.send(t, article("a", epoch.Add(-time.Hour), "A."))
	if rep.Sent != 1 || rep.Digests[0].Failed != 1 || rep.Digests[0].Pending != 0 {
		t.Fatalf("report %+v", rep)
	}
	if got := e.relay.attempts["reader1@example.org"]; got != job.MaxAttempts {
		t.Errorf("%d attempts, want %d", got, job.MaxAttempts)
	}
	if open, ok, _ := e.st.OpenDigest(context.Background()); ok {
		t.Errorf("the digest is still open: %+v", open)
	}
}

// The relay dies half-way: the run says how many are left, and the next
// run finishes the same digest (not a new one) and mails nobody twice.
func TestSendDigest_RelayDiesThenResumes(t *testing.T) {
	e := newDigestEnv(t, 20)
	e.relay.downAfter = 7
	a := article("a", epoch.Add(-time.Hour), "A.")
	rep, err := job.SendDigest(context.Background(), e.d, []*syndicate.Article{a})
	if !errors.Is(err, mail.ErrRelayDown) {
		t.Fatalf("err = %v, want the relay down", err)
	}
	if rep.Sent != 7 || rep.Digests[0].Pending != 13 {
		t.Fatalf("report %+v, want 7 sent, 13 left", rep)
	}
	e.relay.downAfter = 0
	later := article("later", epoch.Add(-time.Minute), "Later.")
	rep = e.send(t, a, later)
	if len(rep.Digests) != 2 || !rep.Digests[0].Resumed || rep.Digests[0].Sent != 13 || rep.Digests[0].Readers != 13 || rep.Digests[0].Articles != 1 {
		t.Fatalf("resumed run %+v: want digest 1 finished (13), then a new one", rep)
	}
	if rep.Digests[1].Sent != 20 || rep.Digests[1].Articles != 1 || rep.Sent != 33 {
		t.Errorf("the new digest: %+v", rep.Digests[1])
	}
	e.everyone(t, 2)
}

// A stop (SIGTERM) between messages: every outcome recorded is kept, the
// rest are mailed by the next run, nobody twice.
func TestSendDigest_StoppedThenResumed(t *testing.T) {
	e := newDigestEnv(t, 40)
	ctx, cancel := context.WithCancel(context.Background())
	e.relay.before = func(n int) {
		if n == 10 {
			cancel()
		}
	}
	rep, err := job.SendDigest(ctx, e.d, []*syndicate.Article{article("a", epoch.Add(-time.Hour), "A.")})
	if !errors.Is(err, job.ErrStopped) {
		t.Fatalf("err = %v, want ErrStopped", err)
	}
	if rep.Digests[0].Pending+rep.Sent != 40 || rep.Digests[0].Pending == 0 {
		t.Fatalf("report %+v: sent and left must add up to 40", rep)
	}
	e.relay.before = nil
	rep = e.send(t)
	if !rep.Digests[0].Resumed || rep.Digests[0].Pending != 0 {
		t.Errorf("resumed: %+v", rep)
	}
	e.everyone(t, 1)
}

// A reader list that cannot be read on stops the preparation: nobody is
// mailed until it is fixed, rather than part of the list. Bad rows are
// skipped and reported.
func TestSendDigest_ReaderList(t *testing.T) {
	e := newDigestEnv(t, 0)
	list := e.d.Options.Subscribers
	os.WriteFile(list, []byte("email,name\nok@example.org,Ok\nnot-an-address,Bad\n"+strings.Repeat("x", 70<<10)+"\n"), 0o600)
	a := article("a", epoch.Add(-time.Hour), "A.")
	_, err := job.SendDigest(context.Background(), e.d, []*syndicate.Article{a})
	if err == nil || !strings.Contains(err.Error(), "email.subscribers") {
		t.Fatalf("a broken list: %v", err)
	}
	if n, _ := e.relay.total(); n != 0 {
		t.Errorf("%d messages sent from a broken list", n)
	}
	os.WriteFile(list, []byte("email,name\nok@example.org,Ok\nnot-an-address,Bad\nok@example.org,Twice\n"), 0o600)
	rep := e.send(t, a)
	if rep.Sent != 1 || len(rep.Skipped) != 2 || !rep.Digests[0].Resumed {
		t.Fatalf("report %+v, skipped %v", rep, rep.Skipped)
	}
	if !strings.Contains(fmt.Sprint(rep.Skipped), "subscribers.csv:3: ") {
		t.Errorf("a skipped row does not say its line: %v", rep.Skipped)
	}
	os.Remove(list)
	if _, err := job.SendDigest(context.Background(), e.d, []*syndicate.Article{article("b", epoch.Add(-time.Minute), "B.")}); err == nil {
		t.Error("a missing list is no error")
	}
}

// failingOutcomes is a state that cannot record outcomes.
type failingOutcomes struct {
	*store.DB
	after int
	calls int
}

func (f *failingOutcomes) RecordOutcomes(ctx context.Context, id int64, o []syndicate.Outcome) error {
	f.calls++
	if f.calls > f.after {
		return errors.New("disk full")
	}
	return f.DB.RecordOutcomes(ctx, id, o)
}

// A message is never sent without its outcome being recordable: when the
// state cannot be written the send stops.
func TestSendDigest_StateUnwritableStopsTheSend(t *testing.T) {
	e := newDigestEnv(t, 200)
	e.d.FlushEvery, e.d.FlushWait = 4, time.Hour
	e.d.Ledger = &failingOutcomes{DB: e.st, after: 2}
	_, err := job.SendDigest(context.Background(), e.d, []*syndicate.Article{article("a", epoch.Add(-time.Hour), "A.")})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("err = %v", err)
	}
	// The relay is stopped within the batch in hand and the channels'
	// buffers: far fewer than all 200.
	if n, _ := e.relay.total(); n >= 200 {
		t.Errorf("%d messages sent after the state failed", n)
	}
	e.d.Ledger = e.st
	e.send(t)
	if _, twice := e.relay.total(); twice > 4+4+1 {
		t.Errorf("%d readers mailed twice: more than the unrecorded batches can explain", twice)
	}
}

func TestAssemble(t *testing.T) {
	r, err := digest.NewRenderer("", "{{.ListName}}", "List")
	if err != nil {
		t.Fatal(err)
	}
	opts := job.IssueOptions{From: "List <list@example.org>", UnsubscribeURL: "https://example.org/u", ArchiveURL: "https://example.org/"}
	d := digest.Digest{Articles: []syndicate.DigestItem{{ID: "a", Title: "A", URL: "https://example.org/a"}}}
	dry, err := job.Assemble(opts, r, 3, job.InstallID(nil), epoch, d, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := dry.Link("x@example.org"), unsubscribe.Link(opts.UnsubscribeURL, unsubscribe.DryRunToken("x@example.org")); got != want {
		t.Errorf("a dry run's link %s, want %s (one that unsubscribes nobody)", got, want)
	}
	real, _ := job.Assemble(opts, r, 3, "abcdefabcdef", epoch, d, []byte("0123456789abcdef0123456789abcdef"))
	if real.Link("x@example.org") == dry.Link("x@example.org") {
		t.Error("a real link is the dry run's")
	}
	if !strings.Contains(real.Envelope.MessageID("x@example.org"), "abcdefabcdef") {
		t.Errorf("the install ID is not in the Message-ID %s", real.Envelope.MessageID("x@example.org"))
	}
	if _, err := job.Assemble(job.IssueOptions{From: "not an address"}, r, 1, "x", epoch, d, nil); err == nil {
		t.Error("a bad From is no error")
	}
	if got := job.InstallID([]byte{1, 2, 3, 4, 5, 6, 7}); got != "010203040506" {
		t.Errorf("InstallID = %s", got)
	}
}
