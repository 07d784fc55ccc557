package vsphere

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"
)

// A poller waits for every task of a driver (and every VM it waits on: a
// guest's IP, a shutdown) at once, with one RetrieveProperties call per
// tick that reads all of them, instead of a property collector, a filter
// and two or more waits per task (govmomi's Task.Wait: five or six calls
// for every task, most of a migrated VM's requests).
//
// Why a batched read and not one collector for the whole run: govmomi's
// simulator holds a collector's lock for the whole of a WaitForUpdatesEx,
// so a filter cannot be added to a collector that is waiting, and a filter
// with a traversal (TaskManager.recentTask, a ListView, a ContainerView)
// can deadlock it (its filter locks the root object while the root's own
// update locks the filter; a shared watcher over recentTask did, issue 17).
// A read of listed objects takes no lock for longer than the read.
//
// A read that fails (a session that ended and is being logged in again, a
// network blip) is tried again at the next tick: the wait starts again
// rather than failing a task that may well succeed. Only pollAttempts
// failures in a row end the waits, with the last error.
type poller struct {
	c *vim25.Client

	mu      sync.Mutex
	watches map[*watch]struct{}
	running bool
	wake    chan struct{}
}

// watch is one wait: ref's props are read at every tick until done says
// the wait is over.
type watch struct {
	ref    types.ManagedObjectReference
	props  []string
	done   func(types.ObjectContent) bool // called on the poll goroutine only
	since  time.Time
	next   time.Time
	expect time.Duration // how long it is expected to take; 0: unknown
	end    chan error
}

// When a wait is read:
//   - pollFirst after it starts: long enough for a few waits that start
//     together to share the read, short enough to cost a quick task little
//     (govmomi's simulator itself only hands out property changes every
//     20ms);
//   - then, when it is expected to take a while (a task of a kind the
//     driver has seen end before, see taskDurations), when it is expected to
//     end, so that a long task costs two or three reads, not a read every
//     few hundred milliseconds;
//   - then, or when nothing is expected, after an eighth of its age,
//     between pollMin and pollMax: it is seen to end at most 1/8 of its
//     duration (or pollMin) late.
//
// Every read serves every wait in flight, so a wait that is due brings the
// others' reads forward too.
const (
	pollFirst    = 20 * time.Millisecond
	pollMin      = 20 * time.Millisecond
	pollMax      = 3 * time.Second
	pollAttempts = 3
)

// nextRead is when a wait is read again, after a read at now.
func (w *watch) nextRead(now time.Time) time.Time {
	if end := w.since.Add(w.expect); w.expect > 0 && end.After(now.Add(pollMin)) {
		return end
	}
	return now.Add(min(max(now.Sub(w.since)/8, pollMin), pollMax))
}

func newPoller(c *vim25.Client) *poller {
	return &poller{c: c, watches: map[*watch]struct{}{}, wake: make(chan struct{}, 1)}
}

// await blocks until done reports the wait over (nil), ref is gone (an
// error wrapping ErrNotFound), reads keep failing, or ctx ends.
func (p *poller) await(ctx context.Context, ref types.ManagedObjectReference, props []string, expect time.Duration, done func(types.ObjectContent) bool) error {
	now := time.Now()
	w := &watch{ref: ref, props: props, done: done, since: now, next: now.Add(pollFirst), expect: expect, end: make(chan error, 1)}
	p.mu.Lock()
	p.watches[w] = struct{}{}
	if !p.running {
		p.running = true
		go p.loop()
	}
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
	select {
	case err := <-w.end:
		return err
	case <-ctx.Done():
		p.mu.Lock()
		delete(p.watches, w)
		p.mu.Unlock()
		select {
		case err := <-w.end: // ended meanwhile: what it found stands
			return err
		default:
		}
		return ctx.Err()
	}
}

// loop reads every wait's objects whenever the earliest one is due, until
// no wait is left.
func (p *poller) loop() {
	failures := 0
	for {
		p.mu.Lock()
		if len(p.watches) == 0 {
			p.running = false
			p.mu.Unlock()
			return
		}
		due := time.Time{}
		for w := range p.watches {
			if due.IsZero() || w.next.Before(due) {
				due = w.next
			}
		}
		p.mu.Unlock()
		if d := time.Until(due); d > 0 {
			timer := time.NewTimer(d)
			select {
			case <-timer.C:
			case <-p.wake:
				timer.Stop()
				continue // a new wait may be due sooner
			}
		}
		p.mu.Lock()
		batch := make([]*watch, 0, len(p.watches))
		for w := range p.watches {
			batch = append(batch, w)
		}
		p.mu.Unlock()
		err := p.poll(batch)
		if err != nil {
			failures++
		} else {
			failures = 0
		}
		now := time.Now()
		p.mu.Lock()
		for _, w := range batch {
			if _, ok := p.watches[w]; !ok {
				continue
			}
			if err != nil && failures >= pollAttempts {
				delete(p.watches, w)
				w.end <- err
				continue
			}
			w.next = w.nextRead(now)
		}
		if failures >= pollAttempts {
			failures = 0 // those waits have ended; a new one gets its own tries
		}
		p.mu.Unlock()
	}
}

