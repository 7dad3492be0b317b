package store_test

import (
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // the database/sql driver "pgx", to read the copy raw

	"github.com/syndicate-bot/syndicate/syndicate"
	"github.com/syndicate-bot/syndicate/syndicate/store"
	"github.com/syndicate-bot/syndicate/syndicate/testpeer/postgres"
)

// fill writes something into every table of a state, through the store.
func fill(t *testing.T, st store.Store) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	plan := []syndicate.PlannedPost{
		{Index: 0, Text: "Wind head", Visibility: "public", Language: "en", MediaFile: "wind.png", MediaAlt: "Turbines", IdempotencyKey: "k0"},
		{Index: 1, Text: "Wind reply", ContentWarning: "cw", Visibility: "unlisted", Language: "en"},
		{Index: 2, Text: "Wind last", Visibility: "unlisted", Language: "en"},
	}
	const m, b = syndicate.NetworkMastodon, syndicate.NetworkBluesky
	must(st.PlanThread(ctx, m, "wind", "h-wind", plan))
	must(st.MarkAttempt(ctx, m, "wind", 0))
	must(st.RecordPost(ctx, m, "wind", 0, syndicate.Status{ID: "100", URL: "https://example.social/@bot/100"}))
	must(st.MarkAttempt(ctx, m, "wind", 1)) // in doubt
	must(st.PlanThread(ctx, m, "auction", "h-auc", plan[:1]))
	must(st.FailArticle(ctx, m, "auction", "h-auc", "Validation failed: Text character limit of 500 exceeded"))
	// A Bluesky thread made, then corrected: an edit planned (post_changes)
	// and a notice for the next digest.
	sky := []syndicate.PlannedPost{{Index: 0, Text: "Sky head", Visibility: "public", Language: "en", RecordKey: "3lbtid", CreatedAt: time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)}}
	must(st.PlanThread(ctx, b, "wind", "h-wind", sky))
	must(st.RecordPost(ctx, b, "wind", 0, syndicate.Status{ID: "at://did:plc:x/app.bsky.feed.post/3lbtid", URL: "https://bsky.app/profile/x/post/3lbtid", CID: "bafy"}))
	must(st.FinishArticle(ctx, b, "wind"))
	must(st.PlanEdit(ctx, b, "wind", syndicate.EditPlan{Hash: "h-wind-2",
		Changes: []syndicate.PlannedChange{{Index: 0, Kind: syndicate.ChangeDelete}},
		Retract: true,
		Notices: []syndicate.Notice{{ArticleID: "wind", Kind: syndicate.NoticeRetraction, Title: "Wind"}}}))
	if _, _, err := st.AdoptArticles(ctx, []*syndicate.Article{{ID: "old", Hash: "h-old"}}, []string{m, b}, true); err != nil {
		t.Fatal(err)
	}
	seen := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
	must(st.RecordFetch(ctx, "news", syndicate.FeedState{URL: "https://feed.example/rss", ETag: `"v1"`, FetchedAt: seen, AdoptedAt: seen},
		[]*syndicate.Article{{ID: "news-a", Title: "Item", URL: "https://feed.example/a", Hash: "h", ModTime: seen, Source: "feed:news", KeyPoints: []string{"A point."}}},
		[]*syndicate.Article{{ID: "news-old", Hash: "h"}}))
	done, _, err := st.CreateDigestFor(ctx, "tick:2026-11-23T07:00:00Z", []syndicate.DigestItem{{ID: "wind", Title: "Wind", KeyPoints: []string{"One"}}}, []string{"extra"}, nil)
	must(err)
	_, err = st.AddReaders(ctx, done.ID, []syndicate.Reader{{Email: "Ada@example.org", Name: "Ada", Fields: map[string]string{"email": "Ada@example.org", "name": "Ada"}}, {Email: "bob@example.org"}})
	must(err)
	must(st.StartDigest(ctx, done.ID))
	list, err := st.ClaimDeliveries(ctx, done.ID, "replica-1", "", 10, 10, time.Minute)
	must(err)
	must(st.RecordOutcomes(ctx, done.ID, []syndicate.Outcome{{Key: list[0].Key, State: syndicate.DeliverySent, Reply: "250 ok"}, {Key: list[1].Key, State: syndicate.DeliveryFailed, Reply: "550 no"}}))
	must(st.FinishDigest(ctx, done.ID))
	sending, _, err := st.CreateDigestFor(ctx, "", []syndicate.DigestItem{{ID: "library", Title: "Library"}}, nil, nil)
	must(err)
	_, err = st.AddReaders(ctx, sending.ID, []syndicate.Reader{{Email: "cy@example.org", Fields: map[string]string{"email": "cy@example.org"}}, {Email: "dee@example.org"}})
	must(err)
	must(st.StartDigest(ctx, sending.ID))
	_, err = st.ClaimDeliveries(ctx, sending.ID, "replica-2", "", 10, 1, time.Minute) // a claim in hand
	must(err)
	must(st.Unsubscribe(ctx, "bob@example.org"))
	_, err = st.Secret(ctx, "unsubscribe")
	must(err)
	info := syndicate.ServerInfo{Limits: syndicate.DefaultLimits(), SeenAt: seen}
	info.Software, info.Version = "gotosocial", "0.18.3"
	must(st.RememberServer(ctx, "https://example.social", info))
}

