package store_test

import (
	"testing"

	"github.com/syndicate-bot/syndicate/syndicate/store"
	"github.com/syndicate-bot/syndicate/syndicate/store/storetest"
	"github.com/syndicate-bot/syndicate/syndicate/testpeer/postgres"
)

func TestMain(m *testing.M) { postgres.Main(m) }

// openPostgres opens a store on a new database of the shared cluster.
func openPostgres(t *testing.T, opts store.Options) *store.DB {
	t.Helper()
	st, err := store.OpenPostgres(ctx, postgres.Shared(t).NewDatabase(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// The one contract suite, on the second backend.
func TestPostgres_Contract(t *testing.T) {
	storetest.Run(t, func(t *testing.T, opts store.Options) store.Store {
		return openPostgres(t, opts)
	})
}
