package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"time"
)

// Entry is one line of a state file's journal, <path>.journal: JSON, one
// object a line, appended and fsynced by the store before it replaces the
// file. Every line says the state's absolute value for what it names (not
// a difference), so replaying the lines after a whole-state line gives the
// record: that is Rebuild. The journal is also the audit trail of a run:
// `jq 'select(.type=="step")' x.state.json.journal` lists every step
// transition with its time, attempt and error.
//
// Every line ends with its checksum, "sum" (see linesum.go): a damaged
// line is refused where it is, not applied.
//
// The journal is not kept bounded: it grows by a whole-state line each
// time a store opens the file (once per run) and by a few hundred bytes per
// change, some 15 MB for a 1,500-VM programme; move it aside between
// programmes if that matters (a store starts a new one).
type Entry struct {
	// Type is what the line records:
	//   - state: the whole record (in State); the journal's first line, and
	//     the first of each store (each run) and after a failed append;
	//   - record: the record's own fields (in Record: plan, runs, the waves'
	//     hook runs), not its applications;
	//   - app: an application's own fields (in Application); with its units
	//     when it is new or its units or steps changed, replacing it whole;
	//   - unit: a unit's status and outputs;
	//   - step: a step's transition: From, then the step's record after it
	//     (kind, phase, status, attempts, error, times), with its unit's
	//     status and outputs;
	//   - run: a run's record (Run, at Index): its start or its end, with
	//     its options;
	//   - vcenter: a vCenter's identity (VCenter, Identity);
	//   - waveHook, hook: a hook command's run (Hook; for hook, of App);
	//   - commit: the store wrote the state file with this serial.
	Type string `json:"type"`
	// Serial and Time are the record's serial and time once the change was
	// made (for lines a write's comparison found, at that write).
	Serial int64     `json:"serial"`
	Time   time.Time `json:"time"`
	App    string    `json:"app,omitempty"`
	Unit   string    `json:"unit,omitempty"` // "" is the application's own unit (its hooks)
	From   Status    `json:"from,omitempty"`
	*Step
	UnitStatus  Status            `json:"unitStatus,omitempty"`
	Outputs     map[string]string `json:"outputs,omitempty"`
	Application *App              `json:"application,omitempty"`
	Record      *State            `json:"record,omitempty"`
	State       json.RawMessage   `json:"state,omitempty"`
	// Run is a run's record at Index in the runs (a run line): appended
	// when Index is the number of runs so far, replaced otherwise.
	Run   *Run `json:"run,omitempty"`
	Index int  `json:"index,omitempty"`
	// VCenter and Identity: a vCenter's identity (a vcenter line).
	VCenter  string   `json:"vcenter,omitempty"`
	Identity *VCenter `json:"identity,omitempty"`
	// Hook is a hook command's run: a wave's (waveHook line) or App's
	// (hook line).
	Hook *HookRun `json:"hook,omitempty"`
}

// Journal line types.
const (
	EntryState    = "state"
	EntryRecord   = "record"
	EntryApp      = "app"
	EntryUnit     = "unit"
	EntryStep     = "step"
	EntryCommit   = "commit"
	EntryRun      = "run"
	EntryVCenter  = "vcenter"
	EntryWaveHook = "waveHook"
	EntryHook     = "hook"
)

// journal is a store's side of the journal. shadow is the record as the
// lines so far leave it; comparing the record with it finds what to write.
// shadow, queued and resync are guarded by the store's mutex; f is used by
// the store's writer (and Create, before the writer starts).
type journal struct {
	path   string
	f      *os.File
	shadow *State
	queued []byte // lines waiting for the next write
	// resync starts the next write's lines over with the whole record:
	// lines were lost (a failed append), or the shadow cannot follow.
	resync bool
}

func newJournal(path string, st *State) *journal {
	return &journal{path: path, shadow: cloneState(st)}
}

// queueState queues a whole-state line from the marshalled record.
func (j *journal) queueState(raw []byte, serial int64, at time.Time) {
	j.queued = appendStateLine(j.queued, raw, serial, at)
}

