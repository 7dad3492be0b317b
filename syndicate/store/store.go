// Package store keeps the bot's state in an embedded SQLite database
// (modernc.org/sqlite, no cgo): the thread planned and the status posted
// for every article and post index, every digest with its fixed articles
// and readers and each reader's outcome, unsubscribes, and the secret the
// unsubscribe tokens are signed with.
//
// Every "claim work, do it, record it" step is one explicit transaction
// and the SQL is portable (no SQLite-only upserts in the logic), so a
// PostgreSQL store can meet the same interface later.
package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // the database/sql driver "sqlite"

	"github.com/syndicate-bot/syndicate/syndicate"
)

// Store is the SQLite state.
type Store struct {
	db       *sql.DB
	readOnly bool
}

// ErrNoState is returned by OpenReadOnly when no state file exists yet.
var ErrNoState = errors.New("no state yet")

// Open opens (creating if needed) the state at path and migrates it. The
// state holds the unsubscribe key and every reader's address: a folder
// made for it is 0700 and the database 0600 (SQLite gives its -wal and
// -shm files the database's mode).
func Open(ctx context.Context, path string) (*Store, error) {
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
	s := &Store{db: db}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("state %s: %w", path, err)
	}
	return s, nil
}

// OpenReadOnly opens an existing state for a dry run, which must never
// write. It returns ErrNoState when there is none.
func OpenReadOnly(ctx context.Context, path string) (*Store, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoState
	}
	db, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		return nil, fmt.Errorf("opening state %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	s := &Store{db: db, readOnly: true}
	var v int
	if err := db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'schema_version'`).Scan(&v); err != nil {
		db.Close()
		return nil, fmt.Errorf("reading state %s: %w", path, err)
	}
	if v > len(migrations) {
		db.Close()
		return nil, fmt.Errorf("state %s has schema version %d, newer than this program (%d)", path, v, len(migrations))
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
// permissions): "check" warns about them.
func Exposed(path string) []string {
	var out []string
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
	return "file:" + filepath.ToSlash(path) + "?" + q.Encode()
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Ping reports whether the state is reachable.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	return s.db.QueryRowContext(ctx, `SELECT 1`).Scan(&one)
}

// migrations are applied in order; the schema version is their count.
var migrations = []string{
	`CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
	CREATE TABLE articles (
		id          TEXT PRIMARY KEY,
		state       TEXT NOT NULL,            -- posting, posted, failed, adopted
		hash        TEXT NOT NULL,            -- the file's hash when the thread was planned
		failed_hash TEXT NOT NULL DEFAULT '', -- the file's hash when it failed
		reason      TEXT NOT NULL DEFAULT '',
		head_url    TEXT NOT NULL DEFAULT '',
		updated_at  TEXT NOT NULL
	);
	CREATE TABLE posts (
		article_id  TEXT NOT NULL REFERENCES articles(id),
		idx         INTEGER NOT NULL,
		text        TEXT NOT NULL,
		spoiler     TEXT NOT NULL,
		visibility  TEXT NOT NULL,
		language    TEXT NOT NULL,
		media_file  TEXT NOT NULL DEFAULT '',
		media_alt   TEXT NOT NULL DEFAULT '',
		idem_key    TEXT NOT NULL,
		attempted_at TEXT,                    -- set before sending: the outcome may be unknown
		status_id   TEXT,
		url         TEXT,
		posted_at   TEXT,
		PRIMARY KEY (article_id, idx)
	);
	CREATE TABLE digests (
		id           INTEGER PRIMARY KEY,
		state        TEXT NOT NULL,           -- preparing, sending, done
		created_at   TEXT NOT NULL,
		completed_at TEXT
	);
	CREATE TABLE digest_articles (
		digest_id  INTEGER NOT NULL REFERENCES digests(id),
		article_id TEXT NOT NULL,
		position   INTEGER NOT NULL,
		item       TEXT NOT NULL,             -- the article as mailed, JSON
		PRIMARY KEY (digest_id, article_id)
	);
	CREATE TABLE deliveries (
		digest_id  INTEGER NOT NULL REFERENCES digests(id),
		email_key  TEXT NOT NULL,             -- lower-case address
		email      TEXT NOT NULL,
		fields     TEXT NOT NULL,             -- the subscriber row, JSON
		state      TEXT NOT NULL,             -- pending, sent, temp, failed
		attempts   INTEGER NOT NULL DEFAULT 0,
		reply      TEXT NOT NULL DEFAULT '',
		updated_at TEXT,
		PRIMARY KEY (digest_id, email_key)
	);
	CREATE INDEX deliveries_state ON deliveries (digest_id, state);
	CREATE TABLE unsubscribes (email_key TEXT PRIMARY KEY, at TEXT NOT NULL);`,

	// 2: articles counted as mailed without being in a digest in full —
	// adopted with --mark-posted, or beyond a digest's email.max_articles
	// (listed in one line) — and that count per digest.
	`CREATE TABLE digest_skips (
		article_id TEXT PRIMARY KEY,
		digest_id  INTEGER REFERENCES digests(id), -- NULL when adopted
		reason     TEXT NOT NULL,                  -- adopted, over_max_articles
		at         TEXT NOT NULL
	);
	ALTER TABLE digests ADD COLUMN omitted INTEGER NOT NULL DEFAULT 0;`,
}

// migrate brings the schema to the newest version, one migration per
// transaction: a failed step leaves the state at the version before it.
func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`); err != nil {
		return err
	}
	for {
		done, err := s.migrateOne(ctx)
		if err != nil || done {
			return err
		}
	}
}

