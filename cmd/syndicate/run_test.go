package main

import (
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite" // to age a digest in the state

	"github.com/syndicate-bot/syndicate/syndicate/mastodon/mastotest"
)

// eventually polls cond every 50 ms for up to d.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// yearly is a schedule whose tick never comes during a test: the tests
// run the jobs with SIGUSR1 (post) and SIGUSR2 (digest), as an operator
// may, since a schedule more often than once a minute is refused.
const yearly = `"0 0 1 1 *"`

// runNow asks the daemon to run its post job (SIGUSR1) or digest job
// (SIGUSR2) now, once it has started (before, the signal would kill it).
func runNow(t *testing.T, p *os.Process, log *syncBuffer, sig syscall.Signal) {
	t.Helper()
	eventually(t, 10*time.Second, "the daemon to start", func() bool { return strings.Contains(log.String(), "scheduled") })
	if err := p.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

func TestRun_Daemon(t *testing.T) {
	srv := mastotest.New(token)
	defer srv.Close()
	port := freePort(t)
	extra := mastodonConfig(srv, "") + fmt.Sprintf("articles_settle: 0s\nschedule: {post: %s, digest: %s}\nhttp: {listen: \"127.0.0.1:%d\"}\n", yearly, yearly, port)
	e, relay := digestEnv(t, 20, extra, "shehbaz-sharif-putin-letters.txt", "harbour-library-reopens.md")
	daemon, _, stderr := e.command("--log-format", "json", "run")
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		daemon.Process.Signal(syscall.SIGTERM)
		daemon.Wait()
		if t.Failed() {
			t.Logf("daemon log:\n%s", stderr)
		}
	}()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	eventually(t, 10*time.Second, "/healthz", func() bool { code, _ := get(t, base+"/healthz"); return code == 200 })

	runNow(t, daemon.Process, stderr, syscall.SIGUSR1)
	runNow(t, daemon.Process, stderr, syscall.SIGUSR2)
	eventually(t, 15*time.Second, "both jobs", func() bool { return len(srv.Statuses()) == 7 && relay.Delivered() == 20 })
	wantThreads(t, srv, map[string]int{"shehbaz-sharif-putin-letters": 3, "harbour-library-reopens": 4})

	// An article dropped into the folder while it runs is posted and mailed.
	e.write("articles/breaking.md", "---\ntitle: Breaking news from the harbour\nkey_points: [A ship came in.]\n---\nText.\n")
	runNow(t, daemon.Process, stderr, syscall.SIGUSR1)
	eventually(t, 15*time.Second, "the new article's thread", func() bool { return len(srv.Statuses()) == 9 })
	runNow(t, daemon.Process, stderr, syscall.SIGUSR2)
	eventually(t, 15*time.Second, "the new article's digest", func() bool { return relay.Delivered() == 40 })
	if dups := wantEveryReader(t, relay, 20); dups != 20 {
		t.Errorf("each reader should have 2 digests (20 extra), got %d extra", dups)
	}

	code, body := get(t, base+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{`syndicate_posts_total{network="mastodon",result="made"} 9`, `syndicate_messages_total{result="sent"} 40`, `syndicate_job_runs_total{job="digest",result="ok"}`, "syndicate_last_success_timestamp_seconds{job=\"post\"}", `syndicate_pending_articles{network="mastodon"} 0`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	// A second daemon, or a post run, refuses: the first holds the state.
	for _, args := range [][]string{{"run"}, {"post"}, {"digest"}} {
		r := e.run(args...)
		if r.code != 2 || !strings.Contains(r.stderr, fmt.Sprintf("process %d", daemon.Process.Pid)) {
			t.Errorf("%v while the daemon runs: %s", args, r)
		}
	}
}

func TestRun_SIGTERMMidDigestThenRestart(t *testing.T) {
	port := freePort(t)
	extra := fmt.Sprintf("schedule: {post: \"\", digest: %s}\nhttp: {listen: \"127.0.0.1:%d\"}\n", yearly, port)
	e, relay := digestEnv(t, 600, extra, "harbour-library-reopens.md")
	relay.OnDelivered(func(n int) { time.Sleep(10 * time.Millisecond) }) // a slow relay
	daemon, _, stderr := e.command("run")
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	runNow(t, daemon.Process, stderr, syscall.SIGUSR2)
	eventually(t, 15*time.Second, "the digest under way", func() bool { return relay.Delivered() >= 100 })
	sent := time.Now()
	daemon.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- daemon.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, stderr)
		}
	case <-time.After(10 * time.Second):
		daemon.Process.Kill()
		t.Fatalf("no exit within 10 s of SIGTERM\n%s", stderr)
	}
	t.Logf("stopped %v after SIGTERM with %d of 600 mailed", time.Since(sent).Round(time.Millisecond), relay.Delivered())
	if relay.Delivered() >= 600 {
		t.Fatal("the digest finished before the signal: the test proves nothing")
	}
	relay.OnDelivered(nil)

	// The restart completes the digest; nobody is mailed twice.
	restart, _, stderr2 := e.command("run")
	if err := restart.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		restart.Process.Signal(syscall.SIGTERM)
		restart.Wait()
	}()
	// The unfinished digest is resumed at start: it does not wait for the
	// next tick (a year away here).
	eventually(t, 20*time.Second, "the rest of the digest", func() bool { return relay.Delivered() >= 600 })
	if !strings.Contains(stderr2.String(), "resuming unfinished work at start") {
		t.Errorf("the restart did not say it resumed the digest:\n%s", stderr2)
	}
	eventually(t, 10*time.Second, "the resumed run to end", func() bool { return strings.Count(stderr2.String(), "job done") >= 1 })
	runNow(t, restart.Process, stderr2, syscall.SIGUSR2) // another run: nothing more goes out
	eventually(t, 10*time.Second, "the second run", func() bool { return strings.Count(stderr2.String(), "job done") >= 2 })
	if dups := wantEveryReader(t, relay, 600); dups != 0 {
		t.Errorf("%d readers mailed twice after a graceful stop\n%s", dups, stderr2)
	}
}

