package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate/mail/smtptest"
	"github.com/syndicate-bot/syndicate/syndicate/testpeer/postgres"
)

// BenchmarkReplicas_Digest mails one digest to 10,000 readers from one
// `syndicate run` on a SQLite state (the reference), then from one replica
// and from two sharing it on one PostgreSQL database, and reports msg/s from the signal to the digest done (the
// reader list's preparation included). bench/replicas.sh runs it against
// Postfix's smtp-sink (SYNDICATE_BENCH_SINK=host:port) and prints the two
// against each other; without a sink it uses an in-process one.
//
//	go test -run='^$' -bench=Replicas -benchtime=3x ./cmd/syndicate/
//
// SYNDICATE_BENCH_READERS changes the number of readers.
func BenchmarkReplicas_Digest(b *testing.B) {
	readers := 10000
	if n, err := strconv.Atoi(os.Getenv("SYNDICATE_BENCH_READERS")); err == nil && n > 0 {
		readers = n
	}
	host, port := "127.0.0.1", 0
	if sink := os.Getenv("SYNDICATE_BENCH_SINK"); sink != "" {
		h, p, ok := strings.Cut(sink, ":")
		n, err := strconv.Atoi(p)
		if !ok || err != nil {
			b.Fatalf("SYNDICATE_BENCH_SINK=%s: want host:port", sink)
		}
		host, port = h, n
	} else {
		relay, err := smtptest.New()
		if err != nil {
			b.Fatal(err)
		}
		defer relay.Close()
		relay.Discard()
		port = relay.Port
	}
	pg := postgres.Shared(b)
	dir := b.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "articles"), 0o755); err != nil {
		b.Fatal(err)
	}
	entries, err := os.ReadDir("../../articles")
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join("../../articles", e.Name()))
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "articles", e.Name()), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	var csv strings.Builder
	csv.WriteString("email,name\n")
	for i := 0; i < readers; i++ {
		fmt.Fprintf(&csv, "reader%06d@example.org,Reader %d\n", i, i)
	}
	if err := os.WriteFile(filepath.Join(dir, "subscribers.csv"), []byte(csv.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	// articles_settle 0: the files were copied a moment ago.
	cfg := fmt.Sprintf(`articles_dir: articles
articles_settle: 0s
base_url: https://news.example.org/articles/
state: ${DATABASE_URL}
email:
  from: "Daily Brief <brief@example.org>"
  subscribers: subscribers.csv
  unsubscribe_url: https://news.example.org/unsubscribe
  smtp: {host: %s, port: %d, tls: none, connections: 4, timeout: 30s}
schedule: {post: "", digest: %s}
`, host, port, yearly)
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(cfg), 0o644); err != nil {
		b.Fatal(err)
	}

	// The reference: the same digest from one daemon on a SQLite state
	// (the value of state: is a path there).
	b.Run("sqlite", func(b *testing.B) {
		var took time.Duration
		for i := 0; i < b.N; i++ {
			took += digestOnce(b, dir, filepath.Join(b.TempDir(), "state.db"), 1)
		}
		b.ReportMetric(0, "ns/op")
		b.ReportMetric(float64(readers*b.N)/took.Seconds(), "msg/s")
	})
	for _, n := range []int{1, 2} {
		b.Run(fmt.Sprintf("replicas=%d", n), func(b *testing.B) {
			var took time.Duration
			for i := 0; i < b.N; i++ {
				took += digestOnce(b, dir, pg.NewDatabase(b), n)
			}
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(float64(readers*b.N)/took.Seconds(), "msg/s")
		})
	}
}

// digestOnce starts n replicas on a new database, asks each for the
// digest at once, and returns how long until one says it is done.
func digestOnce(b *testing.B, dir, dsn string, n int) time.Duration {
	b.Helper()
	type proc struct {
		cmd *exec.Cmd
		log *syncBuffer
	}
	var ps []proc
	defer func() {
		for _, p := range ps {
			p.cmd.Process.Signal(syscall.SIGTERM)
			p.cmd.Wait()
		}
	}()
	for i := 0; i < n; i++ {
		cmd := exec.Command(binary, "--config", filepath.Join(dir, "config.yaml"), "--log-format", "json", "run")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "DATABASE_URL="+dsn)
		log := &syncBuffer{}
		cmd.Stderr = log
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		ps = append(ps, proc{cmd, log})
	}
	waitFor := 10 * time.Minute
	if d, err := time.ParseDuration(os.Getenv("SYNDICATE_BENCH_WAIT")); err == nil {
		waitFor = d
	}
	wait := func(what string, cond func() bool) {
		for deadline := time.Now().Add(waitFor); !cond(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				for i, p := range ps {
					b.Logf("replica %d's log:\n%s", i+1, p.log)
				}
				b.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	for _, p := range ps {
		wait("the replicas to start", func() bool { return strings.Contains(p.log.String(), `"msg":"scheduled"`) })
	}
	began := time.Now()
	for _, p := range ps {
		if err := p.cmd.Process.Signal(syscall.SIGUSR2); err != nil {
			b.Fatal(err)
		}
	}
	wait("the digest", func() bool {
		for _, p := range ps {
			if strings.Contains(p.log.String(), `"msg":"digest done"`) {
				return true
			}
		}
		return false
	})
	return time.Since(began)
}
