package report

import (
	"fmt"
	"html"
	"html/template"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/schedule"
	"github.com/wavectl/wavectl/pkg/state"
)

// WriteHTML writes the report as one self-contained HTML page: inline CSS
// and a few lines of inline JavaScript (sortable tables; the page reads
// the same without it), charts drawn here as inline SVG, no fonts, images
// or scripts fetched from anywhere. It reads on a phone (the charts scroll
// sideways, their labels stay put) and prints.
func (r *Report) WriteHTML(w io.Writer) error {
	return pageTemplate.Execute(w, &htmlPage{r})
}

// MaxTimelineUnits is how many VMs the timeline draws a row of steps for;
// above it, it draws waves and applications only.
const MaxTimelineUnits = 80

type htmlPage struct{ *Report }

var pageTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"percent":  percent,
	"hours":    userHours,
	"duration": duration,
	"status":   statusText,
	"fault":    faultKind,
	"unit":     unitText,
	"join":     strings.Join,
	"ratev": func(r *float64) string {
		if r == nil {
			return "-1"
		}
		return strconv.FormatFloat(*r, 'f', 4, 64)
	},
	"secs": func(s interface{ MarshalJSON() ([]byte, error) }) string {
		b, _ := s.MarshalJSON()
		return string(b)
	},
	"add1":     func(i int) int { return i + 1 },
	"fsecs":    func(s float64) string { return schedule.Seconds(time.Duration(s * float64(time.Second))).String() },
	"approval": approvalText,
	"abort":    abortText,
}).Parse(pageHTML))

func (p *htmlPage) Clock(t *time.Time) string { return p.clock(t) }

func (p *htmlPage) LastRun() *RunView {
	if len(p.Runs) == 0 {
		return nil
	}
	return p.Runs[len(p.Runs)-1]
}

func (p *htmlPage) Stamp(t time.Time) string { return t.UTC().Format(stamp) }

func (p *htmlPage) Command(run *RunView) string { return commandText(run) }

func (p *htmlPage) By(run *RunView) string { return byText(run) }

func (p *htmlPage) RunResult(run *RunView) string {
	if run.Note != "" {
		return run.Result + ": " + noteText(run)
	}
	return run.Result
}

// OutageValue is an application's measured outage, for its table cell;
// OutageWhen its times, under it.
func (p *htmlPage) OutageValue(a *AppView) string {
	switch {
	case a.DownNow != nil && a.OutageStart == nil:
		return "DOWN NOW"
	case a.OutageStart == nil && a.OutageNote != "":
		return "none"
	case a.OutageStart == nil:
		return "-"
	case a.DownNow != nil:
		return "DOWN NOW; at least " + duration(a.Outage)
	case a.OutageOpen:
		return "at least " + duration(a.Outage)
	}
	return duration(a.Outage)
}

func (p *htmlPage) OutageWhen(a *AppView) string {
	if a.OutageStart == nil {
		return ""
	}
	s := p.clock(a.OutageStart) + " to " + p.clock(a.OutageEnd)
	switch {
	case a.OutageOpen:
		s += ", open"
	case a.Status == state.RolledBack:
		s += ", until rolled back"
	}
	return s
}

func (p *htmlPage) Glance() [][]string { return p.glanceRows() }

func (p *htmlPage) Day() string { return p.day() }

func (p *htmlPage) Reasons() []*AppView {
	var out []*AppView
	for _, a := range p.Applications {
		if a.Reason != "" && a.Status != state.Done {
			out = append(out, a)
		}
	}
	return out
}

// Cards are the figures at the top of the page.
type Card struct {
	Label, Value, Detail string
	Tone                 string // good, warn, bad or ""
}

