// Package postgres starts throwaway PostgreSQL clusters for tests.
//
// A cluster is a private PostgreSQL server: `initdb -A trust -U postgres` into a new temp folder, then
// `pg_ctl start` on 127.0.0.1 with a free port, fsync off, its Unix socket inside the temp folder. It never
// touches a system cluster (Debian's 15/main on port 5432). The programs come from Debian's postgresql
// package (run e2e/postgres/install.sh): the newest /usr/lib/postgresql/MAJOR/bin, or the folder named by
// SYNDICATE_POSTGRES_BIN. When they are missing the test is skipped, or fails when SYNDICATE_REQUIRE_PEERS=1.
//
// PostgreSQL refuses to run as root (initdb, pg_ctl and postgres all check), so as root every program runs
// as the user "postgres" (created by the Debian package; "nobody" when there is none), as
// `runuser -u postgres --` would but without a PAM session, and the temp folder belongs to that user.
//
// Start gives a test its own cluster: the first one in a test binary runs initdb (1 to 3 s), the others copy
// its result (0.2 to 0.5 s). Most tests only need a database of their own (40 to 300 ms): Shared starts one
// cluster per test binary, and NewDatabase creates a fresh database in it:
//
//	func TestMain(m *testing.M) { postgres.Main(m) } // stops the shared cluster after the tests
//
//	func TestStore(t *testing.T) {
//		dsn := postgres.Shared(t).NewDatabase(t) // postgres://postgres@127.0.0.1:PORT/NAME?sslmode=disable
//		...
//	}
//
// No cluster outlives its test binary: each one has a watchdog process that stops it and removes its
// folder when the test binary exits without doing so itself (a panic, a -timeout, os.Exit, a kill, or a
// package that calls Shared but not Main).
//
// The harness needs no Go driver: it runs psql. Server.Psql runs SQL the same way.
package postgres

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Timeout bounds each wait: the server's start, stop and restart (pg_ctl -t) and each psql run.
const Timeout = 60 * time.Second

// Superuser is the cluster's superuser role, which trusts every local connection.
const Superuser = "postgres"

// Server is a running PostgreSQL cluster of this package.
type Server struct {
	Host    string // always 127.0.0.1
	Port    int
	Dir     string // temp folder: data/ (the cluster), the Unix socket, postgres.log
	BinDir  string // folder of initdb, pg_ctl, postgres and psql
	Version string // e.g. "15.20" (from postgres --version)

	// Started is how long Start took: copying the template cluster (and, the first time, initdb) and
	// pg_ctl start.
	Started time.Duration

	dataDir string
	logFile string
	as      runAs
	seq     atomic.Int64

	mu       sync.Mutex
	stopped  bool
	watchdog *exec.Cmd
	watchW   *os.File
}

// Start starts a private cluster for t; t.Cleanup stops it and removes its folder. When the test has
// failed by then, the end of the server's log goes to the test log.
//
// The first call in a test binary runs initdb into a template folder; every cluster starts as a copy of
// it. Main (StopShared) removes the template, or the watchdog does at exit.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := start()
	if err != nil {
		fail(t, err)
	}
	t.Logf("postgres: started PostgreSQL %s on %s:%d in %s (%s)", s.Version, s.Host, s.Port,
		s.Started.Round(time.Millisecond), s.Dir)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("postgres: end of %s:\n%s", s.logFile, s.LogTail(4000))
		}
		if err := s.stop(); err != nil {
			t.Errorf("postgres: %v", err)
		}
	})
	return s
}

var shared struct {
	once sync.Once
	mu   sync.Mutex
	srv  *Server
	err  error
}

// Shared returns the test binary's shared cluster, starting it on the first call. Tests that share it
// should each use a database of their own (NewDatabase). Main, or StopShared, stops it; otherwise its
// watchdog does when the test binary exits.
func Shared(t testing.TB) *Server {
	t.Helper()
	shared.once.Do(func() {
		s, err := start()
		shared.mu.Lock()
		shared.srv, shared.err = s, err
		shared.mu.Unlock()
		if err == nil {
			t.Logf("postgres: started the shared PostgreSQL %s on %s:%d in %s (%s)", s.Version, s.Host, s.Port,
				s.Started.Round(time.Millisecond), s.Dir)
		}
	})
	shared.mu.Lock()
	s, err := shared.srv, shared.err
	shared.mu.Unlock()
	if err != nil {
		fail(t, err)
	}
	return s
}

