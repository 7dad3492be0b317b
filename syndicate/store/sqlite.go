package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite" // the database/sql driver "sqlite"
)

// Open opens (creating if needed) the SQLite state at path and migrates
// it. The state holds the unsubscribe key and every reader's address: a
// folder made for it is 0700 and the database 0600 (SQLite gives its -wal
// and -shm files the database's mode).
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	if err := MakePrivate(path); err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		return nil, fmt.Errorf("opening state %s: %w", path, err)
	}
	// One connection: SQLite serialises writers anyway, and one connection
	// makes every transaction see the one before it.
	db.SetMaxOpenConns(1)
	s := &DB{db: db, now: opts.now(), ph: Question}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("state %s: %w", path, err)
	}
	return s, nil
}

// OpenReadOnly opens an existing SQLite state for a dry run, which must
// never write. It returns ErrNoState when there is none, and ErrOutdated
// when its schema is older than this program's (Open upgrades it).
func OpenReadOnly(ctx context.Context, path string, opts Options) (*DB, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoState
	}
	db, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		return nil, fmt.Errorf("opening state %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	s := &DB{db: db, readOnly: true, now: opts.now(), ph: Question}
	v, err := s.version(ctx)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("reading state %s: %w", path, err)
	}
	if v > len(migrations) {
		db.Close()
		return nil, fmt.Errorf("state %s has schema version %d, newer than this program (%d)", path, v, len(migrations))
	}
	// An older schema lacks what the queries read, and a dry run may not
	// migrate it: say so, rather than "no such table" at the first query.
	if v < len(migrations) {
		db.Close()
		return nil, fmt.Errorf("state %s has schema version %d, older than this program (%d): %w", path, v, len(migrations), ErrOutdated)
	}
	return s, nil
}

// MakePrivate creates the state's folder (0700) and an empty database file
// (0600) unless they exist, so nothing of the state is ever readable by
// others, whatever the umask.
func MakePrivate(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("state folder: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("state %s: %w", path, err)
	}
	return f.Close()
}

// Exposed reports the state's files that others may read (group or world
// permissions), and a state folder others may write (they could replace
// the state, or plant a file in its place): "check" warns about them.
func Exposed(path string) []string {
	var out []string
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err == nil && fi.Mode().Perm()&0o022 != 0 && fi.Mode()&os.ModeSticky == 0 {
		out = append(out, fmt.Sprintf("the state folder %s is writable by others (mode %04o): chmod 700 %s", dir, fi.Mode().Perm(), dir))
	}
	for _, p := range []string{path, path + "-wal", path + "-shm", path + ".lock"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode().Perm()&0o077 != 0 {
			out = append(out, fmt.Sprintf("%s is readable by others (mode %04o): chmod 600 %s", p, fi.Mode().Perm(), p))
		}
	}
	return out
}

func dsn(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	if readOnly {
		q.Add("mode", "ro")
	} else {
		// WAL with synchronous NORMAL: a commit survives the process being
		// killed (the common crash), and costs no fsync per commit.
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(NORMAL)")
	}
	q.Add("_txlock", "immediate")
	// The path is escaped: in a URI, a # or ? in a folder's name would end
	// the file name, drop the settings above and open another file.
	return "file:" + (&url.URL{Path: filepath.ToSlash(path)}).EscapedPath() + "?" + q.Encode()
}
