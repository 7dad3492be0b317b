package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// CopyToPostgres copies a SQLite state, whole, into an empty PostgreSQL
// database (syndicate migrate): every table the SQLite state has —
// articles and posts, digests with their articles, deliveries and skips,
// unsubscribes, secrets and servers (meta), feeds and their items, the
// counters — whatever migrations made them, so a table added later is
// copied too. The target's schema is made by the same migrations first,
// and the copy is one transaction: it is all there or not at all. It
// refuses a target that holds any table (ErrNotEmpty).
//
// src must be at this program's schema version (Open migrates it) and
// nothing may write it meanwhile (the caller holds its lock).

// ErrNotEmpty is returned by CopyToPostgres for a target that is not an
// empty database.
var ErrNotEmpty = errors.New("the target database is not empty")

// Copied is how many rows of each table were copied.
type Copied struct {
	Table string
	Rows  int
}

// CopyToPostgres copies src into the empty database at dsn; see above.
func CopyToPostgres(ctx context.Context, src *DB, dsn string) ([]Copied, error) {
	if src.dialect.migrationLock != "" {
		return nil, errors.New("the source must be a SQLite state")
	}
	if v, err := src.version(ctx); err != nil || v != len(migrations) {
		return nil, fmt.Errorf("the source's schema version is %d (%v), not this program's %d: open it for a live run first", v, err, len(migrations))
	}
	cfg, err := pgConfig(dsn, false)
	if err != nil {
		return nil, err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to the target: %w", err)
	}
	defer closeConn(conn)
	var tables []string
	rows, err := conn.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY table_name`)
	if err == nil {
		tables, err = pgx.CollectRows(rows, pgx.RowTo[string])
	}
	if err != nil {
		return nil, fmt.Errorf("reading the target: %w", err)
	}
	if len(tables) > 0 {
		return nil, fmt.Errorf("%w: its schema holds %d table(s) (%s); migrate copies into an empty database only", ErrNotEmpty, len(tables), strings.Join(tables, ", "))
	}

	// The schema, by the migrations (the same version as src).
	target, err := OpenPostgres(ctx, dsn, Options{})
	if err != nil {
		return nil, err
	}
	target.Close()

	order, err := src.tablesInOrder(ctx)
	if err != nil {
		return nil, err
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx)
	if err := untouched(ctx, tx, order); err != nil {
		return nil, err
	}
	// What the migrations wrote (the counters' first rows) gives way to
	// the source's; the schema version stays, the same as the source's.
	for i := len(order) - 1; i >= 0; i-- {
		if _, err := tx.Exec(ctx, `DELETE FROM `+pgx.Identifier{order[i]}.Sanitize()+keepVersion(order[i])); err != nil {
			return nil, fmt.Errorf("emptying %s: %w", order[i], err)
		}
	}
	var out []Copied
	for _, table := range order {
		n, err := src.copyTable(ctx, tx, table)
		if err != nil {
			return nil, fmt.Errorf("copying %s: %w", table, err)
		}
		out = append(out, Copied{Table: table, Rows: n})
	}
	// Check each table's count in the target before committing.
	for _, c := range out {
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM `+pgx.Identifier{c.Table}.Sanitize()+keepVersion(c.Table)).Scan(&n); err != nil {
			return nil, err
		}
		if n != c.Rows {
			return nil, fmt.Errorf("%s: %d rows copied, %d in the target", c.Table, c.Rows, n)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("committing the copy: %w", err)
	}
	return out, nil
}

