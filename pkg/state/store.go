package state

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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

// ErrClosed is returned by Update on a closed store.
var ErrClosed = errors.New("state store is closed")

// CorruptError is a state file that cannot be used: not JSON, cut short,
// JSON that is not a wavectl state, or a file whose checksum does not
// match its content.
type CorruptError struct {
	Path string
	// Line and Col (1-based) locate the problem when it has a place in the
	// file; 0 otherwise.
	Line, Col int
	// Reason says what is wrong, e.g. "unexpected end of JSON input".
	Reason string
	Err    error
	// Backup is the previous good version beside the file (path +
	// BackupSuffix) when it reads cleanly, with its serial and time; ""
	// when there is none. Read and Open fill it in.
	Backup        string
	BackupSerial  int64
	BackupUpdated time.Time
	// Journal is the journal beside the file when the state can be rebuilt
	// from it (Rebuild), with the serial it rebuilds; "" otherwise.
	Journal       string
	JournalSerial int64
}

func (e *CorruptError) Error() string {
	at := e.Path
	if e.Line > 0 {
		at = fmt.Sprintf("%s:%d:%d", e.Path, e.Line, e.Col)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "state file %s is corrupt: %s\n"+
		"  wavectl replaces its state file whole, in one atomic rename, and seals it with a checksum, so something else\n"+
		"  changed or damaged it (an editor, a copy cut short, a full or failing disk); nothing was changed\n"+
		"  To carry on, one of:", at, e.Reason)
	if e.Backup != "" {
		fmt.Fprintf(&b, "\n  - Restore the previous good version (serial %d, written %s):\n      cp -p %s %s",
			e.BackupSerial, e.BackupUpdated.UTC().Format(time.RFC3339), shellQuote(e.Backup), shellQuote(e.Path))
	}
	if e.Journal != "" {
		newer := ""
		if e.Backup != "" && e.JournalSerial > e.BackupSerial {
			newer = ", newer than the backup"
		}
		fmt.Fprintf(&b, "\n  - Rebuild it from its journal %s, which records every change up to serial %d%s", e.Journal, e.JournalSerial, newer)
	}
	b.WriteString("\n  - Restore it from your backup or version control, or move it aside to start a new record")
	return b.String()
}

// shellQuote quotes a path for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./+,:@%=", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func (e *CorruptError) Unwrap() error { return e.Err }

// VersionError is a state file written by a newer wavectl, in a format this
// build does not know.
type VersionError struct {
	Path      string
	Found     int // the file's formatVersion
	Supported int // the newest this build reads: FormatVersion
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("state file %s has format version %d, but this wavectl reads versions up to %d: "+
		"it was written by a newer wavectl; upgrade wavectl to read it (nothing was changed)", e.Path, e.Found, e.Supported)
}

// ForeignError is a state file that belongs to another plan (or, later,
// another lineage).
type ForeignError struct {
	Path  string
	Field string // what differs: plan, lineage
	Want  string
	Got   string
}

func (e *ForeignError) Error() string {
	return fmt.Sprintf("state file %s belongs to %s %q, not %q: pass the plan it records, or the state file of %s %q with --state",
		e.Path, e.Field, e.Got, e.Want, e.Field, e.Want)
}

// CheckPlan returns a *ForeignError when st, read from path, records
// another plan than planName.
func CheckPlan(path string, st *State, planName string) error {
	if st.Plan != planName {
		return &ForeignError{Path: path, Field: "plan", Want: planName, Got: st.Plan}
	}
	return nil
}

// migrations[v-1] turns a decoded file of format version v into version
// v+1, on its generic JSON form, since the structs of old formats are not
// kept. A change to the format raises FormatVersion and appends one here (a
// test checks that they match).
var migrations = []func(doc map[string]json.RawMessage) error{
	// 1 to 2: version 2 seals the file with a checksum (filled in by the
	// next write) and keeps a backup and a journal beside it; the record
	// itself is unchanged.
	func(doc map[string]json.RawMessage) error {
		doc["checksum"] = json.RawMessage(`""`)
		return nil
	},
}

