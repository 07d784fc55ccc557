package state

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// FileSuffix ends every state file's name.
const FileSuffix = ".state.json"

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
// or JSON that is not a wavectl state.
type CorruptError struct {
	Path string
	// Line and Col (1-based) locate the problem when it has a place in the
	// file; 0 otherwise.
	Line, Col int
	// Reason says what is wrong, e.g. "unexpected end of JSON input".
	Reason string
	Err    error
}

func (e *CorruptError) Error() string {
	at := e.Path
	if e.Line > 0 {
		at = fmt.Sprintf("%s:%d:%d", e.Path, e.Line, e.Col)
	}
	return fmt.Sprintf("state file %s is corrupt: %s\n"+
		"  wavectl replaces its state file in one atomic rename, so a damaged file was changed by something\n"+
		"  else (an editor, a copy cut short, a full disk). Restore it from your backup or version control,\n"+
		"  or move it aside; nothing was changed", at, e.Reason)
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
// kept. Version 1 is the first, so there are none yet; a change to the
// format raises FormatVersion and appends one here (a test checks that
// they match).
var migrations []func(doc map[string]json.RawMessage) error

// Read loads the state file at path without taking any lock and without
// writing; for status and report. Errors: a missing file wraps
// os.ErrNotExist; an unusable one is a *CorruptError; one from a newer
// wavectl is a *VersionError.
func Read(path string) (*State, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, pathError(path, err)
	}
	return Decode(path, data)
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
	return st, nil
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

// Encode returns the file's bytes: indented JSON ending in a newline.
func Encode(st *State) ([]byte, error) {
	raw, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	return indent(raw)
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
// version or the new one, never a mix.
//
// Updates from many goroutines are committed in groups: one writer
// goroutine writes whatever has changed since its last write, so one
// fsync'ed write covers every Update that arrived before it started, and a
// hundred VMs finishing steps at once cost a handful of writes, not a
// hundred.
//
// A Store does not lock the file against other processes (the run lock
// will); don't call Update or View from inside fn (it deadlocks).
type Store struct {
	path string
	now  func() time.Time

	mu      sync.Mutex
	st      *State
	pending *commit // the commit the next write makes, nil when nothing waits
	closed  bool

	kick chan struct{} // wakes the writer; buffered, one is enough
	done chan struct{} // closed when the writer has stopped
	// closeErr is the last write's error when the store closed.
	closeErr error

	// beforeRename, when set (tests), runs after the temp file is written
	// and synced, before it replaces the target: a crash there must leave
	// the target whole.
	beforeRename func(tmp string) error
	// writes counts the file writes, for tests and the benchmark.
	writes atomic.Int64
}

// commit is one group of Updates that one write makes durable.
type commit struct {
	done chan struct{}
	err  error
}

// Create writes st as a new state file at path and returns its store. It
// refuses to replace an existing file. It fills in what st lacks (format
// version, lineage, created time), raises the serial and sets the file's
// mode to 0600.
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
	data, err := Encode(st)
	if err != nil {
		return nil, fmt.Errorf("state file %s: %w", path, err)
	}
	if err := writeNew(path, data); err != nil {
		return nil, err
	}
	return newStore(path, st), nil
}

// Open loads the state file at path for updating, with the errors Read
// gives. A file of an older format version is migrated in memory and
// written in this build's format with the first Update.
func Open(path string) (*Store, error) {
	st, err := Read(path)
	if err != nil {
		return nil, err
	}
	return newStore(path, st), nil
}

func newStore(path string, st *State) *Store {
	s := &Store{
		path: path,
		now:  func() time.Time { return time.Now().UTC() },
		st:   st,
		kick: make(chan struct{}, 1),
		done: make(chan struct{}),
	}
	go s.writer()
	return s
}

// Path returns the state file's path.
func (s *Store) Path() string { return s.path }

// Update applies fn to the state under the store's lock, raises Serial,
// sets Updated, and returns once a write that contains the change is on
// disk. fn must not keep references to the state after it returns. When
// the write fails, the change stays in memory (the next write carries it)
// and the error comes back: the record is no longer durable, and the
// caller should stop starting new work.
func (s *Store) Update(fn func(*State)) error {
	c, err := s.apply(fn)
	if err != nil {
		return err
	}
	<-c.done
	return c.err
}

func (s *Store) apply(fn func(*State)) (*commit, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	fn(s.st)
	s.st.Serial++
	s.st.Updated = s.now()
	if s.pending == nil {
		s.pending = &commit{done: make(chan struct{})}
		select {
		case s.kick <- struct{}{}:
		default: // the writer has been woken already
		}
	}
	return s.pending, nil
}

// writer makes the pending commits durable, one write per group, until the
// store closes; then it writes what is left.
func (s *Store) writer() {
	defer close(s.done)
	for range s.kick {
		s.flush()
	}
	s.flush()
}

// flush writes the state if Updates are waiting, and tells them how it
// went. The state is marshalled under the lock, so the bytes hold every
// Update that took the lock before, and no half of a later one; indenting
// and writing happen outside it.
func (s *Store) flush() {
	s.mu.Lock()
	c := s.pending
	s.pending = nil
	if c == nil {
		s.mu.Unlock()
		return
	}
	raw, err := json.Marshal(s.st)
	s.mu.Unlock()
	var data []byte
	if err == nil {
		data, err = indent(raw)
	}
	if err == nil {
		err = s.write(data)
	}
	if err != nil {
		err = fmt.Errorf("state file %s: %w", s.path, err)
	}
	c.err = err
	close(c.done)
	s.mu.Lock()
	s.closeErr = err
	s.mu.Unlock()
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
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closeErr
}

// write replaces the file atomically with data.
func (s *Store) write(data []byte) error {
	s.writes.Add(1)
	tmp, err := writeTemp(s.path, data)
	if err != nil {
		return err
	}
	if s.beforeRename != nil {
		if err := s.beforeRename(tmp); err != nil {
			os.Remove(tmp)
			return err
		}
	}
	if err := os.Rename(tmp, s.path); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(s.path))
}

// writeNew writes data at path only if nothing is there. The file appears
// whole or not at all: the temp file is hard-linked into place, which,
// unlike a rename, fails when the target exists.
func writeNew(path string, data []byte) error {
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("state file %s already exists: it records an earlier run of this plan; "+
			"carry that run on, or move the file aside to start a new record", path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return pathError(path, err)
	}
	tmp, err := writeTemp(path, data)
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

// writeTemp writes data to a new temp file next to path (same folder, so
// that the rename is atomic), synced and closed, with the state's mode.
func writeTemp(path string, data []byte) (string, error) {
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
	if _, err := f.Write(data); err != nil {
		return fail(err)
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