// untouched locks every table of the target for the copy's transaction,
// then checks that nothing but its migrations wrote to it since it was
// found empty: a replica started on it meanwhile (its state already set
// to the target) would have its rows emptied by the copy. The migrations
// write the schema version (meta) and the counters' first rows
// (sequences, at 0). A replica that comes later waits on the locks and
// finds the copy.
func untouched(ctx context.Context, tx pgx.Tx, tables []string) error {
	ids := make([]string, len(tables))
	for i, t := range tables {
		ids[i] = pgx.Identifier{t}.Sanitize()
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE `+strings.Join(ids, ", ")+` IN ACCESS EXCLUSIVE MODE`); err != nil {
		return fmt.Errorf("locking the target's tables: %w", err)
	}
	var written []string
	for i, t := range tables {
		q := `SELECT COUNT(*) FROM ` + ids[i] + keepVersion(t)
		if t == "sequences" {
			q += ` WHERE value <> 0`
		}
		var n int
		if err := tx.QueryRow(ctx, q).Scan(&n); err != nil {
			return fmt.Errorf("reading the target's %s: %w", t, err)
		}
		if n > 0 {
			written = append(written, fmt.Sprintf("%s (%d rows)", t, n))
		}
	}
	if len(written) > 0 {
		return fmt.Errorf("%w: written to since the copy began: %s (a replica started on it?); nothing was copied", ErrNotEmpty, strings.Join(written, ", "))
	}
	return nil
}

// keepVersion leaves the schema version out of what is emptied, copied
// and counted: the target's own, made by its migrations.
func keepVersion(table string) string {
	if table == "meta" {
		return ` WHERE key <> '` + schemaVersion + `'`
	}
	return ""
}

// tablesInOrder lists the SQLite state's tables, each after those its
// foreign keys name.
func (s *DB) tablesInOrder(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		return nil, err
	}
	names, err := scanStrings(rows)
	if err != nil {
		return nil, err
	}
	deps := map[string][]string{}
	for _, n := range names {
		refs, err := s.db.QueryContext(ctx, `SELECT DISTINCT "table" FROM pragma_foreign_key_list(?)`, n)
		if err != nil {
			return nil, err
		}
		tables, err := scanStrings(refs)
		if err != nil {
			return nil, err
		}
		for _, r := range tables {
			if r != n {
				deps[n] = append(deps[n], r)
			}
		}
	}
	var order []string
	done := map[string]bool{}
	var visit func(n string, path []string) error
	visit = func(n string, path []string) error {
		if done[n] {
			return nil
		}
		for _, p := range path {
			if p == n {
				return fmt.Errorf("the tables' foreign keys make a cycle: %s", strings.Join(append(path, n), " → "))
			}
		}
		sort.Strings(deps[n])
		for _, d := range deps[n] {
			if err := visit(d, append(path, n)); err != nil {
				return err
			}
		}
		done[n] = true
		order = append(order, n)
		return nil
	}
	for _, n := range names {
		if err := visit(n, nil); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// copyTable copies one table's rows into the target with COPY, column by
// column by name, each value as the target's column type wants it.
func (s *DB) copyTable(ctx context.Context, tx pgx.Tx, table string) (int, error) {
	rows, err := tx.Query(ctx, `SELECT column_name, data_type FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1`, table)
	if err != nil {
		return 0, err
	}
	types := map[string]string{}
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			rows.Close()
			return 0, err
		}
		types[name] = typ
	}
	rows.Close()
	if len(types) == 0 {
		return 0, fmt.Errorf("the target has no table %s: its schema is not the source's", table)
	}
	src, err := s.db.QueryContext(ctx, `SELECT * FROM `+pgx.Identifier{table}.Sanitize()+keepVersion(table))
	if err != nil {
		return 0, err
	}
	defer src.Close()
	cols, err := src.Columns()
	if err != nil {
		return 0, err
	}
	if len(cols) != len(types) {
		return 0, fmt.Errorf("the source has %d columns, the target %d: their schemas differ", len(cols), len(types))
	}
	for _, c := range cols {
		if types[c] == "" {
			return 0, fmt.Errorf("the target has no column %s", c)
		}
	}
	var values [][]any
	for src.Next() {
		raw := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range raw {
			ptrs[i] = &raw[i]
		}
		if err := src.Scan(ptrs...); err != nil {
			return 0, err
		}
		row := make([]any, len(cols))
		for i, v := range raw {
			if row[i], err = asColumn(v, types[cols[i]]); err != nil {
				return 0, fmt.Errorf("column %s: %w", cols[i], err)
			}
		}
		values = append(values, row)
	}
	if err := src.Err(); err != nil {
		return 0, err
	}
	n, err := tx.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromRows(values))
	return int(n), err
}

// asColumn is a SQLite value as a PostgreSQL column of type typ takes it.
func asColumn(v any, typ string) (any, error) {
	if b, ok := v.([]byte); ok {
		v = string(b)
	}
	if v == nil {
		return nil, nil
	}
	switch typ {
	case "text", "character varying":
		switch x := v.(type) {
		case string:
			return x, nil
		case int64:
			return strconv.FormatInt(x, 10), nil
		case float64:
			return strconv.FormatFloat(x, 'g', -1, 64), nil
		}
	case "integer", "bigint", "smallint":
		switch x := v.(type) {
		case int64:
			return x, nil
		case string:
			return strconv.ParseInt(x, 10, 64)
		}
	default:
		return v, nil
	}
	return nil, fmt.Errorf("a %T where a %s goes", v, typ)
}
