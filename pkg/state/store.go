package state

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// FileSuffix ends every state file's name.
const FileSuffix = ".state.json"

// BackupSuffix and JournalSuffix end the names of the files kept beside a
// state file: the previous good version, and the journal of every change.
const (
	BackupSuffix  = ".backup"
	JournalSuffix = ".journal"
)

// FileMode is the state file's mode: it names hosts, users and the estate's
// VMs, so only its owner reads it.
const FileMode fs.FileMode = 0o600

// DefaultPath is where a plan's state lives unless --state says otherwise:
// <planName>.state.json in the working directory, named after the plan's
// metadata.name (not its file name), so that a plan file that moves or is
// renamed keeps its record.
func DefaultPath(planName string) string {
	return planName + FileSuffix
}

// NewState returns an empty record for a plan, with this build's format
// version, the time it was created and a fresh lineage.
func NewState(planName, planFile, planHash string) *State {
	now := time.Now().UTC()
	return &State{
		FormatVersion: FormatVersion,
		Plan:          planName,
		PlanFile:      planFile,
		PlanHash:      planHash,
		Lineage:       NewLineage(),
		Created:       now,
		Updated:       now,
		Runs:          []*Run{},
		Apps:          []*App{},
	}
}

// NewLineage returns a random 128-bit id in hex. A lineage names one
// record from its creation on: a state file copied from another plan's run,
// or recreated from scratch, has another lineage.
func NewLineage() string {
	var b [16]byte
	// crypto/rand.Read never returns an error (Go 1.24+); it panics rather
	// than return weak bytes.
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Store is what the engine, resume and rollback keep a run's record in:
// what they need of it, no more, each change a typed one that a store in a
// database (issue 18) can make a row of. File is the store in a local
// file. Every change returns once it is durable; an error means it is not
// (it stays in memory), and the caller must start nothing new. Close makes
// the last writes durable and says if they were not.
type Store interface {
	// Path names the record for people (a file path, a database URL
	// without its credentials).
	Path() string
	// View calls fn with the record; fn must not change it or keep it.
	View(fn func(*State))
	// BeginRun records a run's start and the applications it schedules
	// (State.Ensure); EndRun how the current run ended.
	BeginRun(run Run, apps []*App) error
	EndRun(ended time.Time, result, note string) error
	// SetPlan records the plan file and content the record now follows.
	SetPlan(file, hash string) error
	// SetVCenter records a vCenter's identity.
	SetVCenter(name string, v VCenter) error
	// AddWaveHook and AddHook record a hook command's run.
	AddWaveHook(h HookRun) error
	AddHook(app string, h HookRun) error
	// AddApproval records a go/no-go approval, AddAbort a back-out
	// criterion that tripped; both only ever accrue (see governance.go).
	AddApproval(a Approval) error
	AddAbort(a Abort) error
	// UpdateApp changes one application's own fields and its units'
	// statuses.
	UpdateApp(app string, fn func(*App)) error
	// UpdateStepOf changes one step's record, its unit's and its
	// application's, in one commit: the engine's step transitions.
	UpdateStepOf(app, unit, kind string, phase int, fn func(*App, *Step, *Unit)) error
	// QueueStepOf is UpdateStepOf that does not wait for the change to be
	// durable: it returns once the change is made and queued for the next
	// commit (or with the error that kept it from being made). Commits are
	// made in order, so the next update that waits returns only once the
	// queued change is durable too, or with the error of the commit that
	// failed to make it so; Close makes it durable, or says it is not. For
	// a change that the caller's next waited update covers anyway: a
	// step's end, which the next step's start (or the unit's end) follows
	// before anything else is done, in one commit instead of two.
	QueueStepOf(app, unit, kind string, phase int, fn func(*App, *Step, *Unit)) error
	Close() error
}

var _ Store = (*File)(nil)

// File keeps a State on disk. Every Update is durable when it returns:
// the whole file is rewritten atomically (temp file, fsync, rename, fsync
// the folder), so a reader, or a crash at any moment, sees the previous
// version or the new one, never a mix. Beside the file it keeps:
//
//   - <path>.backup, the version it replaced, made by a hard link renamed
//     into place just before the rename (no copy, and never half of one);
//   - <path>.journal, an append-only journal of every change (see Entry),
//     appended and fsynced before the file is replaced, from which Rebuild
//     recovers the record.
//
// Updates from many goroutines are committed in groups: one writer
// goroutine writes whatever has changed since its last write, so one
// fsync'ed write covers every Update that arrived before it started, and a
// hundred VMs finishing steps at once cost a handful of writes, not a
// hundred.
//
// A File does not lock the file against other processes: take Lock
// before Open or Create, and release it after Close. Don't call Update or
// View from inside fn (it deadlocks).
type File struct {
	path string
	now  func() time.Time

	mu      sync.Mutex
	st      *State
	j       *journal // its lines and shadow are guarded by mu, its file is the writer's
	pending *commit  // the commit the next write makes, nil when nothing waits
	// plain says a plain Update came since the last commit: the journal
	// must compare the whole record to find what it changed.
	plain  bool
	closed bool

	kick chan struct{} // wakes the writer; buffered, one is enough
	done chan struct{} // closed when the writer has stopped
	// closeErr is the last write's error when the store closed; queuedErr
	// that of a commit of queued changes, for the next update that waits.
	closeErr  error
	queuedErr error

	// last is the file as this store last wrote (or read) it; the writer's.
	last fs.FileInfo

	// beforeRename, when set (tests), runs after the temp file is written
	// and synced, before it replaces the target: a crash there must leave
	// the target whole.
	beforeRename func(tmp string) error
	// writes counts the file writes, for tests and the benchmark.
	writes atomic.Int64
	// commits counts the groups made durable, updates the changes in
	// them, busy the time spent making them so and checkpointBusy the part
	// of it spent on checkpoints (see Stats), for Stats.
	commits        atomic.Int64
	updates        atomic.Int64
	busy           atomic.Int64
	checkpointBusy atomic.Int64

	// checkpointing says a checkpoint is being written beside the
	// writer; the writer's.
	checkpointing bool

	// every is how long the writer waits between checkpoints
	// (CheckpointEvery; tests set 0 to write the file at every commit).
	every time.Duration
	// lastCheckpoint and fileSerial say when the state file was last
	// written, and with which serial, fileSize how big it was, lastCommit
	// when the last commit ended and sinceBytes how many bytes of journal
	// were appended since the last checkpoint began; guarded by mu.
	lastCheckpoint time.Time
	fileSerial     int64
	fileSize       int64
	lastCommit     time.Time
	sinceBytes     int64
	// cpMu lets one checkpoint be written at a time; checkpointed tells
	// the writer that one written beside it has ended.
	cpMu         sync.Mutex
	checkpointed chan struct{}
}

// CheckpointEvery is the least time between two checkpoints, in which a
// store replaces its state file with the whole record while updates go on.
// Every update is durable in the journal the moment it returns; the state
// file is the journal's checkpoint, and Read applies the journal's later
// lines to it. Rewriting a 3 MB record on every commit cost a 1,500-VM run
// most of its time. While updates go on, a checkpoint is written once the
// journal has grown by the state file's size since the last one (so Read
// applies at most about one record's worth of lines; for a 1,500-VM
// record, about every 30 s of a busy run); once they stop, within
// CheckpointEvery. It is written beside the writer, not in its way:
// commits go on meanwhile.
const CheckpointEvery = 5 * time.Second

// checkpointEvery is CheckpointEvery; tests of the file's own handling set
// it to 0 (a checkpoint at every commit).
var checkpointEvery = CheckpointEvery

// Stats says what keeping the record durable has cost so far.
type Stats struct {
	// Updates is the number of changes made durable, Commits the number of
	// groups they were made durable in: for the file, each one journal
	// append and sync; for the database, each one journal row.
	Updates, Commits int64
	// Writes is the number of times the state file itself was replaced
	// (the database store: the snapshots it wrote).
	Writes int64
	// Busy is the time spent persisting the record, measured by the clock
	// (not CPU time: waiting for the disk, the database or the CPU counts):
	// the writer's time making each group durable (marshalling, comparing,
	// appending the journal and syncing it, or sending the row and waiting
	// for the database's commit), its time writing checkpoints and
	// snapshots of the whole record (marshalling, checksums, writing,
	// syncing, renaming, reading the database's record back), and the
	// updating goroutines' time encoding their changes into journal
	// entries. The times are summed: a checkpoint written beside a commit
	// counts in full, as if they had taken turns. Not counted: the time an
	// update waits for its commit (the writer's time already).
	Busy time.Duration
	// Checkpoints is the part of Busy spent on checkpoints (file) or
	// snapshots (database) of the whole record.
	Checkpoints time.Duration
}

// Stats returns the store's counters.
func (s *File) Stats() Stats {
	return Stats{Updates: s.updates.Load(), Commits: s.commits.Load(), Writes: s.writes.Load(),
		Busy: time.Duration(s.busy.Load()), Checkpoints: time.Duration(s.checkpointBusy.Load())}
}

// commit is one group of Updates that one write makes durable.
type commit struct {
	done chan struct{}
	err  error
	// queued is how many of them nobody waits for (QueueStepOf): its
	// error is kept for the next update that waits.
	queued int
}

// Create writes st as a new state file at path and returns its store. It
// refuses to replace an existing file. It fills in what st lacks (format
// version, lineage, created time), raises the serial and sets the file's
// mode to 0600. The journal beside the file starts with the whole record,
// and the backup with this first version.
func Create(path string, st *State) (*File, error) {
	if st.FormatVersion == 0 {
		st.FormatVersion = FormatVersion
	}
	if st.Lineage == "" {
		st.Lineage = NewLineage()
	}
	now := time.Now().UTC()
	if st.Created.IsZero() {
		st.Created = now
	}
	st.Updated = now
	st.Serial++
	st.Checksum = ""
	raw, err := json.Marshal(st)
	var data [3][]byte
	if err == nil {
		data, err = encodeRaw(raw)
	}
	if err != nil {
		return nil, fmt.Errorf("state file %s: %w", path, err)
	}
	if err := writeNew(path, data[:]...); err != nil {
		return nil, err
	}
	s := newStore(path, st)
	s.last, _ = os.Stat(path)
	s.fileSerial = st.Serial
	s.fileSize = int64(len(data[0]) + len(data[1]) + len(data[2]))
	// A backup left by an earlier record of this name is not this one's.
	// Failures here are not the new record's: the first write retries both.
	_ = linkBackup(path)
	s.j.queueState(raw, st.Serial, st.Updated)
	if err := s.j.append(s.j.take()); err != nil {
		s.j.resync = true
	}
	go s.writer()
	return s, nil
}

// Open loads the state file at path for updating, with the errors Read
// gives. A file of an older format version is migrated in memory and
// written in this build's format with the first Update. The first write
// starts the journal over with the record as it was read, so that the
// journal follows the file even if the file was restored from its backup.
func Open(path string) (*File, error) {
	st, fileSerial, err := read(path)
	if err != nil {
		return nil, err
	}
	scrubbed := scrub(st)
	raw, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("state file %s: %w", path, err)
	}
	s := newStore(path, st)
	s.last, _ = os.Stat(path)
	if s.last != nil {
		s.fileSize = s.last.Size()
	}
	// A record the journal carried past the file is written whole soon.
	s.fileSerial = fileSerial
	if scrubbed {
		if err := s.rewriteScrubbed(); err != nil {
			return nil, err
		}
		s.fileSerial = st.Serial
	}
	s.j.queueState(raw, st.Serial, st.Updated)
	go s.writer()
	return s, nil
}

