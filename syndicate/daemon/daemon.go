// Package daemon runs the bot's jobs unattended: on their cron schedules
// (package schedule), once at start when the state holds unfinished work
// or a missed digest, again with backoff while work stays unfinished, and
// when a signal asks; one run of a job at a time, whatever started it.
// It serves /healthz and /metrics beside the routes it is given, and it
// stops in order: no new runs, the item in hand finishes, then the HTTP
// listener and the state close. Replicas sharing one state elect a
// leader (leader.go): the jobs marked Leader run only there.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/httpd"
	"github.com/syndicate-bot/syndicate/syndicate/metrics"
	"github.com/syndicate-bot/syndicate/syndicate/schedule"
)

// Job is one of the daemon's jobs.
type Job struct {
	Name string
	Spec string // cron spec in the daemon's time zone
	// Run does all the pending work it finds. An error wrapping
	// syndicate.ErrPartial means some items failed and were reported;
	// the run counts as done.
	Run func(ctx context.Context) error
	// Unfinished says what work this job left undone in the state ("" for
	// none): a digest with readers left, a thread half posted. Such work
	// is resumed at start, retried with backoff while it remains, and
	// /healthz is unhealthy while it waits. nil: the job leaves none.
	Unfinished func(ctx context.Context) (string, error)
	// StartUp, when set, may ask for a run at start besides unfinished
	// work, saying why (a digest tick missed while the daemon was down).
	StartUp func(ctx context.Context) (run bool, why string)
	// Leader jobs run only on the replica that leads (see Elector), each
	// run inside its term; their start-up work is done when a term begins.
	Leader bool
}

// Options configure the daemon.
type Options struct {
	Location *time.Location
	Log      *slog.Logger
	Metrics  *metrics.Metrics
	Now      func() time.Time
	// Listen, when set, is the address /healthz, /metrics and Routes are
	// served on.
	Listen string
	Routes *http.ServeMux
	// Ping checks the state for /healthz; nil: no state (a dry run).
	Ping func(ctx context.Context) error
	// RunNow carries requests to run a job now, by name (SIGUSR1 and
	// SIGUSR2 in the program).
	RunNow <-chan string
	// Grace is how long the item in hand may take after a stop; the
	// daemon waits that and a little more for its jobs.
	Grace time.Duration
	// RetryMin and RetryMax bound the backoff between runs of a job whose
	// work stays unfinished (30 s, doubling to 15 min).
	RetryMin, RetryMax time.Duration
	// Limits are the HTTP listener's (httpd.DefaultLimits when zero).
	Limits httpd.Limits
	// Elector, when set, makes one of the replicas sharing the state the
	// leader (leader.go); nil: this process is the only one (the state's
	// lock), and leads.
	Elector Elector
}

// Run runs the jobs until ctx is done, then stops them in order.
func Run(ctx context.Context, opts Options, jobs ...Job) error {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Metrics == nil {
		opts.Metrics = metrics.New()
	}
	if opts.RetryMin <= 0 {
		opts.RetryMin = 30 * time.Second
	}
	if opts.RetryMax < opts.RetryMin {
		opts.RetryMax = max(opts.RetryMin, 15*time.Minute)
	}
	if opts.Limits == (httpd.Limits{}) {
		opts.Limits = httpd.DefaultLimits()
	}
	d := &daemon{opts: opts, guards: map[string]*guard{}}
	sched := schedule.New(ctx, opts.Location, opts.Log)
	for _, j := range jobs {
		g := &guard{job: j, d: d}
		context.AfterFunc(ctx, g.cancelRetry)
		d.guards[j.Name] = g
		d.order = append(d.order, j.Name)
		if j.Spec == "" {
			continue
		}
		if err := sched.Add(schedule.Job{Name: j.Name, Spec: j.Spec, Run: func(ctx context.Context) error { return g.run(ctx, "schedule") }}); err != nil {
			return err
		}
	}

	// The listener first: a port in use stops start-up before any job.
	var ln net.Listener
	if opts.Listen != "" {
		var err error
		if ln, err = net.Listen("tcp", opts.Listen); err != nil {
			return fmt.Errorf("http.listen: %w", err)
		}
	}
	var server sync.WaitGroup
	httpCtx, stopHTTP := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHTTP()
	if ln != nil {
		opts.Log.Info("listening", "addr", ln.Addr().String())
		server.Add(1)
		go func() {
			defer server.Done()
			if err := httpd.Serve(httpCtx, ln, d.mux(), opts.Limits, opts.Log); err != nil {
				opts.Log.Error("http", "err", err)
			}
		}()
	}

	sched.Start()
	if opts.Elector == nil {
		opts.Metrics.Leader.Set(1)
	}
	for _, name := range d.order {
		if g := d.guards[name]; !g.job.Leader || opts.Elector == nil {
			d.startUp(ctx, g)
		}
	}
	if opts.Elector != nil {
		d.runs.Add(1) // shutdown waits for it: it may start runs
		go func() { defer d.runs.Done(); d.campaign(ctx) }()
	}
	d.runs.Add(1)
	go func() {
		defer d.runs.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case name := <-opts.RunNow:
				g := d.guards[name]
				if g == nil {
					opts.Log.Warn("asked to run a job that is off", "job", name)
					continue
				}
				d.spawn(ctx, g, triggerSignal)
			}
		}
	}()

	<-ctx.Done()
	opts.Log.Info("stopping: finishing the post or message in hand")
	stopped := sched.Stop()
	finished := make(chan struct{})
	go func() { <-stopped.Done(); d.runs.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(opts.Grace + 2*time.Second):
		opts.Log.Warn("a job did not stop in time; what it had recorded stays, the rest goes out on the next start")
	}
	if opts.Elector != nil {
		// The leadership goes once the post in hand is done: another
		// replica takes over from what is recorded.
		opts.Elector.Resign()
		opts.Metrics.Leader.Set(0)
	}
	// The listener goes last, so /healthz answers while jobs finish.
	stopHTTP()
	server.Wait()
	opts.Log.Info("stopped")
	return nil
}

