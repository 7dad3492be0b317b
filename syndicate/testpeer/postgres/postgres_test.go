package postgres

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestMain(m *testing.M) { Main(m) }

// session is a long-lived psql session that reads SQL from a pipe, as a replica holding a connection would.
type session struct {
	cmd   *os.Process
	wait  chan error
	stdin io.WriteCloser
}

func openSession(t *testing.T, s *Server, db string) *session {
	t.Helper()
	cmd := s.as.command(s.Dir, filepath.Join(s.BinDir, "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
		"-h", s.Host, "-p", strconv.Itoa(s.Port), "-U", Superuser, "-d", "dbname="+db+" application_name=held")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	se := &session{cmd: cmd.Process, wait: make(chan error, 1), stdin: stdin}
	go func() { se.wait <- cmd.Wait() }()
	t.Cleanup(func() { stdin.Close(); cmd.Process.Kill(); <-se.wait })
	return se
}

// openSessions opens n sessions on db and waits until they are connected.
func openSessions(t *testing.T, s *Server, db string, n int) []*session {
	t.Helper()
	before := heldSessions(t, s, db)
	var ses []*session
	for range n {
		se := openSession(t, s, db)
		se.send(t, "SELECT 1;")
		ses = append(ses, se)
	}
	eventually(t, "the sessions to connect", func() bool { return heldSessions(t, s, db) == before+n })
	return ses
}

// heldSessions counts the sessions on db that openSession opened.
func heldSessions(t *testing.T, s *Server, db string) int {
	t.Helper()
	n, err := strconv.Atoi(s.Psql(t, "postgres", "SELECT count(*) FROM pg_stat_activity WHERE datname = '"+db+"' AND application_name = 'held'"))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// sessions counts the sessions on db. A session's backend can outlive its client by a moment: psql has
// returned, its backend is still listed.
func sessions(t *testing.T, s *Server, db string) int {
	t.Helper()
	n, err := strconv.Atoi(s.Psql(t, "postgres", "SELECT count(*) FROM pg_stat_activity WHERE datname = '"+db+"'"))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// send writes sql to psql. A write error is ignored: psql may have quit already, and exited tells.
func (se *session) send(t *testing.T, sql string) {
	t.Helper()
	io.WriteString(se.stdin, sql+"\n")
}

// exited waits for psql to end and returns its error (nil: exit status 0).
func (se *session) exited(t *testing.T) error {
	t.Helper()
	select {
	case err := <-se.wait:
		se.wait <- err // for the cleanup
		return err
	case <-time.After(Timeout):
		t.Fatal("psql session did not end")
		return nil
	}
}

// eventually polls cond until it holds, failing t after Timeout.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// lockHolders counts the sessions holding advisory lock 42 in db (from another database, so as not to
// add a session to db's).
func lockHolders(t *testing.T, s *Server, db string) string {
	return s.Psql(t, "postgres", `SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database
WHERE l.locktype = 'advisory' AND l.objid = 42 AND l.granted AND d.datname = '`+db+`'`)
}

func TestStart(t *testing.T) {
	s := Start(t)
	if got := s.Psql(t, "postgres", "SHOW fsync; SHOW listen_addresses; SELECT current_user"); got != "off\n127.0.0.1\npostgres" {
		t.Errorf("settings = %q", got)
	}
	if !strings.HasPrefix(s.Version, "1") {
		t.Errorf("Version = %q", s.Version)
	}

	began := time.Now()
	dsn := s.NewDatabase(t)
	t.Logf("NewDatabase took %s: %s", time.Since(began).Round(time.Millisecond), dsn)
	db := DBName(dsn)
	if !regexp.MustCompile(`^t[0-9]+_teststart$`).MatchString(db) {
		t.Errorf("database name = %q, want tN_teststart", db)
	}
	if want := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.Port, db); dsn != want {
		t.Errorf("dsn = %q, want %q", dsn, want)
	}
	got := s.Psql(t, db, `CREATE TABLE jobs (id int PRIMARY KEY, body text NOT NULL);
INSERT INTO jobs VALUES (1, 'a'), (2, 'b|c');
SELECT id, body FROM jobs ORDER BY id;`)
	if want := "1|a\n2|b|c"; got != want {
		t.Errorf("select = %q, want %q", got, want)
	}
	if _, err := s.psql(db, "SELECT * FROM missing", nil); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("psql with a bad query: err = %v", err)
	}
}

// TestAdvisoryLock shows what leader election relies on: a session advisory lock is held by one session
// at a time and released when the session ends, whether it quits or the server drops it.
func TestAdvisoryLock(t *testing.T) {
	s := Shared(t)
	db := DBName(s.NewDatabase(t))
	if s.Port == 0 {
		t.Fatal("no port")
	}
	try := func() string { return s.Psql(t, db, "SELECT pg_try_advisory_lock(42)") }

	first := openSession(t, s, db)
	first.send(t, "SELECT pg_advisory_lock(42);")
	eventually(t, "the first session to take the lock", func() bool { return lockHolders(t, s, db) == "1" })
	if got := try(); got != "f" {
		t.Fatalf("second session: pg_try_advisory_lock = %q while the first holds it, want f", got)
	}
	// Advisory locks belong to a database: the same key in another database is another lock.
	other := DBName(s.NewDatabase(t))
	if got := s.Psql(t, other, "SELECT pg_try_advisory_lock(42)"); got != "t" {
		t.Errorf("pg_try_advisory_lock(42) in another database = %q, want t", got)
	}
	first.stdin.Close() // the first session ends
	if err := first.exited(t); err != nil {
		t.Fatalf("psql: %v", err)
	}
	eventually(t, "the lock to be released", func() bool { return lockHolders(t, s, db) == "0" })
	if got := try(); got != "t" {
		t.Fatalf("pg_try_advisory_lock = %q after the first session ended, want t", got)
	}

	t.Run("KillBackends", func(t *testing.T) {
		ses := openSessions(t, s, db, 2) // the second one stays idle
		holder := ses[0]
		holder.send(t, "SELECT pg_advisory_lock(42);")
		eventually(t, "the session to take the lock", func() bool { return lockHolders(t, s, db) == "1" })
		if got := try(); got != "f" {
			t.Fatalf("pg_try_advisory_lock = %q while held, want f", got)
		}
		eventually(t, "try's session to end", func() bool { return sessions(t, s, db) == 2 })
		if n := s.KillBackends(t, db); n != 2 {
			t.Errorf("KillBackends = %d, want 2", n)
		}
		// No polling needed: KillBackends returns when the sessions are gone.
		if got := lockHolders(t, s, db); got != "0" {
			t.Errorf("lock holders after KillBackends = %s", got)
		}
		if got := try(); got != "t" {
			t.Fatalf("pg_try_advisory_lock = %q after KillBackends, want t", got)
		}
		holder.send(t, "SELECT 1;") // psql notices its connection is gone
		err := holder.exited(t)
		var exit interface{ ExitCode() int }
		if !errors.As(err, &exit) || exit.ExitCode() != 2 {
			t.Errorf("psql after KillBackends: %v, want exit status 2 (connection lost)", err)
		}
		eventually(t, "try's session to end", func() bool { return sessions(t, s, db) == 0 })
		if n := s.KillBackends(t, db); n != 0 {
			t.Errorf("KillBackends with no sessions = %d", n)
		}
	})
}

func TestNewDatabase_parallel(t *testing.T) {
	s := Shared(t)
	t.Run("group", func(t *testing.T) {
		for i := range 8 {
			t.Run(strconv.Itoa(i), func(t *testing.T) {
				t.Parallel()
				dsn := s.NewDatabase(t)
				db := DBName(dsn)
				got := s.Psql(t, db, fmt.Sprintf("CREATE TABLE t (n int); INSERT INTO t VALUES (%d); SELECT n FROM t", i))
				if got != strconv.Itoa(i) {
					t.Errorf("%s: got %q", db, got)
				}
			})
		}
	})
	// The parallel subtests have ended: their databases are gone.
	got := s.Psql(t, "postgres", "SELECT count(*) FROM pg_database WHERE datname LIKE '%testnewdatabase_parallel%'")
	if got != "0" {
		t.Errorf("%s databases left after the subtests", got)
	}
}

func TestRestart(t *testing.T) {
	s := Start(t)
	db := DBName(s.NewDatabase(t))
	s.Psql(t, db, "CREATE TABLE kept (n int); INSERT INTO kept VALUES (7)")
	se := openSessions(t, s, db, 1)[0]
	s.Restart(t)
	se.send(t, "SELECT 1;")
	err := se.exited(t)
	var exit interface{ ExitCode() int }
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Errorf("psql after Restart: %v, want exit status 2 (connection lost)", err)
	}
	if got := s.Psql(t, db, "SELECT n FROM kept"); got != "7" {
		t.Errorf("after Restart: %q", got)
	}
}