// appendStateLine is built by hand: the record is marshalled already, and
// Rebuild finds these lines by their start.
func appendStateLine(b, raw []byte, serial int64, at time.Time) []byte {
	obj := make([]byte, 0, len(raw)+96)
	obj = append(obj, stateLinePrefix...)
	obj = strconv.AppendInt(obj, serial, 10)
	obj = append(obj, `,"time":`...)
	obj = at.AppendFormat(append(obj, '"'), time.RFC3339Nano)
	obj = append(obj, `","state":`...)
	obj = append(obj, raw...)
	return sealLine(b, append(obj, '}'))
}

const stateLinePrefix = `{"type":"state","serial":`

// take returns the queued lines and empties the queue.
func (j *journal) take() []byte {
	out := j.queued
	j.queued = nil
	return out
}

// line queues one entry.
func (j *journal) line(e Entry) {
	b, err := json.Marshal(e)
	if err != nil {
		// Only a record that cannot be marshalled gets here, and then the
		// state file cannot be written either; start over when it can.
		j.resync = true
		return
	}
	j.queued = sealLine(j.queued, b)
}

// collect returns the lines a commit appends: those queued, and those a
// comparison of the record with the shadow finds. Only when the lines
// cannot say what changed (applications removed or reordered, or lines
// lost) is the whole record marshalled, into a whole-state line.
//
// full says whether a plain Update (which the journal learns of only here)
// came since the last commit; when every change came through UpdateApp or
// UpdateStep, their lines are queued already and the comparison, which
// walks the whole record, is skipped.
func (j *journal) collect(st *State, full bool) ([]byte, error) {
	if j.resync || (full && !j.diff(st)) {
		raw, err := json.Marshal(st)
		if err != nil {
			return nil, err
		}
		head := []byte(nil)
		if j.resync {
			// A newline first ends any line a failed append left half-written.
			head = []byte("\n")
		}
		j.queued = appendStateLine(head, raw, st.Serial, st.Updated)
		j.shadow = cloneState(st)
		j.resync = false
	}
	return j.take(), nil
}

// diff queues a line for each part of st that differs from the shadow, and
// brings the shadow up to date. It returns false when applications were
// removed or reordered, which only a whole-state line can say.
func (j *journal) diff(st *State) bool {
	sh := j.shadow
	if len(st.Apps) < len(sh.Apps) {
		return false
	}
	for i, o := range sh.Apps {
		if st.Apps[i].Name != o.Name {
			return false
		}
	}
	if !sameRecord(sh, st) {
		rec := *st
		rec.Apps, rec.Checksum = nil, ""
		j.line(Entry{Type: EntryRecord, Serial: st.Serial, Time: st.Updated, Record: &rec})
		copyRecord(sh, st)
	}
	for i, a := range st.Apps {
		if i >= len(sh.Apps) {
			j.line(Entry{Type: EntryApp, Serial: st.Serial, Time: st.Updated, App: a.Name, Application: a})
			sh.Apps = append(sh.Apps, cloneApp(a))
			continue
		}
		j.diffAt(i, a, st.Serial, st.Updated)
	}
	return true
}

// diffApp compares one application with the shadow (UpdateApp). One that
// the shadow does not have at the same place is left to the write's
// comparison.
//
// It reports whether the application's lines are queued; when not (the
// shadow does not have it yet, or lines were lost), the commit must
// compare the whole record.
func (j *journal) diffApp(st *State, name string, serial int64, at time.Time) bool {
	if j.resync {
		return false
	}
	for i, a := range st.Apps {
		if a.Name == name {
			if i < len(j.shadow.Apps) && j.shadow.Apps[i].Name == name {
				j.diffAt(i, a, serial, at)
				return !j.resync
			}
			return false
		}
	}
	return false
}