// Main runs the tests, stops the shared cluster and exits with the tests' code:
//
//	func TestMain(m *testing.M) { postgres.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	if err := StopShared(); err != nil {
		fmt.Fprintf(os.Stderr, "postgres: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// StopShared stops the shared cluster, if one was started, and removes its folder and the template
// cluster's (see Start). For a TestMain that does more than Main: call it after m.Run.
func StopShared() error {
	shared.mu.Lock()
	s := shared.srv
	shared.mu.Unlock()
	var errs []error
	if s != nil {
		errs = append(errs, s.stop())
	}
	if template.srv != nil {
		errs = append(errs, template.srv.stop())
	}
	return errors.Join(errs...)
}

// DSN is the URL of database name, e.g. postgres://postgres@127.0.0.1:PORT/NAME?sslmode=disable.
func (s *Server) DSN(name string) string {
	return fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable", Superuser,
		net.JoinHostPort(s.Host, strconv.Itoa(s.Port)), url.PathEscape(name))
}

// DBName returns the database name in a DSN made by DSN or NewDatabase (for KillBackends and Psql).
func DBName(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(u.Path, "/")
}

var notIdent = regexp.MustCompile(`[^a-z0-9_]+`)

// NewDatabase creates an empty database with a unique name (made from the test's name) and returns its
// DSN. t.Cleanup drops it, closing any connections still open to it.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("t%d_%s", s.seq.Add(1), notIdent.ReplaceAllString(strings.ToLower(t.Name()), "_"))
	if len(name) > 63 { // PostgreSQL's limit on names, in bytes
		name = name[:63]
	}
	if _, err := s.psql("postgres", `CREATE DATABASE "`+name+`"`, nil); err != nil {
		t.Fatalf("postgres: %v", err)
	}
	t.Cleanup(func() {
		if s.isStopped() {
			return
		}
		if _, err := s.psql("postgres", `DROP DATABASE IF EXISTS "`+name+`" WITH (FORCE)`, nil); err != nil {
			t.Errorf("postgres: %v", err)
		}
	})
	return s.DSN(name)
}

// Psql runs SQL (one or more statements) in database db with psql and returns what it printed: unaligned
// rows without headers, one per line, fields separated by "|", with no trailing newline. An error fails t.
func (s *Server) Psql(t testing.TB, db, sql string) string {
	t.Helper()
	out, err := s.psql(db, sql, nil)
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	return out
}

// KillBackends terminates every session connected to database db (except the one it uses to do so, which
// is not connected to db) and waits until they are gone, as a server that drops its connections would; a
// session's advisory locks are released. It returns how many sessions it terminated.
func (s *Server) KillBackends(t testing.TB, db string) int {
	t.Helper()
	out, err := s.psql("postgres", fmt.Sprintf(`SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, %d))
FROM pg_stat_activity WHERE datname = :'db' AND pid <> pg_backend_pid()`, Timeout.Milliseconds()),
		map[string]string{"db": db})
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	n, err := strconv.Atoi(out)
	if err != nil {
		t.Fatalf("postgres: KillBackends: psql printed %q", out)
	}
	return n
}

// Restart stops the server in fast mode (every session is closed) and starts it again on the same port.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if s.isStopped() {
		t.Fatalf("postgres: Restart: the server is stopped")
	}
	out, err := s.pgctl("restart", "-m", "fast", "-l", s.logFile, "-o", "-p "+strconv.Itoa(s.Port))
	if err != nil {
		t.Fatalf("postgres: pg_ctl restart: %v\n%s\n%s", err, out, s.LogTail(4000))
	}
}

// LogTail returns at most the last n bytes of the server's log.
func (s *Server) LogTail(n int64) string {
	f, err := os.Open(s.logFile)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > n {
		f.Seek(fi.Size()-n, 0)
	}
	var b bytes.Buffer
	b.ReadFrom(f)
	return b.String()
}

// errNotInstalled is wrapped by start's error when the programs are missing.
var errNotInstalled = errors.New("postgres: not installed; run e2e/postgres/install.sh")

