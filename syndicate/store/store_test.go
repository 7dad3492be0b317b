package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/job"
	"github.com/syndicate-bot/syndicate/syndicate/store"
	"github.com/syndicate-bot/syndicate/syndicate/store/storetest"
	"github.com/syndicate-bot/syndicate/syndicate/unsubscribe"
)

// The store is what the jobs and the commands take.
var (
	_ syndicate.PostLedger = store.Store(nil)
	_ job.DigestLedger     = store.Store(nil)
	_ unsubscribe.Store    = store.Store(nil)
)

var ctx = context.Background()

func statePath(t *testing.T) string {
	return filepath.Join(t.TempDir(), "state", "syndicate.db")
}

func open(t *testing.T, path string) *store.DB {
	t.Helper()
	st, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestDB_Contract(t *testing.T) {
	storetest.Run(t, func(t *testing.T, opts store.Options) store.Store {
		st, err := store.Open(ctx, statePath(t), opts)
		if err != nil {
			t.Fatal(err)
		}
		return st
	})
}

// raw opens the state's database without the store, for what the store
// cannot be asked to do: write an old schema, a broken row.
func raw(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func exec(t *testing.T, db *sql.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.Exec(query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func schemaVersion(t *testing.T, db *sql.DB) string {
	t.Helper()
	var v string
	if err := db.QueryRow(`SELECT value FROM meta WHERE key = 'schema_version'`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// version1 is the SQL of migration 1 exactly as it shipped (commit
// 1f03003, unchanged until migration 2 came in aa1968e).
const version1 = `CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
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
	CREATE TABLE unsubscribes (email_key TEXT PRIMARY KEY, at TEXT NOT NULL);`

const secretHex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

// writeVersion1 makes a state at schema version 1 with a posted, a
// half-posted and a failed article, a digest done and one being sent,
// an unsubscribe and a secret, as a program of that time left it.
func writeVersion1(t *testing.T, path string) {
	t.Helper()
	if err := store.MakePrivate(path); err != nil {
		t.Fatal(err)
	}
	db := raw(t, path)
	exec(t, db, version1)
	exec(t, db, `INSERT INTO meta (key, value) VALUES ('schema_version', ?)`, 1) // an int, as it was written
	exec(t, db, `INSERT INTO meta (key, value) VALUES ('secret:unsubscribe', ?)`, secretHex)
	exec(t, db, `INSERT INTO articles (id, state, hash, failed_hash, reason, head_url, updated_at) VALUES
		('wind', 'posted', 'h-wind', '', '', 'https://example.social/@bot/1', '2026-10-01T08:00:02.5Z'),
		('library', 'posting', 'h-lib', '', '', 'https://example.social/@bot/3', '2026-10-02T08:00:00Z'),
		('auction', 'failed', 'h-auc', 'h-auc', 'Validation failed', '', '2026-10-03T08:00:00Z')`)
	exec(t, db, `INSERT INTO posts (article_id, idx, text, spoiler, visibility, language, media_file, media_alt, idem_key, attempted_at, status_id, url, posted_at) VALUES
		('wind', 0, 'Wind head', '', 'public', 'en', 'wind.png', 'Turbines', 'k0', '2026-10-01T08:00:00Z', '1', 'https://example.social/@bot/1', '2026-10-01T08:00:01Z'),
		('wind', 1, 'Wind reply', 'cw', 'unlisted', 'en', '', '', 'k1', '2026-10-01T08:00:02Z', '2', 'https://example.social/@bot/2', '2026-10-01T08:00:02.5Z'),
		('library', 0, 'Library head', '', 'public', 'en', '', '', 'k2', '2026-10-02T08:00:00Z', '3', 'https://example.social/@bot/3', '2026-10-02T08:00:00Z'),
		('library', 1, 'Library reply', '', 'unlisted', 'en', '', '', '', '2026-10-02T08:00:01Z', NULL, NULL, NULL),
		('library', 2, 'Library last', '', 'unlisted', 'en', '', '', '', NULL, NULL, NULL, NULL)`)
	exec(t, db, `INSERT INTO digests (id, state, created_at, completed_at) VALUES
		(1, 'done', '2026-10-05T07:00:00Z', '2026-10-05T07:01:00Z'),
		(2, 'sending', '2026-10-12T07:00:00Z', NULL)`)
	exec(t, db, `INSERT INTO digest_articles (digest_id, article_id, position, item) VALUES
		(1, 'wind', 0, '{"id":"wind","title":"Wind","url":"https://news.example.org/wind","key_points":["One","Two"]}'),
		(2, 'library', 0, '{"id":"library","title":"Library"}')`)
	exec(t, db, `INSERT INTO deliveries (digest_id, email_key, email, fields, state, attempts, reply, updated_at) VALUES
		(1, 'ada@example.org', 'Ada@example.org', '{"email":"Ada@example.org","name":"Ada"}', 'sent', 1, '250 ok', '2026-10-05T07:00:30Z'),
		(1, 'bob@example.org', 'bob@example.org', '{"email":"bob@example.org"}', 'failed', 1, '550 no', '2026-10-05T07:00:31Z'),
		(2, 'ada@example.org', 'Ada@example.org', '{"email":"Ada@example.org","name":"Ada"}', 'pending', 0, '', NULL),
		(2, 'cy@example.org', 'cy@example.org', '{"email":"cy@example.org","name":"Cy"}', 'temp', 2, '451 later', '2026-10-12T07:00:10Z')`)
	exec(t, db, `INSERT INTO unsubscribes (email_key, at) VALUES ('bob@example.org', '2026-10-06T10:00:00Z')`)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestOpen_MigratesFromVersion1(t *testing.T) {
	path := statePath(t)
	writeVersion1(t, path)
	// A dry run cannot migrate: it says so and leaves the state alone.
	if _, err := store.OpenReadOnly(ctx, path, store.Options{}); !errors.Is(err, store.ErrOutdated) {
		t.Errorf("OpenReadOnly of version 1 = %v, want ErrOutdated", err)
	}
	if got := schemaVersion(t, raw(t, path)); got != "1" {
		t.Errorf("schema version after OpenReadOnly = %s, want 1", got)
	}

	st := open(t, path)
	defer st.Close()

	if got, want := schemaVersion(t, raw(t, path)), fmt.Sprint(store.SchemaVersion()); got != want {
		t.Errorf("schema version = %s, want %s", got, want)
	}
	records, err := st.ArticleRecords(ctx, syndicate.NetworkMastodon)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]syndicate.ArticleRecord{
		"wind": {ID: "wind", Network: syndicate.NetworkMastodon, State: syndicate.StatePosted, Hash: "h-wind", HeadURL: "https://example.social/@bot/1",
			PostedAt: mustTime(t, "2026-10-01T08:00:01Z"), UpdatedAt: mustTime(t, "2026-10-01T08:00:02.5Z"), PostsDone: 2, PostsPlanned: 2, Source: "folder"},
		"library": {ID: "library", Network: syndicate.NetworkMastodon, State: syndicate.StatePosting, Hash: "h-lib", HeadURL: "https://example.social/@bot/3",
			PostedAt: mustTime(t, "2026-10-02T08:00:00Z"), UpdatedAt: mustTime(t, "2026-10-02T08:00:00Z"), PostsDone: 1, PostsPlanned: 3, Source: "folder"},
		"auction": {ID: "auction", Network: syndicate.NetworkMastodon, State: syndicate.StateFailed, Hash: "h-auc", FailedHash: "h-auc", Reason: "Validation failed",
			UpdatedAt: mustTime(t, "2026-10-03T08:00:00Z"), Source: "folder"},
	}
	if !reflect.DeepEqual(records, want) {
		t.Errorf("ArticleRecords =\n%+v\nwant\n%+v", records, want)
	}
	posts, err := st.PlannedPosts(ctx, syndicate.NetworkMastodon, "library")
	if err != nil {
		t.Fatal(err)
	}
	if len(posts) != 3 || posts[0].StatusID != "3" || !posts[1].AttemptedAt.Equal(mustTime(t, "2026-10-02T08:00:01Z")) || posts[1].StatusID != "" || !posts[2].AttemptedAt.IsZero() {
		t.Errorf("the half-posted thread = %+v", posts)
	}
	wind, err := st.PlannedPosts(ctx, syndicate.NetworkMastodon, "wind")
	if err != nil {
		t.Fatal(err)
	}
	if w := wind[0]; w.MediaFile != "wind.png" || w.MediaAlt != "Turbines" || w.IdempotencyKey != "k0" || wind[1].ContentWarning != "cw" {
		t.Errorf("the posted thread = %+v", wind)
	}

	// The digest being sent is resumed, with no articles omitted.
	d, isOpen, err := st.OpenDigest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !isOpen || d.ID != 2 || d.State != syndicate.DigestSending || d.Omitted != 0 || !d.CreatedAt.Equal(mustTime(t, "2026-10-12T07:00:00Z")) {
		t.Errorf("OpenDigest = %+v, %v", d, isOpen)
	}
	pending, err := st.PendingDeliveries(ctx, 2, "", job.MaxAttempts, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 2 || pending[0].Reader.Name != "Ada" || pending[1].Key != "cy@example.org" || pending[1].Attempts != 2 {
		t.Errorf("PendingDeliveries = %+v", pending)
	}
	list, err := st.Digests(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[1].Sent != 1 || list[1].Failed != 1 || list[1].Articles != 1 || !list[1].CompletedAt.Equal(mustTime(t, "2026-10-05T07:01:00Z")) || list[0].Pending != 2 {
		t.Errorf("Digests = %+v", list)
	}
	items, err := st.DigestItems(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 || items[0].Title != "Wind" || !reflect.DeepEqual(items[0].KeyPoints, []string{"One", "Two"}) {
		t.Errorf("DigestItems = %+v", items)
	}
	done, err := st.DigestedArticles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(done, map[string]bool{"wind": true, "library": true}) {
		t.Errorf("DigestedArticles = %v", done)
	}
	un, err := st.Unsubscribed(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(un, map[string]bool{"bob@example.org": true}) {
		t.Errorf("Unsubscribed = %v", un)
	}
	secret, err := st.Secret(ctx, "unsubscribe")
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(secret) != secretHex {
		t.Errorf("the unsubscribe secret changed: %x", secret)
	}

	// What migration 2 brought works on the old data.
	if _, mailed, err := st.AdoptArticles(ctx, []*syndicate.Article{{ID: "wind"}, {ID: "auction"}}, []string{syndicate.NetworkMastodon}, true); err != nil || mailed != 1 {
		t.Errorf("AdoptArticles = %d mailed, %v; want 1 (wind is in digest 1)", mailed, err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	// Opening again changes nothing, and the schema is a new state's.
	open2 := open(t, path)
	open2.Close()
	if got, want := schemaVersion(t, raw(t, path)), fmt.Sprint(store.SchemaVersion()); got != want {
		t.Errorf("schema version after a second open = %s, want %s", got, want)
	}
	fresh := statePath(t)
	open(t, fresh).Close()
	if got, want := schema(t, raw(t, path)), schema(t, raw(t, fresh)); got != want {
		t.Errorf("the migrated schema differs from a new state's:\n%s\nwant\n%s", got, want)
	}
}

// schema describes every table's columns and every index.
func schema(t *testing.T, db *sql.DB) string {
	t.Helper()
	rows, err := db.Query(`SELECT type, name, tbl_name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name`)
	if err != nil {
		t.Fatal(err)
	}
	var objects [][3]string
	for rows.Next() {
		var o [3]string
		if err := rows.Scan(&o[0], &o[1], &o[2]); err != nil {
			t.Fatal(err)
		}
		objects = append(objects, o)
	}
	rows.Close()
	var b strings.Builder
	for _, o := range objects {
		fmt.Fprintf(&b, "%s %s on %s\n", o[0], o[1], o[2])
		pragma := "table_xinfo"
		if o[0] == "index" {
			pragma = "index_xinfo"
		}
		cols, err := db.Query(`SELECT * FROM pragma_`+pragma+`(?)`, o[1])
		if err != nil {
			t.Fatal(err)
		}
		names, _ := cols.Columns()
		for cols.Next() {
			vals := make([]any, len(names))
			ptrs := make([]any, len(names))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := cols.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "  %v\n", vals)
		}
		cols.Close()
	}
	return b.String()
}

func TestOpen_NewerSchemaIsRefused(t *testing.T) {
	path := statePath(t)
	open(t, path).Close()
	exec(t, raw(t, path), `UPDATE meta SET value = '99' WHERE key = 'schema_version'`)
	if _, err := store.Open(ctx, path, store.Options{}); err == nil || !strings.Contains(err.Error(), "newer than this program") {
		t.Errorf("Open = %v, want a newer-schema error", err)
	}
	if _, err := store.OpenReadOnly(ctx, path, store.Options{}); err == nil || !strings.Contains(err.Error(), "newer than this program") {
		t.Errorf("OpenReadOnly = %v, want a newer-schema error", err)
	}
	if got := schemaVersion(t, raw(t, path)); got != "99" {
		t.Errorf("schema version = %s, want it left alone", got)
	}
}

func TestOpen_IsPrivate(t *testing.T) {
	path := statePath(t)
	st := open(t, path)
	if _, err := st.Secret(ctx, "unsubscribe"); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{filepath.Dir(path): 0o700, path: 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %04o, want %04o", p, got, want)
		}
	}
	if got := store.Exposed(path); len(got) != 0 {
		t.Errorf("Exposed = %q, want none", got)
	}
	st.Close()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	got := store.Exposed(path)
	if len(got) != 1 || !strings.Contains(got[0], "chmod 600 "+path) {
		t.Errorf("Exposed = %q, want the database named with the fix", got)
	}
	// A state folder others may write is a warning of its own.
	os.Chmod(path, 0o600)
	if err := os.Chmod(filepath.Dir(path), 0o777); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(filepath.Dir(path), 0o700)
	if got := store.Exposed(path); len(got) != 1 || !strings.Contains(got[0], "is writable by others (mode 0777): chmod 700") {
		t.Errorf("Exposed with a world-writable folder = %q", got)
	}
	os.Chmod(path, 0o644)
	// MakePrivate leaves an existing state alone.
	if err := store.MakePrivate(path); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Errorf("MakePrivate changed an existing file's mode to %04o", fi.Mode().Perm())
	}
}

func TestOpenReadOnly_NoState(t *testing.T) {
	path := statePath(t)
	if _, err := store.OpenReadOnly(ctx, path, store.Options{}); !errors.Is(err, store.ErrNoState) {
		t.Errorf("OpenReadOnly = %v, want ErrNoState", err)
	}
	if _, err := os.Stat(filepath.Dir(path)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OpenReadOnly made the state's folder: %v", err)
	}
}

// snapshot is every file of a folder with its content, time and mode.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = fmt.Sprintf("%d bytes %x, %s, %s", len(b), sha256.Sum256(b), fi.ModTime().Format(time.RFC3339Nano), fi.Mode())
	}
	return out
}

func TestOpenReadOnly_NeverWrites(t *testing.T) {
	path := statePath(t)
	st := open(t, path)
	if err := st.PlanThread(ctx, syndicate.NetworkMastodon, "wind", "h", []syndicate.PlannedPost{{Index: 0, Text: "Wind"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateDigest(ctx, []syndicate.DigestItem{{ID: "wind", Title: "Wind"}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Secret(ctx, "unsubscribe"); err != nil {
		t.Fatal(err)
	}
	st.Close()
	before := snapshot(t, filepath.Dir(path))

	ro, err := store.OpenReadOnly(ctx, path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := ro.Ping(ctx); err != nil {
		t.Error(err)
	}
	if records, err := ro.ArticleRecords(ctx, syndicate.NetworkMastodon); err != nil || records["wind"].State != syndicate.StatePosting {
		t.Errorf("ArticleRecords = %v, %v", records, err)
	}
	if d, isOpen, err := ro.OpenDigest(ctx); err != nil || !isOpen || d.ID != 1 {
		t.Errorf("OpenDigest = %+v, %v, %v", d, isOpen, err)
	}
	if secret, err := ro.Secret(ctx, "unsubscribe"); err != nil || len(secret) != 32 {
		t.Errorf("Secret = %x, %v", secret, err)
	}
	if secret, err := ro.Secret(ctx, "message-id"); err != nil || secret != nil {
		t.Errorf("a secret not made yet = %x, %v; want none (a dry run makes none)", secret, err)
	}
	for _, r := range []struct {
		name string
		err  error
	}{
		{"PlanThread", ro.PlanThread(ctx, syndicate.NetworkMastodon, "x", "h", nil)},
		{"MarkAttempt", ro.MarkAttempt(ctx, syndicate.NetworkMastodon, "wind", 0)},
		{"RecordPost", ro.RecordPost(ctx, syndicate.NetworkMastodon, "wind", 0, syndicate.Status{ID: "1", URL: "u"})},
		{"FinishArticle", ro.FinishArticle(ctx, syndicate.NetworkMastodon, "wind")},
		{"FailArticle", ro.FailArticle(ctx, syndicate.NetworkMastodon, "wind", "h", "r")},
		{"RetryArticle", second(ro.RetryArticle(ctx, syndicate.NetworkMastodon, "wind"))},
		{"AdoptArticles", third(ro.AdoptArticles(ctx, []*syndicate.Article{{ID: "x"}}, []string{syndicate.NetworkMastodon}, true))},
		{"CreateDigest", second(ro.CreateDigest(ctx, nil, nil))},
		{"ResetReaders", ro.ResetReaders(ctx, 1)},
		{"AddReaders", second(ro.AddReaders(ctx, 1, nil))},
		{"StartDigest", ro.StartDigest(ctx, 1)},
		{"FinishDigest", ro.FinishDigest(ctx, 1)},
		{"RecordOutcomes", ro.RecordOutcomes(ctx, 1, []syndicate.Outcome{{Key: "a", State: syndicate.DeliverySent}})},
		{"GiveUp", second(ro.GiveUp(ctx, 1, 1))},
		{"RetryFailed", second(ro.RetryFailed(ctx, 1))},
		{"RememberServer", ro.RememberServer(ctx, "s", syndicate.ServerInfo{})},
		{"Unsubscribe", ro.Unsubscribe(ctx, "a@example.org")},
		{"CreateDigestFor", third(ro.CreateDigestFor(ctx, "tick:x", nil, nil, nil))},
		{"ClaimPreparation", third(ro.ClaimPreparation(ctx, 1, "a", time.Minute))},
		{"ClaimDeliveries", second(ro.ClaimDeliveries(ctx, 1, "a", "", 3, 10, time.Minute))},
		{"RenewClaims", second(ro.RenewClaims(ctx, 1, "a", time.Minute))},
		{"ReleaseClaims", second(ro.ReleaseClaims(ctx, 1, "a"))},
	} {
		if !errors.Is(r.err, store.ErrReadOnly) {
			t.Errorf("%s on a read-only state = %v, want ErrReadOnly", r.name, r.err)
		}
	}
	if err := ro.Close(); err != nil {
		t.Fatal(err)
	}
	// The database is as it was. SQLite's reader of a WAL database makes
	// the WAL index (-shm) and an empty -wal when they are missing, with
	// the database's mode; it writes no data to them.
	after := snapshot(t, filepath.Dir(path))
	for name, was := range before {
		if after[name] != was {
			t.Errorf("%s changed:\nbefore %s\nafter  %s", name, was, after[name])
		}
	}
	for name := range after {
		if _, was := before[name]; was {
			continue
		}
		fi, err := os.Stat(filepath.Join(filepath.Dir(path), name))
		switch {
		case err != nil:
			t.Error(err)
		case name != "syndicate.db-wal" && name != "syndicate.db-shm":
			t.Errorf("a read-only open made %s", name)
		case fi.Mode().Perm() != 0o600:
			t.Errorf("a read-only open made %s with mode %04o", name, fi.Mode().Perm())
		case name == "syndicate.db-wal" && fi.Size() != 0:
			t.Errorf("a read-only open wrote %d bytes to %s", fi.Size(), name)
		}
	}
}

func second[T any](_ T, err error) error { return err }

func third[T, U any](_ T, _ U, err error) error { return err }

// TestSecret_FirstIsKept: handles on the same state (serve beside a run)
// making a secret at once all get the same one.
func TestSecret_FirstIsKept(t *testing.T) {
	path := statePath(t)
	open(t, path).Close()
	const n = 6
	got := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		st := open(t, path)
		defer st.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := st.Secret(ctx, "unsubscribe")
			if err != nil {
				t.Error(err)
			}
			got[i] = s
		}()
	}
	wg.Wait()
	for i := range got {
		if !bytes.Equal(got[i], got[0]) || len(got[i]) != 32 {
			t.Fatalf("secrets differ: %x", got)
		}
	}
}

// TestDB_BadTimesAreErrors: a time the state cannot read is an error
// naming the row, not a zero time.
func TestDB_BadTimesAreErrors(t *testing.T) {
	for _, tt := range []struct {
		name, breaks, want string
		read               func(st *store.DB) error
	}{
		{"ArticleRecords updated_at", `UPDATE articles SET updated_at = 'yesterday'`, "article wind updated_at",
			func(st *store.DB) error { _, err := st.ArticleRecords(ctx, syndicate.NetworkMastodon); return err }},
		{"ArticleRecords posted_at", `UPDATE posts SET posted_at = '2026-13-01'`, "article wind posted_at",
			func(st *store.DB) error { _, err := st.ArticleRecords(ctx, syndicate.NetworkMastodon); return err }},
		{"PlannedPosts attempted_at", `UPDATE posts SET attempted_at = 'soon'`, "article wind on mastodon post 1 attempted_at",
			func(st *store.DB) error {
				_, err := st.PlannedPosts(ctx, syndicate.NetworkMastodon, "wind")
				return err
			}},
		{"OpenDigest created_at", `UPDATE digests SET created_at = 'monday'`, "digest 1 created_at",
			func(st *store.DB) error { _, _, err := st.OpenDigest(ctx); return err }},
		{"Digests created_at", `UPDATE digests SET created_at = 'monday'`, "digest 1 created_at",
			func(st *store.DB) error { _, err := st.Digests(ctx, 1); return err }},
		{"Digests completed_at", `UPDATE digests SET completed_at = 'never'`, "digest 1 completed_at",
			func(st *store.DB) error { _, err := st.Digests(ctx, 1); return err }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := statePath(t)
			st := open(t, path)
			defer st.Close()
			if err := st.PlanThread(ctx, syndicate.NetworkMastodon, "wind", "h", []syndicate.PlannedPost{{Index: 0, Text: "Wind"}}); err != nil {
				t.Fatal(err)
			}
			if err := st.MarkAttempt(ctx, syndicate.NetworkMastodon, "wind", 0); err != nil {
				t.Fatal(err)
			}
			if err := st.RecordPost(ctx, syndicate.NetworkMastodon, "wind", 0, syndicate.Status{ID: "1", URL: "https://example.social/@bot/1"}); err != nil {
				t.Fatal(err)
			}
			if _, err := st.CreateDigest(ctx, []syndicate.DigestItem{{ID: "wind"}}, nil); err != nil {
				t.Fatal(err)
			}
			exec(t, raw(t, path), tt.breaks)
			err := tt.read(st)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one naming %s", err, tt.want)
			}
		})
	}
}

// TestDB_BadValuesAreErrors: a secret, server or item the state cannot
// decode is an error.
func TestDB_BadValuesAreErrors(t *testing.T) {
	path := statePath(t)
	st := open(t, path)
	defer st.Close()
	if _, err := st.CreateDigest(ctx, []syndicate.DigestItem{{ID: "wind"}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddReaders(ctx, 1, []syndicate.Reader{{Email: "ada@example.org"}}); err != nil {
		t.Fatal(err)
	}
	db := raw(t, path)
	exec(t, db, `INSERT INTO meta (key, value) VALUES ('secret:bad', 'not hex'), ('server:bad', '{')`)
	exec(t, db, `UPDATE digest_articles SET item = '['`)
	exec(t, db, `UPDATE deliveries SET fields = 'x'`)
	if _, err := st.Secret(ctx, "bad"); err == nil {
		t.Error("Secret read a bad value")
	}
	if _, _, err := st.ServerInfo(ctx, "bad"); err == nil {
		t.Error("ServerInfo read a bad value")
	}
	if _, err := st.DigestItems(ctx, 1); err == nil {
		t.Error("DigestItems read a bad item")
	}
	if _, err := st.PendingDeliveries(ctx, 1, "", 10, 10); err == nil {
		t.Error("PendingDeliveries read bad fields")
	}
}

// TestDB_Closed: a closed state answers with errors, not panics.
func TestDB_Closed(t *testing.T) {
	st := open(t, statePath(t))
	st.Close()
	if err := st.Ping(ctx); err == nil {
		t.Error("Ping on a closed state")
	}
	if _, err := st.ArticleRecords(ctx, syndicate.NetworkMastodon); err == nil {
		t.Error("ArticleRecords on a closed state")
	}
	if err := st.FinishArticle(ctx, syndicate.NetworkMastodon, "wind"); err == nil {
		t.Error("FinishArticle on a closed state")
	}
}

// TestOpen_PathsThatLookLikeURIs: a state in a folder whose name has a
// #, ? or % in it is that file, with its settings, not a file named by
// the part before them.
func TestOpen_PathsThatLookLikeURIs(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"news#1", "what?", "100%25", "a b"} {
		path := filepath.Join(dir, name, "syndicate.db")
		st := open(t, path)
		if _, err := st.Secret(ctx, "unsubscribe"); err != nil {
			t.Fatal(err)
		}
		st.Close()
		if v := schemaVersion(t, raw(t, path)); v != fmt.Sprint(store.SchemaVersion()) {
			t.Errorf("%s: schema version %q", path, v)
		}
		ro, err := store.OpenReadOnly(ctx, path, store.Options{})
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if err := ro.Unsubscribe(ctx, "a@example.org"); !errors.Is(err, store.ErrReadOnly) {
			t.Errorf("%s: read-only Unsubscribe = %v", path, err)
		}
		ro.Close()
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			t.Errorf("a state was opened as %s", e.Name())
		}
	}
}

func TestOpen_UnreadableSchemaVersion(t *testing.T) {
	path := statePath(t)
	open(t, path).Close()
	exec(t, raw(t, path), `UPDATE meta SET value = 'two' WHERE key = 'schema_version'`)
	if _, err := store.Open(ctx, path, store.Options{}); err == nil || !strings.Contains(err.Error(), `schema version "two"`) {
		t.Errorf("Open = %v", err)
	}
	if _, err := store.OpenReadOnly(ctx, path, store.Options{}); err == nil || !strings.Contains(err.Error(), `schema version "two"`) {
		t.Errorf("OpenReadOnly = %v", err)
	}
}

// TestOpen_MigratesAStateOfVersion2: the state the program wrote at schema
// version 2 (testdata/state-v2.sql, see state-v2.README: an adopted
// article, two threads posted, one failed after two posts, one killed with
// a post in doubt) becomes Mastodon's threads of the per-network ledger,
// every record and post as it was; Bluesky has none; the tables hold
// together (foreign keys) and are a new state's.
func TestOpen_MigratesAStateOfVersion2(t *testing.T) {
	dump, err := os.ReadFile("testdata/state-v2.sql")
	if err != nil {
		t.Fatal(err)
	}
	path := statePath(t)
	if err := store.MakePrivate(path); err != nil {
		t.Fatal(err)
	}
	exec(t, raw(t, path), string(dump))
	if got := schemaVersion(t, raw(t, path)); got != "2" {
		t.Fatalf("the fixture is at schema version %s, want 2", got)
	}

	st := open(t, path)
	defer st.Close()
	if got, want := schemaVersion(t, raw(t, path)), fmt.Sprint(store.SchemaVersion()); got != want {
		t.Errorf("schema version = %s, want %s", got, want)
	}
	records, err := st.ArticleRecords(ctx, syndicate.NetworkMastodon)
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		state, headURL, reason string
		done, planned          int
	}
	wants := map[string]want{
		"shehbaz-sharif-putin-letters": {syndicate.StateAdopted, "", "", 0, 0},
		"north-sea-wind-auction":       {syndicate.StatePosted, "http://127.0.0.1:44973/@newsbot/100002", "", 4, 4},
		"harbour-library-reopens":      {syndicate.StatePosted, "http://127.0.0.1:44973/@newsbot/100006", "", 4, 4},
		"city-budget-vote":             {syndicate.StateFailed, "http://127.0.0.1:44973/@newsbot/100010", "post 3: the server rejected the post: 422 Validation failed: Text character limit of 500 exceeded", 2, 4},
		"fresh-story":                  {syndicate.StatePosting, "http://127.0.0.1:44973/@newsbot/100012", "", 1, 4},
	}
	if len(records) != len(wants) {
		t.Errorf("%d Mastodon records, want %d: %v", len(records), len(wants), records)
	}
	for id, w := range wants {
		r := records[id]
		got := want{r.State, r.HeadURL, r.Reason, r.PostsDone, r.PostsPlanned}
		if got != w || r.Network != syndicate.NetworkMastodon || r.UpdatedAt.IsZero() {
			t.Errorf("%s: %+v (%+v), want %+v", id, got, r, w)
		}
	}
	if r := records["city-budget-vote"]; r.FailedHash != "3ce9cda48f6ad1ae6728e88c3f91b5ca" || r.Hash != r.FailedHash {
		t.Errorf("the failed article's hashes = %q, %q", r.Hash, r.FailedHash)
	}
	if records["north-sea-wind-auction"].PostedAt.IsZero() {
		t.Error("the head post's time is lost")
	}
	sky, err := st.ArticleRecords(ctx, syndicate.NetworkBluesky)
	if err != nil || len(sky) != 0 {
		t.Errorf("Bluesky records = %v, %v; want none", sky, err)
	}

	// The thread killed mid-way: its head made, its reply in doubt, the
	// rest planned, with their texts and keys as recorded.
	fresh, err := st.PlannedPosts(ctx, syndicate.NetworkMastodon, "fresh-story")
	if err != nil {
		t.Fatal(err)
	}
	if len(fresh) != 4 {
		t.Fatalf("fresh-story has %d posts, want 4", len(fresh))
	}
	if p := fresh[0]; p.StatusID != "100012" || p.URL != "http://127.0.0.1:44973/@newsbot/100012" || p.Text != "A fresh story\n\nhttps://news.example.org/articles/fresh-story\n\n1/4" || p.Visibility != "public" {
		t.Errorf("head = %+v", p)
	}
	if p := fresh[1]; p.StatusID != "" || !p.AttemptedAt.Equal(mustTime(t, "2026-12-01T21:49:33.51991305Z")) || p.Text != "One point.\n\n2/4" {
		t.Errorf("the post in doubt = %+v", p)
	}
	for _, p := range fresh[2:] {
		if p.StatusID != "" || !p.AttemptedAt.IsZero() || p.RecordKey != "" || !p.CreatedAt.IsZero() || p.CID != "" {
			t.Errorf("post %d = %+v, want planned only", p.Index+1, p)
		}
	}
	wind, err := st.PlannedPosts(ctx, syndicate.NetworkMastodon, "north-sea-wind-auction")
	if err != nil {
		t.Fatal(err)
	}
	if w := wind[0]; !strings.HasSuffix(w.MediaFile, "offshore-wind.png") || !strings.HasPrefix(w.MediaAlt, "Three white wind turbines") || w.StatusID != "100002" {
		t.Errorf("the posted head with its picture = %+v", w)
	}
	city, err := st.PlannedPosts(ctx, syndicate.NetworkMastodon, "city-budget-vote")
	if err != nil {
		t.Fatal(err)
	}
	if len(city) != 4 || city[1].StatusID != "100011" || city[2].StatusID != "" || !city[2].AttemptedAt.IsZero() {
		t.Errorf("the failed thread = %+v", city)
	}
	done, err := st.DigestedArticles(ctx)
	if err != nil || !reflect.DeepEqual(done, map[string]bool{"shehbaz-sharif-putin-letters": true}) {
		t.Errorf("DigestedArticles = %v, %v", done, err)
	}
	if info, ok, err := st.ServerInfo(ctx, "http://127.0.0.1:44973"); err != nil || !ok || info.Software != "mastodon" || info.MaxCharacters != 1000 {
		t.Errorf("ServerInfo = %+v, %v, %v", info, ok, err)
	}

	// A Bluesky thread of the same article goes beside Mastodon's.
	if err := st.PlanThread(ctx, syndicate.NetworkBluesky, "fresh-story", "h", []syndicate.PlannedPost{{Index: 0, Text: "A fresh story", RecordKey: "3lbqz7cvqxk2a", CreatedAt: mustTime(t, "2026-12-02T08:00:00.123Z")}}); err != nil {
		t.Fatal(err)
	}
	if err := st.RecordPost(ctx, syndicate.NetworkBluesky, "fresh-story", 0, syndicate.Status{ID: "at://did:plc:x/app.bsky.feed.post/3lbqz7cvqxk2a", CID: "bafy", URL: "https://bsky.app/x"}); err != nil {
		t.Fatal(err)
	}
	again, err := st.PlannedPosts(ctx, syndicate.NetworkMastodon, "fresh-story")
	if err != nil || !reflect.DeepEqual(again, fresh) {
		t.Errorf("Mastodon's thread changed with Bluesky's: %+v, %v", again, err)
	}
	if r, _ := st.ArticleRecords(ctx, syndicate.NetworkMastodon); r["fresh-story"].HeadURL != wants["fresh-story"].headURL {
		t.Errorf("Mastodon's head URL = %q", r["fresh-story"].HeadURL)
	}

	var broken int
	if err := raw(t, path).QueryRow(`SELECT COUNT(*) FROM pragma_foreign_key_check`).Scan(&broken); err != nil || broken != 0 {
		t.Errorf("foreign key check: %d rows, %v", broken, err)
	}
	fresh2 := statePath(t)
	open(t, fresh2).Close()
	if got, want := schema(t, raw(t, path)), schema(t, raw(t, fresh2)); got != want {
		t.Errorf("the migrated schema differs from a new state's:\n%s\nwant\n%s", got, want)
	}
}
