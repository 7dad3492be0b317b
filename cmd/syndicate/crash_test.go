package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate/mastodon/mastotest"
	"github.com/syndicate-bot/syndicate/syndicate/testpeer/pds"
)

// TestCrashMatrix kills the binary with SIGKILL at every post of the
// sample threads on Mastodon (the server has created the post, the answer
// never arrives) and on Bluesky (the PDS wrote the record, the answer
// never arrives; and, at some posts, before the PDS had the request),
// at several points with both networks posting at once, and at several
// points of a digest send (a message delivered, its outcome not yet
// known), reruns, and checks the promise: every post exactly once with
// every chain intact; every reader mailed, a second copy only for what
// was in flight. It prints a table of the points tried. -short runs a
// sample of the points.
func TestCrashMatrix(t *testing.T) {
	type row struct{ point, outcome string }
	var table []row
	defer func() {
		var b strings.Builder
		fmt.Fprintf(&b, "\n%-56s %s\n", "killed at", "outcome after rerun")
		for _, r := range table {
			fmt.Fprintf(&b, "%-56s %s\n", r.point, r.outcome)
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

	// Bluesky, on a real PDS (skipped, with its rows, where none is
	// installed): the same threads, killed at the n-th record written.
	t.Run("bluesky", func(t *testing.T) {
		srv := pds.Start(t)
		probe, _ := skyEnv(t, srv, "")
		skyTotal := 0
		for _, texts := range dryRunThreads(t, probe, "bluesky") {
			skyTotal += len(texts)
		}
		type skyPoint struct {
			n     int
			phase string
		}
		var skyPoints []skyPoint
		for at := 1; at <= skyTotal; at++ {
			sample := at == 1 || at == skyTotal/2 || at == skyTotal
			if !testing.Short() || sample {
				skyPoints = append(skyPoints, skyPoint{at, "response"})
			}
			if sample {
				skyPoints = append(skyPoints, skyPoint{at, "request"})
			}
		}
		for _, at := range skyPoints {
			point := fmt.Sprintf("bluesky post %d of %d", at.n, skyTotal)
			if at.phase == "request" {
				point += ", before the PDS had it"
			}
			t.Run(point, func(t *testing.T) {
				e, proxy := skyEnv(t, srv, "")
				want := dryRunThreads(t, e, "bluesky")
				before := recordKeys(t, srv)
				var k killable
				proxy.set(func(nsid string, n int, phase string) action {
					if nsid == "com.atproto.repo.putRecord" && n == at.n && phase == at.phase {
						return action{kill: &k}
					}
					return action{}
				})
				if r := e.runKillable(&k, "post"); r.code != -1 {
					t.Fatalf("not killed: %s", r)
				}
				proxy.set(nil)
				if r := runSky(t, e, srv, "post"); r.code != 0 {
					t.Fatal(r)
				}
				wantSkyThreads(t, srv, before, want)
				if n := len(srv.ListRecords(t, postCollection)) - len(before); n != skyTotal {
					t.Errorf("%d posts, want %d", n, skyTotal)
				}
				outcome := "every post once, chains intact"
				if t.Failed() {
					outcome = "FAILED"
				}
				table = append(table, row{point, outcome})
			})
		}

		// Both networks at once, each mid-thread: the kill comes once
		// Mastodon has created its m-th post (its answer held back) and the
		// PDS has written Bluesky's b-th (its answer lost).
		for _, at := range [][2]int{{1, 1}, {total / 2, skyTotal / 2}, {total, skyTotal}} {
			m, b := at[0], at[1]
			point := fmt.Sprintf("both networks, Mastodon post %d and Bluesky post %d", m, b)
			t.Run(point, func(t *testing.T) {
				masto := mastotest.New(token)
				defer masto.Close()
				proxy := newPDSProxy(t, srv.URL)
				e := newEnv(t, mastodonConfig(masto, "")+blueskyConfig(proxy.URL, srv.Handle, ""))
				e.vars = append(e.vars, "BLUESKY_APP_PASSWORD="+srv.AppPassword)
				want := dryRunThreads(t, e, "bluesky")
				before := recordKeys(t, srv)
				var k killable
				reached := make(chan struct{})
				masto.OnCreate(func(mastotest.Status) {
					if len(masto.Statuses()) == m {
						close(reached)
						k.waitKilled(t, 30*time.Second) // the answer never leaves
					}
				})
				proxy.set(func(nsid string, n int, phase string) action {
					if nsid == "com.atproto.repo.putRecord" && n == b && phase == "response" {
						select {
						case <-reached:
						case <-time.After(30 * time.Second):
							t.Error("Mastodon never reached its post")
						}
						return action{kill: &k}
					}
					return action{}
				})
				if r := e.runKillable(&k, "post"); r.code != -1 {
					t.Fatalf("not killed: %s", r)
				}
				masto.OnCreate(nil)
				proxy.set(nil)
				if got, sky := len(masto.Statuses()), len(srv.ListRecords(t, postCollection))-len(before); got != m || sky != b {
					t.Fatalf("killed with %d Mastodon and %d Bluesky posts, want %d and %d", got, sky, m, b)
				}
				if r := runSky(t, e, srv, "post"); r.code != 0 {
					t.Fatal(r)
				}
				wantThreads(t, masto, sampleThreads)
				wantSkyThreads(t, srv, before, want)
				outcome := "every post once on both, chains intact"
				if t.Failed() {
					outcome = "FAILED"
				}
				table = append(table, row{point, outcome})
			})
		}
	})

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
