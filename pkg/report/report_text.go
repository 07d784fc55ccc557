package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/wavectl/wavectl/pkg/schedule"
	"github.com/wavectl/wavectl/pkg/state"
)

// Words shared by the Markdown and HTML reports (and `wavectl plan`, for
// the projected figures), so that each figure has one name.
const (
	NameUserHoursLost    = "user-hours lost"
	NameProjectedHours   = "projected user-hours lost"
	NameMeasuredOutage   = "measured outage"
	NameEstimatedOutage  = "estimated outage"
	NameEstimate         = "estimated duration"
	NameChangeSuccess    = "change success rate"
	NameChangesAttempted = "changes attempted"
)

// Definitions say how the report's figures are worked out, in the words
// both reports print.
var Definitions = []struct{ Term, Text string }{
	{"Change", "one application's migration. It was attempted once any of its steps ran; it succeeded when the application ended done. " +
		"Skipped and never-started applications were not attempted; running ones count once they end; one stopped part-way, failed or rolled back counts as not succeeded."},
	{"Change success rate", "changes that succeeded / changes attempted, as the record stands (an application that failed and a later run moved counts as succeeded). " +
		"Per step kind the same: steps that ended done (or were done before a rollback undid them) / steps that ran."},
	{"Measured outage", "from the moment an application's service first went down (the first outage step of any of its VMs: a power-off, an image import) " +
		"to the moment it passed verification; none for redeploy and replace, whose old service ran until the new one was verified. " +
		"For an application rolled back, until the rollback ended; for one that failed or stopped part-way after going down, to when wavectl stopped working on it, marked open (at least that long)."},
	{"User-hours lost", "users x measured outage in hours. Projected user-hours lost is users x estimated outage (the plan's step estimates), as `wavectl plan` shows it."},
	{"Took", "from the first step's start to the last activity, rollbacks included. Estimated duration is the plan's: a wave under the plan's limits, the waves back to back with the conveyor alongside for the whole run."},
}

// WriteJSON writes the report as indented JSON; its fields are documented
// on Report.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// clockFormat picks how times print in the report's tables: time of day
// when the record spans one day, with seconds for a short run (the
// simulator's), with the date when it spans several.
func (r *Report) clockFormat() string {
	t := r.Total
	layout := "15:04"
	if t.Started != nil && t.Ended != nil && t.Started.UTC().YearDay() != t.Ended.UTC().YearDay() {
		layout = "01-02 15:04"
	}
	for _, run := range r.Runs {
		if run.Ended != nil && run.Started.UTC().YearDay() != run.Ended.UTC().YearDay() {
			layout = "01-02 15:04"
		}
	}
	if t.Started != nil && time.Duration(t.Duration) < 30*time.Minute {
		layout += ":05"
	}
	return layout
}

func (r *Report) clock(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(r.clockFormat())
}

// day is the date the record starts on, for the tables' times.
func (r *Report) day() string {
	if r.Total.Started == nil {
		return ""
	}
	return r.Total.Started.UTC().Format("2006-01-02")
}

