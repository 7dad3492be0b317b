package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// LeaderKey is the PostgreSQL session advisory lock whose holder is the
// leader: the one replica that posts. The server releases a session's
// advisory locks when the session ends — the replica stopped, was killed,
// or lost its connection — which is what makes a takeover safe.
const LeaderKey int64 = 7310582961733206391

// Leader is a replica's campaign for the leadership of a PostgreSQL
// state (it meets daemon.Elector). It holds LeaderKey on a connection of
// its own and checks that session every Check; when a check fails or
// does not answer within Check, the term ends at once. A new leader's
// term begins Settle after it took the lock: by then a leader that lost
// its session without dying (a network cut, its backend terminated) has
// seen its own checks fail and stopped posting.
//
// The lock needs a real session: connect to PostgreSQL directly, or
// through a pooler in session mode (PgBouncer's transaction mode would
// hand the lock to whoever runs next on that server connection).
type Leader struct {
	cfg   *pgx.ConnConfig
	check time.Duration
	log   *slog.Logger

	mu      sync.Mutex
	stop    chan struct{} // closed by Resign: the watcher ends the term
	stopped chan struct{} // closed by the watcher when it is done
}

// LeaderOptions are a Leader's settings.
type LeaderOptions struct {
	// Name says which replica a session is (pg_stat_activity's
	// application_name: "syndicate leader NAME"), for the messages of
	// the others.
	Name string
	// Check is how often the leader's session is checked, and how long
	// a check may take (1 s).
	Check time.Duration
	Log   *slog.Logger
}

// NewLeader makes a campaign on the database at dsn; nothing connects
// yet.
func NewLeader(dsn string, opts LeaderOptions) (*Leader, error) {
	cfg, err := pgConfig(dsn, false)
	if err != nil {
		return nil, err
	}
	name := "syndicate leader " + opts.Name
	if len(name) > 63 { // PostgreSQL keeps 63 bytes of it
		name = name[:63]
	}
	cfg.RuntimeParams["application_name"] = name
	if opts.Check <= 0 {
		opts.Check = time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Leader{cfg: cfg, check: opts.Check, log: opts.Log}, nil
}

// Settle is how long after taking the lock a term begins: two checks
// and a half, more than a former leader takes to see its session gone.
func (l *Leader) Settle() time.Duration { return l.check*2 + l.check/2 }

// ErrLeaderElsewhere is returned by TryLead while another replica leads.
var ErrLeaderElsewhere = errors.New("another replica is the leader")

// Campaign waits until this replica holds the lock, then waits Settle,
// and returns the term: a context done when the session is lost or
// Resign is called, context.Cause saying which. It returns ctx's error
// when ctx ends first. Connection failures are logged and retried.
func (l *Leader) Campaign(ctx context.Context) (context.Context, error) {
	waiting := false
	for {
		conn, err := l.connect(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			l.log.Warn("campaigning for the leadership: the database cannot be reached; trying again", "err", err, "in", (5 * l.check).String())
			if err := sleep(ctx, 5*l.check); err != nil {
				return nil, err
			}
			continue
		}
		for {
			got, err := tryLock(ctx, conn, l.check)
			if err != nil {
				closeConn(conn)
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				l.log.Warn("campaigning for the leadership: the session was lost; reconnecting", "err", err)
				break
			}
			if got {
				term, err := l.begin(ctx, conn)
				if err != nil {
					return nil, err
				}
				if term != nil {
					return term, nil
				}
				break // lost during the settling: campaign again
			}
			if !waiting {
				l.log.Info("another replica is the leader: this one waits to take over", "leader", holder(ctx, conn, l.check))
				waiting = true
			}
			if err := sleep(ctx, l.check); err != nil {
				closeConn(conn)
				return nil, err
			}
		}
	}
}

// TryLead takes the leadership if no replica holds it, without waiting
// for it (a command run by hand beside the daemons); it returns
// ErrLeaderElsewhere, naming the holder, when one does.
func (l *Leader) TryLead(ctx context.Context) (context.Context, error) {
	conn, err := l.connect(ctx)
	if err != nil {
		return nil, fmt.Errorf("taking the leadership: %w", err)
	}
	got, err := tryLock(ctx, conn, l.check)
	if err != nil {
		closeConn(conn)
		return nil, fmt.Errorf("taking the leadership: %w", err)
	}
	if !got {
		who := holder(ctx, conn, l.check)
		closeConn(conn)
		return nil, fmt.Errorf("%w (%s): a daemon, or another post or digest run; wait for it or stop it", ErrLeaderElsewhere, who)
	}
	term, err := l.begin(ctx, conn)
	if err == nil && term == nil {
		err = errors.New("taking the leadership: the session was lost at once")
	}
	return term, err
}

func (l *Leader) connect(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, l.cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to the PostgreSQL state: %w", err)
	}
	return conn, nil
}

