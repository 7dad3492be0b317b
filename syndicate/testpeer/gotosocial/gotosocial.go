// Package gotosocial starts a real GoToSocial v0.18.3 server (a Mastodon-API server) for end-to-end tests
// and reads back what was posted to it.
//
// Start gives each test its own fresh instance on 127.0.0.1 with a free port, a private temp dir (SQLite
// database, media storage, config, log), one confirmed user and an OAuth access token obtained through the
// real authorization-code flow (app registration, sign-in form, authorize form, out-of-band code, token).
// A start takes a few seconds; a package whose tests can share one server calls Shared instead and runs its
// tests through Main from TestMain, which stops the shared server at the end.
//
//	func TestMain(m *testing.M) { os.Exit(gotosocial.Main(m)) }
//
//	func TestPost(t *testing.T) {
//		srv := gotosocial.Shared(t)
//		acct := srv.NewAccount(t, "post") // a private account keeps the tests apart
//		… post with acct.Token to srv.URL …
//		for _, st := range acct.Statuses(t) { … }
//	}
//
// The server binary and its web templates come from the cache that e2e/gotosocial/build.sh fills:
// ${SYNDICATE_PEERS_DIR:-$HOME/.cache/syndicate-peers}/gotosocial-v0.18.3 (override the directory with
// SYNDICATE_GOTOSOCIAL_DIR, the binary alone with SYNDICATE_GOTOSOCIAL_BIN). When it is missing the test is
// skipped, or fails when SYNDICATE_REQUIRE_PEERS=1.
//
// How this GoToSocial differs from Mastodon (see the README in e2e/gotosocial): a post's length is counted in
// code points of text plus spoiler with every URL at its full length, an over-long post is a 400, the
// Idempotency-Key header is ignored, and the rate limiter counts requests per client IP, not per token.
// The harness sets statuses-max-chars to 500 (Mastodon's limit; GoToSocial's own default is 5000) and
// statuses-media-max-files to 4 unless Options say otherwise.
package gotosocial

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Version is the GoToSocial release this package drives.
const Version = "v0.18.3"

// RateLimitOff turns GoToSocial's request rate limiter off when given as Options.RateLimit.
const RateLimitOff = -1

// Options change how StartWith configures the server. The zero value is what Start uses.
type Options struct {
	// RateLimit is advanced-rate-limit-requests: requests per client IP per 5 minutes. 0 keeps GoToSocial's
	// default (300, with X-RateLimit-* headers on every answer); RateLimitOff turns the limiter off.
	RateLimit int
	// MaxChars is statuses-max-chars; 0 means 500 (Mastodon's default; GoToSocial's own default is 5000).
	MaxChars int
	// MaxMediaFiles is statuses-media-max-files; 0 means 4 (Mastodon's; GoToSocial's own default is 6).
	MaxMediaFiles int
	// Username of the first account; "" means "syndicate".
	Username string
	// LogLevel is GoToSocial's log-level ("debug", "info", "warn", "error"); "" means "info".
	LogLevel string
	// Config sets further GoToSocial config keys (as in its config.yaml), overriding the harness's values.
	Config map[string]any
	// StartTimeout bounds each start of the server until it answers /readyz; 0 means 2 minutes.
	StartTimeout time.Duration
}

// Server is a running GoToSocial instance. The embedded Account is the first user, created before the
// server started, with its token.
type Server struct {
	Account
	// URL is the server's base URL, http://localhost:PORT (GoToSocial's configured host; no trailing slash).
	URL string
	// Dir holds the config (config.json), the SQLite database, the media storage and the log (gotosocial.log).
	Dir string
	// Port is the TCP port on 127.0.0.1.
	Port int

	bin, webDir string
	opts        Options
	config      string // path of config.json
	logPath     string
	ownsDir     bool // Dir was made by os.MkdirTemp (Shared) and is removed by Close

	mu   sync.Mutex
	proc *process // nil when not running
}

// Account is a confirmed user of the server with an access token (scopes "read write").
type Account struct {
	Username  string
	Email     string
	Password  string
	AccountID string
	Token     string

	srv *Server
}

type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // the Wait error, valid after done
}

// Start starts a fresh GoToSocial server with the default Options; t.Cleanup stops it.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWith(t, Options{})
}

