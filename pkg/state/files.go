package state

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
)

// write replaces the file atomically with data (the parts in turn),
// keeping the version it replaces as the backup.
func (s *File) write(data ...[]byte) error {
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
func (s *File) backup() error {
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
	err := os.Rename(tmp, bak)
	// When the backup is already a link to the file (the first write after
	// Create made it so), rename(2) of one link over another of the same
	// file does nothing and succeeds, leaving tmp: remove it either way.
	os.Remove(tmp)
	if err != nil {
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

// openPrivate opens a file kept beside the state (its journal, its lock)
// without following a symbolic link, and makes its mode FileMode whatever
// it was: a link planted there could make the operator's account truncate
// or append to another file, and a journal or lock left readable by others
// names the estate's hosts and VMs.
func openPrivate(path string, flag int) (*os.File, error) {
	if noFollow == 0 {
		if fi, err := os.Lstat(path); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return nil, linkError(path)
		}
	}
	f, err := os.OpenFile(path, flag|noFollow, FileMode)
	if err != nil {
		if fi, lerr := os.Lstat(path); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return nil, linkError(path)
		}
		return nil, err
	}
	if fi, err := f.Stat(); err == nil && fi.Mode().Perm() != FileMode && runtime.GOOS != "windows" {
		if err := f.Chmod(FileMode); err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: make it private (mode %o): %w", path, FileMode, err)
		}
	}
	return f, nil
}

// linkError is a symbolic link where wavectl keeps a file of its own.
func linkError(path string) error {
	return fmt.Errorf("%s is a symbolic link: wavectl never opens the files beside its state through a link "+
		"(it could make your account write to another file); nothing was changed: remove the link (rm %s) and run again",
		path, shellQuote(path))
}
