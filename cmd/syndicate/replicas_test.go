package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate/mail/smtptest"
	"github.com/syndicate-bot/syndicate/syndicate/mastodon/mastotest"
	"github.com/syndicate-bot/syndicate/syndicate/testpeer/postgres"
)

// Several `syndicate run` replicas of the real binary on one PostgreSQL
// database (the harness's throwaway cluster): one posts, the others wait
// and take over; all share the digest.

// dbPassword is put in every DSN: the cluster trusts local connections,
// so it is never checked, and it must never show in any output.
const dbPassword = "s3cret-DB-PW"

// usePostgres makes e's state a new database, given as ${DATABASE_URL}.
func usePostgres(t *testing.T, e *env) (dsn string, srv *postgres.Server) {
	t.Helper()
	srv = postgres.Shared(t)
	dsn = strings.Replace(srv.NewDatabase(t), "postgres://postgres@", "postgres://postgres:"+dbPassword+"@", 1)
	cfg := readFile(t, e.path("config.yaml"))
	if !strings.Contains(cfg, "state: state/syndicate.db\n") {
		t.Fatal("the config has no state line to replace")
	}
	e.write("config.yaml", strings.Replace(cfg, "state: state/syndicate.db\n", "state: ${DATABASE_URL}\n", 1))
	e.vars = append(e.vars, "DATABASE_URL="+dsn)
	return dsn, srv
}

// replica is one `syndicate run` process of an installation.
type replica struct {
	n      int
	cmd    *exec.Cmd
	stderr *syncBuffer
	base   string        // its HTTP listener, "" for none
	done   chan struct{} // closed when it has exited
}

// startReplicas starts n daemons on e's config, each with its own HTTP
// port when listen is set; they are stopped (SIGTERM) when the test ends.
func startReplicas(t *testing.T, e *env, n int, listen bool) []*replica {
	t.Helper()
	var out []*replica
	for i := 1; i <= n; i++ {
		cfg := readFile(t, e.path("config.yaml"))
		r := &replica{n: i, done: make(chan struct{})}
		if listen {
			port := freePort(t)
			cfg += fmt.Sprintf("http: {listen: \"127.0.0.1:%d\"}\n", port)
			r.base = fmt.Sprintf("http://127.0.0.1:%d", port)
		}
		path := e.path(fmt.Sprintf("replica-%d.yaml", i))
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		r.cmd = exec.Command(binary, "--config", path, "--log-format", "json", "run")
		r.cmd.Dir = e.dir
		r.cmd.Env = append(os.Environ(), e.vars...)
		var stdout syncBuffer
		r.stderr = &syncBuffer{}
		r.cmd.Stdout, r.cmd.Stderr = &stdout, r.stderr
		if err := r.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { r.cmd.Wait(); close(r.done) }()
		out = append(out, r)
	}
	t.Cleanup(func() {
		for _, r := range out {
			r.cmd.Process.Signal(syscall.SIGTERM)
		}
		for _, r := range out {
			select {
			case <-r.done:
			case <-time.After(30 * time.Second):
				r.cmd.Process.Kill()
				t.Errorf("replica %d did not stop after SIGTERM", r.n)
			}
			if strings.Contains(r.stderr.String(), dbPassword) || strings.Contains(r.stderr.String(), token) {
				t.Errorf("replica %d logged a secret", r.n)
			}
			if t.Failed() {
				t.Logf("replica %d log:\n%s", r.n, r.stderr)
			}
		}
	})
	return out
}

// logged reports whether the replica logged a line with this message.
func (r *replica) logged(msg string) bool { return strings.Contains(r.stderr.String(), `"msg":"`+msg) }

// leader waits until exactly one of the replicas still running says it
// leads, and returns it.
func leader(t *testing.T, rs []*replica, except *replica) *replica {
	t.Helper()
	var found *replica
	eventually(t, 60*time.Second, "one leader", func() bool {
		found = nil
		n := 0
		for _, r := range rs {
			if r == except {
				continue
			}
			if code, body := get(t, r.base+"/healthz"); code == 200 && strings.Contains(body, "leader: yes") {
				found = r
				n++
			}
		}
		return n == 1
	})
	return found
}

