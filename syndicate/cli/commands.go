package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/article"
	"github.com/syndicate-bot/syndicate/syndicate/daemon"
	"github.com/syndicate-bot/syndicate/syndicate/job"
	"github.com/syndicate-bot/syndicate/syndicate/source"
	"github.com/syndicate-bot/syndicate/syndicate/store"
	"github.com/syndicate-bot/syndicate/syndicate/text"
)

// openState takes the state's lock and opens it for a live run; a state
// on PostgreSQL takes the leadership instead (see state.go).
func (a *app) openState(ctx context.Context) (store.Store, func(), error) {
	if a.cfg.StatePostgres() {
		return a.openPostgresLeading(ctx)
	}
	lock, err := store.Acquire(a.cfg.State)
	if err != nil {
		if errors.Is(err, store.ErrLocked) {
			return nil, nil, &ExitError{Code: ExitUsage, Err: err}
		}
		return nil, nil, err
	}
	st, err := store.Open(ctx, a.cfg.State, store.Options{Now: a.env.Now})
	if err != nil {
		lock.Release()
		return nil, nil, err
	}
	return st, func() { st.Close(); lock.Release() }, nil
}

// post posts the pending threads, or shows them with --dry-run.
func (a *app) post(ctx context.Context, args []string) error {
	fs := a.flags("post", "[--dry-run [--json] [--all] [--offline]] [--retry ID] [--mark-posted] [--network NAME]")
	dryRun := fs.Bool("dry-run", false, "show the threads that would be posted now; send and record nothing")
	asJSON := fs.Bool("json", false, "with --dry-run: print one JSON document")
	all := fs.Bool("all", false, "with --dry-run: show every pending thread, not only this run's (max_threads_per_run)")
	retry := fs.String("retry", "", "make the failed article `ID` pending again, then post")
	markPosted := fs.Bool("mark-posted", false, "record every current article as posted without posting (adopting an existing archive)")
	fs.BoolVar(&a.offline, "offline", false, "with --dry-run: fetch no feed, show their items as the state last saw them")
	network := fs.String("network", "", "only this network (`NAME`: mastodon or bluesky); with --mark-posted, that network's threads alone, not the digest")
	if help, err := a.parse(fs, args); help || err != nil {
		return err
	}
	if err := a.load(); err != nil {
		return err
	}
	if err := a.chooseNetwork("post", *network); err != nil {
		return err
	}
	if *dryRun {
		return a.postDryRun(ctx, *asJSON, *all)
	}
	if *asJSON || *all {
		return usageError("post: --json and --all go with --dry-run")
	}
	if !*markPosted {
		if err := a.requirePosting(); err != nil {
			return &ExitError{Code: ExitUsage, Err: err}
		}
	}
	st, closeState, err := a.openState(ctx)
	if err != nil {
		return err
	}
	defer closeState()
	set, err := a.articles(ctx, st, source.Live)
	if err != nil {
		return err
	}
	a.printProblems(set.Problems)

	if *markPosted {
		return a.markPosted(ctx, st, set)
	}
	if *retry != "" {
		var retried []string
		for _, n := range a.networks() {
			ok, err := st.RetryArticle(ctx, n, *retry)
			if err != nil {
				return err
			}
			if ok {
				retried = append(retried, n)
			}
		}
		if len(retried) == 0 {
			return usageError("post --retry %s: no article with that ID failed on %s (see \"syndicate status\")", *retry, strings.Join(a.networks(), " or "))
		}
		a.log.Info("article made pending again", "article", *retry, "networks", strings.Join(retried, ","))
	}

	return a.postWith(ctx, st, set, set.Problems)
}

// requirePosting reports the keys a live post run needs but the file
// leaves empty, for the networks it posts to.
func (a *app) requirePosting() error {
	if a.network == "" {
		return a.cfg.RequirePosting()
	}
	return a.cfg.RequirePostingTo(a.network)
}

// markPosted adopts the archive: every current article (not a draft, not
// embargoed) recorded as posted on the networks, and as mailed when no
// --network limits it to one network's threads.
func (a *app) markPosted(ctx context.Context, st store.Store, set article.Set) error {
	networks := a.networks()
	records, err := job.ReadRecords(ctx, st, networks)
	if err != nil {
		return err
	}
	var adopt []*syndicate.Article
	now := a.env.Now()
	for _, art := range set.Articles {
		if s := job.ClassifyAll(art, records, now, 0); s != job.Draft && s != job.Waiting {
			adopt = append(adopt, art)
		}
	}
	mail := a.network == ""
	posts, mailed, err := st.AdoptArticles(ctx, adopt, networks, mail)
	if err != nil {
		return err
	}
	var parts []string
	for _, n := range networks {
		parts = append(parts, fmt.Sprintf("%d article(s) recorded as posted on %s without posting (%d already had a record there)", posts[n], networkName(n), len(adopt)-posts[n]))
	}
	if mail {
		parts = append(parts, fmt.Sprintf("%d as mailed without mailing", mailed))
	} else {
		parts = append(parts, "the digest is left as it is")
	}
	fmt.Fprintf(a.env.Stdout, "adopted the archive: %s; only articles added from now on are posted and mailed\n", strings.Join(parts, "; "))
	return partial(set.Problems)
}

