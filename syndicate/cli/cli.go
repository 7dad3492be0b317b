// Package cli is the syndicate command line: it parses arguments, loads
// the config and articles once, and calls the jobs. cmd/syndicate only
// wires it to the process (signals, exit code).
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"runtime/pprof"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/article"
	"github.com/syndicate-bot/syndicate/syndicate/config"
	"github.com/syndicate-bot/syndicate/syndicate/digest"
	"github.com/syndicate-bot/syndicate/syndicate/feed"
	"github.com/syndicate-bot/syndicate/syndicate/files"
	"github.com/syndicate-bot/syndicate/syndicate/job"
	"github.com/syndicate-bot/syndicate/syndicate/keypoints"
	"github.com/syndicate-bot/syndicate/syndicate/metrics"
	"github.com/syndicate-bot/syndicate/syndicate/source"
	"github.com/syndicate-bot/syndicate/syndicate/store"
	"github.com/syndicate-bot/syndicate/syndicate/text"
)

// Env is what a run may touch of the process.
type Env struct {
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	Now    func() time.Time
	// RunNow carries requests to run a daemon job now, by name ("post",
	// "digest"): SIGUSR1 and SIGUSR2 in the program. nil: none.
	RunNow <-chan string
}

// ExitError carries the process exit code of a failed run.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// StopTimeout is how long the program may take to stop after SIGINT or
// SIGTERM: the item in hand gets job.Grace, the daemon a little more to
// close its listener and state. Past it the program exits anyway.
// (docs/syndicate.service's TimeoutStopSec is longer.)
const StopTimeout = job.Grace + 5*time.Second

// Exit codes.
const (
	ExitOK      = 0
	ExitPartial = 1 // some article or reader failed; the rest were done
	ExitUsage   = 2 // usage or configuration error
)

// ErrPartial reports that a run finished but some items failed; the
// failures were already printed. (Exit 1.)
var ErrPartial = syndicate.ErrPartial

func usageError(format string, args ...any) error {
	return &ExitError{Code: ExitUsage, Err: fmt.Errorf(format, args...)}
}

// ExitCode maps a run's error to the process exit code.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	if errors.Is(err, ErrPartial) {
		return ExitPartial
	}
	var ce *config.Error
	if errors.As(err, &ce) {
		return ExitUsage
	}
	return ExitPartial
}

const usage = `syndicate turns articles into Mastodon and Bluesky key-point threads and an email digest.

Usage:
  syndicate [--config PATH] <command> [flags]

Commands:
  check     validate the config and every article
  post      post the pending threads (--dry-run shows them)
  digest    mail the digest to the subscribers (--dry-run shows it)
  preview   write an HTML page showing every pending thread and the digest
  serve     serve the one-click unsubscribe endpoint on http.listen
  run       the daemon: post and mail on the config's cron schedules
  status    what was posted, what is pending, what failed; the last digests
  migrate   copy the SQLite state into an empty PostgreSQL database (--to URL)
  version   the version and the revision it was built from

Run "syndicate <command> -h" for the flags of a command.
`

// app is one run of the command line.
type app struct {
	env        Env
	configPath string
	logFormat  string
	cpuProfile string
	cfg        *config.Config
	log        *slog.Logger
	metrics    *metrics.Metrics // set by the daemon
	renderer   *digest.Renderer // the digest templates, parsed once
	keypoints  *keypoints.Extractor
	// articleCache keeps the articles between the daemon's ticks.
	articleCache *article.Cache
	// liveFeeds are the daemon's feeds, kept for its life; feedFetcher
	// fetches feeds and their pictures.
	liveFeeds   *source.Feeds
	feedFetcher *feed.Fetcher
	// offline (--offline) makes a dry run fetch no feed.
	offline bool
	// settle is how long a changed article file rests before it is
	// taken: the daemon's articles_settle; 0 for a command run by hand,
	// which takes files as they are.
	settle time.Duration
	// network is the one network a command is limited to (--network);
	// "" for all the config's. outlets are the live outlets, made once.
	network string
	outlets map[string]syndicate.Outlet
	// On a state shared by replicas (state.go): this replica's name, the
	// leadership a command run by hand took, and the slot of a missed
	// digest tick the daemon catches up at start.
	replicaName string
	term        context.Context
	catchUpSlot atomic.Value // string
}

