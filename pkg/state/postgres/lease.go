package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wavectl/wavectl/pkg/state"
)

// Run locks as leases.
//
// A run holds a lease on a scope of the programme: "programme" (the whole
// plan), "wave:NAME", "conveyor" or "app:NAME", covering the applications
// the run may change. Two leases conflict when their applications overlap,
// so two operators can run two different waves at once, and a second run of
// the same wave is refused with the holder named. The holder renews the
// lease while it runs (Renew); a lease not renewed by its expiry may be
// taken over by the next run, which gets a higher epoch.
//
// Fencing: every journal write carries its lease's epoch, and the database
// refuses (FencedError) a write whose lease is no longer there with that
// epoch. A runner that was paused or cut off past its expiry, and whose
// lease was taken over meanwhile, can never write into the other run's
// record. Session advisory locks are not used: connection poolers in
// transaction mode (PgBouncer) lose them.

// AllApps in a lease's applications covers the whole programme, including
// applications a later plan adds.
const AllApps = "*"

// DefaultTTL is how long a lease lasts unless renewed.
const DefaultTTL = 60 * time.Second

// Lease is a held (or listed) lease.
type Lease struct {
	Programme string
	Scope     string
	Apps      []string
	Holder    state.Holder
	Epoch     int64
	Expires   time.Time
}

// HeldError is a scope another run's live lease covers.
type HeldError struct {
	URL, Programme, Scope string
	Other                 Lease
}

func (e *HeldError) Error() string {
	h := e.Other.Holder
	return fmt.Sprintf("programme %q in %s: %s is locked by %s, which holds %s (lease renewed until %s).\n"+
		"  Another run is changing these applications: wait for it, or stop it (Ctrl-C, or kill %d on %s).\n"+
		"  Run `wavectl unlock %s --state %s` only if that process is gone (its lease also expires on its own).",
		e.Programme, e.URL, e.Scope, h.Describe(time.Now()), e.Other.Scope, e.Other.Expires.UTC().Format(time.RFC3339),
		h.PID, h.Host, h.ID, e.URL)
}