func TestReplicas_LeaderKilledMidThread(t *testing.T) {
	total := 0
	for _, n := range sampleThreads {
		total += n
	}
	points := []struct {
		at      int
		expired bool
	}{{1, false}, {total / 2, false}, {total / 2, true}, {total, false}}
	if testing.Short() {
		points = points[1:2]
	}
	for _, p := range points {
		name := fmt.Sprintf("post %d of %d", p.at, total)
		if p.expired {
			name += ", idempotency key expired"
		}
		t.Run(name, func(t *testing.T) {
			srv := mastotest.New(token)
			defer srv.Close()
			e := newEnv(t, mastodonConfig(srv, "")+"schedule: {post: "+yearly+", digest: \"\"}\n")
			usePostgres(t, e)
			rs := startReplicas(t, e, 3, true)
			first := leader(t, rs, nil)
			for _, r := range rs {
				if r != first && !r.logged("another replica is the leader") {
					eventually(t, 20*time.Second, "a follower to wait", func() bool { return r.logged("another replica is the leader") })
				}
			}
			// A post or digest run by hand is refused beside the leader.
			if r := e.run("post"); r.code != 2 || !strings.Contains(r.stderr, "another replica is the leader") || !strings.Contains(r.stderr, "syndicate leader") {
				t.Errorf("post by hand beside the daemons: %s", r)
			}

			srv.OnCreate(func(mastotest.Status) {
				if len(srv.Statuses()) == p.at {
					first.cmd.Process.Kill() // SIGKILL: the post made, its answer never read
				}
			})
			runNow(t, first.cmd.Process, first.stderr, syscall.SIGUSR1)
			select {
			case <-first.done:
			case <-time.After(60 * time.Second):
				t.Fatal("the leader was not killed")
			}
			srv.OnCreate(nil)
			if p.expired {
				srv.ExpireKeys() // only reading the account's statuses can tell
			}
			next := leader(t, rs, first)
			eventually(t, 60*time.Second, "the new leader to finish the threads", func() bool {
				return len(srv.Statuses()) >= total && next.logged("job done")
			})
			if !next.logged("this replica is the leader: it posts") || !strings.Contains(next.stderr.String(), "taking over") {
				t.Errorf("the new leader did not say it took over the half-posted thread")
			}
			wantThreads(t, srv, sampleThreads)

			// /metrics says who leads; status works from any replica.
			for _, r := range rs {
				if r == first {
					continue
				}
				code, body := get(t, r.base+"/metrics")
				want := "syndicate_leader 0"
				if r == next {
					want = "syndicate_leader 1"
				}
				if code != 200 || !strings.Contains(body, want) || !strings.Contains(body, "syndicate_replica_info{replica=") {
					t.Errorf("replica %d /metrics lacks %q", r.n, want)
				}
			}
			st := e.run("status")
			if st.code != 0 || !strings.Contains(st.stdout, "Leader (the replica that posts): syndicate leader") || strings.Count(st.stdout, " posted ") < len(sampleThreads) {
				t.Errorf("status: %s", st)
			}
			if strings.Contains(st.stdout+st.stderr, dbPassword) {
				t.Error("status showed the database password")
			}
		})
	}
}

// logLines are a replica's JSON log lines' messages, in order.
func logLines(t *testing.T, r *replica) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(strings.NewReader(r.stderr.String()))
	for sc.Scan() {
		var line struct{ Msg string }
		if json.Unmarshal(sc.Bytes(), &line) == nil {
			out = append(out, line.Msg)
		}
	}
	return out
}

// A leader whose database sessions the server ends (a cut connection)
// stops posting before anything else; a replica takes over and every post
// exists once.
func TestReplicas_ConnectionLostStopsPosting(t *testing.T) {
	srv := mastotest.New(token)
	defer srv.Close()
	e := newEnv(t, mastodonConfig(srv, "")+"schedule: {post: "+yearly+", digest: \"\"}\n")
	dsn, pg := usePostgres(t, e)
	rs := startReplicas(t, e, 3, true)
	first := leader(t, rs, nil)
	killed := make(chan int, 1)
	srv.OnCreate(func(mastotest.Status) {
		time.Sleep(200 * time.Millisecond) // a slow server: the run goes on a while
		if len(srv.Statuses()) == 3 {
			killed <- pg.KillBackends(t, postgres.DBName(dsn))
		}
	})
	runNow(t, first.cmd.Process, first.stderr, syscall.SIGUSR1)
	select {
	case n := <-killed:
		t.Logf("the server ended %d sessions at the third post", n)
	case <-time.After(60 * time.Second):
		t.Fatal("the third post never came")
	}
	eventually(t, 30*time.Second, "the leader to see it lost the leadership", func() bool {
		return first.logged("this replica lost the leadership: posting stopped")
	})
	// Whoever leads now (the first may win again) finishes.
	eventually(t, 90*time.Second, "every thread", func() bool {
		threads, err := srv.Threads()
		return err == nil && len(srv.Statuses()) == 16 && len(threads) == len(sampleThreads)
	})
	srv.OnCreate(nil)
	wantThreads(t, srv, sampleThreads)
	// From the loss on, the first replica posted nothing until it led again.
	lost := false
	for _, msg := range logLines(t, first) {
		switch msg {
		case "this replica lost the leadership: posting stopped":
			lost = true
		case "this replica is the leader: it posts":
			lost = false
		case "posted":
			if lost {
				t.Error("the replica posted after it saw it lost the leadership")
			}
		}
	}
}

