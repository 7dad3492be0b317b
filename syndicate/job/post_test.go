package job_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	texttemplate "text/template"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/files"
	"github.com/syndicate-bot/syndicate/syndicate/job"
	"github.com/syndicate-bot/syndicate/syndicate/mastodon"
	"github.com/syndicate-bot/syndicate/syndicate/mastodon/mastotest"
	"github.com/syndicate-bot/syndicate/syndicate/store"
	"github.com/syndicate-bot/syndicate/syndicate/thread"
	"github.com/syndicate-bot/syndicate/templates"
)

// The post job is tested over the real Mastodon client against the
// project's API test server (which makes the faults real servers cannot
// be made to produce) and a real state on a temporary SQLite database.

const token = "job-test-token"

var epoch = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

// openState opens a fresh state whose clock is now.
func openState(t *testing.T, now func() time.Time) *store.DB {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "state.db"), store.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// logBuffer is a logger whose output a test can read.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}
func (l *logBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.buf.String() }

func newLog() (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	return slog.New(slog.NewTextHandler(b, nil)), b
}

func postOptions(t *testing.T, server string) job.PostOptions {
	t.Helper()
	src, source, err := templates.Open("", templates.HeadPost)
	if err != nil {
		t.Fatal(err)
	}
	head := texttemplate.Must(texttemplate.New(source).Option("missingkey=error").Parse(src))
	// The config's defaults (config.Default) for a thread.
	return job.PostOptions{Server: server, Thread: thread.Options{
		Numbering: true, Visibility: "public", ReplyVisibility: "unlisted", Language: "en", Head: head, MaxPosts: 25,
	}}
}

func article(id string, date time.Time, points ...string) *syndicate.Article {
	return &syndicate.Article{
		ID: id, Path: id + ".md", Title: "Headline of " + id, URL: "https://news.example/" + id,
		Date: date, ModTime: date, KeyPoints: points, Hash: "hash-" + id + fmt.Sprint(len(points)), Source: "folder",
	}
}

type postEnv struct {
	srv *mastotest.Server
	st  *store.DB
	log *logBuffer
	d   job.PostDeps
	now time.Time
}

func newPostEnv(t *testing.T) *postEnv {
	t.Helper()
	e := &postEnv{srv: mastotest.New(token), now: epoch}
	t.Cleanup(e.srv.Close)
	clock := func() time.Time { return e.now }
	e.st = openState(t, clock)
	var logger *slog.Logger
	logger, e.log = newLog()
	client := mastodon.New(mastodon.Options{Server: e.srv.URL, Token: token, Timeout: 5 * time.Second, Retries: 0, Backoff: time.Millisecond})
	e.d = job.PostDeps{Options: postOptions(t, e.srv.URL), Ledger: e.st, Outlet: client, Log: logger, Now: clock, Retries: 3, Backoff: time.Millisecond}
	return e
}

func (e *postEnv) post(t *testing.T, articles ...*syndicate.Article) job.PostReport {
	t.Helper()
	rep, err := job.Post(context.Background(), e.d, articles)
	if err != nil {
		t.Fatalf("Post: %v", err)
	}
	return rep
}

// threads returns each thread's texts, head first, checking the chain.
func (e *postEnv) threads(t *testing.T) [][]string {
	t.Helper()
	threads, err := e.srv.Threads()
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	for _, th := range threads {
		var texts []string
		for _, s := range th {
			texts = append(texts, s.Text)
		}
		out = append(out, texts)
	}
	return out
}

func TestPost_ThreadsOnceOldestFirst(t *testing.T) {
	e := newPostEnv(t)
	older := article("older", epoch.Add(-48*time.Hour), "First point.", "Second point.")
	newer := article("newer", epoch.Add(-time.Hour), "Only point.")
	rep := e.post(t, newer, older)
	if got, want := fmt.Sprint(rep.Finished), "[older newer]"; got != want {
		t.Errorf("finished %s, want %s", got, want)
	}
	if got, want := rep.Posts, 5; got != want {
		t.Errorf("%d posts, want %d", got, want)
	}
	threads := e.threads(t)
	if len(threads) != 2 || len(threads[0]) != 3 || len(threads[1]) != 2 {
		t.Fatalf("threads %q, want 3 posts then 2", threads)
	}
	if !strings.Contains(threads[0][0], "Headline of older") || !strings.Contains(threads[0][1], "First point.") || !strings.Contains(threads[0][2], "Second point.") {
		t.Errorf("the older thread reads %q", threads[0])
	}
	// Nothing twice: a second run finds everything posted.
	again := e.post(t, newer, older)
	if again.Posts != 0 || len(again.Finished) != 0 || len(e.srv.Statuses()) != 5 {
		t.Errorf("second run: %+v, %d statuses", again, len(e.srv.Statuses()))
	}
	records, _ := e.st.ArticleRecords(context.Background(), syndicate.NetworkMastodon)
	for _, id := range []string{"older", "newer"} {
		if records[id].State != syndicate.StatePosted {
			t.Errorf("%s is %q, want posted", id, records[id].State)
		}
	}
}

