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
	set article.Set
	// records are the ledger's of each configured network (empty ones
	// when there is no state yet).
	records  job.Records
	digested map[string]bool
	// notices are the corrections and retractions no digest carries
	// yet: the next digest's.
	notices []syndicate.Notice
	digests []syndicate.DigestRecord // the newest few
	server  *syndicate.ServerInfo    // what the last live run learned of the server
	// unsubscribed are the readers who asked for no more mail; idSecret
	// is the Message-ID secret (nil before the first send).
	unsubscribed map[string]bool
	idSecret     []byte
	// open is the digest a live run would finish first, with the readers
	// it has left (nil: none).
	open *openDigest
	// posts are, by network and article, the posts made of the threads
	// a run would change or delete (see changedThreads).
	posts map[string]map[string][]syndicate.PlannedPost
	// vanished are, by network, the folder's articles whose file is gone
	// and whose threads a run would delete (mastodon.on_delete: delete);
	// refused says why none are, when too many went at once.
	vanished map[string][]*syndicate.Article
	refused  map[string]string
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
	v.records = job.EmptyRecords(a.cfg.Networks())
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
	if v.records, err = job.ReadRecords(ctx, st, a.cfg.Networks()); err != nil {
		return v, err
	}
	if v.digested, err = st.DigestedArticles(ctx); err != nil {
		return v, err
	}
	if v.notices, err = st.PendingNotices(ctx, digest.MaxNotices); err != nil {
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
	return v, a.changedThreads(ctx, st, &v)
}