func (p *htmlPage) Cards() []Card {
	t := p.Total
	var cards []Card
	tone := "good"
	if t.Apps.Done < t.Apps.Total {
		tone = "warn"
	}
	if t.Apps.Failed+t.Apps.RolledBack+t.Apps.Skipped > 0 {
		tone = "bad"
	}
	detail := notDoneWords(t.Apps) + fmt.Sprintf("; %d of %s", t.VMs.Done, plural(t.VMs.Total, "VM"))
	cards = append(cards, Card{"Applications migrated", fmt.Sprintf("%d of %d", t.Apps.Done, t.Apps.Total), detail, tone})
	tone = ""
	if t.Changes.SuccessRate != nil {
		tone = "good"
		if *t.Changes.SuccessRate < 1 {
			tone = "bad"
		}
	}
	cards = append(cards, Card{"Change success rate", percent(t.Changes.SuccessRate),
		fmt.Sprintf("%d of %s succeeded", t.Changes.Succeeded, plural(t.Changes.Attempted, "change")), tone})
	detail, tone = "no projection", ""
	if t.Projected != nil {
		detail, tone = "projected "+userHours(t.Projected.UserHoursLost), "good"
		if t.UserHoursLost > t.Projected.UserHoursLost {
			tone = "bad"
		}
	}
	cards = append(cards, Card{"User-hours lost", userHours(t.UserHoursLost), detail, tone})
	detail = plural(t.AppsWithOutage, "application") + " down"
	if t.Projected != nil {
		detail += "; estimated " + projOutage(t.Projected)
	}
	out := "none"
	if t.AppsWithOutage > 0 {
		out = duration(t.Outage)
	}
	cards = append(cards, Card{"Measured outage (sum)", out, detail, ""})
	tone = "good"
	if t.Retries > 0 {
		tone = "warn"
	}
	if t.FailedSteps+t.HookFailures > 0 {
		tone = "bad"
	}
	cards = append(cards, Card{"Faults retried", strconv.Itoa(t.Retries), fmt.Sprintf("%s failed, %s failed",
		plural(t.FailedSteps, "step"), plural(t.HookFailures, "hook")), tone})
	took, detail, tone := "-", "nothing ran", ""
	if t.Started != nil {
		took, detail = duration(t.Duration), p.clock(t.Started)+" to "
		if t.Ended != nil {
			detail += p.clock(t.Ended)
		} else {
			detail += "now (running)"
		}
		if t.Projected != nil {
			detail = "estimated " + duration(t.Projected.Estimate) + "; " + detail
			tone = "good"
			if t.Duration > t.Projected.Estimate {
				tone = "warn"
			}
		}
	}
	cards = append(cards, Card{"Took", took, detail, tone})
	return cards
}

func notDoneWords(c Counts) string {
	var parts []string
	for _, x := range []struct {
		n    int
		word string
	}{{c.Failed, "failed"}, {c.RolledBack, "rolled back"}, {c.Skipped, "skipped"}, {c.Running, "running"}, {c.Pending, "not done"}} {
		if x.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", x.n, x.word))
		}
	}
	if len(parts) == 0 {
		return "all done"
	}
	return strings.Join(parts, ", ")
}

// Definitions are the figures' definitions, with `code` shown as code.
func (p *htmlPage) Definitions() []struct {
	Term string
	Text template.HTML
} {
	out := make([]struct {
		Term string
		Text template.HTML
	}, 0, len(Definitions))
	for _, d := range Definitions {
		parts := strings.Split(d.Text, "`")
		var b strings.Builder
		for i, part := range parts {
			if i%2 == 1 {
				b.WriteString("<code>" + html.EscapeString(part) + "</code>")
			} else {
				b.WriteString(html.EscapeString(part))
			}
		}
		out = append(out, struct {
			Term string
			Text template.HTML
		}{d.Term, template.HTML(b.String())})
	}
	return out
}

// svg builds SVG markup with every text escaped.
type svg struct{ b strings.Builder }

func (s *svg) raw(format string, args ...any) { fmt.Fprintf(&s.b, format, args...) }

