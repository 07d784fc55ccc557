package state

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"strings"
	"time"
)

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
	orig := data // the checksum seals the bytes as written, not as migrated
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
		if problem := verify(orig, head.Checksum); problem != "" {
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