func TestPost_WaitingAndCap(t *testing.T) {
	e := newPostEnv(t)
	e.d.Options.MaxThreadsPerRun = 1
	future := article("embargoed", epoch.Add(time.Hour), "Later.")
	a := article("a", epoch.Add(-3*time.Hour), "A.")
	b := article("b", epoch.Add(-2*time.Hour), "B.")
	rep := e.post(t, future, a, b)
	if fmt.Sprint(rep.Finished) != "[a]" || rep.Left != 1 || rep.Waiting != 1 {
		t.Errorf("report %+v, want a finished, 1 left, 1 waiting", rep)
	}
	rep = e.post(t, future, a, b)
	if fmt.Sprint(rep.Finished) != "[b]" || rep.Left != 0 {
		t.Errorf("second run %+v, want b finished", rep)
	}
	e.now = epoch.Add(2 * time.Hour)
	if rep = e.post(t, future, a, b); fmt.Sprint(rep.Finished) != "[embargoed]" {
		t.Errorf("after the embargo: %+v", rep)
	}
}

// A post whose outcome is unknown (the server made it, the answer was
// lost) is looked for before it is sent again: it exists once.
func TestPost_LostAnswerIsFoundNotResent(t *testing.T) {
	e := newPostEnv(t)
	e.srv.DropAfterCreate(2)
	e.srv.ExpireKeys()
	rep := e.post(t, article("x", epoch.Add(-time.Hour), "One.", "Two.", "Three."))
	if len(rep.Finished) != 1 {
		t.Fatalf("report %+v", rep)
	}
	if got := len(e.srv.Statuses()); got != 4 {
		t.Errorf("%d statuses, want 4 (none twice)", got)
	}
	if !strings.Contains(e.log.String(), "found a post whose outcome was unknown") {
		t.Errorf("the lost answers were not settled by looking:\n%s", e.log)
	}
}

// A run killed after a post was sent but before it was recorded: the
// ledger has the attempt, the next run finds the post.
func TestPost_ResumesAnAttemptInDoubt(t *testing.T) {
	e := newPostEnv(t)
	a := article("doubt", epoch.Add(-time.Hour), "One.", "Two.")
	ctx := context.Background()
	// Plan the thread and make its head by hand, as a killed run would
	// have left it: attempted, posted, not recorded.
	e.post(t) // nothing due: only to prove an empty run is fine
	stop, cancel := context.WithCancel(ctx)
	e.srv.OnCreate(func(mastotest.Status) { cancel() })
	if _, err := job.Post(stop, e.d, []*syndicate.Article{a}); !errors.Is(err, job.ErrStopped) {
		t.Fatalf("a run stopped after the head post: %v", err)
	}
	e.srv.OnCreate(nil)
	posts, err := e.st.PlannedPosts(ctx, syndicate.NetworkMastodon, a.ID)
	if err != nil || len(posts) != 3 || posts[0].StatusID == "" || posts[1].StatusID != "" {
		t.Fatalf("after the stop the plan is %+v (%v)", posts, err)
	}
	if err := e.st.MarkAttempt(ctx, syndicate.NetworkMastodon, a.ID, 1); err != nil {
		t.Fatal(err)
	}
	// The reply "went out" without being recorded.
	pp := posts[1]
	pp.IdempotencyKey = "made-by-the-killed-run"
	client := mastodon.New(mastodon.Options{Server: e.srv.URL, Token: token})
	head := syndicate.Ref{ID: posts[0].StatusID}
	if _, err := client.Post(ctx, pp, head, head, nil); err != nil {
		t.Fatal(err)
	}
	rep := e.post(t, a)
	if len(rep.Finished) != 1 {
		t.Fatalf("resumed run: %+v", rep)
	}
	if got := len(e.srv.Statuses()); got != 3 {
		t.Errorf("%d statuses, want 3: the reply in doubt was sent again", got)
	}
}