// text writes a <text> element; title, when set, is its tooltip.
func (s *svg) text(x string, y int, class, anchor, text, title string) {
	s.raw(`<text x="%s" y="%d"`, x, y)
	if class != "" {
		s.raw(` class="%s"`, class)
	}
	if anchor != "" {
		s.raw(` text-anchor="%s"`, anchor)
	}
	s.raw(`>`)
	if title != "" {
		s.raw(`<title>%s</title>`, html.EscapeString(title))
	}
	s.raw(`%s</text>`, html.EscapeString(text))
}

func (s *svg) rect(x, width string, y, height int, class, fill, title string) {
	s.raw(`<rect x="%s" y="%d" width="%s" height="%d"`, x, y, width, height)
	if class != "" {
		s.raw(` class="%s"`, class)
	}
	if fill != "" {
		s.raw(` fill="%s"`, fill)
	}
	if title == "" {
		s.raw(`/>`)
		return
	}
	s.raw(`><title>%s</title></rect>`, html.EscapeString(title))
}

func pct(f float64) string {
	f = max(0, min(100, f))
	return strconv.FormatFloat(f, 'f', 3, 64) + "%"
}

// truncate keeps a label within n characters.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// StepColours give each step kind its colour in the timeline: preparation
// grey, moving and creating blue, powering off red and on green, changes
// purple, verification teal, clean-up brown, hooks amber.
var StepColours = map[string]string{
	plan.StepPreHook: "#f9c74f", plan.StepRecordState: "#b0bec5", plan.StepSnapshot: "#78909c",
	plan.StepCreateVM: "#64b5f6", plan.StepImportImage: "#1e88e5", plan.StepClone: "#42a5f5",
	plan.StepPowerOff: "#e57373", plan.StepUpgradeHardware: "#ba68c8", plan.StepReconfigure: "#9575cd",
	plan.StepRelocate: "#1565c0", plan.StepPowerOn: "#66bb6a", plan.StepVerify: "#26a69a",
	plan.StepRemoveSnapshot: "#a1887f", plan.StepRetire: "#8d6e63", plan.StepDecommission: "#6d4c41",
	plan.StepPostHook: "#f8961e",
}

// timeline is the Gantt chart's geometry: rows of fixed height, times as
// percentages of the plot's width, so that the chart stretches to any
// screen while its text keeps its size.
type timeline struct {
	r      *htmlPage
	t0, t1 time.Time
	labels svg
	plot   svg
	y      int
	kinds  []string
	units  bool
	undone bool // a step undone by a rollback is drawn
}

const (
	axisH  = 26
	groupH = 24
	appH   = 22
	unitH  = 15
	runH   = 22
)

func (t *timeline) x(at time.Time) float64 {
	span := t.t1.Sub(t.t0)
	if span <= 0 {
		return 0
	}
	return float64(at.Sub(t.t0)) / float64(span) * 100
}

func (t *timeline) bar(from, to time.Time, y, h int, class, fill, title string) {
	x0, x1 := t.x(from), t.x(to)
	t.plot.rect(pct(x0), pct(max(x1-x0, 0.25)), y, h, class, fill, title)
}

