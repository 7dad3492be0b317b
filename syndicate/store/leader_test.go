package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate/store"
	"github.com/syndicate-bot/syndicate/syndicate/testpeer/postgres"
)

const check = 100 * time.Millisecond

func newLeader(t *testing.T, dsn, name string) *store.Leader {
	t.Helper()
	l, err := store.NewLeader(dsn, store.LeaderOptions{Name: name, Check: check})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Resign)
	return l
}

// campaign runs a campaign in the background; the term arrives on the
// channel.
func campaign(ctx context.Context, l *store.Leader) <-chan context.Context {
	c := make(chan context.Context, 1)
	go func() {
		term, err := l.Campaign(ctx)
		if err != nil {
			term = nil
		}
		c <- term
	}()
	return c
}

func within(t *testing.T, what string, c <-chan context.Context) context.Context {
	t.Helper()
	select {
	case term := <-c:
		if term == nil {
			t.Fatalf("%s: the campaign ended without a term", what)
		}
		return term
	case <-time.After(time.Minute):
		t.Fatalf("timed out waiting for %s", what)
	}
	return nil
}

func ended(t *testing.T, what string, term context.Context) {
	t.Helper()
	select {
	case <-term.Done():
	case <-time.After(time.Minute):
		t.Fatalf("timed out waiting for %s", what)
	}
}

func TestLeader_OneAtATimeAndTakeover(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dsn := postgres.Shared(t).NewDatabase(t)
	a, b := newLeader(t, dsn, "replica-a"), newLeader(t, dsn, "replica-b")
	began := time.Now()
	termA := within(t, "a's term", campaign(ctx, a))
	if took := time.Since(began); took < a.Settle() {
		t.Errorf("a's term began %v after it asked, before the settling time %v", took, a.Settle())
	}
	fromB := campaign(ctx, b)
	// b waits while a leads; a command by hand is refused, naming a.
	if _, err := newLeader(t, dsn, "by-hand").TryLead(ctx); !errors.Is(err, store.ErrLeaderElsewhere) || !strings.Contains(err.Error(), "syndicate leader replica-a") {
		t.Errorf("TryLead while a leads = %v; want ErrLeaderElsewhere naming a", err)
	}
	select {
	case <-fromB:
		t.Fatal("b became the leader while a led")
	case <-time.After(5 * check):
	}
	a.Resign()
	ended(t, "a's term to end on resigning", termA)
	if cause := context.Cause(termA); !strings.Contains(cause.Error(), "resigned") {
		t.Errorf("a's term ended with %v", cause)
	}
	termB := within(t, "b to take over", fromB)
	if termB.Err() != nil {
		t.Error("b's term is over at once")
	}
}

// A leader whose session the server ends (a cut connection, a terminated
// backend) sees its term end within two checks; a follower takes over.
func TestLeader_SessionLostEndsTheTerm(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := postgres.Shared(t)
	dsn := srv.NewDatabase(t)
	a, b := newLeader(t, dsn, "replica-a"), newLeader(t, dsn, "replica-b")
	termA := within(t, "a's term", campaign(ctx, a))
	fromB := campaign(ctx, b)
	time.Sleep(2 * check) // b is waiting on its own session
	if n := srv.KillBackends(t, postgres.DBName(dsn)); n < 2 {
		t.Fatalf("KillBackends = %d, want a's and b's sessions", n)
	}
	killed := time.Now()
	ended(t, "a's term to end", termA)
	if took := time.Since(killed); took > 10*check {
		t.Errorf("a saw its session gone after %v", took)
	}
	if cause := context.Cause(termA); !strings.Contains(cause.Error(), "lost") {
		t.Errorf("a's term ended with %v", cause)
	}
	// b reconnects and takes over; a, campaigning again, waits.
	fromA := campaign(ctx, a)
	var term context.Context
	select {
	case term = <-fromB:
	case term = <-fromA:
	case <-time.After(time.Minute):
		t.Fatal("nobody took over")
	}
	if term == nil || term.Err() != nil {
		t.Fatal("the new term is over at once")
	}
}

func TestLeader_BadDSNSaysNoMore(t *testing.T) {
	_, err := store.NewLeader("postgres://bot:s3cret-PW@host:notaport/db", store.LeaderOptions{})
	if !errors.Is(err, store.ErrBadDSN) || strings.Contains(err.Error(), "s3cret-PW") {
		t.Errorf("NewLeader = %v", err)
	}
	_, err = store.OpenPostgres(context.Background(), "postgres://bot:s3cret-PW@127.0.0.1:1/db?connect_timeout=2", store.Options{})
	if err == nil || strings.Contains(err.Error(), "s3cret-PW") {
		t.Errorf("OpenPostgres of a closed port = %v", err)
	}
}
