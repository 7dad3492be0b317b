package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
)

// migrations are the schema's versioned steps, applied in order, each in
// a transaction of its own that also records the version it reaches: a
// failed step leaves the state at the version before it. The schema
// version is how many have been applied. Add a step at the end and never
// change one that has shipped: states out there are at its version.
//
// The meta table, which holds the version, is made by migrate before the
// first step. The SQL is portable, run as it is by SQLite and PostgreSQL
// (TEXT and INTEGER columns, times as RFC 3339 text, digest IDs from a
// counter row rather than from either database's own sequences).
var migrations = []func(tx *sql.Tx) error{
	// 1: articles and their posts, digests with their articles and
	// deliveries, unsubscribes.
	func(tx *sql.Tx) error {
		_, err := tx.Exec(`
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
		CREATE TABLE unsubscribes (email_key TEXT PRIMARY KEY, at TEXT NOT NULL);`)
		return err
	},

	// 2: articles counted as mailed without being in a digest in full —
	// adopted with --mark-posted, or beyond a digest's email.max_articles
	// (listed in one line) — and that count per digest.
	func(tx *sql.Tx) error {
		_, err := tx.Exec(`
		CREATE TABLE digest_skips (
			article_id TEXT PRIMARY KEY,
			digest_id  INTEGER REFERENCES digests(id), -- NULL when adopted
			reason     TEXT NOT NULL,                  -- adopted, over_max_articles
			at         TEXT NOT NULL
		);
		ALTER TABLE digests ADD COLUMN omitted INTEGER NOT NULL DEFAULT 0;`)
		return err
	},

	// 3: feeds — what the last fetch of each said (for a conditional GET
	// and Retry-After) and every item seen, as the article it became, so
	// that dry runs, status and the digest see items the feed has moved
	// past.
	func(tx *sql.Tx) error {
		_, err := tx.Exec(`
		CREATE TABLE feeds (
			name          TEXT PRIMARY KEY,
			url           TEXT NOT NULL,
			etag          TEXT NOT NULL DEFAULT '',
			last_modified TEXT NOT NULL DEFAULT '',
			fetched_at    TEXT,                      -- the last fetch that worked; NULL: never (the next one adopts)
			adopted_at    TEXT,                      -- when its first items were recorded as done
			retry_at      TEXT,                      -- not before (a 429's or 503's Retry-After)
			problem       TEXT NOT NULL DEFAULT '',  -- the last fetch's error
			updated_at    TEXT NOT NULL
		);
		CREATE TABLE feed_items (
			id         TEXT PRIMARY KEY,
			feed       TEXT NOT NULL,
			url        TEXT NOT NULL DEFAULT '',
			hash       TEXT NOT NULL,
			first_seen TEXT NOT NULL,
			article    TEXT NOT NULL                 -- the article it became, JSON
		);
		CREATE INDEX feed_items_feed ON feed_items (feed);`)
		return err
	},

	// 4: threads per article and network. An article's row and its posts'
	// rows gain a network, part of their keys, and a post what a Bluesky
	// retry must repeat exactly (its record key and createdAt, the link
	// card) and its CID. Every thread before this step was Mastodon's.
	// The tables are rebuilt (SQLite cannot change a primary key) and
	// renamed back; no other table is touched, so this step commutes with
	// steps that only add tables of their own.
	migrateThreadsPerNetwork,

	// 5: corrections and retractions. A post gains its kind in the thread
	// (post, correction, removed), a correction's front-matter text (a
	// text is posted once), and when it was edited or deleted; an article
	// when its thread was last edited, corrected and deleted. The edits
	// and deletes planned before their first request are kept in
	// post_changes until applied, and what the next digest says of an
	// article (a correction, a retraction) in notices, with the digest
	// that carried it. Only new columns and tables: no row is rewritten.
	func(tx *sql.Tx) error {
		_, err := tx.Exec(`
		ALTER TABLE posts ADD COLUMN kind TEXT NOT NULL DEFAULT 'post';
		ALTER TABLE posts ADD COLUMN note TEXT NOT NULL DEFAULT '';
		ALTER TABLE posts ADD COLUMN edited_at TEXT;
		ALTER TABLE posts ADD COLUMN deleted_at TEXT;
		ALTER TABLE articles ADD COLUMN edited_at TEXT;
		ALTER TABLE articles ADD COLUMN corrected_at TEXT;
		ALTER TABLE articles ADD COLUMN retracted_at TEXT;
		CREATE TABLE post_changes (
			article_id TEXT NOT NULL,
			network    TEXT NOT NULL,
			idx        INTEGER NOT NULL,         -- the post changed
			kind       TEXT NOT NULL,            -- edit, remove, delete
			text       TEXT NOT NULL DEFAULT '', -- the new content (edit, remove)
			spoiler    TEXT NOT NULL DEFAULT '',
			language   TEXT NOT NULL DEFAULT '',
			media_file TEXT NOT NULL DEFAULT '',
			media_alt  TEXT NOT NULL DEFAULT '',
			planned_at TEXT NOT NULL,
			PRIMARY KEY (article_id, network, idx)
		);
		CREATE TABLE notices (
			article_id TEXT NOT NULL,
			kind       TEXT NOT NULL,            -- correction, retraction
			text       TEXT NOT NULL DEFAULT '', -- the correction ('' for a retraction)
			title      TEXT NOT NULL DEFAULT '',
			url        TEXT NOT NULL DEFAULT '',
			at         TEXT NOT NULL,
			digest_id  INTEGER,                  -- the digest that carried it; NULL: the next one
			PRIMARY KEY (article_id, kind, text)
		);`)
		return err
	},

	// 6: a digest made once per schedule slot — replicas on one database
	// ticking at once make one issue: a unique key, NULL for a run asked
	// for by hand — and digest IDs from a counter row, not MAX(id) + 1,
	// which two replicas could both take.
	func(tx *sql.Tx) error {
		_, err := tx.Exec(`
		CREATE TABLE sequences (
			name  TEXT PRIMARY KEY,
			value INTEGER NOT NULL                  -- the last value given
		);
		INSERT INTO sequences (name, value) SELECT 'digests', COALESCE(MAX(id), 0) FROM digests;
		ALTER TABLE digests ADD COLUMN slot TEXT; -- e.g. tick:2026-11-30T07:00:00Z; NULL: by hand
		CREATE UNIQUE INDEX digests_slot ON digests (slot);`)
		return err
	},

	// 7: claims under a lease — the replica preparing a digest's reader
	// list, and the one mailing a reader — so that replicas share a
	// digest and a dead one's share is taken again when its lease runs
	// out. claimed_until is a fixed-width UTC time (leaseLayout): compared
	// as text, it orders as time.
	func(tx *sql.Tx) error {
		_, err := tx.Exec(`
		ALTER TABLE digests ADD COLUMN claimed_by TEXT NOT NULL DEFAULT '';
		ALTER TABLE digests ADD COLUMN claimed_until TEXT;
		ALTER TABLE deliveries ADD COLUMN claimed_by TEXT NOT NULL DEFAULT '';
		ALTER TABLE deliveries ADD COLUMN claimed_until TEXT;`)
		return err
	},
}