// Timeline is the Gantt chart: waves, their applications (with the
// measured outage under each) and, for up to MaxTimelineUnits VMs, each
// VM's steps; the runs along the bottom.
func (p *htmlPage) Timeline() template.HTML {
	if p.Total.Started == nil {
		return template.HTML(`<p class="empty">Nothing has run yet: no timeline.</p>`)
	}
	t := &timeline{r: p, t0: *p.Total.Started, t1: p.Generated}
	if p.Total.Ended != nil {
		t.t1 = *p.Total.Ended
	}
	// A clock behind the record (a report made on another machine) must
	// not hide what was recorded.
	for _, us := range p.units {
		for _, u := range us {
			for _, s := range u.Steps {
				for _, at := range []*time.Time{s.Started, s.Ended} {
					if at != nil && s.Status != state.Deferred && at.After(t.t1) {
						t.t1 = *at
					}
				}
			}
		}
	}
	for _, run := range p.Runs {
		if run.Ended != nil && run.Ended.After(t.t1) && !run.Ended.After(p.Generated) {
			t.t1 = *run.Ended
		}
	}
	n := 0
	for _, us := range p.units {
		for _, u := range us {
			if u.Name != "" {
				n++
			}
		}
	}
	t.units = n <= MaxTimelineUnits
	t.axis()
	for _, g := range p.Groups {
		t.group(g)
	}
	t.runs()
	height := t.y + 4
	var b strings.Builder
	fmt.Fprintf(&b, `<div class="gantt"><svg class="labels" width="200" height="%d" role="presentation">%s</svg>`, height, t.labels.b.String())
	fmt.Fprintf(&b, `<svg class="plot" width="100%%" height="%d" role="img" aria-label="Timeline of the waves, applications and steps, %s to %s UTC">%s</svg></div>`,
		height, p.clock(&t.t0), p.clock(&t.t1), t.plot.b.String())
	b.WriteString(`<ul class="legend">`)
	b.WriteString(`<li><svg width="14" height="10"><rect width="14" height="10" class="st-done"/></svg>application done</li>`)
	b.WriteString(`<li><svg width="14" height="10"><rect width="14" height="10" class="st-failed"/></svg>failed</li>`)
	b.WriteString(`<li><svg width="14" height="10"><rect width="14" height="10" class="st-rolled-back"/></svg>rolled back</li>`)
	b.WriteString(`<li><svg width="14" height="10"><rect width="14" height="10" class="outage"/></svg>measured outage</li>`)
	if t.undone {
		b.WriteString(`<li><svg width="14" height="10"><rect x="5" width="4" height="10" class="undo"/></svg>step undone (rollback)</li>`)
	}
	for _, k := range plan.StepKinds {
		if slices.Contains(t.kinds, k) {
			fmt.Fprintf(&b, `<li><svg width="14" height="10"><rect width="14" height="10" fill="%s"/></svg>%s</li>`, StepColours[k], html.EscapeString(k))
		}
	}
	b.WriteString(`</ul>`)
	if !t.units {
		fmt.Fprintf(&b, `<p class="note">%d VMs: too many to draw each one's steps; the tables below list the slowest.</p>`, n)
	}
	return template.HTML(b.String())
}

// axis draws the time ticks along the top and their grid lines.
func (t *timeline) axis() {
	span := t.t1.Sub(t.t0)
	step := tickStep(span)
	layout := "15:04"
	switch {
	case step < time.Second:
		layout = "15:04:05.0"
	case step < time.Minute:
		layout = "15:04:05"
	case t.t0.UTC().YearDay() != t.t1.UTC().YearDay():
		layout = "01-02 15:04"
	}
	t.labels.text("0", 17, "axis", "", "UTC", "")
	first := t.t0.Truncate(step)
	if first.Before(t.t0) {
		first = first.Add(step)
	}
	for at := first; !at.After(t.t1); at = at.Add(step) {
		x := t.x(at)
		anchor := "middle"
		switch {
		case x < 4:
			anchor = "start"
		case x > 96:
			anchor = "end"
		}
		t.plot.text(pct(x), 17, "axis", anchor, at.UTC().Format(layout), "")
		t.plot.raw(`<line x1="%s" x2="%s" y1="%d" y2="100%%" class="grid"/>`, pct(x), pct(x), axisH-4)
	}
	t.y = axisH
}

// tickStep is a round step giving at most six ticks over span.
func tickStep(span time.Duration) time.Duration {
	steps := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond,
		time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
		time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
		time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour, 48 * time.Hour, 7 * 24 * time.Hour}
	for _, s := range steps {
		if span/s <= 6 {
			return s
		}
	}
	return 30 * 24 * time.Hour
}

func (t *timeline) end(e *time.Time) time.Time {
	if e == nil {
		return t.r.Generated
	}
	return *e
}