// TestWatchdog: when the test binary goes away without stopping a cluster, the watchdog stops it and
// removes its folder.
func TestWatchdog(t *testing.T) {
	s, err := start()
	if err != nil {
		fail(t, err)
	}
	pidFile, err := os.ReadFile(filepath.Join(s.dataDir, "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.SplitN(string(pidFile), "\n", 2)[0])
	s.watchW.Close() // as the process's exit would
	s.watchW = nil
	if err := s.watchdog.Wait(); err != nil {
		t.Errorf("watchdog: %v", err)
	}
	if _, err := os.Stat(s.Dir); !os.IsNotExist(err) {
		t.Errorf("folder after the watchdog: %v", err)
	}
	if running(pid) {
		t.Errorf("postmaster %d still runs", pid)
		syscall.Kill(pid, syscall.SIGKILL)
	}
	if err := s.stop(); err != nil {
		t.Errorf("stop after the watchdog: %v", err)
	}
}

func TestNotInstalled(t *testing.T) {
	t.Setenv("SYNDICATE_POSTGRES_BIN", t.TempDir())
	_, err := start()
	if !errors.Is(err, errNotInstalled) {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(err.Error(), "run e2e/postgres/install.sh") {
		t.Errorf("err = %v", err)
	}
}

// running reports whether process pid exists and is not a zombie (the postmaster is not our child, and
// whoever inherits it may be slow to reap it).
func running(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return syscall.Kill(pid, 0) == nil // no /proc
	}
	_, after, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(after, "Z")
}
