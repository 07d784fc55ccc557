// Package engine runs a compiled plan against vCenter: waves in order, the
// conveyor alongside, dependencies honoured, work bounded per run, host and
// datastore, transient faults retried, and every step recorded durably.
package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/user"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/schedule"
	"github.com/wavectl/wavectl/pkg/state"
	"github.com/wavectl/wavectl/pkg/strategy"
	"github.com/wavectl/wavectl/pkg/vsphere"
)

// Results of a run.
const (
	Succeeded   = "succeeded"
	FailedRun   = "failed"
	Paused      = "paused"
	Interrupted = "interrupted"
)

// Scope narrows a run. The zero value is the whole plan.
type Scope struct {
	Waves    []string
	Conveyor bool
	Apps     []string
}

func (s Scope) empty() bool { return len(s.Waves) == 0 && !s.Conveyor && len(s.Apps) == 0 }

// HookRecorder receives each hook command's run (the strategy package's type).
type HookRecorder = strategy.HookRecorder

// Options configure a run.
type Options struct {
	Plan     *plan.Plan
	Schedule *schedule.Schedule
	Store    state.Store
	// Drivers returns the driver of a vCenter the plan names.
	Drivers func(ctx context.Context, vcenter string) (vsphere.Driver, error)
	Scope   Scope
	// IgnoreWindows runs waves outside their change windows (rehearsals).
	IgnoreWindows bool
	// Actions returns how a step is carried out (default
	// strategy.ActionFor); tests replace it.
	Actions func(strategy.Step) strategy.Action
	// NewHooks returns the hook runner for one application, reporting each
	// command's run to record.
	NewHooks func(record HookRecorder) strategy.HookRunner
	// Dial makes verification's TCP connections (nil: net.Dialer); the
	// simulator's DialContext reaches the guests it serves.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// VerifyTimeout bounds verification per unit (default 10m).
	VerifyTimeout time.Duration
	// RetryBase and RetryMax shape the exponential backoff between
	// attempts after a transient fault (defaults 2s and 1m).
	RetryBase, RetryMax time.Duration
	// Hard is cancelled on a second interrupt: in-flight vCenter calls are
	// abandoned. The run's own context only stops new work.
	Hard     context.Context
	Now      func() time.Time
	Progress Progress
	Log      zerolog.Logger
	// Command and Args are recorded in the run's record (default apply).
	Command string
	Args    []string
	// Simulate says the run is against the embedded simulator: its record
	// is a rehearsal's, and never mixes with real runs'.
	Simulate bool
	// NoRetryFailed is resume's --retry-failed=false, recorded with the
	// run's options.
	NoRetryFailed bool
	// GivenScope, when set, is the scope the operator gave, recorded in
	// place of Scope when the command narrowed it (resume leaving failed
	// applications alone).
	GivenScope *Scope
	// StateFlag is " --state REF" when the record is not the default
	// one, for the commands a message suggests.
	StateFlag string
}

// Result is how a run ended.
type Result struct {
	Status string
	Note   string
	// Apps counts the selected applications by final status.
	Apps map[state.Status]int
	// Failed names the applications that failed, with their reason.
	Failed map[string]string
	// Tasks counts this run's vCenter tasks; VCenterQueued and
	// VCenterRunning add up how long they waited in vCenter's queue and
	// how long they ran (tasktimes.go).
	Tasks                         int
	VCenterQueued, VCenterRunning time.Duration
}

// Run carries out the plan, or the part of it opts.Scope selects, and
// records everything in opts.Store. ctx stops new work when cancelled;
// opts.Hard stops in-flight work.
func Run(ctx context.Context, opts Options) (*Result, error) {
	e, err := newEngine(opts)
	if err != nil {
		return nil, err
	}
	return e.run(ctx)
}

