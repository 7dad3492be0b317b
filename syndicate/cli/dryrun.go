package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/article"
	"github.com/syndicate-bot/syndicate/syndicate/digest"
	"github.com/syndicate-bot/syndicate/syndicate/files"
	"github.com/syndicate-bot/syndicate/syndicate/job"
	"github.com/syndicate-bot/syndicate/syndicate/mail"
	"github.com/syndicate-bot/syndicate/syndicate/preview"
	"github.com/syndicate-bot/syndicate/syndicate/source"
	"github.com/syndicate-bot/syndicate/syndicate/store"
	"github.com/syndicate-bot/syndicate/syndicate/subscriber"
	"github.com/syndicate-bot/syndicate/syndicate/text"
	"github.com/syndicate-bot/syndicate/syndicate/thread"
)

// view is what a dry run reads, once: the articles, and what the state
// records of them when one exists (opened read-only: nothing is written).
type view struct {
	set      article.Set
	records  map[string]syndicate.ArticleRecord
	digested map[string]bool
	digests  []syndicate.DigestRecord // the newest few
	server   *syndicate.ServerInfo    // what the last live run learned of the server
	// unsubscribed are the readers who asked for no more mail; idSecret
	// is the Message-ID secret (nil before the first send).
	unsubscribed map[string]bool
	idSecret     []byte
	// open is the digest a live run would finish first, with the readers
	// it has left (nil: none).
	open *openDigest
	// senders are, on a state shared by replicas, how many readers of
	// each digest listed each replica mailed.
	senders map[int64]map[string]int
}

type openDigest struct {
	ID       int64 `json:"id"`
	Articles int   `json:"articles"`
	Left     int   `json:"readers_left"`
}

// readView reads what a dry run shows: every source (the feeds fetched,
// or with --offline as the state last saw them) and the state, which it
// never writes.
func (a *app) readView(ctx context.Context) (view, error) {
	var v view
	var err error
	mode := source.Dry
	if a.offline {
		mode = source.Offline
	}
	st, err := a.openReadOnly(ctx)
	if errors.Is(err, store.ErrNoState) {
		// Nothing was posted or mailed yet.
		v.set, err = a.articles(ctx, nil, mode)
		return v, err
	}
	if err != nil {
		return v, err
	}
	defer st.Close()
	if v.set, err = a.articles(ctx, st, mode); err != nil {
		return v, err
	}
	if v.records, err = st.ArticleRecords(ctx); err != nil {
		return v, err
	}
	if v.digested, err = st.DigestedArticles(ctx); err != nil {
		return v, err
	}
	if v.digests, err = st.Digests(ctx, 5); err != nil {
		return v, err
	}
	if a.cfg.StatePostgres() {
		v.senders = map[int64]map[string]int{}
		for _, d := range v.digests {
			if v.senders[d.ID], err = st.Senders(ctx, d.ID); err != nil {
				return v, err
			}
		}
	}
	if v.unsubscribed, err = st.Unsubscribed(ctx); err != nil {
		return v, err
	}
	if v.idSecret, err = st.Secret(ctx, job.SecretMessageID); err != nil {
		return v, err
	}
	if rec, open, err := st.OpenDigest(ctx); err != nil {
		return v, err
	} else if open {
		od := &openDigest{ID: rec.ID}
		if od.Left, err = st.CountPending(ctx, rec.ID, job.MaxAttempts); err != nil {
			return v, err
		}
		items, err := st.DigestItems(ctx, rec.ID)
		if err != nil {
			return v, err
		}
		od.Articles = len(items)
		v.open = od
	}
	if info, ok, err := st.ServerInfo(ctx, a.cfg.Mastodon.Server); err != nil {
		return v, err
	} else if ok {
		v.server = &info
	}
	return v, nil
}

