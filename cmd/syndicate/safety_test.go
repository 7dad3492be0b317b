package main

// The attacks of issue 11, each kept as a test: files from many hands in
// the articles folder, a subscriber list from many hands, and the floods
// one command could start.

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate/mastodon/mastotest"
	"github.com/syndicate-bot/syndicate/syndicate/store"
	"github.com/syndicate-bot/syndicate/syndicate/unsubscribe"
)

// TestSafety_NothingOutsideTheFolderIsRead: an article naming the process
// environment or the state as its picture, and a symlink to a secret
// file, are problems of their own articles; the rest are posted, nothing
// of the secrets is uploaded, previewed or printed.
func TestSafety_NothingOutsideTheFolderIsRead(t *testing.T) {
	srv := mastotest.New(token)
	defer srv.Close()
	e := newEnv(t, mastodonConfig(srv, ""), "harbour-library-reopens.md", "offshore-wind.png", "north-sea-wind-auction.md")
	e.write("private.key", "-----BEGIN PRIVATE KEY-----\nTOPSECRETKEY\n")
	e.write("articles/environ.md", "---\ntitle: Env\nimage: ../../../../../../../../proc/self/environ\n---\nText.\n")
	e.write("articles/statefile.md", "---\ntitle: State\nimage: ../state/syndicate.db\n---\nText.\n")
	e.write("articles/keylink-pic.md", "---\ntitle: Key picture\nimage: innocent.png\n---\nText.\n")
	if err := os.Symlink(e.path("private.key"), e.path("articles/leak.md")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(e.path("private.key"), e.path("articles/innocent.png")); err != nil {
		t.Fatal(err)
	}
	// A state must exist for ../state/syndicate.db to be worth reading:
	// it holds the key unsubscribe tokens are signed with.
	st, err := store.Open(context.Background(), e.path("state/syndicate.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	key, err := st.Secret(context.Background(), "unsubscribe")
	st.Close()
	if err != nil {
		t.Fatal(err)
	}

	r := e.run("check")
	if r.code != 1 {
		t.Fatalf("check: %s", r)
	}
	for _, want := range []string{
		"articles/environ.md:3: front matter: image:", "is outside the articles folder and media_dirs: refused",
		"articles/statefile.md:3: front matter: image:",
		"articles/keylink-pic.md:3: front matter: image:", "leaves its folder",
		"articles/leak.md:1: file leaves its folder",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("check lacks %q:\n%s", want, r.stderr)
		}
	}
	if !strings.Contains(r.stdout, "2 article(s) read") {
		t.Errorf("the good articles are still read: %s", r.stdout)
	}
	secrets := []string{token, "TOPSECRETKEY", fmt.Sprintf("%x", key), base64.StdEncoding.EncodeToString([]byte("MASTODON_ACCESS_TOKEN"))[:16],
		base64.StdEncoding.EncodeToString([]byte("SQLite format 3"))[:16]}
	noSecret := func(what, s string) {
		t.Helper()
		for _, sec := range secrets {
			if strings.Contains(s, sec) {
				t.Errorf("%s holds %q", what, sec)
			}
		}
	}
	noSecret("check", r.stdout+r.stderr)

	r = e.run("preview", "--out", e.path("preview"))
	if r.code != 1 {
		t.Fatalf("preview: %s", r)
	}
	page := readFile(t, e.path("preview/index.html"))
	noSecret("the preview", page)
	if got := strings.Count(page, "data:image/png;base64,"); got != 1 {
		t.Errorf("the preview embeds %d pictures, want only the real one", got)
	}

	r = e.run("post")
	if r.code != 1 {
		t.Fatalf("post: %s", r)
	}
	wantThreads(t, srv, map[string]int{"harbour-library-reopens": 4, "north-sea-wind-auction": 4})
	for _, u := range srv.Uploads() {
		if u.Type != "image/png" || u.FileName != "offshore-wind.png" {
			t.Errorf("uploaded %+v", u)
		}
	}
	for _, st := range srv.Statuses() {
		noSecret("a post", st.Text)
	}
}

// TestSafety_FIFOAndDevicesNeverBlock: a FIFO named like an article, or as
// a picture, is refused at once by every command, and the daemon stops on
// SIGTERM within its grace time.
func TestSafety_FIFOAndDevicesNeverBlock(t *testing.T) {
	srv := mastotest.New(token)
	defer srv.Close()
	e := newEnv(t, mastodonConfig(srv, "")+"articles_settle: 0s\nschedule: {post: "+yearly+", digest: \"\"}\n", "harbour-library-reopens.md")
	if err := syscall.Mkfifo(e.path("articles/x.md"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(e.path("articles/pipe.png"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.write("articles/piped.md", "---\ntitle: Piped\nimage: pipe.png\n---\nText.\n")
	if err := os.Symlink("/dev/zero", e.path("articles/zero.md")); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"check"}, {"post", "--dry-run"}, {"digest", "--dry-run"}, {"status"}, {"preview", "--out", e.path("p")}} {
		start := time.Now()
		r := e.run(args...)
		if took := time.Since(start); took > 20*time.Second {
			t.Errorf("%v took %v", args, took)
		}
		if args[0] == "check" {
			for _, want := range []string{"articles/x.md:1: file is a FIFO (named pipe), not a regular file", "articles/piped.md:3: front matter: image:", "is a FIFO", "articles/zero.md:1: file leaves its folder"} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("check lacks %q:\n%s", want, r.stderr)
				}
			}
		}
	}
	daemon, _, stderr := e.command("run")
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	runNow(t, daemon.Process, stderr, syscall.SIGUSR1)
	eventually(t, 20*time.Second, "the good article posted", func() bool { return len(srv.Statuses()) == 4 })
	daemon.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- daemon.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("daemon exit: %v\n%s", err, stderr)
		}
	case <-time.After(15 * time.Second):
		daemon.Process.Kill()
		t.Fatalf("the daemon did not stop within 15 s of SIGTERM\n%s", stderr)
	}
}