// migrateThreadsPerNetwork is step 4 (see migrations).
func migrateThreadsPerNetwork(tx *sql.Tx) error {
	_, err := tx.Exec(`
	CREATE TABLE articles_v4 (
		id          TEXT NOT NULL,
		network     TEXT NOT NULL,            -- mastodon, bluesky
		state       TEXT NOT NULL,            -- posting, posted, failed, adopted
		hash        TEXT NOT NULL,            -- the file's hash when the thread was planned
		failed_hash TEXT NOT NULL DEFAULT '', -- the file's hash when it failed
		reason      TEXT NOT NULL DEFAULT '',
		head_url    TEXT NOT NULL DEFAULT '',
		updated_at  TEXT NOT NULL,
		PRIMARY KEY (id, network)
	);
	INSERT INTO articles_v4 (id, network, state, hash, failed_hash, reason, head_url, updated_at)
		SELECT id, 'mastodon', state, hash, failed_hash, reason, head_url, updated_at FROM articles;
	CREATE TABLE posts_v4 (
		article_id        TEXT NOT NULL,
		network           TEXT NOT NULL,
		idx               INTEGER NOT NULL,
		text              TEXT NOT NULL,
		spoiler           TEXT NOT NULL,
		visibility        TEXT NOT NULL,
		language          TEXT NOT NULL,
		media_file        TEXT NOT NULL DEFAULT '',
		media_alt         TEXT NOT NULL DEFAULT '',
		idem_key          TEXT NOT NULL,
		record_key        TEXT NOT NULL DEFAULT '', -- Bluesky: the planned TID
		record_created_at TEXT NOT NULL DEFAULT '', -- Bluesky: the record's planned createdAt
		card_url          TEXT NOT NULL DEFAULT '',
		card_title        TEXT NOT NULL DEFAULT '',
		card_description  TEXT NOT NULL DEFAULT '',
		attempted_at      TEXT,                     -- set before sending: the outcome may be unknown
		status_id         TEXT,
		url               TEXT,
		cid               TEXT NOT NULL DEFAULT '', -- Bluesky: the record's CID, which replies name
		posted_at         TEXT,
		PRIMARY KEY (article_id, network, idx),
		FOREIGN KEY (article_id, network) REFERENCES articles_v4 (id, network)
	);
	INSERT INTO posts_v4 (article_id, network, idx, text, spoiler, visibility, language, media_file, media_alt, idem_key,
			attempted_at, status_id, url, posted_at)
		SELECT article_id, 'mastodon', idx, text, spoiler, visibility, language, media_file, media_alt, idem_key,
			attempted_at, status_id, url, posted_at FROM posts;
	DROP TABLE posts;
	DROP TABLE articles;
	ALTER TABLE articles_v4 RENAME TO articles;
	ALTER TABLE posts_v4 RENAME TO posts;`)
	return err
}

