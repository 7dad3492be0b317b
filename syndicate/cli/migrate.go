package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"text/tabwriter"

	"github.com/syndicate-bot/syndicate/syndicate/config"
	"github.com/syndicate-bot/syndicate/syndicate/store"
)

// envValue is a whole flag value naming a variable: ${NAME}.
var envValue = regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$`)

// migrate copies a SQLite state into an empty PostgreSQL database, for
// running several replicas on it (see store.CopyToPostgres).
func (a *app) migrate(ctx context.Context, args []string) error {
	fs := a.flags("migrate", "--to postgres://user@host:5432/db?sslmode=… [--from PATH]")
	to := fs.String("to", "", "the empty PostgreSQL `database` to copy the state into: a postgres:// URL, or '${VAR}' to read it from the environment (which keeps a password out of the process list)")
	from := fs.String("from", "", "the SQLite state to copy (default: the config's state)")
	if help, err := a.parse(fs, args); help || err != nil {
		return err
	}
	if err := a.load(); err != nil {
		return err
	}
	dsn := *to
	if m := envValue.FindStringSubmatch(dsn); m != nil {
		if dsn = a.env.Getenv(m[1]); dsn == "" {
			return usageError("migrate --to: ${%s} is empty", m[1])
		}
	}
	if !config.IsPostgres(dsn) {
		return usageError("migrate: --to wants the target database as a postgres:// URL (or '${DATABASE_URL}')")
	}
	if err := config.CheckDSN(dsn); err != nil {
		return usageError("migrate --to: %v", err)
	}
	path := *from
	if path == "" {
		path = a.cfg.State
		if a.cfg.StatePostgres() {
			return usageError("migrate: the config's state is a PostgreSQL database already; name the SQLite state to copy with --from PATH")
		}
	}
	if config.IsPostgres(path) {
		return usageError("migrate: --from is the SQLite state's file, not a database URL")
	}
	if _, err := os.Stat(path); err != nil {
		return usageError("migrate: no SQLite state at %s: %v", path, err)
	}
	// No run may write the state while it is copied.
	lock, err := store.Acquire(path)
	if err != nil {
		if errors.Is(err, store.ErrLocked) {
			return &ExitError{Code: ExitUsage, Err: fmt.Errorf("%w\nTry: stop the daemon first; migrate copies a state nothing writes", err)}
		}
		return err
	}
	defer lock.Release()
	src, err := store.Open(ctx, path, store.Options{Now: a.env.Now})
	if err != nil {
		return err
	}
	defer src.Close()
	target := config.ShowDSN(dsn)
	copied, err := store.CopyToPostgres(ctx, src, dsn)
	if err != nil {
		err = fmt.Errorf("migrate to %s: %w", target, err)
		if errors.Is(err, store.ErrNotEmpty) || errors.Is(err, store.ErrBadDSN) {
			return &ExitError{Code: ExitUsage, Err: err}
		}
		return err
	}
	w := tabwriter.NewWriter(a.env.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, "TABLE\tROWS")
	total := 0
	for _, c := range copied {
		fmt.Fprintf(w, "%s\t%d\n", c.Table, c.Rows)
		total += c.Rows
	}
	w.Flush()
	fmt.Fprintf(a.env.Stdout, "copied %d row(s) of %d table(s) from %s into %s\n", total, len(copied), path, target)
	fmt.Fprintln(a.env.Stdout, "next: set state to that URL (state: ${DATABASE_URL}) in every replica's config and start them; the SQLite file is left as it was: keep it as a backup, and run nothing on it any more")
	return nil
}
