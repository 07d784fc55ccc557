package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wavectl/wavectl/pkg/state"
)

// Store is a programme's record in the database: a state.Store.
//
// It keeps the record in memory, as the file store does, and makes each
// group of updates durable with one journal row (one insert, one commit):
// the entries of package state's journal (step, unit, app and record
// entries), each saying the absolute value of what it names. Updates from
// many goroutines are grouped by one writer goroutine.
//
// Several runs write one programme at once, each under its own lease on
// its own applications. Their app, unit and step entries touch different
// applications, so their order does not matter; their record entries
// (the runs, the vCenters, the waves' hook runs) are merged, not replaced
// (MergeRecord), so one run's entry never hides another's. Before each
// commit the writer reads the rows the other runs wrote since, so its own
// view (the engine's dependency checks, status) follows theirs.
//
// A snapshot of the whole record is written now and then, made from the
// database (the newest snapshot and the rows after it), never from one
// writer's memory: once the rows this store wrote since its last snapshot
// hold as many bytes as that snapshot, so that a reader replays at most
// about one record's worth of rows, and no sooner than SnapshotEvery
// after the last one; and when the store closes. It is written beside the
// writer, not in its way: commits go on meanwhile.
type Store struct {
	db        *DB
	programme string
	lease     *Lease

	mu      sync.Mutex
	st      *state.State
	seq     int64 // the newest row this store has read or written
	pending *group
	closed  bool
	// failed is the error that stopped the writer (fencing): every later
	// update fails with it.
	failed error
	// run is the run this store began (BeginRun), found again by who ran it.
	run *state.Run

	kick     chan struct{}
	done     chan struct{}
	closeErr error
	// lastSnap and sinceSnap (the bytes of the rows written since) are
	// the writer's; snapSize is the size of the last snapshot, snapping
	// says one is being written beside the writer (snapWG waits for it),
	// snapMu lets one be written at a time.
	lastSnap  time.Time
	sinceSnap int64
	snapSize  atomic.Int64
	snapping  atomic.Bool
	snapMu    sync.Mutex
	snapWG    sync.WaitGroup

	updates   atomic.Int64
	commits   atomic.Int64
	snapshots atomic.Int64
	busy      atomic.Int64
	snapBusy  atomic.Int64
}

var _ state.Store = (*Store)(nil)

// SnapshotEvery is the least time between two snapshots of one writer
// (see Store).
var SnapshotEvery = 30 * time.Second

type group struct {
	entries []json.RawMessage
	queued  int // how many of them nobody waits for (QueueStepOf)
	done    chan struct{}
	err     error
}

// ErrClosed is an update after Close.
var ErrClosed = errors.New("the state store is closed")

// Read loads a programme's record as it is now: its newest snapshot with
// the rows after it replayed.
func (db *DB) Read(ctx context.Context, programme string) (*state.State, error) {
	st, _, _, err := db.read(ctx, programme)
	return st, err
}

// read is Read, with the sequence number the record is at and the size of
// the snapshot it started from.
func (db *DB) read(ctx context.Context, programme string) (*state.State, int64, int, error) {
	p, err := db.Find(ctx, programme)
	if err != nil {
		return nil, 0, 0, err
	}
	if p.Format > state.FormatVersion {
		return nil, 0, 0, &state.VersionError{Path: db.Name(p.Name), Found: p.Format, Supported: state.FormatVersion}
	}
	snapSeq, body, rows, err := db.Load(ctx, p.Name)
	if err != nil {
		return nil, 0, 0, err
	}
	st, err := state.Decode(db.Name(p.Name), body)
	if err != nil {
		return nil, 0, 0, err
	}
	if st.Lineage != p.Lineage {
		return nil, 0, 0, &ForeignError{Name: p.Name, Have: p.Lineage, Want: st.Lineage}
	}
	seq := snapSeq
	for _, r := range rows {
		if err := replayRow(st, r); err != nil {
			return nil, 0, 0, err
		}
		seq = r.Seq
	}
	st.Serial = seq
	return st, seq, len(body), nil
}

// Name names a programme in this database for people: the URL without its
// password, and the programme.
func (db *DB) Name(programme string) string {
	return db.url + "#" + programme
}

