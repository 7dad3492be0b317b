package config

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestState_PostgresOrSQLite(t *testing.T) {
	for _, tt := range []struct {
		name, yaml string
		vars       map[string]string
		postgres   bool
		state      string // "" : the SQLite file beside the config
		shown      string
	}{
		{"a path", "state: state/syndicate.db\n", nil, false, "", ""},
		{"a URL", "state: postgres://bot@db.internal:5432/news?sslmode=require\n", nil, true,
			"postgres://bot@db.internal:5432/news?sslmode=require", "postgres://bot@db.internal:5432/news?sslmode=require"},
		{"postgresql://", "state: postgresql://bot@db/news\n", nil, true, "postgresql://bot@db/news", "postgresql://bot@db/news"},
		{"a password, hidden", "state: postgres://bot:s3cret-PW@db/news?sslmode=require\n", nil, true,
			"postgres://bot:s3cret-PW@db/news?sslmode=require", "postgres://bot:xxxxx@db/news?sslmode=require"},
		{"a password parameter, hidden", "state: postgres://bot@db/news?password=s3cret-PW\n", nil, true,
			"postgres://bot@db/news?password=s3cret-PW", "postgres://bot@db/news?password=xxxxx"},
		// pgx reads sslpassword as the password of the client's TLS key.
		{"an sslpassword parameter, hidden", "state: postgres://bot@db/news?sslmode=verify-full&sslkey=/k.pem&sslpassword=s3cret-PW\n", nil, true,
			"postgres://bot@db/news?sslmode=verify-full&sslkey=/k.pem&sslpassword=s3cret-PW", "postgres://bot@db/news?sslkey=%2Fk.pem&sslmode=verify-full&sslpassword=xxxxx"},
		{"from the environment", "state: ${DATABASE_URL}\n", map[string]string{"DATABASE_URL": "postgres://bot:s3cret-PW@db/news"}, true,
			"postgres://bot:s3cret-PW@db/news", "postgres://bot:xxxxx@db/news"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := load(t, tt.yaml, tt.vars)
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.StatePostgres(); got != tt.postgres {
				t.Errorf("StatePostgres = %v, want %v", got, tt.postgres)
			}
			want := tt.state
			if want == "" {
				want = filepath.Join(filepath.Dir(cfg.Path), "state/syndicate.db")
				tt.shown = want
			}
			if cfg.State != want {
				t.Errorf("State = %q, want %q", cfg.State, want)
			}
			if got := cfg.StateName(); got != tt.shown {
				t.Errorf("StateName = %q, want %q", got, tt.shown)
			}
		})
	}
}

func TestState_Errors(t *testing.T) {
	for _, tt := range []struct {
		name, yaml, want string
		vars             map[string]string
	}{
		{"no host", "state: postgres:///news\n", `:1: state: "postgres:///news" names no host`, nil},
		{"no database", "state: postgres://bot:s3cret-PW@db.internal\n", `:1: state: "postgres://bot:xxxxx@db.internal" names no database`, nil},
		{"not a URL", "state: \"postgres://bot:s3cret-PW@db:port/x%zz\"\n", `:1: state: "postgres://(a URL that does not parse)" is not a URL`, nil},
		{"from the environment", "state: ${DATABASE_URL}\n", `:1: state: the value from ${DATABASE_URL} names no database`,
			map[string]string{"DATABASE_URL": "postgres://bot:s3cret-PW@db"}},
		// ATTACK: a password with a "/" not percent-encoded, digits before
		// it: the URL parses (host "bot", port 8, the rest of the password
		// in the path) and was shown whole; pgx would name it as the
		// database in its error.
		{"a password with / unencoded", "state: postgres://bot:8/s3cret-PW@db/news\n", `:1: state: "postgres://(a URL that does not parse)" is not a URL`, nil},
		{"a password with ? unencoded", "state: postgres://bot:8?s3cret-PW@db/news\n", `:1: state: "postgres://(a URL that does not parse)" is not a URL`, nil},
		{"a password with # unencoded", "state: \"postgres://bot:8#s3cret-PW@db/news\"\n", `:1: state: "postgres://(a URL that does not parse)" is not a URL`, nil},
		// ATTACK: a user or database with %1b or %0a: pgx names both as
		// they are in its errors (escapes, a forged line).
		{"an escape in the user", "state: postgres://bot%1b%5b2J:s3cret-PW@db/news\n", `:1: state: "postgres://(a URL that does not parse)" is not a URL`, nil},
		{"a line feed in the database", "state: postgres://bot:s3cret-PW@db/news%0aTry:%20this\n", `:1: state: "postgres://(a URL that does not parse)" is not a URL`, nil},
		{"lease too short", "email:\n  lease: 10ms\n", `:2: email.lease: 10ms: want 1s to 1h`, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.yaml, tt.vars)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "s3cret-PW") {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}