type daemon struct {
	opts   Options
	guards map[string]*guard
	order  []string
	runs   sync.WaitGroup // runs outside the schedule, and retry timers
	leader leadership
}

// startUp runs a job at start when it left work unfinished, or when its
// StartUp asks: the work of a stopped daemon never waits for the next
// tick (a week, for a weekly digest).
func (d *daemon) startUp(ctx context.Context, g *guard) {
	if g.job.Unfinished != nil {
		what, err := g.job.Unfinished(ctx)
		if err != nil {
			d.opts.Log.Error("reading unfinished work", "job", g.job.Name, "err", err)
		} else if what != "" {
			d.opts.Log.Info("resuming unfinished work at start", "job", g.job.Name, "work", what)
			d.spawn(ctx, g, "start-up: unfinished work")
			return
		}
	}
	if g.job.StartUp != nil {
		if run, why := g.job.StartUp(ctx); run {
			d.opts.Log.Info("running at start", "job", g.job.Name, "why", why)
			d.spawn(ctx, g, "start-up: "+why)
		}
	}
}

// Triggers of runs asked for by a signal (SIGUSR1, SIGUSR2), and of the
// run a signal asked for while the job was running.
const (
	triggerSignal = "signal"
	triggerQueued = "signal (asked while it ran)"
)

// spawn runs a job outside the schedule; shutdown waits for it.
func (d *daemon) spawn(ctx context.Context, g *guard, trigger string) {
	d.runs.Add(1)
	go func() {
		defer d.runs.Done()
		g.run(ctx, trigger)
	}()
}

// guard runs one job at a time (cron's SkipIfStillRunning does not see
// runs from start-up, retries or signals) and keeps its health.
type guard struct {
	job Job
	d   *daemon

	mu      sync.Mutex // held while running
	state   sync.Mutex // guards the fields below
	running bool
	queued  bool // a signal came while it ran: it runs once more
	lastErr error
	retryAt time.Time
	backoff time.Duration
	timer   *time.Timer
}

// run runs the job unless it is running already, logs it like every
// other run, records its health, and arranges a retry while its work
// stays unfinished.
func (g *guard) run(ctx context.Context, trigger string) error {
	if !g.mu.TryLock() {
		if trigger == triggerSignal {
			// The run in hand may have read the articles before what the
			// signal is about (a breaking story just saved): one more run
			// follows it; signals meanwhile ask for that same one.
			g.state.Lock()
			g.queued = true
			g.state.Unlock()
			g.d.opts.Log.Info("job running: asked again, it runs once more when this run is done", "job", g.job.Name, "trigger", trigger)
			return nil
		}
		g.d.opts.Log.Info("job still running: this run is skipped", "job", g.job.Name, "trigger", trigger)
		return nil
	}
	outer := ctx
	defer func() {
		g.mu.Unlock()
		g.state.Lock()
		again := g.queued
		g.queued = false
		g.state.Unlock()
		if again && outer.Err() == nil {
			g.d.spawn(outer, g, triggerQueued)
		}
	}()
	if ctx.Err() != nil {
		return nil
	}
	if g.job.Leader {
		runCtx, done := g.d.leaderRun(ctx)
		if runCtx == nil {
			g.d.opts.Log.Info("not the leader: the leader's replica runs this job", "job", g.job.Name, "trigger", trigger)
			return nil
		}
		defer done()
		ctx = runCtx
	}
	g.setRunning(true)
	start := time.Now()
	g.d.opts.Log.Info("job started", "job", g.job.Name, "trigger", trigger)
	err := g.job.Run(ctx)
	took := time.Since(start).Round(time.Millisecond).String()
	result := "ok"
	switch {
	case err == nil:
	case errors.Is(err, syndicate.ErrPartial):
		result = "partial"
	default:
		result = "error"
	}
	g.d.opts.Metrics.Ran(g.job.Name, result, g.d.opts.Now())
	if result == "error" {
		g.d.opts.Log.Error("job failed", "job", g.job.Name, "took", took, "err", err)
	} else {
		g.d.opts.Log.Info("job done", "job", g.job.Name, "took", took)
	}
	g.finish(ctx, result == "error", err)
	if result == "partial" {
		return nil // already reported item by item
	}
	return err
}