type engine struct {
	opts  Options
	p     *plan.Plan
	store state.Store
	log   zerolog.Logger
	now   func() time.Time
	prog  Progress
	hard  context.Context

	selected map[string]bool
	apps     map[string]*appRun // every scheduled application, by name
	limits   *limiter
	hc       hostCache
	vc       vcTimes // guarded by mu

	mu        sync.Mutex
	stopWaves bool   // a wave with onFailure: stop had a failure
	paused    string // why new work stopped, when a window closed: the first pause
	// halted is why the run must stop at once (a write of the record that
	// failed, a vCenter that is not the record's), and haltNote says so
	// in a few words: like a closing window, nothing new starts, steps in
	// flight finish, and the run ends with halted as its error.
	halted   error
	haltNote string
	// Governance (governance.go): a gate that stopped the run, when each
	// wave began, its failed applications, and its tripped criteria.
	unapproved bool
	waveStart  map[string]time.Time
	waveFailed map[string]int
	abortSeen  map[string]bool
	aborted    map[string]string

	vcMu      sync.Mutex
	vcChecked map[string]bool // vCenters whose identity was checked
	// pausedIn holds each stream's pause ("waves", "conveyor"): a wave
	// waiting for its window does not hold back the conveyor, nor the
	// conveyor's window the waves.
	pausedIn map[string]string
}

// StoreError is a run that stopped because its record could not be
// written: what it did since the last good write is not on disk.
type StoreError struct{ Err error }

func (e *StoreError) Error() string {
	return fmt.Sprintf("the run stopped: its record could not be written (%v); nothing new started after that, and the steps in flight finished. "+
		"Fix the cause (free space, permissions), then run the same command again: every step checks vCenter for its own earlier work", e.Err)
}

func (e *StoreError) Unwrap() error { return e.Err }

// saved takes the error of a write of the record. The first failure
// stops the run as a closing window does: nothing new starts, in-flight
// steps finish, and the run ends with a *StoreError.
func (e *engine) saved(err error) error {
	if err == nil {
		return nil
	}
	e.halt(&StoreError{Err: err}, "the run's record could not be written")
	return err
}

// halt stops the run: nothing new starts, and it ends with err.
func (e *engine) halt(err error, note string) {
	e.mu.Lock()
	first := e.halted == nil
	if first {
		e.halted, e.haltNote = err, note
	}
	e.mu.Unlock()
	if first {
		e.log.Error().Err(err).Msg(note + ": nothing new starts, and the steps in flight finish")
		e.prog.Event(Event{Kind: RunPaused, Message: note, Time: e.now()})
	}
}

// storeFailed returns why the run halted, or nil.
func (e *engine) storeFailed() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.halted
}

// VCenterError is a record that belongs to other vCenters than the ones
// connected, or a rehearsal's record used for a real run (or the other
// way round): nothing was changed.
type VCenterError struct{ Msg string }

func (e *VCenterError) Error() string { return e.Msg }

// checkVCenter checks, once per vCenter, that the vCenter d talks to is
// the one the record's runs worked on, and records its identity on first
// use. A VM's id (vm-123) means something only within its vCenter.
func (e *engine) checkVCenter(name string, d vsphere.Driver) error {
	e.vcMu.Lock()
	defer e.vcMu.Unlock()
	if e.vcChecked[name] {
		return nil
	}
	id := d.InstanceUUID()
	if id == "" {
		e.log.Warn().Str("vcenter", name).Msg("vCenter says no instance UUID: the record cannot be checked against it")
		e.vcChecked[name] = true
		return nil
	}
	var rec state.VCenter
	var known bool
	e.store.View(func(st *state.State) { rec, known = st.VCenters[name] })
	if known && rec.InstanceUUID != id {
		err := &VCenterError{fmt.Sprintf("vCenter %s is not the one this record's runs worked on: its instance UUID is %s, the record's %s; "+
			"nothing was changed. The VM ids in the record name VMs of that vCenter, not of this one. "+
			"Point wavectl at the vCenter the run worked on (--vcenter %s=URL, or GOVC_URL), or, for a new migration on this vCenter, "+
			"move the state file aside (or pass another --state) to start a new record",
			name, id, rec.InstanceUUID, name)}
		e.halt(err, "vCenter "+name+" is not the record's")
		return err
	}
	if !known {
		if err := e.saved(e.store.SetVCenter(name, state.VCenter{InstanceUUID: id})); err != nil {
			return err
		}
	}
	e.vcChecked[name] = true
	return nil
}

// Streams of work that pause apart.
const (
	streamWaves    = "waves"
	streamConveyor = "conveyor"
)

func streamOf(a *plan.Application) string {
	if a.Wave == "" {
		return streamConveyor
	}
	return streamWaves
}

// appRun is an application's progress within this run.
type appRun struct {
	sched *schedule.App
	app   *plan.Application
	done  chan struct{} // closed when it reaches a final status in this run
	final state.Status
}