// Read loads the record at path without taking any lock and without
// writing; for status and report. The record is the state file with the
// journal's lines since the file was written applied to it (see
// CheckpointEvery): after a crash, the file alone may lag the last
// seconds of the run. Errors: a missing file wraps os.ErrNotExist; an
// unusable one is a *CorruptError (saying whether the backup or the journal
// beside it can stand in); one from a newer wavectl is a *VersionError; a
// journal whose lines since the file cannot be applied is a *JournalError.
//
// What it returns holds no credential, even when an older wavectl
// recorded one (see scrub); the file itself is cleaned by Open.
func Read(path string) (*State, error) {
	st, _, err := read(path)
	if st != nil {
		scrub(st)
	}
	return st, err
}

// read is Read, also returning the serial of the state file itself.
func read(path string) (*State, int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, pathError(path, err)
	}
	st, err := Decode(path, data)
	var ce *CorruptError
	if errors.As(err, &ce) {
		ce.findRemedies()
	}
	if err != nil {
		return nil, 0, err
	}
	fileSerial := st.Serial
	if err := catchUp(path, st); err != nil {
		return nil, 0, err
	}
	return st, fileSerial, nil
}

// findRemedies says which of the files beside a corrupt state can replace
// it. It reads them whole, but only when something is already wrong.
func (e *CorruptError) findRemedies() {
	bak := e.Path + BackupSuffix
	if data, err := os.ReadFile(bak); err == nil {
		if st, err := Decode(bak, data); err == nil {
			e.Backup, e.BackupSerial, e.BackupUpdated = bak, st.Serial, st.Updated
		}
	}
	if st, err := Rebuild(e.Path); err == nil {
		e.Journal, e.JournalSerial = e.Path+JournalSuffix, st.Serial
	}
}

