package plan

import (
	"fmt"
	"strings"
	"time"
)

// Calibration names the recorded runs whose measured step durations
// replace the estimates: state files (relative to the plan file) or
// PostgreSQL URLs. Rehearsal records (--simulate) are left out unless
// IncludeRehearsals says otherwise.
type Calibration struct {
	From              []string `yaml:"from" req:"true" doc:"State files (relative to the plan file) or postgres:// URLs of recorded runs."`
	IncludeRehearsals bool     `yaml:"includeRehearsals" doc:"Also learn from --simulate rehearsals (default false: they measure the simulator, not vCenter)."`
}

// Gate is a go/no-go: the approvals a wave (or the conveyor) needs before
// apply starts it. A gate with neither waves nor conveyor covers every
// wave and the conveyor.
type Gate struct {
	Waves     []string `yaml:"waves" doc:"Waves this gate covers (default: every wave, and the conveyor)."`
	Conveyor  bool     `yaml:"conveyor" doc:"The gate covers the conveyor."`
	Approvers []string `yaml:"approvers" req:"true" doc:"Roles or names that must each approve (wavectl approve --as NAME)."`
	Before    Duration `yaml:"before" doc:"How long before the window opens an approval must exist (e.g. 24h; default: any time before the wave starts)."`
}

// Freeze is a change freeze: no step starts inside it.
type Freeze struct {
	Start  time.Time `yaml:"start" req:"true" doc:"RFC 3339 time the freeze begins."`
	End    time.Time `yaml:"end" req:"true" doc:"RFC 3339 time the freeze ends."`
	Reason string    `yaml:"reason" req:"true" doc:"Why nothing may change (month-end, an election, a benefit payment run)."`
}

// AbortWhen are a wave's back-out criteria; zero means "not set".
type AbortWhen struct {
	FailedApplications int      `yaml:"failedApplications" min:"1" doc:"Stop when this many of the wave's applications have failed."`
	UserHoursLost      int      `yaml:"userHoursLost" min:"1" doc:"Stop when the wave's outages have cost this many user-hours (users x hours down)."`
	Overrun            Duration `yaml:"overrun" doc:"Stop when the wave has run this much longer than its estimate (e.g. 30m)."`
}

// ConveyorGate is the name approvals of the conveyor carry in place of a
// wave's.
const ConveyorGate = "conveyor"

// GatesFor returns the gates that cover a wave, or the conveyor when wave
// is ConveyorGate.
func (p *Plan) GatesFor(wave string) []*Gate {
	var out []*Gate
	for _, g := range p.Gates {
		if g == nil {
			continue
		}
		all := len(g.Waves) == 0 && !g.Conveyor
		if all || (wave == ConveyorGate && g.Conveyor) || contains(g.Waves, wave) {
			out = append(out, g)
		}
	}
	return out
}

// FreezeAt returns the freeze in force at t, or nil.
func (p *Plan) FreezeAt(t time.Time) *Freeze {
	for _, f := range p.Freezes {
		if f != nil && !t.Before(f.Start) && t.Before(f.End) {
			return f
		}
	}
	return nil
}

// String says when and why, for messages.
func (f *Freeze) String() string {
	return fmt.Sprintf("change freeze %s to %s (%s)", f.Start.Format(time.RFC3339), f.End.Format(time.RFC3339), f.Reason)
}

// governance checks gates, freezes and back-out criteria.
func (v *validator) governance() {
	p := v.p
	for i, g := range p.Gates {
		if g == nil {
			continue
		}
		for j, w := range g.Waves {
			if p.Wave(w) == nil {
				v.errorf(fmt.Sprintf("gates[%d].waves[%d]", i, j), "name a wave under waves", "gate names wave %q, which the plan does not have", w)
			}
		}
		if g.Conveyor && p.Conveyor == nil {
			v.errorf(fmt.Sprintf("gates[%d].conveyor", i), "remove it, or add a conveyor", "gate covers the conveyor, but the plan has none")
		}
		seen := map[string]bool{}
		for j, a := range g.Approvers {
			path := fmt.Sprintf("gates[%d].approvers[%d]", i, j)
			switch {
			case strings.TrimSpace(a) == "":
				v.errorf(path, "name a role or a person, e.g. change-board", "approver is empty")
			case seen[a]:
				v.errorf(path, "remove one of them", "approver %q appears twice", a)
			}
			seen[a] = true
		}
	}
	for i, f := range p.Freezes {
		if f == nil || f.Start.IsZero() || f.End.IsZero() {
			continue
		}
		path := fmt.Sprintf("freezes[%d]", i)
		if !f.End.After(f.Start) {
			v.errorf(path+".end", "the end must be after the start", "freeze ends (%s) before it starts (%s)", f.End.Format(time.RFC3339), f.Start.Format(time.RFC3339))
			continue
		}
		for j, w := range p.Waves {
			if w == nil || w.Window == nil || w.Window.Start.IsZero() || w.Window.End.IsZero() {
				continue
			}
			if w.Window.Start.Before(f.End) && f.Start.Before(w.Window.End) {
				v.warnf(fmt.Sprintf("waves[%d].window", j), fmt.Sprintf("move the window out of the freeze; apply starts no step between %s and %s", f.Start.Format(time.RFC3339), f.End.Format(time.RFC3339)),
					"wave %s's window overlaps the %s", w.Name, f)
			}
		}
		if c := p.Conveyor; c != nil && c.Window != nil && c.Window.Start.Before(f.End) && f.Start.Before(c.Window.End) {
			v.warnf("conveyor.window", "move the window out of the freeze", "the conveyor's window overlaps the %s", f)
		}
	}
	for i, w := range p.Waves {
		if w == nil || w.AbortWhen == nil {
			continue
		}
		path := fmt.Sprintf("waves[%d].abortWhen", i)
		a := w.AbortWhen
		if a.FailedApplications == 0 && a.UserHoursLost == 0 && a.Overrun == 0 {
			v.errorf(path, "set failedApplications, userHoursLost or overrun, or remove abortWhen", "abortWhen of wave %s sets no criterion", w.Name)
		}
		if w.OnFailure == OnFailureContinue {
			v.warnf(path, "set onFailure: stop or rollback to act on it", "wave %s has onFailure: continue, so a tripped criterion is only recorded", w.Name)
		}
	}
	if c := p.Calibration; c != nil {
		for i, f := range c.From {
			if strings.TrimSpace(f) == "" {
				v.errorf(fmt.Sprintf("calibration.from[%d]", i), "name a state file or a postgres:// URL", "calibration source is empty")
			}
		}
	}
}