// The server refusing a post fails the article, which waits for --retry
// or an edit; the others go on.
func TestPost_RefusedArticleFailsOthersGoOn(t *testing.T) {
	e := newPostEnv(t)
	e.d.Options.MaxCharacters = 2000 // more than the server takes
	long := article("long", epoch.Add(-2*time.Hour), strings.Repeat("word ", 150))
	fine := article("fine", epoch.Add(-time.Hour), "Short.")
	rep := e.post(t, long, fine)
	if len(rep.Failed) != 1 || rep.Failed[0].ArticleID != "long" || fmt.Sprint(rep.Finished) != "[fine]" {
		t.Fatalf("report %+v", rep)
	}
	if !strings.Contains(e.log.String(), "article failed") {
		t.Errorf("no failure logged:\n%s", e.log)
	}
	// Not tried again until edited.
	before := e.srv.Requests()
	if rep = e.post(t, long, fine); len(rep.Failed) != 0 || rep.Posts != 0 {
		t.Errorf("a failed article was tried again: %+v", rep)
	}
	e.d.Options.MaxCharacters = 0
	edited := *long
	edited.Hash = "edited"
	if rep = e.post(t, &edited, fine); fmt.Sprint(rep.Finished) != "[long]" {
		t.Errorf("an edited failed article: %+v", rep)
	}
	if e.srv.Requests() == before {
		t.Error("no request after the edit")
	}
}

// A 503 burst is retried with backoff; the thread is made once.
func TestPost_RetriesServerErrors(t *testing.T) {
	e := newPostEnv(t)
	e.srv.Fail503(2)
	rep := e.post(t, article("busy", epoch.Add(-time.Hour), "One."))
	if len(rep.Finished) != 1 || len(e.srv.Statuses()) != 2 {
		t.Errorf("report %+v, %d statuses", rep, len(e.srv.Statuses()))
	}
	// Out of retries: the run stops with the error, the post stays in
	// doubt for the next run.
	e.d.Retries = 0
	e.srv.Fail503(1)
	_, err := job.Post(context.Background(), e.d, []*syndicate.Article{article("later", epoch.Add(-time.Hour), "Two.")})
	if err == nil || !strings.Contains(err.Error(), "later") {
		t.Fatalf("a post out of retries: %v", err)
	}
	rep = e.post(t, article("later", epoch.Add(-time.Hour), "Two."))
	if len(rep.Finished) != 1 || len(e.srv.Statuses()) != 4 {
		t.Errorf("the next run: %+v, %d statuses", rep, len(e.srv.Statuses()))
	}
}