// begin starts the term of a session that holds the lock: its watcher
// checks the session from now on, and the term is returned after Settle.
// It returns a nil term when the session was lost meanwhile.
func (l *Leader) begin(ctx context.Context, conn *pgx.Conn) (context.Context, error) {
	term, end := context.WithCancelCause(context.Background())
	stop, stopped := make(chan struct{}), make(chan struct{})
	l.mu.Lock()
	l.stop, l.stopped = stop, stopped
	l.mu.Unlock()
	go l.watch(conn, end, stop, stopped)
	select {
	case <-time.After(l.Settle()):
		return term, nil
	case <-term.Done():
		l.log.Warn("the leadership was lost while taking over", "why", context.Cause(term).Error())
		return nil, nil
	case <-ctx.Done():
		l.Resign()
		return nil, ctx.Err()
	}
}

// watch checks, every Check, that the session still holds the lock. The
// first check that fails or does not answer in time ends the term; so
// does Resign. Either way the session is closed, which frees the lock.
func (l *Leader) watch(conn *pgx.Conn, end context.CancelCauseFunc, stop, stopped chan struct{}) {
	defer close(stopped)
	defer closeConn(conn)
	t := time.NewTicker(l.check)
	defer t.Stop()
	for {
		select {
		case <-stop:
			end(errors.New("resigned"))
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), l.check)
		var held int
		err := conn.QueryRow(ctx, `SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted`).Scan(&held)
		cancel()
		switch {
		case err != nil:
			end(fmt.Errorf("the session holding the leader's lock was lost: %w", err))
			return
		case held == 0:
			end(errors.New("the session no longer holds the leader's lock"))
			return
		}
	}
}

// Resign ends the term, if any, and closes its session: the lock is free
// for another replica at once.
func (l *Leader) Resign() {
	l.mu.Lock()
	stop, stopped := l.stop, l.stopped
	l.stop, l.stopped = nil, nil
	l.mu.Unlock()
	if stop == nil {
		return
	}
	close(stop)
	<-stopped
}

func tryLock(ctx context.Context, conn *pgx.Conn, timeout time.Duration) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*timeout)
	defer cancel()
	var got bool
	err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, LeaderKey).Scan(&got)
	return got, err
}

// Holder names the replica that leads ("" when none does), for status.
func (l *Leader) Holder(ctx context.Context) (string, error) {
	conn, err := l.connect(ctx)
	if err != nil {
		return "", err
	}
	defer closeConn(conn)
	// The query joins the lock to its session's activity: no row, no lock.
	if who, held := holderOf(ctx, conn, l.check); held {
		return who, nil
	}
	return "", nil
}

func leaderKeyParts() []any {
	return []any{int64(uint64(LeaderKey) >> 32), int64(uint64(LeaderKey) & 0xffffffff)}
}

// holder names the session that holds the lock, as far as this one may
// see it.
func holder(ctx context.Context, conn *pgx.Conn, timeout time.Duration) string {
	who, _ := holderOf(ctx, conn, timeout)
	return who
}

func holderOf(ctx context.Context, conn *pgx.Conn, timeout time.Duration) (string, bool) {
	ctx, cancel := context.WithTimeout(ctx, 5*timeout)
	defer cancel()
	var pid int
	var name string
	var since time.Time
	err := conn.QueryRow(ctx, `SELECT l.pid, COALESCE(a.application_name, ''), COALESCE(a.backend_start, now())
		FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
		AND l.classid::bigint = $1 AND l.objid::bigint = $2 AND l.objsubid = 1`,
		leaderKeyParts()...).Scan(&pid, &name, &since)
	if err != nil {
		return "its session is not visible to this user", false
	}
	if name == "" {
		name = "a session"
	}
	return fmt.Sprintf("%s, server process %d, since %s", name, pid, since.UTC().Format(time.RFC3339)), true
}

func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	conn.Close(ctx)
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