// StartWith starts a fresh GoToSocial server configured by opts; t.Cleanup stops it (the whole process
// group) and prints the tail of its log when the test failed.
func StartWith(t testing.TB, opts Options) *Server {
	t.Helper()
	bin, webDir := Locate(t)
	s := &Server{Dir: t.TempDir(), bin: bin, webDir: webDir, opts: opts}
	launched := false
	t.Cleanup(func() {
		if launched && t.Failed() {
			t.Logf("gotosocial log (%s), last lines:\n%s", s.logPath, s.LogTail(8<<10))
		}
		s.Close()
	})
	if err := s.launch(t); err != nil {
		t.Fatalf("gotosocial: %v", err) // the error has the end of the log
	}
	launched = true
	return s
}

var shared struct {
	mu  sync.Mutex
	srv *Server
	err error
}

// Shared returns one server for all the tests of the package that call it, started by the first call with
// the default Options (the rate limiter on: 300 requests per 5 minutes from 127.0.0.1, all tests together).
// Its cleanup is not tied to any test: run the tests through Main (from TestMain) to stop it and remove its
// files. Do not Kill or Restart it; start a private server for that. Tests sharing it should each post as
// their own account (NewAccount) so that Statuses only sees their posts.
func Shared(t testing.TB) *Server {
	t.Helper()
	return SharedWith(t, Options{})
}

// SharedWith is Shared with Options, e.g. Options{RateLimit: RateLimitOff} for a package that makes more
// requests than the limiter allows. Every call in the package must pass the same Options.
func SharedWith(t testing.TB, opts Options) *Server {
	t.Helper()
	bin, webDir := Locate(t)
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv != nil {
		if !reflect.DeepEqual(shared.srv.opts, opts) {
			t.Fatalf("gotosocial: SharedWith(%+v), but the shared server was started with %+v", opts, shared.srv.opts)
		}
		return shared.srv
	}
	if shared.err != nil {
		t.Fatalf("gotosocial: the shared server failed to start earlier: %v", shared.err)
	}
	dir, err := os.MkdirTemp("", "gotosocial-shared-")
	if err != nil {
		t.Fatalf("gotosocial: %v", err)
	}
	s := &Server{Dir: dir, bin: bin, webDir: webDir, opts: opts, ownsDir: true}
	if err := s.launch(t); err != nil {
		shared.err = err
		s.Close()
		t.Fatalf("gotosocial: %v", err)
	}
	shared.srv = s
	return s
}

// Main runs the tests and then stops the server Shared started, if any, printing the end of its log when a
// test failed. Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(gotosocial.Main(m)) }
func Main(m *testing.M) int {
	code := m.Run()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv != nil {
		if code != 0 {
			fmt.Fprintf(os.Stderr, "gotosocial: shared server log (%s), last lines:\n%s\n", shared.srv.logPath, shared.srv.LogTail(8<<10))
		}
		shared.srv.Close()
		shared.srv = nil
	}
	return code
}

// Locate finds the GoToSocial binary and its web directory (with template/ and assets/), or skips the test
// (fails it when SYNDICATE_REQUIRE_PEERS=1) when they are not installed.
func Locate(t testing.TB) (bin, webDir string) {
	t.Helper()
	bin, webDir, err := locate()
	if err != nil {
		msg := fmt.Sprintf("gotosocial %s: not installed; run e2e/gotosocial/build.sh (%v)", Version, err)
		if os.Getenv("SYNDICATE_REQUIRE_PEERS") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return bin, webDir
}

// InstallDir is where build.sh installs GoToSocial: $SYNDICATE_GOTOSOCIAL_DIR, else
// ${SYNDICATE_PEERS_DIR:-$HOME/.cache/syndicate-peers}/gotosocial-v0.18.3.
func InstallDir() string {
	if d := os.Getenv("SYNDICATE_GOTOSOCIAL_DIR"); d != "" {
		return d
	}
	root := os.Getenv("SYNDICATE_PEERS_DIR")
	if root == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = os.TempDir()
		}
		root = filepath.Join(home, ".cache", "syndicate-peers")
	}
	return filepath.Join(root, "gotosocial-"+Version)
}

func locate() (bin, webDir string, err error) {
	dir := InstallDir()
	bin = os.Getenv("SYNDICATE_GOTOSOCIAL_BIN")
	if bin == "" {
		bin = filepath.Join(dir, "gotosocial")
	}
	webDir = filepath.Join(dir, "web")
	if fi, err := os.Stat(bin); err != nil {
		return "", "", err
	} else if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return "", "", fmt.Errorf("%s is not an executable file", bin)
	}
	for _, sub := range []string{"template", "assets"} {
		if _, err := os.Stat(filepath.Join(webDir, sub)); err != nil {
			return "", "", err
		}
	}
	return bin, webDir, nil
}

