package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/syndicate-bot/syndicate/syndicate/mastodon/mastotest"
)

// TestCrashMatrix kills the binary with SIGKILL at every post of the
// sample threads (the server has created the post, the answer never
// arrives) and at several points of a digest send (a message delivered,
// its outcome not yet known), reruns, and checks the promise: every post
// exactly once with every chain intact; every reader mailed, a second
// copy only for what was in flight. It prints a table of the points
// tried. -short runs a sample of the points.
func TestCrashMatrix(t *testing.T) {
	type row struct{ point, outcome string }
	var table []row
	defer func() {
		var b strings.Builder
		fmt.Fprintf(&b, "\n%-48s %s\n", "killed at", "outcome after rerun")
		for _, r := range table {
			fmt.Fprintf(&b, "%-48s %s\n", r.point, r.outcome)
		}
		t.Log(b.String())
	}()

	total := 0
	for _, n := range sampleThreads {
		total += n
	}
	postPoints := []int{}
	for at := 1; at <= total; at++ {
		if !testing.Short() || at == 1 || at == total/2 || at == total {
			postPoints = append(postPoints, at)
		}
	}
	for _, expired := range []bool{false, true} {
		for _, at := range postPoints {
			point := fmt.Sprintf("post %d of %d", at, total)
			if expired {
				point += ", idempotency key expired"
			}
			t.Run(point, func(t *testing.T) {
				srv := mastotest.New(token)
				defer srv.Close()
				e := newEnv(t, mastodonConfig(srv, ""))
				var k killable
				srv.OnCreate(func(mastotest.Status) {
					if len(srv.Statuses()) == at {
						k.kill()
					}
				})
				if r := e.runKillable(&k, "post"); r.code != -1 {
					t.Fatalf("not killed: %s", r)
				}
				srv.OnCreate(nil)
				if expired {
					srv.ExpireKeys() // more than an hour later: only reconciliation can tell
				}
				if r := e.run("post"); r.code != 0 {
					t.Fatal(r)
				}
				wantThreads(t, srv, sampleThreads)
				outcome := "every post once, chains intact"
				if t.Failed() {
					outcome = "FAILED"
				}
				table = append(table, row{point, outcome})
			})
		}
	}

	digestPoints := []int{1, 40, 80, 120, 160, 199, 200}
	if testing.Short() {
		digestPoints = []int{1, 100, 200}
	}
	for _, at := range digestPoints {
		point := fmt.Sprintf("digest message %d of 200 delivered", at)
		t.Run(point, func(t *testing.T) {
			e, relay := digestEnv(t, 200, "")
			var k killable
			relay.OnDelivered(func(n int) {
				if n == at {
					k.kill()
				}
			})
			if r := e.runKillable(&k, "digest"); r.code != -1 {
				t.Fatalf("not killed: %s", r)
			}
			relay.OnDelivered(nil)
			if r := e.run("digest"); r.code != 0 {
				t.Fatal(r)
			}
			dups := wantEveryReader(t, relay, 200)
			// Unrecorded at a crash: a message in flight per connection (4)
			// and at most two batches of the ledger (2 × 16).
			if dups > 36 {
				t.Errorf("%d duplicates", dups)
			}
			if r := e.run("digest"); r.code != 0 || !strings.Contains(r.stdout, "no new articles") {
				t.Errorf("third run: %s", r)
			}
			table = append(table, row{point, fmt.Sprintf("all 200 mailed, %d second copies", dups)})
		})
	}
}