// newStore returns a store of st; the caller starts its writer.
func newStore(path string, st *State) *File {
	return &File{
		path: path,
		now:  func() time.Time { return time.Now().UTC() },
		st:   st,
		j:    newJournal(path+JournalSuffix, st),
		kick: make(chan struct{}, 1),
		done: make(chan struct{}),

		every:          checkpointEvery,
		lastCheckpoint: time.Now(),
		checkpointed:   make(chan struct{}, 1),
	}
}

// Path returns the state file's path.
func (s *File) Path() string { return s.path }

// Update applies fn to the state under the store's lock, raises Serial,
// sets Updated, and returns once a write that contains the change is on
// disk. fn must not keep references to the state after it returns. When
// the write fails, the change stays in memory (the next write carries it)
// and the error comes back: the record is no longer durable, and the
// caller should stop starting new work.
//
// The journal learns of fn's changes at the write, by comparing the record
// with what the journal last said: two changes of one step that one write
// covers become one line (running to done, say). UpdateApp and UpdateStep
// journal each change as it is made.
func (s *File) Update(fn func(*State)) error {
	c, err := s.apply("", false, func(st *State) error { fn(st); return nil })
	if err != nil {
		return err
	}
	return s.wait(c)
}

// wait waits for the commit c and returns its error, or else that of an
// earlier commit of queued changes (QueueStepOf) that failed: c is durable
// only with them.
func (s *File) wait(c *commit) error {
	<-c.done
	if c.err != nil {
		return c.err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.queuedErr
	s.queuedErr = nil
	return err
}

// UpdateApp is Update for a change to one application's record: fn gets
// the record of the application named app, and the journal gets a line for
// each step, unit and application field fn changed, at once. It fails
// without calling fn when there is no such application.
func (s *File) UpdateApp(app string, fn func(*App)) error {
	c, err := s.apply(app, false, func(st *State) error {
		a := st.App(app)
		if a == nil {
			return fmt.Errorf("state file %s: no application %q in the record", s.path, app)
		}
		fn(a)
		return nil
	})
	if err != nil {
		return err
	}
	return s.wait(c)
}

// UpdateStep is UpdateApp for a change to one step (and its unit): the
// engine's step transitions. It fails without calling fn when the record
// has no such step.
func (s *File) UpdateStep(app, unit, kind string, phase int, fn func(*Step, *Unit)) error {
	return s.UpdateStepOf(app, unit, kind, phase, func(_ *App, r *Step, u *Unit) { fn(r, u) })
}

// UpdateStepOf is UpdateStep whose fn also gets the application's record,
// for a change to the application that goes with the step's (its outage
// starting or ending): one commit instead of two.
func (s *File) UpdateStepOf(app, unit, kind string, phase int, fn func(*App, *Step, *Unit)) error {
	c, err := s.applyStep(app, unit, kind, phase, false, fn)
	if err != nil {
		return err
	}
	return s.wait(c)
}

// QueueStepOf is UpdateStepOf that returns once the change is made and
// queued for the next commit, without waiting for it (see Store).
func (s *File) QueueStepOf(app, unit, kind string, phase int, fn func(*App, *Step, *Unit)) error {
	_, err := s.applyStep(app, unit, kind, phase, true, fn)
	return err
}

func (s *File) applyStep(app, unit, kind string, phase int, queued bool, fn func(*App, *Step, *Unit)) (*commit, error) {
	return s.apply(app, queued, func(st *State) error {
		a := st.App(app)
		if a == nil {
			return fmt.Errorf("state file %s: no application %q in the record", s.path, app)
		}
		u := a.Unit(unit)
		if u == nil {
			return fmt.Errorf("state file %s: application %s has no unit %q in the record", s.path, app, unit)
		}
		r := u.Step(kind, phase)
		if r == nil {
			return fmt.Errorf("state file %s: %s of %s has no step %s (phase %d) in the record", s.path, unitName(unit), app, kind, phase)
		}
		fn(a, r, u)
		return nil
	})
}

func unitName(u string) string {
	if u == "" {
		return "the application's own unit"
	}
	return u
}

// apply changes the state with fn under the lock and joins the next
// commit (queued: without its caller waiting for it). With app set, the
// journal compares that application before fn (catching up with plain
// Updates) and after it.
func (s *File) apply(app string, queued bool, fn func(*State) error) (*commit, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	// The journal's comparisons and lines are persisting: Busy counts them.
	start := time.Now()
	if app != "" && !s.j.diffApp(s.st, app, s.st.Serial, s.st.Updated) {
		s.plain = true
	}
	spent := time.Since(start)
	if err := fn(s.st); err != nil {
		s.busy.Add(int64(spent))
		return nil, err
	}
	s.st.Serial++
	s.st.Updated = s.now()
	start = time.Now()
	if app == "" || !s.j.diffApp(s.st, app, s.st.Serial, s.st.Updated) {
		s.plain = true
	}
	s.busy.Add(int64(spent + time.Since(start)))
	c := s.join()
	if queued {
		c.queued++
	}
	return c, nil
}

// join adds an update to the pending commit, making one and waking the
// writer when there is none; under the lock.
func (s *File) join() *commit {
	s.updates.Add(1)
	if s.pending == nil {
		s.pending = &commit{done: make(chan struct{})}
		select {
		case s.kick <- struct{}{}:
		default: // the writer has been woken already
		}
	}
	return s.pending
}

// writer makes the pending commits durable, one journal append per group,
// until the store closes; between commits it replaces the state file with
// the whole record (a checkpoint) once CheckpointEvery has passed since the
// last one. When the store closes it commits what is left and checkpoints.
func (s *File) writer() {
	defer close(s.done)
	var timer *time.Timer
	var due <-chan time.Time
	for {
		select {
		case _, open := <-s.kick:
			if !open {
				if timer != nil {
					timer.Stop()
				}
				s.flush()
				// After the one being written, if any (cpMu).
				_ = s.checkpoint() // a failure is kept for Close and retried at the next one
				return
			}
			s.flush()
		case <-due:
			due = nil
		case <-s.checkpointed:
			s.checkpointing = false
		}
		if s.every <= 0 {
			continue // each commit checkpointed already
		}
		wait, ok := s.checkpointDue()
		switch {
		case !ok:
		case wait <= 0:
			if s.checkpointing {
				break // s.checkpointed will say when it ends
			}
			s.checkpointing = true
			s.mu.Lock()
			s.sinceBytes = 0
			s.mu.Unlock()
			go func() {
				_ = s.checkpoint() // as above
				s.checkpointed <- struct{}{}
			}()
		case due == nil:
			timer = time.NewTimer(wait)
			due = timer.C
		}
	}
}

// checkpointDue says whether the record has changed since the state file
// was last written, and how long until it is to be written again (see
// CheckpointEvery).
func (s *File) checkpointDue() (wait time.Duration, dirty bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.Serial == s.fileSerial {
		return 0, false
	}
	wait = s.every - time.Since(s.lastCheckpoint)
	if s.sinceBytes < s.fileSize {
		wait = max(wait, s.every-time.Since(s.lastCommit)) // quiet since
	}
	return wait, true
}

// flush makes the pending commit durable: the lines that say what changed
// since the last commit are appended to the journal and synced, and the
// Updates waiting on it are told how it went. When the journal cannot be
// written, the state file is replaced instead (and the journal starts over
// with the whole record at the next commit).
func (s *File) flush() {
	s.mu.Lock()
	c := s.pending
	s.pending = nil
	if c == nil {
		s.mu.Unlock()
		return
	}
	start := time.Now()
	lines, err := s.j.collect(s.st, s.plain)
	s.plain = false
	s.mu.Unlock()
	if err == nil {
		if jerr := s.j.append(lines); jerr != nil {
			// The lines are lost: start the journal over with the whole
			// record at the next commit, and make this one durable in the
			// state file itself.
			s.mu.Lock()
			s.j.resync = true
			s.mu.Unlock()
			s.busy.Add(int64(time.Since(start)))
			if err = s.checkpoint(); err == nil {
				err = fmt.Errorf("the state was written but its journal %s was not: %w", s.j.path, jerr)
			}
			start = time.Now()
		} else if s.every <= 0 {
			// A checkpoint at every commit, before it returns: the file
			// alone is the whole record whenever an Update has returned.
			s.busy.Add(int64(time.Since(start)))
			err = s.checkpoint()
			start = time.Now()
		}
	}
	if err != nil {
		err = stateFileError(s.path, err)
	}
	c.err = err
	close(c.done)
	end := time.Now()
	s.busy.Add(int64(end.Sub(start)))
	s.commits.Add(1)
	s.mu.Lock()
	s.closeErr = err
	if err != nil && c.queued > 0 {
		s.queuedErr = err
	}
	s.lastCommit = end
	s.sinceBytes += int64(len(lines))
	s.mu.Unlock()
}

// checkpoint replaces the state file with the whole record, when it has
// changed since the last one: marshalled under the lock, so the bytes hold
// every Update that took the lock before, and no half of a later one; laid
// out, sealed and written outside it. A failed checkpoint loses nothing
// (the journal holds every change); it is retried at the next one, and
// Close reports it if the last one fails.
func (s *File) checkpoint() error {
	s.cpMu.Lock()
	defer s.cpMu.Unlock()
	start := time.Now()
	defer func() {
		d := int64(time.Since(start))
		s.busy.Add(d)
		s.checkpointBusy.Add(d)
	}()
	s.mu.Lock()
	if s.st.Serial == s.fileSerial {
		s.mu.Unlock()
		return nil
	}
	raw, err := json.Marshal(s.st)
	serial := s.st.Serial
	updated := s.st.Updated
	s.mu.Unlock()
	var data [3][]byte
	if err == nil {
		data, err = encodeRaw(raw)
	}
	if err == nil {
		err = s.write(data[:]...)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastCheckpoint = time.Now()
	if err != nil {
		err = fmt.Errorf("%w (every change is kept in its journal %s)", stateFileError(s.path, err), s.j.path)
		s.closeErr = err
		return err
	}
	s.fileSerial = serial
	s.fileSize = int64(len(data[0]) + len(data[1]) + len(data[2]))
	s.closeErr = nil
	s.j.line(Entry{Type: EntryCommit, Serial: serial, Time: updated})
	return nil
}

// View calls fn with the state under the store's lock; fn must not change
// it or keep references to it.
func (s *File) View(fn func(*State)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(s.st)
}

// Close waits for pending Updates to be written and stops the writer. It
// returns the last write's error, if it failed. Updates after Close fail
// with ErrClosed.
func (s *File) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.done
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	// No Update can send on kick any more: they check closed under mu
	// before sending.
	close(s.kick)
	<-s.done
	s.j.close()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closeErr
}

// stateFileError says which state file err is about, once.
func stateFileError(path string, err error) error {
	if strings.HasPrefix(err.Error(), "state file ") {
		return err
	}
	return fmt.Errorf("state file %s: %w", path, err)
}
