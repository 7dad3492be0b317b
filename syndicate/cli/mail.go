package cli

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"runtime/debug"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/syndicate-bot/syndicate/syndicate/daemon"
	"github.com/syndicate-bot/syndicate/syndicate/digest"
	"github.com/syndicate-bot/syndicate/syndicate/files"
	"github.com/syndicate-bot/syndicate/syndicate/job"
	"github.com/syndicate-bot/syndicate/syndicate/mail"
	"github.com/syndicate-bot/syndicate/syndicate/source"
	"github.com/syndicate-bot/syndicate/syndicate/store"
	"github.com/syndicate-bot/syndicate/syndicate/unsubscribe"
)

// digest mails the pending digest, or shows it with --dry-run.
func (a *app) digest(ctx context.Context, args []string) error {
	fs := a.flags("digest", "[--dry-run [--json] [--out DIR] [--offline]] [--retry-failed]")
	dryRun := fs.Bool("dry-run", false, "show the digest that would be sent now; send and record nothing")
	asJSON := fs.Bool("json", false, "with --dry-run: print one JSON document")
	out := fs.String("out", "", "with --dry-run: write digest.eml, digest.html and digest.txt as the first reader would get them")
	retryFailed := fs.Bool("retry-failed", false, "send the last digest again to its permanently failed readers only")
	fs.BoolVar(&a.offline, "offline", false, "with --dry-run: fetch no feed, show their items as the state last saw them")
	if help, err := a.parse(fs, args); help || err != nil {
		return err
	}
	if err := a.load(); err != nil {
		return err
	}
	if *dryRun {
		return a.digestDryRun(ctx, *asJSON, *out)
	}
	if *asJSON || *out != "" {
		return usageError("digest: --json and --out go with --dry-run")
	}
	st, closeState, err := a.openState(ctx)
	if err != nil {
		return err
	}
	defer closeState()
	return a.sendDigest(ctx, st, *retryFailed)
}

// sendDigest runs the digest job on an open state.
func (a *app) sendDigest(ctx context.Context, st store.Store, retryFailed bool) error {
	if err := a.cfg.RequireMailing(); err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	smtp, err := a.smtpOptions()
	if err != nil {
		return err
	}
	set, err := a.articles(ctx, st, source.Live)
	if err != nil {
		return err
	}
	a.printProblems(set.Problems)
	if retryFailed {
		last, ok, err := st.LastDigest(ctx)
		if err != nil {
			return err
		}
		if !ok {
			return usageError("digest --retry-failed: no digest was sent yet")
		}
		n, err := st.RetryFailed(ctx, last.ID)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.env.Stdout, "digest %d: %d failed reader(s) made pending again\n", last.ID, n)
	}
	r, err := a.digestRenderer()
	if err != nil {
		return err
	}
	// A send allocates a message per reader and keeps little: collect
	// garbage four times less often, within a soft ceiling that keeps a
	// send of any size well under 64 MiB. (Measured: about 15% more
	// messages per second; see the README's performance section.)
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(40 << 20))
	deps := job.DigestDeps{
		Options: a.digestOptions(), Ledger: st, Renderer: r, Mailer: mail.Relay(smtp), Log: a.log, Now: a.env.Now, Progress: a.progress(), Settle: a.settle,
	}
	a.claimOptions(ctx, &deps)
	rep, err := job.SendDigest(ctx, deps, set.Articles)
	a.printProblems(rep.Skipped)
	if a.metrics != nil {
		a.metrics.Messages.WithLabelValues("sent").Add(float64(rep.Sent))
		a.metrics.Messages.WithLabelValues("temporary").Add(float64(rep.Temporary))
		a.metrics.Messages.WithLabelValues("failed").Add(float64(rep.Failed))
	}
	if rep.NothingNew {
		fmt.Fprintln(a.env.Stdout, "no new articles or corrections since the last digest: nothing sent")
	}
	for _, d := range rep.Digests {
		resumed := ""
		if d.Resumed {
			resumed = " (unfinished, continued)"
		}
		corrections := ""
		if d.Corrections > 0 {
			corrections = fmt.Sprintf(", %d correction(s)", d.Corrections)
		}
		fmt.Fprintf(a.env.Stdout, "digest %d%s: %d article(s)%s, %d reader(s) to mail: %d sent, %d temporary failure(s), %d failed, %d left for a later run\n",
			d.ID, resumed, d.Articles, corrections, d.Readers, d.Sent, d.Temporary, d.Failed, d.Pending)
	}
	if err != nil {
		if errors.Is(err, job.ErrStopped) {
			fmt.Fprintln(a.env.Stderr, "stopped: the readers not yet mailed get the digest on the next run")
			return nil
		}
		var setup *mail.SetupError
		if errors.As(err, &setup) {
			fmt.Fprintln(a.env.Stderr, "no reader is recorded as failed: the whole session was refused; they are mailed once this is fixed")
			return &ExitError{Code: ExitUsage, Err: fmt.Errorf("%w\nTry: %s (email.smtp in %s)", err, setup.Hint, a.cfg.Path)}
		}
		return err
	}
	if rep.Failed > 0 {
		fmt.Fprintln(a.env.Stderr, "some readers failed permanently; after fixing the cause: syndicate digest --retry-failed")
		return ErrPartial
	}
	return partial(set.Problems)
}