// postWith runs the post job on every network, each in a run of its own
// at the same time (one network failing, or waiting for a rate limit,
// never holds up or stops another), and reports them in order.
func (a *app) postWith(ctx context.Context, st store.Store, set article.Set, problems []error) error {
	articles := set.Articles
	images, err := a.pictures(ctx)
	if err != nil {
		return err
	}
	defer images.Close()
	// A run that took the leadership by hand stops when it loses it; the
	// daemon's runs are inside its term already. The outlets are fenced by
	// the term either way (see daemon.Fence).
	ctx, done := a.inTerm(ctx)
	defer done()
	networks := a.networks()
	deps := make([]job.PostDeps, len(networks))
	for i, n := range networks {
		opts, err := a.postOptions(n)
		if err != nil {
			return &ExitError{Code: ExitUsage, Err: err}
		}
		out, err := a.outlet(n)
		if err != nil {
			return err
		}
		deps[i] = job.PostDeps{Options: opts, Ledger: st, Outlet: daemon.Fence(out), Images: images, Log: a.log, Now: a.env.Now, Retries: 4, Settle: a.settle,
			Files: set.Files, FolderChanged: set.FolderChanged}
	}
	reps := make([]job.PostReport, len(networks))
	errs := make([]error, len(networks))
	var wg sync.WaitGroup
	for i := range networks {
		wg.Go(func() { reps[i], errs[i] = job.Post(ctx, deps[i], articles) })
	}
	wg.Wait()

	failed, stopped := false, false
	var unauthorized, other []error
	for i, n := range networks {
		rep, err := reps[i], errs[i]
		if err == nil || rep.Posts > 0 || len(rep.Finished) > 0 || len(rep.Failed) > 0 {
			a.printPostReport(rep) // (a run that did nothing but fail says so below)
		}
		failed = failed || len(rep.Failed) > 0
		if a.metrics != nil {
			a.metrics.Posts.WithLabelValues(n, "made").Add(float64(rep.Posts))
			a.metrics.Posts.WithLabelValues(n, "failed").Add(float64(len(rep.Failed)))
			a.metrics.PendingArticles.WithLabelValues(n).Set(float64(rep.Left + rep.Waiting))
		}
		switch {
		case err == nil:
		case errors.Is(err, syndicate.ErrUnauthorized):
			unauthorized = append(unauthorized, fmt.Errorf("%s: %w\n%s", n, err, a.unauthorizedHint(n)))
		case errors.Is(err, job.ErrStopped):
			stopped = true
		default:
			other = append(other, fmt.Errorf("%s: %w", n, err))
		}
	}
	if len(unauthorized) > 0 {
		return &ExitError{Code: ExitUsage, Err: errors.Join(append(unauthorized, other...)...)}
	}
	if len(other) > 0 {
		return errors.Join(other...)
	}
	if stopped {
		fmt.Fprintln(a.env.Stderr, "stopped: the rest goes out on the next run")
		return nil
	}
	if failed {
		return ErrPartial
	}
	return partial(problems)
}

func partial(problems []error) error {
	if len(problems) > 0 {
		return ErrPartial
	}
	return nil
}

// printPostReport prints what a run did on one network: a line on
// stdout, and each failure and picture left out on stderr.
func (a *app) printPostReport(rep job.PostReport) {
	parts := []string{"nothing to post"}
	if n := len(rep.Finished); n > 0 {
		parts = []string{fmt.Sprintf("posted %d thread(s) (%s)", n, text.Terminal(strings.Join(rep.Finished, ", ")))}
	} else if len(rep.Failed) > 0 || len(rep.Edited) > 0 || len(rep.Retracted) > 0 {
		parts = nil
	}
	for _, f := range rep.Failed {
		fmt.Fprintf(a.env.Stderr, "%s: %s: failed: %s\n", rep.Network, text.Terminal(f.ArticleID), text.Terminal(f.Reason))
	}
	for _, f := range rep.Unpictured {
		fmt.Fprintf(a.env.Stderr, "%s: %s: %s\n", rep.Network, text.Terminal(f.ArticleID), text.Terminal(f.Reason))
	}
	if n := len(rep.Edited); n > 0 {
		parts = append(parts, fmt.Sprintf("changed %d thread(s) (%s): %d post(s) edited, %d deleted, %d correction(s)",
			n, text.Terminal(strings.Join(rep.Edited, ", ")), rep.Edits, rep.Deletes, rep.Corrections))
	}
	if n := len(rep.Retracted); n > 0 {
		parts = append(parts, fmt.Sprintf("deleted %d retracted thread(s) (%s)", n, text.Terminal(strings.Join(rep.Retracted, ", "))))
	}
	if rep.Refused != "" {
		fmt.Fprintf(a.env.Stderr, "%s: %s\n", rep.Network, text.Terminal(rep.Refused))
	}
	if n := len(rep.Failed); n > 0 {
		parts = append(parts, fmt.Sprintf("%d failed (retry with: syndicate post --retry ID)", n))
	}
	if rep.Left > 0 {
		parts = append(parts, fmt.Sprintf("%d left for later runs", rep.Left))
	}
	if rep.Waiting > 0 {
		parts = append(parts, fmt.Sprintf("%d waiting for their date", rep.Waiting))
	}
	fmt.Fprintf(a.env.Stdout, "%s: %s; %d post(s) made\n", rep.Network, strings.Join(parts, "; "), rep.Posts)
}
