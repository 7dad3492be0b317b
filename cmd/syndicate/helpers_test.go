package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate/testpeer/gotosocial"
	"github.com/syndicate-bot/syndicate/syndicate/testpeer/postgres"
)

// binary is the syndicate program built once for these tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "syndicate-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "syndicate")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building syndicate:", err)
		os.Exit(1)
	}
	code := gotosocial.Main(m) // m.Run, then stop the shared GoToSocial
	if err := postgres.StopShared(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = max(code, 1)
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

const token = "tok-e2e-SECRET-31337"

// env is one installation: a folder with a config, articles and a state.
type env struct {
	t    *testing.T
	dir  string
	vars []string
}

// newEnv writes config.yaml (the given YAML sections after the common
// ones) and copies the named sample articles (all when none are named).
func newEnv(t *testing.T, extraConfig string, articles ...string) *env {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "articles"), 0o755); err != nil {
		t.Fatal(err)
	}
	if len(articles) == 0 {
		entries, err := os.ReadDir("../../articles")
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			articles = append(articles, e.Name())
		}
	}
	for i, name := range articles {
		b, err := os.ReadFile(filepath.Join("../../articles", name))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "articles", name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		// Distinct, fixed modification times give a stable order.
		mt := time.Date(2026, 11, 29, 0, 0, i, 0, time.UTC)
		os.Chtimes(p, mt, mt)
	}
	cfg := "articles_dir: articles\nbase_url: https://news.example.org/articles/\nstate: state/syndicate.db\n" + extraConfig
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, dir: dir, vars: []string{"MASTODON_ACCESS_TOKEN=" + token}}
}

func (e *env) path(p string) string { return filepath.Join(e.dir, p) }

func (e *env) write(name, content string) {
	e.t.Helper()
	if err := os.WriteFile(e.path(name), []byte(content), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.code, r.stdout, r.stderr)
}

// syncBuffer is a buffer the test may read while the process writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func (e *env) command(args ...string) (*exec.Cmd, *syncBuffer, *syncBuffer) {
	cmd := exec.Command(binary, append([]string{"--config", e.path("config.yaml")}, args...)...)
	cmd.Dir = e.dir
	cmd.Env = append(os.Environ(), e.vars...)
	var out, errOut syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	return cmd, &out, &errOut
}

// run runs the binary to the end (at most a minute).
func (e *env) run(args ...string) result {
	e.t.Helper()
	cmd, out, errOut := e.command(args...)
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		e.t.Fatalf("syndicate %v did not finish in a minute\n%s", args, errOut.String())
	}
	r := result{stdout: out.String(), stderr: errOut.String()}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		r.code = exit.ExitCode()
	} else if err != nil {
		e.t.Fatal(err)
	}
	if strings.Contains(r.stdout+r.stderr, token) {
		e.t.Errorf("syndicate %v printed the access token", args)
	}
	return r
}

// killable is a running binary that a test server hook can kill.
type killable struct {
	mu     sync.Mutex
	cmd    *exec.Cmd
	killed bool
}

func (k *killable) kill() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cmd != nil && !k.killed {
		k.cmd.Process.Kill() // SIGKILL
		k.killed = true
	}
}

// waitKilled waits until kill was called, at most within.
func (k *killable) waitKilled(t *testing.T, within time.Duration) {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		k.mu.Lock()
		killed := k.killed
		k.mu.Unlock()
		if killed {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("not killed within %s", within)
}

// runKilled runs the binary and returns once it exits, normally or
// because kill was called on the returned handle from another goroutine.
func (e *env) runKillable(k *killable, args ...string) result {
	e.t.Helper()
	cmd, out, errOut := e.command(args...)
	k.mu.Lock()
	k.cmd, k.killed = cmd, false
	if err := cmd.Start(); err != nil {
		k.mu.Unlock()
		e.t.Fatal(err)
	}
	k.mu.Unlock()
	err := cmd.Wait()
	r := result{stdout: out.String(), stderr: errOut.String()}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		r.code = exit.ExitCode()
	}
	return r
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