// Acquire takes a lease on scope, covering apps, for ttl. A live lease
// whose applications overlap refuses it with a *HeldError; expired
// overlapping leases, and those of a process on this host that is gone,
// are taken over (deleted) and returned, for the caller's warning.
func (db *DB) Acquire(ctx context.Context, programme, scope string, apps []string, holder state.Holder, ttl time.Duration) (*Lease, []Lease, error) {
	if len(apps) == 0 {
		apps = []string{AllApps}
	}
	hj, err := json.Marshal(holder)
	if err != nil {
		return nil, nil, err
	}
	var l *Lease
	var taken []Lease
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		taken = nil
		// The programme row's lock serialises acquisitions of its leases.
		var epoch int64
		err := tx.QueryRow(ctx, `UPDATE wavectl_programmes SET last_epoch = last_epoch + 1 WHERE name = $1 RETURNING last_epoch`,
			programme).Scan(&epoch)
		if errors.Is(err, pgx.ErrNoRows) {
			return &NotFoundError{Name: programme}
		}
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT scope, apps, holder, epoch, expires_at, expires_at > now() FROM wavectl_leases
			WHERE programme = $1 AND (scope = $2 OR apps && $3 OR $4 = ANY(apps) OR $4 = ANY($3::text[]))`,
			programme, scope, apps, AllApps)
		if err != nil {
			return err
		}
		type found struct {
			Lease
			live bool
		}
		overlapping, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (found, error) {
			var f found
			var hb []byte
			if err := r.Scan(&f.Scope, &f.Apps, &hb, &f.Epoch, &f.Expires, &f.live); err != nil {
				return f, err
			}
			f.Programme = programme
			return f, json.Unmarshal(hb, &f.Holder)
		})
		if err != nil {
			return err
		}
		for _, f := range overlapping {
			// A holder on this host whose process is gone (kill -9, a
			// crash) is taken over at once, as a state file's lock is;
			// elsewhere its lease must expire first.
			if alive, known := f.Holder.Alive(); f.live && !(known && !alive) {
				return &HeldError{URL: db.url, Programme: programme, Scope: scope, Other: f.Lease}
			}
		}
		for _, f := range overlapping {
			if _, err := tx.Exec(ctx, `DELETE FROM wavectl_leases WHERE programme = $1 AND scope = $2 AND epoch = $3`,
				programme, f.Scope, f.Epoch); err != nil {
				return err
			}
			taken = append(taken, f.Lease)
		}
		l = &Lease{Programme: programme, Scope: scope, Apps: apps, Holder: holder, Epoch: epoch}
		return tx.QueryRow(ctx, `INSERT INTO wavectl_leases (programme, scope, apps, holder, lock_id, epoch, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, now() + $7::interval) RETURNING expires_at`,
			programme, scope, apps, hj, holder.ID, epoch, ttl.String()).Scan(&l.Expires)
	})
	if err != nil {
		return nil, nil, err
	}
	return l, taken, nil
}

// Renew extends a held lease by ttl from now. A lease that was taken over
// (or unlocked) is not renewed: *FencedError.
func (db *DB) Renew(ctx context.Context, l *Lease, ttl time.Duration) error {
	var exp time.Time
	err := db.pool.QueryRow(ctx, `UPDATE wavectl_leases SET expires_at = now() + $4::interval
		WHERE programme = $1 AND scope = $2 AND epoch = $3 RETURNING expires_at`,
		l.Programme, l.Scope, l.Epoch, ttl.String()).Scan(&exp)
	if errors.Is(err, pgx.ErrNoRows) {
		return db.fenced(ctx, l.Programme, l)
	}
	if err != nil {
		return err
	}
	l.Expires = exp
	return nil
}

// Release gives a held lease back. Releasing a lease that was taken over
// is not an error: it is not this run's any more.
func (db *DB) Release(ctx context.Context, l *Lease) error {
	_, err := db.pool.Exec(ctx, `DELETE FROM wavectl_leases WHERE programme = $1 AND scope = $2 AND epoch = $3`,
		l.Programme, l.Scope, l.Epoch)
	return err
}

// NoLeaseError is wavectl unlock with an id no lease has.
type NoLeaseError struct {
	Programme, ID string
	Held          []Lease
}

func (e *NoLeaseError) Error() string {
	if len(e.Held) == 0 {
		return fmt.Sprintf("programme %q holds no lock %s: nobody holds a lock on it now", e.Programme, e.ID)
	}
	var ids []string
	for _, l := range e.Held {
		ids = append(ids, l.Holder.ID+" ("+l.Scope+")")
	}
	return fmt.Sprintf("programme %q holds no lock %s; its locks are: %s", e.Programme, e.ID, strings.Join(ids, ", "))
}

// Unlock removes the lease with lock id id, whoever holds it, and returns
// it. Its holder's next write is refused (fencing).
func (db *DB) Unlock(ctx context.Context, programme, id string) (*Lease, error) {
	all, err := db.Leases(ctx, programme)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(all, func(l Lease) bool { return l.Holder.ID == id })
	if i < 0 {
		return nil, &NoLeaseError{Programme: programme, ID: id, Held: all}
	}
	if err := db.Release(ctx, &all[i]); err != nil {
		return nil, err
	}
	return &all[i], nil
}

// Leases lists a programme's leases, live or expired.
func (db *DB) Leases(ctx context.Context, programme string) ([]Lease, error) {
	return db.leases(ctx, programme, "")
}

func (db *DB) leaseOf(ctx context.Context, programme, scope string) (*Lease, error) {
	all, err := db.leases(ctx, programme, scope)
	if err != nil || len(all) == 0 {
		return nil, err
	}
	return &all[0], nil
}

func (db *DB) leases(ctx context.Context, programme, scope string) ([]Lease, error) {
	rows, err := db.pool.Query(ctx, `SELECT scope, apps, holder, epoch, expires_at FROM wavectl_leases
		WHERE programme = $1 AND ($2 = '' OR scope = $2) ORDER BY scope`, programme, scope)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Lease, error) {
		l := Lease{Programme: programme}
		var hb []byte
		if err := r.Scan(&l.Scope, &l.Apps, &hb, &l.Epoch, &l.Expires); err != nil {
			return l, err
		}
		return l, json.Unmarshal(hb, &l.Holder)
	})
}