// dump is every row of every table, as text, sorted.
func dump(t *testing.T, db *sql.DB, tables []string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, table := range tables {
		rows, err := db.Query(`SELECT * FROM ` + table)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		sort.Strings(cols)
		for rows.Next() {
			names, _ := rows.Columns()
			vals := make([]any, len(names))
			ptrs := make([]any, len(names))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			byName := map[string]string{}
			for i, n := range names {
				v := vals[i]
				if b, ok := v.([]byte); ok {
					v = string(b)
				}
				byName[n] = fmt.Sprintf("%v", v)
			}
			var b strings.Builder
			for _, c := range cols {
				fmt.Fprintf(&b, "%s=%s ", c, byName[c])
			}
			out[table] = append(out[table], b.String())
		}
		rows.Close()
		sort.Strings(out[table])
	}
	return out
}

func TestCopyToPostgres_EveryTable(t *testing.T) {
	path := statePath(t)
	src := open(t, path)
	defer src.Close()
	fill(t, src)
	dsn := postgres.Shared(t).NewDatabase(t)

	copied, err := store.CopyToPostgres(ctx, src, dsn)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for _, c := range copied {
		tables = append(tables, c.Table)
	}
	sqlite := raw(t, path)
	var want []string
	rows, err := sqlite.Query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		rows.Scan(&n)
		want = append(want, n)
	}
	rows.Close()
	got := append([]string(nil), tables...)
	sort.Strings(got)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("copied %v, want every table %v", got, want)
	}
	// The parents before the children.
	pos := map[string]int{}
	for i, n := range tables {
		pos[n] = i
	}
	for child, parent := range map[string]string{"posts": "articles", "deliveries": "digests", "digest_articles": "digests", "digest_skips": "digests"} {
		if pos[child] < pos[parent] {
			t.Errorf("%s copied before %s", child, parent)
		}
	}

	pg, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	from, to := dump(t, sqlite, tables), dump(t, pg, tables)
	for _, table := range tables {
		if !reflect.DeepEqual(from[table], to[table]) {
			t.Errorf("%s differs:\nSQLite     %q\nPostgreSQL %q", table, from[table], to[table])
		}
		if table != "meta" && len(from[table]) == 0 {
			t.Errorf("the test wrote nothing into %s: it proves nothing there", table)
		}
	}

	// The copy works as the state: what the store reads is the same.
	dst, err := store.OpenPostgres(ctx, dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	for _, read := range []struct {
		name string
		f    func(store.Store) (any, error)
	}{
		{"ArticleRecords", func(s store.Store) (any, error) { return s.ArticleRecords(ctx, syndicate.NetworkMastodon) }},
		{"ArticleRecords bluesky", func(s store.Store) (any, error) { return s.ArticleRecords(ctx, syndicate.NetworkBluesky) }},
		{"PlannedPosts", func(s store.Store) (any, error) { return s.PlannedPosts(ctx, syndicate.NetworkMastodon, "wind") }},
		{"PlannedChanges", func(s store.Store) (any, error) {
			return s.PlannedChanges(ctx, syndicate.NetworkBluesky, "wind")
		}},
		{"DigestedArticles", func(s store.Store) (any, error) { return s.DigestedArticles(ctx) }},
		{"Digests", func(s store.Store) (any, error) { return s.Digests(ctx, 10) }},
		{"PendingDeliveries", func(s store.Store) (any, error) { return s.PendingDeliveries(ctx, 2, "", 10, 10) }},
		{"Unsubscribed", func(s store.Store) (any, error) { return s.Unsubscribed(ctx) }},
		{"Secret", func(s store.Store) (any, error) { return s.Secret(ctx, "unsubscribe") }},
		{"FeedStates", func(s store.Store) (any, error) { return s.FeedStates(ctx) }},
		{"FeedItems", func(s store.Store) (any, error) { return s.FeedItems(ctx) }},
		{"Senders", func(s store.Store) (any, error) { return s.Senders(ctx, 1) }},
		{"ClaimedElsewhere", func(s store.Store) (any, error) { return s.ClaimedElsewhere(ctx, 2, "replica-3", 10) }},
	} {
		a, errA := read.f(src)
		b, errB := read.f(dst)
		if errA != nil || errB != nil || !reflect.DeepEqual(a, b) {
			t.Errorf("%s: SQLite %v (%v), PostgreSQL %v (%v)", read.name, a, errA, b, errB)
		}
	}
	// IDs go on from the copied counter.
	next, created, err := dst.CreateDigestFor(ctx, "", []syndicate.DigestItem{{ID: "new"}}, nil, nil)
	if err != nil || !created || next.ID != 3 {
		t.Errorf("the next digest = %+v, %v, %v; want #3", next, created, err)
	}
	// A slot the copy holds is taken.
	if _, created, err := dst.CreateDigestFor(ctx, "tick:2026-11-23T07:00:00Z", []syndicate.DigestItem{{ID: "newer"}}, nil, nil); err != nil || created {
		t.Errorf("the copied slot is free: %v, %v", created, err)
	}

	// A second copy into it is refused, and changes nothing.
	if _, err := store.CopyToPostgres(ctx, src, dsn); !errors.Is(err, store.ErrNotEmpty) || !strings.Contains(err.Error(), "articles") {
		t.Errorf("a copy into a non-empty database = %v, want ErrNotEmpty naming its tables", err)
	}
	if got := dump(t, pg, []string{"digests"}); len(got["digests"]) != 3 {
		t.Errorf("the refused copy changed the target: %v", got["digests"])
	}
}

