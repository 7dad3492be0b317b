package cli

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/article"
	"github.com/syndicate-bot/syndicate/syndicate/daemon"
	"github.com/syndicate-bot/syndicate/syndicate/job"
	"github.com/syndicate-bot/syndicate/syndicate/metrics"
	"github.com/syndicate-bot/syndicate/syndicate/schedule"
	"github.com/syndicate-bot/syndicate/syndicate/source"
	"github.com/syndicate-bot/syndicate/syndicate/store"
)

// run is the daemon (package daemon): the post and digest jobs on their
// cron schedules, unfinished work resumed at start and retried, the HTTP
// endpoints, and a clean stop on SIGINT/SIGTERM. Everything that can be
// wrong with the config or the templates stops it here, before any job.
func (a *app) run(ctx context.Context, args []string) error {
	fs := a.flags("run", "[--dry-run [--offline]]")
	dryRun := fs.Bool("dry-run", false, "run the schedule but only log what each tick would post and mail")
	fs.BoolVar(&a.offline, "offline", false, "with --dry-run: fetch no feed, use their items as the state last saw them")
	if help, err := a.parse(fs, args); help || err != nil {
		return err
	}
	if err := a.load(); err != nil {
		return err
	}
	// The daemon never takes a file that may be half written, and reads
	// again only the files that changed (a watched folder: none at all
	// when nothing changed).
	a.settle = a.cfg.ArticlesSettle.D()
	a.articleCache = article.NewCache()
	if err := a.articleCache.Watch(a.cfg.ArticlesDir); err != nil {
		a.log.Warn("cannot watch the articles folder: every tick lists it", "err", err)
	}
	defer a.articleCache.Close()
	s := a.cfg.Schedule
	postOn, digestOn := s.Post != "", s.Digest != ""
	if !postOn && !digestOn {
		return usageError("run: both schedule.post and schedule.digest are empty: nothing to do")
	}
	if !*dryRun {
		var errs []error
		if postOn {
			errs = append(errs, a.cfg.RequirePosting())
		}
		if digestOn {
			errs = append(errs, a.cfg.RequireMailing())
		}
		if err := joinErrors(errs); err != nil {
			return &ExitError{Code: ExitUsage, Err: fmt.Errorf("%w\nTry: set them, or turn a job off with an empty schedule (schedule.post: \"\")", err)}
		}
	}
	// Templates, the DKIM key and the relay's CA are read now: a broken
	// one stops start-up with its file and line, not the first tick.
	if _, err := a.threadOptions(syndicate.NetworkMastodon, syndicate.DefaultLimits()); err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	if digestOn {
		if _, err := a.digestRenderer(); err != nil {
			return err
		}
		if _, err := a.smtpOptions(); err != nil {
			return err
		}
	}
	a.metrics = metrics.New(a.cfg.Networks()...)
	var st store.Store
	var elector daemon.Elector
	if !*dryRun {
		var closeState func()
		var err error
		if st, closeState, elector, err = a.openDaemonState(ctx); err != nil {
			return err
		}
		defer closeState()
		a.metrics.Replica.WithLabelValues(a.replica()).Set(1)
		if len(a.cfg.Feeds) > 0 {
			// One set of feeds for the daemon's life: each feed's every is
			// kept to, and an item's key points are chosen once.
			a.liveFeeds = a.feedSource(st, source.Live)
			a.liveFeeds.RespectEvery = true
		}
	}

	opts := daemon.Options{
		Location: a.cfg.Location(), Log: a.log, Metrics: a.metrics, Now: a.env.Now, Listen: a.cfg.HTTP.Listen,
		RunNow: a.rescanFirst(ctx, a.env.RunNow), Grace: job.Grace, RetryMin: a.cfg.Schedule.RetryBackoff.D(),
		Elector: elector,
	}
	var jobs []daemon.Job
	if st != nil {
		opts.Ping = st.Ping
		if a.cfg.HTTP.Listen != "" && a.cfg.Email.UnsubscribeURL != "" && a.cfg.Email.From != "" {
			mux := http.NewServeMux()
			if err := a.unsubscribeHandler(ctx, mux, st); err != nil {
				return err
			}
			opts.Routes = mux
		}
	}
	if postOn {
		// One poster: on a shared state, only the leader runs it.
		j := daemon.Job{Name: "post", Spec: s.Post, Run: a.postDryTick, Leader: true}
		if st != nil {
			var unfinished atomic.Value // string: the threads left half posted by the last run
			unfinished.Store("")
			note := func(ctx context.Context) {
				if what, err := a.unfinishedThreads(ctx, st); err == nil {
					unfinished.Store(what)
				}
			}
			note(ctx)
			j.Run = func(ctx context.Context) error {
				err := a.postTick(ctx, st)
				note(context.WithoutCancel(ctx))
				return err
			}
			j.Unfinished = func(context.Context) (string, error) { return unfinished.Load().(string), nil }
			if elector != nil {
				// A replica that becomes the leader reads the state afresh:
				// the leader before it may have left a thread half posted.
				j.StartUp = func(ctx context.Context) (bool, string) {
					note(ctx)
					what := unfinished.Load().(string)
					return what != "", "taking over: " + what
				}
			}
		}
		jobs = append(jobs, j)
	}
	if digestOn {
		j := daemon.Job{Name: "digest", Spec: s.Digest, Run: a.digestDryTick}
		if st != nil {
			j.Run = func(ctx context.Context) error { return a.sendDigest(ctx, st, false) }
			j.Unfinished = func(ctx context.Context) (string, error) { return unfinishedDigest(ctx, st) }
			if s.CatchUp {
				j.StartUp = func(ctx context.Context) (bool, string) { return a.catchUp(ctx, st) }
			}
		}
		jobs = append(jobs, j)
	}
	if err := daemon.Run(ctx, opts, jobs...); err != nil {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("%s:%d: %w", a.cfg.Path, max(1, a.cfg.Line("http.listen")), err)}
	}
	return nil
}

