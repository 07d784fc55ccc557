// Package gate decides whether a wave (or the conveyor) may start: the
// approvals its plan's gates require, against those held in the record.
package gate

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/state"
)

// Status is a wave's gate: who must approve, which approvals count, and
// what is missing.
type Status struct {
	Wave     string           `json:"wave"`
	Required []string         `json:"required"`
	Approved []state.Approval `json:"approved,omitempty"`
	Missing  []Missing        `json:"missing,omitempty"`
}

// Missing is an approver whose approval is not (or no longer) valid.
type Missing struct {
	Approver string `json:"approver"`
	// Why says what is wrong: none recorded, one of an earlier plan, or
	// one recorded too late.
	Why string `json:"why"`
}

// Gated says whether the wave has any gate.
func (s Status) Gated() bool { return len(s.Required) > 0 }

// Open says whether the wave may start.
func (s Status) Open() bool { return len(s.Missing) == 0 }

// Check evaluates the gates of wave (plan.ConveyorGate for the conveyor)
// against approvals: an approval counts when it names the wave and the
// approver, was given for this exact plan (its content hash), and, when
// the gate says how long before the window it must exist, was recorded by
// then.
func Check(p *plan.Plan, approvals []state.Approval, wave string) Status {
	st := Status{Wave: wave}
	var window *plan.Window
	if w := p.Wave(wave); w != nil {
		window = w.Window
	} else if wave == plan.ConveyorGate && p.Conveyor != nil {
		window = p.Conveyor.Window
	}
	need := map[string]time.Duration{}
	for _, g := range p.GatesFor(wave) {
		for _, a := range g.Approvers {
			if _, ok := need[a]; !ok {
				st.Required = append(st.Required, a)
			}
			need[a] = max(need[a], time.Duration(g.Before))
		}
	}
	for _, who := range st.Required {
		var stale, late *state.Approval
		var found *state.Approval
		for i := range approvals {
			a := &approvals[i]
			if a.Wave != wave || a.As != who {
				continue
			}
			switch {
			case a.PlanHash != p.Hash:
				stale = a
			case need[who] > 0 && window != nil && a.At.After(window.Start.Add(-need[who])):
				late = a
			default:
				found = a
			}
		}
		switch {
		case found != nil:
			st.Approved = append(st.Approved, *found)
		case late != nil:
			st.Missing = append(st.Missing, Missing{Approver: who, Why: fmt.Sprintf("approved at %s, but approvals must exist %s before the window opens at %s",
				late.At.Format(time.RFC3339), plan.Duration(need[who]), window.Start.Format(time.RFC3339))})
		case stale != nil:
			st.Missing = append(st.Missing, Missing{Approver: who, Why: fmt.Sprintf("approved an earlier version of the plan (%s, now %s): the plan changed, approve it again", short(stale.PlanHash), short(p.Hash))})
		default:
			st.Missing = append(st.Missing, Missing{Approver: who, Why: "no approval recorded"})
		}
	}
	return st
}

// Describe says what is missing, with the commands that record it.
func (s Status) Describe(planFile, stateFlag string) string {
	var parts, cmds []string
	target := "--wave " + s.Wave
	if s.Wave == plan.ConveyorGate {
		target = "--conveyor"
	}
	for _, m := range s.Missing {
		parts = append(parts, m.Approver+" ("+m.Why+")")
		cmds = append(cmds, fmt.Sprintf("wavectl approve %s %s --as %s%s", planFile, target, m.Approver, stateFlag))
	}
	what := "wave " + s.Wave
	if s.Wave == plan.ConveyorGate {
		what = "the conveyor"
	}
	return fmt.Sprintf("%s is not approved: missing %s; to approve: %s", what, strings.Join(parts, ", "), strings.Join(cmds, "; "))
}

// All evaluates every wave's and the conveyor's gates, in plan order;
// ungated ones are left out.
func All(p *plan.Plan, approvals []state.Approval) []Status {
	var out []Status
	for _, w := range p.Waves {
		if w == nil {
			continue
		}
		if s := Check(p, approvals, w.Name); s.Gated() {
			out = append(out, s)
		}
	}
	if p.Conveyor != nil {
		if s := Check(p, approvals, plan.ConveyorGate); s.Gated() {
			out = append(out, s)
		}
	}
	return out
}

// Sorted returns approvals oldest first.
func Sorted(as []state.Approval) []state.Approval {
	out := append([]state.Approval(nil), as...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}

func short(hash string) string {
	hash = strings.TrimPrefix(hash, "sha256:")
	if len(hash) > 12 {
		return hash[:12]
	}
	return hash
}
