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
	"os/user"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/gofrs/flock"

	"github.com/wavectl/wavectl/pkg/redact"
)

// LockSuffix ends the name of the lock file beside a state file.
const LockSuffix = ".lock"

// The run lock.
//
// apply, resume and rollback hold an exclusive lock on the state while they
// run: an OS lock (flock(2), through gofrs/flock) on <state>.lock, and in
// that file a description of the holder (Holder, JSON). The OS lock is the
// authority on the holder's own host: the kernel drops it when the process
// ends, however it ends, kill -9 included. The description says who holds
// it, for the error a second run gets and for status.
//
// The lock file is never deleted, only emptied: deleting it while a run
// holds it would let the next run lock a new file beside the old one (so
// never delete it by hand either; use wavectl unlock).
//
// Taking the lock (Lock):
//   - the OS lock is held: refuse at once with a *LockedError naming the
//     holder. wavectl unlock cannot take a live process's lock away
//     either: the kernel holds it for that process.
//   - the OS lock is free and the file describes a holder on this host:
//     that process is gone (or let go without tidying up), since the kernel
//     would hold the lock for it otherwise. Take the lock over; TookOver
//     names the previous holder, for the caller's warning. A run killed
//     with kill -9 is resumed without a manual unlock.
//   - the OS lock is free and the holder is on another host: refuse with a
//     *LockedError (Unconfirmed), and leave it to `wavectl unlock ID`, as
//     restic and Terraform do for every stale lock. Over NFS, Linux
//     emulates flock with byte-range locks that other hosts see, so a live
//     run elsewhere holds its lock here too; but a filesystem mounted with
//     local_lock, an old kernel or another OS may keep flock local to each
//     host, and then only the description tells; and this host cannot ask
//     whether that host's process still runs.

// Holder describes who holds a state's lock.
type Holder struct {
	ID        string `json:"id"`        // 8 hex digits, for wavectl unlock
	Operation string `json:"operation"` // apply, resume, rollback
	Host      string `json:"host"`
	PID       int    `json:"pid"`
	User      string `json:"user"`
	// Command is the holder's command line, credentials hidden.
	Command string    `json:"command"`
	Since   time.Time `json:"since"`
}

// Describe says who holds the lock, since when and for how long (at now).
func (h Holder) Describe(now time.Time) string {
	op := h.Operation
	if op == "" {
		op = "a wavectl run"
	}
	user := ""
	if h.User != "" {
		user = ", user " + h.User
	}
	return fmt.Sprintf("%s on host %s (PID %d%s) since %s, for %s (lock %s: %s)", op, h.Host, h.PID, user,
		h.Since.UTC().Format(time.RFC3339), now.Sub(h.Since).Round(time.Second), h.ID, h.Command)
}

// Alive says whether the holder's process still runs. It can tell only on
// the holder's own host: known is false elsewhere.
func (h Holder) Alive() (alive, known bool) {
	if host, _ := os.Hostname(); host != h.Host {
		return false, false
	}
	return processAlive(h.PID), true
}

// RunLock is a held lock on a state file.
type RunLock struct {
	path     string // the lock file
	fl       *flock.Flock
	holder   Holder
	previous *Holder
}

// LockedError is a state whose lock another run holds, or may hold.
type LockedError struct {
	Path string // the lock file
	// Holder is who holds it; nil when the lock file does not say (the
	// holder is still writing it, or something else holds the file).
	Holder *Holder
	// Stale: the holder's process is gone (it was on this host), yet
	// something still holds the OS lock.
	Stale bool
	// Unconfirmed: the OS lock is free, but the holder is on another host,
	// which this host cannot check.
	Unconfirmed bool
}

func (e *LockedError) Error() string {
	state := strings.TrimSuffix(e.Path, LockSuffix)
	if e.Holder == nil {
		return fmt.Sprintf("state file %s is locked by another process, which has not said who it is (%s is empty): "+
			"if it is a wavectl run, wait for it; otherwise find it with `fuser -v %s`", state, e.Path, shellQuote(e.Path))
	}
	h := e.Holder
	who := h.Describe(time.Now())
	switch {
	case e.Unconfirmed:
		return fmt.Sprintf("state file %s is locked by %s.\n"+
			"  That run is on another host, so this host cannot tell whether it still runs. If it is over (its process is gone,\n"+
			"  or %s went down), remove the lock with: wavectl unlock %s --state %s",
			state, who, h.Host, h.ID, shellQuote(state))
	case e.Stale:
		return fmt.Sprintf("state file %s is locked by %s.\n"+
			"  That process is gone, but another process on this host holds the lock file open: find it with\n"+
			"  `fuser -v %s` and stop it, then run again (or remove the lock with: wavectl unlock %s --state %s)",
			state, who, shellQuote(e.Path), h.ID, shellQuote(state))
	}
	return fmt.Sprintf("state file %s is locked by %s.\n"+
		"  Another run is using this state: wait for it to finish, or stop it (Ctrl-C, or kill %d on %s).\n"+
		"  Run `wavectl unlock %s --state %s` only if that process is gone.", state, who, h.PID, h.Host, h.ID, shellQuote(state))
}

