package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/wavectl/wavectl/pkg/state"
)

// WriteJSON writes the report as indented JSON.
func WriteJSON(w io.Writer, r *StatusReport) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the report for people, within 100 columns except for
// long names and fault texts (kept whole, for searching): a summary and
// the next action first, then a table per wave and the conveyor. Steps are
// listed for the VMs that are not done, every step with detail.
func WriteText(w io.Writer, r *StatusReport, detail bool) error {
	p := &printer{w: w}
	p.wrap("", "  ", r.Summary)
	if run := r.LastRun; run != nil {
		p.wrap("Last run: ", "  ", runText(run))
	}
	file := r.StateFile
	if file == "" {
		file = "state"
	}
	p.wrap("State: ", "  ", fmt.Sprintf("%s, serial %d, updated %s; plan %s (sha256 %s)", file, r.Serial, r.Updated.UTC().Format(stamp), r.PlanFile, short(r.PlanHash, 12)))
	for _, d := range r.DownNow {
		p.wrap("DOWN NOW: ", "  ", downText(d))
	}
	if r.Next != nil {
		p.wrap("Next: ", "  ", r.Next.Text)
	}
	for _, g := range r.Groups {
		p.line("")
		writeGroup(p, g, detail)
	}
	t := r.Totals
	p.line("")
	p.wrap("Total: ", "  ", fmt.Sprintf("%s; %s; %s (%d done, %d deferred); %s retried; %s, %d failed.",
		countsText(t.Apps, "application"), countsText(t.VMs, "VM"), plural(t.Steps.Total, "step"), t.Steps.Done, t.Steps.Deferred,
		plural(t.RetriedFaults, "transient fault"), plural(t.HookRuns, "hook run"), t.HookFailures))
	if t.VCenterQueued > 0 || t.VCenterRunning > 0 {
		p.wrap("vCenter tasks: ", "  ", fmt.Sprintf("queued in vCenter %s, running %s (a task over vCenter's host, datastore or network budget waits queued).",
			t.VCenterQueued, t.VCenterRunning))
	}
	writeGovernance(p, r.Approvals, r.Aborts)
	return p.err
}

// Width is the text output's line length; fault texts and long names may
// go past it rather than be broken.
const Width = 100

// wrap prints prefix and text in lines of up to Width columns, the
// following ones indented. A `quoted command` is never broken, so that it
// can be copied whole.
func (p *printer) wrap(prefix, indent, text string) {
	line := prefix
	fresh := true // nothing on the line after its prefix or indent yet
	for _, word := range words(text) {
		if !fresh && len(line)+1+len(word) > Width {
			p.line("%s", line)
			line, fresh = indent, true
		}
		if !fresh {
			line += " "
		}
		line += word
		fresh = false
	}
	p.line("%s", line)
}