// replayRow applies one row's entries to a record.
func replayRow(st *state.State, r Row) error {
	var es []state.Entry
	if err := json.Unmarshal(r.Entry, &es); err != nil {
		return fmt.Errorf("journal row %d: %v", r.Seq, err)
	}
	for i := range es {
		e := &es[i]
		if e.Type == state.EntryRecord && e.Record != nil {
			MergeRecord(st, e.Record)
			continue
		}
		if err := state.Replay(st, e); err != nil {
			return fmt.Errorf("journal row %d: %v", r.Seq, err)
		}
	}
	if n := len(es); n > 0 && !es[n-1].Time.IsZero() {
		st.Updated = es[n-1].Time
	}
	return nil
}

// MergeRecord merges the record fields of src into dst, as concurrent runs
// need: runs are kept by who ran them (host, PID, start), and of two copies
// of one run the one that ended wins (a run is changed only by itself, and
// only towards its end); vCenters and the waves' hook runs are united; the
// plan's file and hash are src's.
func MergeRecord(dst, src *state.State) {
	dst.PlanFile, dst.PlanHash = src.PlanFile, src.PlanHash
	dst.Rehearsal = dst.Rehearsal || src.Rehearsal
	for name, vc := range src.VCenters {
		if dst.VCenters == nil {
			dst.VCenters = map[string]state.VCenter{}
		}
		dst.VCenters[name] = vc
	}
	for _, r := range src.Runs {
		i := indexRun(dst.Runs, r)
		switch {
		case i < 0:
			cp := *r
			dst.Runs = insertRun(dst.Runs, &cp)
		case dst.Runs[i].Ended == nil || (r.Ended != nil && r.Ended.After(*dst.Runs[i].Ended)):
			cp := *r
			dst.Runs[i] = &cp
		}
	}
	for _, h := range src.WaveHooks {
		if !containsHook(dst.WaveHooks, h) {
			dst.WaveHooks = append(dst.WaveHooks, h)
		}
	}
	// Approvals and tripped criteria only ever accrue: concurrent writers'
	// are united, never one run's list over another's.
	for _, a := range src.Approvals {
		dst.AddApproval(a)
	}
	for _, a := range src.Aborts {
		dst.AddAbort(a)
	}
}

func indexRun(runs []*state.Run, r *state.Run) int {
	for i, x := range runs {
		if x.Host == r.Host && x.PID == r.PID && x.Started.Equal(r.Started) {
			return i
		}
	}
	return -1
}

// insertRun keeps runs in the order they started.
func insertRun(runs []*state.Run, r *state.Run) []*state.Run {
	i := len(runs)
	for i > 0 && runs[i-1].Started.After(r.Started) {
		i--
	}
	runs = append(runs, nil)
	copy(runs[i+1:], runs[i:])
	runs[i] = r
	return runs
}

func containsHook(hs []state.HookRun, h state.HookRun) bool {
	for _, x := range hs {
		if x.Kind == h.Kind && x.Wave == h.Wave && x.Unit == h.Unit && x.Command == h.Command && x.Started.Equal(h.Started) {
			return true
		}
	}
	return false
}

// Open opens a programme's record for a run holding lease.
func (db *DB) Open(ctx context.Context, programme string, lease *Lease) (*Store, error) {
	st, seq, size, err := db.read(ctx, programme)
	if err != nil {
		return nil, err
	}
	s := &Store{db: db, programme: programme, lease: lease, st: st, seq: seq,
		kick: make(chan struct{}, 1), done: make(chan struct{}), lastSnap: time.Now()}
	s.snapSize.Store(int64(size))
	go s.writer()
	return s, nil
}

// Path names the record for people.
func (s *Store) Path() string { return s.db.Name(s.programme) }

// Lease is the lease the store writes under.
func (s *Store) Lease() *Lease { return s.lease }

// View calls fn with the record.
func (s *Store) View(fn func(*state.State)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(s.st)
}

// Stats says what keeping the record durable has cost so far (Writes
// counts snapshots), measured as state.Stats says.
func (s *Store) Stats() state.Stats {
	return state.Stats{Updates: s.updates.Load(), Commits: s.commits.Load(), Writes: s.snapshots.Load(),
		Busy: time.Duration(s.busy.Load()), Checkpoints: time.Duration(s.snapBusy.Load())}
}

