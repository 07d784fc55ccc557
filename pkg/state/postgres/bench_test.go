package postgres_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/wavectl/wavectl/pkg/state/pgtest"
	"github.com/wavectl/wavectl/pkg/state/postgres"
)

// BenchmarkAppend is one journal row's commit, one after the other: what
// a store's writer waits for per group commit (a round trip and the
// server's WAL flush).
func BenchmarkAppend(b *testing.B) {
	ctx := context.Background()
	db, err := postgres.Open(ctx, pgtest.DB(b))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, _, err := db.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Create(ctx, "prog", "L1", 3, []byte(`{}`)); err != nil {
		b.Fatal(err)
	}
	l, _, err := db.Acquire(ctx, "prog", "programme", nil, holder("b"), time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	entry := bytes.Repeat([]byte("x"), 600)
	for b.Loop() {
		if _, err := db.Append(ctx, "prog", l, entry); err != nil {
			b.Fatal(err)
		}
	}
}
