// Package postgres keeps wavectl's record of a programme in PostgreSQL, for
// teams: the journal as appended rows (one small insert per group commit),
// a snapshot of the whole record now and then, and run locks as leases with
// fencing.
//
// It stores bytes: the journal entries and snapshots are encoded and
// decoded by package state, exactly as in the file store, so both stores
// keep the same record with the same checks (lineage, format version,
// checksums).
//
// Credentials come from libpq's usual places, read by pgx: the URL's
// password (discouraged), PGPASSWORD, a .pgpass file (PGPASSFILE) or a
// service file (PGSERVICEFILE, PGSERVICE). They are never printed: every
// URL this package shows has gone through Redact.
package postgres

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/wavectl/wavectl/pkg/redact"
)

// IsURL says whether a --state value names a PostgreSQL database.
func IsURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// Redact is a database URL without its password, for messages and for
// the commands wavectl suggests: the password is dropped, not masked, so
// the URL still works with the password from PGPASSWORD or ~/.pgpass.
func Redact(raw string) string {
	if _, err := url.Parse(raw); err != nil {
		return "postgres://(unparsable URL)"
	}
	return redact.WithoutPassword(raw)
}

// DB is a connection pool to one wavectl database.
type DB struct {
	pool *pgxpool.Pool
	url  string // redacted, for messages
	// Programme is the programme named in the URL (?programme=NAME), if any.
	Programme string
}

// Open connects to the database a URL names. The URL may carry
// `programme=NAME` to name the programme (otherwise the plan's name is
// used); every other parameter is libpq's.
func Open(ctx context.Context, raw string) (*DB, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("state database URL %s: %v", Redact(raw), redactErr(err))
	}
	q := u.Query()
	programme := q.Get("programme")
	q.Del("programme")
	u.RawQuery = q.Encode()
	cfg, err := pgxpool.ParseConfig(u.String())
	if err != nil {
		return nil, fmt.Errorf("state database URL %s: %v", Redact(raw), redactErr(err))
	}
	cfg.MaxConns = 8
	cfg.ConnConfig.RuntimeParams["application_name"] = "wavectl"
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 15 * time.Second
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("state database %s: %v", Redact(raw), redactErr(err))
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, &ConnectError{URL: Redact(raw), Err: redactErr(err)}
	}
	return &DB{pool: pool, url: Redact(raw), Programme: programme}, nil
}

// ConnectError is a database that could not be reached or logged in to.
type ConnectError struct {
	URL string
	Err error
}

func (e *ConnectError) Error() string {
	return fmt.Sprintf("cannot reach the state database %s: %v (the password comes from PGPASSWORD, ~/.pgpass or PGSERVICEFILE)", e.URL, e.Err)
}

func (e *ConnectError) Unwrap() error { return e.Err }

// redactErr keeps pgx's message but never a password: pgx does not put
// passwords in its errors, but a URL that failed to parse is echoed.
func redactErr(err error) error {
	if err == nil {
		return nil
	}
	return errors.New(redact.String(err.Error()))
}

// URL is the database's URL without its password.
func (db *DB) URL() string { return db.url }

// Close closes the pool.
func (db *DB) Close() { db.pool.Close() }

// Programme is one programme's row.
type Programme struct {
	Name    string
	Lineage string
	Format  int
	LastSeq int64
}

// NotFoundError is a programme the database does not hold.
type NotFoundError struct {
	Name  string
	Known []string
}

func (e *NotFoundError) Error() string {
	if len(e.Known) == 0 {
		return fmt.Sprintf("the state database holds no programme %q (it holds none yet)", e.Name)
	}
	return fmt.Sprintf("the state database holds no programme %q; it holds: %s (name one with ?programme=NAME in the URL)",
		e.Name, strings.Join(e.Known, ", "))
}