// schemaVersion is the meta key of the schema version.
const schemaVersion = "schema_version"

// migrate brings the schema to the newest version, one step at a time.
func (s *DB) migrate(ctx context.Context) error {
	for {
		done, err := s.migrateOne(ctx)
		if err != nil || done {
			return err
		}
	}
}

// migrateOne applies the next step, if any, and records its version.
func (s *DB) migrateOne(ctx context.Context) (done bool, err error) {
	err = s.tx(ctx, func(t txn) error {
		// Replicas starting at once on one PostgreSQL database take turns
		// (SQLite's writer holds the database already); the meta table is
		// made in the same turn.
		if s.dialect.migrationLock != "" {
			if _, err := t.exec(ctx, s.dialect.migrationLock); err != nil {
				return err
			}
		}
		if _, err := t.exec(ctx, `CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`); err != nil {
			return err
		}
		version, err := readVersion(t.queryRow(ctx, `SELECT value FROM meta WHERE key = ?`, schemaVersion))
		if errors.Is(err, sql.ErrNoRows) {
			version, err = 0, nil // a new state
		}
		if err != nil {
			return err
		}
		switch {
		case version > len(migrations):
			return fmt.Errorf("schema version %d is newer than this program (%d)", version, len(migrations))
		case version == len(migrations):
			done = true
			return nil
		}
		if err := migrations[version](t.tx); err != nil {
			return fmt.Errorf("migration %d: %w", version+1, err)
		}
		_, err = t.exec(ctx, `INSERT INTO meta (key, value) VALUES (?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value`, schemaVersion, strconv.Itoa(version+1))
		return err
	})
	return done, err
}

// version reads the schema version of the state.
func (s *DB) version(ctx context.Context) (int, error) {
	return readVersion(s.queryRow(ctx, `SELECT value FROM meta WHERE key = ?`, schemaVersion))
}

func readVersion(row *sql.Row) (int, error) {
	var v string
	if err := row.Scan(&v); err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("schema version %q: %w", v, err)
	}
	return n, nil
}