// check validates the config (load did) and every article, template and
// subscriber row.
func (a *app) check(ctx context.Context, args []string) error {
	fs := a.flags("check", "")
	if help, err := a.parse(fs, args); help || err != nil {
		return err
	}
	if err := a.load(); err != nil {
		return err
	}
	v, err := a.readView(ctx)
	if err != nil {
		return err
	}
	set := v.set
	problems := set.Problems
	lim, _ := a.dryRunLimits(v)
	opts, err := a.threadOptions(lim)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	for _, art := range set.Articles {
		if _, err := thread.Compose(art, opts); err != nil {
			problems = append(problems, &article.Error{Path: art.Path, Line: 1, Msg: err.Error()})
		}
	}
	if _, err := a.digestRenderer(); err != nil {
		return err
	}
	if _, err := preview.NewRenderer(a.cfg.TemplatesDir); err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	// The relay's CA file and the DKIM key are read now, not at the first
	// message.
	if _, err := a.smtpOptions(); err != nil {
		return err
	}
	readers := 0
	if a.cfg.Email.Subscribers != "" {
		sum, err := subscriber.Scan(a.cfg.Email.Subscribers, v.unsubscribed)
		if err != nil {
			problems = append(problems, err)
		}
		readers = sum.Readers
		problems = append(problems, sum.Skipped...)
		if more := sum.SkippedCount - len(sum.Skipped); more > 0 {
			problems = append(problems, fmt.Errorf("%s: and %d more skipped rows", a.cfg.Email.Subscribers, more))
		}
	}
	a.printProblems(problems)
	// Not a problem of an article: a warning, so check still exits 0.
	for _, w := range a.exposed() {
		fmt.Fprintf(a.env.Stderr, "warning: state: %s (it holds the unsubscribe key and every reader's address)\n", text.Terminal(w))
	}
	fromFeeds := 0
	for _, art := range set.Articles {
		if art.FromFeed() {
			fromFeeds++
		}
	}
	feeds := ""
	if len(a.cfg.Feeds) > 0 {
		feeds = fmt.Sprintf(" (%d from %d feed(s))", fromFeeds, len(a.cfg.Feeds))
	}
	fmt.Fprintf(a.env.Stdout, "%d article(s) read%s, %d subscriber(s), %d problem(s)\n", len(set.Articles), feeds, readers, len(problems))
	if len(problems) > 0 {
		return ErrPartial
	}
	return nil
}

// threadJSON is one thread of "post --dry-run --json".
type threadJSON struct {
	Article   string     `json:"article"`
	Source    string     `json:"source"` // "folder", or "feed:<name>"
	Title     string     `json:"title"`
	URL       string     `json:"url"`
	Extracted bool       `json:"key_points_extracted,omitempty"` // chosen by the extractor
	Posts     []postJSON `json:"posts"`
}

type postJSON struct {
	Text           string      `json:"text"`
	Length         int         `json:"length"`
	Visibility     string      `json:"visibility"`
	Language       string      `json:"language,omitempty"`
	ContentWarning string      `json:"spoiler_text,omitempty"`
	Media          []mediaJSON `json:"media"`
}

type mediaJSON struct {
	File        string `json:"file"`
	Description string `json:"description"`
}

// pendingThreads composes the threads a post run would make now; the
// problems are the articles' and the compositions'. all ignores the
// per-run cap.
func (a *app) pendingThreads(v view, lim syndicate.Limits, all bool) ([]syndicate.Thread, job.PostPlan, []error, error) {
	plan := job.SelectPosts(v.set.Articles, v.records, a.env.Now(), a.settle)
	due := plan.Due
	if c := a.cfg.Mastodon.MaxThreadsPerRun; !all && c > 0 && len(due) > c {
		due = due[:c]
	}
	opts, err := a.threadOptions(lim)
	if err != nil {
		return nil, plan, nil, &ExitError{Code: ExitUsage, Err: err}
	}
	problems := v.set.Problems
	var threads []syndicate.Thread
	for _, art := range due {
		t, err := thread.Compose(art, opts)
		if err != nil {
			problems = append(problems, &article.Error{Path: art.Path, Line: 1, Msg: err.Error()})
			continue
		}
		threads = append(threads, t)
	}
	return threads, plan, problems, nil
}