func joinErrors(errs []error) error {
	var out []error
	for _, e := range errs {
		if e != nil {
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		return nil
	}
	if len(out) == 1 {
		return out[0]
	}
	return fmt.Errorf("%w\n%w", out[0], out[1])
}

// unfinishedThreads names the threads half posted that will be continued
// ("" for none): the state's record of them on each network, classified
// with the articles as they are now (a thread whose article became a
// draft is stopped, not unfinished).
func (a *app) unfinishedThreads(ctx context.Context, st store.Store) (string, error) {
	records, err := job.ReadRecords(ctx, st, a.cfg.Networks())
	if err != nil {
		return "", err
	}
	posting := 0
	for _, rs := range records {
		for _, r := range rs {
			if r.State == syndicate.StatePosting {
				posting++
			}
		}
	}
	if posting == 0 {
		return "", nil
	}
	set, err := a.articles(ctx, st, source.Offline)
	if err != nil {
		return "", err
	}
	var ids []string
	for _, n := range a.cfg.Networks() {
		for _, art := range set.Articles {
			r, known := records[n][art.ID]
			if job.Classify(art, r, known, a.env.Now(), 0) == job.Posting {
				ids = append(ids, art.ID+" ("+n+")")
			}
		}
	}
	if len(ids) == 0 {
		return "", nil
	}
	return fmt.Sprintf("%d thread(s) half posted: %s", len(ids), strings.Join(ids, ", ")), nil
}

// unfinishedDigest says which digest still has readers to mail.
func unfinishedDigest(ctx context.Context, st store.Store) (string, error) {
	rec, open, err := st.OpenDigest(ctx)
	if err != nil || !open {
		return "", err
	}
	left, err := st.CountPending(ctx, rec.ID, job.MaxAttempts)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("digest #%d: %d reader(s) not yet mailed", rec.ID, left), nil
}

// catchUp decides whether to run a digest missed while the daemon was
// down: not when it is older than schedule.max_lateness (a stale digest
// is never sent late).
func (a *app) catchUp(ctx context.Context, st store.Store) (bool, string) {
	last, ok, err := st.LastDigest(ctx)
	if err != nil || !ok {
		return false, ""
	}
	sched, err := schedule.Parse(a.cfg.Schedule.Digest, a.cfg.Location())
	if err != nil {
		return false, ""
	}
	c := schedule.Decide(sched, last.CreatedAt, a.env.Now(), a.cfg.Schedule.MaxLateness.D())
	tick := c.Missed.In(a.cfg.Location()).Format(time.RFC3339)
	switch {
	case c.Missed.IsZero():
		return false, ""
	case c.Run:
		// Every replica starting catches up the same tick: its one digest.
		a.catchUpSlot.Store(slotOf(c.Missed))
		return true, "catching up the digest tick of " + tick + ", missed while stopped"
	}
	a.log.Warn("a digest tick missed while stopped is older than schedule.max_lateness: skipped, the next tick sends it",
		"tick", tick, "max_lateness", a.cfg.Schedule.MaxLateness.D().String())
	return false, ""
}

// postTick is one scheduled post run.
func (a *app) postTick(ctx context.Context, st store.Store) error {
	set, err := a.articles(ctx, st, source.Live)
	if err != nil {
		return err
	}
	a.printProblems(set.Problems)
	return a.postWith(ctx, st, set, nil)
}

// postDryTick logs what a post tick would do.
func (a *app) postDryTick(ctx context.Context) error {
	v, err := a.readView(ctx)
	if err != nil {
		return err
	}
	nets, problems, err := a.pendingThreads(v, false)
	if err != nil {
		return err
	}
	a.printProblems(problems)
	for _, nt := range nets {
		var ids []string
		posts := 0
		for _, t := range nt.threads {
			ids = append(ids, t.ArticleID)
			posts += len(t.Posts)
		}
		a.log.Info("dry run: this tick would post", "network", nt.network, "threads", len(nt.threads), "posts", posts, "articles", strings.Join(ids, ","))
	}
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
	if pd.Digest.Empty() {
		a.log.Info("dry run: this tick would send no digest (no new articles or corrections)")
		return nil
	}
	a.log.Info("dry run: this tick would mail the digest", "subject", pd.Message.Subject, "articles", len(pd.Digest.Articles), "corrections", len(pd.Digest.Notices), "readers", pd.Readers)
	return nil
}

// rescanFirst passes on requests to run a job now, each after dropping
// the article cache's "nothing changed" shortcut (see Cache.Invalidate).
func (a *app) rescanFirst(ctx context.Context, in <-chan string) <-chan string {
	if in == nil {
		return nil
	}
	out := make(chan string)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case name := <-in:
				a.articleCache.Invalidate()
				select {
				case out <- name:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out
}