func TestPost_BadTokenStops(t *testing.T) {
	e := newPostEnv(t)
	e.d.Outlet = mastodon.New(mastodon.Options{Server: e.srv.URL, Token: "wrong"})
	_, err := job.Post(context.Background(), e.d, []*syndicate.Article{article("a", epoch.Add(-time.Hour), "A.")})
	if !errors.Is(err, syndicate.ErrUnauthorized) {
		t.Fatalf("a refused token: %v", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Errorf("the error echoes the token: %v", err)
	}
}

// What the server says of itself is kept for the dry runs and logged
// when it is new or changed; a server that ignores Idempotency-Key is
// said to.
func TestPost_RemembersTheServer(t *testing.T) {
	e := newPostEnv(t)
	ctx := context.Background()
	e.post(t, article("a", epoch.Add(-time.Hour), "A."))
	info, known, err := e.st.ServerInfo(ctx, e.srv.URL)
	if err != nil || !known || info.Software != "mastodon" || info.MaxCharacters != 500 {
		t.Fatalf("kept %+v, %v, %v", info, known, err)
	}
	if got := strings.Count(e.log.String(), "server identified"); got != 1 {
		t.Errorf("identified %d times, want 1", got)
	}
	e.post(t, article("b", epoch.Add(-time.Hour), "B."))
	if got := strings.Count(e.log.String(), "server identified"); got != 1 {
		t.Errorf("an unchanged server identified again (%d)", got)
	}
	e.srv.Set(func(s *mastotest.Settings) { s.Software = "gotosocial" })
	e.post(t, article("c", epoch.Add(-time.Hour), "C."))
	log := e.log.String()
	if strings.Count(log, "server identified") != 2 || !strings.Contains(log, "does not honour Idempotency-Key") {
		t.Errorf("a change of software was not said:\n%s", log)
	}
	e.srv.Set(func(s *mastotest.Settings) { s.Software = "unheard-of" })
	e.post(t, article("d", epoch.Add(-time.Hour), "D."))
	if !strings.Contains(e.log.String(), "counted strictly") {
		t.Errorf("an unknown server's strict counting was not said:\n%s", e.log)
	}
}

// pictures reads from a map: the folder rules are package files' tests.
type pictures map[string]files.Image

func (p pictures) Read(path string, limit int64) (files.Image, error) {
	img, ok := p[path]
	if !ok {
		return files.Image{}, fmt.Errorf("%s: no such file", path)
	}
	if int64(len(img.Data)) > limit {
		return files.Image{}, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return img, nil
}

var png1x1 = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")

func TestPost_Pictures(t *testing.T) {
	withPicture := func(id, path string) *syndicate.Article {
		a := article(id, epoch.Add(-time.Hour), "A point.")
		a.Image = &syndicate.Image{Path: path, Alt: "A harbour at dawn"}
		return a
	}
	tests := []struct {
		name     string
		images   job.ImageReader
		server   func(*mastotest.Settings)
		path     string
		wantFail string // "" when the thread is posted with its picture
	}{
		{name: "posted", images: pictures{"p.png": {Name: "p.png", Type: "image/png", Data: png1x1}}, path: "p.png"},
		{name: "no picture folders", path: "p.png", wantFail: "no picture folders are open"},
		{name: "missing", images: pictures{}, path: "gone.png", wantFail: "no such file"},
		{name: "too large for the server", images: pictures{"p.png": {Name: "p.png", Type: "image/png", Data: png1x1}}, path: "p.png",
			server: func(s *mastotest.Settings) { s.ImageSizeLimit = 10 }, wantFail: "larger than 10 bytes"},
		{name: "a type the server does not take", images: pictures{"p.png": {Name: "p.png", Type: "image/png", Data: png1x1}}, path: "p.png",
			server: func(s *mastotest.Settings) { s.ImageTypes = []string{"image/jpeg"} }, wantFail: "which the server does not take"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newPostEnv(t)
			e.d.Images = tt.images
			if tt.server != nil {
				e.srv.Set(tt.server)
			}
			rep := e.post(t, withPicture("pic", tt.path))
			if tt.wantFail == "" {
				ups := e.srv.Uploads()
				if len(rep.Finished) != 1 || len(ups) != 1 || ups[0].Description != "A harbour at dawn" || ups[0].Type != "image/png" {
					t.Fatalf("report %+v, uploads %+v", rep, ups)
				}
				if head := e.srv.Statuses()[0]; len(head.MediaIDs) != 1 {
					t.Errorf("the head post carries %d pictures", len(head.MediaIDs))
				}
				return
			}
			if len(rep.Failed) != 1 || !strings.Contains(rep.Failed[0].Reason, tt.wantFail) {
				t.Fatalf("report %+v, want a failure saying %q", rep, tt.wantFail)
			}
			if n := len(e.srv.Statuses()); n != 0 {
				t.Errorf("%d statuses made for an article whose picture failed", n)
			}
		})
	}
}

// A draft's unfinished thread is stopped, not finished.
func TestPost_DraftStopsAnUnfinishedThread(t *testing.T) {
	e := newPostEnv(t)
	a := article("turned-draft", epoch.Add(-time.Hour), "One.", "Two.")
	stop, cancel := context.WithCancel(context.Background())
	e.srv.OnCreate(func(mastotest.Status) { cancel() })
	job.Post(stop, e.d, []*syndicate.Article{a})
	e.srv.OnCreate(nil)
	draft := *a
	draft.Draft = true
	if rep := e.post(t, &draft); rep.Posts != 0 || len(rep.Finished) != 0 {
		t.Errorf("a draft's thread went on: %+v", rep)
	}
	if n := len(e.srv.Statuses()); n != 1 {
		t.Errorf("%d statuses, want the head only", n)
	}
}

func TestIdempotencyKey(t *testing.T) {
	base := syndicate.PlannedPost{Index: 1, Text: "A point.", Visibility: "public", Language: "en"}
	key := job.IdempotencyKey("a", base, "100")
	if !strings.HasPrefix(key, "syndicate-") || len(key) != len("syndicate-")+32 {
		t.Errorf("key %q", key)
	}
	if again := job.IdempotencyKey("a", base, "100"); again != key {
		t.Error("the same post gives another key")
	}
	changed := map[string]func() string{
		"article": func() string { return job.IdempotencyKey("b", base, "100") },
		"parent":  func() string { return job.IdempotencyKey("a", base, "101") },
		"index":   func() string { p := base; p.Index = 2; return job.IdempotencyKey("a", p, "100") },
		"text":    func() string { p := base; p.Text = "Another."; return job.IdempotencyKey("a", p, "100") },
		"warning": func() string { p := base; p.ContentWarning = "cw"; return job.IdempotencyKey("a", p, "100") },
		"picture": func() string { p := base; p.MediaFile = "p.png"; return job.IdempotencyKey("a", p, "100") },
		// The parts are separated: moving text between fields changes it.
		"boundary": func() string {
			p := base
			p.Text, p.ContentWarning = "", "A point."
			return job.IdempotencyKey("a", p, "100")
		},
	}
	for name, f := range changed {
		if f() == key {
			t.Errorf("a change of %s keeps the key", name)
		}
	}
}
