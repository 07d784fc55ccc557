package state

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"

	"github.com/wavectl/wavectl/pkg/redact"
)

// scrub hides credentials that an older wavectl recorded (a password in a
// recorded command line or an error's URL) and reports whether it changed
// anything.
func scrub(st *State) bool {
	changed := false
	str := func(s *string) {
		if r := redact.String(*s); r != *s {
			*s, changed = r, true
		}
	}
	for _, r := range st.Runs {
		if r == nil {
			continue
		}
		if a := redact.Args(r.Args); !slices.Equal(a, r.Args) {
			r.Args, changed = a, true
		}
		str(&r.Note)
	}
	for _, a := range st.Apps {
		if a == nil {
			continue
		}
		str(&a.Reason)
		for i := range a.Hooks {
			str(&a.Hooks[i].Output)
			str(&a.Hooks[i].Error)
		}
		for _, u := range a.Units {
			if u == nil {
				continue
			}
			for _, s := range u.Steps {
				if s == nil {
					continue
				}
				str(&s.Error)
				for i := range s.Retried {
					str(&s.Retried[i])
				}
			}
		}
	}
	return changed
}

// rewriteScrubbed replaces a state file that held a credential with its
// scrubbed record, twice so that the backup (the previous version) holds
// none either, and removes the journal, whose lines the file now holds.
func (s *File) rewriteScrubbed() error {
	data, err := Encode(s.st)
	if err != nil {
		return err
	}
	for range 2 {
		if err := s.write(data); err != nil {
			return fmt.Errorf("state file %s: rewriting it without the credentials an older wavectl recorded: %w", s.path, err)
		}
	}
	if err := os.Remove(s.path + JournalSuffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("state file %s: removing its journal, which holds credentials an older wavectl recorded: %w", s.path, err)
	}
	return nil
}