func newEngine(opts Options) (*engine, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.VerifyTimeout == 0 {
		opts.VerifyTimeout = 10 * time.Minute
	}
	if opts.RetryBase == 0 {
		opts.RetryBase = 2 * time.Second
	}
	if opts.RetryMax == 0 {
		opts.RetryMax = time.Minute
	}
	if opts.Hard == nil {
		opts.Hard = context.Background()
	}
	if opts.Progress == nil {
		opts.Progress = nopProgress{}
	}
	if opts.Actions == nil {
		opts.Actions = strategy.ActionFor
	}
	if opts.Command == "" {
		opts.Command = "apply"
	}
	e := &engine{opts: opts, p: opts.Plan, store: opts.Store, log: opts.Log, now: opts.Now, prog: opts.Progress,
		hard: opts.Hard, apps: map[string]*appRun{}, selected: map[string]bool{}, vcChecked: map[string]bool{}}
	for _, sa := range e.scheduled() {
		e.apps[sa.Name] = &appRun{sched: sa, app: e.p.Application(sa.Name), done: make(chan struct{})}
	}
	if err := e.selectScope(); err != nil {
		return nil, err
	}
	e.limits = newLimiter(e.p.Limits)
	return e, nil
}

func (e *engine) scheduled() []*schedule.App {
	var out []*schedule.App
	for _, w := range e.opts.Schedule.Waves {
		out = append(out, w.Apps...)
	}
	if c := e.opts.Schedule.Conveyor; c != nil {
		out = append(out, c.Apps...)
	}
	return out
}

// ScopeError is a --wave, --app or --conveyor that names nothing.
type ScopeError struct{ Msg string }

func (e *ScopeError) Error() string { return e.Msg }

func (e *engine) selectScope() error {
	sc := e.opts.Scope
	if sc.empty() {
		for name := range e.apps {
			e.selected[name] = true
		}
		return nil
	}
	for _, w := range sc.Waves {
		found := false
		for _, sw := range e.opts.Schedule.Waves {
			if sw.Name == w {
				found = true
				for _, a := range sw.Apps {
					e.selected[a.Name] = true
				}
			}
		}
		if !found {
			return &ScopeError{fmt.Sprintf("--wave %s: the plan has no such wave (waves: %s)", w, strings.Join(e.waveNames(), ", "))}
		}
	}
	if sc.Conveyor {
		if e.opts.Schedule.Conveyor == nil {
			return &ScopeError{"--conveyor: the plan has no conveyor"}
		}
		for _, a := range e.opts.Schedule.Conveyor.Apps {
			e.selected[a.Name] = true
		}
	}
	if len(sc.Apps) > 0 {
		only := map[string]bool{}
		for _, a := range sc.Apps {
			if e.apps[a] == nil {
				return &ScopeError{fmt.Sprintf("--app %s: no scheduled application of that name", a)}
			}
			only[a] = true
		}
		if len(sc.Waves) == 0 && !sc.Conveyor {
			e.selected = only
		} else {
			for name := range e.selected {
				if !only[name] {
					delete(e.selected, name)
				}
			}
		}
	}
	if len(e.selected) == 0 {
		return &ScopeError{"the scope selects no application"}
	}
	return nil
}

func (e *engine) waveNames() []string {
	var out []string
	for _, w := range e.opts.Schedule.Waves {
		out = append(out, w.Name)
	}
	return out
}

// run is the whole run: record it, prepare the state, run the waves and
// the conveyor side by side, and close the record.
func (e *engine) run(ctx context.Context) (*Result, error) {
	if err := e.begin(); err != nil {
		return nil, err
	}
	e.settle()
	e.prog.Event(Event{Kind: RunStarted, Time: e.now(), Total: e.totals()})

	// Applications outside the scope, and ones already done, count as
	// finished for their dependents.
	e.store.View(func(st *state.State) {
		for name, ar := range e.apps {
			if !e.selected[name] {
				ar.final = st.App(name).Status
				close(ar.done)
			}
		}
	})

	var wg sync.WaitGroup
	if c := e.opts.Schedule.Conveyor; c != nil && e.anySelected(c.Apps) && !e.allDone(c.Apps) {
		// Checked before any wave starts, so that an unapproved conveyor
		// holds back the whole run, every time.
		if note := e.gateClosed(plan.ConveyorGate); note != "" {
			e.refuse(note)
		}
	}
	if c := e.opts.Schedule.Conveyor; c != nil && e.anySelected(c.Apps) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.runConveyor(ctx, c)
		}()
	}
	e.runWaves(ctx)
	wg.Wait()
	return e.finish(ctx)
}

