package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// The schema, one entry per version. Each migration runs in the
// transaction that records its version, so a schema is never half
// upgraded; running Migrate again is a no-op.
//
// Tables:
//   - wavectl_schema: the schema's version (one row).
//   - wavectl_programmes: one row per programme (a plan's record): its
//     lineage and state format, the last journal sequence number handed out
//     (journal rows are numbered under this row's lock, so they commit in
//     order) and the last lease epoch handed out.
//   - wavectl_journal: the journal, one row per group commit, appended and
//     never updated: its sequence number, the lease scope and epoch it was
//     written under (fencing), and the entry's bytes with their SHA-256.
//   - wavectl_snapshots: the whole record as of a sequence number, written
//     now and then so that readers replay only the rows after it.
//   - wavectl_leases: the run locks, one row per held scope: who holds it,
//     the applications it covers, its epoch and when it expires.
var migrations = []string{
	1: `
CREATE TABLE wavectl_programmes (
	name       text PRIMARY KEY,
	lineage    text NOT NULL,
	format     integer NOT NULL,
	last_seq   bigint NOT NULL DEFAULT 0,
	last_epoch bigint NOT NULL DEFAULT 0,
	created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE wavectl_journal (
	programme text NOT NULL REFERENCES wavectl_programmes(name) ON DELETE CASCADE,
	seq       bigint NOT NULL,
	scope     text NOT NULL,
	epoch     bigint NOT NULL,
	at        timestamptz NOT NULL DEFAULT now(),
	entry     bytea NOT NULL,
	sha256    bytea NOT NULL,
	PRIMARY KEY (programme, seq)
);
CREATE TABLE wavectl_snapshots (
	programme text NOT NULL REFERENCES wavectl_programmes(name) ON DELETE CASCADE,
	seq       bigint NOT NULL,
	taken_at  timestamptz NOT NULL DEFAULT now(),
	body      bytea NOT NULL,
	sha256    bytea NOT NULL,
	PRIMARY KEY (programme, seq)
);
CREATE TABLE wavectl_leases (
	programme  text NOT NULL REFERENCES wavectl_programmes(name) ON DELETE CASCADE,
	scope      text NOT NULL,
	apps       text[] NOT NULL,
	holder     jsonb NOT NULL,
	lock_id    text NOT NULL,
	epoch      bigint NOT NULL,
	expires_at timestamptz NOT NULL,
	PRIMARY KEY (programme, scope)
);
CREATE INDEX wavectl_leases_lock_id ON wavectl_leases (lock_id);
`,
}

// SchemaVersion is the schema this wavectl writes and reads.
var SchemaVersion = len(migrations) - 1

// SchemaError is a database whose schema this wavectl cannot use.
type SchemaError struct {
	Have, Want int
}

func (e *SchemaError) Error() string {
	if e.Have == 0 {
		return "the database has no wavectl schema yet: create it with `wavectl state migrate --state URL`"
	}
	if e.Have > e.Want {
		return fmt.Sprintf("the database's wavectl schema is version %d, newer than this wavectl knows (%d): upgrade wavectl", e.Have, e.Want)
	}
	return fmt.Sprintf("the database's wavectl schema is version %d, older than this wavectl needs (%d): upgrade it with `wavectl state migrate --state URL`", e.Have, e.Want)
}

// Migrate creates or upgrades the schema to SchemaVersion. It returns the
// version found and the version left.
func (db *DB) Migrate(ctx context.Context) (from, to int, err error) {
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		// One migration at a time, whoever runs it.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(7306104)`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS wavectl_schema (version integer NOT NULL)`); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `SELECT version FROM wavectl_schema`).Scan(&from)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			from = 0
			if _, err := tx.Exec(ctx, `INSERT INTO wavectl_schema (version) VALUES (0)`); err != nil {
				return err
			}
		case err != nil:
			return err
		}
		if from > SchemaVersion {
			return &SchemaError{Have: from, Want: SchemaVersion}
		}
		for v := from + 1; v <= SchemaVersion; v++ {
			if _, err := tx.Exec(ctx, migrations[v]); err != nil {
				return fmt.Errorf("schema version %d: %w", v, err)
			}
		}
		_, err = tx.Exec(ctx, `UPDATE wavectl_schema SET version = $1`, SchemaVersion)
		return err
	})
	if err != nil {
		return from, from, err
	}
	return from, SchemaVersion, nil
}

// checkSchema refuses a database whose schema is missing or another version.
func (db *DB) checkSchema(ctx context.Context) error {
	var v int
	err := db.pool.QueryRow(ctx, `SELECT version FROM wavectl_schema`).Scan(&v)
	if err != nil {
		if isUndefinedTable(err) || errors.Is(err, pgx.ErrNoRows) {
			return &SchemaError{Have: 0, Want: SchemaVersion}
		}
		return err
	}
	if v != SchemaVersion {
		return &SchemaError{Have: v, Want: SchemaVersion}
	}
	return nil
}