// Any table at all makes a target not empty, even one not ours.
func TestCopyToPostgres_RefusesAnyTable(t *testing.T) {
	src := open(t, statePath(t))
	defer src.Close()
	srv := postgres.Shared(t)
	dsn := srv.NewDatabase(t)
	srv.Psql(t, postgres.DBName(dsn), `CREATE TABLE invoices (id int)`)
	if _, err := store.CopyToPostgres(ctx, src, dsn); !errors.Is(err, store.ErrNotEmpty) || !strings.Contains(err.Error(), "invoices") {
		t.Errorf("CopyToPostgres = %v", err)
	}
	if out := srv.Psql(t, postgres.DBName(dsn), `SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'`); out != "1" {
		t.Errorf("the refused copy made tables: %s", out)
	}
}

// TestCopyToPostgres_TargetWrittenMeanwhile: a replica started on the
// target between migrate's empty check and its copy, which migrated it
// and wrote a thread, makes the copy refuse rather than empty what it
// wrote; a target its migrations alone wrote is taken.
func TestCopyToPostgres_TargetWrittenMeanwhile(t *testing.T) {
	srv := postgres.Shared(t)
	dsn := srv.NewDatabase(t)
	replica, err := store.OpenPostgres(ctx, dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer replica.Close()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY table_name`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	check := func() error {
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		return store.Untouched(ctx, tx, tables)
	}
	if err := check(); err != nil {
		t.Errorf("a target its migrations alone wrote: %v", err)
	}
	if err := replica.PlanThread(ctx, syndicate.NetworkMastodon, "wind", "h", []syndicate.PlannedPost{{Index: 0, Text: "Wind", Visibility: "public", Language: "en"}}); err != nil {
		t.Fatal(err)
	}
	if err := check(); !errors.Is(err, store.ErrNotEmpty) || !strings.Contains(err.Error(), "articles (1 rows)") {
		t.Errorf("a target a replica wrote to: %v, want ErrNotEmpty naming articles", err)
	}
}
