package schedule

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/state"
)

// What drives a step kind's duration: the size of the VM's disks for work
// that copies them, the number of commands for hooks, one VM otherwise.
const (
	PerGB   = "GB"
	PerHook = "hook"
	PerVM   = "VM"
)

// Driver says what a step kind's duration scales with.
func Driver(kind string) string {
	switch kind {
	case plan.StepClone, plan.StepRelocate, plan.StepCreateVM, plan.StepImportImage:
		return PerGB
	case plan.StepPreHook, plan.StepPostHook:
		return PerHook
	}
	return PerVM
}

// Model is step durations fitted from recorded runs: per step kind, the
// spread (P50, P90) of its duration per unit of what drives it.
type Model struct {
	Kinds map[string]*KindFit `json:"kinds"`
	// Records, Runs and Steps count the evidence: records read, runs whose
	// steps were used, and measured steps.
	Records int `json:"records"`
	Runs    int `json:"runs"`
	Steps   int `json:"steps"`
	// LeftOut names records not used and why (rehearsals, unless asked).
	LeftOut []string `json:"leftOut,omitempty"`
}

// KindFit is one step kind's fit.
type KindFit struct {
	Kind string `json:"kind"`
	// Per is what the rate is per: GB, hook or VM.
	Per string `json:"per"`
	// Rate is the duration per unit of Per; Rate.Steps the steps measured
	// with a known size (all of them for VM).
	Rate Fit `json:"rate"`
	// PerStep is the duration per step whatever its size: used when a
	// VM's disk size (or a hook step's count) is not known.
	PerStep Fit `json:"perStep"`
	Runs    int `json:"runs"`
}

// Fit is a sample's spread, in seconds.
type Fit struct {
	Steps int     `json:"steps"`
	P50   float64 `json:"p50Seconds"`
	P90   float64 `json:"p90Seconds"`
	Mean  float64 `json:"meanSeconds"`
	Min   float64 `json:"minSeconds"`
	Max   float64 `json:"maxSeconds"`
}

// FitModel reads measured steps from records: every step that finished (done)
// with its start and end recorded. Rehearsal records (--simulate runs
// against the embedded simulator) measure the simulator, not vCenter, and
// are left out unless includeRehearsals; names name the records for
// LeftOut.
func FitModel(records []*state.State, names []string, includeRehearsals bool) *Model {
	m := &Model{Kinds: map[string]*KindFit{}}
	rates := map[string][]float64{}
	steps := map[string][]float64{}
	runs := map[string]map[string]bool{}
	allRuns := map[string]bool{}
	for i, st := range records {
		if st == nil {
			continue
		}
		if st.Rehearsal && !includeRehearsals {
			name := st.Plan
			if i < len(names) {
				name = names[i]
			}
			m.LeftOut = append(m.LeftOut, name+": a --simulate rehearsal (pass --include-rehearsals to use it)")
			continue
		}
		m.Records++
		for _, a := range st.Apps {
			for _, u := range a.Units {
				for _, s := range u.Steps {
					if s.Status != state.Done || s.Started == nil || s.Ended == nil || s.Ended.Before(*s.Started) {
						continue
					}
					// Time queued in vCenter is not the step's own: the
					// estimate queues steps itself, by vCenter's budgets.
					d := (s.Ended.Sub(*s.Started) - time.Duration(s.VCenterQueuedMs)*time.Millisecond).Seconds()
					d = max(d, 0)
					steps[s.Kind] = append(steps[s.Kind], d)
					if Driver(s.Kind) == PerVM {
						rates[s.Kind] = append(rates[s.Kind], d)
					} else if s.Size > 0 {
						rates[s.Kind] = append(rates[s.Kind], d/float64(s.Size))
					}
					run := fmt.Sprintf("%s/%d", st.Lineage, runOf(st, *s.Started))
					if runs[s.Kind] == nil {
						runs[s.Kind] = map[string]bool{}
					}
					runs[s.Kind][run] = true
					allRuns[run] = true
					m.Steps++
				}
			}
		}
	}
	for kind, ds := range steps {
		m.Kinds[kind] = &KindFit{Kind: kind, Per: Driver(kind), Rate: fit(rates[kind]), PerStep: fit(ds), Runs: len(runs[kind])}
	}
	m.Runs = len(allRuns)
	return m
}

// runOf is the index of the run a step started in (the last run started
// by then).
func runOf(st *state.State, t time.Time) int {
	idx := -1
	for i, r := range st.Runs {
		if !r.Started.After(t) {
			idx = i
		}
	}
	return idx
}

func fit(xs []float64) Fit {
	if len(xs) == 0 {
		return Fit{}
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	var sum float64
	for _, x := range s {
		sum += x
	}
	return Fit{Steps: len(s), P50: quantile(s, 0.5), P90: quantile(s, 0.9), Mean: sum / float64(len(s)), Min: s[0], Max: s[len(s)-1]}
}

// quantile of sorted xs, interpolating between the closest ranks.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 1 {
		return xs[0]
	}
	pos := q * float64(len(xs)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(xs)-1)
	return xs[lo] + (xs[hi]-xs[lo])*(pos-float64(lo))
}