// smtpOptions are the relay settings of the config, with the DKIM key and
// the CA file read: check, the dry runs and the send all load them, so a
// bad key stops start-up, not the first message.
func (a *app) smtpOptions() (mail.SMTPOptions, error) {
	s := a.cfg.Email.SMTP
	opts := mail.SMTPOptions{
		Host: s.Host, Port: s.Port, Username: s.Username, Password: s.Password.Reveal(), TLS: s.TLS,
		Connections: s.Connections, Rate: s.Rate, Timeout: s.Timeout.D(), Logger: a.log,
	}
	if s.CAFile != "" {
		pemBytes, err := files.ReadFile(s.CAFile, 1<<20)
		if err != nil {
			return opts, a.keyError("email.smtp.ca_file", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemBytes) {
			return opts, a.keyError("email.smtp.ca_file", errors.New("no PEM certificate in it"))
		}
		opts.RootCAs = pool
	}
	signer, err := a.dkimSigner()
	if err != nil {
		return opts, err
	}
	opts.DKIM = signer
	return opts, nil
}

// dkimSigner loads email.dkim's key; nil when DKIM is off.
func (a *app) dkimSigner() (*mail.Signer, error) {
	d := a.cfg.Email.DKIM
	if d.Domain == "" {
		return nil, nil
	}
	pemBytes, err := files.ReadFile(d.PrivateKeyFile, 1<<20)
	if err != nil {
		return nil, a.keyError("email.dkim.private_key_file", err)
	}
	signer, err := mail.NewSigner(d.Domain, d.Selector, pemBytes)
	if err != nil {
		return nil, a.keyError("email.dkim.private_key_file", err)
	}
	return signer, nil
}

// keyError is a usage error about one config key, with its file:line.
func (a *app) keyError(key string, err error) error {
	return &ExitError{Code: ExitUsage, Err: fmt.Errorf("%s:%d: %s: %w", a.cfg.Path, max(1, a.cfg.Line(key)), key, err)}
}

// listID is the List-Id the tokens are signed for.
func (a *app) listID() (string, error) {
	env, err := mail.NewEnvelope(a.cfg.Email.From, a.cfg.Email.ListID, "", "", time.Time{})
	return env.ListID, err
}

// unsubscribeHandler mounts the one-click endpoint on the path of
// email.unsubscribe_url.
func (a *app) unsubscribeHandler(ctx context.Context, mux *http.ServeMux, st store.Store) error {
	if err := a.cfg.RequireUnsubscribe(); err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	list, err := a.listID()
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	secret, err := st.Secret(ctx, job.SecretUnsubscribe)
	if err != nil {
		return err
	}
	u, err := url.Parse(a.cfg.Email.UnsubscribeURL)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	path := u.Path
	if path == "" {
		path = "/"
	}
	mux.Handle(path, &unsubscribe.Handler{Secret: secret, List: list, Store: st, Log: a.log})
	return nil
}

// serve serves the unsubscribe endpoint until SIGINT/SIGTERM.
func (a *app) serve(ctx context.Context, args []string) error {
	fs := a.flags("serve", "")
	if help, err := a.parse(fs, args); help || err != nil {
		return err
	}
	if err := a.load(); err != nil {
		return err
	}
	if a.cfg.HTTP.Listen == "" {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("%s:%d: http.listen: is empty: set an address like 127.0.0.1:8080", a.cfg.Path, max(1, a.cfg.Line("http.listen")))}
	}
	// Unsubscribes are small writes beside the runs: no lock is taken.
	st, err := a.openShared(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := a.cfg.RequireUnsubscribe(); err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	routes := http.NewServeMux()
	if err := a.unsubscribeHandler(ctx, routes, st); err != nil {
		return err
	}
	// The daemon with no jobs: the same listener, /healthz and /metrics.
	err = daemon.Run(ctx, daemon.Options{Location: a.cfg.Location(), Log: a.log, Now: a.env.Now, Listen: a.cfg.HTTP.Listen, Routes: routes, Ping: st.Ping, Grace: job.Grace})
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("%s:%d: %w", a.cfg.Path, max(1, a.cfg.Line("http.listen")), err)}
	}
	return nil
}

// digestRenderer parses the digest templates once per run.
func (a *app) digestRenderer() (*digest.Renderer, error) {
	if a.renderer == nil {
		r, err := digest.NewRenderer(a.cfg.TemplatesDir, a.cfg.Email.Subject, a.cfg.SenderName())
		if err != nil {
			return nil, &ExitError{Code: ExitUsage, Err: err}
		}
		a.renderer = r
	}
	return a.renderer, nil
}

// progress reports a long send: on a terminal, a bar with the rate and
// the time left; otherwise (a service, CI, a pipe) a log line every 10
// seconds and at the end. The daemon's progress gauge follows it too.
func (a *app) progress() func(done, total int) {
	last := time.Now()
	tty := false
	if f, ok := a.env.Stderr.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	var bar *progressbar.ProgressBar
	return func(done, total int) {
		if a.metrics != nil {
			a.metrics.DigestReaders.WithLabelValues("done").Set(float64(done))
			a.metrics.DigestReaders.WithLabelValues("total").Set(float64(total))
		}
		if tty {
			if bar == nil {
				bar = progressbar.NewOptions(total,
					progressbar.OptionSetWriter(a.env.Stderr), progressbar.OptionSetDescription("mailing"),
					progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("msg"),
					progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(100*time.Millisecond),
					progressbar.OptionClearOnFinish())
			}
			bar.Set(done)
			return
		}
		if done == total || time.Since(last) > 10*time.Second {
			last = time.Now()
			a.log.Info("digest progress", "done", done, "of", total)
		}
	}
}
