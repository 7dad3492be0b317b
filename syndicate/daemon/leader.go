package daemon

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate"
)

// Several replicas may run on one shared state (PostgreSQL). An Elector
// makes one of them the leader; the jobs marked Leader (the post job) run
// only there, each run inside the leader's term: the run's context ends
// with the term, and outlet calls made through Fence are cut the moment
// it ends, so that a replica that loses the leadership stops posting
// before anything else. The other jobs (the digest, shared through
// claims) run on every replica.

// Elector chooses the one replica that runs the leader's jobs.
type Elector interface {
	// Campaign waits until this replica leads, or ctx ends (then it
	// returns ctx's error). The term it returns is done when the
	// leadership is lost; context.Cause says why.
	Campaign(ctx context.Context) (term context.Context, err error)
	// Resign gives the leadership up: the current term ends. The daemon
	// calls it once its jobs have stopped.
	Resign()
}

// ErrNotLeader is returned by a fenced outlet call made after the
// leader's term ended.
var ErrNotLeader = errors.New("this replica is no longer the leader")

type termKey struct{}

// WithTerm returns a context that ends when ctx or the term ends and
// carries the term, for Fence. A command run by hand that took the
// leadership runs in one.
func WithTerm(ctx context.Context, term context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(context.WithValue(ctx, termKey{}, term))
	stop := context.AfterFunc(term, func() { cancel(fmt.Errorf("%w: %w", ErrNotLeader, context.Cause(term))) })
	return ctx, func() { stop(); cancel(context.Canceled) }
}

// termOf returns the term a context was made in by WithTerm, or nil.
func termOf(ctx context.Context) context.Context {
	term, _ := ctx.Value(termKey{}).(context.Context)
	return term
}

// Fence wraps an outlet: a call made in a leader's term (see WithTerm)
// is refused once the term has ended, and one under way is cancelled
// when it ends — even inside the grace a stop gives the post in hand
// (the job's grace keeps the context's values, not its cancellation).
// Calls outside any term pass through. The outlet's add-ons (Editor,
// Deleter) are kept, fenced the same way, and none is added.
func Fence(o syndicate.Outlet) syndicate.Outlet {
	f := fenced{o}
	ed, canEdit := o.(syndicate.Editor)
	del, canDelete := o.(syndicate.Deleter)
	switch {
	case canEdit && canDelete:
		return struct {
			fenced
			fencedEditor
			fencedDeleter
		}{f, fencedEditor{ed}, fencedDeleter{del}}
	case canEdit:
		return struct {
			fenced
			fencedEditor
		}{f, fencedEditor{ed}}
	case canDelete:
		return struct {
			fenced
			fencedDeleter
		}{f, fencedDeleter{del}}
	}
	return f
}

type fenced struct{ o syndicate.Outlet }

// in runs f with ctx cut at the end of its term.
func in[T any](ctx context.Context, f func(context.Context) (T, error)) (T, error) {
	term := termOf(ctx)
	if term == nil {
		return f(ctx)
	}
	var zero T
	if term.Err() != nil {
		return zero, fmt.Errorf("%w: %w", ErrNotLeader, context.Cause(term))
	}
	cut, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(term, cancel)
	defer stop()
	v, err := f(cut)
	if err != nil && term.Err() != nil {
		return v, fmt.Errorf("%w: %w (%w)", ErrNotLeader, context.Cause(term), err)
	}
	return v, err
}

func (f fenced) Network() string { return f.o.Network() }

func (f fenced) Plan(p *syndicate.PlannedPost, now time.Time) { f.o.Plan(p, now) }

func (f fenced) Limits(ctx context.Context) (syndicate.Limits, error) {
	return in(ctx, func(ctx context.Context) (syndicate.Limits, error) { return f.o.Limits(ctx) })
}

func (f fenced) Post(ctx context.Context, p syndicate.PlannedPost, parent, root syndicate.Ref, media []string) (syndicate.Status, error) {
	return in(ctx, func(ctx context.Context) (syndicate.Status, error) { return f.o.Post(ctx, p, parent, root, media) })
}

func (f fenced) Upload(ctx context.Context, pic syndicate.Picture, description string) (string, error) {
	return in(ctx, func(ctx context.Context) (string, error) { return f.o.Upload(ctx, pic, description) })
}

func (f fenced) FindPosted(ctx context.Context, p syndicate.PlannedPost, parent syndicate.Ref, since time.Time) (syndicate.Status, bool, error) {
	type found struct {
		st syndicate.Status
		ok bool
	}
	r, err := in(ctx, func(ctx context.Context) (found, error) {
		st, ok, err := f.o.FindPosted(ctx, p, parent, since)
		return found{st, ok}, err
	})
	return r.st, r.ok, err
}

type fencedEditor struct{ e syndicate.Editor }

func (f fencedEditor) Edit(ctx context.Context, id string, p syndicate.PlannedPost, keepMedia bool, media []string) (syndicate.Status, error) {
	return in(ctx, func(ctx context.Context) (syndicate.Status, error) { return f.e.Edit(ctx, id, p, keepMedia, media) })
}

type fencedDeleter struct{ d syndicate.Deleter }

func (f fencedDeleter) Delete(ctx context.Context, st syndicate.Ref) error {
	_, err := in(ctx, func(ctx context.Context) (struct{}, error) { return struct{}{}, f.d.Delete(ctx, st) })
	return err
}

// leadership is the daemon's side of the election.
type leadership struct {
	mu   sync.Mutex
	term context.Context // nil: not the leader
}

func (l *leadership) current() context.Context {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.term != nil && l.term.Err() != nil {
		return nil
	}
	return l.term
}

func (l *leadership) set(term context.Context) {
	l.mu.Lock()
	l.term = term
	l.mu.Unlock()
}

// campaign runs until ctx ends: it waits for the leadership, starts the
// leader's jobs when it comes (resuming unfinished work, as a start does),
// and when the term ends says so and campaigns again.
func (d *daemon) campaign(ctx context.Context) {
	for {
		term, err := d.opts.Elector.Campaign(ctx)
		if err != nil {
			if ctx.Err() == nil {
				d.opts.Log.Error("campaigning for the leadership", "err", err)
			}
			return
		}
		d.leader.set(term)
		d.opts.Metrics.Leader.Set(1)
		d.opts.Log.Info("this replica is the leader: it posts")
		for _, name := range d.order {
			if g := d.guards[name]; g.job.Leader {
				d.startUp(ctx, g)
			}
		}
		select {
		case <-term.Done():
		case <-ctx.Done():
			// The daemon stops: its jobs finish first (see Run), then it
			// resigns.
			return
		}
		d.leader.set(nil)
		d.opts.Metrics.Leader.Set(0)
		d.opts.Log.Warn("this replica lost the leadership: posting stopped", "why", context.Cause(term).Error())
	}
}

// isLeader says whether this replica runs the leader's jobs now: always
// without an Elector (one process: the state's lock).
func (d *daemon) isLeader() bool {
	return d.opts.Elector == nil || d.leader.current() != nil
}

// leaderRun returns the context a leader job runs in: inside the current
// term, or nil when this replica is not the leader. Without an Elector it
// is ctx.
func (d *daemon) leaderRun(ctx context.Context) (context.Context, context.CancelFunc) {
	if d.opts.Elector == nil {
		return ctx, func() {}
	}
	term := d.leader.current()
	if term == nil {
		return nil, nil
	}
	return WithTerm(ctx, term)
}