func (e *engine) anySelected(apps []*schedule.App) bool {
	for _, a := range apps {
		if e.selected[a.Name] {
			return true
		}
	}
	return false
}

// begin adds this run to the state and makes sure every scheduled
// application has its records.
func (e *engine) begin() error {
	host, _ := os.Hostname()
	who := ""
	if u, err := user.Current(); err == nil {
		who = u.Username
	}
	var problem string
	e.store.View(func(st *state.State) {
		switch {
		case len(st.Runs) == 0:
		case st.Rehearsal && !e.opts.Simulate:
			problem = "it records a --simulate rehearsal against the embedded simulator, whose VMs and ids exist in no vCenter; " +
				"a run against a vCenter needs a record of its own: pass another --state (or move this one aside)"
		case !st.Rehearsal && e.opts.Simulate:
			problem = "it records runs against a vCenter; a --simulate rehearsal needs a record of its own: pass another --state"
		}
	})
	if problem != "" {
		return &VCenterError{fmt.Sprintf("state %s cannot be used for this %s: %s; nothing was changed", e.store.Path(), e.opts.Command, problem)}
	}
	sc := e.opts.Scope
	if e.opts.GivenScope != nil {
		sc = *e.opts.GivenScope
	}
	opts := state.RunOptions{Waves: sc.Waves, Conveyor: sc.Conveyor, Apps: sc.Apps, Simulate: e.opts.Simulate,
		IgnoreWindows: e.opts.IgnoreWindows, RetryBase: e.opts.RetryBase.String(), VerifyTimeout: e.opts.VerifyTimeout.String(),
		NoRetryFailed: e.opts.NoRetryFailed}
	var apps []*state.App
	for _, sa := range e.scheduled() {
		apps = append(apps, skeleton(e.apps[sa.Name], sa))
	}
	run := state.Run{Command: e.opts.Command, Args: e.opts.Args, Options: opts, Host: host, User: who, PID: os.Getpid(), Started: e.now(), Result: "running",
		Estimate: e.opts.Schedule.Recorded()}
	_ = e.saved(e.store.BeginRun(run, apps))
	return e.storeFailed()
}

// settleTimeout bounds the wait for a killed run's tasks.
const settleTimeout = 10 * time.Minute

// settle waits, before a resume, a rollback, or a run that finds steps a
// killed run left running, for the change tasks that run left running in
// vCenter: a step's check, or an undo, that reads vCenter before such a
// task ends would miss its effect (a clone that completes after a
// rollback looked for its VM is an orphan), and a new task on the same
// VM would race it.
func (e *engine) settle() {
	need := e.opts.Command == "resume" || e.opts.Command == "rollback"
	if !need {
		e.store.View(func(st *state.State) {
			for _, a := range st.Apps {
				for _, u := range a.Units {
					for _, r := range u.Steps {
						need = need || (e.selected[a.Name] && r.Status == state.Running)
					}
				}
			}
		})
	}
	if !need {
		return
	}
	names := map[string]bool{e.p.Source.VCenter: true}
	for name := range e.selected {
		if ar := e.apps[name]; ar != nil && ar.app != nil {
			names[ar.app.Resolved.VCenter] = true
		}
	}
	for name := range names {
		d, err := e.opts.Drivers(e.hard, name)
		if err != nil {
			continue // the applications that need it fail with the reason
		}
		if e.checkVCenter(name, d) != nil {
			return
		}
		n, err := d.WaitForTasks(e.hard, settleTimeout)
		if err != nil {
			e.log.Warn().Err(err).Str("vcenter", name).Msg("could not wait for the tasks an earlier run left running; each step checks vCenter before it acts")
			continue
		}
		if n > 0 {
			e.log.Info().Int("tasks", n).Str("vcenter", name).Msg("waited for the tasks an earlier run left running in vCenter before checking its steps")
		}
	}
}

// skeleton is an application's records as the schedule has them, for
// State.Ensure: every unit and step, pending.
func skeleton(ar *appRun, sa *schedule.App) *state.App {
	a := &state.App{Name: sa.Name, Wave: ar.app.Wave, Conveyor: ar.app.OnConveyor, Strategy: sa.Strategy, Users: sa.Users, Status: state.Pending}
	for _, step := range sa.Steps {
		u := a.Unit(step.Unit)
		if u == nil {
			u = &state.Unit{Name: step.Unit, Status: state.Pending}
			a.Units = append(a.Units, u)
		}
		u.Steps = append(u.Steps, &state.Step{Kind: step.Kind, Phase: step.Phase, Status: state.Pending})
	}
	return a
}