// migrateOne applies the next migration, if any, with its version.
func (s *Store) migrateOne(ctx context.Context) (done bool, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var version int
		err := tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'schema_version'`).Scan(&version)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if version > len(migrations) {
			return fmt.Errorf("schema version %d is newer than this program (%d)", version, len(migrations))
		}
		if version == len(migrations) {
			done = true
			return nil
		}
		m := migrations[version]
		if version == 0 {
			m = m[len(`CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);`):]
		}
		if _, err := tx.ExecContext(ctx, m); err != nil {
			return fmt.Errorf("migration %d: %w", version+1, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM meta WHERE key = 'schema_version'`); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('schema_version', ?)`, version+1)
		return err
	})
	return done, err
}

// tx runs fn in one transaction.
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	if s.readOnly {
		return errors.New("state opened read-only (dry run)")
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("state: commit: %w", err)
	}
	return nil
}

func now() string { return time.Now().UTC().Format(time.RFC3339Nano) }

// Secret returns the named secret, generating and storing 32 random bytes
// on first use. A read-only store returns "" when it has none yet.
func (s *Store) Secret(ctx context.Context, name string) ([]byte, error) {
	key := "secret:" + name
	var v string
	err := s.db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if err == nil {
		return hex.DecodeString(v)
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("state: %w", err)
	}
	if s.readOnly {
		return nil, nil
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		// Another process may have made one meanwhile: keep the first.
		if err := tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v); err == nil {
			b, err = hex.DecodeString(v)
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?)`, key, hex.EncodeToString(b))
		return err
	})
	return b, err
}

// ServerInfo returns what the last live run learned of a server.
func (s *Store) ServerInfo(ctx context.Context, server string) (syndicate.ServerInfo, bool, error) {
	var info syndicate.ServerInfo
	var v string
	err := s.db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, "server:"+server).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return info, false, nil
	}
	if err != nil {
		return info, false, fmt.Errorf("state: %w", err)
	}
	if err := json.Unmarshal([]byte(v), &info); err != nil {
		return info, false, fmt.Errorf("state: server %s: %w", server, err)
	}
	return info, true, nil
}

// RememberServer keeps what a live run learned of a server.
func (s *Store) RememberServer(ctx context.Context, server string, info syndicate.ServerInfo) error {
	b, err := json.Marshal(info)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, "server:"+server, string(b))
		return err
	})
}

// ---- articles and posts ----

