package state

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"time"
)

// Backend is where a programme's record lives: a state file (FileBackend,
// the default) or a database (package postgres, for teams). The commands
// use it for what they need of a record, no more: read it (status,
// report), lock a scope of it and open or create it (apply, resume,
// rollback), and remove a stale lock (unlock).
type Backend interface {
	// Name names the record for people: a file path, or a database URL
	// without its credentials.
	Name() string
	// Read returns the record as it is now. An error wraps fs.ErrNotExist
	// when there is none.
	Read(ctx context.Context) (*State, error)
	// Lock takes the run lock for operation on scope. A file is locked
	// whole, whatever the scope; a database locks only the scope's
	// applications, so runs on other applications go on beside it.
	Lock(ctx context.Context, operation string, scope Scope) (LockHandle, error)
	// Open opens the record for a run holding lock; an error wraps
	// fs.ErrNotExist when there is none yet.
	Open(ctx context.Context, lock LockHandle) (Store, error)
	// Create makes the record st for a run holding lock.
	Create(ctx context.Context, lock LockHandle, st *State) (Store, error)
	// Unlock removes the lock whose id is id, and says who held it.
	Unlock(ctx context.Context, id string) (Holder, error)
}

// Scope is what a run changes: Name is "programme", "wave:NAME",
// "conveyor" or "app:NAME"; Apps are the applications it covers (nil for
// the whole programme).
type Scope struct {
	Name string
	Apps []string
}

// LockHandle is a held run lock: a file's RunLock, or a database lease.
type LockHandle interface {
	Holder() Holder
	// TakeoverWarning says whose stale lock this one replaced, if any.
	TakeoverWarning() string
	Unlock() error
}

// FileBackend is a record in a state file.
type FileBackend struct{ File string }

var _ Backend = FileBackend{}

// Name is the file's path.
func (b FileBackend) Name() string { return b.File }

// Read reads the file.
func (b FileBackend) Read(context.Context) (*State, error) { return Read(b.File) }

// Lock takes the file's lock (the whole file, whatever the scope).
func (b FileBackend) Lock(_ context.Context, operation string, _ Scope) (LockHandle, error) {
	l, err := Lock(b.File, operation)
	if err != nil {
		return nil, err
	}
	return l, nil
}

// Open opens the file.
func (b FileBackend) Open(context.Context, LockHandle) (Store, error) {
	s, err := Open(b.File)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Create writes a new file.
func (b FileBackend) Create(_ context.Context, _ LockHandle, st *State) (Store, error) {
	s, err := Create(b.File, st)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Unlock removes the file's lock.
func (b FileBackend) Unlock(_ context.Context, id string) (Holder, error) { return Unlock(b.File, id) }

// IsNotExist says whether err means there is no record yet.
func IsNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, os.ErrNotExist)
}

// NewHolder describes this process as a lock's holder for operation.
func NewHolder(operation string) Holder {
	host, _ := os.Hostname()
	return Holder{ID: newLockID(), Operation: operation, Host: host, PID: os.Getpid(), User: userName(),
		Command: commandLine(os.Args), Since: time.Now().UTC().Truncate(time.Second)}
}
