package store

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// SchemaVersion is the schema version this program's migrations reach,
// for the tests outside the package (a new step raises it; no test there
// names a number).
func SchemaVersion() int { return len(migrations) }

// Untouched is untouched, for the test of a target written to during a
// copy (the window between the empty check and the copy's transaction).
func Untouched(ctx context.Context, tx pgx.Tx, tables []string) error {
	return untouched(ctx, tx, tables)
}
