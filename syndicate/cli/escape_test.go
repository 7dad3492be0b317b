package cli

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/store"
)

// TestPostDryRun_ServerVersionEscaped: what a server said of itself (its
// nodeinfo's software name and version, kept in the state by a live run)
// is in the dry run's "Length is counted …" line; a hostile server's
// escape sequences must not reach the terminal.
func TestPostDryRun_ServerVersionEscaped(t *testing.T) {
	cfg := workspace(t, nil)
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(filepath.Dir(cfg), "syndicate.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	lim := syndicate.DefaultLimits()
	lim.Software, lim.Version = "mastodon\x1b]0;owned\x07", "4.3\x1b[2J"
	if err := st.RememberServer(ctx, "https://mastodon.example", syndicate.ServerInfo{Limits: lim, SeenAt: testNow}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	r := run(t, nil, "--config", cfg, "post", "--dry-run")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "4.3") {
		t.Fatalf("the server's version is not shown (wrong server?):\n%s", r.stdout)
	}
	if strings.ContainsAny(r.stdout, "\x1b\x07") {
		t.Fatalf("the server's control characters reach the terminal:\n%q", r.stdout)
	}
}

// TestStatus_DigestStateEscaped: a digest's state is the state's text (a
// shared PostgreSQL state is written by every replica, and by whoever
// else may write it); status prints it escaped for the terminal.
func TestStatus_DigestStateEscaped(t *testing.T) {
	cfg := workspace(t, nil)
	ctx := context.Background()
	path := filepath.Join(filepath.Dir(cfg), "syndicate.db")
	st, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateDigest(ctx, nil, nil); err != nil {
		t.Fatal(err)
	}
	st.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("UPDATE digests SET state = ?", "sending\x1b]0;owned\x07"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	r := run(t, nil, "--config", cfg, "status")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "sending") {
		t.Fatalf("the digest is not shown:\n%s", r.stdout)
	}
	if strings.ContainsAny(r.stdout, "\x1b\x07") {
		t.Fatalf("the state's control characters reach the terminal:\n%q", r.stdout)
	}
}