// NoLockError is wavectl unlock on a state that nobody has locked.
type NoLockError struct{ Path string }

func (e *NoLockError) Error() string {
	return fmt.Sprintf("state file %s is not locked: there is nothing to unlock", strings.TrimSuffix(e.Path, LockSuffix))
}

// LockIDError is wavectl unlock with an ID that is not the holder's.
type LockIDError struct {
	Path   string
	ID     string // the ID given
	Holder Holder // the actual holder
}

func (e *LockIDError) Error() string {
	return fmt.Sprintf("state file %s is locked by %s, not by lock %s: check the lock ID (it was not removed)",
		strings.TrimSuffix(e.Path, LockSuffix), e.Holder.Describe(time.Now()), e.ID)
}

// Lock takes the run lock of the state file at statePath for operation
// (apply, resume, rollback), or fails at once: with a *LockedError when
// another run holds it. See the policy above. The state file need not
// exist yet; its folder must.
func Lock(statePath, operation string) (*RunLock, error) {
	path := statePath + LockSuffix
	fl := flock.New(path, flock.SetPermissions(FileMode), flock.SetFlag(lockFlags))
	ok, err := fl.TryLock()
	if err != nil {
		if fi, lerr := os.Lstat(path); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return nil, linkError(path)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if !ok {
		return nil, lockedError(path)
	}
	prev, err := readHolder(path)
	if err != nil {
		prev = nil // unreadable: no holder can be named, and none holds it
	}
	host, _ := os.Hostname()
	if prev != nil && prev.Host != host {
		_ = fl.Unlock()
		return nil, &LockedError{Path: path, Holder: prev, Unconfirmed: true}
	}
	l := &RunLock{path: path, fl: fl, previous: prev, holder: Holder{
		ID: newLockID(), Operation: operation, Host: host, PID: os.Getpid(), User: userName(),
		Command: commandLine(os.Args), Since: time.Now().UTC().Truncate(time.Second),
	}}
	if err := writeHolder(path, &l.holder); err != nil {
		_ = fl.Unlock()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if prev != nil {
		removeLeftovers(statePath)
	}
	return l, nil
}

// removeLeftovers removes the temp files a run killed while writing left
// beside the state. Only the lock's holder writes them, so once a gone
// holder's lock is taken over, none of them is in use.
func removeLeftovers(statePath string) {
	dir, base := filepath.Split(statePath)
	if strings.ContainsAny(base, `*?[\`) {
		return // not a glob pattern; leave them
	}
	for _, pattern := range []string{"." + base + ".tmp-*", "." + base + BackupSuffix + ".tmp-*", base + BackupSuffix + ".tmp"} {
		found, _ := filepath.Glob(filepath.Join(dir, pattern))
		for _, f := range found {
			os.Remove(f)
		}
	}
}

// lockedError describes the holder of a lock that is held. A holder that
// has just taken it may not have written its description yet: wait a
// little for it.
func lockedError(path string) error {
	var h *Holder
	for range 20 {
		var err error
		if h, err = readHolder(path); err == nil && h != nil {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	e := &LockedError{Path: path, Holder: h}
	if h != nil {
		if alive, known := h.Alive(); known && !alive {
			e.Stale = true
		}
	}
	return e
}

// Holder returns the lock's description.
func (l *RunLock) Holder() Holder { return l.holder }

// TookOver returns the holder whose lock this one took over (its process
// had gone), or nil.
func (l *RunLock) TookOver() *Holder { return l.previous }

// TakeoverWarning is the warning to log when Lock took a lock over: ""
// when it did not.
func (l *RunLock) TakeoverWarning() string {
	p := l.previous
	if p == nil {
		return ""
	}
	why := "process gone"
	if alive, _ := p.Alive(); alive {
		why = fmt.Sprintf("PID %d runs but no longer holds the lock", p.PID)
	}
	return fmt.Sprintf("taking over the lock of %s (%s)", p.Describe(time.Now()), why)
}

// Unlock removes the description and releases the lock. It is safe to call
// twice.
func (l *RunLock) Unlock() error {
	if l == nil || l.fl == nil || !l.fl.Locked() {
		return nil
	}
	err := clearHolder(l.path)
	if uerr := l.fl.Unlock(); err == nil {
		err = uerr
	}
	if err != nil {
		return fmt.Errorf("unlock %s: %w", l.path, err)
	}
	return nil
}

// Unlock removes the lock of the state file at statePath whose ID is id,
// and returns who held it: for a lock whose run is gone without releasing
// it, typically on another host. It fails with a *LockIDError when id is
// not the holder's (live or not); with a *LockedError when a process still
// holds the OS lock, since the kernel keeps it for that process and
// removing its description would only hide who holds it (restic's unlock
// likewise leaves live locks alone); and with a *NoLockError when nothing
// is locked.
func Unlock(statePath, id string) (Holder, error) {
	path := statePath + LockSuffix
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return Holder{}, &NoLockError{Path: path}
	}
	// A wrong ID is a mistake whoever holds the lock, live or not.
	if h, err := readHolder(path); err == nil && h != nil && h.ID != id {
		return Holder{}, &LockIDError{Path: path, ID: id, Holder: *h}
	}
	fl := flock.New(path, flock.SetPermissions(FileMode), flock.SetFlag(lockFlags))
	ok, err := fl.TryLock()
	if err != nil {
		if fi, lerr := os.Lstat(path); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return Holder{}, linkError(path)
		}
		return Holder{}, fmt.Errorf("unlock %s: %w", path, err)
	}
	if !ok {
		return Holder{}, lockedError(path)
	}
	defer func() { _ = fl.Unlock() }()
	// Holding the OS lock, nobody can change the description under us.
	h, err := readHolder(path)
	if err != nil {
		// Nobody is writing it, so it is damaged: clear it.
		if cerr := clearHolder(path); cerr != nil {
			return Holder{}, fmt.Errorf("unlock %s: %w", path, cerr)
		}
		return Holder{}, nil
	}
	if h == nil {
		return Holder{}, &NoLockError{Path: path}
	}
	if h.ID != id {
		return Holder{}, &LockIDError{Path: path, ID: id, Holder: *h}
	}
	if err := clearHolder(path); err != nil {
		return Holder{}, fmt.Errorf("unlock %s: %w", path, err)
	}
	return *h, nil
}

// ReadLock returns who holds the lock of the state at statePath, as its
// lock file says, or nil when nobody does; for status. It takes no lock:
// a holder whose process is gone is still returned (Alive tells).
func ReadLock(statePath string) (*Holder, error) {
	h, err := readHolder(statePath + LockSuffix)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return h, err
}

// readHolder reads a lock file's description: nil when it is empty.
func readHolder(path string) (*Holder, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil
	}
	h := &Holder{}
	if err := json.Unmarshal(data, h); err != nil {
		return nil, fmt.Errorf("lock file %s: %w", path, err)
	}
	return h, nil
}

// writeHolder writes the description into the lock file. The OS lock
// stays on the file flock opened; this is another descriptor of it.
func writeHolder(path string, h *Holder) error {
	data, err := json.MarshalIndent(h, "", "  ")
	if err != nil {
		return err
	}
	f, err := openPrivate(path, os.O_WRONLY)
	if err != nil {
		return err
	}
	if err := f.Truncate(0); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func clearHolder(path string) error {
	f, err := openPrivate(path, os.O_WRONLY)
	if err != nil {
		return err
	}
	if err := f.Truncate(0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// lockFlags open a lock file as flock does (created, read-only; AIX and
// Solaris lock only what they can write), never through a link.
var lockFlags = func() int {
	switch runtime.GOOS {
	case "aix", "solaris", "illumos":
		return os.O_CREATE | os.O_RDWR | noFollow
	}
	return os.O_CREATE | os.O_RDONLY | noFollow
}()

func newLockID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func userName() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return os.Getenv("USER")
}

// commandLine is args as one line, with credentials hidden (see
// redact.Args).
func commandLine(args []string) string {
	out := redact.Args(args)
	if len(out) > 0 {
		out[0] = strings.TrimSuffix(baseName(out[0]), ".exe")
	}
	return strings.Join(out, " ")
}

func baseName(p string) string {
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		return p[i+1:]
	}
	return p
}

// processAlive reports whether a process of that PID exists on this host.
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if runtime.GOOS == "windows" {
		return true // no signal 0 to ask with: assume it runs
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = p.Signal(syscall.Signal(0))
	return err == nil || errors.Is(err, syscall.EPERM)
}