func (t *timeline) group(g *GroupView) {
	y := t.y
	t.labels.text("0", y+16, "g", "", truncate(g.Title(), 24), g.Title())
	if g.Started != nil {
		title := fmt.Sprintf("%s: %s, %s to %s (%s)", g.Title(), g.Status, t.r.clock(g.Started), t.r.clock(g.Ended), duration(g.Duration))
		t.bar(*g.Started, t.end(g.Ended), y+5, 14, "grp", "", title)
	}
	t.y += groupH
	for _, name := range g.ApplicationNames {
		for _, a := range t.r.Applications {
			if a.Name == name {
				t.app(a)
			}
		}
	}
}

func (t *timeline) app(a *AppView) {
	y := t.y
	t.labels.text("12", y+14, "a", "", truncate(a.Name, 24), a.Name)
	if a.Started != nil {
		title := fmt.Sprintf("%s: %s, %s to %s (%s)", a.Name, statusText(a.Status), t.r.clock(a.Started), t.r.clock(a.Ended), duration(a.Duration))
		t.bar(*a.Started, t.end(a.Ended), y+4, 11, "st-"+string(a.Status), "", title)
	}
	if a.OutageStart != nil {
		title := fmt.Sprintf("%s: %s %s", a.Name, NameMeasuredOutage, t.r.outageText(a))
		t.bar(*a.OutageStart, *a.OutageEnd, y+16, 4, "outage", "", title)
	}
	t.y += appH
	if !t.units {
		return
	}
	for _, u := range t.r.units[a.Name] {
		t.unit(a, u)
	}
}

func (t *timeline) unit(a *AppView, u *UnitStatus) {
	y := t.y
	t.labels.text("24", y+11, "u", "", truncate(unitText(u.Name), 22), unitText(u.Name))
	for _, s := range u.Steps {
		if s.Started == nil || s.Status == state.Pending || s.Status == state.Deferred {
			continue
		}
		if !slices.Contains(t.kinds, s.Kind) {
			t.kinds = append(t.kinds, s.Kind)
		}
		name := stepName(s.Kind, u.Name)
		switch s.Status {
		case state.RolledBack:
			// Its end is when the rollback undid it: a mark there.
			if s.Ended != nil {
				t.undone = true
				x := t.x(*s.Ended)
				t.plot.rect(pct(x-0.2), pct(0.4), y+1, 11, "undo", "", fmt.Sprintf("%s undone at %s (rollback)", name, t.r.clock(s.Ended)))
			}
			continue
		case state.Running:
			t.bar(*s.Started, t.r.Generated, y+2, 9, "run", StepColours[s.Kind], fmt.Sprintf("%s: running since %s", name, t.r.clock(s.Started)))
			continue
		}
		title := fmt.Sprintf("%s: %s to %s (%s)", name, t.r.clock(s.Started), t.r.clock(s.Ended), duration(s.Duration))
		if s.Attempts > 1 {
			title += fmt.Sprintf(", %d attempts", s.Attempts)
		}
		class := "step"
		if s.Status == state.Failed {
			class = "step failed"
			title += ", failed: " + firstLine(s.Error)
		}
		t.bar(*s.Started, t.end(s.Ended), y+2, 9, class, StepColours[s.Kind], title)
	}
	t.y += unitH
}

// runs draws each run of wavectl along the bottom.
func (t *timeline) runs() {
	t.y += 4
	y := t.y
	t.labels.text("0", y+15, "g", "", "Runs", "")
	for i, run := range t.r.Runs {
		end := t.end(run.Ended)
		title := fmt.Sprintf("run %d: %s by %s, %s to %s: %s", i+1, commandText(run), byText(run), t.r.clock(&run.Started), t.r.clock(&end), run.Result)
		t.bar(run.Started, end, y+4, 14, "runbar", "", title)
		x := t.x(run.Started)
		anchor := "start"
		if x > 80 {
			anchor, x = "end", t.x(end)
		}
		t.plot.raw(`<text x="%s" y="%d" dx="%d" class="runlabel" text-anchor="%s">%d %s</text>`, pct(x), y+15, map[bool]int{true: 4, false: -4}[anchor == "start"], anchor, i+1, html.EscapeString(run.Command))
	}
	t.y += runH
}