// ArticleRecords returns what is recorded of every article, by ID.
func (s *Store) ArticleRecords(ctx context.Context) (map[string]syndicate.ArticleRecord, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT a.id, a.state, a.hash, a.failed_hash, a.reason, a.head_url, a.updated_at,
		(SELECT COUNT(*) FROM posts p WHERE p.article_id = a.id AND p.status_id IS NOT NULL),
		(SELECT COUNT(*) FROM posts p WHERE p.article_id = a.id),
		COALESCE((SELECT p.posted_at FROM posts p WHERE p.article_id = a.id AND p.idx = 0), '')
		FROM articles a`)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	defer rows.Close()
	out := map[string]syndicate.ArticleRecord{}
	for rows.Next() {
		var r syndicate.ArticleRecord
		var updated, posted string
		if err := rows.Scan(&r.ID, &r.State, &r.Hash, &r.FailedHash, &r.Reason, &r.HeadURL, &updated, &r.PostsDone, &r.PostsPlanned, &posted); err != nil {
			return nil, fmt.Errorf("state: %w", err)
		}
		r.UpdatedAt, _ = time.Parse(time.RFC3339Nano, updated)
		r.PostedAt, _ = time.Parse(time.RFC3339Nano, posted)
		out[r.ID] = r
	}
	return out, rows.Err()
}

// PlanThread records the thread an article will be posted as, before the
// first post goes out, so a resumed run posts the same texts. When a plan
// exists (a resumed or retried article), posts already made are kept and
// the rest are replaced by the new plan.
func (s *Store) PlanThread(ctx context.Context, articleID, hash string, posts []syndicate.PlannedPost) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE articles SET state = 'posting', hash = ?, reason = '', updated_at = ? WHERE id = ?`, hash, now(), articleID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			if _, err := tx.ExecContext(ctx, `INSERT INTO articles (id, state, hash, updated_at) VALUES (?, 'posting', ?, ?)`, articleID, hash, now()); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM posts WHERE article_id = ? AND status_id IS NULL AND attempted_at IS NULL`, articleID); err != nil {
			return err
		}
		for _, p := range posts {
			var exists int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM posts WHERE article_id = ? AND idx = ?`, articleID, p.Index).Scan(&exists); err != nil {
				return err
			}
			if exists > 0 {
				continue // made, or in doubt: the recorded text stays
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO posts (article_id, idx, text, spoiler, visibility, language, media_file, media_alt, idem_key)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, articleID, p.Index, p.Text, p.ContentWarning, p.Visibility, p.Language, p.MediaFile, p.MediaAlt, p.IdempotencyKey); err != nil {
				return err
			}
		}
		return nil
	})
}

// PlannedPosts returns an article's planned posts in order, with what is
// known of each.
func (s *Store) PlannedPosts(ctx context.Context, articleID string) ([]syndicate.PlannedPost, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT idx, text, spoiler, visibility, language, media_file, media_alt, idem_key,
		COALESCE(attempted_at, ''), COALESCE(status_id, ''), COALESCE(url, '') FROM posts WHERE article_id = ? ORDER BY idx`, articleID)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	defer rows.Close()
	var out []syndicate.PlannedPost
	for rows.Next() {
		var p syndicate.PlannedPost
		var attempted string
		if err := rows.Scan(&p.Index, &p.Text, &p.ContentWarning, &p.Visibility, &p.Language, &p.MediaFile, &p.MediaAlt, &p.IdempotencyKey, &attempted, &p.StatusID, &p.URL); err != nil {
			return nil, fmt.Errorf("state: %w", err)
		}
		if attempted != "" {
			t, _ := time.Parse(time.RFC3339Nano, attempted)
			p.AttemptedAt = t
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// MarkAttempt records that a post is about to be sent: from here until
// RecordPost its outcome is unknown if the process dies.
func (s *Store) MarkAttempt(ctx context.Context, articleID string, idx int) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE posts SET attempted_at = COALESCE(attempted_at, ?) WHERE article_id = ? AND idx = ?`, now(), articleID, idx)
		return err
	})
}

// RecordPost records the status a post became.
func (s *Store) RecordPost(ctx context.Context, articleID string, idx int, statusID, statusURL string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE posts SET status_id = ?, url = ?, posted_at = ? WHERE article_id = ? AND idx = ?`, statusID, statusURL, now(), articleID, idx); err != nil {
			return err
		}
		if idx == 0 {
			_, err := tx.ExecContext(ctx, `UPDATE articles SET head_url = ?, updated_at = ? WHERE id = ?`, statusURL, now(), articleID)
			return err
		}
		return nil
	})
}

// FinishArticle marks an article posted.
func (s *Store) FinishArticle(ctx context.Context, articleID string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE articles SET state = 'posted', reason = '', updated_at = ? WHERE id = ?`, now(), articleID)
		return err
	})
}

