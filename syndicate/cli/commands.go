package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/daemon"
	"github.com/syndicate-bot/syndicate/syndicate/job"
	"github.com/syndicate-bot/syndicate/syndicate/mastodon"
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

// mastodonClient is the live poster of the config.
func (a *app) mastodonClient() *mastodon.Client {
	m := a.cfg.Mastodon
	return mastodon.New(mastodon.Options{
		Server: m.Server, Token: m.AccessToken.Reveal(), Timeout: m.Timeout.D(), Retries: 4, Logger: a.log, Counting: m.Counting,
	})
}

// post posts the pending threads, or shows them with --dry-run.
func (a *app) post(ctx context.Context, args []string) error {
	fs := a.flags("post", "[--dry-run [--json] [--all] [--offline]] [--retry ID] [--mark-posted]")
	dryRun := fs.Bool("dry-run", false, "show the threads that would be posted now; send and record nothing")
	asJSON := fs.Bool("json", false, "with --dry-run: print one JSON document")
	all := fs.Bool("all", false, "with --dry-run: show every pending thread, not only this run's (mastodon.max_threads_per_run)")
	retry := fs.String("retry", "", "make the failed article `ID` pending again, then post")
	markPosted := fs.Bool("mark-posted", false, "record every current article as posted without posting (adopting an existing archive)")
	fs.BoolVar(&a.offline, "offline", false, "with --dry-run: fetch no feed, show their items as the state last saw them")
	if help, err := a.parse(fs, args); help || err != nil {
		return err
	}
	if err := a.load(); err != nil {
		return err
	}
	if *dryRun {
		return a.postDryRun(ctx, *asJSON, *all)
	}
	if *asJSON || *all {
		return usageError("post: --json and --all go with --dry-run")
	}
	if !*markPosted {
		if err := a.cfg.RequirePosting(); err != nil {
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
		records, err := st.ArticleRecords(ctx)
		if err != nil {
			return err
		}
		var adopt []*syndicate.Article
		now := a.env.Now()
		for _, art := range set.Articles {
			r, known := records[art.ID]
			if s := job.Classify(art, r, known, now, 0); s != job.Draft && s != job.Waiting {
				adopt = append(adopt, art)
			}
		}
		posts, mailed, err := st.AdoptArticles(ctx, adopt)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.env.Stdout, "adopted the archive: %d article(s) recorded as posted without posting (%d already had a record) and %d as mailed without mailing; only articles added from now on are posted and mailed\n",
			posts, len(adopt)-posts, mailed)
		return partial(set.Problems)
	}
	if *retry != "" {
		ok, err := st.RetryArticle(ctx, *retry)
		if err != nil {
			return err
		}
		if !ok {
			return usageError("post --retry %s: no failed article has that ID (see \"syndicate status\")", *retry)
		}
		a.log.Info("article made pending again", "article", *retry)
	}

	return a.postWith(ctx, st, set.Articles, set.Problems)
}

// postWith runs the post job on an open state and reports it.
func (a *app) postWith(ctx context.Context, st store.Store, articles []*syndicate.Article, problems []error) error {
	images, err := a.pictures(ctx)
	if err != nil {
		return err
	}
	defer images.Close()
	opts, err := a.postOptions()
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	// A run that took the leadership by hand stops when it loses it; the
	// daemon's runs are inside its term already. The outlet is fenced by
	// the term either way (see daemon.Fence).
	ctx, done := a.inTerm(ctx)
	defer done()
	rep, err := job.Post(ctx, job.PostDeps{Options: opts, Ledger: st, Poster: daemon.Fence(a.mastodonClient()), Images: images, Log: a.log, Now: a.env.Now, Retries: 4, Settle: a.settle}, articles)
	a.printPostReport(rep)
	if a.metrics != nil {
		a.metrics.Posts.WithLabelValues("made").Add(float64(rep.Posts))
		a.metrics.Posts.WithLabelValues("failed").Add(float64(len(rep.Failed)))
		a.metrics.PendingArticles.Set(float64(rep.Left + rep.Waiting))
	}
	if err != nil {
		if errors.Is(err, syndicate.ErrUnauthorized) {
			return &ExitError{Code: ExitUsage, Err: fmt.Errorf("%w\nTry: check mastodon.access_token (%s:%d) and that the token has the scopes write:statuses write:media read:accounts",
				err, a.cfg.Path, max(1, a.cfg.Line("mastodon.access_token")))}
		}
		if errors.Is(err, job.ErrStopped) {
			fmt.Fprintln(a.env.Stderr, "stopped: the rest goes out on the next run")
			return nil
		}
		return err
	}
	if len(rep.Failed) > 0 {
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

func (a *app) printPostReport(rep job.PostReport) {
	parts := []string{"nothing to post"}
	if n := len(rep.Finished); n > 0 {
		parts = []string{fmt.Sprintf("posted %d thread(s) (%s)", n, text.Terminal(strings.Join(rep.Finished, ", ")))}
	} else if len(rep.Failed) > 0 {
		parts = nil
	}
	for _, f := range rep.Failed {
		fmt.Fprintf(a.env.Stderr, "%s: failed: %s\n", text.Terminal(f.ArticleID), text.Terminal(f.Reason))
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
	fmt.Fprintf(a.env.Stdout, "%s; %d post(s) made\n", strings.Join(parts, "; "), rep.Posts)
}