// diffAt compares the application a with the shadow's at index i.
func (j *journal) diffAt(i int, a *App, serial int64, at time.Time) {
	o := j.shadow.Apps[i]
	if !sameShape(o, a) {
		if len(a.Units) == 0 {
			// An app line without units keeps the units it had; only a
			// whole-state line can say they are gone.
			j.resync = true
			return
		}
		j.line(Entry{Type: EntryApp, Serial: serial, Time: at, App: a.Name, Application: a})
		j.shadow.Apps[i] = cloneApp(a)
		return
	}
	for k, u := range a.Units {
		ou := o.Units[k]
		stepped := false
		for m, r := range u.Steps {
			or := ou.Steps[m]
			if sameStep(or, r) {
				continue
			}
			j.line(Entry{Type: EntryStep, Serial: serial, Time: at, App: a.Name, Unit: u.Name, From: or.Status, Step: r,
				UnitStatus: u.Status, Outputs: u.Outputs})
			ou.Steps[m] = cloneStep(r)
			stepped = true
		}
		if stepped || ou.Status != u.Status || !maps.Equal(ou.Outputs, u.Outputs) {
			if !stepped {
				j.line(Entry{Type: EntryUnit, Serial: serial, Time: at, App: a.Name, Unit: u.Name, UnitStatus: u.Status, Outputs: u.Outputs})
			}
			ou.Status, ou.Outputs = u.Status, maps.Clone(u.Outputs)
		}
	}
	if !sameAppFields(o, a) {
		fields := *a
		fields.Units = nil
		j.line(Entry{Type: EntryApp, Serial: serial, Time: at, App: a.Name, Application: &fields})
		units := o.Units
		*o = *cloneApp(&fields)
		o.Units = units
	}
}

// append writes lines at the journal's end and syncs them. A journal it
// creates gets the state file's mode, and its folder entry is synced.
func (j *journal) append(lines []byte) error {
	if len(lines) == 0 {
		return nil
	}
	if j.f == nil {
		_, statErr := os.Stat(j.path)
		f, err := openPrivate(j.path, os.O_RDWR|os.O_APPEND|os.O_CREATE)
		if err != nil {
			return err
		}
		if errors.Is(statErr, fs.ErrNotExist) {
			if err := syncDir(filepath.Dir(j.path)); err != nil {
				f.Close()
				return err
			}
		}
		// A process killed while appending leaves its last line cut
		// short: end it, so that this store's first line stands alone.
		if fi, err := f.Stat(); err == nil && fi.Size() > 0 {
			last := make([]byte, 1)
			if _, err := f.ReadAt(last, fi.Size()-1); err == nil && last[0] != '\n' {
				lines = append([]byte("\n"), lines...)
			}
		}
		j.f = f
	}
	if _, err := j.f.Write(lines); err != nil {
		return err
	}
	return j.f.Sync()
}

func (j *journal) close() {
	if j.f != nil {
		j.f.Close()
		j.f = nil
	}
}