// words splits text at spaces, keeping `quoted` spans whole.
func words(text string) []string {
	var out []string
	var cur strings.Builder
	quoted := false
	for _, r := range text {
		switch {
		case r == '`':
			quoted = !quoted
			cur.WriteRune(r)
		case r == ' ' && !quoted:
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

type printer struct {
	w   io.Writer
	err error
}

func (p *printer) line(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format+"\n", args...)
	}
}

func runText(run *RunView) string {
	var b strings.Builder
	cmd := run.Command
	if len(run.Args) > 0 {
		cmd = strings.Join(run.Args, " ")
	}
	fmt.Fprintf(&b, "`wavectl %s` by %s on %s (pid %d), %s", cmd, orUnknown(run.User), orUnknown(run.Host), run.PID, run.Started.UTC().Format(stamp))
	if run.Ended != nil {
		fmt.Fprintf(&b, " to %s (%s): %s", clock(run.Started, *run.Ended), run.Duration, run.Result)
	} else {
		fmt.Fprintf(&b, ", %s so far: %s, no end recorded", run.Duration, run.Result)
	}
	if run.Note != "" {
		fmt.Fprintf(&b, ": %s", noteText(run))
	}
	return b.String()
}

// clock prints t as a time of day when it falls on from's day, else with
// its date.
func clock(from, t time.Time) string {
	from, t = from.UTC(), t.UTC()
	if from.YearDay() == t.YearDay() && from.Year() == t.Year() {
		return t.Format("15:04 UTC")
	}
	return t.Format(stamp)
}

func orUnknown(s string) string {
	if s == "" {
		return "?"
	}
	return s
}

func writeGroup(p *printer, g *Group, detail bool) {
	title := "Wave " + g.Name
	if g.Kind == "conveyor" {
		title = "Conveyor"
	}
	when := ""
	switch {
	case g.Started == nil:
	case g.Status == "running":
		when = fmt.Sprintf(", started %s, %s so far", g.Started.UTC().Format(stamp), g.Duration)
	case g.Ended != nil:
		when = fmt.Sprintf(", %s to %s (%s)", g.Started.UTC().Format(stamp), clock(*g.Started, *g.Ended), g.Duration)
	}
	p.line("%s: %s; %d of %s done%s", title, g.Status, g.Counts.Done, plural(g.Counts.Total, "application"), when)
	nameW := len("APPLICATION")
	for _, a := range g.Apps {
		nameW = max(nameW, min(len(a.Name), 28))
	}
	row := fmt.Sprintf("  %%-%ds  %%-10s  %%-16s  %%5s  %%7s  %%-11s  %%6s", nameW)
	p.line("%s", strings.TrimRight(fmt.Sprintf(row, "APPLICATION", "STRATEGY", "STATUS", "VMS", "STEPS", "STARTED", "TOOK"), " "))
	for _, a := range g.Apps {
		started, took := "-", "-"
		if a.Started != nil {
			started = a.Started.UTC().Format("01-02 15:04")
		}
		if a.Started != nil && (a.Duration > 0 || a.Ended != nil) {
			took = a.Duration.String()
		}
		steps := fmt.Sprintf("%d/%d", a.Steps.Done, a.Steps.Total-a.Steps.Deferred)
		status := string(a.Status)
		if a.StoppedPartWay {
			status = "stopped part-way"
		}
		p.line("%s", strings.TrimRight(fmt.Sprintf(row, a.Name, a.Strategy, status, fmt.Sprintf("%d/%d", a.VMs.Done, a.VMs.Total), steps, started, took), " "))
		writeAppDetail(p, a, detail)
	}
}

func writeAppDetail(p *printer, a *AppStatus, detail bool) {
	const ind = "      "
	if a.Down != nil {
		p.wrap("    DOWN NOW: ", "              ", downText(a.Down))
	}
	if a.Reason != "" && a.Status != state.Done && (a.Next == nil || !a.Next.saysWhy) {
		p.wrap("    why: ", "         ", a.Reason)
	}
	for _, u := range a.Units {
		if !detail && !worthShowing(u) {
			continue
		}
		name := u.Name
		if name == "" {
			name = "(application)"
		}
		p.line("    %s: %s", name, u.Status)
		for _, s := range u.Steps {
			p.line("%s", strings.TrimRight(fmt.Sprintf("%s%-17s %-11s %-10s %s", ind, s.Kind, s.Status, attemptsText(s), stepTimes(s)), " "))
			if s.Error != "" {
				p.line("%s  fault: %s", ind, s.Error)
			}
			for _, r := range retriedText(s.Retried) {
				p.line("%s  retried: %s", ind, r)
			}
		}
	}
	for _, h := range a.Hooks {
		if !detail && !(h.Failed && a.Status != state.Done) {
			continue
		}
		on := ""
		if h.Unit != "" {
			on = " on " + h.Unit
		}
		res := fmt.Sprintf("exit %d", h.ExitCode)
		if h.Error != "" && h.ExitCode == 0 {
			res = h.Error
		}
		p.line("    %s hook `%s`%s: %s, %s (%s)", h.Kind, h.Command, on, res, h.Started.UTC().Format("15:04:05"), h.Duration)
		tail := h.Tail
		if !detail && len(tail) > 3 {
			tail = tail[len(tail)-3:]
		}
		for _, l := range tail {
			p.line("      | %s", l)
		}
	}
	if a.Next != nil {
		p.wrap("    next: ", "          ", a.Next.Text)
	}
}

// worthShowing is a unit whose steps matter when not asked for every step:
// one that is not done and has begun, failed or has a step waiting on a
// date.
func worthShowing(u *UnitStatus) bool {
	if u.Status == state.Done {
		return false
	}
	for _, s := range u.Steps {
		if s.Status != state.Pending || s.Attempts > 0 || s.Error != "" {
			return true
		}
	}
	return u.Status != state.Pending
}

func attemptsText(s *StepStatus) string {
	switch {
	case s.Attempts == 0:
		return ""
	case s.Attempts == 1:
		return "1 attempt"
	}
	return fmt.Sprintf("%d attempts", s.Attempts)
}

func stepTimes(s *StepStatus) string {
	switch {
	case s.Status == state.Deferred && s.NotBefore != nil:
		return "not before " + s.NotBefore.UTC().Format("2006-01-02")
	case s.Started == nil:
		return ""
	case s.Ended == nil:
		return fmt.Sprintf("%s, %s so far", s.Started.UTC().Format("01-02 15:04:05"), s.Duration)
	}
	return fmt.Sprintf("%s to %s (%s)", s.Started.UTC().Format("01-02 15:04:05"), s.Ended.UTC().Format("15:04:05"), s.Duration)
}

// retriedText lists retried faults once each, with how often.
func retriedText(faults []string) []string {
	var order []string
	n := map[string]int{}
	for _, f := range faults {
		f = firstLine(f)
		if n[f] == 0 {
			order = append(order, f)
		}
		n[f]++
	}
	out := make([]string, 0, len(order))
	for _, f := range order {
		if n[f] > 1 {
			f = fmt.Sprintf("%s (x%d)", f, n[f])
		}
		out = append(out, f)
	}
	return out
}

func countsText(c Counts, word string) string {
	s := fmt.Sprintf("%d of %s done", c.Done, plural(c.Total, word))
	for _, p := range []struct {
		n    int
		word string
	}{{c.Failed, "failed"}, {c.RolledBack, "rolled back"}, {c.Skipped, "skipped"}, {c.Running, "running"},
		{c.StoppedPartWay, "stopped part-way"}, {c.Pending - c.StoppedPartWay, "pending"}} {
		if p.n > 0 {
			s += fmt.Sprintf(", %d %s", p.n, p.word)
		}
	}
	return s
}

func short(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// downText says who is without service, since when, and what is off.
func downText(d *DownApp) string {
	return fmt.Sprintf("%s since %s: %s without service, %s left powered off (%s); %.0f user-hours lost so far",
		d.Name, d.Since.UTC().Format(stamp), plural(d.Users, "user"), plural(len(d.VMs), "VM"), strings.Join(d.VMs, ", "), d.UserHours)
}