// WriteMarkdown writes the report as Markdown, for a change ticket.
func (r *Report) WriteMarkdown(w io.Writer) error {
	p := &printer{w: w}
	p.line("# Migration report: %s", mdText(r.Plan))
	p.line("")
	p.line("**%s**", mdText(r.Summary))
	p.line("")
	for _, l := range r.headerLines() {
		p.line("- %s", l)
	}
	if !r.Projections.Available {
		p.line("")
		p.line("> **No projections.** %s", mdText(r.Projections.Note))
	}
	if r.Simulated {
		p.line("")
		p.line("> **A rehearsal.** The last run was a `--simulate` rehearsal against the embedded vCenter simulator: its times are the simulator's, not a real migration's.")
	}

	p.line("")
	p.line("## At a glance")
	p.line("")
	cols := []string{""}
	align := []string{"---"}
	for _, g := range r.Groups {
		cols = append(cols, mdText(g.Title()))
		align = append(align, "---:")
	}
	cols = append(cols, "Whole run")
	align = append(align, "---:")
	p.line("| %s |", strings.Join(cols, " | "))
	p.line("| %s |", strings.Join(align, " | "))
	for _, row := range r.glanceRows() {
		p.line("| %s |", strings.Join(row, " | "))
	}
	if d := r.day(); d != "" {
		p.line("")
		p.line("Times are UTC, on %s unless dated.", d)
	}

	p.line("")
	p.line("## Outage and user-hours lost, per application")
	p.line("")
	head := "| Application | Group | Strategy | Status | Users | Measured outage | User-hours lost |"
	sep := "| --- | --- | --- | --- | ---: | --- | ---: |"
	if r.Projections.Available {
		head += " Estimated outage | Projected user-hours lost |"
		sep += " ---: | ---: |"
	}
	head += " Took |"
	sep += " ---: |"
	if r.Projections.Available {
		head += " Estimated duration |"
		sep += " ---: |"
	}
	p.line("%s", head)
	p.line("%s", sep)
	for _, a := range r.Applications {
		cells := []string{mdText(a.Name), mdText(a.Group), a.Strategy, statusText(a.Status), fmt.Sprint(a.Users),
			mdText(r.outageText(a)), userHours(a.UserHoursLost)}
		if r.Projections.Available {
			cells = append(cells, projOutage(a.Projected), projHours(a.Projected))
		}
		cells = append(cells, tookText(a.Started, a.Duration))
		if r.Projections.Available {
			cells = append(cells, projEstimate(a.Projected))
		}
		p.line("| %s |", strings.Join(cells, " | "))
	}
	for _, a := range r.Applications {
		if a.Reason != "" && a.Status != state.Done {
			p.line("")
			p.line("- **%s** %s: %s", mdText(a.Name), statusText(a.Status), mdText(a.Reason))
		}
	}

	p.line("")
	p.line("## Retries and failures")
	p.line("")
	if len(r.Faults) == 0 {
		p.line("No faults: no step was retried and none failed.")
	} else {
		p.line("Faults grouped by their text: transient ones that were retried, and the ones steps or hooks failed with.")
		p.line("")
		p.line("| Fault | Kind | Times | Where |")
		p.line("| --- | --- | ---: | --- |")
		for _, f := range r.Faults {
			p.line("| %s | %s | %d | %s |", mdText(f.Text), faultKind(f.Kind), f.Count, mdText(strings.Join(f.Where, "; ")))
		}
	}

	p.line("")
	p.line("## Steps by kind")
	p.line("")
	p.line("| Step | Ran | Succeeded | Failed | Success rate | First time | Retries | Total time | Longest |")
	p.line("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, k := range r.StepKinds {
		p.line("| %s | %d | %d | %d | %s | %d | %d | %s | %s |", k.Kind, k.Attempted, k.Succeeded, k.Failed, percent(k.SuccessRate),
			k.FirstTime, k.Retries, duration(k.Total), duration(k.Longest))
	}

	p.line("")
	p.line("## Slowest steps")
	p.line("")
	if len(r.Slowest) == 0 {
		p.line("No step has finished yet.")
	} else {
		head, sep := "| # | Step | VM | Application | Took |", "| ---: | --- | --- | --- | ---: |"
		if r.Projections.Available {
			head, sep = head+" Estimated |", sep+" ---: |"
		}
		p.line("%s Attempts | Started | Status |", head)
		p.line("%s ---: | --- | --- |", sep)
		for i, s := range r.Slowest {
			cells := []string{fmt.Sprint(i + 1), s.Kind, mdText(unitText(s.Unit)), mdText(s.App), duration(s.Duration)}
			if r.Projections.Available {
				cells = append(cells, estimateText(s.Estimate))
			}
			cells = append(cells, fmt.Sprint(s.Attempts), r.clock(&s.Started), string(s.Status))
			p.line("| %s |", strings.Join(cells, " | "))
		}
	}

	p.line("")
	p.line("## Runs")
	p.line("")
	if len(r.Runs) == 0 {
		p.line("Nothing has run yet.")
	} else {
		p.line("| # | Command | By | Started | Took | Result |")
		p.line("| ---: | --- | --- | --- | ---: | --- |")
		for i, run := range r.Runs {
			result := run.Result
			if run.Note != "" {
				result += ": " + noteText(run)
			}
			p.line("| %d | `%s` | %s | %s | %s | %s |", i+1, strings.ReplaceAll(commandText(run), "`", "'"), mdText(byText(run)),
				run.Started.UTC().Format(stamp), duration(run.Duration), mdText(result))
		}
	}

	p.line("")
	p.line("## How the figures are worked out")
	p.line("")
	for _, d := range Definitions {
		p.line("- **%s**: %s", d.Term, d.Text)
	}
	return p.err
}

// headerLines are the report's provenance: plan, state, last run, when.
func (r *Report) headerLines() []string {
	var out []string
	out = append(out, fmt.Sprintf("Plan: `%s` (sha256 `%s`)", orUnknown(r.PlanFile), short(r.PlanHash, 12)))
	file := r.StateFile
	if file == "" {
		file = "state"
	}
	out = append(out, fmt.Sprintf("State: `%s`, serial %d", file, r.Serial))
	if n := len(r.Runs); n > 0 {
		run := r.Runs[n-1]
		out = append(out, fmt.Sprintf("Last run: `%s` by %s, %s: %s (%s)", commandText(run), mdText(byText(run)),
			run.Started.UTC().Format(stamp), run.Result, plural(n, "run")+" in all"))
	}
	out = append(out, "Report made "+r.Generated.UTC().Format(stamp))
	return out
}

func commandText(run *RunView) string {
	if len(run.Args) > 0 {
		return "wavectl " + strings.Join(run.Args, " ")
	}
	return "wavectl " + run.Command
}

func byText(run *RunView) string {
	return fmt.Sprintf("%s on %s", orUnknown(run.User), orUnknown(run.Host))
}