// launch writes the config, creates the first account and starts the server, retrying on another port when
// the chosen one was taken in the meantime; then it gets the first account's token.
func (s *Server) launch(t testing.TB) error {
	t.Helper()
	began := time.Now()
	s.logPath = filepath.Join(s.Dir, "gotosocial.log")
	s.config = filepath.Join(s.Dir, "config.json")
	name := s.opts.Username
	if name == "" {
		name = "syndicate"
	}
	var (
		err     error
		created time.Duration
	)
	for attempt := 0; attempt < 3; attempt++ {
		if s.Port, err = freePort(); err != nil {
			return err
		}
		s.URL = "http://localhost:" + strconv.Itoa(s.Port)
		if err = s.writeConfig(); err != nil {
			return err
		}
		if attempt == 0 {
			// The account is made through the CLI on the database before the server runs.
			if s.Account, err = s.createAccount(name); err != nil {
				return err
			}
			created = time.Since(began)
		}
		if err = s.startProcess(); err == nil || !strings.Contains(s.LogTail(4<<10), "address already in use") {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("%w\n--- %s (last lines) ---\n%s", err, s.logPath, s.LogTail(8<<10))
	}
	started := time.Since(began)
	if s.Account.Token, err = s.token(s.Account.Email, s.Account.Password); err != nil {
		return fmt.Errorf("getting an OAuth token: %w\n--- %s (last lines) ---\n%s", err, s.logPath, s.LogTail(8<<10))
	}
	if s.Account.AccountID, err = s.verifyCredentials(s.Account.Token); err != nil {
		return err
	}
	t.Logf("gotosocial %s at %s (dir %s): account created in %s, server ready after %s, token after %s",
		Version, s.URL, s.Dir, created.Round(time.Millisecond), started.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) writeConfig() error {
	maxChars := s.opts.MaxChars
	if maxChars == 0 {
		maxChars = 500
	}
	maxFiles := s.opts.MaxMediaFiles
	if maxFiles == 0 {
		maxFiles = 4
	}
	logLevel := s.opts.LogLevel
	if logLevel == "" {
		logLevel = "info"
	}
	cfg := map[string]any{
		"log-level":                       logLevel,
		"log-client-ip":                   false,
		"application-name":                "syndicate-e2e",
		"host":                            "localhost:" + strconv.Itoa(s.Port),
		"protocol":                        "http",
		"bind-address":                    "127.0.0.1",
		"port":                            s.Port,
		"trusted-proxies":                 []string{"127.0.0.1/32", "::1"},
		"db-type":                         "sqlite",
		"db-address":                      filepath.Join(s.Dir, "sqlite.db"),
		"web-template-base-dir":           filepath.Join(s.webDir, "template") + "/",
		"web-asset-base-dir":              filepath.Join(s.webDir, "assets") + "/",
		"instance-expose-public-timeline": true,
		"instance-expose-peers":           true,
		"instance-expose-suspended":       true,
		"instance-languages":              []string{"en"},
		"accounts-registration-open":      false,
		"storage-backend":                 "local",
		"storage-local-base-path":         filepath.Join(s.Dir, "storage"),
		"statuses-max-chars":              maxChars,
		"statuses-media-max-files":        maxFiles,
		"letsencrypt-enabled":             false,
		"media-ffmpeg-pool-size":          1,
	}
	switch {
	case s.opts.RateLimit < 0:
		cfg["advanced-rate-limit-requests"] = 0
	case s.opts.RateLimit > 0:
		cfg["advanced-rate-limit-requests"] = s.opts.RateLimit
	}
	for k, v := range s.opts.Config {
		cfg[k] = v
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(s.config, append(b, '\n'), 0o600)
}

// NewAccount creates another confirmed user (through the admin CLI, while the server runs) and gets its
// token through the OAuth flow. The username must be unique on the server (letters, digits, underscores).
func (s *Server) NewAccount(t testing.TB, username string) *Account {
	t.Helper()
	a, err := s.createAccount(username)
	if err == nil {
		a.Token, err = s.token(a.Email, a.Password)
	}
	if err == nil {
		a.AccountID, err = s.verifyCredentials(a.Token)
	}
	if err != nil {
		t.Fatalf("gotosocial: new account %q: %v\n--- %s (last lines) ---\n%s", username, err, s.logPath, s.LogTail(8<<10))
	}
	return &a
}

// createAccount runs `gotosocial admin account create`, which also marks the e-mail address verified and
// the account approved (so `admin account confirm` is not needed).
func (s *Server) createAccount(username string) (Account, error) {
	pw := make([]byte, 12)
	if _, err := rand.Read(pw); err != nil {
		return Account{}, err
	}
	a := Account{
		Username: username,
		Email:    username + "@example.org",
		Password: "Syndicate-e2e-" + hex.EncodeToString(pw),
		srv:      s,
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.startTimeout())
	defer cancel()
	out, err := s.command(ctx, "admin", "account", "create",
		"--username", a.Username, "--email", a.Email, "--password", a.Password).CombinedOutput()
	if err != nil {
		return Account{}, fmt.Errorf("admin account create %s: %w\n%s", username, err, out)
	}
	return a, nil
}

func (s *Server) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, s.bin, append([]string{"--config-path", s.config}, args...)...)
	cmd.Dir = s.Dir
	cmd.Env = append(os.Environ(), "GTS_WAZERO_COMPILATION_CACHE="+wazeroCache(s.bin))
	cmd.SysProcAttr = sysProcAttr()
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	return cmd
}

// wazeroCache is a directory beside the binary (in the install cache) where GoToSocial keeps its compiled
// ffmpeg WebAssembly between runs, which saves seconds on every start. It falls back to a temp dir.
func wazeroCache(bin string) string {
	dir := filepath.Join(filepath.Dir(bin), "wazero-cache")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		dir = filepath.Join(os.TempDir(), "syndicate-gotosocial-wazero-cache")
		_ = os.MkdirAll(dir, 0o755)
	}
	return dir
}

