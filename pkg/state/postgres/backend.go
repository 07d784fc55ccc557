package postgres

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"github.com/wavectl/wavectl/pkg/state"
)

// Backend is a programme's record in a database: a state.Backend. The
// programme is the URL's ?programme=, else the plan's name (Programme);
// readers with neither take the database's only programme.
type Backend struct {
	db        *DB
	programme string
}

var _ state.Backend = (*Backend)(nil)

// OpenBackend connects to the database a --state URL names, for the
// programme called programme unless the URL names one.
func OpenBackend(ctx context.Context, url, programme string) (*Backend, error) {
	db, err := Open(ctx, url)
	if err != nil {
		return nil, err
	}
	if db.Programme != "" {
		programme = db.Programme
	}
	return &Backend{db: db, programme: programme}, nil
}

// DB is the backend's database.
func (b *Backend) DB() *DB { return b.db }

// Programme is the programme the backend works on ("" until known).
func (b *Backend) Programme() string { return b.programme }

// Close closes the connections.
func (b *Backend) Close() { b.db.Close() }

// Name names the record for people.
func (b *Backend) Name() string { return b.db.Name(b.programme) }

// notExist is a programme with no record, as fs.ErrNotExist for callers
// that create one.
type notExist struct{ error }

func (notExist) Is(target error) bool { return target == fs.ErrNotExist }

// Read reads the record as it is now.
func (b *Backend) Read(ctx context.Context) (*state.State, error) {
	st, err := b.db.Read(ctx, b.programme)
	if _, ok := err.(*NotFoundError); ok {
		return nil, notExist{err}
	}
	return st, err
}

// Lock takes a lease on scope, renewed in the background until Unlock.
func (b *Backend) Lock(ctx context.Context, operation string, scope state.Scope) (state.LockHandle, error) {
	if err := b.db.ensure(ctx, b.programme); err != nil {
		return nil, err
	}
	h := state.NewHolder(operation)
	l, taken, err := b.db.Acquire(ctx, b.programme, scope.Name, scope.Apps, h, LeaseTTL)
	if err != nil {
		return nil, err
	}
	ll := &leaseLock{db: b.db, lease: l, taken: taken, stop: make(chan struct{}), done: make(chan struct{})}
	go ll.renew()
	return ll, nil
}

// LeaseTTL is how long a run's lease lasts without renewal; it is renewed
// every third of that.
var LeaseTTL = DefaultTTL

// Open opens the record for a run holding lock.
func (b *Backend) Open(ctx context.Context, lock state.LockHandle) (state.Store, error) {
	ll, ok := lock.(*leaseLock)
	if !ok {
		return nil, fmt.Errorf("state %s: opened without its lease", b.Name())
	}
	s, err := b.db.Open(ctx, b.programme, ll.lease)
	if _, nf := err.(*NotFoundError); nf {
		return nil, notExist{err}
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Create stores a new record for a run holding lock.
func (b *Backend) Create(ctx context.Context, lock state.LockHandle, st *state.State) (state.Store, error) {
	if st.FormatVersion == 0 {
		st.FormatVersion = state.FormatVersion
	}
	body, err := state.Encode(st)
	if err != nil {
		return nil, err
	}
	_, err = b.db.Create(ctx, b.programme, st.Lineage, st.FormatVersion, body)
	var fe *ForeignError
	if errors.As(err, &fe) && len(st.Runs) == 0 && len(st.Apps) == 0 {
		// Two runs on different scopes started the programme at once: the
		// other one created its record first, and this new, empty one is
		// not needed. Work on that record.
		err = nil
	}
	if err != nil {
		return nil, err
	}
	return b.Open(ctx, lock)
}

// Unlock removes the lease whose lock id is id.
func (b *Backend) Unlock(ctx context.Context, id string) (state.Holder, error) {
	l, err := b.db.Unlock(ctx, b.programme, id)
	if err != nil {
		return state.Holder{}, err
	}
	return l.Holder, nil
}

// leaseLock is a held lease: a state.LockHandle.
type leaseLock struct {
	db    *DB
	lease *Lease
	taken []Lease
	once  sync.Once
	stop  chan struct{}
	done  chan struct{}
	mu    sync.Mutex
	err   error // the renewal's error (a take-over), if any
}

func (l *leaseLock) Holder() state.Holder { return l.lease.Holder }

func (l *leaseLock) TakeoverWarning() string {
	if len(l.taken) == 0 {
		return ""
	}
	t := l.taken[0]
	return fmt.Sprintf("took over the expired lease of %s on %s (it stopped renewing it at %s): its writes are refused from now on",
		t.Holder.Describe(time.Now()), t.Scope, t.Expires.UTC().Format(time.RFC3339))
}

func (l *leaseLock) renew() {
	defer close(l.done)
	t := time.NewTicker(LeaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), LeaseTTL/3)
			err := l.db.Renew(ctx, l.lease, LeaseTTL)
			cancel()
			if _, fenced := err.(*FencedError); fenced {
				l.mu.Lock()
				l.err = err
				l.mu.Unlock()
				return // taken over: the store's next write is refused too
			}
		}
	}
}

// Unlock stops renewing the lease and gives it back.
func (l *leaseLock) Unlock() error {
	l.once.Do(func() { close(l.stop) })
	<-l.done
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return l.db.Release(ctx, l.lease)
}