// FailArticle marks an article failed with the server's reason; it waits
// for a retry or an edit of its file (a new hash).
func (s *Store) FailArticle(ctx context.Context, articleID, hash, reason string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE articles SET state = 'failed', failed_hash = ?, reason = ?, updated_at = ? WHERE id = ?`, hash, reason, now(), articleID)
		if err != nil {
			return err
		}
		// The server refused the post: it does not exist, so it is not in
		// doubt, and a retry may plan it afresh.
		if _, err := tx.ExecContext(ctx, `UPDATE posts SET attempted_at = NULL WHERE article_id = ? AND status_id IS NULL`, articleID); err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			_, err = tx.ExecContext(ctx, `INSERT INTO articles (id, state, hash, failed_hash, reason, updated_at) VALUES (?, 'failed', ?, ?, ?, ?)`, articleID, hash, hash, reason, now())
		}
		return err
	})
}

// RetryArticle makes a failed article pending again; it reports false
// when the article is not failed.
func (s *Store) RetryArticle(ctx context.Context, articleID string) (bool, error) {
	var ok bool
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE articles SET state = 'posting', failed_hash = '', updated_at = ? WHERE id = ? AND state = 'failed'`, now(), articleID)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		ok = n > 0
		return nil
	})
	return ok, err
}

// AdoptArticles records articles as posted without posting them and as
// mailed without mailing them, for adopting an existing archive: only
// articles added afterwards reach posts or digests. Articles with a
// record are left alone. It returns how many were adopted for posting
// and how many for the digest.
func (s *Store) AdoptArticles(ctx context.Context, articles []*syndicate.Article) (posts, mailed int, err error) {
	n := 0
	err = s.tx(ctx, func(tx *sql.Tx) error {
		t := now()
		for _, a := range articles {
			res, err := tx.ExecContext(ctx, `INSERT INTO digest_skips (article_id, digest_id, reason, at)
				SELECT ?, NULL, 'adopted', ? WHERE NOT EXISTS (SELECT 1 FROM digest_articles WHERE article_id = ?)
				ON CONFLICT (article_id) DO NOTHING`, a.ID, t, a.ID)
			if err != nil {
				return err
			}
			if k, _ := res.RowsAffected(); k > 0 {
				mailed++
			}
		}
		for _, a := range articles {
			var exists int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM articles WHERE id = ?`, a.ID).Scan(&exists); err != nil {
				return err
			}
			if exists > 0 {
				continue
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO articles (id, state, hash, updated_at) VALUES (?, 'adopted', ?, ?)`, a.ID, a.Hash, now()); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, mailed, err
}

// ---- digests ----

// DigestedArticles returns the IDs of the articles in any digest, sent or
// being sent: they never go into a new one.
func (s *Store) DigestedArticles(ctx context.Context) (map[string]bool, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT article_id FROM digest_articles UNION SELECT article_id FROM digest_skips`)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out[id] = true
	}
	return out, rows.Err()
}

// OpenDigest returns the digest that is not done (being prepared or sent),
// if there is one.
func (s *Store) OpenDigest(ctx context.Context) (syndicate.DigestRecord, bool, error) {
	var d syndicate.DigestRecord
	var created string
	err := s.db.QueryRowContext(ctx, `SELECT id, state, created_at, omitted FROM digests WHERE state <> 'done' ORDER BY id LIMIT 1`).Scan(&d.ID, &d.State, &created, &d.Omitted)
	if errors.Is(err, sql.ErrNoRows) {
		return d, false, nil
	}
	if err != nil {
		return d, false, fmt.Errorf("state: %w", err)
	}
	d.CreatedAt, _ = time.Parse(time.RFC3339Nano, created)
	return d, true, nil
}

// CreateDigest fixes a new digest's articles: items are mailed in full,
// omitted (article IDs beyond email.max_articles) are listed in one line
// and count as mailed too. Its readers are added with AddReaders, then
// StartDigest marks it ready to send.
func (s *Store) CreateDigest(ctx context.Context, items []syndicate.DigestItem, omitted []string) (int64, error) {
	var id int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		created := now()
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) + 1 FROM digests`).Scan(&id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO digests (id, state, created_at, omitted) VALUES (?, 'preparing', ?, ?)`, id, created, len(omitted)); err != nil {
			return err
		}
		for _, a := range omitted {
			if _, err := tx.ExecContext(ctx, `INSERT INTO digest_skips (article_id, digest_id, reason, at) VALUES (?, ?, 'over_max_articles', ?)`, a, id, created); err != nil {
				return err
			}
		}
		for i, it := range items {
			b, err := json.Marshal(it)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO digest_articles (digest_id, article_id, position, item) VALUES (?, ?, ?, ?)`, id, it.ID, i, string(b)); err != nil {
				return err
			}
		}
		return nil
	})
	return id, err
}