// Update changes the record's own fields or several applications.
func (s *Store) Update(fn func(*state.State)) error {
	return s.commit(func(st *state.State, at time.Time) ([]state.Entry, error) {
		before, err := snapshotParts(st)
		if err != nil {
			return nil, err
		}
		fn(st)
		after, err := snapshotParts(st)
		if err != nil {
			return nil, err
		}
		var es []state.Entry
		if !bytes.Equal(before.record, after.record) {
			rec := *st
			rec.Apps = nil
			es = append(es, state.Entry{Type: state.EntryRecord, Time: at, Record: &rec})
		}
		for i, a := range st.Apps {
			if b, ok := before.apps[a.Name]; !ok || !bytes.Equal(b, after.apps[a.Name]) {
				es = append(es, state.Entry{Type: state.EntryApp, Time: at, Application: st.Apps[i]})
			}
		}
		if len(after.apps) < len(before.apps) {
			return nil, errors.New("the database store cannot remove an application from the record")
		}
		return es, nil
	})
}

type parts struct {
	record []byte
	apps   map[string][]byte
}

func snapshotParts(st *state.State) (parts, error) {
	rec := *st
	rec.Apps, rec.Serial, rec.Updated = nil, 0, time.Time{}
	rb, err := json.Marshal(&rec)
	if err != nil {
		return parts{}, err
	}
	p := parts{record: rb, apps: make(map[string][]byte, len(st.Apps))}
	for _, a := range st.Apps {
		b, err := json.Marshal(a)
		if err != nil {
			return parts{}, err
		}
		p.apps[a.Name] = b
	}
	return p, nil
}

// UpdateApp changes one application's record.
func (s *Store) UpdateApp(app string, fn func(*state.App)) error {
	return s.commit(func(st *state.State, at time.Time) ([]state.Entry, error) {
		a := st.App(app)
		if a == nil {
			return nil, fmt.Errorf("state %s: no application %q in the record", s.Path(), app)
		}
		fn(a)
		return []state.Entry{{Type: state.EntryApp, Time: at, Application: a}}, nil
	})
}

// UpdateStepOf changes one step's record, its unit's and its
// application's, in one commit.
func (s *Store) UpdateStepOf(app, unit, kind string, phase int, fn func(*state.App, *state.Step, *state.Unit)) error {
	g, err := s.queue(s.stepChange(app, unit, kind, phase, fn), false)
	if err != nil || g == nil {
		return err
	}
	<-g.done
	return g.err
}

// QueueStepOf is UpdateStepOf without waiting for the commit (see
// state.Store). When that commit fails, the store fails: every later
// update returns the error, and so does Close.
func (s *Store) QueueStepOf(app, unit, kind string, phase int, fn func(*state.App, *state.Step, *state.Unit)) error {
	_, err := s.queue(s.stepChange(app, unit, kind, phase, fn), true)
	return err
}