// The digest to 10,000 readers over two replicas, one SIGKILLed half-way:
// every reader is mailed, second copies only for what was in flight, and
// the survivor takes the dead one's claimed readers when their lease ends.
func TestReplicas_DigestSharedOneKilled(t *testing.T) {
	readers := 10000
	if testing.Short() {
		readers = 2000
	}
	e, relay := digestEnv(t, readers, "  lease: 3s\nschedule: {post: \"\", digest: "+yearly+", retry_backoff: 1s}\n", "harbour-library-reopens.md")
	usePostgres(t, e)
	rs := startReplicas(t, e, 2, false)
	for _, r := range rs {
		eventually(t, 30*time.Second, "the replica to start", func() bool { return r.logged("scheduled") })
	}
	dead, live := rs[0], rs[1]
	relay.OnDelivered(func(n int) {
		if n == readers/2 {
			dead.cmd.Process.Kill()
		}
	})
	for _, r := range rs {
		runNow(t, r.cmd.Process, r.stderr, syscall.SIGUSR2)
	}
	select {
	case <-dead.done:
	case <-time.After(5 * time.Minute):
		t.Fatal("the replica was not killed half-way")
	}
	relay.OnDelivered(nil)
	eventually(t, 5*time.Minute, "every reader", func() bool { return relay.Delivered() >= readers && live.logged("digest done") })
	// The survivor waited for the dead replica's claims to lapse, or met
	// them lapsed when it went round again: either way it mailed them.
	t.Logf("the survivor waited for the dead replica's claims: %v",
		live.logged("readers are being mailed by other replicas: waiting for them, or for their lease to run out"))
	dups := wantEveryReader(t, relay, readers)
	t.Logf("%d readers, %d second copies; their first copies went out as messages %s of the relay's (the kill: at %d)",
		readers, dups, firstCopies(relay), readers/2)
	// Unrecorded at a crash: a message in flight per connection (4) and at
	// most two batches of the ledger (2 × 16), as on one node.
	if dups > 36 {
		t.Errorf("%d second copies, more than what was in flight", dups)
	}
	st := e.run("status", "--json")
	if st.code != 0 {
		t.Fatal(st)
	}
	var status struct {
		Digests []struct {
			ID      int64
			State   string
			Sent    int
			Pending int
			Senders map[string]int
		}
	}
	if err := json.Unmarshal([]byte(st.stdout), &status); err != nil {
		t.Fatalf("%v\n%s", err, st.stdout)
	}
	if len(status.Digests) != 1 || status.Digests[0].State != "done" || status.Digests[0].Sent != readers || status.Digests[0].Pending != 0 {
		t.Errorf("status: %+v; want one digest, done, every reader sent", status.Digests)
	}
	if d := status.Digests; len(d) == 1 {
		most := 0
		for _, n := range d[0].Senders {
			most = max(most, n)
		}
		if len(d[0].Senders) != 2 || most <= readers/2 {
			t.Errorf("senders %v: want both replicas, the survivor more than half", d[0].Senders)
		}
	}
}