// Programmes lists the programmes the database holds.
func (db *DB) Programmes(ctx context.Context) ([]Programme, error) {
	if err := db.checkSchema(ctx); err != nil {
		return nil, err
	}
	rows, err := db.pool.Query(ctx, `SELECT name, lineage, format, last_seq FROM wavectl_programmes WHERE lineage <> '' ORDER BY name`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Programme, error) {
		var p Programme
		err := r.Scan(&p.Name, &p.Lineage, &p.Format, &p.LastSeq)
		return p, err
	})
}

// Find is the programme called name. An empty name is the only programme
// the database holds, when it holds exactly one.
func (db *DB) Find(ctx context.Context, name string) (*Programme, error) {
	all, err := db.Programmes(ctx)
	if err != nil {
		return nil, err
	}
	var names []string
	for i := range all {
		if all[i].Name == name || (name == "" && len(all) == 1) {
			return &all[i], nil
		}
		names = append(names, all[i].Name)
	}
	if name == "" && len(all) > 1 {
		return nil, fmt.Errorf("the state database holds %d programmes (%s): name one with ?programme=NAME in the URL",
			len(all), strings.Join(names, ", "))
	}
	return nil, &NotFoundError{Name: name, Known: names}
}

// ForeignError is a record of another lineage than the database's
// programme of that name.
type ForeignError struct {
	Name, Have, Want string
}

func (e *ForeignError) Error() string {
	return fmt.Sprintf("the state database's programme %q has lineage %s, not %s: it is another programme's record "+
		"(pull it with `wavectl state pull`, or use another programme name)", e.Name, e.Have, e.Want)
}

// ensure makes a programme's row if there is none, with no record yet
// (no lineage, no snapshot): a run's lease needs the row before the run
// creates the record.
func (db *DB) ensure(ctx context.Context, name string) error {
	if err := db.checkSchema(ctx); err != nil {
		return err
	}
	_, err := db.pool.Exec(ctx, `INSERT INTO wavectl_programmes (name, lineage, format) VALUES ($1, '', 0) ON CONFLICT (name) DO NOTHING`, name)
	return err
}