func fail(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, errNotInstalled) && os.Getenv("SYNDICATE_REQUIRE_PEERS") != "1" {
		t.Skip(err)
	}
	t.Fatal(err)
}

// programs the harness runs, all from one folder.
var programs = []string{"initdb", "pg_ctl", "postgres", "psql"}

// findBinDir returns SYNDICATE_POSTGRES_BIN, else the newest /usr/lib/postgresql/MAJOR/bin, else the folder
// of pg_ctl on PATH, whichever has all the programs.
func findBinDir() (string, error) {
	has := func(dir string) bool {
		for _, p := range programs {
			if fi, err := os.Stat(filepath.Join(dir, p)); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
				return false
			}
		}
		return true
	}
	if dir := os.Getenv("SYNDICATE_POSTGRES_BIN"); dir != "" {
		if !has(dir) {
			return "", fmt.Errorf("%w (SYNDICATE_POSTGRES_BIN=%s lacks one of %s)", errNotInstalled, dir,
				strings.Join(programs, ", "))
		}
		return dir, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	major := func(dir string) int { n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir))); return n }
	sort.Slice(dirs, func(i, j int) bool { return major(dirs[i]) > major(dirs[j]) })
	for _, dir := range dirs {
		if has(dir) {
			return dir, nil
		}
	}
	if p, err := exec.LookPath("pg_ctl"); err == nil && has(filepath.Dir(p)) {
		return filepath.Dir(p), nil
	}
	return "", fmt.Errorf("%w (no %s in /usr/lib/postgresql/*/bin)", errNotInstalled, strings.Join(programs, ", "))
}

// runAs runs the programs: as another user when we are root.
type runAs struct {
	cred *syscall.Credential // nil: as ourselves
	name string
	env  []string
}

// newRunAs returns how to run the programs with HOME=home.
func newRunAs(home string) (runAs, error) {
	var r runAs
	// Leave out the caller's PG* settings (PGHOST, PGDATA, PGUSER ...): every program gets explicit ones.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") && !strings.HasPrefix(kv, "HOME=") {
			r.env = append(r.env, kv)
		}
	}
	r.env = append(r.env, "HOME="+home, "PGCONNECT_TIMEOUT=10")
	if os.Geteuid() != 0 {
		return r, nil
	}
	var u *user.User
	var err error
	for _, name := range []string{"postgres", "nobody"} {
		if u, err = user.Lookup(name); err == nil {
			break
		}
	}
	if err != nil {
		return r, fmt.Errorf("running as root and found neither user postgres nor nobody to run PostgreSQL as: %v", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return r, fmt.Errorf("user %s: %v", u.Username, err)
	}
	r.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	r.name = u.Username
	return r, nil
}

func (r runAs) command(dir, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = r.env
	if r.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: r.cred}
	}
	return cmd
}

// tempRoot is where the cluster's folder goes: os.TempDir, unless the user PostgreSQL runs as cannot
// reach it or the Unix socket's path would be too long there (Linux allows 107 bytes), then /tmp.
func tempRoot(r runAs) string {
	root := os.TempDir()
	if len(root)+len("/syndicate-pg-1234567890/.s.PGSQL.65535") > 107 {
		return "/tmp"
	}
	if r.cred != nil {
		for d := root; ; d = filepath.Dir(d) {
			if fi, err := os.Stat(d); err != nil || fi.Mode().Perm()&0o001 == 0 {
				return "/tmp"
			}
			if d == filepath.Dir(d) {
				break
			}
		}
	}
	return root
}

// settings are appended to the cluster's postgresql.conf: a private, fast, disposable server.
const settings = `
# syndicate test harness (syndicate/testpeer/postgres)
listen_addresses = '127.0.0.1'
unix_socket_directories = '%s'
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 32MB
dynamic_shared_memory_type = mmap
`

