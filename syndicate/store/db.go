package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// DB is the state in a SQL database; Open and OpenReadOnly give one on
// SQLite, OpenPostgres and OpenPostgresReadOnly on PostgreSQL. Its queries
// are the portable SQL of this package, rebound for the driver's
// placeholders.
type DB struct {
	db       *sql.DB
	readOnly bool
	now      func() time.Time
	ph       Placeholders
	dialect  dialect
}

var _ Store = (*DB)(nil)

// Close closes the database.
func (s *DB) Close() error { return s.db.Close() }

// Ping reports whether the state is reachable.
func (s *DB) Ping(ctx context.Context) error {
	var one int
	return s.db.QueryRowContext(ctx, `SELECT 1`).Scan(&one)
}

func (s *DB) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return s.db.QueryContext(ctx, s.ph.Rebind(query), args...)
}

func (s *DB) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return s.db.QueryRowContext(ctx, s.ph.Rebind(query), args...)
}

// scanStrings reads, and closes, rows of one text column.
func scanStrings(rows *sql.Rows) ([]string, error) {
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// txn is one transaction; its queries are rebound as the DB's are.
type txn struct {
	tx *sql.Tx
	ph Placeholders
}

func (t txn) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(ctx, t.ph.Rebind(query), args...)
}

// count runs an UPDATE, INSERT or DELETE and returns how many rows it
// changed.
func (t txn) count(ctx context.Context, query string, args ...any) (int, error) {
	res, err := t.exec(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

func (t txn) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(ctx, t.ph.Rebind(query), args...)
}

func (t txn) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(ctx, t.ph.Rebind(query), args...)
}

func (t txn) prepare(ctx context.Context, query string) (*sql.Stmt, error) {
	return t.tx.PrepareContext(ctx, t.ph.Rebind(query))
}

// tx runs fn in one transaction: it commits when fn returns nil and
// rolls back otherwise. A read-only store refuses with ErrReadOnly. A
// transaction the database gave up on for another's sake (PostgreSQL: a
// deadlock, a serialization failure) is run again, a few times: fn must
// start from nothing each time.
func (s *DB) tx(ctx context.Context, fn func(txn) error) error {
	for attempt := 1; ; attempt++ {
		err := s.tx1(ctx, fn)
		if err == nil || attempt == 4 || !retryable(err) || ctx.Err() != nil {
			return err
		}
	}
}

func (s *DB) tx1(ctx context.Context, fn func(txn) error) error {
	if s.readOnly {
		return ErrReadOnly
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	if err := fn(txn{tx: tx, ph: s.ph}); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("state: commit: %w", err)
	}
	return nil
}

// Times are kept as text, RFC 3339 in UTC with the clock's precision.
const timeLayout = time.RFC3339Nano

// stamp is the time now as the state keeps it.
func (s *DB) stamp() string { return s.now().UTC().Format(timeLayout) }

// formatTime is a time as the state keeps it; the zero time is "" (never
// set). The precision is kept whole: a Bluesky record's createdAt must be
// the same to the millisecond on every attempt.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeLayout)
}

// parseTime reads a time the state kept; "" (never set) is the zero time.
// what names it in the error.
func parseTime(what, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(timeLayout, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("state: %s: %w", what, err)
	}
	return t, nil
}
