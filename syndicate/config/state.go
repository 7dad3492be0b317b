package config

import (
	"errors"
	"net/url"
	"strings"
	"time"
	"unicode"
)

// The state is a SQLite file's path, or a PostgreSQL database's URL for
// several replicas sharing one state:
//
//	state: postgres://syndicate@db.internal:5432/syndicate?sslmode=verify-full
//	state: ${DATABASE_URL}
//
// The URL may hold a password: it is shown only without it (StateName),
// and an error about a value from ${VAR} names the variable only.

// IsPostgres reports whether a state value selects PostgreSQL: a
// postgres:// or postgresql:// URL. Any other value is the path of the
// SQLite file. This is the one place that decides.
func IsPostgres(state string) bool {
	return strings.HasPrefix(state, "postgres://") || strings.HasPrefix(state, "postgresql://")
}

// StatePostgres reports whether the state is a PostgreSQL database.
func (c *Config) StatePostgres() bool { return IsPostgres(c.State) }

// StateName is the state as messages may show it: the SQLite file's
// path, or the database's URL without its password.
func (c *Config) StateName() string {
	if !c.StatePostgres() {
		return c.State
	}
	return redactDSN(c.State)
}

// secretParams are the URL parameters pgx reads a secret from: the
// password, and sslpassword, the passphrase of the client's TLS key
// (sslkey).
var secretParams = []string{"password", "sslpassword"}

// redactDSN is a PostgreSQL URL without the password, in the user part
// or in a password= or sslpassword= parameter; one that does not parse is
// shown as its scheme only.
func redactDSN(dsn string) string {
	u, err := parseDSN(dsn)
	if err != nil {
		scheme, _, _ := strings.Cut(dsn, "://")
		return scheme + "://(a URL that does not parse)"
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	q, hidden := u.Query(), false
	for _, k := range secretParams {
		if q.Has(k) {
			q.Set(k, "xxxxx")
			hidden = true
		}
	}
	if hidden {
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// validateState checks a PostgreSQL URL's form (pgx reads it in full
// when the state is opened) and the lease replicas claim under.
func (c *Config) validateState(add func(key, format string, args ...any)) {
	if c.StatePostgres() {
		u, err := parseDSN(c.State)
		switch {
		case err != nil:
			add("state", "%s is not a URL: want postgres://user@host:5432/database?sslmode=require (a password's / ? # @ %% percent-encoded; no control character)", c.showState())
		case u.Host == "":
			add("state", "%s names no host: want postgres://user@host:5432/database?sslmode=require", c.showState())
		case strings.Trim(u.Path, "/") == "":
			add("state", "%s names no database: want postgres://user@host:5432/database?sslmode=require", c.showState())
		}
	}
	if l := c.Email.Lease.D(); l < time.Second || l > time.Hour {
		add("email.lease", "%s: want 1s to 1h", l)
	}
}

// showState is the state for an error message: the variable it came
// from, or the URL without its password.
func (c *Config) showState() string {
	if len(c.fromEnv["state"]) > 0 {
		return c.show("state", c.State)
	}
	return "\"" + redactDSN(c.State) + "\""
}

// errMisplit is a URL whose "@" comes after the host: a password with a
// "/", "?" or "#" not percent-encoded ends the host there, and what
// follows (the rest of the password) would be read as the database.
var errMisplit = errors.New(`an "@" after the host`)

// errControl is a URL whose user, database or a parameter holds a
// control character once decoded (%0a, %1b): pgx's errors name the user
// and the database as they are.
var errControl = errors.New("a control character")

// parseDSN parses a PostgreSQL URL as pgx does (net/url), refusing one
// whose "@" comes after the host (shown, it would show the password) or
// whose decoded user, database or parameters hold a control character
// (pgx's errors would put it on the terminal, or forge a line there).
func parseDSN(dsn string) (*url.URL, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, err
	}
	if _, rest, ok := strings.Cut(dsn, "://"); ok {
		if i := strings.IndexAny(rest, "/?#"); i >= 0 && strings.Contains(rest[i:], "@") {
			return nil, errMisplit
		}
	}
	values := []string{u.Path, u.Fragment}
	if u.User != nil {
		values = append(values, u.User.Username())
	}
	for k, vs := range u.Query() {
		values = append(append(values, k), vs...)
	}
	for _, v := range values {
		if strings.ContainsFunc(v, unicode.IsControl) {
			return nil, errControl
		}
	}
	return u, nil
}

// CheckDSN reports whether a PostgreSQL URL is read as it was meant, the
// password in the user part; the error shows nothing of it.
func CheckDSN(dsn string) error {
	if _, err := parseDSN(dsn); err != nil {
		return errors.New("the URL does not parse (a password's / ? # @ % must be percent-encoded; no control character): want postgres://user:password@host:5432/database?sslmode=require")
	}
	return nil
}

// ShowDSN is a PostgreSQL URL as messages may show it: without its
// password.
func ShowDSN(dsn string) string { return redactDSN(dsn) }