// changedThreads reads the posts of the threads a run would change
// (Changed) or delete (Retracting, and under on_delete: delete the
// threads of files gone), as the post job classifies them.
func (a *app) changedThreads(ctx context.Context, st store.Store, v *view) error {
	v.posts, v.vanished, v.refused = map[string]map[string][]syndicate.PlannedPost{}, map[string][]*syndicate.Article{}, map[string]string{}
	for network, recs := range v.records {
		v.posts[network] = map[string][]syndicate.PlannedPost{}
		articles := v.set.Articles
		if a.deleteVanished() && v.set.Files != nil {
			gone, refused := job.Vanished(articles, v.set.Files, recs, job.FolderSettling(v.set.FolderChanged, a.env.Now(), a.settle))
			v.vanished[network], v.refused[network] = gone, refused
			articles = append(append([]*syndicate.Article(nil), articles...), gone...)
		}
		for _, art := range articles {
			r, known := recs[art.ID]
			if s := job.Classify(art, r, known, a.env.Now(), a.settle); s != job.Changed && s != job.Retracting {
				continue
			}
			posts, err := st.PlannedPosts(ctx, network, art.ID)
			if err != nil {
				return err
			}
			v.posts[network][art.ID] = posts
		}
	}
	return nil
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
	for _, n := range a.cfg.Networks() {
		lim, _ := a.dryRunLimits(v, n)
		opts, err := a.threadOptions(n, lim)
		if err != nil {
			return &ExitError{Code: ExitUsage, Err: err}
		}
		for _, art := range set.Articles {
			if _, err := thread.Compose(art, opts); err != nil {
				problems = append(problems, composeProblem(art, n, err))
			}
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

// composeProblem is an article whose thread cannot be composed for a
// network, as a path:line problem.
func composeProblem(art *syndicate.Article, network string, err error) error {
	return &article.Error{Path: art.Path, Line: 1, Msg: err.Error() + " (on " + networkName(network) + ")"}
}

// threadJSON is one thread of "post --dry-run --json".
type threadJSON struct {
	Network       string     `json:"network"` // mastodon, bluesky
	Article       string     `json:"article"`
	Source        string     `json:"source"` // "folder", or "feed:<name>"
	Title         string     `json:"title"`
	URL           string     `json:"url"`
	MaxCharacters int        `json:"max_characters"` // the network's limit each length is against
	Extracted     bool       `json:"key_points_extracted,omitempty"`
	Posts         []postJSON `json:"posts"`
}

type postJSON struct {
	Text           string      `json:"text"`
	Length         int         `json:"length"`
	Visibility     string      `json:"visibility"`
	Language       string      `json:"language,omitempty"`
	ContentWarning string      `json:"spoiler_text,omitempty"`
	Media          []mediaJSON `json:"media"`
	Card           *cardJSON   `json:"card,omitempty"` // Bluesky's link card
}

type mediaJSON struct {
	File        string `json:"file"`
	Description string `json:"description"`
}

type cardJSON struct {
	URL         string `json:"url"`
	Title       string `json:"title"`
	Description string `json:"description"`
}

// networkJSON is what a dry run composed against on one network.
type networkJSON struct {
	Network       string `json:"network"`
	MaxCharacters int    `json:"max_characters"`
	Counting      string `json:"counting"`
	CountingNote  string `json:"counting_note"`
	Threads       int    `json:"threads"`
}

// networkThreads are the threads a post run would make now on one
// network, and what they were composed against.
type networkThreads struct {
	network string
	lim     syndicate.Limits
	note    string // how length is counted, and why
	threads []syndicate.Thread
	plan    job.PostPlan
	held    int // pending threads left for later runs by the cap
	// edits are the threads made that a run would change or delete.
	edits []threadEdit
	// refused says why the threads of files gone are not deleted.
	refused string
}

// threadEdit is a thread made that a run would change (Kind "edit": its
// article changed) or delete (Kind "retract").
type threadEdit struct {
	Article *syndicate.Article
	Kind    string
	Changes []job.Change
}

// pendingThreads composes, for every network, the threads a post run
// would make now; the problems are the articles' and the compositions'.
// all ignores the per-run caps.
func (a *app) pendingThreads(v view, all bool) ([]networkThreads, []error, error) {
	problems := v.set.Problems
	var out []networkThreads
	for _, n := range a.networks() {
		nt := networkThreads{network: n}
		nt.lim, nt.note = a.dryRunLimits(v, n)
		articles := append(append([]*syndicate.Article(nil), v.set.Articles...), v.vanished[n]...)
		nt.refused = v.refused[n]
		nt.plan = job.SelectPosts(articles, v.records[n], a.env.Now(), a.settle)
		due := nt.plan.Due
		if c, _ := a.maxThreads(n); !all && c > 0 && len(due) > c {
			due = due[:c]
		}
		opts, err := a.threadOptions(n, nt.lim)
		if err != nil {
			return nil, nil, &ExitError{Code: ExitUsage, Err: err}
		}
		failed := 0
		for _, art := range due {
			if posts, ok := v.posts[n][art.ID]; ok {
				if nt.plan.States[art.ID] == job.Retracting {
					nt.edits = append(nt.edits, threadEdit{Article: art, Kind: "retract", Changes: job.Retraction(posts)})
					continue
				}
				t, err := thread.Compose(art, opts)
				if err != nil {
					problems = append(problems, composeProblem(art, n, err))
					failed++
					continue
				}
				// The same comparison as the post job's (a change that
				// changes no post is none, and is not shown).
				if changes := job.Changes(art, posts, t, opts, job.CanEdit(n)); len(changes) > 0 {
					nt.edits = append(nt.edits, threadEdit{Article: art, Kind: "edit", Changes: changes})
				} else {
					failed++ // (not a thread to post: not held either)
				}
				continue
			}
			t, err := thread.Compose(art, opts)
			if err != nil {
				problems = append(problems, composeProblem(art, n, err))
				failed++
				continue
			}
			nt.threads = append(nt.threads, t)
		}
		nt.held = len(nt.plan.Due) - len(nt.threads) - len(nt.edits) - failed - countErrors(v.set.Problems, nt.plan.Due)
		out = append(out, nt)
	}
	return out, problems, nil
}

// postDryRun prints the threads that would be posted now on every
// network.
func (a *app) postDryRun(ctx context.Context, asJSON, all bool) error {
	v, err := a.readView(ctx)
	if err != nil {
		return err
	}
	nets, problems, err := a.pendingThreads(v, all)
	if err != nil {
		return err
	}
	a.printProblems(problems)
	extracted := map[string]bool{}
	for _, art := range v.set.Articles {
		extracted[art.ID] = art.KeyPointsExtracted
	}
	if asJSON {
		// The top-level limit and counting are the first network's (one
		// network was all there was); each thread names its own.
		out := struct {
			MaxCharacters int           `json:"max_characters"`
			Counting      string        `json:"counting"`
			CountingNote  string        `json:"counting_note"`
			Networks      []networkJSON `json:"networks"`
			Threads       []threadJSON  `json:"threads"`
			Edits         []editJSON    `json:"edits"`
			Problems      []string      `json:"problems"`
		}{Networks: []networkJSON{}, Threads: []threadJSON{}, Edits: []editJSON{}, Problems: []string{}}
		for i, nt := range nets {
			if i == 0 {
				out.MaxCharacters, out.Counting, out.CountingNote = nt.lim.MaxCharacters, nt.lim.Counting, nt.note
			}
			out.Networks = append(out.Networks, networkJSON{Network: nt.network, MaxCharacters: nt.lim.MaxCharacters,
				Counting: nt.lim.Counting, CountingNote: nt.note, Threads: len(nt.threads)})
			for _, t := range nt.threads {
				tj := threadJSON{Network: nt.network, Article: t.ArticleID, Source: sourceOf(t), Title: t.Title, URL: t.URL,
					MaxCharacters: nt.lim.MaxCharacters, Extracted: extracted[t.ArticleID]}
				for _, p := range t.Posts {
					pj := postJSON{Text: p.Text, Length: p.Length, Visibility: p.Visibility, Language: p.Language, ContentWarning: p.ContentWarning, Media: []mediaJSON{}}
					for _, m := range p.Media {
						pj.Media = append(pj.Media, mediaJSON{File: m.File, Description: m.Description})
					}
					if c := p.Card; c != nil {
						pj.Card = &cardJSON{URL: c.URL, Title: c.Title, Description: c.Description}
					}
					tj.Posts = append(tj.Posts, pj)
				}
				out.Threads = append(out.Threads, tj)
			}
			for _, te := range nt.edits {
				out.Edits = append(out.Edits, editToJSON(nt.network, te))
			}
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
		for i, nt := range nets {
			if i > 0 {
				fmt.Fprintln(a.env.Stdout)
			}
			if len(nt.threads) > 0 || len(nt.edits) == 0 {
				writeThreads(a.env.Stdout, nt, extracted)
			}
			writeEdits(a.env.Stdout, nt)
			if nt.refused != "" {
				fmt.Fprintf(a.env.Stdout, "%s: %s\n", networkName(nt.network), text.Terminal(nt.refused))
			}
			if nt.held > 0 && !all {
				c, key := a.maxThreads(nt.network)
				fmt.Fprintf(a.env.Stdout, "%d more pending article(s) wait for later runs (%s: %d); --all shows them.\n", nt.held, key, c)
			}
			for _, w := range nt.plan.Stopped {
				fmt.Fprintf(a.env.Stdout, "%s became a draft while its %s thread was unfinished: nothing more is posted.\n", text.Terminal(w.ID), networkName(nt.network))
			}
		}
		if len(nets) > 0 {
			// Dates and settling are the article's, the same on every network.
			plan := nets[0].plan
			for _, w := range plan.Waiting {
				fmt.Fprintf(a.env.Stdout, "%s waits for its date, %s.\n", text.Terminal(w.ID), w.Date.Format("2006-01-02 15:04 MST"))
			}
			for _, w := range plan.Settling {
				fmt.Fprintf(a.env.Stdout, "%s changed less than %s ago (articles_settle): it waits for the next tick.\n", text.Terminal(w.ID), a.settle)
			}
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

// editJSON is a thread made that a run would change or delete.
type editJSON struct {
	Network string       `json:"network"`
	Article string       `json:"article"`
	Title   string       `json:"title"`
	Kind    string       `json:"kind"` // edit, retract
	Changes []changeJSON `json:"changes"`
}

// changeJSON is one step: a post edited (before and after), appended,
// deleted, or replies posted (a correction).
type changeJSON struct {
	Kind   string     `json:"kind"` // edit, append, delete, remove, correct, correction
	Post   int        `json:"post,omitempty"`
	Before *postJSON  `json:"before,omitempty"`
	After  []postJSON `json:"after,omitempty"`
}

func plannedJSON(p syndicate.PlannedPost) *postJSON {
	pj := &postJSON{Text: p.Text, Visibility: p.Visibility, Language: p.Language, ContentWarning: p.ContentWarning, Media: []mediaJSON{}}
	if p.MediaFile != "" {
		pj.Media = append(pj.Media, mediaJSON{File: p.MediaFile, Description: p.MediaAlt})
	}
	return pj
}

func editToJSON(network string, te threadEdit) editJSON {
	ej := editJSON{Network: network, Article: te.Article.ID, Title: te.Article.Title, Kind: te.Kind, Changes: []changeJSON{}}
	for _, c := range te.Changes {
		cj := changeJSON{Kind: c.Kind}
		if c.Kind != job.ChangeCorrection {
			cj.Post = c.Position + 1
		}
		if c.Kind != job.ChangeAppend && c.Kind != job.ChangeCorrection {
			cj.Before = plannedJSON(c.Before)
		}
		for _, p := range c.After {
			pj := postJSON{Text: p.Text, Length: p.Length, Visibility: p.Visibility, Language: p.Language, ContentWarning: p.ContentWarning, Media: []mediaJSON{}}
			for _, m := range p.Media {
				pj.Media = append(pj.Media, mediaJSON{File: m.File, Description: m.Description})
			}
			cj.After = append(cj.After, pj)
		}
		ej.Changes = append(ej.Changes, cj)
	}
	return ej
}

// writeEdits prints the threads made that a run would change, each
// changed post before and after, or delete.
func writeEdits(w io.Writer, nt networkThreads) {
	name, limit, unit := networkName(nt.network), nt.lim.MaxCharacters, lengthUnit(nt.network)
	lines := func(prefix, s string) {
		for _, line := range strings.Split(s, "\n") {
			fmt.Fprintf(w, "    %s%s\n", prefix, text.Terminal(line))
		}
	}
	for _, te := range nt.edits {
		if te.Kind == "retract" {
			fmt.Fprintf(w, "\n=== %s on %s: retracted, its thread would be deleted (%d posts)\n", text.Terminal(te.Article.ID), name, len(te.Changes))
			for _, c := range te.Changes {
				fmt.Fprintf(w, "--- delete post %d\n", c.Before.Index+1)
				lines("", c.Before.Text)
			}
			continue
		}
		fmt.Fprintf(w, "\n=== %s on %s: changed since its thread was posted; the thread would be changed (dry run: nothing is sent)\n", text.Terminal(te.Article.ID), name)
		for _, c := range te.Changes {
			switch c.Kind {
			case job.ChangeEdit, job.ChangeRemove:
				fmt.Fprintf(w, "--- post %d: edited in place · %d/%d %s\n", c.Position+1, c.After[0].Length, limit, unit)
				lines("before: ", c.Before.Text)
				lines("after:  ", c.After[0].Text)
				if c.Before.MediaFile != "" || len(c.After[0].Media) > 0 {
					after := "none"
					if m := c.After[0].Media; len(m) > 0 {
						after = m[0].File + ", alt: " + m[0].Description
					}
					fmt.Fprintf(w, "    [image before: %s, alt: %s; after: %s]\n", text.Terminal(c.Before.MediaFile), text.Terminal(c.Before.MediaAlt), text.Terminal(after))
				}
			case job.ChangeAppend:
				fmt.Fprintf(w, "--- post %d: added, a reply at the thread's end · %d/%d %s\n", c.Position+1, c.After[0].Length, limit, unit)
				lines("", c.After[0].Text)
			case job.ChangeDelete:
				fmt.Fprintf(w, "--- post %d: deleted (its key point was removed)\n", c.Position+1)
				lines("before: ", c.Before.Text)
			case job.ChangeCorrect:
				fmt.Fprintf(w, "--- post %d changed; %s cannot edit it: a correction reply at the thread's end\n", c.Position+1, name)
				lines("before: ", c.Before.Text)
				for _, p := range c.After {
					lines("reply:  ", p.Text)
				}
			case job.ChangeCorrection:
				fmt.Fprintf(w, "--- correction: a reply at the thread's end\n")
				for _, p := range c.After {
					lines("", p.Text)
				}
			}
		}
	}
}

// writeThreads prints one network's threads for a person; extracted
// names the articles whose key points the extractor chose. Every line of
// article text is escaped for the terminal.
func writeThreads(w io.Writer, nt networkThreads, extracted map[string]bool) {
	name, limit, unit := networkName(nt.network), nt.lim.MaxCharacters, lengthUnit(nt.network)
	if len(nt.threads) == 0 {
		fmt.Fprintf(w, "%s: nothing to post: every article is posted, a draft, or waiting for its date.\n", name)
		return
	}
	fmt.Fprintf(w, "%s: would post %d thread(s), limit %d %s per post (dry run: nothing is sent).\nLength is counted %s.\n", name, len(nt.threads), limit, unit, text.Terminal(nt.note))
	for _, t := range nt.threads {
		note := ""
		if extracted[t.ArticleID] {
			note = "; key points chosen by the extractor"
		}
		if src := sourceOf(t); src != "folder" {
			note += "; from " + src
		}
		fmt.Fprintf(w, "\n=== %s on %s (%d posts%s)\n", text.Terminal(t.ArticleID), name, len(t.Posts), text.Terminal(note))
		for i, p := range t.Posts {
			fmt.Fprintf(w, "--- post %d/%d · %s", i+1, len(t.Posts), p.Visibility)
			if p.Language != "" {
				fmt.Fprintf(w, " · %s", text.Terminal(p.Language))
			}
			fmt.Fprintf(w, " · %d/%d %s\n", p.Length, limit, unit)
			if p.ContentWarning != "" {
				fmt.Fprintf(w, "    CW: %s\n", text.Terminal(p.ContentWarning))
			}
			for _, line := range strings.Split(p.Text, "\n") {
				fmt.Fprintf(w, "    %s\n", text.Terminal(line))
			}
			for _, m := range p.Media {
				fmt.Fprintf(w, "    [image %s, alt: %s]\n", text.Terminal(m.File), text.Terminal(m.Description))
			}
			if c := p.Card; c != nil && len(p.Media) == 0 {
				fmt.Fprintf(w, "    [link card %s: %s]\n", text.Terminal(c.URL), text.Terminal(c.Title))
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
	dg, _ := job.NextIssue(fresh, v.notices, now.In(a.cfg.Location()), a.cfg.Email.MaxArticles, a.digestPictures())
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
	if pd.Digest.Empty() {
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
			// Corrections are the corrections and retractions it
			// carries.
			Corrections []syndicate.Notice `json:"corrections"`
			Readers     int                `json:"readers"`
			Problems    []string           `json:"problems"`
			Skipped     []string           `json:"skipped_rows"`
		}{Unfinished: v.open, Subject: pd.Message.Subject, Articles: pd.Digest.Articles, Corrections: pd.Digest.Notices, Readers: pd.Readers, Problems: []string{}, Skipped: []string{}}
		if out.Articles == nil {
			out.Articles = []syndicate.DigestItem{}
		}
		if out.Corrections == nil {
			out.Corrections = []syndicate.Notice{}
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
	} else if pd.Digest.Empty() {
		if v.open != nil {
			fmt.Fprintf(a.env.Stdout, "Digest %d is unfinished: its %d reader(s) not yet mailed would get it (%d article(s)).\n", v.open.ID, v.open.Left, v.open.Articles)
		}
		fmt.Fprintln(a.env.Stdout, "No new articles or corrections since the last digest: no new digest would be sent.")
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
		if len(pd.Digest.Notices) > 0 {
			fmt.Fprintf(a.env.Stdout, "\nCorrections:\n")
			for _, n := range pd.Digest.Notices {
				if n.Kind == syndicate.NoticeRetraction {
					fmt.Fprintf(a.env.Stdout, "* Retracted: %s\n", text.Terminal(n.Title))
					continue
				}
				fmt.Fprintf(a.env.Stdout, "* %s: %s\n", text.Terminal(n.Title), text.Terminal(n.Text))
				if n.URL != "" {
					fmt.Fprintf(a.env.Stdout, "    %s\n", text.Terminal(n.URL))
				}
			}
		}
	}
	if outDir != "" && !pd.Digest.Empty() {
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
	nets, problems, err := a.pendingThreads(v, true)
	if err != nil {
		return err
	}
	pd, err := a.previewDigest(v)
	if err != nil {
		return err
	}
	problems = append(problems, pd.Skipped...)
	page := preview.Page{
		Title: "syndicate preview", Account: a.accountName(),
		Generated: a.env.Now().In(a.cfg.Location()).Format("2006-01-02 15:04 MST"),
	}
	page.Initial = strings.ToUpper(string([]rune(page.Account)[:1]))
	images, err := a.pictures(ctx)
	if err != nil {
		return err
	}
	defer images.Close()
	inliner := preview.NewInliner(images)
	threads := 0
	for _, nt := range nets {
		n := preview.Network{Name: nt.network, Label: networkName(nt.network), Limit: nt.lim.MaxCharacters, Unit: lengthUnit(nt.network), Server: a.cfg.Mastodon.Server}
		account := page.Account
		if nt.network == syndicate.NetworkBluesky {
			n.Server = a.cfg.Bluesky.Service
			if h := a.cfg.Bluesky.Handle; h != "" {
				account = "@" + h
			}
		}
		page.Networks = append(page.Networks, n)
		for _, t := range nt.threads {
			page.Threads = append(page.Threads, preview.FromThread(t, n, account, inliner))
			page.PostsTotal += len(t.Posts)
		}
		for _, te := range nt.edits {
			page.Threads = append(page.Threads, editCards(te, n, account, inliner))
		}
		threads += len(nt.threads)
	}
	page.Articles = preview.ByArticle(page.Threads)
	for _, p := range problems {
		page.Problems = append(page.Problems, p.Error())
	}
	page.Digest = preview.Digest{Subject: pd.Message.Subject, HTML: pd.Message.HTML, Text: pd.Message.Text, Readers: pd.Readers, Articles: len(pd.Digest.Articles)}
	if pd.Digest.Empty() {
		page.Digest.Note = "No new articles or corrections since the last digest: no new digest would be sent."
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
	fmt.Fprintf(a.env.Stdout, "wrote %s: %d thread(s), the digest for %d reader(s); open it in a browser\n", path, threads, pd.Readers)
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

// editCards draws a thread made that a run would change or delete, each
// changed post beside the original.
func editCards(te threadEdit, n preview.Network, account string, in *preview.Inliner) preview.Thread {
	t := preview.Thread{Network: n.Name, Label: n.Label, Account: account, ArticleID: te.Article.ID, Title: te.Article.Title, URL: te.Article.URL,
		Limit: n.Limit, Change: "changes to the thread posted"}
	if te.Article.FromFeed() {
		t.Source = te.Article.Source
	}
	if te.Kind == "retract" {
		t.Change = "retracted: the thread is deleted"
	}
	card := func(number int, p syndicate.Post, change string) preview.Post {
		c := preview.Post{Number: number, Of: number, HTML: preview.PostHTML(p.Text), ContentWarning: p.ContentWarning, Visibility: p.Visibility,
			Language: p.Language, Length: p.Length, Limit: n.Limit, Level: "ok", Change: change}
		if p.Length > n.Limit {
			c.Level = "over"
		}
		for _, m := range p.Media {
			c.Images = append(c.Images, preview.Image{Src: in.URI(m.File), Alt: m.Description})
		}
		return c
	}
	before := func(p syndicate.PlannedPost) syndicate.Post {
		out := syndicate.Post{Text: p.Text, ContentWarning: p.ContentWarning, Visibility: p.Visibility, Language: p.Language}
		if p.MediaFile != "" {
			out.Media = []syndicate.Media{{File: p.MediaFile, Description: p.MediaAlt}}
		}
		return out
	}
	for _, c := range te.Changes {
		switch c.Kind {
		case job.ChangeEdit, job.ChangeRemove:
			pc := card(c.Position+1, c.After[0], "edited")
			pc.Before = preview.PostHTML(c.Before.Text)
			t.Posts = append(t.Posts, pc)
		case job.ChangeDelete:
			pc := card(c.Position+1, before(c.Before), "deleted")
			pc.Before, pc.HTML = pc.HTML, ""
			t.Posts = append(t.Posts, pc)
		case job.ChangeAppend:
			t.Posts = append(t.Posts, card(c.Position+1, c.After[0], "added"))
		case job.ChangeCorrect, job.ChangeCorrection:
			for i, p := range c.After {
				pc := card(len(t.Posts)+1, p, "correction reply")
				if i == 0 && c.Kind == job.ChangeCorrect {
					pc.Before = preview.PostHTML(c.Before.Text)
				}
				t.Posts = append(t.Posts, pc)
			}
		}
	}
	for i := range t.Posts {
		t.Posts[i].Of = len(t.Posts)
	}
	return t
}