// postDryRun prints the threads that would be posted now.
func (a *app) postDryRun(ctx context.Context, asJSON, all bool) error {
	v, err := a.readView(ctx)
	if err != nil {
		return err
	}
	lim, note := a.dryRunLimits(v)
	threads, plan, problems, err := a.pendingThreads(v, lim, all)
	if err != nil {
		return err
	}
	a.printProblems(problems)
	extracted := map[string]bool{}
	for _, art := range plan.Due {
		extracted[art.ID] = art.KeyPointsExtracted
	}
	if asJSON {
		out := struct {
			MaxCharacters int          `json:"max_characters"`
			Counting      string       `json:"counting"`
			CountingNote  string       `json:"counting_note"`
			Threads       []threadJSON `json:"threads"`
			Problems      []string     `json:"problems"`
		}{MaxCharacters: lim.MaxCharacters, Counting: lim.Counting, CountingNote: note, Threads: []threadJSON{}, Problems: []string{}}
		for _, t := range threads {
			tj := threadJSON{Article: t.ArticleID, Source: sourceOf(t), Title: t.Title, URL: t.URL, Extracted: extracted[t.ArticleID]}
			for _, p := range t.Posts {
				pj := postJSON{Text: p.Text, Length: p.Length, Visibility: p.Visibility, Language: p.Language, ContentWarning: p.ContentWarning, Media: []mediaJSON{}}
				for _, m := range p.Media {
					pj.Media = append(pj.Media, mediaJSON{File: m.File, Description: m.Description})
				}
				tj.Posts = append(tj.Posts, pj)
			}
			out.Threads = append(out.Threads, tj)
		}
		for _, p := range problems {
			out.Problems = append(out.Problems, p.Error())
		}
		enc := json.NewEncoder(a.env.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		writeThreads(a.env.Stdout, threads, lim.MaxCharacters, note, extracted)
		if held := len(plan.Due) - len(threads) - countErrors(problems, plan.Due); held > 0 && !all {
			fmt.Fprintf(a.env.Stdout, "%d more pending article(s) wait for later runs (mastodon.max_threads_per_run: %d); --all shows them.\n", held, a.cfg.Mastodon.MaxThreadsPerRun)
		}
		for _, w := range plan.Waiting {
			fmt.Fprintf(a.env.Stdout, "%s waits for its date, %s.\n", text.Terminal(w.ID), w.Date.Format("2006-01-02 15:04 MST"))
		}
		for _, w := range plan.Settling {
			fmt.Fprintf(a.env.Stdout, "%s changed less than %s ago (articles_settle): it waits for the next tick.\n", text.Terminal(w.ID), a.settle)
		}
		for _, w := range plan.Stopped {
			fmt.Fprintf(a.env.Stdout, "%s became a draft while its thread was unfinished: nothing more is posted.\n", text.Terminal(w.ID))
		}
	}
	if len(problems) > 0 {
		return ErrPartial
	}
	return nil
}

// sourceOf names where a thread's article came from.
func sourceOf(t syndicate.Thread) string {
	if t.Source == "" {
		return "folder"
	}
	return t.Source
}

// countErrors counts the problems that belong to articles in list.
func countErrors(problems []error, list []*syndicate.Article) int {
	paths := map[string]bool{}
	for _, a := range list {
		paths[a.Path] = true
	}
	n := 0
	for _, p := range problems {
		var ae *article.Error
		if errors.As(p, &ae) && paths[ae.Path] {
			n++
		}
	}
	return n
}

// writeThreads prints threads for a person; extracted names the articles
// whose key points the extractor chose. Every line of article text is
// escaped for the terminal.
func writeThreads(w io.Writer, threads []syndicate.Thread, limit int, counting string, extracted map[string]bool) {
	if len(threads) == 0 {
		fmt.Fprintln(w, "Nothing to post: every article is posted, a draft, or waiting for its date.")
		return
	}
	fmt.Fprintf(w, "Would post %d thread(s), limit %d characters per post (dry run: nothing is sent).\nLength is counted %s.\n", len(threads), limit, counting)
	for _, t := range threads {
		note := ""
		if extracted[t.ArticleID] {
			note = "; key points chosen by the extractor"
		}
		if src := sourceOf(t); src != "folder" {
			note += "; from " + src
		}
		fmt.Fprintf(w, "\n=== %s (%d posts%s)\n", text.Terminal(t.ArticleID), len(t.Posts), text.Terminal(note))
		for i, p := range t.Posts {
			fmt.Fprintf(w, "--- post %d/%d · %s", i+1, len(t.Posts), p.Visibility)
			if p.Language != "" {
				fmt.Fprintf(w, " · %s", text.Terminal(p.Language))
			}
			fmt.Fprintf(w, " · %d/%d characters\n", p.Length, limit)
			if p.ContentWarning != "" {
				fmt.Fprintf(w, "    CW: %s\n", text.Terminal(p.ContentWarning))
			}
			for _, line := range strings.Split(p.Text, "\n") {
				fmt.Fprintf(w, "    %s\n", text.Terminal(line))
			}
			for _, m := range p.Media {
				fmt.Fprintf(w, "    [image %s, alt: %s]\n", text.Terminal(m.File), text.Terminal(m.Description))
			}
		}
	}
}

// pendingDigest is the digest a send would make now, rendered for the
// first reader exactly as the send would render and encode it.
type pendingDigest struct {
	Digest  digest.Digest
	Readers int // not counting the unsubscribed
	Skipped []error
	First   syndicate.Reader
	Sample  bool // First is a stand-in: the list is empty
	Message digest.Message
	Job     mail.Job     // the first reader's message, as the send builds it
	Signer  *mail.Signer // DKIM, when email.dkim is set
}

func (a *app) previewDigest(v view) (*pendingDigest, error) {
	now := a.env.Now()
	fresh := job.ForDigest(v.set.Articles, v.records, v.digested, now, a.settle)
	dg, _ := digest.New(fresh, now.In(a.cfg.Location()), a.cfg.Email.MaxArticles)
	pd := &pendingDigest{Digest: dg}
	if a.cfg.Email.Subscribers != "" {
		sum, err := subscriber.Scan(a.cfg.Email.Subscribers, v.unsubscribed)
		if err != nil {
			return nil, &ExitError{Code: ExitUsage, Err: fmt.Errorf("email.subscribers (%s:%d): %w", a.cfg.Path, max(1, a.cfg.Line("email.subscribers")), err)}
		}
		pd.Readers, pd.Skipped, pd.First = sum.Readers, sum.Skipped, sum.First
	}
	if pd.First.Email == "" {
		pd.First = syndicate.Reader{Email: "reader@example.org", Name: "Reader", Fields: map[string]string{"email": "reader@example.org", "name": "Reader"}}
		pd.Sample = true
	}
	if len(pd.Digest.Articles) == 0 {
		return pd, nil
	}
	r, err := a.digestRenderer()
	if err != nil {
		return nil, err
	}
	if pd.Signer, err = a.dkimSigner(); err != nil {
		return nil, err
	}
	// Stand-ins for what a dry run may lack; the rest is the send's own
	// assembly, with tokens that unsubscribe nobody.
	issue := a.issueOptions()
	if issue.From == "" {
		issue.From = "Digest <digest@example.org>"
	}
	if issue.UnsubscribeURL == "" {
		issue.UnsubscribeURL = "https://example.org/unsubscribe"
	}
	next := int64(1)
	if len(v.digests) > 0 {
		next = v.digests[0].ID + 1
	}
	as, err := job.Assemble(issue, r, next, job.InstallID(v.idSecret), now, pd.Digest, nil)
	if err != nil {
		return nil, &ExitError{Code: ExitUsage, Err: err}
	}
	if pd.Job, pd.Message, err = as.Job(syndicate.EmailKey(pd.First.Email), pd.First); err != nil {
		return nil, &ExitError{Code: ExitUsage, Err: err}
	}
	return pd, nil
}

// digestDryRun prints the digest that would be sent now.
func (a *app) digestDryRun(ctx context.Context, asJSON bool, outDir string) error {
	v, err := a.readView(ctx)
	if err != nil {
		return err
	}
	pd, err := a.previewDigest(v)
	if err != nil {
		return err
	}
	problems := v.set.Problems
	// Skipped subscriber rows are reported, not failures of the run
	// ("syndicate check" exits 1 for them).
	a.printProblems(problems)
	a.printProblems(pd.Skipped)
	if asJSON {
		out := struct {
			Unfinished *openDigest            `json:"unfinished,omitempty"` // finished first, before a new one
			Subject    string                 `json:"subject"`
			Articles   []syndicate.DigestItem `json:"articles"`
			Readers    int                    `json:"readers"`
			Problems   []string               `json:"problems"`
			Skipped    []string               `json:"skipped_rows"`
		}{Unfinished: v.open, Subject: pd.Message.Subject, Articles: pd.Digest.Articles, Readers: pd.Readers, Problems: []string{}, Skipped: []string{}}
		if out.Articles == nil {
			out.Articles = []syndicate.DigestItem{}
		}
		for _, p := range problems {
			out.Problems = append(out.Problems, p.Error())
		}
		for _, p := range pd.Skipped {
			out.Skipped = append(out.Skipped, p.Error())
		}
		enc := json.NewEncoder(a.env.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else if len(pd.Digest.Articles) == 0 {
		if v.open != nil {
			fmt.Fprintf(a.env.Stdout, "Digest %d is unfinished: its %d reader(s) not yet mailed would get it (%d article(s)).\n", v.open.ID, v.open.Left, v.open.Articles)
		}
		fmt.Fprintln(a.env.Stdout, "No new articles since the last digest: no new digest would be sent.")
	} else {
		if v.open != nil {
			fmt.Fprintf(a.env.Stdout, "Digest %d is unfinished: first, its %d reader(s) not yet mailed would get it (%d article(s)); then:\n", v.open.ID, v.open.Left, v.open.Articles)
		}
		fmt.Fprintf(a.env.Stdout, "Would mail %d reader(s) (dry run: nothing is sent).\nSubject: %s\n", pd.Readers, text.Terminal(pd.Message.Subject))
		for _, it := range pd.Digest.Articles {
			fmt.Fprintf(a.env.Stdout, "\n* %s\n", text.Terminal(it.Title))
			for _, k := range it.KeyPoints {
				fmt.Fprintf(a.env.Stdout, "    - %s\n", text.Terminal(k))
			}
			if it.URL != "" {
				fmt.Fprintf(a.env.Stdout, "    %s\n", text.Terminal(it.URL))
			}
		}
		if n := pd.Digest.Omitted; n > 0 {
			fmt.Fprintf(a.env.Stdout, "\nand %d more in one line (email.max_articles: %d)\n", n, a.cfg.Email.MaxArticles)
		}
	}
	if outDir != "" && len(pd.Digest.Articles) > 0 {
		if err := writeDigestFiles(outDir, pd); err != nil {
			return err
		}
		who := pd.First.Email
		if pd.Sample {
			who += " (a stand-in: the subscriber list is empty)"
		}
		fmt.Fprintf(a.env.Stderr, "wrote %s, %s and %s as %s would receive it (with a link that unsubscribes nobody)\n",
			filepath.Join(outDir, "digest.eml"), filepath.Join(outDir, "digest.html"), filepath.Join(outDir, "digest.txt"), text.Terminal(who))
	}
	if len(problems) > 0 {
		return ErrPartial
	}
	return nil
}

func writeDigestFiles(dir string, pd *pendingDigest) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	// The bytes the send would write for this reader to a relay that
	// takes 8bit (nearly all do; one that does not gets quoted-printable).
	var buf bytes.Buffer
	m, err := mail.Encode(pd.Job.Build, true, pd.Signer, &buf)
	if err != nil {
		return err
	}
	// They hold the first reader's address: private, and written so that
	// a symlink in the folder is replaced, not followed.
	if err := files.WriteFile(dir, "digest.eml", m.Raw, 0o600); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	if err := files.WriteFile(dir, "digest.html", []byte(pd.Message.HTML), 0o600); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	if err := files.WriteFile(dir, "digest.txt", []byte(pd.Message.Text), 0o600); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	return nil
}

// preview writes the HTML preview page.
func (a *app) preview(ctx context.Context, args []string) error {
	fs := a.flags("preview", "[--out DIR] [--offline]")
	out := fs.String("out", "preview", "the folder to write index.html into")
	fs.BoolVar(&a.offline, "offline", false, "fetch no feed: show their items as the state last saw them")
	if help, err := a.parse(fs, args); help || err != nil {
		return err
	}
	if err := a.load(); err != nil {
		return err
	}
	r, err := preview.NewRenderer(a.cfg.TemplatesDir)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	v, err := a.readView(ctx)
	if err != nil {
		return err
	}
	lim, _ := a.dryRunLimits(v)
	threads, _, problems, err := a.pendingThreads(v, lim, true)
	if err != nil {
		return err
	}
	pd, err := a.previewDigest(v)
	if err != nil {
		return err
	}
	problems = append(problems, pd.Skipped...)
	page := preview.Page{
		Title: "syndicate preview", Account: a.accountName(), Server: a.cfg.Mastodon.Server, Limit: lim.MaxCharacters,
		Generated: a.env.Now().In(a.cfg.Location()).Format("2006-01-02 15:04 MST"),
	}
	page.Initial = strings.ToUpper(string([]rune(page.Account)[:1]))
	images, err := a.pictures(ctx)
	if err != nil {
		return err
	}
	defer images.Close()
	inliner := preview.NewInliner(images)
	for _, t := range threads {
		page.Threads = append(page.Threads, preview.FromThread(t, lim.MaxCharacters, inliner))
		page.PostsTotal += len(t.Posts)
	}
	for _, p := range problems {
		page.Problems = append(page.Problems, p.Error())
	}
	page.Digest = preview.Digest{Subject: pd.Message.Subject, HTML: pd.Message.HTML, Text: pd.Message.Text, Readers: pd.Readers, Articles: len(pd.Digest.Articles)}
	if len(pd.Digest.Articles) == 0 {
		page.Digest.Note = "No new articles since the last digest: no new digest would be sent."
	}
	if v.open != nil {
		page.Digest.Note = strings.TrimSpace(fmt.Sprintf("Digest %d is unfinished: its %d reader(s) not yet mailed get it first. %s", v.open.ID, v.open.Left, page.Digest.Note))
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	path := filepath.Join(*out, "index.html")
	var html bytes.Buffer
	if err := r.Render(&html, page); err != nil {
		return err
	}
	if err := files.WriteFile(*out, "index.html", html.Bytes(), 0o600); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	a.printProblems(problems)
	fmt.Fprintf(a.env.Stdout, "wrote %s: %d thread(s), the digest for %d reader(s); open it in a browser\n", path, len(threads), pd.Readers)
	if len(problems) > 0 {
		return ErrPartial
	}
	return nil
}

// accountName is the name shown on preview cards.
func (a *app) accountName() string {
	if n := a.cfg.SenderName(); n != "" && n != "Digest" {
		return n
	}
	return "syndicate"
}
