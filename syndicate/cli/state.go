package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate/daemon"
	"github.com/syndicate-bot/syndicate/syndicate/job"
	"github.com/syndicate-bot/syndicate/syndicate/schedule"
	"github.com/syndicate-bot/syndicate/syndicate/store"
)

// The state is a SQLite file (one process at a time: its lock file) or a
// PostgreSQL database shared by several replicas (config.IsPostgres
// decides). On PostgreSQL no lock file is used: the daemon campaigns for
// the leadership (store.Leader) and posts only while it leads; a post or
// digest run by hand takes the leadership without waiting, or exits 2
// naming the leader, as it does today beside a daemon's lock; every
// replica mails its share of the digest. The DSN, which may hold the
// password, is shown only as cfg.StateName.

// replica is this process's name among those sharing the state: its
// claims are made as it, its leader session is named by it. On SQLite it
// is job.LocalOwner: the lock's holder is the one process, and takes its
// own claims back after a restart.
func (a *app) replica() string {
	if a.replicaName != "" {
		return a.replicaName
	}
	if !a.cfg.StatePostgres() {
		a.replicaName = job.LocalOwner
		return a.replicaName
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "host"
	}
	b := make([]byte, 3)
	rand.Read(b)
	// Host and process say where it runs; the random part keeps two
	// containers with one hostname and PID 1 apart.
	a.replicaName = fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b))
	return a.replicaName
}

// openShared opens the state without any lock or leadership: for serve,
// whose unsubscribes are small writes beside the runs, and for the
// daemon on PostgreSQL, which campaigns.
func (a *app) openShared(ctx context.Context) (*store.DB, error) {
	opts := store.Options{Now: a.env.Now}
	if !a.cfg.StatePostgres() {
		return store.Open(ctx, a.cfg.State, opts)
	}
	st, err := store.OpenPostgres(ctx, a.cfg.State, opts)
	if err != nil {
		return nil, fmt.Errorf("state (%s): %w", a.cfg.StateName(), err)
	}
	return st, nil
}

// openReadOnly opens the state for a dry run, check or status; it
// returns store.ErrNoState when there is none yet.
func (a *app) openReadOnly(ctx context.Context) (*store.DB, error) {
	opts := store.Options{Now: a.env.Now}
	var st *store.DB
	var err error
	if a.cfg.StatePostgres() {
		st, err = store.OpenPostgresReadOnly(ctx, a.cfg.State, opts)
	} else {
		st, err = store.OpenReadOnly(ctx, a.cfg.State, opts)
	}
	if err != nil && !errors.Is(err, store.ErrNoState) {
		return nil, fmt.Errorf("state (%s): %w", a.cfg.StateName(), err)
	}
	return st, err
}

// leader is the daemon's campaign on a PostgreSQL state.
func (a *app) leader() (*store.Leader, error) {
	l, err := store.NewLeader(a.cfg.State, store.LeaderOptions{Name: a.replica(), Log: a.log})
	if err != nil {
		return nil, a.keyError("state", err)
	}
	return l, nil
}

// openPostgresLeading opens a PostgreSQL state for a post or digest run
// by hand: it takes the leadership first, without waiting, so that it
// never posts beside a daemon; the run's outlet calls are fenced by that
// term (see postWith).
func (a *app) openPostgresLeading(ctx context.Context) (*store.DB, func(), error) {
	l, err := a.leader()
	if err != nil {
		return nil, nil, err
	}
	term, err := l.TryLead(ctx)
	if err != nil {
		if errors.Is(err, store.ErrLeaderElsewhere) {
			return nil, nil, &ExitError{Code: ExitUsage, Err: err}
		}
		return nil, nil, fmt.Errorf("state (%s): %w", a.cfg.StateName(), err)
	}
	st, err := a.openShared(ctx)
	if err != nil {
		l.Resign()
		return nil, nil, err
	}
	a.term = term
	return st, func() { st.Close(); l.Resign() }, nil
}

// openDaemonState opens the state for the daemon: on SQLite with its lock
// (as every live run); on PostgreSQL shared, with the campaign that makes
// this replica the leader when it can be.
func (a *app) openDaemonState(ctx context.Context) (store.Store, func(), daemon.Elector, error) {
	if !a.cfg.StatePostgres() {
		st, closeState, err := a.openState(ctx)
		return st, closeState, nil, err
	}
	l, err := a.leader()
	if err != nil {
		return nil, nil, nil, err
	}
	st, err := a.openShared(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	a.log.Info("the state is shared (PostgreSQL): this replica posts while it leads and mails its share of every digest",
		"replica", a.replica(), "state", a.cfg.StateName())
	return st, func() { st.Close() }, l, nil
}

// inTerm returns the context a post run by hand works in: cut when the
// leadership it took ends (nothing to cut on SQLite).
func (a *app) inTerm(ctx context.Context) (context.Context, context.CancelFunc) {
	if a.term == nil {
		return ctx, func() {}
	}
	return daemon.WithTerm(ctx, a.term)
}

// digestSlot is the schedule slot a digest run is for: the tick the
// schedule started it for, or the missed tick a start-up catches up;
// "" for a run asked for by hand (a signal, a command), which makes a
// new digest when there is anything new.
func (a *app) digestSlot(ctx context.Context) string {
	if tick, ok := schedule.Tick(ctx); ok {
		return slotOf(tick)
	}
	if s, _ := a.catchUpSlot.Swap("").(string); s != "" {
		return s
	}
	return ""
}

func slotOf(tick time.Time) string { return "tick:" + tick.UTC().Format(time.RFC3339) }

// claimOptions sets the replica's part of a digest run: its slot, its
// owner name for claims, and the lease they are made for.
func (a *app) claimOptions(ctx context.Context, d *job.DigestDeps) {
	d.Slot = a.digestSlot(ctx)
	d.Owner = a.replica()
	d.Lease = a.cfg.Email.Lease.D()
}

// showLeader says which replica leads a PostgreSQL state, for status.
func (a *app) showLeader(ctx context.Context) string {
	l, err := store.NewLeader(a.cfg.State, store.LeaderOptions{Name: a.replica() + " (status)"})
	if err != nil {
		return "unknown: " + err.Error()
	}
	who, err := l.Holder(ctx)
	switch {
	case err != nil:
		return "unknown: " + strings.TrimSpace(err.Error())
	case who == "":
		return "none: no replica holds the leader's lock (no daemon runs)"
	}
	return who
}

// exposed are the warnings about a SQLite state others may read (a
// PostgreSQL state's access is the server's).
func (a *app) exposed() []string {
	if a.cfg.StatePostgres() {
		return nil
	}
	return store.Exposed(a.cfg.State)
}
