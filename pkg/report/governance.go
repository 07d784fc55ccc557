package report

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/schedule"
	"github.com/wavectl/wavectl/pkg/state"
)

// writeGovernance adds the record's approvals and tripped back-out
// criteria to the status text.
func writeGovernance(p *printer, approvals []state.Approval, aborts []state.Abort) {
	if len(approvals) > 0 {
		p.line("")
		p.line("Approvals:")
		for _, a := range sortedApprovals(approvals) {
			p.wrap("  ", "    ", approvalText(a))
		}
	}
	if len(aborts) > 0 {
		p.line("")
		p.line("Back-out criteria that tripped:")
		for _, a := range aborts {
			p.wrap("  ", "    ", abortText(a))
		}
	}
}

func approvalText(a state.Approval) string {
	what := "wave " + a.Wave
	if a.Wave == plan.ConveyorGate {
		what = "conveyor"
	}
	s := fmt.Sprintf("%s approved by %s (%s@%s) at %s for plan sha256 %s", what, a.As, a.User, a.Host, a.At.UTC().Format(time.RFC3339), short(a.PlanHash, 12))
	if a.Note != "" {
		s += ": " + a.Note
	}
	return s
}

func abortText(a state.Abort) string {
	return fmt.Sprintf("wave %s: %s tripped (%s), did %s at %s", a.Wave, a.Criterion, a.Detail, a.Action, a.At.UTC().Format(time.RFC3339))
}