func (e *engine) totals() Totals {
	t := Totals{AppSteps: map[string]int{}, AppDone: map[string]int{}}
	e.store.View(func(s *state.State) {
		for name, ar := range e.apps {
			if !e.selected[name] {
				continue
			}
			t.Apps++
			t.Units += len(ar.sched.Units)
			rec := s.App(name)
			// Deferred steps count (as plan counts them): a deferred
			// step is done for this run once it is put off to its date.
			for _, st := range ar.sched.Steps {
				t.Steps++
				t.AppSteps[name]++
				if rec == nil {
					continue
				}
				u := rec.Unit(st.Unit)
				if u == nil {
					continue
				}
				if r := u.Step(st.Kind, st.Phase); r != nil && (r.Status == state.Done || r.Status == state.Deferred) {
					t.DoneSteps++
					t.AppDone[name]++
				}
			}
		}
	})
	return t
}

// runWaves runs the selected waves one after another. Applications of
// waves it does not reach are left pending, saying why, so that nothing
// (the conveyor) waits on them for ever.
func (e *engine) runWaves(ctx context.Context) {
	waves := e.opts.Schedule.Waves
	for i, w := range waves {
		if !e.anySelected(w.Apps) {
			continue
		}
		why := ""
		switch {
		case ctx.Err() != nil:
			why = "not started: the run was interrupted"
		case e.stopped():
			why = "not started: an earlier wave stopped after a failure (onFailure: stop)"
		case e.isPaused(streamWaves):
			why = "not started: " + e.pausedNoteIn(streamWaves)
		}
		pw := e.p.Waves[e.waveIndex(w.Name)]
		// The gate first: an operator waiting for a window needs to know
		// the wave is not approved yet.
		if why == "" && !e.allDone(w.Apps) {
			if note := e.gateClosed(w.Name); note != "" {
				e.refuse(note)
				why = "not started: " + note
			}
		}
		if why == "" && pw.Window != nil && !e.opts.IgnoreWindows && !e.nothingLeft(w.Apps) {
			now := e.now()
			switch {
			case now.Before(pw.Window.Start):
				e.pauseIn(streamWaves, WindowNotOpen("wave "+w.Name+"'s", pw.Window.Start))
				why = "not started: " + e.pausedNoteIn(streamWaves)
			case !now.Before(pw.Window.End):
				e.pauseIn(streamWaves, fmt.Sprintf("window closed: wave %s's window closed at %s", w.Name, pw.Window.End.Format(time.RFC3339)))
				why = "not started: " + e.pausedNoteIn(streamWaves)
			}
		}
		if why == "" && e.checkFreeze() {
			why = "not started: " + e.pausedNote()
		}
		if why != "" {
			for _, rest := range waves[i:] {
				for _, sa := range rest.Apps {
					if e.selected[sa.Name] {
						e.notStarted(e.apps[sa.Name], why)
					}
				}
			}
			return
		}
		e.prog.Event(Event{Kind: WaveStarted, Wave: w.Name, Time: e.now()})
		e.waveBegan(w.Name)
		if err := e.waveHook(ctx, "pre", pw); err != nil {
			why := "not started: wave " + w.Name + "'s pre hook failed: " + err.Error()
			for _, sa := range w.Apps {
				if e.selected[sa.Name] {
					e.notStarted(e.apps[sa.Name], why)
				}
			}
			e.mu.Lock()
			e.stopWaves = true
			e.mu.Unlock()
			e.prog.Event(Event{Kind: WaveDone, Wave: w.Name, Message: why, Time: e.now()})
			continue
		}
		var wg sync.WaitGroup
		for _, sa := range w.Apps {
			if !e.selected[sa.Name] {
				continue
			}
			wg.Add(1)
			go func(ar *appRun) {
				defer wg.Done()
				e.runApp(ctx, ar, pw.Window, pw.OnFailure)
			}(e.apps[sa.Name])
		}
		wg.Wait()
		e.checkAbort(w.Name)
		e.backOut(w.Name, pw.OnFailure)
		if err := e.waveHook(ctx, "post", pw); err != nil {
			e.log.Warn().Err(err).Str("wave", w.Name).Msg("the wave's post hook failed (reported, not fatal)")
		}
		e.prog.Event(Event{Kind: WaveDone, Wave: w.Name, Time: e.now()})
	}
}