// newFolder returns a Server with a new temp folder, owned by the user that runs PostgreSQL, and its
// watchdog; nothing runs in it yet.
func newFolder(bin string) (s *Server, err error) {
	s = &Server{Host: "127.0.0.1", BinDir: bin}
	as, err := newRunAs(os.TempDir())
	if err != nil {
		return nil, fmt.Errorf("postgres: %v", err)
	}
	if s.Dir, err = os.MkdirTemp(tempRoot(as), "syndicate-pg-"); err != nil {
		return nil, fmt.Errorf("postgres: %v", err)
	}
	if s.as, err = newRunAs(s.Dir); err != nil {
		return nil, fmt.Errorf("postgres: %v", err)
	}
	s.dataDir = filepath.Join(s.Dir, "data")
	s.logFile = filepath.Join(s.Dir, "postgres.log")
	if s.as.cred != nil {
		if err := os.Chown(s.Dir, int(s.as.cred.Uid), int(s.as.cred.Gid)); err != nil {
			s.stop()
			return nil, fmt.Errorf("postgres: %v", err)
		}
	}
	if err := s.startWatchdog(); err != nil {
		s.stop()
		return nil, fmt.Errorf("postgres: watchdog: %v", err)
	}
	return s, nil
}

// template is a cluster made by initdb, never started, that start copies: initdb takes a second or more,
// a copy a fraction of that. It is made once per test binary, and removed with the shared cluster.
var template struct {
	once sync.Once
	srv  *Server
	err  error
}

func getTemplate(bin string) (*Server, error) {
	template.once.Do(func() {
		s, err := newFolder(bin)
		if err != nil {
			template.err = err
			return
		}
		out, err := s.run("postgres", "--version")
		if err != nil {
			s.stop()
			template.err = fmt.Errorf("postgres: postgres --version: %v\n%s", err, out)
			return
		}
		if f := strings.Fields(out); len(f) >= 3 {
			s.Version = f[2] // "postgres (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)"
		}
		out, err = s.run("initdb", "-D", s.dataDir, "-A", "trust", "-U", Superuser, "-E", "UTF8", "--locale=C", "--no-sync")
		if err != nil {
			s.stop()
			template.err = fmt.Errorf("postgres: initdb (as %s): %v\n%s", s.as.who(), err, out)
			return
		}
		template.srv = s
	})
	return template.srv, template.err
}

func start() (s *Server, err error) {
	bin, err := findBinDir()
	if err != nil {
		return nil, err
	}
	began := time.Now()
	tpl, err := getTemplate(bin)
	if err != nil {
		return nil, err
	}
	if s, err = newFolder(bin); err != nil {
		return nil, err
	}
	s.Version = tpl.Version
	defer func() {
		if err != nil {
			s.stop()
		}
	}()
	if err := copyTree(tpl.dataDir, s.dataDir, s.as.cred); err != nil {
		return s, fmt.Errorf("postgres: copying the template cluster: %v", err)
	}
	conf, err := os.OpenFile(filepath.Join(s.dataDir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err == nil {
		_, err = fmt.Fprintf(conf, settings, strings.ReplaceAll(s.Dir, "'", "''"))
		err = errors.Join(err, conf.Close())
	}
	if err != nil {
		return s, fmt.Errorf("postgres: %v", err)
	}

	// A free port can be taken between freePort and the server's bind: then try another.
	for attempt := 1; ; attempt++ {
		if s.Port, err = freePort(); err != nil {
			return s, fmt.Errorf("postgres: %v", err)
		}
		out, err := s.pgctl("start", "-l", s.logFile, "-o", "-p "+strconv.Itoa(s.Port))
		if err == nil {
			break
		}
		log := s.LogTail(4000)
		if attempt < 5 && strings.Contains(log, "could not bind") {
			continue
		}
		return s, fmt.Errorf("postgres: pg_ctl start (port %d): %v\n%s\n%s:\n%s", s.Port, err, out, s.logFile, log)
	}
	s.Started = time.Since(began)
	return s, nil
}

// copyTree copies folder src to dst (which must not exist) with the same modes, owned by cred's user.
func copyTree(src, dst string, cred *syscall.Credential) error {
	return filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			err = os.Mkdir(to, fi.Mode().Perm())
		case fi.Mode().IsRegular():
			err = copyFile(path, to, fi.Mode().Perm())
		default:
			return fmt.Errorf("%s: not a file or folder", path)
		}
		if err == nil && cred != nil {
			err = os.Lchown(to, int(cred.Uid), int(cred.Gid))
		}
		return err
	})
}

func copyFile(src, dst string, perm os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	return errors.Join(err, out.Close())
}