// UserHoursByGroup is the bar chart of user-hours lost per wave and the
// conveyor, projected against measured.
func (p *htmlPage) UserHoursByGroup() template.HTML {
	var rows []barRow
	for _, g := range p.Groups {
		row := barRow{label: g.Title(), measured: g.UserHoursLost}
		if g.Projected != nil {
			row.projected, row.hasProjection = g.Projected.UserHoursLost, true
		}
		rows = append(rows, row)
	}
	return p.bars(rows, "User-hours lost per wave, projected and measured")
}

// UserHoursByApp is the same per application, for those with users.
func (p *htmlPage) UserHoursByApp() template.HTML {
	var rows []barRow
	for _, a := range p.Applications {
		row := barRow{label: a.Name, measured: a.UserHoursLost, open: a.OutageOpen}
		if a.Projected != nil {
			row.projected, row.hasProjection = a.Projected.UserHoursLost, true
		}
		if a.Users > 0 {
			rows = append(rows, row)
		}
	}
	return p.bars(rows, "User-hours lost per application, projected and measured")
}

// barValue writes a bar's value after its end, or inside it when the bar
// is long: a phone leaves little room on the right.
func barValue(s *svg, w float64, y int, class, value string) {
	if w > 45 {
		s.raw(`<text x="%s" y="%d" dx="-5" class="%s in" text-anchor="end">%s</text>`, pct(w), y+10, class, html.EscapeString(value))
		return
	}
	s.raw(`<text x="%s" y="%d" dx="5" class="%s">%s</text>`, pct(w), y+10, class, html.EscapeString(value))
}

type barRow struct {
	label               string
	projected, measured float64
	hasProjection, open bool
}

// bars draws horizontal bars, a label above each pair: they stretch with
// the screen and their text keeps its size.
func (p *htmlPage) bars(rows []barRow, title string) template.HTML {
	top := 0.0
	for _, r := range rows {
		top = max(top, r.projected, r.measured)
	}
	if len(rows) == 0 || top == 0 {
		return template.HTML(`<p class="empty">No user-hours lost, and none projected.</p>`)
	}
	const labelH, barH, gap = 16, 12, 10
	var s svg
	y := 0
	scale := func(v float64) float64 { return v / top * 80 } // room on the right for the value
	for _, r := range rows {
		s.text("0", y+12, "bl", "", r.label, "")
		y += labelH + 2
		if r.measured == 0 && r.projected == 0 {
			s.raw(`<text x="0" y="%d" class="bv">no outage, none projected</text>`, y+10)
			y += barH + gap
			continue
		}
		if r.hasProjection {
			w := scale(r.projected)
			s.rect("0", pct(max(w, 0.2)), y, barH, "proj", "", fmt.Sprintf("%s: %s %s", r.label, NameProjectedHours, userHours(r.projected)))
			barValue(&s, w, y, "bv", userHours(r.projected)+" projected")
			y += barH + 2
		}
		w := scale(r.measured)
		value := userHours(r.measured) + " measured"
		if r.open {
			value = "at least " + value + " (open)"
		}
		s.rect("0", pct(max(w, 0.2)), y, barH, "meas", "", fmt.Sprintf("%s: %s %s", r.label, NameUserHoursLost, value))
		barValue(&s, w, y, "bv", value)
		y += barH + gap
	}
	return template.HTML(fmt.Sprintf(`<svg class="bars" width="100%%" height="%d" role="img" aria-label="%s">%s</svg>`,
		y, html.EscapeString(title), s.b.String()))
}