// Run runs the command line with args (without the program name).
func Run(ctx context.Context, args []string, env Env) error {
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	if env.Now == nil {
		env.Now = time.Now
	}
	a := &app{env: env}
	global := flag.NewFlagSet("syndicate", flag.ContinueOnError)
	global.SetOutput(env.Stderr)
	global.Usage = func() { fmt.Fprint(env.Stderr, usage) }
	a.commonFlags(global)
	global.StringVar(&a.cpuProfile, "cpuprofile", "", "write a CPU profile of the run to `file` (for performance reports)")
	showVersion := global.Bool("version", false, "print the version and exit")
	if err := global.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return &ExitError{Code: ExitUsage, Err: err}
	}
	rest := global.Args()
	if *showVersion {
		rest = []string{"version"}
	}
	if len(rest) == 0 {
		fmt.Fprint(env.Stderr, usage)
		return usageError("no command given")
	}
	cmd, cmdArgs := rest[0], rest[1:]
	commands := map[string]func(context.Context, []string) error{
		"check":   a.check,
		"post":    a.post,
		"digest":  a.digest,
		"preview": a.preview,
		"serve":   a.serve,
		"run":     a.run,
		"status":  a.status,
		"migrate": a.migrate,
		"version": func(context.Context, []string) error {
			fmt.Fprintln(env.Stdout, "syndicate", syndicate.Version())
			return nil
		},
		"help": func(context.Context, []string) error {
			fmt.Fprint(env.Stdout, usage)
			return nil
		},
	}
	run, ok := commands[cmd]
	if !ok {
		names := make([]string, 0, len(commands))
		for n := range commands {
			names = append(names, n)
		}
		sort.Strings(names)
		return usageError("unknown command %q (commands: %s)", cmd, strings.Join(names, ", "))
	}
	if a.cpuProfile != "" {
		f, err := os.Create(a.cpuProfile)
		if err != nil {
			return usageError("--cpuprofile: %v", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return usageError("--cpuprofile: %v", err)
		}
		defer pprof.StopCPUProfile()
	}
	return run(ctx, cmdArgs)
}

// commonFlags are accepted before and after the command.
func (a *app) commonFlags(fs *flag.FlagSet) {
	if fs.Lookup("config") != nil {
		return
	}
	if a.configPath == "" {
		a.configPath = "config.yaml"
	}
	if a.logFormat == "" {
		a.logFormat = "text"
	}
	fs.StringVar(&a.configPath, "config", a.configPath, "the config file")
	fs.StringVar(&a.logFormat, "log-format", a.logFormat, "log format: text or json")
}

// flags makes the flag set of a command.
func (a *app) flags(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(a.env.Stderr)
	a.commonFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(a.env.Stderr, "Usage: syndicate %s %s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses a command's flags; -h is not an error.
func (a *app) parse(fs *flag.FlagSet, args []string) (help bool, err error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return true, nil
		}
		return false, &ExitError{Code: ExitUsage, Err: err}
	}
	if fs.NArg() > 0 {
		return false, usageError("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return false, nil
}

// load reads and validates the config and sets up logging.
func (a *app) load() error {
	switch a.logFormat {
	case "text":
		a.log = slog.New(slog.NewTextHandler(a.env.Stderr, nil))
	case "json":
		a.log = slog.New(slog.NewJSONHandler(a.env.Stderr, nil))
	default:
		return usageError("--log-format %q: want text or json", a.logFormat)
	}
	cfg, err := config.Load(a.configPath, a.env.Getenv)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("%w\nTry: fix the line above, then run \"syndicate check\"", err)}
	}
	a.cfg = cfg
	// The sentence model is loaded once, at start: a broken one stops the
	// command here, not at the first article without key points.
	if a.keypoints, err = keypoints.New(); err != nil {
		return fmt.Errorf("key points: %w", err)
	}
	return nil
}

// articles reads every source — the folder, then the feeds — as one set
// (see package source). st is the state (nil when there is none yet): it
// keeps the feeds' items, and decides which of two articles with one link
// stays. mode is how the feeds are read: Live fetches and records, Dry
// fetches only, Offline uses what the state saw. Problems are returned,
// not fatal.
func (a *app) articles(ctx context.Context, st store.Store, mode source.Mode) (article.Set, error) {
	folder := &source.Folder{Dir: a.cfg.ArticlesDir, Options: article.Options{BaseURL: a.cfg.BaseURL, Location: a.cfg.Location(), Extract: a.extractor(), MediaDirs: a.cfg.MediaDirs, Cache: a.articleCache}}
	sources := []source.Source{folder}
	claimed := func(string) bool { return false }
	if len(a.cfg.Feeds) > 0 {
		sources = append(sources, a.feedSource(st, mode))
		if st != nil {
			records, err := job.ReadRecords(ctx, st, syndicate.AllNetworks)
			if err != nil {
				return article.Set{}, err
			}
			digested, err := st.DigestedArticles(ctx)
			if err != nil {
				return article.Set{}, err
			}
			claimed = func(id string) bool {
				for _, rs := range records {
					if _, known := rs[id]; known {
						return true
					}
				}
				return digested[id]
			}
		}
	}
	set, err := source.Gather(ctx, sources, claimed)
	if err != nil {
		if strings.HasPrefix(err.Error(), "folder: ") {
			return article.Set{}, &ExitError{Code: ExitUsage, Err: fmt.Errorf("articles_dir (%s:%d): %w", a.cfg.Path, max(1, a.cfg.Line("articles_dir")), errors.Unwrap(err))}
		}
		return article.Set{}, err
	}
	for _, n := range set.Notes {
		a.log.Info(text.OneLine(n))
	}
	return article.Set{Articles: set.Articles, Problems: set.Problems, Files: set.Files, FolderChanged: set.FolderChanged}, nil
}

