package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/syndicate-bot/syndicate/syndicate"

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

// A renewal passes over readers whose rows another transaction holds (the
// outcome writer recording them) instead of waiting: waiting for the
// writer, which updates the same rows in its own order, could deadlock.
func TestPostgres_RenewalsSkipRowsInHand(t *testing.T) {
	dsn := postgres.Shared(t).NewDatabase(t)
	st, err := store.OpenPostgres(ctx, dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	id, err := st.CreateDigest(ctx, []syndicate.DigestItem{{ID: "wind"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddReaders(ctx, id, []syndicate.Reader{{Email: "ada@example.org"}, {Email: "bob@example.org"}, {Email: "cy@example.org"}}); err != nil {
		t.Fatal(err)
	}
	if err := st.StartDigest(ctx, id); err != nil {
		t.Fatal(err)
	}
	if list, err := st.ClaimDeliveries(ctx, id, "a", "", 3, 10, time.Minute); err != nil || len(list) != 3 {
		t.Fatal(list, err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `UPDATE deliveries SET reply = 'in hand' WHERE email_key = 'bob@example.org'`); err != nil {
		t.Fatal(err)
	}
	renewCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	n, err := st.RenewClaims(renewCtx, id, "a", time.Minute)
	if err != nil || n != 2 {
		t.Errorf("RenewClaims with a row held elsewhere = %d, %v; want the other 2 at once", n, err)
	}
}