// nothingLeft reports whether every selected application of a wave is
// done, with no deferred step due: a wave with nothing left to do does not
// wait for its window.
func (e *engine) nothingLeft(apps []*schedule.App) bool {
	left := false
	e.store.View(func(st *state.State) {
		for _, sa := range apps {
			if a := st.App(sa.Name); e.selected[sa.Name] && (a == nil || a.Status != state.Done || e.deferredDue(a)) {
				left = true
			}
		}
	})
	return !left
}

// WaveHookRunner runs a wave's own hooks; strategy.ShellHooks is one.
type WaveHookRunner interface {
	RunWave(ctx context.Context, kind string, p *plan.Plan, w *plan.Wave) error
}

// waveHook runs a wave's pre or post hooks, recording each command.
func (e *engine) waveHook(ctx context.Context, kind string, w *plan.Wave) error {
	if e.opts.NewHooks == nil || w.Hooks == nil {
		return nil
	}
	h, ok := e.opts.NewHooks(func(k, unit, command string, code int, output string, err error, started, ended time.Time) {
		run := state.HookRun{Kind: k, Wave: w.Name, Command: command, ExitCode: code, Output: tail(output, state.OutputLimit), Started: started, Ended: ended}
		if err != nil {
			run.Error = err.Error()
		}
		_ = e.saved(e.store.AddWaveHook(run))
	}).(WaveHookRunner)
	if !ok {
		return nil
	}
	return h.RunWave(e.hard, kind, e.p, w)
}

func (e *engine) waveIndex(name string) int {
	for i, w := range e.p.Waves {
		if w != nil && w.Name == name {
			return i
		}
	}
	return -1
}

// runConveyor moves the conveyor's applications in order, inFlight at a
// time.
func (e *engine) runConveyor(ctx context.Context, c *schedule.Conveyor) {
	slots := make(chan struct{}, max(c.InFlight, 1))
	var wg sync.WaitGroup
	stop := false
	var stopMu sync.Mutex
	for _, sa := range c.Apps {
		if !e.selected[sa.Name] {
			continue
		}
		ar := e.apps[sa.Name]
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		stopMu.Lock()
		halt := stop
		stopMu.Unlock()
		if ctx.Err() != nil || halt || e.isPaused(streamConveyor) {
			if ctx.Err() == nil {
				<-slots
			}
			e.notStarted(ar, e.haltReason(ctx, streamConveyor, "the conveyor stopped after a failure"))
			continue
		}
		if c.Window != nil && !e.opts.IgnoreWindows {
			now := e.now()
			if now.Before(c.Window.Start) {
				<-slots
				e.pauseIn(streamConveyor, WindowNotOpen("the conveyor's", c.Window.Start))
				e.notStarted(ar, "not started: "+e.pausedNoteIn(streamConveyor))
				continue
			}
			if !now.Before(c.Window.End) {
				<-slots
				e.pauseIn(streamConveyor, fmt.Sprintf("window closed: the conveyor's window is %s to %s", c.Window.Start.Format(time.RFC3339), c.Window.End.Format(time.RFC3339)))
				e.notStarted(ar, "window closed")
				continue
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			e.runApp(ctx, ar, c.Window, c.OnFailure)
			if ar.final == state.Failed && c.OnFailure == plan.OnFailureStop {
				stopMu.Lock()
				stop = true
				stopMu.Unlock()
			}
		}()
	}
	wg.Wait()
}

func (e *engine) haltReason(ctx context.Context, stream, stopped string) string {
	switch {
	case ctx.Err() != nil:
		return "not started: the run was interrupted"
	case e.isPaused(stream):
		return "not started: " + e.pausedNoteIn(stream)
	}
	return "not started: " + stopped
}

// WindowNotOpen is the pause note of a wave or the conveyor whose window
// has not opened yet (whose is "wave W's" or "the conveyor's"). It names
// --ignore-windows, which rehearsals use.
func WindowNotOpen(whose string, start time.Time) string {
	return fmt.Sprintf("waiting for its window: %s window opens at %s (a rehearsal can pass --ignore-windows)", whose, start.Format(time.RFC3339))
}

// pause stops new work in every stream (a freeze, a gate that refuses):
// the run ends paused.
func (e *engine) pause(note string) { e.pauseIn("", note) }

// pauseIn stops new work in one stream (streamWaves or streamConveyor; ""
// for both); the run ends paused.
func (e *engine) pauseIn(stream, note string) {
	streams := []string{stream}
	if stream == "" {
		streams = []string{streamWaves, streamConveyor}
	}
	e.mu.Lock()
	if e.pausedIn == nil {
		e.pausedIn = map[string]string{}
	}
	first := false
	for _, st := range streams {
		if e.pausedIn[st] == "" {
			e.pausedIn[st], first = note, true
		}
	}
	if first && e.paused == "" {
		e.paused = note
	}
	e.mu.Unlock()
	if first {
		e.prog.Event(Event{Kind: RunPaused, Message: note, Time: e.now()})
	}
}

func (e *engine) isPaused(stream string) bool { return e.pausedNoteIn(stream) != "" }

// pausedNoteIn is why new work stopped in a stream: its window, or a halt
// of the whole run (a write of the record that failed).
func (e *engine) pausedNoteIn(stream string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.pausedIn[stream] == "" && e.halted != nil {
		return e.haltNote
	}
	return e.pausedIn[stream]
}

func (e *engine) pausedNote() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.paused == "" && e.halted != nil {
		return e.haltNote
	}
	return e.paused
}

