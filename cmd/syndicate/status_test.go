package main

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/syndicate-bot/syndicate/syndicate/mastodon/mastotest"
)

func TestStatus_PostedPendingFailed(t *testing.T) {
	srv := mastotest.New(token)
	defer srv.Close()
	// The server allows 500 characters, the config claims 1000: the city
	// article fails (422); the cap of 2 leaves the rest pending.
	e := newEnv(t, mastodonConfig(srv, "  max_characters: 1000\n")+"schedule: {post: \"*/30 * * * *\"}\n")
	e.write("config.yaml", strings.Replace(readFile(t, e.path("config.yaml")), "max_threads_per_run: 0", "max_threads_per_run: 3", 1))
	if r := e.run("post"); r.code != 1 {
		t.Fatal(r)
	}
	r := e.run("status")
	if r.code != 0 {
		t.Fatal(r)
	}
	for _, want := range []string{
		"north-sea-wind-auction", "posted", "/@newsbot/",
		"city-budget-vote", "failed", "character limit of 500", "syndicate post --retry city-budget-vote",
		"shehbaz-sharif-putin-letters", "pending", "next tick",
		"stadium-opening-embargoed", "waiting", "embargoed until 2030-06-01",
		"election-results-draft", "draft",
		"No digest sent yet.",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("status lacks %q:\n%s", want, r.stdout)
		}
	}
	r = e.run("status", "--json")
	var doc struct {
		Articles []struct{ ID, State, URL, Reason string }
		Digests  []any
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	states := map[string]string{}
	for _, a := range doc.Articles {
		states[a.ID] = a.State
	}
	want := map[string]string{"north-sea-wind-auction": "posted", "harbour-library-reopens": "posted", "city-budget-vote": "failed",
		"shehbaz-sharif-putin-letters": "pending", "stadium-opening-embargoed": "waiting", "election-results-draft": "draft"}
	for id, st := range want {
		if states[id] != st {
			t.Errorf("%s: %q, want %q", id, states[id], st)
		}
	}
}

func TestDigest_ProgressOnATerminalOnly(t *testing.T) {
	e, relay := digestEnv(t, 300, "", "harbour-library-reopens.md")
	relay.OnDelivered(func(int) { time.Sleep(3 * time.Millisecond) })
	cmd := exec.Command(binary, "--config", e.path("config.yaml"), "digest")
	cmd.Env = append(cmd.Environ(), e.vars...)
	tty, err := pty.Start(cmd)
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	out, _ := io.ReadAll(tty) // ends when the program exits
	cmd.Wait()
	if s := string(out); !strings.Contains(s, "mailing") || !strings.Contains(s, "msg/s") {
		t.Errorf("no progress bar on a terminal:\n%s", s)
	}

	// In a pipe: no bar, log lines.
	e2, _ := digestEnv(t, 50, "", "harbour-library-reopens.md")
	r := e2.run("digest")
	if r.code != 0 || strings.Contains(r.stderr, "msg/s") || !strings.Contains(r.stderr, "digest progress") {
		t.Errorf("in a pipe: %s", r)
	}
}
