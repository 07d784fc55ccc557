package engine

import (
	"time"

	"github.com/wavectl/wavectl/pkg/state"
)

// EventKind names what happened.
type EventKind string

const (
	RunStarted     EventKind = "run-started"
	RunPaused      EventKind = "run-paused"
	RunDone        EventKind = "run-done"
	WaveStarted    EventKind = "wave-started"
	WaveDone       EventKind = "wave-done"
	AppStarted     EventKind = "app-started"
	AppDone        EventKind = "app-done"
	StepStarted    EventKind = "step-started"
	StepDone       EventKind = "step-done"
	StepRetry      EventKind = "step-retry"
	StepFailed     EventKind = "step-failed"
	StepRolledBack EventKind = "step-rolled-back"
)

// Totals size a run, for progress bars.
type Totals struct {
	Apps, Units, Steps int
	// Steps counts every step, deferred ones too, as plan does. DoneSteps
	// counts those an earlier run already finished (or put off to their
	// date), so that a resumed run's bars start from there.
	DoneSteps int
	// AppSteps and AppDone give each selected application's steps and how
	// many of them are already done.
	AppSteps, AppDone map[string]int
}

// Event is one thing that happened in a run. The engine knows no
// terminal: the CLI turns events into progress bars or log lines.
type Event struct {
	Kind    EventKind
	Time    time.Time
	Wave    string
	App     string
	Unit    string
	Step    string
	Status  state.Status
	Attempt int
	Err     error
	Message string
	Total   Totals
}

// Progress receives a run's events. Calls come from many goroutines.
type Progress interface {
	Event(Event)
}

type nopProgress struct{}

func (nopProgress) Event(Event) {}
