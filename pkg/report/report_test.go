package report

import (
	"bytes"
	"encoding/xml"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/schedule"
	"github.com/wavectl/wavectl/pkg/state"
)

func demoPlan(t *testing.T) *plan.Plan {
	t.Helper()
	p, _, err := plan.LoadFile("../../examples/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// fixtureReport is the report of testdata/report/record.json, read back
// from disk as the CLI reads it, with the demo plan's projections.
func fixtureReport(t *testing.T) *Report {
	t.Helper()
	st, err := state.Read(reportFixture)
	if err != nil {
		t.Fatal(err)
	}
	return BuildWith(st, demoPlan(t), reportTime, ReportOptions{StatePath: "demo.state.json", Generator: "wavectl test"})
}

// TestTheReportMatchesTheGoldenFiles renders the fixture in each format;
// -update rewrites testdata/report/demo.*.
func TestTheReportMatchesTheGoldenFiles(t *testing.T) {
	for _, c := range []struct {
		file  string
		write func(*Report, io.Writer) error
	}{
		{"demo.md", (*Report).WriteMarkdown},
		{"demo.html", (*Report).WriteHTML},
		{"demo.json", (*Report).WriteJSON},
	} {
		t.Run(c.file, func(t *testing.T) {
			var buf bytes.Buffer
			if err := c.write(fixtureReport(t), &buf); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "report", c.file)
			if *update {
				if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("output differs from %s (run go test ./pkg/report -update if meant):\n%s", golden, buf.String())
			}
		})
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// The fixture's figures, worked out by hand from its times (see
// report_fixture_test.go): users x minutes of outage / 60.
func TestTheFixturesFiguresAreTheHandWorkedOnes(t *testing.T) {
	r := fixtureReport(t)
	want := map[string]struct {
		outage    time.Duration
		userHours float64
		open      bool
	}{
		"care-records-db": {4 * time.Minute, 1800 * 4 / 60.0, false},   // 120
		"care-case-mgmt":  {24 * time.Minute, 1800 * 24 / 60.0, false}, // 720
		// careri-01 moves live: its relocate failed before any switch-over,
		// so the service never went down, and the rollback moved nothing.
		"care-reporting":  {0, 0, false},
		"carers-portal":   {0, 0, false},
		"meals-on-wheels": {17 * time.Minute, 45 * 17 / 60.0, false}, // 12.75
		"fax-gateway":     {0, 0, false},
	}
	for _, a := range r.Applications {
		w := want[a.Name]
		if time.Duration(a.Outage) != w.outage || !near(a.UserHoursLost, w.userHours) || a.OutageOpen != w.open {
			t.Errorf("%s: outage %v, %v user-hours, open %v; want %v, %v, %v", a.Name, time.Duration(a.Outage), a.UserHoursLost, a.OutageOpen, w.outage, w.userHours, w.open)
		}
	}
	tot := r.Total
	if !near(tot.UserHoursLost, 852.75) {
		t.Errorf("total user-hours lost %v, want 120 + 720 + 0 + 12.75 = 852.75", tot.UserHoursLost)
	}
	if g := r.Groups[0]; g.Name != "wave-1" || !near(g.UserHoursLost, 840) || g.Changes.Attempted != 4 || g.Changes.Succeeded != 3 || !near(*g.Changes.SuccessRate, 0.75) {
		t.Errorf("wave-1: %v user-hours, %d of %d changes; want 840, 3 of 4", g.UserHoursLost, g.Changes.Succeeded, g.Changes.Attempted)
	}
	if g := r.Groups[1]; g.Kind != "conveyor" || !near(g.UserHoursLost, 12.75) || time.Duration(g.Duration) != 36*time.Minute {
		t.Errorf("conveyor: %v user-hours over %v; want 12.75 over 36m", g.UserHoursLost, time.Duration(g.Duration))
	}
	if tot.Changes.Attempted != 6 || tot.Changes.Succeeded != 5 || !near(*tot.Changes.SuccessRate, 5.0/6) {
		t.Errorf("changes %d of %d, want 5 of 6", tot.Changes.Succeeded, tot.Changes.Attempted)
	}
	if tot.Apps.Done != 5 || tot.Apps.RolledBack != 1 || tot.VMs.Done != 12 || tot.VMs.Total != 13 || tot.VMs.RolledBack != 1 {
		t.Errorf("applications %+v, VMs %+v; want 5 done and 1 rolled back, 12 of 13 VMs", tot.Apps, tot.VMs)
	}
	if tot.Retries != 2 || time.Duration(tot.Duration) != 63*time.Minute || tot.Outage != schedule.Seconds(45*time.Minute) {
		t.Errorf("retries %d, took %v, outage %v; want 2, 1h03m (the live move's rollback is shorter), 4+24+0+17 = 45m", tot.Retries, time.Duration(tot.Duration), time.Duration(tot.Outage))
	}
	if s := r.Slowest[0]; s.Kind != plan.StepRelocate || s.Unit != "ccm-app-02" || time.Duration(s.Duration) != 16*time.Minute || s.Attempts != 3 {
		t.Errorf("slowest step %+v, want ccm-app-02's relocate, 16m, 3 attempts", s)
	}
	if len(r.Faults) != 2 || r.Faults[0].Count != 2 || r.Faults[0].Kind != "retried" || r.Faults[1].Kind != "failed" {
		t.Errorf("faults %+v, want the retried one twice, then the failure", r.Faults)
	}
	// The projections are the plan's own.
	p := demoPlan(t)
	if !r.Projections.Available || r.Total.Projected == nil {
		t.Fatalf("no projections: %s", r.Projections.Note)
	}
	for _, a := range r.Applications {
		if a.Projected == nil {
			t.Errorf("%s has no projection", a.Name)
		}
	}
	_ = p
}

// A record made by hand, with figures worked out on paper:
//
//	ledger   300 users, done,   down 10:00-11:30 = 1.5 h    -> 450 user-hours
//	payroll   40 users, done,   down 10:00-10:15 = 0.25 h   ->  10
//	archive  200 users, failed, down 10:05 until it failed at 10:35 = 0.5 h, open -> at least 100
//	intranet 500 users, skipped: not attempted, no outage -> 0
//	portal  1000 users, done (redeploy): the old service ran until the new one verified -> 0
//
// Changes attempted: ledger, payroll, archive, portal = 4; succeeded 3: 75%.
// User-hours lost: 450 + 10 + 100 = 560.
func TestAHandWorkedRecordGivesThePaperFigures(t *testing.T) {
	day := func(hhmm string) *time.Time {
		v, _ := time.Parse("2006-01-02 15:04", "2027-05-01 "+hhmm)
		return &v
	}
	app := func(name, strategy string, users int, status state.Status, from, to, down, up string) *state.App {
		a := &state.App{Name: name, Wave: "w1", Strategy: strategy, Users: users, Status: status}
		step := &state.Step{Kind: plan.StepRelocate, Phase: 1, Status: status}
		if from != "" {
			a.Started, a.Ended = day(from), day(to)
			step.Attempts, step.Started, step.Ended = 1, day(from), day(to)
		}
		if status == state.Skipped {
			step.Status = state.Pending
			a.Ended = day("10:35")
		}
		if down != "" {
			a.OutageStart = day(down)
		}
		if up != "" {
			a.OutageEnd = day(up)
		}
		a.Units = []*state.Unit{{Name: name + "-01", Status: step.Status, Steps: []*state.Step{step}}}
		return a
	}
	st := state.NewState("hand", "hand.yaml", "abc")
	st.Runs = []*state.Run{{Command: "apply", Started: *day("09:55"), Ended: day("11:31"), Result: "failed"}}
	st.Apps = []*state.App{
		app("ledger", plan.Remediate, 300, state.Done, "09:58", "11:31", "10:00", "11:30"),
		app("payroll", plan.Virtualise, 40, state.Done, "09:59", "10:16", "10:00", "10:15"),
		app("archive", plan.Remediate, 200, state.Failed, "10:01", "10:35", "10:05", "10:20"),
		app("intranet", plan.Redeploy, 500, state.Skipped, "", "", "", ""),
		app("portal", plan.Redeploy, 1000, state.Done, "10:00", "10:40", "", ""),
	}
	r := Build(st, nil, *day("12:00"))
	want := map[string]struct {
		minutes   float64
		userHours float64
		open      bool
	}{
		"ledger":   {90, 450, false},
		"payroll":  {15, 10, false},
		"archive":  {30, 100, true},
		"intranet": {0, 0, false},
		"portal":   {0, 0, false},
	}
	for _, a := range r.Applications {
		w := want[a.Name]
		if got := time.Duration(a.Outage).Minutes(); got != w.minutes || !near(a.UserHoursLost, w.userHours) || a.OutageOpen != w.open {
			t.Errorf("%s: %v minutes down, %v user-hours, open %v; want %v, %v, %v", a.Name, got, a.UserHoursLost, a.OutageOpen, w.minutes, w.userHours, w.open)
		}
	}
	c := r.Total.Changes
	if c.Attempted != 4 || c.Succeeded != 3 || c.SuccessRate == nil || !near(*c.SuccessRate, 0.75) {
		t.Errorf("changes %d of %d (rate %v), want 3 of 4 (0.75)", c.Succeeded, c.Attempted, c.SuccessRate)
	}
	if !near(r.Total.UserHoursLost, 560) || r.Total.AppsWithOutage != 3 {
		t.Errorf("total %v user-hours over %d applications, want 560 over 3", r.Total.UserHoursLost, r.Total.AppsWithOutage)
	}
	if r.Projections.Available || !strings.Contains(r.Projections.Note, "no plan file given") {
		t.Errorf("projections %+v, want none, saying no plan was given", r.Projections)
	}
	var md bytes.Buffer
	if err := r.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		"hand: 3 of 5 applications migrated (1 failed, 1 skipped)",
		"change success rate 75% (3 of 4); 560.0 user-hours lost",
		"| ledger | w1 | remediate | migrated | 300 | 1h30m (10:00 to 11:30) | 450.0 |",
		"| archive | w1 | remediate | failed | 200 | at least 30m (10:05 to 10:35), open | 100.0 |",
		"| portal | w1 | redeploy | migrated | 1000 | none | 0.0 |",
		"> **No projections.**",
	} {
		if !strings.Contains(md.String(), s) {
			t.Errorf("Markdown lacks %q:\n%s", s, md.String())
		}
	}
	if strings.Contains(md.String(), "| Projected user-hours lost |") {
		t.Errorf("Markdown without a plan has projected columns:\n%s", md.String())
	}
}

func TestAChangedPlanGivesNoProjectionsAndSaysSo(t *testing.T) {
	st, err := state.Read(reportFixture)
	if err != nil {
		t.Fatal(err)
	}
	p := demoPlan(t)
	was := p.Hash[:12] // the fixture's run was of the demo as it is
	p.Hash = "0123456789abcdef" + p.Hash[16:]
	r := Build(st, p, reportTime)
	if r.Projections.Available || r.Total.Projected != nil || r.Applications[0].Projected != nil {
		t.Fatalf("projections from a changed plan: %+v", r.Projections)
	}
	if want := "has changed since the run (sha256 0123456789ab, the run's was " + was + ")"; !strings.Contains(r.Projections.Note, want) {
		t.Errorf("note %q lacks %q", r.Projections.Note, want)
	}
	var out bytes.Buffer
	if err := r.WriteHTML(&out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "No projections.") || strings.Contains(out.String(), "projected 870.5") {
		t.Errorf("the page does not say it has no projections")
	}
	// The measured figures stand without the plan.
	if !near(r.Total.UserHoursLost, 852.75) {
		t.Errorf("user-hours lost %v without the plan, want 852.75", r.Total.UserHoursLost)
	}
}

// The page is one well-formed document that fetches nothing: no external
// stylesheet, script, image, font or frame; every chart is inline SVG.
func TestTheHTMLIsWellFormedAndSelfContained(t *testing.T) {
	var out bytes.Buffer
	if err := fixtureReport(t).WriteHTML(&out); err != nil {
		t.Fatal(err)
	}
	checkSelfContained(t, out.String())
	page := out.String()
	for _, want := range []string{`<meta name="viewport"`, "@media print", "@media (max-width", `<svg class="plot"`, `<svg class="bars"`, `class="sortable"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	// Not empty charts: steps in the timeline, bars in the chart.
	if n := strings.Count(page, `class="step`); n < 50 {
		t.Errorf("the timeline draws %d steps, want every finished one", n)
	}
	if n := strings.Count(page, `class="meas"`); n < 2+4 {
		t.Errorf("the user-hours charts draw %d measured bars, want one per wave and per application with users", n)
	}
}

// checkSelfContained parses page as XML (it is written to be) and fails on
// anything that would be fetched.
func checkSelfContained(t *testing.T, page string) {
	t.Helper()
	body, ok := strings.CutPrefix(page, "<!DOCTYPE html>\n")
	if !ok {
		t.Fatalf("the page does not start with <!DOCTYPE html>")
	}
	dec := xml.NewDecoder(strings.NewReader(body))
	dec.Strict = true
	depth, roots := 0, 0
	var inStyle bool
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the page is not well-formed: %v", err)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
			}
			depth++
			name := strings.ToLower(el.Name.Local)
			switch name {
			case "link", "img", "iframe", "object", "embed", "audio", "video", "source", "base", "image", "use":
				t.Errorf("the page has a <%s> element", name)
			}
			for _, a := range el.Attr {
				v := strings.ToLower(strings.TrimSpace(a.Value))
				switch strings.ToLower(a.Name.Local) {
				case "src", "href", "srcset", "action", "data", "poster":
					if !strings.HasPrefix(v, "#") {
						t.Errorf("<%s %s=%q> would fetch something", name, a.Name.Local, a.Value)
					}
				}
				if strings.Contains(v, "http://") || strings.Contains(v, "https://") || strings.Contains(v, "url(") {
					t.Errorf("<%s %s=%q> names a URL", name, a.Name.Local, a.Value)
				}
			}
			inStyle = name == "style"
		case xml.EndElement:
			depth--
			inStyle = false
		case xml.CharData:
			if inStyle {
				css := strings.ToLower(string(el))
				for _, bad := range []string{"@import", "url(", "@font-face", "http:", "https:"} {
					if strings.Contains(css, bad) {
						t.Errorf("the stylesheet has %s", bad)
					}
				}
			}
		}
	}
	if depth != 0 || roots != 1 {
		t.Errorf("the page has %d root elements and ends %d deep", roots, depth)
	}
	if strings.Contains(page, "<script src") || strings.Contains(page, "fetch(") || strings.Contains(page, "XMLHttpRequest") {
		t.Errorf("the script fetches something")
	}
}