// TestSafety_MediaDirsAndRealImages: a picture kept outside the articles
// folder is used only from a folder media_dirs names, and a file that
// is not an image is never uploaded.
func TestSafety_MediaDirsAndRealImages(t *testing.T) {
	srv := mastotest.New(token)
	defer srv.Close()
	e := newEnv(t, mastodonConfig(srv, ""), "offshore-wind.png")
	png := readFile(t, "../../articles/offshore-wind.png")
	if err := os.MkdirAll(e.path("static/images"), 0o755); err != nil {
		t.Fatal(err)
	}
	e.write("static/images/wind.png", png)
	e.write("articles/static-pic.md", "---\ntitle: Static picture\nimage: ../static/images/wind.png\nimage_alt: Turbines at sea\n---\nText.\n")
	e.write("articles/fake.png", "MASTODON_ACCESS_TOKEN=x\n")
	e.write("articles/fake-pic.md", "---\ntitle: Fake picture\nimage: fake.png\n---\nText.\n")

	r := e.run("check")
	if !strings.Contains(r.stderr, "articles/static-pic.md:3: front matter: image:") || !strings.Contains(r.stderr, "outside the articles folder and media_dirs") {
		t.Errorf("without media_dirs the static picture is refused:\n%s", r)
	}
	if !strings.Contains(r.stderr, "articles/fake-pic.md:3: front matter: image:") || !strings.Contains(r.stderr, "is not a PNG, JPEG, GIF, WebP or AVIF picture") {
		t.Errorf("a text file is not a picture:\n%s", r)
	}
	e.write("config.yaml", readFile(t, e.path("config.yaml"))+"media_dirs: [static/images]\n")
	r = e.run("post")
	if r.code != 1 {
		t.Fatal(r)
	}
	wantThreads(t, srv, map[string]int{"static-pic": 1})
	ups := srv.Uploads()
	if len(ups) != 1 || ups[0].FileName != "wind.png" || ups[0].Description != "Turbines at sea" {
		t.Errorf("uploads = %+v", ups)
	}
}

// TestSafety_StateIsPrivate: the state and its -wal/-shm files are 0600 in
// a 0700 folder whatever the umask, and check warns about a state others
// can read.
func TestSafety_StateIsPrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	e, _ := digestEnv(t, 3, "")
	if r := e.run("digest"); r.code != 0 {
		t.Fatal(r)
	}
	// A read-only open leaves -shm behind: look at everything there.
	entries, err := os.ReadDir(e.path("state"))
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(e.path("state")); fi.Mode().Perm() != 0o700 {
		t.Errorf("state folder mode %04o, want 0700", fi.Mode().Perm())
	}
	for _, en := range entries {
		fi, _ := en.Info()
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %04o: readable by others", en.Name(), fi.Mode().Perm())
		}
	}
	if r := e.run("check"); strings.Contains(r.stderr, "warning: state") {
		t.Errorf("a private state is warned about: %s", r)
	}
	os.Chmod(e.path("state/syndicate.db"), 0o644)
	if r := e.run("check"); !strings.Contains(r.stderr, "warning: state: "+e.path("state/syndicate.db")+" is readable by others (mode 0644)") {
		t.Errorf("no warning about a readable state: %s", r)
	}
}

