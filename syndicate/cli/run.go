package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate/metrics"
	"github.com/syndicate-bot/syndicate/syndicate/schedule"
	"github.com/syndicate-bot/syndicate/syndicate/store"
)

// run is the daemon: the post and digest jobs on their cron schedules,
// the HTTP endpoints, and a clean stop on SIGINT/SIGTERM.
func (a *app) run(ctx context.Context, args []string) error {
	fs := a.flags("run", "[--dry-run]")
	dryRun := fs.Bool("dry-run", false, "run the schedule but only log what each tick would post and mail")
	if help, err := a.parse(fs, args); help || err != nil {
		return err
	}
	if err := a.load(); err != nil {
		return err
	}
	// The daemon never takes a file that may be half written.
	a.settle = a.cfg.ArticlesSettle.D()
	s := a.cfg.Schedule
	postOn, digestOn := s.Post != "", s.Digest != ""
	if !*dryRun {
		var keys []string
		if postOn {
			keys = append(keys, "mastodon.server", "mastodon.access_token")
		}
		if digestOn {
			keys = append(keys, "email.from", "email.subscribers", "email.unsubscribe_url", "email.smtp.host")
		}
		if err := a.cfg.RequireKeys(keys...); err != nil {
			return &ExitError{Code: ExitUsage, Err: fmt.Errorf("%w\nTry: set them, or turn a job off with an empty schedule (schedule.post: \"\")", err)}
		}
	}
	a.metrics = metrics.New()
	var st store.Store
	if !*dryRun {
		var closeState func()
		var err error
		if st, closeState, err = a.openState(ctx); err != nil {
			return err
		}
		defer closeState()
	}

	h := &health{}
	d := schedule.New(ctx, a.cfg.Location(), a.log)
	jobs := map[string]*guardedJob{}
	add := func(name, spec string, tick func(context.Context) error) error {
		g := &guardedJob{name: name, run: tick, health: h, metrics: a.metrics, now: a.env.Now}
		jobs[name] = g
		return d.Add(schedule.Job{Name: name, Spec: spec, Run: g.Run})
	}
	if postOn {
		tick := func(ctx context.Context) error { return a.postTick(ctx, st) }
		if *dryRun {
			tick = a.postDryTick
		}
		if err := add("post", s.Post, tick); err != nil {
			return &ExitError{Code: ExitUsage, Err: err}
		}
	}
	if digestOn {
		tick := func(ctx context.Context) error { return a.sendDigest(ctx, st, false) }
		if *dryRun {
			tick = a.digestDryTick
		}
		if err := add("digest", s.Digest, tick); err != nil {
			return &ExitError{Code: ExitUsage, Err: err}
		}
	}
	if len(jobs) == 0 {
		return usageError("run: both schedule.post and schedule.digest are empty: nothing to do")
	}

	var server sync.WaitGroup
	if a.cfg.HTTP.Listen != "" {
		mux, err := a.mux(ctx, st, h)
		if err != nil {
			return err
		}
		server.Add(1)
		go func() {
			defer server.Done()
			if err := a.listen(ctx, mux); err != nil {
				a.log.Error("http", "err", err)
			}
		}()
	}

	d.Start()
	// Runs outside the schedule (the catch-up, SIGUSR1/SIGUSR2) are
	// waited for at shutdown like scheduled ones.
	var extra sync.WaitGroup
	if g := jobs["digest"]; g != nil && s.CatchUp && st != nil {
		a.catchUp(ctx, st, g, &extra)
	}
	extra.Add(1)
	go func() {
		defer extra.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case name := <-a.env.RunNow:
				g := jobs[name]
				if g == nil {
					a.log.Warn("asked to run a job that is off", "job", name)
					continue
				}
				a.log.Info("running a job now, as asked by a signal", "job", name)
				extra.Add(1)
				go func() { defer extra.Done(); a.runLogged(ctx, g) }()
			}
		}
	}()
	<-ctx.Done()
	a.log.Info("stopping: finishing the post or message in hand")
	stopped := d.Stop()
	finished := make(chan struct{})
	go func() { <-stopped.Done(); extra.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(9 * time.Second):
		a.log.Warn("a job did not stop in time; what it had recorded stays, the rest goes out on the next start")
	}
	server.Wait()
	a.log.Info("stopped")
	return nil
}

