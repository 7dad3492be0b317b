package store_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/store"
	"github.com/syndicate-bot/syndicate/syndicate/testpeer/postgres"
)

// The cost of the ledger on each backend, for docs/benchmarks.md
// (bench/ledger.sh prints the figures against SQLite's):
//
//	go test -run='^$' -bench=Ledger -benchtime=2000x ./syndicate/store/
//
// backends, each as durable as the one before or more:
//
//	sqlite                   WAL, synchronous=NORMAL: a commit survives the process, not the power (the shipped setting)
//	postgres                 fsync on, synchronous_commit=off: the same promise (the WAL is flushed within 0.6 s)
//	postgres-synchronous     fsync on, synchronous_commit=on: a commit survives the power too
//
// and the ledger's steps:
//
//	post       a post's two commits: MarkAttempt before it is sent, RecordPost after
//	outcomes   a digest's group commit: RecordOutcomes of 16 readers
//	claim      ClaimDeliveries of 100 readers (the digest's batch)
func BenchmarkLedger(b *testing.B) {
	backends := []struct {
		name string
		open func(b *testing.B) store.Store
	}{
		{"sqlite", func(b *testing.B) store.Store {
			st, err := store.Open(ctx, filepath.Join(b.TempDir(), "state.db"), store.Options{})
			if err != nil {
				b.Fatal(err)
			}
			return st
		}},
		{"postgres", func(b *testing.B) store.Store { return benchPostgres(b, "off") }},
		{"postgres-synchronous", func(b *testing.B) store.Store { return benchPostgres(b, "on") }},
	}
	for _, be := range backends {
		b.Run(be.name+"/post", func(b *testing.B) {
			st := be.open(b)
			defer st.Close()
			posts := make([]syndicate.PlannedPost, 4)
			for i := range posts {
				posts[i] = syndicate.PlannedPost{Index: i, Text: fmt.Sprintf("post %d", i), Visibility: "public", Language: "en"}
			}
			if err := st.PlanThread(ctx, syndicate.NetworkMastodon, "wind", "h", posts); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := st.MarkAttempt(ctx, syndicate.NetworkMastodon, "wind", i%4); err != nil {
					b.Fatal(err)
				}
				if err := st.RecordPost(ctx, syndicate.NetworkMastodon, "wind", i%4, syndicate.Status{ID: "1", URL: "https://example.social/@bot/1"}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "posts/s")
		})
		b.Run(be.name+"/outcomes", func(b *testing.B) {
			st := be.open(b)
			defer st.Close()
			id, keys := benchDigest(b, st, 1600)
			batch := make([]syndicate.Outcome, 16)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for j := range batch {
					batch[j] = syndicate.Outcome{Key: keys[(i*16+j)%len(keys)], State: syndicate.DeliveryTemp, Reply: "451 later"}
				}
				if err := st.RecordOutcomes(ctx, id, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(16*b.N)/b.Elapsed().Seconds(), "outcomes/s")
		})
		b.Run(be.name+"/claim", func(b *testing.B) {
			st := be.open(b)
			defer st.Close()
			id, _ := benchDigest(b, st, 10000)
			b.ResetTimer()
			claimed := 0
			for i := 0; i < b.N; i++ {
				list, err := st.ClaimDeliveries(ctx, id, "bench", "", 1<<30, 100, time.Minute)
				if err != nil {
					b.Fatal(err)
				}
				claimed += len(list)
				b.StopTimer()
				if _, err := st.ReleaseClaims(ctx, id, "bench"); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			if claimed != 100*b.N {
				b.Fatalf("claimed %d, want %d", claimed, 100*b.N)
			}
			b.ReportMetric(float64(claimed)/b.Elapsed().Seconds(), "claims/s")
		})
	}
}

// benchPostgres is a store on a cluster of its own, with fsync on and
// synchronous_commit as given (the harness turns fsync off for speed).
func benchPostgres(b *testing.B, synchronous string) store.Store {
	b.Helper()
	srv := postgres.Start(b)
	srv.Psql(b, "postgres", `ALTER SYSTEM SET fsync = on; ALTER SYSTEM SET full_page_writes = on; ALTER SYSTEM SET synchronous_commit = `+synchronous+`; SELECT pg_reload_conf()`)
	// A reload is a signal: wait until a new session has the settings.
	want := "on|on|" + synchronous
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		got := srv.Psql(b, "postgres", `SELECT current_setting('fsync') || '|' || current_setting('full_page_writes') || '|' || current_setting('synchronous_commit')`)
		if got == want {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("settings %s, want %s", got, want)
		}
	}
	st, err := store.OpenPostgres(ctx, srv.NewDatabase(b), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	return st
}

// benchDigest is a digest sending to n readers.
func benchDigest(b *testing.B, st store.Store, n int) (int64, []string) {
	b.Helper()
	id, err := st.CreateDigest(ctx, []syndicate.DigestItem{{ID: "wind"}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	readers := make([]syndicate.Reader, n)
	keys := make([]string, n)
	for i := range readers {
		keys[i] = fmt.Sprintf("reader%06d@example.org", i)
		readers[i] = syndicate.Reader{Email: keys[i], Fields: map[string]string{"email": keys[i]}}
	}
	if _, err := st.AddReaders(ctx, id, readers); err != nil {
		b.Fatal(err)
	}
	if err := st.StartDigest(ctx, id); err != nil {
		b.Fatal(err)
	}
	return id, keys
}