// poll reads every object of batch in one call and ends the waits that
// are over. It fails only when the read does.
func (p *poller) poll(batch []*watch) error {
	props := map[string][]string{}
	seenProp := map[string]bool{}
	seenObj := map[types.ManagedObjectReference]bool{}
	spec := types.PropertyFilterSpec{ReportMissingObjectsInResults: types.NewBool(true)}
	for _, w := range batch {
		for _, ps := range w.props {
			if k := w.ref.Type + "\x00" + ps; !seenProp[k] {
				seenProp[k] = true
				props[w.ref.Type] = append(props[w.ref.Type], ps)
			}
		}
		if !seenObj[w.ref] {
			seenObj[w.ref] = true
			spec.ObjectSet = append(spec.ObjectSet, types.ObjectSpec{Obj: w.ref, Skip: types.NewBool(false)})
		}
	}
	for kind, ps := range props {
		spec.PropSet = append(spec.PropSet, types.PropertySpec{Type: kind, PathSet: ps})
	}
	// The calls of a poll are not the waiters': a waiter that gives up
	// must not cut off the others' read.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := property.DefaultCollector(p.c).RetrieveProperties(ctx, types.RetrieveProperties{SpecSet: []types.PropertyFilterSpec{spec}})
	if err != nil {
		return err
	}
	found := map[types.ManagedObjectReference]types.ObjectContent{}
	for _, oc := range res.Returnval {
		if f := notAuthenticated(oc); f != nil {
			// The simulator answers a read of a session that ended with
			// each property missing for NotAuthenticated, where vCenter
			// fails the call: a call that needs the session logs in again
			// (the Session's re-login wrapper), and the next tick reads.
			_, _ = methods.GetCurrentTime(ctx, p.c)
			return fmt.Errorf("read %s: %s", oc.Obj, f.LocalizedMessage)
		}
		if !gone(oc) {
			found[oc.Obj] = oc
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, w := range batch {
		if _, ok := p.watches[w]; !ok {
			continue
		}
		oc, ok := found[w.ref]
		switch {
		case !ok:
			// Not in the result (vCenter reports it missing; the
			// simulator leaves it out): it no longer exists.
			delete(p.watches, w)
			w.end <- &Fault{Op: "wait", Object: w.ref.Value, Kind: "ManagedObjectNotFound",
				Message: fmt.Sprintf("%s %s no longer exists", w.ref.Type, w.ref.Value), Err: ErrNotFound}
		case w.done(only(oc, w.props)):
			delete(p.watches, w)
			w.end <- nil
		}
	}
	return nil
}

// notAuthenticated is the fault of a property that could not be read
// because the session had ended, or nil.
func notAuthenticated(oc types.ObjectContent) *types.LocalizedMethodFault {
	for _, m := range oc.MissingSet {
		if _, ok := m.Fault.Fault.(*types.NotAuthenticated); ok {
			f := m.Fault
			if f.LocalizedMessage == "" {
				f.LocalizedMessage = "the session has ended (NotAuthenticated)"
			}
			return &f
		}
	}
	return nil
}

// only is oc with the properties of props, in that order; a property that
// has no value is left out, as vCenter leaves it out.
func only(oc types.ObjectContent, props []string) types.ObjectContent {
	out := types.ObjectContent{Obj: oc.Obj}
	for _, name := range props {
		for _, dp := range oc.PropSet {
			if dp.Name == name {
				out.PropSet = append(out.PropSet, dp)
				break
			}
		}
	}
	return out
}

// taskDurations are how long the driver's tasks of each kind took, as vCenter
// timed them (queued to complete), for the poller to read a task around
// when it should end.
type taskDurations struct {
	mu   sync.Mutex
	took map[string]time.Duration
}

// expect is how long a task of kind should take; 0 when none was seen.
func (t *taskDurations) expect(kind string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.took[kind]
}

// ended records a task of kind that ended, as a moving average that
// follows a change of pace within a few tasks.
func (t *taskDurations) ended(kind string, info *types.TaskInfo) {
	if info == nil || info.CompleteTime == nil || info.QueueTime.IsZero() {
		return
	}
	d := info.CompleteTime.Sub(info.QueueTime)
	if d < 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.took == nil {
		t.took = map[string]time.Duration{}
	}
	if old, ok := t.took[kind]; ok {
		d = (old*7 + d*3) / 10
	}
	t.took[kind] = d
}
