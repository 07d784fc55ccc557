package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wavectl/wavectl/pkg/state"
	"github.com/wavectl/wavectl/pkg/state/pgtest"
	"github.com/wavectl/wavectl/pkg/state/postgres"
	"github.com/wavectl/wavectl/pkg/state/statetest"
)

func openPG(ctx context.Context, ref string) (state.Backend, error) {
	return postgres.OpenBackend(ctx, ref, "")
}

func exec(t *testing.T, ref, sql string) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), stripProgramme(ref))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), sql); err != nil {
		t.Fatal(err)
	}
}

func stripProgramme(ref string) string {
	for i := len(ref) - 1; i >= 0; i-- {
		if ref[i] == '&' {
			return ref[:i]
		}
	}
	return ref
}

// The PostgreSQL store passes the conformance suite.
func TestPostgresStore(t *testing.T) {
	old := postgres.LeaseTTL
	postgres.LeaseTTL = 3 * time.Second // the killed writer's lease expires soon
	t.Cleanup(func() { postgres.LeaseTTL = old })
	statetest.Run(t, statetest.Factory{
		New: func(t *testing.T) string {
			url := pgtest.DB(t)
			db, err := postgres.Open(context.Background(), url)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, _, err := db.Migrate(context.Background()); err != nil {
				t.Fatal(err)
			}
			return url + "&programme=conformance"
		},
		Open:        openPG,
		ScopedLocks: true,
		Expire: func(t *testing.T, ref string, _ state.LockHandle) {
			exec(t, ref, `UPDATE wavectl_leases SET expires_at = now() - interval '1 second'`)
		},
		Future: func(t *testing.T, ref string) {
			exec(t, ref, `UPDATE wavectl_programmes SET format = format + 1`)
		},
	})
}