func (r runAs) who() string {
	if r.cred == nil {
		return "current user"
	}
	return "user " + r.name
}

// run runs one of the programs and returns its output.
func (s *Server) run(program string, args ...string) (string, error) {
	var out bytes.Buffer
	cmd := s.as.command(s.Dir, filepath.Join(s.BinDir, program), args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return "", err
	}
	timer := time.AfterFunc(Timeout+10*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()
	err := cmd.Wait()
	return out.String(), err
}

// pgctl runs pg_ctl ACTION on the cluster, waiting (-w) up to Timeout.
func (s *Server) pgctl(action string, args ...string) (string, error) {
	return s.run("pg_ctl", append([]string{action, "-D", s.dataDir, "-w", "-t", strconv.Itoa(int(Timeout.Seconds()))}, args...)...)
}

// psql runs sql in database db; vars become psql variables (use :'name' for a quoted literal).
func (s *Server) psql(db, sql string, vars map[string]string) (string, error) {
	args := []string{"-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
		"-h", s.Host, "-p", strconv.Itoa(s.Port), "-U", Superuser, "-d", db, "-f", "-"}
	for k, v := range vars {
		args = append(args, "-v", k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd := s.as.command(s.Dir, filepath.Join(s.BinDir, "psql"), args...)
	cmd.Stdin = strings.NewReader(sql)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return "", err
	}
	timer := time.AfterFunc(Timeout, func() { cmd.Process.Kill() })
	defer timer.Stop()
	if err := cmd.Wait(); err != nil {
		return "", fmt.Errorf("psql %s: %v: %s\nSQL: %s", db, err, strings.TrimSpace(stderr.String()), sql)
	}
	return strings.TrimRight(stdout.String(), "\n"), nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// watchdogScript waits for its stdin to close. "done" on it means the harness cleaned up itself;
// anything else (end of file: the test binary is gone) makes it stop the cluster and remove the folder.
const watchdogScript = `read -r word
[ "$word" = done ] && exit 0
"$1" stop -D "$2" -m immediate -w -t 60 >/dev/null 2>&1
rm -rf "$3"
`

// startWatchdog starts the watchdog process, in its own session so that a Ctrl-C reaching the test binary's
// process group does not stop it, and as the user that owns the cluster (pg_ctl refuses to run as root).
func (s *Server) startWatchdog() error {
	r, w, err := os.Pipe() // close-on-exec: no other child inherits w
	if err != nil {
		return err
	}
	defer r.Close()
	cmd := s.as.command(s.Dir, "/bin/sh", "-c", watchdogScript, "postgres-watchdog",
		filepath.Join(s.BinDir, "pg_ctl"), s.dataDir, s.Dir)
	cmd.Stdin = r
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setsid = true
	if err := cmd.Start(); err != nil {
		w.Close()
		return err
	}
	s.watchdog, s.watchW = cmd, w
	return nil
}

func (s *Server) isStopped() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopped
}

// stop stops the server (immediate mode), removes its folder and dismisses the watchdog. Only the first
// call does anything.
func (s *Server) stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil
	}
	s.stopped = true
	var errs []error
	if _, err := os.Stat(filepath.Join(s.dataDir, "postmaster.pid")); err == nil {
		if out, err := s.pgctl("stop", "-m", "immediate"); err != nil {
			errs = append(errs, fmt.Errorf("pg_ctl stop: %v\n%s", err, out))
			s.killPostmaster()
		}
	}
	if s.Dir != "" {
		if err := os.RemoveAll(s.Dir); err != nil {
			errs = append(errs, err)
		}
	}
	if s.watchW != nil {
		s.watchW.WriteString("done\n")
		s.watchW.Close()
		s.watchdog.Wait()
	}
	return errors.Join(errs...)
}

// killPostmaster kills the postmaster named in postmaster.pid when pg_ctl could not stop it; its
// children exit when they see it gone.
func (s *Server) killPostmaster() {
	b, err := os.ReadFile(filepath.Join(s.dataDir, "postmaster.pid"))
	if err != nil {
		return
	}
	line, _, _ := strings.Cut(string(b), "\n")
	if pid, err := strconv.Atoi(strings.TrimSpace(line)); err == nil && pid > 1 {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}