// Rebuild returns the record of the state file at path as its journal has
// it: the journal's last whole-state line with every line after it
// applied. It reads only the journal; use it when the state file is
// damaged. A last line cut short (a crash while appending) never counted
// and is ignored.
func Rebuild(path string) (*State, error) {
	jpath := path + JournalSuffix
	data, err := os.ReadFile(jpath)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("journal %s: %w", jpath, err)
	}
	if i := bytes.LastIndexByte(data, '\n'); i+1 < len(data) {
		data = data[:i+1]
	}
	start, n := -1, 0
	for off, no := 0, 1; off < len(data); no++ {
		if bytes.HasPrefix(data[off:], []byte(stateLinePrefix)) {
			start, n = off, no
		}
		off += bytes.IndexByte(data[off:], '\n') + 1
	}
	if start < 0 {
		return nil, fmt.Errorf("journal %s has no whole-state line to start from", jpath)
	}
	var st *State
	err = entries(data, start, n, legacyFrom(data, start), func(no int, e *Entry, err error) error {
		if err != nil {
			return fmt.Errorf("journal %s:%d: %w", jpath, no, err)
		}
		if e.Type == EntryState {
			var derr error
			if st, derr = Decode(fmt.Sprintf("%s:%d", jpath, no), e.State); derr != nil {
				return derr
			}
		} else if err := replay(st, e); err != nil {
			return fmt.Errorf("journal %s:%d: %w", jpath, no, err)
		}
		st.Serial, st.Updated = e.Serial, e.Time
		return nil
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// entries calls fn with each line of the journal data from offset off on
// (line number no), decoded, or with the error decoding it; blank lines
// are skipped. It stops at fn's first error. A line whose checksum does not
// match is an error; so is a line without one, unless legacy says the
// lines were written by a wavectl of format 2, which sealed none.
func entries(data []byte, off, no int, legacy bool, fn func(no int, e *Entry, err error) error) error {
	for ; off < len(data); no++ {
		end := off + bytes.IndexByte(data[off:], '\n')
		if end < off {
			end = len(data)
		}
		line := data[off:end]
		off = end + 1
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		obj, sealed, err := openLine(line)
		if err == nil && !sealed && !legacy {
			err = errors.New("it has no checksum, which every journal line of format version 3 has: it was changed or damaged")
		}
		var e Entry
		if err == nil {
			err = json.Unmarshal(obj, &e)
		}
		if err == nil && legacy {
			legacyRunOptions(&e)
		}
		if err := fn(no, &e, err); err != nil {
			return err
		}
	}
	return nil
}

// legacyFrom reports whether the journal's lines from its whole-state line
// at off on were written by a wavectl of format 2, which sealed none: that
// line has no checksum, and no line before it has one either (a format-3
// store never writes a line without, so an unsealed line after a sealed
// one is damage).
func legacyFrom(data []byte, off int) bool {
	return !sealedAt(data, off) && !bytes.Contains(data[:off], []byte(sumPrefix))
}

// sealedAt reports whether the line at data[off:] carries a checksum.
func sealedAt(data []byte, off int) bool {
	end := off + bytes.IndexByte(data[off:], '\n')
	if end < off {
		end = len(data)
	}
	_, sealed, _ := openLine(data[off:end])
	return sealed
}

// replay applies one line to the record.
func replay(st *State, e *Entry) error {
	switch e.Type {
	case EntryCommit:
		return nil
	case EntryRecord:
		if e.Record == nil {
			return errors.New("a record line without its record")
		}
		copyRecord(st, e.Record)
		return nil
	case EntryApp:
		if e.Application == nil {
			return errors.New("an app line without its application")
		}
		a := st.App(e.Application.Name)
		switch {
		case a == nil:
			st.Apps = append(st.Apps, e.Application)
		case e.Application.Units != nil:
			*a = *e.Application
		default:
			units := a.Units
			*a = *e.Application
			a.Units = units
		}
		return nil
	case EntryRun:
		switch {
		case e.Run == nil:
			return errors.New("a run line without its run")
		case e.Index == len(st.Runs):
			st.Runs = append(st.Runs, cloneRun(e.Run))
		case e.Index >= 0 && e.Index < len(st.Runs):
			st.Runs[e.Index] = cloneRun(e.Run)
		default:
			return fmt.Errorf("run %d of a record of %d runs", e.Index, len(st.Runs))
		}
		return nil
	case EntryVCenter:
		if e.Identity == nil || e.VCenter == "" {
			return errors.New("a vcenter line without its vCenter")
		}
		if st.VCenters == nil {
			st.VCenters = map[string]VCenter{}
		}
		st.VCenters[e.VCenter] = *e.Identity
		return nil
	case EntryWaveHook:
		if e.Hook == nil {
			return errors.New("a waveHook line without its hook")
		}
		st.WaveHooks = append(st.WaveHooks, *e.Hook)
		return nil
	case EntryHook:
		if e.Hook == nil {
			return errors.New("a hook line without its hook")
		}
		a := st.App(e.App)
		if a == nil {
			return fmt.Errorf("no application %q before this line", e.App)
		}
		a.Hooks = append(a.Hooks, *e.Hook)
		return nil
	case EntryUnit, EntryStep:
		a := st.App(e.App)
		if a == nil {
			return fmt.Errorf("no application %q before this line", e.App)
		}
		u := a.Unit(e.Unit)
		if u == nil {
			return fmt.Errorf("application %s has no unit %q before this line", e.App, e.Unit)
		}
		if e.Type == EntryStep {
			if e.Step == nil {
				return errors.New("a step line without its step")
			}
			r := u.Step(e.Kind, e.Phase)
			if r == nil {
				return fmt.Errorf("%s of %s has no step %s (phase %d) before this line", unitName(e.Unit), e.App, e.Kind, e.Phase)
			}
			*r = *e.Step
		}
		u.Status, u.Outputs = e.UnitStatus, e.Outputs
		return nil
	}
	return fmt.Errorf("unknown line type %q", e.Type)
}

// sameRecord compares the record's own fields, not its applications (nor
// the serial, time and checksum, which every write changes). It compares
// by reflection, so that a field added to State is journaled without a
// change here: a record is one of a kind and small.
func sameRecord(a, b *State) bool {
	x, y := *a, *b
	x.Apps, x.Serial, x.Updated, x.Checksum = nil, 0, time.Time{}, ""
	y.Apps, y.Serial, y.Updated, y.Checksum = nil, 0, time.Time{}, ""
	return reflect.DeepEqual(x, y)
}

// copyRecord copies the record's own fields from src to dst: not the
// applications, the serial, the time or the checksum.
func copyRecord(dst, src *State) {
	apps, serial, updated := dst.Apps, dst.Serial, dst.Updated
	*dst = *src
	dst.Apps, dst.Serial, dst.Updated, dst.Checksum = apps, serial, updated, ""
	if src.Runs != nil {
		dst.Runs = make([]*Run, len(src.Runs))
		for i, r := range src.Runs {
			dst.Runs[i] = cloneRun(r)
		}
	}
	dst.WaveHooks = slices.Clone(src.WaveHooks)
	dst.VCenters = maps.Clone(src.VCenters)
}

// sameShape reports whether two records of an application have the same
// units and steps, in the same order.
func sameShape(a, b *App) bool {
	if len(a.Units) != len(b.Units) {
		return false
	}
	for i, u := range a.Units {
		v := b.Units[i]
		if u == nil || v == nil || u.Name != v.Name || len(u.Steps) != len(v.Steps) {
			return false
		}
		for k, s := range u.Steps {
			t := v.Steps[k]
			if s == nil || t == nil || s.Kind != t.Kind || s.Phase != t.Phase {
				return false
			}
		}
	}
	return true
}

// sameAppFields compares an application's own fields, not its units, by
// reflection (see sameRecord): a run has a few dozen applications.
func sameAppFields(a, b *App) bool {
	x, y := *a, *b
	x.Units, y.Units = nil, nil
	return reflect.DeepEqual(x, y)
}

// sameStep compares two step records field by field: it runs for every
// step at every write, where reflection would cost milliseconds. A test
// checks that it knows every field of Step.
func sameStep(a, b *Step) bool {
	return a.Kind == b.Kind && a.Phase == b.Phase && a.Status == b.Status && a.Attempts == b.Attempts &&
		sameTime(a.Started, b.Started) && sameTime(a.Ended, b.Ended) && a.Error == b.Error &&
		slices.Equal(a.Retried, b.Retried) && sameTime(a.NotBefore, b.NotBefore) && a.Size == b.Size &&
		a.VCenterQueuedMs == b.VCenterQueuedMs && a.VCenterRunningMs == b.VCenterRunningMs
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

func cloneTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	c := *t
	return &c
}

func cloneState(st *State) *State {
	c := *st
	copyRecord(&c, st)
	c.Apps = make([]*App, len(st.Apps))
	for i, a := range st.Apps {
		c.Apps[i] = cloneApp(a)
	}
	return &c
}

func cloneApp(a *App) *App {
	if a == nil {
		return nil
	}
	c := *a // times are replaced, not changed in place: sharing them is safe
	c.Hooks = slices.Clone(a.Hooks)
	if a.Units != nil {
		c.Units = make([]*Unit, len(a.Units))
		for i, u := range a.Units {
			if u == nil {
				continue
			}
			cu := *u
			cu.Outputs = maps.Clone(u.Outputs)
			cu.Steps = make([]*Step, len(u.Steps))
			for k, s := range u.Steps {
				cu.Steps[k] = cloneStep(s)
			}
			c.Units[i] = &cu
		}
	}
	return &c
}

func cloneStep(s *Step) *Step {
	if s == nil {
		return nil
	}
	c := *s
	c.Started, c.Ended, c.NotBefore = cloneTime(s.Started), cloneTime(s.Ended), cloneTime(s.NotBefore)
	c.Retried = slices.Clone(s.Retried)
	return &c
}

func cloneRun(r *Run) *Run {
	if r == nil {
		return nil
	}
	c := *r
	c.Args = slices.Clone(r.Args)
	c.Options.Waves, c.Options.Apps = slices.Clone(r.Options.Waves), slices.Clone(r.Options.Apps)
	c.Ended = cloneTime(r.Ended)
	return &c
}

// JournalError is a journal whose lines since its state file was last
// written cannot be applied to it: damaged in the middle, not at its end
// (a line cut short by a crash at the end never counted and is ignored).
type JournalError struct {
	Path string // the journal
	Line int    // 1-based
	Err  error
}

func (e *JournalError) Error() string {
	return fmt.Sprintf("journal %s:%d: %v\n"+
		"  the journal holds the run's changes since its state file was last written, and this line of it is damaged; nothing was changed\n"+
		"  To carry on with the state file as it stands (losing at most the last seconds of the run, which resume re-checks against vCenter),\n"+
		"  move the journal aside: mv %s %s.damaged", e.Path, e.Line, e.Err, shellQuote(e.Path), shellQuote(e.Path))
}

func (e *JournalError) Unwrap() error { return e.Err }

// catchUp applies to st, read from the state file at path, the journal's
// lines that are newer than it: the changes made since the file was last
// written (a run that was killed between checkpoints). Only a journal that
// continues this record counts: its last whole-state line must be of the
// same lineage and no newer than the file (a file restored from its backup
// by hand is older than the journal's start, and is taken as it is).
func catchUp(path string, st *State) error {
	jpath := path + JournalSuffix
	data, err := os.ReadFile(jpath)
	if err != nil {
		return nil // no journal (or none readable): the file is the record
	}
	if i := bytes.LastIndexByte(data, '\n'); i+1 < len(data) {
		data = data[:i+1] // a last line cut short never counted
	}
	start := 0
	if !bytes.HasPrefix(data, []byte(stateLinePrefix)) {
		i := bytes.LastIndex(data, []byte("\n"+stateLinePrefix))
		if i < 0 {
			return nil
		}
		start = i + 1
	} else if i := bytes.LastIndex(data, []byte("\n"+stateLinePrefix)); i >= 0 {
		start = i + 1
	}
	stateNo := 1 + bytes.Count(data[:start], []byte("\n"))
	stateEnd := start + bytes.IndexByte(data[start:], '\n')
	// A whole line that starts as a whole-state line and is not a sound
	// one is damage, and it would hide the lines before it.
	legacy := legacyFrom(data, start)
	base, sealed, err := openLine(data[start:stateEnd])
	if err == nil && !sealed && !legacy {
		err = errors.New("it has no checksum, which every journal line of format version 3 has: it was changed or damaged")
	}
	if err != nil {
		return &JournalError{Path: jpath, Line: stateNo, Err: err}
	}
	baseSerial, ok := lineSerial(base)
	if !ok {
		return &JournalError{Path: jpath, Line: stateNo, Err: errors.New("a whole-state line without its serial")}
	}
	fromLine := baseSerial > st.Serial // the record starts from the state line, lineage checked
	if fromLine {
		// A store opened the record (caught up from the journal, say) and
		// started the journal over with it, and was killed before its
		// first checkpoint: that whole-state line is newer than the file.
		var e Entry
		obj, sealed, err := openLine(data[start:stateEnd])
		if err == nil {
			err = json.Unmarshal(obj, &e)
		}
		if err != nil {
			return &JournalError{Path: jpath, Line: stateNo, Err: err}
		}
		legacy = !sealed
		next, err := Decode(fmt.Sprintf("%s:%d", jpath, stateNo), e.State)
		if err != nil {
			return &JournalError{Path: jpath, Line: stateNo, Err: err}
		}
		if next.Lineage != st.Lineage {
			return nil // another record's journal: not this file's to catch up with
		}
		*st = *next
		st.Serial, st.Updated = e.Serial, e.Time
	}
	// Find the lines after the whole-state line that are newer than the
	// record so far; most runs end with a checkpoint, and there are none.
	first, firstNo := -1, 0
	off := stateEnd + 1
	for no := stateNo + 1; off < len(data); no++ {
		end := off + bytes.IndexByte(data[off:], '\n')
		if n, ok := lineSerial(data[off:end]); ok && n > st.Serial {
			first, firstNo = off, no
			break
		}
		off = end + 1
	}
	if first < 0 {
		return nil
	}
	if !fromLine {
		var base struct {
			State struct {
				Lineage string `json:"lineage"`
			} `json:"state"`
		}
		obj, _, err := openLine(data[start:stateEnd])
		if err == nil {
			err = json.Unmarshal(obj, &base)
		}
		if err != nil {
			return &JournalError{Path: jpath, Line: stateNo, Err: err}
		}
		if base.State.Lineage != st.Lineage {
			return nil // another record's journal: not this file's to catch up with
		}
	}
	fileSerial := st.Serial
	return entries(data, first, firstNo, legacy, func(no int, e *Entry, err error) error {
		if err != nil {
			return &JournalError{Path: jpath, Line: no, Err: err}
		}
		if e.Serial <= fileSerial {
			return nil
		}
		if err := replay(st, e); err != nil {
			return &JournalError{Path: jpath, Line: no, Err: err}
		}
		st.Serial, st.Updated = max(st.Serial, e.Serial), e.Time
		return nil
	})
}

// lineSerial reads the serial of a journal line from its start, which is
// always {"type":"...","serial":N, without decoding the line.
func lineSerial(line []byte) (int64, bool) {
	const key = `"serial":`
	i := bytes.Index(line, []byte(key))
	if i < 0 || i > 40 {
		return 0, false
	}
	rest := line[i+len(key):]
	j := 0
	for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
		j++
	}
	n, err := strconv.ParseInt(string(rest[:j]), 10, 64)
	return n, err == nil
}

// CheckContinues returns a *ReplacedError when the journal beside the
// state file at path continues another record than st (read from it): the
// file was replaced by another record's. Runs check it before carrying on;
// readers need not (they apply only this record's journal lines).
func CheckContinues(path string, st *State) error {
	if l, ok := journalLineage(path + JournalSuffix); ok && l != st.Lineage {
		return &ReplacedError{Path: path, Lineage: st.Lineage, JournalLineage: l}
	}
	return nil
}

// journalLineage is the lineage of the journal's last whole-state line at
// jpath: the record the journal continues. ok is false when there is no
// journal, or no sound whole-state line in it.
func journalLineage(jpath string) (lineage string, ok bool) {
	data, err := os.ReadFile(jpath)
	if err != nil {
		return "", false
	}
	start := -1
	if bytes.HasPrefix(data, []byte(stateLinePrefix)) {
		start = 0
	}
	if i := bytes.LastIndex(data, []byte("\n"+stateLinePrefix)); i >= 0 {
		start = i + 1
	}
	if start < 0 {
		return "", false
	}
	end := bytes.IndexByte(data[start:], '\n')
	if end < 0 {
		return "", false // cut short: it never counted
	}
	obj, _, err := openLine(data[start : start+end])
	if err != nil {
		return "", false
	}
	var line struct {
		State struct {
			Lineage string `json:"lineage"`
		} `json:"state"`
	}
	if json.Unmarshal(obj, &line) != nil || line.State.Lineage == "" {
		return "", false
	}
	return line.State.Lineage, true
}