// DigestItems returns a digest's fixed articles in order.
func (s *Store) DigestItems(ctx context.Context, digestID int64) ([]syndicate.DigestItem, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT item FROM digest_articles WHERE digest_id = ? ORDER BY position`, digestID)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	defer rows.Close()
	var out []syndicate.DigestItem
	for rows.Next() {
		var raw string
		if err := rows.Scan(&raw); err != nil {
			return nil, err
		}
		var it syndicate.DigestItem
		if err := json.Unmarshal([]byte(raw), &it); err != nil {
			return nil, fmt.Errorf("state: digest %d item: %w", digestID, err)
		}
		out = append(out, it)
	}
	return out, rows.Err()
}

// ResetReaders drops the reader list of a digest still being prepared
// (an interrupted preparation starts over).
func (s *Store) ResetReaders(ctx context.Context, digestID int64) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM deliveries WHERE digest_id = ?`, digestID)
		return err
	})
}

// AddReaders adds readers to a digest being prepared, skipping the
// unsubscribed and addresses already in it. It returns how many it added.
func (s *Store) AddReaders(ctx context.Context, digestID int64, readers []syndicate.Reader) (int, error) {
	added := 0
	err := s.tx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO deliveries (digest_id, email_key, email, fields, state)
			SELECT ?, ?, ?, ?, 'pending'
			WHERE NOT EXISTS (SELECT 1 FROM unsubscribes WHERE email_key = ?)
			AND NOT EXISTS (SELECT 1 FROM deliveries WHERE digest_id = ? AND email_key = ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, r := range readers {
			key := syndicate.EmailKey(r.Email)
			fields, err := json.Marshal(r.Fields)
			if err != nil {
				return err
			}
			res, err := stmt.ExecContext(ctx, digestID, key, r.Email, string(fields), key, digestID, key)
			if err != nil {
				return err
			}
			n, _ := res.RowsAffected()
			added += int(n)
		}
		return nil
	})
	return added, err
}

// StartDigest marks a prepared digest ready to send.
func (s *Store) StartDigest(ctx context.Context, digestID int64) error {
	return s.setDigestState(ctx, digestID, "sending")
}

// FinishDigest marks a digest done: every reader has an outcome.
func (s *Store) FinishDigest(ctx context.Context, digestID int64) error {
	return s.setDigestState(ctx, digestID, "done")
}

func (s *Store) setDigestState(ctx context.Context, digestID int64, state string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var done any
		if state == "done" {
			done = now()
		}
		_, err := tx.ExecContext(ctx, `UPDATE digests SET state = ?, completed_at = COALESCE(?, completed_at) WHERE id = ?`, state, done, digestID)
		return err
	})
}

// PendingDeliveries returns up to limit readers of a digest after the
// given key who have no final outcome (never tried, or a temporary failure
// with fewer than maxAttempts attempts), skipping the unsubscribed.
func (s *Store) PendingDeliveries(ctx context.Context, digestID int64, afterKey string, maxAttempts, limit int) ([]syndicate.Delivery, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT d.email_key, d.email, d.fields, d.state, d.attempts FROM deliveries d
		WHERE d.digest_id = ? AND d.email_key > ? AND (d.state = 'pending' OR (d.state = 'temp' AND d.attempts < ?))
		AND NOT EXISTS (SELECT 1 FROM unsubscribes u WHERE u.email_key = d.email_key)
		ORDER BY d.email_key LIMIT ?`, digestID, afterKey, maxAttempts, limit)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	defer rows.Close()
	var out []syndicate.Delivery
	for rows.Next() {
		var d syndicate.Delivery
		var fields string
		if err := rows.Scan(&d.Key, &d.Reader.Email, &fields, &d.State, &d.Attempts); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(fields), &d.Reader.Fields); err != nil {
			return nil, fmt.Errorf("state: reader fields: %w", err)
		}
		d.Reader.Name = d.Reader.Fields["name"]
		out = append(out, d)
	}
	return out, rows.Err()
}

// CountPending counts the readers of a digest with no final outcome, as
// PendingDeliveries would list them.
func (s *Store) CountPending(ctx context.Context, digestID int64, maxAttempts int) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM deliveries d
		WHERE d.digest_id = ? AND (d.state = 'pending' OR (d.state = 'temp' AND d.attempts < ?))
		AND NOT EXISTS (SELECT 1 FROM unsubscribes u WHERE u.email_key = d.email_key)`, digestID, maxAttempts).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("state: %w", err)
	}
	return n, nil
}