func TestTheReportFlagsAnApplicationDownNow(t *testing.T) {
	r := Build(pausedState(t), nil, reportTime)
	var down []string
	for _, a := range r.Applications {
		if a.DownNow != nil {
			down = append(down, a.Name)
		}
	}
	if strings.Join(down, ",") != "care-case-mgmt" {
		t.Fatalf("down now: %v, want care-case-mgmt", down)
	}
	var md, html bytes.Buffer
	if err := r.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteHTML(&html); err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"markdown": md.String(), "html": html.String()} {
		if !strings.Contains(out, "DOWN NOW") {
			t.Errorf("the %s report does not say DOWN NOW", name)
		}
	}
}

// careri-01 is planned live: moved cold it would be down 22m (power-off 2m,
// reconfigure 1m, relocate 15m, power-on 1m, verify 3m), live 2s: 120
// users x (22m - 2s) = 43.93 user-hours avoided. Its move failed and was
// rolled back, so none moved live in the record.
func TestTheReportSetsLiveMovesAgainstColdOnes(t *testing.T) {
	r := fixtureReport(t)
	p := r.Total.Projected
	if p == nil || p.LiveMoves != 1 || !near(p.UserHoursAvoided, 43.93) || r.Total.LiveMoves != 0 {
		t.Fatalf("projected %+v, measured live moves %d; want 1 planned, 43.93 avoided, none done", p, r.Total.LiveMoves)
	}
	want := "0 of 1 VM planned live moved live, 43.9 projected user-hours avoided against moving them cold (without live moves: projected 870.5, measured about 896.7)"
	if !strings.Contains(r.Summary, want) {
		t.Errorf("summary %q lacks %q", r.Summary, want)
	}
}
