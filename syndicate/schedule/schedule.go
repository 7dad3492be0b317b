// Package schedule is the daemon's clock: robfig/cron entries that call
// the jobs in the configured time zone, never overlapping, with panics
// recovered; and the catch-up decision made at start for a digest tick
// missed while the daemon was down. robfig/cron never runs a missed tick,
// which is why every job does all the pending work it finds.
package schedule

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
)

// Job is a scheduled function.
type Job struct {
	Name string
	Spec string
	Run  func(ctx context.Context) error
}

// Parse parses a standard 5-field spec or descriptor in loc.
func Parse(spec string, loc *time.Location) (cron.Schedule, error) {
	sched, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, err
	}
	if s, ok := sched.(*cron.SpecSchedule); ok {
		s.Location = loc
		return onceAWallClock{s}, nil
	}
	return sched, nil
}

// onceAWallClock skips a tick at the same local time as the one before:
// when clocks go back an hour, robfig/cron would run "30 2 * * *" at both
// 02:30s.
type onceAWallClock struct{ spec *cron.SpecSchedule }

func (s onceAWallClock) Next(t time.Time) time.Time {
	next := s.spec.Next(t)
	if !next.IsZero() && sameWallClock(next, t, s.spec.Location) {
		next = s.spec.Next(next)
	}
	return next
}

func sameWallClock(a, b time.Time, loc *time.Location) bool {
	a, b = a.In(loc), b.In(loc)
	return a.Year() == b.Year() && a.YearDay() == b.YearDay() && a.Hour() == b.Hour() && a.Minute() == b.Minute()
}

// CatchUp is the decision about a missed tick.
type CatchUp struct {
	Missed time.Time // the latest tick after last and not after now; zero when none
	Run    bool      // run now: missed and not older than the allowed lateness
}

// Decide finds the latest tick of sched after last and up to now, and
// says whether to run it now: only when it is at most maxLateness old (an
// older digest is skipped, never sent late). A zero last (nothing ever
// ran) decides nothing.
func Decide(sched cron.Schedule, last, now time.Time, maxLateness time.Duration) CatchUp {
	if last.IsZero() {
		return CatchUp{}
	}
	var missed time.Time
	// Walk forward from last; a bounded walk keeps a "@every 1s" spec
	// after a year away from taking forever.
	for t, n := sched.Next(last), 0; !t.After(now) && !t.IsZero() && n < 1_000_000; t, n = sched.Next(t), n+1 {
		missed = t
	}
	if missed.IsZero() {
		return CatchUp{}
	}
	return CatchUp{Missed: missed, Run: now.Sub(missed) <= maxLateness}
}

// Daemon runs jobs on their schedules.
type Daemon struct {
	cron *cron.Cron
	log  *slog.Logger
	loc  *time.Location

	mu      sync.Mutex
	entries map[string]cron.EntryID
	ctx     context.Context
}

// New makes a daemon; ctx is handed to every job run (cancel it to ask
// jobs in hand to stop after the post or message in hand).
func New(ctx context.Context, loc *time.Location, log *slog.Logger) *Daemon {
	logger := cronLogger{log}
	c := cron.New(cron.WithLocation(loc), cron.WithChain(cron.Recover(logger), cron.SkipIfStillRunning(logger)))
	return &Daemon{cron: c, log: log, loc: loc, entries: map[string]cron.EntryID{}, ctx: ctx}
}

// Add schedules a job.
func (d *Daemon) Add(j Job) error {
	sched, err := Parse(j.Spec, d.loc)
	if err != nil {
		return fmt.Errorf("%s schedule %q: %w", j.Name, j.Spec, err)
	}
	var id cron.EntryID
	id = d.cron.Schedule(sched, cron.FuncJob(func() {
		// The entry's Prev is the tick being run: cron sets it before it
		// answers Entry, which it does only between ticks.
		tick := d.cron.Entry(id).Prev
		j.Run(context.WithValue(d.ctx, tickKey{}, tick)) // the job logs its own run
		d.log.Info("next run", "job", j.Name, "at", d.next(id))
	}))
	d.mu.Lock()
	d.entries[j.Name] = id
	d.mu.Unlock()
	return nil
}

type tickKey struct{}

// Tick returns the scheduled time of the tick a job's run is for, when
// the schedule started it: replicas on one shared state, each ticking on
// its own clock, agree on it (the digest of a tick is made once).
func Tick(ctx context.Context) (time.Time, bool) {
	t, ok := ctx.Value(tickKey{}).(time.Time)
	return t, ok && !t.IsZero()
}

// Start starts the schedule and logs each job's next run.
func (d *Daemon) Start() {
	d.cron.Start()
	d.mu.Lock()
	defer d.mu.Unlock()
	for name, id := range d.entries {
		d.log.Info("scheduled", "job", name, "next", d.next(id))
	}
}

func (d *Daemon) next(id cron.EntryID) string {
	return d.cron.Entry(id).Next.In(d.loc).Format(time.RFC3339)
}

// Stop stops scheduling and returns a context done when the jobs in hand
// have returned.
func (d *Daemon) Stop() context.Context { return d.cron.Stop() }

// cronLogger adapts slog to cron's logger.
type cronLogger struct{ log *slog.Logger }

func (l cronLogger) Info(msg string, kv ...any) {
	if msg == "skip" {
		l.log.Info("job still running: this tick is skipped", kv...)
	}
}

func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.log.Error(msg, append(kv, "err", err)...)
}
