package mail

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate"
)

// TestSend_ConnectionOutlivesTimeout: email.smtp.timeout bounds each
// message, not the life of a connection. A connection is reused for a
// whole run, minutes for a large list, so one dialled longer ago than the
// timeout must still send, and still say QUIT at the end.
//
// (It was once the connection's deadline from the dial: every connection
// broke a timeout after it was made, the message in hand reported temp,
// delivered twice when the deadline fell while the relay's reply to the
// final "." was on its way, and no QUIT at the end.)
func TestSend_ConnectionOutlivesTimeout(t *testing.T) {
	r := startRelay(t, probeScript, pipe+accepted("r1@example.net", "8BITMIME")+accepted("r2@example.net", "8BITMIME")+quitScript)
	opts := r.opts()
	opts.Timeout = 750 * time.Millisecond
	jobsCh := make(chan Job)
	outcomes := make(chan syndicate.Outcome, 2)
	done := make(chan error, 1)
	go func() { done <- Send(t.Context(), opts, jobsCh, outcomes) }()

	var got []syndicate.Outcome
	for _, j := range jobs(2) {
		select {
		case jobsCh <- j:
		case err := <-done:
			t.Fatalf("Send returned early: %v", err)
		}
		select {
		case o := <-outcomes:
			got = append(got, o)
		case err := <-done:
			t.Fatalf("Send returned early: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatal("no outcome")
		}
		// Not a wait for something to happen: the clock must pass the
		// timeout since the connection was dialled, and it surely has
		// after this.
		time.Sleep(opts.Timeout + 100*time.Millisecond)
	}
	close(jobsCh)
	if err := <-done; err != nil {
		t.Errorf("Send: %v", err)
	}
	checkOutcomes(t, got, []outcomeWant{{"r1", syndicate.DeliverySent, ""}, {"r2", syndicate.DeliverySent, ""}})
	r.check(t)
}

// TestSend_BrokenConnectionIsClosed: a relay that takes the message and
// then says nothing: the reader is temp once the timeout runs out, and
// the connection is closed, not kept open (nor sent QUIT, which would
// only wait for the timeout again); the next message goes on a new one.
func TestSend_BrokenConnectionIsClosed(t *testing.T) {
	r := startRelay(t, probeScript,
		pipe+envelope("r1@example.net", "8BITMIME", ok250, rcpt250, go354)+"D\n",
		pipe+accepted("r2@example.net", "8BITMIME")+quitScript)
	opts := r.opts()
	opts.Timeout = 500 * time.Millisecond
	got, err := runSend(t, opts, jobs(2)...)
	if err != nil {
		t.Errorf("Send: %v", err)
	}
	checkOutcomes(t, got, []outcomeWant{{"r1", syndicate.DeliveryTemp, anyReply}, {"r2", syndicate.DeliverySent, ""}})
	r.check(t)
}

// TestSend_BuildError: a message that cannot be built fails its reader
// alone; nothing of it reaches the relay and the next goes on the same
// connection.
func TestSend_BuildError(t *testing.T) {
	r := startRelay(t, probeScript, pipe+accepted("r2@example.net", "8BITMIME")+quitScript)
	bad := Job{Key: "r1", Build: textJob("r1", "not an address", "x").Build}
	got, err := runSend(t, r.opts(), bad, jobs(2)[1])
	if err != nil {
		t.Errorf("Send: %v", err)
	}
	if len(got) != 2 || got[0].State != syndicate.DeliveryFailed || got[0].Reply == "" || got[1].State != syndicate.DeliverySent {
		t.Errorf("outcomes %+v, want r1 failed (cannot build), r2 sent", got)
	}
	r.check(t)
}

// TestSend_RelayDown: a relay that greets with 421 on every connection is
// dialled again DialRetries times, then the send stops with ErrRelayDown
// and the reader in hand keeps no outcome.
func TestSend_RelayDown(t *testing.T) {
	busy := "S: 421 4.3.2 relay.test Service not available, too busy"
	r := startRelay(t, busy+"\nC: QUIT", busy, busy)
	got, err := runSend(t, r.opts(), jobs(2)...)
	if !errors.Is(err, ErrRelayDown) {
		t.Errorf("Send: %v, want ErrRelayDown", err)
	}
	checkOutcomes(t, got, nil)
	r.check(t)
}

// TestSend_ContextDone: Send returns when ctx is done, having sent the
// message in hand, and the connection ends with QUIT.
func TestSend_ContextDone(t *testing.T) {
	r := startRelay(t, probeScript, pipe+accepted("r1@example.net", "8BITMIME")+quitScript)
	ctx, cancel := context.WithCancel(t.Context())
	jobsCh := make(chan Job, 1)
	jobsCh <- jobs(1)[0]
	outcomes := make(chan syndicate.Outcome, 1)
	done := make(chan error, 1)
	go func() { done <- Send(ctx, r.opts(), jobsCh, outcomes) }()
	select {
	case o := <-outcomes:
		checkOutcomes(t, []syndicate.Outcome{o}, []outcomeWant{{"r1", syndicate.DeliverySent, ""}})
	case <-time.After(10 * time.Second):
		t.Fatal("no outcome")
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Send: %v, want context.Canceled", err)
	}
	r.check(t)
}