// feedSource is the configured feeds as a source. The daemon keeps one
// for its life (key points extracted once per item, one fetch at a time,
// each feed's every kept to); a command makes its own.
func (a *app) feedSource(st store.Store, mode source.Mode) *source.Feeds {
	if a.liveFeeds != nil && mode == source.Live {
		return a.liveFeeds
	}
	f := &source.Feeds{Fetcher: a.fetcher(), Mode: mode, Extract: a.extractor(), Now: a.env.Now, Log: a.log}
	if st != nil {
		f.State = st
	}
	for _, fc := range a.cfg.Feeds {
		f.List = append(f.List, source.FeedConfig{Config: fc.FeedConfig(), Backfill: fc.Backfill, Every: fc.Every.D()})
	}
	return f
}

// fetcher gets feeds and their pictures (one per process: it keeps its
// connections).
func (a *app) fetcher() *feed.Fetcher {
	if a.feedFetcher == nil {
		a.feedFetcher = &feed.Fetcher{Now: a.env.Now}
		for _, fc := range a.cfg.Feeds {
			if u, err := url.Parse(fc.URL); err == nil {
				a.feedFetcher.TrustedHosts = append(a.feedFetcher.TrustedHosts, u.Host)
			}
		}
	}
	return a.feedFetcher
}

// extractor chooses key points for articles without any. It loads the
// English sentence model (once per process) here, as the articles are
// read and before any is parsed, so a model that does not load stops the
// command at its start, not at the first article without key points
// (nor, as it once did, quietly). The model is built into the program:
// failing to load it means a broken build, like a bad constant regexp,
// hence a panic; each extraction after it cannot fail.
func (a *app) extractor() func([]string, string) []string {
	ex := a.keypoints
	count, fallback := a.cfg.KeyPoints.Count, a.cfg.Language()
	return func(paragraphs []string, lang string) []string {
		if lang == "" {
			lang = fallback
		}
		return ex.Extract(paragraphs, keypoints.Options{Count: count, Lang: lang})
	}
}

// printProblems writes each problem as "path:line: message", escaped
// for the terminal: a file name cannot forge a line or move the cursor.
func (a *app) printProblems(problems []error) {
	for _, p := range problems {
		fmt.Fprintln(a.env.Stderr, text.Terminal(p.Error()))
	}
}

// pictures opens where pictures come from: the folders pictures may be
// read from, and for a feed item's picture (an http(s) URL) the feeds'
// fetcher — none with --offline.
func (a *app) pictures(ctx context.Context) (*pictures, error) {
	im, err := files.OpenImages(append([]string{a.cfg.ArticlesDir}, a.cfg.MediaDirs...)...)
	if err != nil {
		return nil, &ExitError{Code: ExitUsage, Err: fmt.Errorf("articles_dir or media_dirs (%s): %w", a.cfg.Path, err)}
	}
	p := &pictures{ctx: ctx, files: im}
	if !a.offline {
		p.fetch = a.fetcher()
	}
	return p, nil
}

// pictures reads a post's picture: a file inside the allowed folders, or
// a feed item's picture by its URL, under the same limits.
type pictures struct {
	ctx   context.Context
	files *files.Images
	fetch *feed.Fetcher // nil: URLs are not fetched
}

func (p *pictures) Read(src string, limit int64) (files.Image, error) {
	if !strings.HasPrefix(src, "https://") && !strings.HasPrefix(src, "http://") {
		return p.files.Read(src, limit)
	}
	if p.fetch == nil {
		return files.Image{}, fmt.Errorf("%s: not fetched (--offline)", src)
	}
	img, err := p.fetch.FetchImage(p.ctx, src)
	if err != nil {
		return files.Image{}, err
	}
	if int64(len(img.Data)) > limit {
		return files.Image{}, &files.Problem{Path: src, Reason: fmt.Sprintf("is %d bytes, over the %d-byte limit", len(img.Data), limit), Err: files.ErrTooLarge}
	}
	return img, nil
}

func (p *pictures) Close() error { return p.files.Close() }