func TestRun_DryRunLogsOnly(t *testing.T) {
	srv := mastotest.New(token)
	defer srv.Close()
	extra := mastodonConfig(srv, "") + "schedule: {post: " + yearly + ", digest: " + yearly + "}\n"
	e, relay := digestEnv(t, 3, extra, "harbour-library-reopens.md")
	daemon, _, stderr := e.command("run", "--dry-run")
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	runNow(t, daemon.Process, stderr, syscall.SIGUSR1)
	runNow(t, daemon.Process, stderr, syscall.SIGUSR2)
	eventually(t, 10*time.Second, "dry-run ticks", func() bool {
		s := stderr.String()
		return strings.Contains(s, "would post") && strings.Contains(s, "would mail the digest")
	})
	daemon.Process.Signal(syscall.SIGINT)
	if err := daemon.Wait(); err != nil {
		t.Errorf("exit after SIGINT: %v", err)
	}
	if srv.Requests() != 0 || relay.Delivered() != 0 {
		t.Errorf("a dry run touched the network: %d requests, %d messages", srv.Requests(), relay.Delivered())
	}
}

// TestRun_BrokenTemplateStopsStartUp: a template that does not parse stops
// the daemon before any job, with exit 2 and the file and line.
func TestRun_BrokenTemplateStopsStartUp(t *testing.T) {
	e, relay := digestEnv(t, 3, "templates_dir: templates\nschedule: {post: \"\", digest: "+yearly+"}\n", "harbour-library-reopens.md")
	os.Mkdir(e.path("templates"), 0o755)
	e.write("templates/digest.html.tmpl", "<html>\n<body>\n{{range .Articles}}\n{{.Title}\n{{end}}\n</body></html>\n")
	r := e.run("run")
	if r.code != 2 || !strings.Contains(r.stderr, e.path("templates/digest.html.tmpl")+":4:") {
		t.Errorf("want exit 2 naming %s:4: %s", e.path("templates/digest.html.tmpl"), r)
	}
	if relay.Delivered() != 0 {
		t.Error("mail went out")
	}
}

