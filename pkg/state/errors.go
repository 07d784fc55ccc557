package state

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

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
		fmt.Fprintf(&b, "\n  - Rebuild it from its journal %s, which records every change up to serial %d%s (the damaged file is kept beside it):\n      wavectl state rebuild --state %s",
			e.Journal, e.JournalSerial, newer, shellQuote(e.Path))
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

// ReplacedError is a state file opened for a run whose journal continues
// another record: the file was replaced by another record's (a copy of a
// finished run, say), and carrying on would trust that record's done
// steps in place of this one's.
type ReplacedError struct {
	Path                    string
	Lineage, JournalLineage string
}

func (e *ReplacedError) Error() string {
	return fmt.Sprintf("state file %s is not the record its journal continues (its lineage is %s, the journal's %s): "+
		"it was replaced by another record's file, and carrying on would take that record's done steps for this one's; nothing was changed. "+
		"Put this record's file back (cp -p %s %s, or move the file aside and run wavectl state rebuild --state %s), "+
		"or, if the other record is meant, move the journal aside: mv %s %s.old",
		e.Path, e.Lineage, e.JournalLineage, shellQuote(e.Path+BackupSuffix), shellQuote(e.Path), shellQuote(e.Path),
		shellQuote(e.Path+JournalSuffix), shellQuote(e.Path+JournalSuffix))
}
