package main

import (
	"github.com/syndicate-bot/syndicate/syndicate/testpeer/postgres"
	"strings"
	"testing"
)

// ATTACK: whoever sets ${DATABASE_URL} puts terminal escapes in the user
// or database name (percent-encoded, so the URL parses). pgx's connection
// error names both as they are, and the error went to the terminal raw:
// it could recolour, move the cursor or rewrite what the operator reads.
// The password never shows; nor may an escape. Such a URL is refused
// before pgx sees it (config.parseDSN); the final error is printed
// through text.TerminalLines as well (see the hostile table below).
func TestAttack_StateErrorEscapesReachTheTerminal(t *testing.T) {
	e := newEnv(t, "mastodon:\n  server: https://mastodon.example\n  access_token: ${MASTODON_ACCESS_TOKEN}\n", "city-budget-vote.txt")
	e.write("config.yaml", strings.Replace(readFile(t, e.path("config.yaml")), "state: state/syndicate.db", "state: ${DATABASE_URL}", 1))
	// Port 1 on this machine refuses at once: the error is pgx's own.
	e.vars = append(e.vars, "DATABASE_URL=postgres://bot%1b%5b2J%1b%5b31m:s3cret-DB-PW@127.0.0.1:1/news%e2%80%aeevil%0d?sslmode=disable&connect_timeout=5")
	// migrate --to takes the URL from its flag, with the state on SQLite.
	m := newEnv(t, "mastodon:\n  server: https://mastodon.example\n  access_token: ${MASTODON_ACCESS_TOKEN}\n", "city-budget-vote.txt")
	if r := m.run("post", "--mark-posted"); r.code != 0 {
		t.Fatalf("post --mark-posted: %s", r)
	}
	for _, args := range [][]string{{"check"}, {"status"}, {"post"}, {"migrate", "--to", "postgres://x%1b%5b31m:s3cret-DB-PW@127.0.0.1:1/db?sslmode=disable&connect_timeout=5"}} {
		r := e.run(args...)
		if args[0] == "migrate" {
			r = m.run(args...)
		}
		if r.code == 0 {
			t.Errorf("%v: exit 0 with no database\n%s", args, r)
		}
		out := r.stdout + r.stderr
		if strings.ContainsAny(out, "\x1b\r\u202e") {
			t.Errorf("%v: a control character or bidi override reaches the terminal:\n%q", args, out)
		}
		if strings.Contains(out, "s3cret-DB-PW") || strings.Contains(out, token) {
			t.Errorf("%v: a secret is shown:\n%s", args, out)
		}
		if !strings.Contains(r.stderr, "is not a URL") && !strings.Contains(r.stderr, "does not parse") {
			t.Errorf("%v: the URL is not refused as one that does not parse:\n%s", args, r)
		}
	}
}

// ATTACK: a password with a "/" not percent-encoded, digits before it,
// parses as a URL whose host is the user and whose database is the rest
// of the password: migrate --to showed it as the target, and pgx named it
// as the database in its error.
func TestAttack_MigrateMisplitPassword(t *testing.T) {
	e := newEnv(t, "mastodon:\n  server: https://mastodon.example\n  access_token: ${MASTODON_ACCESS_TOKEN}\n", "city-budget-vote.txt")
	if r := e.run("post", "--mark-posted"); r.code != 0 {
		t.Fatalf("post --mark-posted: %s", r)
	}
	e.vars = append(e.vars, "TARGET=postgres://bot:1/s3cret-DB-PW@127.0.0.1:1/news?connect_timeout=5")
	for _, to := range []string{"${TARGET}", "postgres://bot:1/s3cret-DB-PW@127.0.0.1:1/news?connect_timeout=5"} {
		r := e.run("migrate", "--to", to)
		if r.code != 2 || strings.Contains(r.stdout+r.stderr, "s3cret-DB-PW") {
			t.Errorf("migrate --to %s: want exit 2 and no password shown:\n%s", to, r)
		}
	}
}

// ATTACK: a database user who can create tables in the target names one
// with terminal escapes; migrate --to refuses the non-empty target and
// lists its tables: the names must not reach the terminal raw, and the
// refusal must leave the target as it was.
func TestAttack_MigrateIntoHostileDatabase(t *testing.T) {
	e := newEnv(t, "mastodon:\n  server: https://mastodon.example\n  access_token: ${MASTODON_ACCESS_TOKEN}\n", "city-budget-vote.txt")
	if r := e.run("post", "--mark-posted"); r.code != 0 {
		t.Fatalf("post --mark-posted: %s", r)
	}
	pg := postgres.Shared(t)
	dsn := pg.NewDatabase(t)
	db := postgres.DBName(dsn)
	pg.Psql(t, db, "CREATE TABLE \"evil\x1b[2J\x1b[31mred\u202e\" (x int); INSERT INTO \"evil\x1b[2J\x1b[31mred\u202e\" VALUES (1)")
	e.vars = append(e.vars, "TARGET="+strings.Replace(dsn, "postgres://postgres@", "postgres://postgres:"+dbPassword+"@", 1))
	r := e.run("migrate", "--to", "${TARGET}")
	if r.code != 2 || !strings.Contains(r.stderr, "not empty") {
		t.Fatalf("migrate into a non-empty database: %s", r)
	}
	if out := r.stdout + r.stderr; strings.ContainsAny(out, "\x1b\u202e") || strings.Contains(out, dbPassword) {
		t.Errorf("the table's name reaches the terminal raw, or the password shows:\n%q", out)
	}
	if got := pg.Psql(t, db, "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'"); got != "1" {
		t.Errorf("the target has %s tables after the refusal, want the 1 it had", got)
	}
}