// Predict is a step's expected duration (P50 and P90) from the model, for
// a step of that kind and size (0: unknown); ok is false when the model
// has no data for the kind.
func (m *Model) Predict(kind string, size int) (p50, p90 time.Duration, ok bool) {
	if m == nil {
		return 0, 0, false
	}
	k := m.Kinds[kind]
	if k == nil || k.PerStep.Steps == 0 {
		return 0, 0, false
	}
	f, scale := k.PerStep, 1.0
	if k.Per == PerVM {
		f = k.Rate
	} else if size > 0 && k.Rate.Steps > 0 {
		f, scale = k.Rate, float64(size)
	}
	return secs(f.P50 * scale), secs(f.P90 * scale), true
}

func secs(s float64) time.Duration {
	return time.Duration(s * float64(time.Second)).Round(time.Millisecond)
}

// sizeOf is what drives a step's duration (see Driver): the unit's disk
// GB, or the hook commands of a hook step; 0 when not known.
func sizeOf(a *plan.Application, kind, unit string) int {
	switch Driver(kind) {
	case PerHook:
		if a.AllHooks == nil {
			return 0
		}
		if kind == plan.StepPreHook {
			return len(a.AllHooks.Pre)
		}
		return len(a.AllHooks.Post)
	case PerGB:
		sum := func(gb []int) int {
			t := 0
			for _, g := range gb {
				t += g
			}
			return t
		}
		for _, v := range a.VMs {
			if v != nil && v.Name == unit {
				return sum(v.DisksGB)
			}
		}
		for _, s := range a.Servers {
			if s != nil && s.Name == unit {
				return sum(s.DisksGB)
			}
		}
	}
	return 0
}

// Calibration says what a calibrated schedule's estimates rest on.
type Calibration struct {
	Runs  int `json:"runs"`
	Steps int `json:"steps"`
	// Kinds are the step kinds with measured durations, each with the
	// steps and runs it rests on; Defaulted the kinds the schedule uses
	// that had no data, so kept their defaults.
	Kinds     []KindEvidence `json:"kinds"`
	Defaulted []string       `json:"defaulted,omitempty"`
}

// KindEvidence is how much a calibrated kind rests on.
type KindEvidence struct {
	Kind  string `json:"kind"`
	Per   string `json:"per"`
	Steps int    `json:"steps"`
	Runs  int    `json:"runs"`
}

func calibrationOf(s *Schedule, m *Model) *Calibration {
	c := &Calibration{Runs: m.Runs, Steps: m.Steps}
	used := map[string]bool{}
	each := func(apps []*App) {
		for _, a := range apps {
			for _, st := range a.Steps {
				used[st.Kind] = true
			}
		}
	}
	for _, w := range s.Waves {
		each(w.Apps)
	}
	if s.Conveyor != nil {
		each(s.Conveyor.Apps)
	}
	for _, kind := range plan.StepKinds {
		if !used[kind] {
			continue
		}
		if k := m.Kinds[kind]; k != nil {
			c.Kinds = append(c.Kinds, KindEvidence{Kind: kind, Per: k.Per, Steps: k.PerStep.Steps, Runs: k.Runs})
		} else {
			c.Defaulted = append(c.Defaulted, kind)
		}
	}
	return c
}

// Recorded is the estimate a run records when it starts, to compare with
// what it measures.
func (s *Schedule) Recorded() *state.Estimate {
	e := &state.Estimate{Source: "defaults", Waves: map[string]state.Span{}, Apps: map[string]map[string]float64{}, AppSpans: map[string]float64{}}
	if c := s.Calibration; c != nil {
		e.Source, e.Runs, e.Steps = "calibrated", c.Runs, c.Steps
	}
	apps := func(list []*App) {
		for _, a := range list {
			kinds := map[string]float64{}
			for _, st := range a.Steps {
				if !st.Deferred {
					kinds[st.Kind] += time.Duration(st.Estimate).Seconds()
				}
			}
			e.Apps[a.Name] = kinds
			e.AppSpans[a.Name] = time.Duration(a.Estimate).Seconds()
		}
	}
	for _, w := range s.Waves {
		e.Waves[w.Name] = state.Span{P50: time.Duration(w.Estimate).Seconds(), P90: time.Duration(w.EstimateP90).Seconds()}
		apps(w.Apps)
	}
	if c := s.Conveyor; c != nil {
		e.Waves[plan.ConveyorGate] = state.Span{P50: time.Duration(c.Estimate).Seconds(), P90: time.Duration(c.EstimateP90).Seconds()}
		apps(c.Apps)
	}
	return e
}
