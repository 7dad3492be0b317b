package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// PostgreSQL runs the same DB, on pgx's database/sql driver with $n
// placeholders: the queries of this package are portable, and the few
// things the two databases do differently are the dialect's.
//
// The DSN holds the database password: it never goes into an error or a
// log line. Errors name the state as "the PostgreSQL state" and carry
// pgx's own errors, which name the user and database, never the password.

// dialect is what differs between the databases.
type dialect struct {
	// skipLocked ends a claim's SELECT: PostgreSQL's FOR UPDATE SKIP
	// LOCKED makes replicas claiming at once take different rows. SQLite
	// needs nothing: its writer holds the whole database (BEGIN
	// IMMEDIATE).
	skipLocked string
	// migrationLock, run first in every migration step, makes replicas
	// starting at once migrate one after the other; SQLite's BEGIN
	// IMMEDIATE does that already.
	migrationLock string
	// analyze refreshes the planner's statistics of the deliveries once
	// a reader list is added (see refreshStatistics).
	analyze string
}

var (
	sqliteDialect   = dialect{}
	postgresDialect = dialect{
		skipLocked: " FOR UPDATE SKIP LOCKED",
		// A transaction-level advisory lock (released at commit) on a key
		// of its own, apart from the leader's session lock (LeaderKey).
		migrationLock: `SELECT pg_advisory_xact_lock(7310582961733206390)`,
		analyze:       `ANALYZE deliveries`,
	}
)

// refreshStatistics tells PostgreSQL's planner what a new reader list
// looks like before it is claimed from. Without it (autovacuum gets there
// a minute or more later) the planner takes the thousands of new rows for
// one, and claims a batch of 100 by sorting the whole list: 30 ms rather
// than 0.4. It is an optimisation: a failure (a user who does not own the
// table gets a warning) changes nothing else.
func (s *DB) refreshStatistics(ctx context.Context) {
	if s.dialect.analyze != "" {
		s.db.ExecContext(ctx, s.dialect.analyze)
	}
}

// OpenPostgres opens the state in the PostgreSQL database at dsn (a
// postgres:// URL, or any connection string pgx takes) and migrates it.
// Several replicas may open one database at once; they migrate one after
// the other.
func OpenPostgres(ctx context.Context, dsn string, opts Options) (*DB, error) {
	s, err := openPostgres(ctx, dsn, opts, false)
	if err != nil {
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("the PostgreSQL state: %w", err)
	}
	return s, nil
}

// OpenPostgresReadOnly opens the state in a PostgreSQL database for a dry
// run or status: its sessions are read-only (the server refuses any
// write), and like OpenReadOnly it returns ErrNoState when the database
// holds no state yet and ErrOutdated when its schema is older than this
// program's.
func OpenPostgresReadOnly(ctx context.Context, dsn string, opts Options) (*DB, error) {
	s, err := openPostgres(ctx, dsn, opts, true)
	if err != nil {
		return nil, err
	}
	var tables int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'meta'`).Scan(&tables); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("reading the PostgreSQL state: %w", err)
	}
	if tables == 0 {
		s.db.Close()
		return nil, ErrNoState
	}
	if err := s.checkVersion(ctx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("the PostgreSQL state: %w", err)
	}
	return s, nil
}

// retryable reports whether a transaction failed only because the
// database chose it to give way: PostgreSQL's deadlock_detected (40P01)
// and serialization_failure (40001). Nothing of it was written.
func retryable(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && (pg.Code == "40P01" || pg.Code == "40001")
}

// ErrBadDSN is returned for a connection string pgx cannot read. It says
// no more: the string holds the password.
var ErrBadDSN = errors.New("the PostgreSQL connection string cannot be read (check its form: postgres://user@host:5432/db?sslmode=require)")

// pgConfig reads a connection string; application_name says which
// program a session is (pg_stat_activity), and a read-only one makes
// every transaction of the session read-only.
func pgConfig(dsn string, readOnly bool) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, ErrBadDSN
	}
	if _, set := cfg.RuntimeParams["application_name"]; !set {
		cfg.RuntimeParams["application_name"] = "syndicate"
	}
	if readOnly {
		cfg.RuntimeParams["default_transaction_read_only"] = "on"
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	return cfg, nil
}

func openPostgres(ctx context.Context, dsn string, opts Options, readOnly bool) (*DB, error) {
	cfg, err := pgConfig(dsn, readOnly)
	if err != nil {
		return nil, err
	}
	db := stdlib.OpenDB(*cfg)
	// A few connections: the digest's producer, its outcome writer, the
	// claim renewer and the HTTP handlers each may hold one at a time.
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(4)
	db.SetConnMaxIdleTime(5 * time.Minute)
	s := &DB{db: db, readOnly: readOnly, now: opts.now(), ph: Dollar, dialect: postgresDialect}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening the PostgreSQL state: %w", err)
	}
	return s, nil
}

// checkVersion refuses a schema newer or older than this program's (a
// read-only open cannot migrate).
func (s *DB) checkVersion(ctx context.Context) error {
	v, err := s.version(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		v, err = 0, nil
	}
	if err != nil {
		return err
	}
	if v > len(migrations) {
		return fmt.Errorf("schema version %d, newer than this program (%d)", v, len(migrations))
	}
	if v < len(migrations) {
		return fmt.Errorf("schema version %d, older than this program (%d): %w", v, len(migrations), ErrOutdated)
	}
	return nil
}