// RecordOutcomes records a batch of delivery outcomes in one transaction.
func (s *Store) RecordOutcomes(ctx context.Context, digestID int64, outcomes []syndicate.Outcome) error {
	if len(outcomes) == 0 {
		return nil
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `UPDATE deliveries SET state = ?, attempts = attempts + 1, reply = ?, updated_at = ? WHERE digest_id = ? AND email_key = ?`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		t := now()
		for _, o := range outcomes {
			if _, err := stmt.ExecContext(ctx, o.State, o.Reply, t, digestID, o.Key); err != nil {
				return err
			}
		}
		return nil
	})
}

// GiveUp records as failed the readers of a digest whose temporary
// failures reached maxAttempts; it returns how many.
func (s *Store) GiveUp(ctx context.Context, digestID int64, maxAttempts int) (int, error) {
	var n int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE deliveries SET state = 'failed', reply = 'gave up after repeated temporary failures: ' || reply
			WHERE digest_id = ? AND state = 'temp' AND attempts >= ?`, digestID, maxAttempts)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return int(n), err
}

// RetryFailed makes a digest's permanently failed readers pending again.
func (s *Store) RetryFailed(ctx context.Context, digestID int64) (int, error) {
	var n int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE deliveries SET state = 'pending', attempts = 0 WHERE digest_id = ? AND state = 'failed'`, digestID)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		if n > 0 {
			_, err = tx.ExecContext(ctx, `UPDATE digests SET state = 'sending' WHERE id = ?`, digestID)
		}
		return err
	})
	return int(n), err
}

// LastDigest returns the newest digest.
func (s *Store) LastDigest(ctx context.Context) (syndicate.DigestRecord, bool, error) {
	list, err := s.Digests(ctx, 1)
	if err != nil || len(list) == 0 {
		return syndicate.DigestRecord{}, false, err
	}
	return list[0], true, nil
}

// Digests returns the newest digests with their delivery counts.
func (s *Store) Digests(ctx context.Context, limit int) ([]syndicate.DigestRecord, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT g.id, g.state, g.created_at, COALESCE(g.completed_at, ''), g.omitted,
		(SELECT COUNT(*) FROM digest_articles a WHERE a.digest_id = g.id),
		(SELECT COUNT(*) FROM deliveries d WHERE d.digest_id = g.id AND d.state = 'sent'),
		(SELECT COUNT(*) FROM deliveries d WHERE d.digest_id = g.id AND d.state = 'failed'),
		(SELECT COUNT(*) FROM deliveries d WHERE d.digest_id = g.id AND d.state IN ('pending', 'temp'))
		FROM digests g ORDER BY g.id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	defer rows.Close()
	var out []syndicate.DigestRecord
	for rows.Next() {
		var d syndicate.DigestRecord
		var created, completed string
		if err := rows.Scan(&d.ID, &d.State, &created, &completed, &d.Omitted, &d.Articles, &d.Sent, &d.Failed, &d.Pending); err != nil {
			return nil, err
		}
		d.CreatedAt, _ = time.Parse(time.RFC3339Nano, created)
		d.CompletedAt, _ = time.Parse(time.RFC3339Nano, completed)
		out = append(out, d)
	}
	return out, rows.Err()
}

// ---- unsubscribes ----

// Unsubscribed returns every address that asked for no more mail, by
// EmailKey (a dry run counts the readers a send would mail).
func (s *Store) Unsubscribed(ctx context.Context) (map[string]bool, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT email_key FROM unsubscribes`)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		out[k] = true
	}
	return out, rows.Err()
}

// Unsubscribe records that an address wants no more mail.
func (s *Store) Unsubscribe(ctx context.Context, email string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		key := syndicate.EmailKey(email)
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM unsubscribes WHERE email_key = ?`, key).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO unsubscribes (email_key, at) VALUES (?, ?)`, key, now())
		return err
	})
}
