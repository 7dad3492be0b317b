package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestMigrate_FailedStepLeavesThePreviousVersion: each step is a
// transaction of its own, with the version it reaches.
func TestMigrate_FailedStepLeavesThePreviousVersion(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "syndicate.db")
	shipped := migrations
	t.Cleanup(func() { migrations = shipped })

	migrations = append(shipped[:len(shipped):len(shipped)], func(tx *sql.Tx) error {
		if _, err := tx.Exec(`CREATE TABLE half_done (x INTEGER)`); err != nil {
			return err
		}
		return errors.New("disk on fire")
	})
	step := fmt.Sprintf("migration %d: disk on fire", len(shipped)+1)
	if _, err := Open(ctx, path, Options{}); err == nil || !strings.Contains(err.Error(), step) {
		t.Fatalf("Open = %v, want %q", err, step)
	}

	migrations = shipped
	st, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if v, err := st.version(ctx); err != nil || v != len(shipped) {
		t.Errorf("version = %d, %v; want %d (the steps before the failed one)", v, err, len(shipped))
	}
	var n int
	if err := st.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE name = 'half_done'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("the failed step left its table (%d, %v)", n, err)
	}
}
