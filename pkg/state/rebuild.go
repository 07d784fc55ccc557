package state

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// RebuiltError says why a state file was not rebuilt from its journal.
type RebuiltError struct {
	Path   string
	Reason string
}

func (e *RebuiltError) Error() string {
	return fmt.Sprintf("state file %s was not rebuilt: %s; nothing was changed", e.Path, e.Reason)
}

// RebuildFile replaces a damaged state file with the record its journal
// holds (see Rebuild), what `wavectl state rebuild` does. The damaged file
// is kept beside it, renamed to <path>.damaged-<UTC time>, and its name is
// returned. A state file that reads cleanly is left alone (a
// *RebuiltError): there is nothing to rebuild. Take the run lock first.
func RebuildFile(path string, now time.Time) (st *State, aside string, err error) {
	if _, err := Read(path); err == nil {
		return nil, "", &RebuiltError{Path: path, Reason: "it reads cleanly, with its journal, so there is nothing to rebuild"}
	} else if errors.Is(err, fs.ErrNotExist) {
		// No file at all: the journal is the whole record left.
	} else {
		var ce *CorruptError
		if !errors.As(err, &ce) {
			return nil, "", &RebuiltError{Path: path, Reason: err.Error()}
		}
	}
	st, err = Rebuild(path)
	if err != nil {
		return nil, "", &RebuiltError{Path: path, Reason: "its journal cannot rebuild it: " + err.Error()}
	}
	data, err := Encode(st)
	if err != nil {
		return nil, "", err
	}
	tmp, err := writeTemp(path, data)
	if err != nil {
		return nil, "", err
	}
	if _, err := os.Lstat(path); err == nil {
		aside = path + ".damaged-" + now.UTC().Format("20060102T150405Z")
		if err := os.Rename(path, aside); err != nil {
			os.Remove(tmp)
			return nil, "", fmt.Errorf("state file %s: keep the damaged file aside: %w", path, err)
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return nil, aside, pathError(path, err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return nil, aside, err
	}
	return st, aside, nil
}