// TestRun_SIGTERMDuringCatchUpThenRestart: a digest missed while the
// daemon was down is sent at start; a SIGTERM in the middle of it waits
// for the message in hand; the restart finishes it: nobody mailed twice,
// nobody skipped.
func TestRun_SIGTERMDuringCatchUpThenRestart(t *testing.T) {
	e, relay := digestEnv(t, 600, "schedule: {post: \"\", digest: \"@daily\", max_lateness: 48h}\n", "harbour-library-reopens.md")
	if r := e.run("digest"); r.code != 0 {
		t.Fatal(r)
	}
	first := relay.Delivered()
	// The last digest was two days ago: today's midnight tick was missed.
	db, err := sql.Open("sqlite", "file:"+e.path("state/syndicate.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE digests SET created_at = ?`, time.Now().Add(-48*time.Hour).UTC().Format(time.RFC3339Nano)); err != nil {
		t.Fatal(err)
	}
	db.Close()
	e.write("articles/late-news.md", "---\ntitle: Late news\nkey_points: [Something happened.]\n---\nText.\n")
	old := time.Now().Add(-time.Minute) // written a while ago: it has settled
	os.Chtimes(e.path("articles/late-news.md"), old, old)
	relay.OnDelivered(func(n int) { time.Sleep(10 * time.Millisecond) }) // a slow relay
	daemon, _, stderr := e.command("run")
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			t.Logf("daemon log:\n%s", stderr)
		}
	}()
	eventually(t, 15*time.Second, "the catch-up digest under way", func() bool { return relay.Delivered() >= first+100 })
	if !strings.Contains(stderr.String(), "catching up the digest tick") {
		t.Errorf("no catch-up in the log:\n%s", stderr)
	}
	sent := time.Now()
	daemon.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- daemon.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, stderr)
		}
	case <-time.After(15 * time.Second):
		daemon.Process.Kill()
		t.Fatalf("no exit within 15 s of SIGTERM\n%s", stderr)
	}
	if relay.Delivered() >= first+600 {
		t.Fatal("the digest finished before the signal: the test proves nothing")
	}
	if !strings.Contains(stderr.String(), "job done") && !strings.Contains(stderr.String(), "job failed") {
		t.Errorf("the process did not wait for the catch-up run to end:\n%s", stderr)
	}
	t.Logf("stopped %v after SIGTERM with %d of 600 mailed", time.Since(sent).Round(time.Millisecond), relay.Delivered()-first)
	relay.OnDelivered(nil)
	restart, _, stderr2 := e.command("run")
	if err := restart.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { restart.Process.Signal(syscall.SIGTERM); restart.Wait() }()
	eventually(t, 20*time.Second, "the rest of the digest", func() bool { return relay.Delivered() >= first+600 })
	eventually(t, 10*time.Second, "the resumed run to end", func() bool { return strings.Contains(stderr2.String(), "job done") })
	got := relay.ByRecipient()
	for i := 0; i < 600; i++ {
		if c := got[fmt.Sprintf("reader%03d@example.org", i)]; c != 2 {
			t.Errorf("reader%03d got %d digests, want 2 (the first and the catch-up)", i, c)
		}
	}
}

// TestRun_UnfinishedDigestWaitsForTheRelay: a digest cut off by a dead
// relay is taken up when the daemon starts, not at the next tick (a year
// away); while the relay stays down /healthz says the work waits, and the
// retries finish it once the relay is back.
func TestRun_UnfinishedDigestWaitsForTheRelay(t *testing.T) {
	port := freePort(t)
	e, relay := digestEnv(t, 200, fmt.Sprintf("schedule: {post: \"\", digest: %s, retry_backoff: 1s}\nhttp: {listen: \"127.0.0.1:%d\"}\n", yearly, port), "harbour-library-reopens.md")
	relay.OnDelivered(func(n int) {
		if n == 60 {
			go relay.Down()
		}
	})
	if r := e.run("digest"); r.code != 1 || !strings.Contains(r.stdout, "left for a later run") {
		t.Fatal(r)
	}
	relay.OnDelivered(nil)
	daemon, _, stderr := e.command("run")
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { daemon.Process.Signal(syscall.SIGTERM); daemon.Wait() }()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	eventually(t, 20*time.Second, "/healthz to say the digest waits", func() bool {
		code, body := get(t, base+"/healthz")
		return code == 503 && strings.Contains(body, "unfinished work is waiting") && strings.Contains(body, "not yet mailed")
	})
	if err := relay.Up(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the rest of the digest", func() bool { return len(relay.ByRecipient()) == 200 })
	eventually(t, 10*time.Second, "/healthz to be ok", func() bool { code, _ := get(t, base+"/healthz"); return code == 200 })
	if dups := wantEveryReader(t, relay, 200); dups > 4 {
		t.Errorf("%d duplicates, want at most the 4 in flight when the relay died\n%s", dups, stderr)
	}
}
