package state

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// A symbolic link planted where the journal or the lock goes is refused,
// and the file it points at is left as it was.
func TestALinkPlantedBesideTheStateIsNeverFollowed(t *testing.T) {
	for _, suffix := range []string{JournalSuffix, LockSuffix} {
		t.Run(suffix, func(t *testing.T) {
			dir := t.TempDir()
			victim := filepath.Join(dir, "victim.txt")
			if err := os.WriteFile(victim, []byte("precious\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "p.state.json")
			if err := os.Symlink(victim, path+suffix); err != nil {
				t.Fatal(err)
			}
			var err error
			if suffix == LockSuffix {
				var l *RunLock
				l, err = Lock(path, "apply")
				if err == nil {
					_ = l.Unlock()
				}
			} else {
				var s *File
				s, err = Create(path, bigState(1, 1))
				if err == nil {
					err = s.UpdateApp("app-00", func(a *App) { a.Users++ })
					s.Close()
				}
			}
			if err == nil || !strings.Contains(err.Error(), "is a symbolic link") || !strings.Contains(err.Error(), "rm "+path+suffix) {
				t.Errorf("err = %v; want the link refused, saying to remove it", err)
			}
			if got, _ := os.ReadFile(victim); string(got) != "precious\n" {
				t.Errorf("the link's target was written: %q", got)
			}
		})
	}
}

// A journal or lock that exists with a looser mode is made private when
// wavectl opens it.
func TestAnExistingJournalAndLockAreMadePrivate(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("file modes are POSIX's")
	}
	path := filepath.Join(t.TempDir(), "p.state.json")
	for _, suffix := range []string{JournalSuffix, LockSuffix} {
		if err := os.WriteFile(path+suffix, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path+suffix, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l, err := Lock(path, "apply")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Unlock() }()
	s, err := Create(path, bigState(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{JournalSuffix, LockSuffix} {
		fi, err := os.Stat(path + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != FileMode {
			t.Errorf("%s has mode %o, want %o", suffix, fi.Mode().Perm(), FileMode)
		}
	}
}

// Writes leave no temp file beside the state: not the backup's either (a
// short run, whose one checkpoint replaced the file Create had linked as
// the backup, left its .backup.tmp).
func TestWritesLeaveNoTempFileBehind(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.state.json")
	s, err := Create(path, bigState(1, 2))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateApp("app-00", func(a *App) { a.Users++ }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := "p.state.json p.state.json.backup p.state.json.journal"
	if strings.Join(names, " ") != want {
		t.Errorf("files beside the state: %s; want %s", strings.Join(names, " "), want)
	}
}