// TestSafety_DryRunTokensUnsubscribeNobody: the .eml and preview of a dry
// run carry a token that the endpoint refuses, even once a real secret
// exists.
func TestSafety_DryRunTokensUnsubscribeNobody(t *testing.T) {
	e, _ := digestEnv(t, 3, "")
	if r := e.run("digest"); r.code != 0 {
		t.Fatal(r)
	}
	e.write("articles/later.md", "---\ntitle: A later story\n---\nText of it.\n")
	if r := e.run("digest", "--dry-run", "--out", e.path("out")); r.code != 0 {
		t.Fatal(r)
	}
	eml := readFile(t, e.path("out/digest.eml"))
	i := strings.Index(eml, "token=")
	if i < 0 {
		t.Fatal("no token in the .eml")
	}
	tok := eml[i+len("token=") : i+len("token=")+strings.IndexAny(eml[i+len("token="):], ">\r\n")]
	st, err := store.OpenReadOnly(context.Background(), e.path("state/syndicate.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	secret, err := st.Secret(context.Background(), "unsubscribe")
	if err != nil || len(secret) == 0 {
		t.Fatalf("secret: %v", err)
	}
	if _, err := unsubscribe.Verify(secret, "digest.example.org", tok); !errors.Is(err, unsubscribe.ErrForged) {
		t.Errorf("the dry run's token %q verifies (%v): it would unsubscribe the reader", tok, err)
	}
}

// TestSafety_ReaderNamesAreMadeSafe: names with quotes, commas,
// backslashes and line breaks are mailed with the name made safe, never a
// permanent failure and never an injected header.
func TestSafety_ReaderNamesAreMadeSafe(t *testing.T) {
	e, relay := digestEnv(t, 0, "", "harbour-library-reopens.md")
	e.write("subscribers.csv", "email,name\n"+
		"rock@example.org,\"Dwayne \"\"The Rock\"\" Johnson\"\n"+
		"evil@example.org,\"Evil\r\nBcc: victim@example.org\"\n"+
		"smith@example.org,\"Smith, John\"\n"+
		"slash@example.org,back\\slash\n"+
		"ctrl@example.org,\"Bell\x07\x1b[31mRed\"\n")
	r := e.run("digest")
	if r.code != 0 || !strings.Contains(r.stdout, "5 sent") {
		t.Fatal(r)
	}
	to := map[string]string{}
	for _, m := range relay.Messages() {
		if len(m.To) != 1 || m.To[0] == "victim@example.org" {
			t.Errorf("envelope to %v", m.To)
		}
		to[m.To[0]] = m.Header("To")
		if m.Header("Bcc") != "" {
			t.Errorf("a Bcc header was injected: %q", m.Header("Bcc"))
		}
		if strings.Contains(string(m.Data), "\x07") || strings.Contains(string(m.Data), "\x1b") {
			t.Error("a control character reached the message")
		}
	}
	for addr, want := range map[string]string{
		"rock@example.org":  `"Dwayne \"The Rock\" Johnson" <rock@example.org>`,
		"evil@example.org":  `"Evil Bcc: victim@example.org" <evil@example.org>`,
		"smith@example.org": `"Smith, John" <smith@example.org>`,
		"slash@example.org": `"back\\slash" <slash@example.org>`,
		"ctrl@example.org":  `"Bell [31mRed" <ctrl@example.org>`,
	} {
		if got := to[addr]; got != want {
			t.Errorf("To for %s = %s, want %s", addr, got, want)
		}
	}
}

// TestSafety_MarkPostedAdoptsForTheDigestToo: adopting an archive of many
// articles mails none of them; the next digest holds only what came after.
func TestSafety_MarkPostedAdoptsForTheDigestToo(t *testing.T) {
	srv := mastotest.New(token)
	defer srv.Close()
	e, relay := digestEnv(t, 5, mastodonConfig(srv, ""))
	for i := 0; i < 40; i++ {
		e.write(fmt.Sprintf("articles/archive-%02d.md", i), fmt.Sprintf("---\ntitle: Archive story %d\n---\nOld text.\n", i))
	}
	r := e.run("post", "--mark-posted")
	if r.code != 0 || !strings.Contains(r.stdout, "42 article(s) recorded as posted on Mastodon without posting") || !strings.Contains(r.stdout, "42 as mailed without mailing") {
		t.Fatal(r)
	}
	if r := e.run("digest"); r.code != 0 || !strings.Contains(r.stdout, "no new articles") || relay.Delivered() != 0 {
		t.Fatalf("after --mark-posted the digest mails the archive: %s", r)
	}
	e.write("articles/fresh.md", "---\ntitle: The fresh story\n---\nNew text.\n")
	if r := e.run("digest"); r.code != 0 || relay.Delivered() != 5 {
		t.Fatal(r)
	}
	body := string(relay.Messages()[0].Data)
	if !strings.Contains(body, "The fresh story") || strings.Contains(body, "Archive story") {
		t.Error("the digest after adoption should hold only the new story")
	}
}

// TestSafety_DigestCarriesAtMostMaxArticles: a flood of new articles gives
// a digest of the newest email.max_articles and one line for the rest,
// all of them counted as mailed.
func TestSafety_DigestCarriesAtMostMaxArticles(t *testing.T) {
	e, relay := digestEnv(t, 2, "", "harbour-library-reopens.md")
	cfg := strings.Replace(readFile(t, e.path("config.yaml")), "  retries: 2\n", "  retries: 2\n  max_articles: 5\n", 1)
	e.write("config.yaml", strings.Replace(cfg, "base_url: https://news.example.org/articles/", "base_url: https://news.example.org/archive/", 1))
	for i := 0; i < 11; i++ {
		p := e.path(fmt.Sprintf("articles/story-%02d.md", i))
		e.write(fmt.Sprintf("articles/story-%02d.md", i), fmt.Sprintf("---\ntitle: Story number %02d\n---\nText.\n", i))
		mt := time.Date(2026, 11, 30, 0, i, 0, 0, time.UTC)
		os.Chtimes(p, mt, mt)
	}
	r := e.run("digest")
	if r.code != 0 || relay.Delivered() != 2 {
		t.Fatal(r)
	}
	body := string(relay.Messages()[0].Data)
	for i := 6; i < 11; i++ {
		if !strings.Contains(body, fmt.Sprintf("Story number %02d", i)) {
			t.Errorf("the newest story %d is missing", i)
		}
	}
	if strings.Contains(body, "Story number 05") || strings.Contains(body, "Harbour library") {
		t.Error("an older story is in full beyond max_articles")
	}
	if !strings.Contains(body, "And 7 more stories at\r\nhttps://news.example.org/archive/\r\n") || !strings.Contains(body, `And 7 more stories at <a class="link" href="https://news.example.org/archive/"`) {
		t.Errorf("no line for the rest:\n%s", body)
	}
	if r := e.run("digest"); !strings.Contains(r.stdout, "no new articles") {
		t.Errorf("the omitted articles were not recorded as mailed: %s", r)
	}
}

// TestSafety_DraftOrDeletedMidThreadStops: an article made a draft, or
// deleted, while its thread is unfinished gets no more posts, and status
// says why.
func TestSafety_DraftOrDeletedMidThreadStops(t *testing.T) {
	srv := mastotest.New(token)
	defer srv.Close()
	e := newEnv(t, mastodonConfig(srv, ""), "harbour-library-reopens.md", "city-budget-vote.txt")
	var k killable
	srv.OnCreate(func(mastotest.Status) {
		if len(srv.Statuses()) == 2 {
			k.kill()
		}
	})
	if r := e.runKillable(&k, "post"); r.code != -1 {
		t.Fatalf("not killed: %s", r)
	}
	srv.OnCreate(nil)
	// Which article was cut off: the one with posts made.
	threads, _ := srv.Threads()
	cut := "harbour-library-reopens.md"
	if strings.Contains(threads[0][0].Text, "city-budget-vote") {
		cut = "city-budget-vote.txt"
	}
	src := readFile(t, e.path("articles/"+cut))
	if strings.HasPrefix(src, "---\n") {
		e.write("articles/"+cut, "---\ndraft: true\n"+strings.TrimPrefix(src, "---\n"))
	} else {
		e.write("articles/"+cut, "---\ndraft: true\n---\n"+src)
	}
	if r := e.run("post"); r.code != 0 {
		t.Fatal(r)
	}
	for _, th := range mustThreads(t, srv) {
		if strings.Contains(th[0].Text, strings.TrimSuffix(strings.TrimSuffix(cut, ".md"), ".txt")) && len(th) != 2 {
			t.Errorf("the drafted article's thread grew to %d posts", len(th))
		}
	}
	r := e.run("status")
	if !strings.Contains(r.stdout, "stopped") || !strings.Contains(r.stdout, "became a draft while its thread was unfinished") {
		t.Errorf("status: %s", r)
	}
	os.Remove(e.path("articles/" + cut))
	r = e.run("status")
	if !strings.Contains(r.stdout, "stopped") || !strings.Contains(r.stdout, "file is gone") {
		t.Errorf("status after deletion: %s", r)
	}
	if r := e.run("post"); r.code != 0 {
		t.Fatal(r)
	}
}

func mustThreads(t *testing.T, srv *mastotest.Server) [][]mastotest.Status {
	t.Helper()
	th, err := srv.Threads()
	if err != nil {
		t.Fatal(err)
	}
	return th
}

// TestSafety_ThreadTooLongIsRefused: a huge key point is a problem in
// check and fails its article; the others are posted.
func TestSafety_ThreadTooLongIsRefused(t *testing.T) {
	srv := mastotest.New(token)
	defer srv.Close()
	e := newEnv(t, mastodonConfig(srv, ""), "harbour-library-reopens.md")
	e.write("articles/huge.md", "---\ntitle: Huge\nkey_points:\n  - \""+strings.Repeat("This sentence goes on. ", 4500)+"\"\n---\nText.\n")
	r := e.run("check")
	if r.code != 1 || !strings.Contains(r.stderr, "articles/huge.md:1: article huge: the thread would be") || !strings.Contains(r.stderr, "max_posts_per_thread (25)") {
		t.Errorf("check: %s", r)
	}
	r = e.run("post")
	if r.code != 1 || !strings.Contains(r.stderr, "huge: failed:") {
		t.Errorf("post: %s", r)
	}
	if n := len(srv.Statuses()); n != 4 {
		t.Errorf("%d statuses, want only the other article's 4", n)
	}
}

// TestSafety_DaemonLetsFreshFilesSettle: the daemon leaves a file changed
// moments ago for a later tick; status says so.
func TestSafety_DaemonLetsFreshFilesSettle(t *testing.T) {
	srv := mastotest.New(token)
	defer srv.Close()
	e := newEnv(t, mastodonConfig(srv, "")+"articles_settle: 3s\nschedule: {post: "+yearly+", digest: \"\"}\n", "harbour-library-reopens.md")
	daemon, _, stderr := e.command("run")
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { daemon.Process.Signal(syscall.SIGTERM); daemon.Wait() }()
	runNow(t, daemon.Process, stderr, syscall.SIGUSR1)
	eventually(t, 20*time.Second, "the old article", func() bool { return len(srv.Statuses()) == 4 })
	e.write("articles/fresh.md", "---\ntitle: Being written\n---\nHalf a sen")
	written := time.Now()
	runNow(t, daemon.Process, stderr, syscall.SIGUSR1)
	eventually(t, 20*time.Second, "the second run", func() bool { return strings.Count(stderr.String(), "job done") >= 2 })
	if time.Since(written) < 3*time.Second && len(srv.Statuses()) != 4 {
		t.Fatal("a file changed moments ago was posted")
	}
	if r := e.run("status"); time.Since(written) < 3*time.Second && !strings.Contains(r.stdout, "settling") {
		t.Errorf("status does not say settling: %s", r)
	}
	time.Sleep(time.Until(written.Add(3 * time.Second)))
	runNow(t, daemon.Process, stderr, syscall.SIGUSR1)
	eventually(t, 20*time.Second, "the settled article", func() bool { return len(srv.Statuses()) == 5 })
}

// TestSafety_TerminalOutputIsEscaped: a file name with escape sequences
// or a line break cannot clear the screen or forge a problem line.
func TestSafety_TerminalOutputIsEscaped(t *testing.T) {
	e := newEnv(t, "", "harbour-library-reopens.md")
	e.write("articles/\x1b[2J\x1b[Hevil.md", "")
	e.write("articles/x.md\nforged.md:9: all is well.md", "")
	r := e.run("check")
	if strings.ContainsAny(r.stdout+r.stderr, "\x1b") {
		t.Errorf("an escape sequence reached the terminal: %q", r.stderr)
	}
	if strings.Contains(r.stderr, "\nforged.md:9") {
		t.Errorf("a file name forged a problem line: %q", r.stderr)
	}
	if !strings.Contains(r.stderr, `\x1b[2J\x1b[Hevil.md:1: empty article`) || !strings.Contains(r.stderr, `x.md\x0aforged.md:9: all is well.md:1: empty article`) {
		t.Errorf("problems not shown escaped: %q", r.stderr)
	}
}

// TestSafety_SecretsInConfigErrors: a bad value from the environment is
// named by its variable, never shown.
func TestSafety_SecretsInConfigErrors(t *testing.T) {
	e := newEnv(t, "schedule:\n  post: ${MASTODON_ACCESS_TOKEN}\nemail:\n  subject: \"{{ ${MASTODON_ACCESS_TOKEN} }}\"\n", "harbour-library-reopens.md")
	r := e.run("check") // run fails the test if the token is printed
	if r.code != 2 || !strings.Contains(r.stderr, "schedule.post: the value from ${MASTODON_ACCESS_TOKEN} is not a cron schedule") ||
		!strings.Contains(r.stderr, "email.subject: the value from ${MASTODON_ACCESS_TOKEN} is not a valid template") {
		t.Errorf("check: %s", r)
	}
	e.write("config.yaml", "mastodon:\n  server: http://mastodon.example.com\n  access_token: ${MASTODON_ACCESS_TOKEN}\n")
	if r := e.run("check"); r.code != 2 || !strings.Contains(r.stderr, "mastodon.server: must be https") {
		t.Errorf("an http server would get the token in clear: %s", r)
	}
}

// TestSafety_MillionReadersInFlatMemory: check and digest --dry-run on a
// list of a million readers stay under 64 MiB of RSS.
func TestSafety_MillionReadersInFlatMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 30 MB subscriber list")
	}
	e, _ := digestEnv(t, 0, "", "harbour-library-reopens.md")
	f, err := os.Create(e.path("subscribers.csv"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, "email,name")
	for i := 0; i < 1_000_000; i++ {
		fmt.Fprintf(f, "reader%07d@example.org,Reader %d\n", i, i)
	}
	fmt.Fprintln(f, "READER0000007@example.org,A duplicate")
	f.Close()
	for _, args := range [][]string{{"check"}, {"digest", "--dry-run"}} {
		cmd, out, errOut := e.command(args...)
		rss, err := peakRSS(cmd) // KiB
		var exit interface{ ExitCode() int }
		if err != nil && !errors.As(err, &exit) {
			t.Fatal(err)
		}
		t.Logf("%v: peak RSS %d MiB", args, rss>>10)
		if rss > 64<<10 {
			t.Errorf("%v: peak RSS %d MiB, want under 64 MiB", args, rss>>10)
		}
		if got := out.String() + errOut.String(); !strings.Contains(got, "1000000") && !strings.Contains(got, "1,000,000") {
			t.Errorf("%v does not count a million readers:\n%s", args, got)
		}
		if args[0] == "check" && !strings.Contains(errOut.String(), "subscribers.csv:1000002: READER0000007@example.org is listed twice") {
			t.Errorf("the duplicate is not found: %s", errOut.String())
		}
	}
}

// peakRSS runs cmd and returns its peak resident set in KiB, read from
// /proc/PID/status (VmHWM) until it exits. (The rusage of a child is no
// good here: Go starts it with vfork, and Linux hands the child the
// parent's high-water mark at exec, so a big test process inflates it.)
func peakRSS(cmd *exec.Cmd) (int64, error) {
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	var peak atomic.Int64
	done := make(chan struct{})
	go func() {
		path := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
		for {
			if b, err := os.ReadFile(path); err == nil {
				for _, line := range strings.Split(string(b), "\n") {
					if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
						kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
						if kb > peak.Load() {
							peak.Store(kb)
						}
					}
				}
			}
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	return peak.Load(), err
}