// Both replicas' schedules tick in the same minute: one digest is made
// for that tick, and every reader gets it once.
func TestReplicas_OneDigestPerTick(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the next minute's tick")
	}
	e, relay := digestEnv(t, 30, "schedule: {post: \"\", digest: \"* * * * *\", catch_up: false}\n", "harbour-library-reopens.md")
	usePostgres(t, e)
	rs := startReplicas(t, e, 2, false)
	eventually(t, 90*time.Second, "the tick's digest on both replicas", func() bool {
		return relay.Delivered() >= 30 && rs[0].logged("job done") && rs[1].logged("job done")
	})
	if dups := wantEveryReader(t, relay, 30); dups != 0 {
		t.Errorf("%d second copies", dups)
	}
	made := 0
	for _, r := range rs {
		if r.logged("new digest") {
			made++
		}
	}
	if made != 1 {
		t.Errorf("%d replicas made a digest for one tick, want 1", made)
	}
}

// migrate copies a SQLite state into an empty PostgreSQL database; the
// replicas then go on from it; a second copy into it is refused.
func TestMigrate_SQLiteToPostgres(t *testing.T) {
	srv := mastotest.New(token)
	defer srv.Close()
	e, relay := digestEnv(t, 20, mastodonConfig(srv, ""), "shehbaz-sharif-putin-letters.txt", "harbour-library-reopens.md")
	if r := e.run("post"); r.code != 0 {
		t.Fatal(r)
	}
	if r := e.run("digest"); r.code != 0 {
		t.Fatal(r)
	}
	before := e.run("status")
	sqlite := filepath.Join(e.dir, "state", "syndicate.db")
	pg := postgres.Shared(t)
	dsn := strings.Replace(pg.NewDatabase(t), "postgres://postgres@", "postgres://postgres:"+dbPassword+"@", 1)
	e.vars = append(e.vars, "TARGET="+dsn)
	r := e.run("migrate", "--to", "${TARGET}")
	if r.code != 0 || !regexp.MustCompile(`(?m)^deliveries +20$`).MatchString(r.stdout) || !strings.Contains(r.stdout, "postgres:xxxxx@") {
		t.Fatalf("migrate: %s", r)
	}
	if strings.Contains(r.stdout+r.stderr, dbPassword) {
		t.Error("migrate showed the password")
	}
	// Again: refused, the target is not empty.
	if r := e.run("migrate", "--to", "${TARGET}"); r.code != 2 || !strings.Contains(r.stderr, "not empty") {
		t.Errorf("a second migrate: %s", r)
	}
	// The state is now the database: status is the same, nothing is
	// posted or mailed again.
	cfg := readFile(t, e.path("config.yaml"))
	e.write("config.yaml", strings.Replace(cfg, "state: state/syndicate.db\n", "state: ${TARGET}\n", 1))
	after := e.run("status")
	// What a shared state adds: the leader, and who mailed each digest.
	strip := func(s string) string {
		var keep []string
		for _, l := range strings.Split(s, "\n") {
			if l != "" && !strings.HasPrefix(l, "Leader (the replica that posts): ") && !strings.Contains(l, " mailed by: ") {
				keep = append(keep, l)
			}
		}
		return strings.Join(keep, "\n")
	}
	if after.code != 0 || strip(after.stdout) != strip(before.stdout) {
		t.Errorf("status after migrate:\n%s\nbefore:\n%s", after, before)
	}
	if r := e.run("post"); r.code != 0 || !strings.Contains(r.stdout, "nothing to post") {
		t.Errorf("post after migrate: %s", r)
	}
	if r := e.run("digest"); r.code != 0 || !strings.Contains(r.stdout, "no new articles") {
		t.Errorf("digest after migrate: %s", r)
	}
	if relay.Delivered() != 20 || len(srv.Statuses()) != 7 {
		t.Errorf("%d messages, %d statuses after migrate: something went out twice", relay.Delivered(), len(srv.Statuses()))
	}
	if _, err := os.Stat(sqlite); err != nil {
		t.Errorf("the SQLite state is gone: %v", err)
	}
}

// firstCopies says where in the relay's order the first copies of the
// readers mailed twice were: "" when none, else "from … to …".
func firstCopies(relay *smtptest.Server) string {
	first := map[string]int{}
	lo, hi := 0, 0
	for i, m := range relay.Messages() {
		for _, to := range m.To {
			to = strings.ToLower(to)
			f, seen := first[to]
			if !seen {
				first[to] = i + 1
				continue
			}
			if lo == 0 || f < lo {
				lo = f
			}
			hi = max(hi, f)
		}
	}
	if lo == 0 {
		return "(none)"
	}
	return fmt.Sprintf("%d to %d", lo, hi)
}