func (g *guard) setRunning(v bool) {
	g.state.Lock()
	g.running = v
	g.state.Unlock()
}

// finish records the run's health and, when the job's work stays
// unfinished, sets a retry after a backoff that doubles up to RetryMax;
// a run that leaves nothing unfinished resets it.
func (g *guard) finish(ctx context.Context, failed bool, err error) {
	var what string
	if g.job.Unfinished != nil && ctx.Err() == nil {
		var uerr error
		what, uerr = g.job.Unfinished(context.WithoutCancel(ctx))
		if uerr != nil {
			what = ""
		}
	}
	g.state.Lock()
	defer g.state.Unlock()
	g.running = false
	if failed {
		g.lastErr = err
	} else {
		g.lastErr = nil
	}
	if g.timer != nil && g.timer.Stop() {
		g.d.runs.Done() // the retry set before will not run
	}
	g.timer = nil
	if what == "" {
		g.backoff, g.retryAt = 0, time.Time{}
		return
	}
	if g.backoff == 0 {
		g.backoff = g.d.opts.RetryMin
	} else {
		g.backoff = min(2*g.backoff, g.d.opts.RetryMax)
	}
	g.retryAt = time.Now().Add(g.backoff)
	g.d.opts.Log.Warn("work left unfinished: retrying", "job", g.job.Name, "work", what, "in", g.backoff.String())
	g.d.runs.Add(1)
	g.timer = time.AfterFunc(g.backoff, func() {
		defer g.d.runs.Done()
		if ctx.Err() == nil {
			g.run(ctx, "retry")
		}
	})
}

// cancelRetry drops a retry that has not fired: the daemon is stopping,
// and a retry that will never run must not hold up the shutdown.
func (g *guard) cancelRetry() {
	g.state.Lock()
	defer g.state.Unlock()
	if g.timer != nil && g.timer.Stop() {
		g.d.runs.Done()
	}
	g.timer = nil
}

// health says what is wrong with a job: its last run failed, or its
// work waits unfinished while no run is under way.
func (g *guard) health(ctx context.Context) string {
	g.state.Lock()
	running, lastErr, retryAt := g.running, g.lastErr, g.retryAt
	g.state.Unlock()
	if g.job.Leader && !g.d.isLeader() {
		return "" // another replica runs it
	}
	var problems []string
	if lastErr != nil {
		problems = append(problems, fmt.Sprintf("%s job failed: %v", g.job.Name, lastErr))
	}
	if !running && g.job.Unfinished != nil {
		what, err := g.job.Unfinished(ctx)
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("%s job: reading its unfinished work: %v", g.job.Name, err))
		case what != "":
			next := "at the next run"
			if !retryAt.IsZero() {
				next = "next try at " + retryAt.In(g.d.opts.Location).Format(time.RFC3339)
			}
			problems = append(problems, fmt.Sprintf("%s job: unfinished work is waiting (%s); %s", g.job.Name, what, next))
		}
	}
	return strings.Join(problems, "\n")
}

// mux serves the routes given, /healthz and /metrics.
func (d *daemon) mux() http.Handler {
	mux := d.opts.Routes
	if mux == nil {
		mux = http.NewServeMux()
	}
	mux.Handle("GET /metrics", d.opts.Metrics.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if d.opts.Ping != nil {
			if err := d.opts.Ping(r.Context()); err != nil {
				http.Error(w, "state unreachable: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		var bad []string
		names := append([]string(nil), d.order...)
		sort.Strings(names)
		for _, name := range names {
			if p := d.guards[name].health(r.Context()); p != "" {
				bad = append(bad, p)
			}
		}
		if len(bad) > 0 {
			http.Error(w, strings.Join(bad, "\n"), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
		switch {
		case d.opts.Elector == nil && len(d.order) > 0:
			fmt.Fprintln(w, "leader: yes (the only replica)")
		case d.opts.Elector != nil && d.isLeader():
			fmt.Fprintln(w, "leader: yes (this replica posts)")
		case d.opts.Elector != nil:
			fmt.Fprintln(w, "leader: no (another replica posts; this one mails its share of the digest)")
		}
	})
	return mux
}