func (e *engine) stopped() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stopWaves
}

// notStarted leaves an application pending, saying why, and releases its
// dependents.
func (e *engine) notStarted(ar *appRun, reason string) {
	_ = e.saved(e.store.UpdateApp(ar.sched.Name, func(a *state.App) {
		if a.Status != state.Done {
			a.Reason = reason
		}
		ar.final = a.Status
	}))
	close(ar.done)
}

// finish closes the run's record and works out its result.
func (e *engine) finish(ctx context.Context) (*Result, error) {
	res := &Result{Apps: map[state.Status]int{}, Failed: map[string]string{}}
	e.store.View(func(st *state.State) {
		for name := range e.selected {
			a := st.App(name)
			res.Apps[a.Status]++
			if a.Status == state.Failed || a.Status == state.Skipped || a.Status == state.RolledBack {
				res.Failed[name] = a.Reason
			}
		}
	})
	switch {
	case e.storeFailed() != nil:
		res.Status, res.Note = FailedRun, "stopped: "+e.pausedNote()
	case e.unapproved && ctx.Err() == nil:
		res.Status, res.Note = Unapproved, e.pausedNote()
	case ctx.Err() != nil:
		res.Status, res.Note = Interrupted, "in-flight steps were finished; wavectl resume carries on"
		if e.hard.Err() != nil {
			res.Note = "in-flight steps were abandoned, not finished (each checks vCenter for its result when the run is resumed); wavectl resume carries on"
		}
	case e.pausedNote() != "":
		res.Status, res.Note = Paused, e.pausedNote()
	case len(res.Failed) > 0:
		names := make([]string, 0, len(res.Failed))
		for n := range res.Failed {
			names = append(names, n)
		}
		sort.Strings(names)
		res.Status, res.Note = FailedRun, "not every application moved: "+strings.Join(names, ", ")
	case res.Apps[state.Pending] > 0:
		res.Status, res.Note = FailedRun, fmt.Sprintf("%d applications did not start", res.Apps[state.Pending])
	default:
		res.Status = Succeeded
	}
	e.mu.Lock()
	for _, w := range e.waveNames() {
		if note := e.aborted[w]; note != "" && res.Status == FailedRun {
			res.Note = note + "; " + res.Note
		}
	}
	e.mu.Unlock()
	e.logLimits(res) // tasktimes.go
	return res, e.closeRun(res)
}

// backoff is the wait before attempt n+1: exponential with full jitter.
func (e *engine) backoff(n int) time.Duration {
	d := e.opts.RetryBase << min(n, 10)
	d = min(d, e.opts.RetryMax)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// sleep waits d or until the hard context ends.
func (e *engine) sleep(d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-e.hard.Done():
		return e.hard.Err()
	}
}

// closeRun records how the run ended. A run whose record could not be
// written, this last time or before, ends with a *StoreError.
func (e *engine) closeRun(res *Result) error {
	end := e.now()
	_ = e.saved(e.store.EndRun(end, res.Status, res.Note))
	e.prog.Event(Event{Kind: RunDone, Message: res.Status, Time: end})
	return e.storeFailed()
}