// Create stores a programme's first record (its snapshot at sequence 0),
// making its row if need be. A programme that has a record of the same
// lineage is left as it is; another lineage is refused (*ForeignError).
func (db *DB) Create(ctx context.Context, name, lineage string, format int, snapshot []byte) (*Programme, error) {
	if err := db.ensure(ctx, name); err != nil {
		return nil, err
	}
	var p Programme
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT name, lineage, format, last_seq FROM wavectl_programmes WHERE name = $1 FOR UPDATE`, name).
			Scan(&p.Name, &p.Lineage, &p.Format, &p.LastSeq); err != nil {
			return err
		}
		if p.Lineage != "" {
			return nil
		}
		sum := sha256.Sum256(snapshot)
		if _, err := tx.Exec(ctx, `INSERT INTO wavectl_snapshots (programme, seq, body, sha256) VALUES ($1, 0, $2, $3)`,
			name, snapshot, sum[:]); err != nil {
			return err
		}
		p.Lineage, p.Format = lineage, format
		_, err := tx.Exec(ctx, `UPDATE wavectl_programmes SET lineage = $2, format = $3 WHERE name = $1`, name, lineage, format)
		return err
	})
	if err != nil {
		return nil, err
	}
	if p.Lineage != lineage {
		return nil, &ForeignError{Name: name, Have: p.Lineage, Want: lineage}
	}
	return &p, nil
}

// Delete removes a programme and everything it holds.
func (db *DB) Delete(ctx context.Context, name string) error {
	_, err := db.pool.Exec(ctx, `DELETE FROM wavectl_programmes WHERE name = $1`, name)
	return err
}

// Row is one journal row.
type Row struct {
	Seq   int64
	Scope string
	Epoch int64
	At    time.Time
	Entry []byte
}

// FencedError is a write from a lease holder whose lease was taken over
// (or released, or never held): the database refuses it.
type FencedError struct {
	Programme, Scope string
	Epoch            int64
	Now              *Lease // who holds the scope now, if anyone
}

func (e *FencedError) Error() string {
	who := "nobody holds it now"
	if e.Now != nil {
		who = "it is held now by " + e.Now.Holder.Describe(time.Now())
	}
	return fmt.Sprintf("the state database refused a write to programme %q: this run's lease on %s (epoch %d) was taken over or has expired, and %s; "+
		"this run stops writing so that it cannot overwrite the other run's record", e.Programme, e.Scope, e.Epoch, who)
}

// Append adds one journal row for a lease holder and returns its sequence
// number. The holder's lease row is locked for the transaction, so a
// take-over waits for the append to commit and sees it, and an append after
// a take-over is refused with a *FencedError. Rows are numbered under the
// programme row's lock, so they commit in sequence order.
func (db *DB) Append(ctx context.Context, programme string, lease *Lease, entry []byte) (int64, error) {
	// One round trip: the statements go as one batch, which PostgreSQL
	// runs as one implicit transaction (one Sync). They take the locks in
	// the order Acquire takes them (the programme row, then the lease
	// row), or the two would deadlock; the row is inserted only while the
	// lease is there, locked until the commit.
	sum := sha256.Sum256(entry)
	b := &pgx.Batch{}
	b.Queue(`UPDATE wavectl_programmes SET last_seq = last_seq + 1 WHERE name = $1
		AND EXISTS (SELECT 1 FROM wavectl_leases WHERE programme = $1 AND scope = $2 AND epoch = $3) RETURNING last_seq`,
		programme, lease.Scope, lease.Epoch)
	b.Queue(`SELECT epoch FROM wavectl_leases WHERE programme = $1 AND scope = $2 AND epoch = $3 FOR SHARE`,
		programme, lease.Scope, lease.Epoch)
	b.Queue(`INSERT INTO wavectl_journal (programme, seq, scope, epoch, entry, sha256)
		SELECT $1, p.last_seq, $2, $3, $4, $5 FROM wavectl_programmes p
		WHERE p.name = $1 AND EXISTS (SELECT 1 FROM wavectl_leases WHERE programme = $1 AND scope = $2 AND epoch = $3)
		RETURNING seq`, programme, lease.Scope, lease.Epoch, entry, sum[:])
	// Readers following the programme (status --watch) wake up on commit.
	b.Queue(`SELECT pg_notify('wavectl_journal', $1)`, programme)
	br := db.pool.SendBatch(ctx, b)
	var seq int64
	fenced := false
	err := br.QueryRow().Scan(&seq)
	if errors.Is(err, pgx.ErrNoRows) {
		fenced, err = true, nil
	}
	if err == nil {
		_, err = br.Exec()
	}
	if err == nil {
		var got int64
		err = br.QueryRow().Scan(&got)
		if errors.Is(err, pgx.ErrNoRows) {
			fenced, err = true, nil
		} else if err == nil && got != seq {
			err = fmt.Errorf("journal row numbered %d, expected %d", got, seq)
		}
	}
	if err == nil {
		_, err = br.Exec()
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, err
	}
	if fenced {
		return 0, db.fenced(ctx, programme, lease)
	}
	return seq, nil
}

func (db *DB) fenced(ctx context.Context, programme string, lease *Lease) error {
	e := &FencedError{Programme: programme, Scope: lease.Scope, Epoch: lease.Epoch}
	if now, err := db.leaseOf(ctx, programme, lease.Scope); err == nil {
		e.Now = now
	}
	return e
}

// CorruptError is a row whose bytes do not match their checksum.
type CorruptError struct {
	Programme string
	What      string
	Seq       int64
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("the state database's %s %d of programme %q does not match its checksum: the row was changed outside wavectl; "+
		"restore the database from a backup, or pull the record to a file and repair it there", e.What, e.Seq, e.Programme)
}

// Load reads a programme's record: the newest snapshot and the journal
// rows after it, in order.
func (db *DB) Load(ctx context.Context, programme string) (snapSeq int64, snapshot []byte, rows []Row, err error) {
	err = pgx.BeginTxFunc(ctx, db.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var sum []byte
		err := tx.QueryRow(ctx, `SELECT seq, body, sha256 FROM wavectl_snapshots WHERE programme = $1 ORDER BY seq DESC LIMIT 1`, programme).
			Scan(&snapSeq, &snapshot, &sum)
		if errors.Is(err, pgx.ErrNoRows) {
			return &NotFoundError{Name: programme}
		}
		if err != nil {
			return err
		}
		if got := sha256.Sum256(snapshot); !bytes.Equal(got[:], sum) {
			return &CorruptError{Programme: programme, What: "snapshot", Seq: snapSeq}
		}
		rows, err = readRows(ctx, tx, programme, snapSeq)
		return err
	})
	return snapSeq, snapshot, rows, err
}

// After reads the journal rows after sequence number seq: what a reader
// that has caught up to seq has not seen yet.
func (db *DB) After(ctx context.Context, programme string, seq int64) ([]Row, error) {
	return readRows(ctx, db.pool, programme, seq)
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func readRows(ctx context.Context, q querier, programme string, after int64) ([]Row, error) {
	rs, err := q.Query(ctx, `SELECT seq, scope, epoch, at, entry, sha256 FROM wavectl_journal WHERE programme = $1 AND seq > $2 ORDER BY seq`,
		programme, after)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rs, func(r pgx.CollectableRow) (Row, error) {
		var row Row
		var sum []byte
		if err := r.Scan(&row.Seq, &row.Scope, &row.Epoch, &row.At, &row.Entry, &sum); err != nil {
			return row, err
		}
		if got := sha256.Sum256(row.Entry); !bytes.Equal(got[:], sum) {
			return row, &CorruptError{Programme: programme, What: "journal row", Seq: row.Seq}
		}
		return row, nil
	})
}

// Snapshot stores the whole record as of sequence number seq. Snapshots
// older than the newest few are removed, with the journal rows they cover.
func (db *DB) Snapshot(ctx context.Context, programme string, seq int64, body []byte) error {
	sum := sha256.Sum256(body)
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO wavectl_snapshots (programme, seq, body, sha256) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
			programme, seq, body, sum[:]); err != nil {
			return err
		}
		// Keep three snapshots and every row after the oldest kept one.
		var oldest int64
		err := tx.QueryRow(ctx, `SELECT coalesce(min(seq), 0) FROM (SELECT seq FROM wavectl_snapshots WHERE programme = $1 ORDER BY seq DESC LIMIT 3) s`,
			programme).Scan(&oldest)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM wavectl_snapshots WHERE programme = $1 AND seq < $2`, programme, oldest); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM wavectl_journal WHERE programme = $1 AND seq <= $2`, programme, oldest)
		return err
	})
}

// Wait blocks until a journal row newer than seq exists, ctx ends, or
// poll passes (a poll in case a notification is lost).
func (db *DB) Wait(ctx context.Context, programme string, seq int64, poll time.Duration) error {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `LISTEN wavectl_journal`); err != nil {
		return err
	}
	defer func() { _, _ = conn.Exec(context.Background(), `UNLISTEN wavectl_journal`) }()
	var last int64
	if err := conn.QueryRow(ctx, `SELECT last_seq FROM wavectl_programmes WHERE name = $1`, programme).Scan(&last); err != nil {
		return err
	}
	if last > seq {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, poll)
	defer cancel()
	_, err = conn.Conn().WaitForNotification(wctx)
	if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	return err
}

func isUndefinedTable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "42P01"
}

// Exec runs a statement; for tests and maintenance.
func (db *DB) Exec(ctx context.Context, sql string, args ...any) error {
	_, err := db.pool.Exec(ctx, sql, args...)
	return err
}