// mux is what http.listen serves, for "run" and "serve" alike: the
// one-click unsubscribe endpoint (when there is a state and an
// unsubscribe_url), /healthz and /metrics.
func (a *app) mux(ctx context.Context, st store.Store, h *health) (*http.ServeMux, error) {
	mux := http.NewServeMux()
	if st != nil && a.cfg.Email.UnsubscribeURL != "" {
		if err := a.unsubscribeHandler(ctx, mux, st); err != nil {
			return nil, err
		}
	}
	mux.Handle("GET /metrics", a.metrics.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if st != nil {
			if err := st.Ping(r.Context()); err != nil {
				http.Error(w, "state unreachable: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		if bad := h.failing(); bad != "" {
			http.Error(w, bad, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return mux, nil
}

// catchUp runs a digest missed while the daemon was down, unless it is
// older than schedule.max_lateness: a stale digest is never sent late.
func (a *app) catchUp(ctx context.Context, st store.Store, g *guardedJob, wg *sync.WaitGroup) {
	last, ok, err := st.LastDigest(ctx)
	if err != nil || !ok {
		return
	}
	sched, err := schedule.Parse(a.cfg.Schedule.Digest, a.cfg.Location())
	if err != nil {
		return
	}
	c := schedule.Decide(sched, last.CreatedAt, a.env.Now(), a.cfg.Schedule.MaxLateness.D())
	switch {
	case c.Missed.IsZero():
	case c.Run:
		a.log.Info("catching up a digest tick missed while stopped", "tick", c.Missed.In(a.cfg.Location()).Format(time.RFC3339))
		wg.Add(1)
		go func() { defer wg.Done(); a.runLogged(ctx, g) }()
	default:
		a.log.Warn("a digest tick missed while stopped is older than schedule.max_lateness: skipped, the next tick sends it",
			"tick", c.Missed.In(a.cfg.Location()).Format(time.RFC3339), "max_lateness", a.cfg.Schedule.MaxLateness.D())
	}
}

// runLogged runs a job outside the schedule, logged as a scheduled run is.
func (a *app) runLogged(ctx context.Context, g *guardedJob) {
	start := time.Now()
	a.log.Info("job started", "job", g.name)
	if err := g.Run(ctx); err != nil {
		a.log.Error("job failed", "job", g.name, "took", time.Since(start).Round(time.Millisecond).String(), "err", err)
		return
	}
	a.log.Info("job done", "job", g.name, "took", time.Since(start).Round(time.Millisecond).String())
}

// postTick is one scheduled post run.
func (a *app) postTick(ctx context.Context, st store.Store) error {
	set, err := a.articles()
	if err != nil {
		return err
	}
	a.printProblems(set.Problems)
	return a.postWith(ctx, st, set.Articles, nil)
}

// postDryTick logs what a post tick would do.
func (a *app) postDryTick(ctx context.Context) error {
	v, err := a.readView(ctx)
	if err != nil {
		return err
	}
	lim, _ := a.dryRunLimits(v)
	threads, _, problems, err := a.pendingThreads(v, lim, false)
	if err != nil {
		return err
	}
	a.printProblems(problems)
	var ids []string
	posts := 0
	for _, t := range threads {
		ids = append(ids, t.ArticleID)
		posts += len(t.Posts)
	}
	a.log.Info("dry run: this tick would post", "threads", len(threads), "posts", posts, "articles", strings.Join(ids, ","))
	return nil
}

// digestDryTick logs what a digest tick would do.
func (a *app) digestDryTick(ctx context.Context) error {
	v, err := a.readView(ctx)
	if err != nil {
		return err
	}
	pd, err := a.previewDigest(v)
	if err != nil {
		return err
	}
	a.printProblems(v.set.Problems)
	if len(pd.Digest.Articles) == 0 {
		a.log.Info("dry run: this tick would send no digest (no new articles)")
		return nil
	}
	a.log.Info("dry run: this tick would mail the digest", "subject", pd.Message.Subject, "articles", len(pd.Digest.Articles), "readers", pd.Readers)
	return nil
}

// guardedJob runs one job at a time (cron's SkipIfStillRunning does not
// see the start-up catch-up run) and records its health and metrics.
type guardedJob struct {
	name    string
	run     func(context.Context) error
	mu      sync.Mutex
	health  *health
	metrics *metrics.Metrics
	now     func() time.Time
}

func (g *guardedJob) Run(ctx context.Context) error {
	if !g.mu.TryLock() {
		return nil
	}
	defer g.mu.Unlock()
	err := g.run(ctx)
	result := "ok"
	switch {
	case err == nil:
	case errors.Is(err, ErrPartial):
		result = "partial"
	default:
		result = "error"
	}
	g.metrics.Ran(g.name, result, g.now())
	if result == "error" {
		g.health.set(g.name, err)
	} else {
		g.health.set(g.name, nil)
	}
	if errors.Is(err, ErrPartial) {
		return nil // already reported item by item
	}
	return err
}

// health is what /healthz reports: the last run of each job.
type health struct {
	mu     sync.Mutex
	errors map[string]error
}

func (h *health) set(job string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.errors == nil {
		h.errors = map[string]error{}
	}
	h.errors[job] = err
}

func (h *health) failing() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for job, err := range h.errors {
		if err != nil {
			out = append(out, fmt.Sprintf("%s job failed: %v", job, err))
		}
	}
	return strings.Join(out, "\n")
}