func (s *Store) stepChange(app, unit, kind string, phase int, fn func(*state.App, *state.Step, *state.Unit)) func(*state.State, time.Time) ([]state.Entry, error) {
	return func(st *state.State, at time.Time) ([]state.Entry, error) {
		a := st.App(app)
		if a == nil {
			return nil, fmt.Errorf("state %s: no application %q in the record", s.Path(), app)
		}
		u := a.Unit(unit)
		if u == nil {
			return nil, fmt.Errorf("state %s: application %s has no unit %q in the record", s.Path(), app, unit)
		}
		r := u.Step(kind, phase)
		if r == nil {
			return nil, fmt.Errorf("state %s: %s of %s has no step %s (phase %d) in the record", s.Path(), unit, app, kind, phase)
		}
		from := r.Status
		fn(a, r, u)
		own := *a
		own.Units = nil // the application's own fields; its units stay as they are
		step := *r
		return []state.Entry{
			{Type: state.EntryApp, Time: at, Application: &own},
			{Type: state.EntryStep, Time: at, App: app, Unit: unit, From: from, Step: &step, UnitStatus: u.Status, Outputs: copyMap(u.Outputs)},
		}, nil
	}
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// commit applies a change under the lock, queues its entries (marshalled
// now, so that later changes cannot alter them) and waits until the row
// that holds them is committed.
func (s *Store) commit(change func(*state.State, time.Time) ([]state.Entry, error)) error {
	g, err := s.queue(change, false)
	if err != nil || g == nil {
		return err
	}
	<-g.done
	return g.err
}

// queue applies a change under the lock and queues its entries for the
// next row; it returns the group they are in (nil when the change needs no
// entry). queued says nobody waits for it.
func (s *Store) queue(change func(*state.State, time.Time) ([]state.Entry, error), queued bool) (*group, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	if s.failed != nil {
		s.mu.Unlock()
		return nil, s.failed
	}
	// Finding and encoding the entries is persisting: Busy counts it (and
	// the caller's change itself, which is a few assignments).
	start := time.Now()
	at := start.UTC()
	es, err := change(s.st, at)
	if err != nil {
		s.busy.Add(int64(time.Since(start)))
		s.mu.Unlock()
		return nil, err
	}
	s.st.Updated = at
	if len(es) == 0 {
		s.busy.Add(int64(time.Since(start)))
		s.mu.Unlock()
		return nil, nil
	}
	// Marshal now: the entries point into the record, which changes.
	frozen := make([]json.RawMessage, len(es))
	for i := range es {
		if frozen[i], err = json.Marshal(&es[i]); err != nil {
			s.busy.Add(int64(time.Since(start)))
			s.mu.Unlock()
			return nil, err
		}
	}
	s.busy.Add(int64(time.Since(start)))
	s.updates.Add(1)
	if s.pending == nil {
		s.pending = &group{done: make(chan struct{})}
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
	g := s.pending
	g.entries = append(g.entries, frozen...)
	if queued {
		g.queued++
	}
	s.mu.Unlock()
	return g, nil
}

// writer commits the pending groups, one row each, until the store closes.
func (s *Store) writer() {
	defer close(s.done)
	for {
		_, open := <-s.kick
		s.flush()
		if !open {
			s.mu.Lock()
			failed := s.failed
			s.mu.Unlock()
			s.snapWG.Wait() // the one being written, if any
			if failed == nil {
				if err := s.snapshot(); err != nil {
					s.mu.Lock()
					s.closeErr = err
					s.mu.Unlock()
				}
			}
			return
		}
		if s.sinceSnap >= s.snapSize.Load() && time.Since(s.lastSnap) >= SnapshotEvery && !s.snapping.Swap(true) {
			s.lastSnap, s.sinceSnap = time.Now(), 0
			s.snapWG.Add(1)
			go func() {
				defer s.snapWG.Done()
				defer s.snapping.Store(false)
				_ = s.snapshot() // a failed snapshot loses nothing: the rows stay
			}()
		}
	}
}

func (s *Store) flush() {
	s.mu.Lock()
	g := s.pending
	s.pending = nil
	failed := s.failed
	s.mu.Unlock()
	if g == nil {
		return
	}
	if failed != nil {
		// An earlier row was refused or lost: none after it is written.
		g.err = failed
		close(g.done)
		return
	}
	start := time.Now()
	err := s.append(g)
	end := time.Now()
	s.busy.Add(int64(end.Sub(start)))
	g.err = err
	if err != nil {
		s.mu.Lock()
		s.closeErr = err
		var fe *FencedError
		if errors.As(err, &fe) || g.queued > 0 {
			// Fenced, or queued changes nobody will hear of are lost: the
			// record in the database is not the one in memory any more.
			s.failed = err
		}
		s.mu.Unlock()
	}
	close(g.done)
}

func (s *Store) append(g *group) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	body, err := json.Marshal(g.entries)
	if err != nil {
		return err
	}
	seq, err := s.db.Append(ctx, s.programme, s.lease, body)
	if err != nil {
		return fmt.Errorf("state %s: %w", s.Path(), err)
	}
	s.commits.Add(1)
	s.sinceSnap += int64(len(body))
	// Catch up with the rows other runs wrote since the last commit: rows
	// are numbered in commit order, so every row before ours is committed
	// and readable now. When ours follows our last one, there are none.
	var rows []Row
	if seq != s.seq+1 {
		if rows, err = s.db.After(ctx, s.programme, s.seq); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range rows {
		if r.Seq > seq {
			break // a later row: the next commit reads it
		}
		if r.Scope == s.lease.Scope && r.Epoch == s.lease.Epoch {
			continue // ours, already in memory
		}
		if err := replayRow(s.st, r); err != nil {
			return err
		}
	}
	s.seq = seq
	s.st.Serial = seq
	return nil
}

// snapshot writes the record as the database has it now.
func (s *Store) snapshot() error {
	s.snapMu.Lock()
	defer s.snapMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	defer func() {
		d := int64(time.Since(start))
		s.busy.Add(d)
		s.snapBusy.Add(d)
	}()
	st, seq, _, err := s.db.read(ctx, s.programme)
	if err != nil {
		return err
	}
	body, err := state.Encode(st)
	if err != nil {
		return err
	}
	if err := s.db.Snapshot(ctx, s.programme, seq, body); err != nil {
		return err
	}
	s.snapSize.Store(int64(len(body)))
	s.snapshots.Add(1)
	return nil
}

// Close commits what is pending, snapshots the record and stops the
// writer. It returns the last write's error.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.done
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.kick)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closeErr
}
