package postgres

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The product's PostgreSQL store will use pgx: these tests show the harness's DSN works with it and what
// leader election and job claiming can rely on.

func connect(t *testing.T, ctx context.Context, dsn string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("pgx.Connect(%s): %v", dsn, err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func tryLock(t *testing.T, ctx context.Context, c *pgx.Conn) bool {
	t.Helper()
	var ok bool
	if err := c.QueryRow(ctx, "SELECT pg_try_advisory_lock(42)").Scan(&ok); err != nil {
		t.Fatalf("pg_try_advisory_lock: %v", err)
	}
	return ok
}

func TestPgx_advisoryLock(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	s := Shared(t)
	dsn := s.NewDatabase(t)
	db := DBName(dsn)

	a, b := connect(t, ctx, dsn), connect(t, ctx, dsn)
	if !tryLock(t, ctx, a) {
		t.Fatal("a: pg_try_advisory_lock = false on a fresh database")
	}
	if !tryLock(t, ctx, a) {
		t.Error("a: pg_try_advisory_lock = false for the session that holds it (it is re-entrant)")
	}
	if tryLock(t, ctx, b) {
		t.Fatal("b: pg_try_advisory_lock = true while a holds the lock")
	}
	a.Close(ctx) // the leader quits: the lock goes with its session
	eventually(t, "b to take the lock after a closed", func() bool { return tryLock(t, ctx, b) })

	// b is the leader now; the server drops its connection (a replica losing its connection).
	eventually(t, "a's session to end", func() bool { return sessions(t, s, db) == 1 })
	if n := s.KillBackends(t, db); n != 1 {
		t.Errorf("KillBackends = %d, want 1", n)
	}
	c := connect(t, ctx, dsn)
	if !tryLock(t, ctx, c) {
		t.Error("c: pg_try_advisory_lock = false after b's session was killed")
	}
	var one int
	err := b.QueryRow(ctx, "SELECT 1").Scan(&one)
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "57P01": // admin_shutdown
		t.Logf("b's next query after KillBackends: %v", err)
	case err != nil:
		t.Logf("b's next query after KillBackends: %v (%T)", err, err)
	default:
		t.Error("b's query worked after KillBackends")
	}
	if !b.IsClosed() {
		t.Error("b.IsClosed() = false after its connection was killed")
	}
}

// claim claims up to n pending jobs in tx, skipping rows another transaction has locked.
func claim(t *testing.T, ctx context.Context, tx pgx.Tx, n int) []int {
	t.Helper()
	rows, err := tx.Query(ctx, `SELECT id FROM jobs WHERE state = 'pending' ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`, n)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func TestPgx_skipLocked(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	s := Shared(t)
	dsn := s.NewDatabase(t)
	db := DBName(dsn)

	setup := connect(t, ctx, dsn)
	if _, err := setup.Exec(ctx, `CREATE TABLE jobs (id int PRIMARY KEY, state text NOT NULL DEFAULT 'pending');
INSERT INTO jobs (id) SELECT generate_series(1, 10)`); err != nil {
		t.Fatal(err)
	}
	a, b := connect(t, ctx, dsn), connect(t, ctx, dsn)
	txA, err := a.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	txB, err := b.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	gotA := claim(t, ctx, txA, 4)
	gotB := claim(t, ctx, txB, 4)
	if want := []int{1, 2, 3, 4}; !slices.Equal(gotA, want) {
		t.Errorf("a claimed %v, want %v", gotA, want)
	}
	if want := []int{5, 6, 7, 8}; !slices.Equal(gotB, want) {
		t.Errorf("b claimed %v while a holds 1-4, want %v", gotB, want)
	}
	// a finishes its jobs; b's claim of the rest skips nothing it should not.
	if _, err := txA.Exec(ctx, `UPDATE jobs SET state = 'done' WHERE id = ANY($1)`, gotA); err != nil {
		t.Fatal(err)
	}
	if err := txA.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := claim(t, ctx, txB, 10), []int{5, 6, 7, 8, 9, 10}; !slices.Equal(got, want) {
		t.Errorf("b's second claim = %v, want %v", got, want)
	}

	// b's connection drops mid-transaction: its row locks go with it and a can claim the rows.
	if n := s.KillBackends(t, db); n != 3 {
		t.Errorf("KillBackends = %d, want 3 (setup, a, b)", n)
	}
	a = connect(t, ctx, dsn)
	txA, err = a.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer txA.Rollback(ctx)
	if got, want := claim(t, ctx, txA, 10), []int{5, 6, 7, 8, 9, 10}; !slices.Equal(got, want) {
		t.Errorf("a's claim after b's connection was killed = %v, want %v", got, want)
	}
}