// glanceRows are the summary table's rows: one figure per group and for
// the whole run.
func (r *Report) glanceRows() [][]string {
	figs := make([]*Figures, 0, len(r.Groups)+1)
	for _, g := range r.Groups {
		figs = append(figs, &g.Figures)
	}
	figs = append(figs, r.Total)
	row := func(label string, cell func(f *Figures) string) []string {
		out := []string{label}
		for _, f := range figs {
			out = append(out, cell(f))
		}
		return out
	}
	rows := [][]string{
		row("Applications migrated", func(f *Figures) string { return fmt.Sprintf("%d of %d", f.Apps.Done, f.Apps.Total) }),
		row("Applications failed / rolled back / skipped / not done", func(f *Figures) string { return notDone(f.Apps) }),
		row("VMs migrated", func(f *Figures) string { return fmt.Sprintf("%d of %d", f.VMs.Done, f.VMs.Total) }),
		row("VMs failed / rolled back / skipped / not done", func(f *Figures) string { return notDone(f.VMs) }),
		row("Changes attempted", func(f *Figures) string { return fmt.Sprint(f.Changes.Attempted) }),
		row("Change success rate", func(f *Figures) string { return rateText(f.Changes) }),
		row("Transient faults retried", func(f *Figures) string { return fmt.Sprint(f.Retries) }),
		row("Steps failed / hooks failed", func(f *Figures) string { return fmt.Sprintf("%d / %d", f.FailedSteps, f.HookFailures) }),
		row("Measured outage (sum)", func(f *Figures) string { return outageSum(f) }),
		row("User-hours lost", func(f *Figures) string { return userHours(f.UserHoursLost) }),
	}
	if r.Projections.Available {
		rows = append(rows,
			row("Projected user-hours lost", func(f *Figures) string { return projHours(f.Projected) }),
			row("Estimated outage (sum)", func(f *Figures) string { return projOutage(f.Projected) }))
	}
	for _, f := range figs {
		if f.VCenterQueued > 0 || f.VCenterRunning > 0 {
			rows = append(rows, row("vCenter tasks: queued in vCenter / running", func(f *Figures) string {
				return duration(f.VCenterQueued) + " / " + duration(f.VCenterRunning)
			}))
			break
		}
	}
	rows = append(rows, row("Took", func(f *Figures) string { return tookText(f.Started, f.Duration) }))
	if r.Projections.Available {
		rows = append(rows, row("Estimated duration", func(f *Figures) string { return projEstimate(f.Projected) }))
	}
	rows = append(rows, row("From / to", func(f *Figures) string {
		if f.Started == nil {
			return "-"
		}
		to := "running"
		if f.Ended != nil {
			to = r.clock(f.Ended)
		}
		return r.clock(f.Started) + " / " + to
	}))
	return rows
}

func notDone(c Counts) string {
	return fmt.Sprintf("%d / %d / %d / %d", c.Failed, c.RolledBack, c.Skipped, c.Pending+c.Running)
}

func rateText(c Changes) string {
	if c.SuccessRate == nil {
		return "-"
	}
	return fmt.Sprintf("%s (%d of %d)", percent(c.SuccessRate), c.Succeeded, c.Attempted)
}

func outageSum(f *Figures) string {
	if f.AppsWithOutage == 0 {
		return "none"
	}
	return fmt.Sprintf("%s (%s)", duration(f.Outage), plural(f.AppsWithOutage, "application"))
}

func tookText(start *time.Time, d schedule.Seconds) string {
	if start == nil {
		return "-"
	}
	return duration(d)
}

func projHours(p *Projected) string {
	if p == nil {
		return "-"
	}
	return userHours(p.UserHoursLost)
}

func projOutage(p *Projected) string {
	if p == nil {
		return "-"
	}
	if p.Outage == 0 {
		return "none"
	}
	return duration(p.Outage)
}

func projEstimate(p *Projected) string {
	if p == nil {
		return "-"
	}
	return duration(p.Estimate)
}

func estimateText(s schedule.Seconds) string {
	if s == 0 {
		return "-"
	}
	return duration(s)
}

// outageText is an application's measured outage for a table cell.
func (r *Report) outageText(a *AppView) string {
	if a.DownNow != nil && a.OutageStart == nil {
		return "DOWN NOW since " + r.clock(&a.DownNow.Since)
	}
	if a.OutageStart == nil {
		if a.OutageNote != "" {
			return "none"
		}
		return "-"
	}
	s := fmt.Sprintf("%s (%s to %s)", duration(a.Outage), r.clock(a.OutageStart), r.clock(a.OutageEnd))
	if a.DownNow != nil {
		return "DOWN NOW since " + r.clock(&a.DownNow.Since) + "; at least " + s
	}
	switch {
	case a.OutageOpen:
		s = "at least " + s + ", open"
	case a.Status == state.RolledBack:
		s += ", until rolled back"
	}
	return s
}

func statusText(s state.Status) string {
	if s == state.Done {
		return "migrated"
	}
	return string(s)
}

func faultKind(k string) string {
	switch k {
	case "retried":
		return "transient, retried"
	case "failed":
		return "failed the step"
	}
	return "hook failed"
}

func unitText(u string) string {
	if u == "" {
		return "(application)"
	}
	return u
}

// mdText escapes what Markdown would read as markup in a table cell or a
// line of text.
func mdText(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune("\\|*_<>[]`", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