func (s *Server) startTimeout() time.Duration {
	if s.opts.StartTimeout > 0 {
		return s.opts.StartTimeout
	}
	return 2 * time.Minute
}

// startProcess runs `gotosocial server start` and waits until /readyz answers 200, the process exits, or
// the start timeout passes.
func (s *Server) startProcess() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		return errors.New("server already running")
	}
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "=== harness: server start on port %d at %s\n", s.Port, time.Now().Format(time.RFC3339Nano))
	cmd := s.command(context.Background(), "server", "start")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	s.proc = p

	deadline := time.Now().Add(s.startTimeout())
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := client.Get(s.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				// A server that lost the race for the port may still answer for a moment; make sure ours
				// is alive (another instance answering instead shows up when the token flow fails).
				select {
				case <-p.done:
				case <-time.After(100 * time.Millisecond):
					return nil
				}
			}
		}
		select {
		case <-p.done:
			s.proc = nil
			return fmt.Errorf("gotosocial server exited before it was ready: %v", p.err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.killLocked()
			return fmt.Errorf("gotosocial server not ready at %s/readyz after %s", s.URL, s.startTimeout())
		}
	}
}

// Kill stops the server at once with SIGKILL (to its whole process group), as a crash would, and waits until
// it has gone. The data stays; Restart starts it again. Killing a stopped server does nothing.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.killLocked()
}

func (s *Server) killLocked() {
	if s.proc == nil {
		return
	}
	_ = syscall.Kill(-s.proc.cmd.Process.Pid, syscall.SIGKILL)
	<-s.proc.done
	s.proc = nil
}

// Stop shuts the server down gracefully (SIGTERM), killing it after 30 seconds. The data stays.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return
	}
	_ = syscall.Kill(-s.proc.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.proc.done:
		s.proc = nil
	case <-time.After(30 * time.Second):
		s.killLocked()
	}
}

// Restart starts the server again on the same data, config and port (killing it first if it runs). The
// accounts and their tokens stay valid.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Kill()
	began := time.Now()
	if err := s.startProcess(); err != nil {
		t.Fatalf("gotosocial: restart: %v\n--- %s (last lines) ---\n%s", err, s.logPath, s.LogTail(8<<10))
	}
	t.Logf("gotosocial: restarted in %s", time.Since(began).Round(time.Millisecond))
}

// Running reports whether the server process is alive (it has not been killed, stopped or crashed).
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return false
	}
	select {
	case <-s.proc.done:
		return false
	default:
		return true
	}
}

// Close kills the server and, for the Shared server, removes its directory. Start's cleanup calls it.
func (s *Server) Close() {
	s.Kill()
	if s.ownsDir {
		_ = os.RemoveAll(s.Dir)
	}
}

// Log returns the server's whole log (its stdout and stderr over all starts).
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.logPath)
	return string(b)
}

// LogTail returns about the last n bytes of the server's log, starting at a line.
func (s *Server) LogTail(n int) string {
	b, _ := os.ReadFile(s.logPath)
	if len(b) > n {
		b = b[len(b)-n:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}