func sortedApprovals(as []state.Approval) []state.Approval {
	out := append([]state.Approval(nil), as...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}

// Drift compares what runs estimated (the estimate each recorded when it
// started) with what they measured, per wave, application and step kind,
// so that the next plan can be judged by how well the last was estimated.
type Drift struct {
	// Source is where the estimates came from ("defaults", "calibrated").
	Source string      `json:"source"`
	Waves  []DriftLine `json:"waves"`
	Apps   []DriftLine `json:"applications"`
	Kinds  []DriftLine `json:"kinds"`
}

// DriftLine is one figure: estimated and measured seconds, and the
// measured over the estimated as a ratio (1.25: took 25% longer).
type DriftLine struct {
	Name      string  `json:"name"`
	Estimated float64 `json:"estimatedSeconds"`
	// EstimatedP90 is set for waves.
	EstimatedP90 float64 `json:"estimatedP90Seconds,omitempty"`
	Measured     float64 `json:"measuredSeconds"`
	Ratio        float64 `json:"ratio"`
}

// DriftOf works out the drift of a record: for each application that
// moved (done), the estimate of the last run that started before it did;
// for each wave, from its first application's start to its last one's
// end against the wave's estimate. Nil when no run recorded an estimate.
func DriftOf(st *state.State) *Drift {
	d := &Drift{}
	kinds := map[string]*DriftLine{}
	waves := map[string]*DriftLine{}
	span := map[string][2]time.Time{}
	for _, a := range st.Apps {
		if a.Status != state.Done || a.Started == nil || a.Ended == nil {
			continue
		}
		est := estimateFor(st, *a.Started)
		if est == nil || est.Apps[a.Name] == nil {
			continue
		}
		if d.Source == "" || est.Source == "calibrated" {
			d.Source = est.Source
		}
		line := DriftLine{Name: a.Name}
		measured := map[string]float64{}
		for _, u := range a.Units {
			for _, s := range u.Steps {
				if s.Status == state.Done && s.Started != nil && s.Ended != nil {
					measured[s.Kind] += s.Ended.Sub(*s.Started).Seconds()
				}
			}
		}
		for kind, e := range est.Apps[a.Name] {
			line.Estimated += e
			k := kinds[kind]
			if k == nil {
				k = &DriftLine{Name: kind}
				kinds[kind] = k
			}
			k.Estimated += e
			k.Measured += measured[kind]
		}
		if span, ok := est.AppSpans[a.Name]; ok {
			line.Estimated = span // its VMs side by side, not one after another
		}
		line.Measured = a.Ended.Sub(*a.Started).Seconds()
		d.Apps = append(d.Apps, line)
		group := a.Wave
		if a.Conveyor {
			group = plan.ConveyorGate
		}
		if sp, ok := est.Waves[group]; ok {
			if waves[group] == nil {
				waves[group] = &DriftLine{Name: group, Estimated: sp.P50, EstimatedP90: sp.P90}
				span[group] = [2]time.Time{*a.Started, *a.Ended}
			}
			s := span[group]
			if a.Started.Before(s[0]) {
				s[0] = *a.Started
			}
			if a.Ended.After(s[1]) {
				s[1] = *a.Ended
			}
			span[group] = s
		}
	}
	if len(d.Apps) == 0 {
		return nil
	}
	for name, w := range waves {
		w.Measured = span[name][1].Sub(span[name][0]).Seconds()
		d.Waves = append(d.Waves, *w)
	}
	for _, k := range kinds {
		d.Kinds = append(d.Kinds, *k)
	}
	for _, list := range [][]DriftLine{d.Waves, d.Apps, d.Kinds} {
		for i := range list {
			if list[i].Estimated > 0 {
				list[i].Ratio = float64(int64(list[i].Measured/list[i].Estimated*100+0.5)) / 100
			}
		}
		sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	}
	return d
}

// estimateFor is the estimate of the last run that started by t.
func estimateFor(st *state.State, t time.Time) *state.Estimate {
	var out *state.Estimate
	for _, r := range st.Runs {
		if r.Estimate != nil && !r.Started.After(t) {
			out = r.Estimate
		}
	}
	return out
}

// WriteDriftMarkdown writes the drift as a Markdown section.
func WriteDriftMarkdown(w io.Writer, d *Drift) error {
	if d == nil {
		return nil
	}
	sec := func(s float64) string { return schedule.Seconds(time.Duration(s * float64(time.Second))).String() }
	_, err := fmt.Fprintf(w, "\n## Estimate against measurement (drift)\n\nEstimates from %s; ratio is measured over estimated (above 1: slower than planned).\n", d.Source)
	for _, part := range []struct {
		title string
		lines []DriftLine
	}{{"Wave", d.Waves}, {"Application", d.Apps}, {"Step kind", d.Kinds}} {
		if len(part.lines) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n| %s | estimated | measured | ratio |\n| --- | ---: | ---: | ---: |\n", part.title)
		for _, l := range part.lines {
			est := sec(l.Estimated)
			if l.EstimatedP90 > 0 {
				est += " (P90 " + sec(l.EstimatedP90) + ")"
			}
			fmt.Fprintf(w, "| %s | %s | %s | %.2f |\n", l.Name, est, sec(l.Measured), l.Ratio)
		}
	}
	return err
}

// WriteGovernanceMarkdown writes the record's approvals and tripped
// criteria as a Markdown section.
func WriteGovernanceMarkdown(w io.Writer, approvals []state.Approval, aborts []state.Abort) error {
	if len(approvals) == 0 && len(aborts) == 0 {
		return nil
	}
	_, err := fmt.Fprintln(w, "\n## Approvals and back-out criteria")
	if len(approvals) > 0 {
		fmt.Fprintln(w)
		for _, a := range sortedApprovals(approvals) {
			fmt.Fprintf(w, "- %s\n", approvalText(a))
		}
	}
	if len(aborts) > 0 {
		fmt.Fprintln(w)
		for _, a := range aborts {
			fmt.Fprintf(w, "- tripped: %s\n", abortText(a))
		}
	}
	return err
}

// governanceNext is what to do after a run that a gate or a freeze held
// back: the run's note says which approvals are missing (with the
// commands) or which freeze is in force.
func governanceNext(run *state.Run, cmd string) *Next {
	if run.Result == "unapproved" {
		return &Next{Kind: "approve", Text: run.Note + "; then " + cmd + " carries on"}
	}
	return &Next{Kind: "wait", Command: strings.Trim(cmd, "`"), Text: "the run paused: " + run.Note + "; once it has ended, " + cmd + " carries on"}
}