// Decode parses a state file's bytes; path names it in errors. Older
// formats are migrated to this build's.
func Decode(path string, data []byte) (*State, error) {
	corrupt := func(reason string, err error) error {
		return &CorruptError{Path: path, Reason: reason, Err: err}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, corrupt("the file is empty", nil)
	}
	// The header first: the version decides how the rest is read.
	var head struct {
		FormatVersion *json.RawMessage `json:"formatVersion"`
		Checksum      *string          `json:"checksum"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, jsonError(path, data, err)
	}
	if head.FormatVersion == nil {
		return nil, corrupt("it has no formatVersion: it is not a wavectl state file", nil)
	}
	var version int
	if err := json.Unmarshal(*head.FormatVersion, &version); err != nil || version < 1 {
		return nil, corrupt(fmt.Sprintf("formatVersion %s is not a version wavectl writes (1 or more)", *head.FormatVersion), err)
	}
	if version > FormatVersion {
		return nil, &VersionError{Path: path, Found: version, Supported: FormatVersion}
	}
	if version < FormatVersion {
		var err error
		if data, err = migrate(version, data); err != nil {
			return nil, corrupt(fmt.Sprintf("migrating it from format version %d: %v", version, err), err)
		}
	}
	st := &State{}
	if err := json.Unmarshal(data, st); err != nil {
		return nil, jsonError(path, data, err)
	}
	if problem := check(st); problem != "" {
		return nil, corrupt(problem, nil)
	}
	// The checksum last: damage that JSON decoding finds has a place in the
	// file to show.
	if version >= 2 {
		if problem := verify(data, head.Checksum); problem != "" {
			return nil, corrupt(problem, nil)
		}
	}
	st.Checksum = ""
	return st, nil
}

// checksumKey is how the checksum's member starts in the indented file.
const checksumKey = `"checksum": `

// verify checks a file's checksum (nil: the file has none) against its
// bytes and says what is wrong, or "". An empty checksum is accepted: it is
// how an operator who edited the file by hand vouches for it.
func verify(data []byte, sum *string) string {
	switch {
	case sum == nil:
		return "it has no checksum, which every state file of format version 2 or later has: it was changed or damaged"
	case *sum == "":
		return ""
	}
	member := []byte(checksumKey + jsonString(*sum))
	i := bytes.Index(data, member)
	if i < 0 || !strings.HasPrefix(*sum, "sha256:") {
		return "its checksum cannot be checked (it is not where and how wavectl writes it): the file was changed or damaged"
	}
	h := sha256.New()
	h.Write(data[:i])
	h.Write([]byte(checksumKey + `""`))
	h.Write(data[i+len(member):])
	if "sha256:"+hex.EncodeToString(h.Sum(nil)) != *sum {
		return "its checksum does not match its content: the file was changed or damaged after wavectl wrote it " +
			`(if you edited it on purpose, set "checksum" to "" to vouch for your edit)`
	}
	return ""
}

// jsonString is the JSON form of a checksum (hex digits and a colon:
// nothing to escape).
func jsonString(s string) string { return `"` + s + `"` }

// seal fills in the checksum of an encoded state, whose checksum member is
// empty. The member is the first of its kind in the file (it comes second,
// after formatVersion), so no key of the same name further down (a unit's
// outputs) can be taken for it. The sealed file is head, member, tail, in
// three parts so that a 3 MB record is not copied again to make it.
func seal(data []byte) (parts [3][]byte, err error) {
	empty := []byte(checksumKey + `""`)
	i := bytes.Index(data, empty)
	if i < 0 {
		return parts, errors.New("encoded state has no empty checksum to fill in")
	}
	sum := sha256.Sum256(data)
	member := []byte(checksumKey + jsonString("sha256:"+hex.EncodeToString(sum[:])))
	return [3][]byte{data[:i], member, data[i+len(empty):]}, nil
}

// pathError says which state file an OS error is about, once: "state file
// x.state.json: no such file or directory". It still matches
// os.ErrNotExist and the like.
func pathError(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Path == path {
		err = pe.Err
	}
	return fmt.Errorf("state file %s: %w", path, err)
}

func migrate(from int, data []byte) ([]byte, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	for v := from; v < FormatVersion; v++ {
		if err := migrations[v-1](doc); err != nil {
			return nil, fmt.Errorf("to version %d: %w", v+1, err)
		}
		doc["formatVersion"] = json.RawMessage(fmt.Sprint(v + 1))
	}
	return json.Marshal(doc)
}

// check finds what JSON decoding lets through but a reader of the record
// cannot use: null entries in the lists.
func check(st *State) string {
	if st.Plan == "" {
		return "it names no plan"
	}
	for i, r := range st.Runs {
		if r == nil {
			return fmt.Sprintf("runs[%d] is null", i)
		}
	}
	for i, a := range st.Apps {
		if a == nil {
			return fmt.Sprintf("applications[%d] is null", i)
		}
		for j, u := range a.Units {
			if u == nil {
				return fmt.Sprintf("applications[%d] (%s): units[%d] is null", i, a.Name, j)
			}
			for k, s := range u.Steps {
				if s == nil {
					return fmt.Sprintf("applications[%d] (%s): units[%d] (%s): steps[%d] is null", i, a.Name, j, u.Name, k)
				}
			}
		}
	}
	return ""
}

func jsonError(path string, data []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	e := &CorruptError{Path: path, Reason: err.Error(), Err: err}
	switch {
	case errors.As(err, &syn):
		e.Line, e.Col = lineCol(data, syn.Offset)
		if syn.Error() == "unexpected end of JSON input" {
			e.Reason = "it ends too early (unexpected end of JSON input): it was cut short"
		}
	case errors.As(err, &typ):
		// The offset is just past the offending value; point at its start
		// as nearly as the decoder lets us.
		e.Line, e.Col = lineCol(data, typ.Offset)
		if typ.Field == "" {
			e.Reason = fmt.Sprintf("it holds a JSON %s, not an object: it is not a wavectl state file", typ.Value)
		} else {
			e.Reason = fmt.Sprintf("%s is a JSON %s, want %s", typ.Field, typ.Value, kindName(typ.Type))
		}
	}
	return e
}

// kindName says what JSON a Go type takes, in words.
func kindName(t reflect.Type) string {
	if t == reflect.TypeFor[time.Time]() {
		return "a time (RFC 3339 string)"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Pointer:
		return kindName(t.Elem())
	}
	return "an object"
}

// lineCol turns a decoder's offset (the bytes read when it failed) into
// the 1-based line and column (in bytes) of the last byte it read.
func lineCol(data []byte, off int64) (int, int) {
	pos := min(max(off-1, 0), int64(len(data)))
	before := data[:pos]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(pos) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return line, col
}

// Encode returns the file's bytes: indented JSON ending in a newline,
// sealed with its checksum.
func Encode(st *State) ([]byte, error) {
	if st.Checksum != "" {
		c := *st
		c.Checksum = ""
		st = &c
	}
	raw, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	parts, err := encodeRaw(raw)
	if err != nil {
		return nil, err
	}
	return bytes.Join(parts[:], nil), nil
}

// encodeRaw lays out and seals a marshalled state, in parts (see seal).
func encodeRaw(raw []byte) ([3][]byte, error) {
	data, err := indent(raw)
	if err != nil {
		return [3][]byte{}, err
	}
	return seal(data)
}

// indent lays out compact JSON as the file has it. It is apart from the
// marshalling so that the store does it outside its lock: on a record of
// 1,500 VMs each half costs about 10 ms.
func indent(raw []byte) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(raw) * 2)
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return nil, err
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// Store keeps a State on disk. Every Update is durable when it returns:
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
// A Store does not lock the file against other processes: take Lock
// before Open or Create, and release it after Close. Don't call Update or
// View from inside fn (it deadlocks).
type Store struct {
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
	// closeErr is the last write's error when the store closed.
	closeErr error

	// last is the file as this store last wrote (or read) it; the writer's.
	last fs.FileInfo

	// beforeRename, when set (tests), runs after the temp file is written
	// and synced, before it replaces the target: a crash there must leave
	// the target whole.
	beforeRename func(tmp string) error
	// writes counts the file writes, for tests and the benchmark.
	writes atomic.Int64
	// commits counts the groups made durable, busy the writer's time
	// spent making them so (marshalling, journal, file), for Stats.
	commits atomic.Int64
	busy    atomic.Int64

	// every is how long the writer waits between checkpoints
	// (CheckpointEvery; tests set 0 to write the file at every commit).
	every time.Duration
	// lastCheckpoint and fileSerial say when the state file was last
	// written, and with which serial; guarded by mu.
	lastCheckpoint time.Time
	fileSerial     int64
}

// CheckpointEvery is how often a store replaces its state file with the
// whole record while updates go on. Every update is durable in the journal
// the moment it returns; the state file is the journal's checkpoint, and
// Read applies the journal's later lines to it. Rewriting a 3 MB record on
// every commit cost a 1,500-VM run most of its time.
const CheckpointEvery = 5 * time.Second

// checkpointEvery is CheckpointEvery; tests of the file's own handling set
// it to 0 (a checkpoint at every commit).
var checkpointEvery = CheckpointEvery

// Stats says what keeping the record durable has cost so far.
type Stats struct {
	// Commits is the number of groups of updates made durable, each by one
	// journal append and sync.
	Commits int64
	// Writes is the number of times the state file itself was replaced.
	Writes int64
	// Busy is the time the store's writer spent making them durable:
	// marshalling, comparing, appending and syncing the journal, writing
	// the file.
	Busy time.Duration
}

// Stats returns the store's counters.
func (s *Store) Stats() Stats {
	return Stats{Commits: s.commits.Load(), Writes: s.writes.Load(), Busy: time.Duration(s.busy.Load())}
}

// commit is one group of Updates that one write makes durable.
type commit struct {
	done chan struct{}
	err  error
}

// Create writes st as a new state file at path and returns its store. It
// refuses to replace an existing file. It fills in what st lacks (format
// version, lineage, created time), raises the serial and sets the file's
// mode to 0600. The journal beside the file starts with the whole record,
// and the backup with this first version.
func Create(path string, st *State) (*Store, error) {
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
func Open(path string) (*Store, error) {
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
func newStore(path string, st *State) *Store {
	return &Store{
		path: path,
		now:  func() time.Time { return time.Now().UTC() },
		st:   st,
		j:    newJournal(path+JournalSuffix, st),
		kick: make(chan struct{}, 1),
		done: make(chan struct{}),

		every:          checkpointEvery,
		lastCheckpoint: time.Now(),
	}
}

// Path returns the state file's path.
func (s *Store) Path() string { return s.path }

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
func (s *Store) Update(fn func(*State)) error {
	c, err := s.apply("", func(st *State) error { fn(st); return nil })
	if err != nil {
		return err
	}
	<-c.done
	return c.err
}

// UpdateApp is Update for a change to one application's record: fn gets
// the record of the application named app, and the journal gets a line for
// each step, unit and application field fn changed, at once. It fails
// without calling fn when there is no such application.
func (s *Store) UpdateApp(app string, fn func(*App)) error {
	c, err := s.apply(app, func(st *State) error {
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
	<-c.done
	return c.err
}

// UpdateStep is UpdateApp for a change to one step (and its unit): the
// engine's step transitions. It fails without calling fn when the record
// has no such step.
func (s *Store) UpdateStep(app, unit, kind string, phase int, fn func(*Step, *Unit)) error {
	return s.UpdateStepOf(app, unit, kind, phase, func(_ *App, r *Step, u *Unit) { fn(r, u) })
}

// UpdateStepOf is UpdateStep whose fn also gets the application's record,
// for a change to the application that goes with the step's (its outage
// starting or ending): one commit instead of two.
func (s *Store) UpdateStepOf(app, unit, kind string, phase int, fn func(*App, *Step, *Unit)) error {
	c, err := s.apply(app, func(st *State) error {
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
	if err != nil {
		return err
	}
	<-c.done
	return c.err
}

func unitName(u string) string {
	if u == "" {
		return "the application's own unit"
	}
	return u
}

// apply changes the state with fn under the lock and joins the next
// commit. With app set, the journal compares that application before fn
// (catching up with plain Updates) and after it.
func (s *Store) apply(app string, fn func(*State) error) (*commit, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if app != "" && !s.j.diffApp(s.st, app, s.st.Serial, s.st.Updated) {
		s.plain = true
	}
	if err := fn(s.st); err != nil {
		return nil, err
	}
	s.st.Serial++
	s.st.Updated = s.now()
	if app == "" || !s.j.diffApp(s.st, app, s.st.Serial, s.st.Updated) {
		s.plain = true
	}
	if s.pending == nil {
		s.pending = &commit{done: make(chan struct{})}
		select {
		case s.kick <- struct{}{}:
		default: // the writer has been woken already
		}
	}
	return s.pending, nil
}

// writer makes the pending commits durable, one journal append per group,
// until the store closes; between commits it replaces the state file with
// the whole record (a checkpoint) once CheckpointEvery has passed since the
// last one. When the store closes it commits what is left and checkpoints.
func (s *Store) writer() {
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
				_ = s.checkpoint() // a failure is kept for Close and retried at the next one
				return
			}
			s.flush()
		case <-due:
			due = nil
		}
		if s.every <= 0 || !s.dirty() {
			continue // with every 0, each commit checkpointed already
		}
		if wait := s.every - time.Since(s.lastCheckpoint); wait <= 0 {
			_ = s.checkpoint() // as above
		} else if due == nil {
			timer = time.NewTimer(wait)
			due = timer.C
		}
	}
}

// dirty reports whether the record has changed since the state file was
// last written.
func (s *Store) dirty() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.Serial != s.fileSerial
}

// flush makes the pending commit durable: the lines that say what changed
// since the last commit are appended to the journal and synced, and the
// Updates waiting on it are told how it went. When the journal cannot be
// written, the state file is replaced instead (and the journal starts over
// with the whole record at the next commit).
func (s *Store) flush() {
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
	if err != nil && !strings.HasPrefix(err.Error(), "state file ") {
		err = fmt.Errorf("state file %s: %w", s.path, err)
	}
	c.err = err
	close(c.done)
	s.busy.Add(int64(time.Since(start)))
	s.commits.Add(1)
	s.mu.Lock()
	s.closeErr = err
	s.mu.Unlock()
}

// checkpoint replaces the state file with the whole record, when it has
// changed since the last one: marshalled under the lock, so the bytes hold
// every Update that took the lock before, and no half of a later one; laid
// out, sealed and written outside it. A failed checkpoint loses nothing
// (the journal holds every change); it is retried at the next one, and
// Close reports it if the last one fails.
func (s *Store) checkpoint() error {
	start := time.Now()
	defer func() { s.busy.Add(int64(time.Since(start))) }()
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
		err = fmt.Errorf("state file %s: %w (every change is kept in its journal %s)", s.path, err, s.j.path)
		s.closeErr = err
		return err
	}
	s.fileSerial = serial
	s.closeErr = nil
	s.j.line(Entry{Type: EntryCommit, Serial: serial, Time: updated})
	return nil
}

// View calls fn with the state under the store's lock; fn must not change
// it or keep references to it.
func (s *Store) View(fn func(*State)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(s.st)
}

// Close waits for pending Updates to be written and stops the writer. It
// returns the last write's error, if it failed. Updates after Close fail
// with ErrClosed.
func (s *Store) Close() error {
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

// write replaces the file atomically with data (the parts in turn),
// keeping the version it replaces as the backup.
func (s *Store) write(data ...[]byte) error {
	s.writes.Add(1)
	tmp, err := writeTemp(s.path, data...)
	if err != nil {
		return err
	}
	if s.beforeRename != nil {
		if err := s.beforeRename(tmp); err != nil {
			os.Remove(tmp)
			return err
		}
	}
	if err := s.backup(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, s.path); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := syncDir(filepath.Dir(s.path)); err != nil {
		return err
	}
	s.last, _ = os.Stat(s.path)
	return nil
}

// backup makes the file as it stands the backup, if it is still the
// version this store wrote or read: a file that something else changed
// since is no good version to go back to, and the older backup stays.
func (s *Store) backup() error {
	cur, err := os.Stat(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if s.last != nil && !(os.SameFile(cur, s.last) && cur.Size() == s.last.Size() && cur.ModTime().Equal(s.last.ModTime())) {
		return nil
	}
	return linkBackup(s.path)
}

// linkBackup makes path's file its backup: a hard link to it under a
// temporary name, renamed over the backup, so the backup is at every
// moment one whole version, and costs no copy. The rename of the new
// version over path, which follows, leaves the link holding the old one.
func linkBackup(path string) error {
	bak := path + BackupSuffix
	tmp := bak + ".tmp"
	_ = os.Remove(tmp) // left by a crash between link and rename
	if err := os.Link(path, tmp); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		// Some network and FUSE filesystems have no hard links: copy.
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("backup %s: %w", bak, err)
		}
		t, err := writeTemp(bak, data)
		if err != nil {
			return fmt.Errorf("backup %s: %w", bak, err)
		}
		if err := os.Rename(t, bak); err != nil {
			os.Remove(t)
			return fmt.Errorf("backup %s: %w", bak, err)
		}
		return nil
	}
	if err := os.Rename(tmp, bak); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("backup %s: %w", bak, err)
	}
	return nil
}

// writeNew writes data at path only if nothing is there. The file appears
// whole or not at all: the temp file is hard-linked into place, which,
// unlike a rename, fails when the target exists.
func writeNew(path string, data ...[]byte) error {
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("state file %s already exists: it records an earlier run of this plan; "+
			"carry that run on, or move the file aside to start a new record", path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return pathError(path, err)
	}
	tmp, err := writeTemp(path, data...)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("state file %s already exists: another wavectl created it just now", path)
		}
		// Some filesystems have no hard links; the Lstat above has to do.
		if err := os.Rename(tmp, path); err != nil {
			return pathError(path, err)
		}
	}
	return syncDir(filepath.Dir(path))
}

// writeTemp writes data (the parts in turn) to a new temp file next to
// path (same folder, so that the rename is atomic), synced and closed, with
// the state's mode.
func writeTemp(path string, data ...[]byte) (string, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("state file %s: %w", path, err)
	}
	tmp := f.Name()
	fail := func(err error) (string, error) {
		f.Close()
		os.Remove(tmp)
		return "", fmt.Errorf("state file %s: writing %s: %w", path, tmp, err)
	}
	// CreateTemp makes 0600 files already; say so in case that changes.
	if err := f.Chmod(FileMode); err != nil && runtime.GOOS != "windows" {
		return fail(err)
	}
	for _, d := range data {
		if _, err := f.Write(d); err != nil {
			return fail(err)
		}
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("state file %s: writing %s: %w", path, tmp, err)
	}
	return tmp, nil
}

// syncDir makes a rename in dir durable. Some systems cannot sync a folder
// (Windows; some network filesystems say EINVAL); there the rename is as
// durable as they make it.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOTSUP) {
		return fmt.Errorf("sync folder %s: %w", dir, err)
	}
	return nil
}
