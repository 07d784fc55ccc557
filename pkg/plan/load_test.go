package plan_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wavectl/wavectl/pkg/plan"
)

// header is the first six lines of every plan below: one vCenter, a source.
const header = `apiVersion: wavectl/v1
kind: MigrationPlan
metadata: {name: test}
vcenters:
  lab: {url: https://vc.example/sdk}
source: {vcenter: lab, datacenter: DC-OLD}
`

// target is a complete default placement.
const target = `target:
  datacenter: DC1
  cluster: C1-Gold
  datastore: ds-gold-01
  networks: {VM Network: pg-app-101}
`

type result struct {
	p     *plan.Plan
	probs plan.Problems
	err   error
}

// valid fails the test unless the plan loaded without errors.
func (r result) valid(t *testing.T) *plan.Plan {
	t.Helper()
	if r.err != nil || r.p == nil {
		t.Fatalf("plan does not load: %v\n%s", r.err, r.probs)
	}
	return r.p
}

// clean fails the test unless the plan loaded with no problems at all.
func (r result) clean(t *testing.T) *plan.Plan {
	t.Helper()
	p := r.valid(t)
	if len(r.probs) > 0 {
		t.Fatalf("plan has problems:\n%s", r.probs)
	}
	return p
}

// has fails the test unless a problem of severity sev says all of msgs.
func (r result) has(t *testing.T, sev plan.Severity, msgs ...string) plan.Problem {
	t.Helper()
	for _, pr := range r.probs {
		ok := pr.Severity == sev
		for _, m := range msgs {
			ok = ok && strings.Contains(pr.Message+"\n"+pr.Hint, m)
		}
		if ok {
			return pr
		}
	}
	t.Fatalf("no %s saying %q among:\n%s", sev, msgs, r.probs)
	return plan.Problem{}
}

func (r result) invalid(t *testing.T) {
	t.Helper()
	var ie *plan.InvalidError
	if !errors.As(r.err, &ie) {
		t.Fatalf("want an *plan.InvalidError, got %v", r.err)
	}
}

func TestLoad(t *testing.T) {
	for _, tc := range []struct {
		name  string
		yaml  string
		check func(t *testing.T, r result)
	}{
		{
			name: "a VM written as a bare name decodes to its name",
			yaml: header + target + `applications:
  - {name: app, strategy: remediate, vms: [pcalc-app-01]}
waves: [{name: w1, applications: [app]}]
`,
			check: func(t *testing.T, r result) {
				vm := r.clean(t).Applications[0].VMs[0]
				if want := (plan.VMRef{Name: "pcalc-app-01"}); !reflect.DeepEqual(*vm, want) {
					t.Errorf("got %+v, want %+v", *vm, want)
				}
			},
		},
		{
			name: "a VM written as an object keeps its sizes and networks",
			yaml: header + target + `applications:
  - name: app
    strategy: remediate
    vms:
      - {name: db-01, cpus: 8, memoryMB: 65536, disksGB: [100, 500], networks: [VM Network], powerState: poweredOff, guestId: rhel8_64Guest, hardwareVersion: vmx-13}
waves: [{name: w1, applications: [app]}]
`,
			check: func(t *testing.T, r result) {
				vm := r.clean(t).Applications[0].VMs[0]
				want := plan.VMRef{Name: "db-01", CPUs: 8, MemoryMB: 65536, DisksGB: []int{100, 500}, Networks: []string{"VM Network"}, PowerState: "poweredOff", GuestID: "rhel8_64Guest", Hardware: "vmx-13"}
				if !reflect.DeepEqual(*vm, want) {
					t.Errorf("got %+v, want %+v", *vm, want)
				}
			},
		},
		{
			name: "defaults flow from target to wave to application",
			yaml: header + `target: {datacenter: DC1, cluster: C1-Gold, datastore: ds-gold-01, folder: migrated}
applications:
  - {name: plain, strategy: remediate, vms: [a-01]}
  - {name: own, strategy: remediate, vms: [b-01], target: {datastore: ds-own}}
  - {name: unscheduled, strategy: remediate, vms: [c-01]}
waves:
  - name: w1
    target: {cluster: C2-Silver, folder: wave-1}
    applications: [plain, own]
`,
			check: func(t *testing.T, r result) {
				p := r.valid(t)
				for _, tc := range []struct {
					app  string
					want plan.Placement
				}{
					{"plain", plan.Placement{VCenter: "lab", Datacenter: "DC1", Cluster: "C2-Silver", Datastore: "ds-gold-01", Folder: "wave-1", RetirementFolder: plan.DefaultRetireFolder}},
					{"own", plan.Placement{VCenter: "lab", Datacenter: "DC1", Cluster: "C2-Silver", Datastore: "ds-own", Folder: "wave-1", RetirementFolder: plan.DefaultRetireFolder}},
					{"unscheduled", plan.Placement{VCenter: "lab", Datacenter: "DC1", Cluster: "C1-Gold", Datastore: "ds-gold-01", Folder: "migrated", RetirementFolder: plan.DefaultRetireFolder}},
				} {
					if got := p.Application(tc.app).Resolved; !reflect.DeepEqual(got, tc.want) {
						t.Errorf("%s: got %+v, want %+v", tc.app, got, tc.want)
					}
				}
			},
		},
		{
			name: "the conveyor's target applies to conveyor applications",
			yaml: header + target + `applications:
  - {name: small, strategy: remediate, vms: [a-01]}
conveyor:
  applications: [small]
  target: {cluster: C3-Bronze}
`,
			check: func(t *testing.T, r result) {
				a := r.clean(t).Application("small")
				if a.Resolved.Cluster != "C3-Bronze" || a.Resolved.Datastore != "ds-gold-01" {
					t.Errorf("resolved to %+v", a.Resolved)
				}
			},
		},
		{
			name: "networks merge key by key",
			yaml: header + `target:
  datacenter: DC1
  cluster: C1-Gold
  datastore: ds-gold-01
  networks: {Web: pg-web, App: pg-app}
applications:
  - name: app
    strategy: remediate
    vms: [{name: a-01, networks: [Web, App, DB, Mgmt]}]
    target: {networks: {Mgmt: pg-mgmt}}
waves:
  - {name: w1, applications: [app], target: {networks: {App: pg-app-2, DB: pg-db}}}
`,
			check: func(t *testing.T, r result) {
				got := r.clean(t).Application("app").Resolved.Networks
				want := map[string]string{"Web": "pg-web", "App": "pg-app-2", "DB": "pg-db", "Mgmt": "pg-mgmt"}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("got %v, want %v", got, want)
				}
			},
		},
		{
			name: "limits default when left out",
			yaml: header + target + `hooks: {pre: [./pre.sh]}
applications:
  - {name: app, strategy: replace, vms: [a-01], replacement: {template: tpl, name: a-02}}
  - {name: small, strategy: remediate, vms: [b-01]}
waves: [{name: w1, applications: [app]}]
conveyor: {applications: [small]}
`,
			check: func(t *testing.T, r result) {
				p := r.clean(t)
				want := plan.Limits{Concurrency: plan.DefaultConcurrency, PerHost: plan.DefaultPerHost, PerDatastore: plan.DefaultPerDatastore, Retries: plan.DefaultRetries,
					HostBudget: 8, DatastoreBudget: 128, NetworkBudget: 8, Costs: plan.DefaultCosts}
				if !reflect.DeepEqual(p.Limits, want) {
					t.Errorf("limits %+v, want %+v", p.Limits, want)
				}
				if p.Conveyor.InFlight != plan.DefaultInFlight || p.Conveyor.OnFailure != plan.OnFailureContinue {
					t.Errorf("conveyor inFlight %d onFailure %s", p.Conveyor.InFlight, p.Conveyor.OnFailure)
				}
				if p.Waves[0].OnFailure != plan.DefaultOnFailure {
					t.Errorf("wave onFailure %s", p.Waves[0].OnFailure)
				}
				a := p.Application("app")
				if a.Criticality != plan.DefaultCriticality || a.RetainDays == nil || *a.RetainDays != plan.DefaultRetainDays {
					t.Errorf("application criticality %s retainDays %v", a.Criticality, a.RetainDays)
				}
				if p.Hooks.Timeout != plan.DefaultHookTimeout {
					t.Errorf("hook timeout %s", p.Hooks.Timeout)
				}
			},
		},
		{
			name: "limits that are set are kept",
			yaml: header + target + `limits: {concurrency: 4, perHost: 2, perDatastore: 1, retries: 7}
applications: [{name: app, strategy: remediate, vms: [a-01]}]
waves: [{name: w1, applications: [app]}]
`,
			check: func(t *testing.T, r result) {
				got := r.clean(t).Limits
				got.Costs = nil
				if want := (plan.Limits{Concurrency: 4, PerHost: 2, PerDatastore: 1, Retries: 7, HostBudget: 8, DatastoreBudget: 128, NetworkBudget: 8}); !reflect.DeepEqual(got, want) {
					t.Errorf("got %+v, want %+v", got, want)
				}
			},
		},
		{
			name: "a cost overrides the fields it gives, the rest keep vCenter's defaults",
			yaml: header + target + `limits: {hostBudget: 16, costs: {clone: {host: 2}, power-on: {host: 1}, relocate-live: {network: 2}}}
applications: [{name: app, strategy: remediate, vms: [a-01]}]
waves: [{name: w1, applications: [app]}]
`,
			check: func(t *testing.T, r result) {
				l := r.clean(t).Limits
				for _, c := range []struct {
					kind string
					live bool
					want plan.Cost
				}{
					{plan.StepClone, false, plan.Cost{Host: 2, Datastore: 1}},
					{plan.StepPowerOn, false, plan.Cost{Host: 1}},
					{plan.StepRelocate, true, plan.Cost{Host: 4, Datastore: 16, Network: 2}},
					{plan.StepRelocate, false, plan.Cost{Host: 1, Datastore: 1}},
					{plan.StepSnapshot, false, plan.Cost{}},
				} {
					if got := l.CostOf(c.kind, c.live); got != c.want {
						t.Errorf("%s (live %v) costs %+v, want %+v", c.kind, c.live, got, c.want)
					}
				}
				if h, d, n := l.Budgets(); h != 16 || d != 128 || n != 8 {
					t.Errorf("budgets %d %d %d, want 16 128 8", h, d, n)
				}
			},
		},
		{
			name: "explicit zero concurrency is an error",
			yaml: header + target + `limits: {concurrency: 0}
applications: [{name: app, strategy: remediate, vms: [a-01]}]
waves: [{name: w1, applications: [app]}]
`,
			check: func(t *testing.T, r result) {
				r.invalid(t)
				pr := r.has(t, plan.SeverityError, "limits.concurrency must be at least 1, not 0", "leave it out")
				if pr.Line != 12 || pr.Column != 23 {
					t.Errorf("at %d:%d, want 12:23", pr.Line, pr.Column)
				}
			},
		},
		{
			name: "positions point at the offending value",
			yaml: header + target + `applications:
  - name: app
    strategy: remediate
    users: many
    vms: [a-01]
waves:
  - name: w1
    applications: [app, ghost]
`,
			check: func(t *testing.T, r result) {
				r.invalid(t)
				for _, want := range []struct {
					msg       string
					line, col int
					path      string
				}{
					{"applications[0].users must be a whole number", 15, 12, "applications[0].users"},
					{`application "ghost" is not defined`, 19, 25, "waves[0].applications[1]"},
				} {
					pr := r.has(t, plan.SeverityError, want.msg)
					if pr.File != "plan.yaml" || pr.Line != want.line || pr.Column != want.col || pr.Path != want.path {
						t.Errorf("%q at %s (%s), want plan.yaml:%d:%d (%s)", want.msg, pr.Pos, pr.Path, want.line, want.col, want.path)
					}
				}
			},
		},
		{
			name: "a missing field is reported at the mapping that lacks it",
			yaml: header + target + `applications:
  - name: app
    vms: [a-01]
waves: [{name: w1, applications: [app]}]
`,
			check: func(t *testing.T, r result) {
				pr := r.has(t, plan.SeverityError, `applications[0] is missing required field "strategy"`)
				if pr.Line != 13 || pr.Column != 5 {
					t.Errorf("at %d:%d, want 13:5", pr.Line, pr.Column)
				}
			},
		},
		{
			name: "a single vCenter is the target's without naming it",
			yaml: header + target + `applications: [{name: app, strategy: remediate, vms: [a-01]}]
waves: [{name: w1, applications: [app]}]
`,
			check: func(t *testing.T, r result) {
				if got := r.clean(t).Application("app").Resolved.VCenter; got != "lab" {
					t.Errorf("target vcenter %q, want lab", got)
				}
			},
		},
		{
			name: "two vCenters need target.vcenter",
			yaml: strings.Replace(header, "vcenters:\n", "vcenters:\n  crown: {url: https://crown.example/sdk}\n", 1) + target + `applications: [{name: app, strategy: remediate, vms: [a-01]}]
waves: [{name: w1, applications: [app]}]
`,
			check: func(t *testing.T, r result) {
				r.invalid(t)
				r.has(t, plan.SeverityError, "target names no vCenter, and the plan has several", "crown, lab")
			},
		},
		{
			name: "applications learn their wave, or that they are on the conveyor",
			yaml: header + target + `applications:
  - {name: big, strategy: remediate, vms: [a-01]}
  - {name: small, strategy: remediate, vms: [b-01]}
waves: [{name: w1, applications: [big]}]
conveyor: {applications: [small], inFlight: 3}
`,
			check: func(t *testing.T, r result) {
				p := r.clean(t)
				big, small := p.Application("big"), p.Application("small")
				if big.Wave != "w1" || big.OnConveyor || big.Index != 0 {
					t.Errorf("big: wave %q conveyor %v index %d", big.Wave, big.OnConveyor, big.Index)
				}
				if small.Wave != "" || !small.OnConveyor || small.Index != 1 {
					t.Errorf("small: wave %q conveyor %v index %d", small.Wave, small.OnConveyor, small.Index)
				}
				if p.Conveyor.InFlight != 3 {
					t.Errorf("inFlight %d", p.Conveyor.InFlight)
				}
			},
		},
		{
			name: "durations and times decode",
			yaml: header + target + `estimates: {clone: 1h30m, verify: 90s}
applications: [{name: app, strategy: remediate, vms: [a-01], checks: [{tcp: 443, timeout: 2m}]}]
waves:
  - name: w1
    window: {start: "2027-03-06T20:00:00Z", end: "2027-03-07T07:00:00+01:00"}
    applications: [app]
`,
			check: func(t *testing.T, r result) {
				p := r.clean(t)
				if got := p.Estimates["clone"]; got != plan.Duration(90*time.Minute) || got.String() != "1h30m" {
					t.Errorf("clone estimate %v", got)
				}
				if got := p.Application("app").Checks[0]; got.TCP != 443 || got.Timeout.String() != "2m" {
					t.Errorf("check %+v", got)
				}
				w := p.Waves[0].Window
				if !w.Start.Equal(time.Date(2027, 3, 6, 20, 0, 0, 0, time.UTC)) || w.End.Sub(w.Start) != 10*time.Hour {
					t.Errorf("window %v to %v", w.Start, w.End)
				}
			},
		},
		{
			name: "a bad duration and a time without a zone are errors",
			yaml: header + target + `estimates: {clone: 20 minutes}
applications: [{name: app, strategy: remediate, vms: [a-01]}]
waves:
  - {name: w1, applications: [app], window: {start: "2027-03-06 20:00", end: "2027-03-07T06:00:00Z"}}
`,
			check: func(t *testing.T, r result) {
				r.invalid(t)
				r.has(t, plan.SeverityError, `estimates[clone]: "20 minutes" is not a duration`, "1h30m")
				r.has(t, plan.SeverityError, `waves[0].window.start: "2027-03-06 20:00" is not an RFC 3339 time`)
			},
		},
		{
			name: "a quoted number is not a number",
			yaml: header + target + `applications: [{name: app, strategy: remediate, users: "120", vms: [a-01]}]
waves: [{name: w1, applications: [app]}]
`,
			check: func(t *testing.T, r result) {
				r.invalid(t)
				r.has(t, plan.SeverityError, `applications[0].users must be a whole number, not "120"`, "without quotes")
			},
		},
		{
			name: "the plan's hash is the SHA-256 of its bytes",
			yaml: header + target + `applications: [{name: app, strategy: remediate, vms: [a-01]}]
waves: [{name: w1, applications: [app]}]
`,
			check: func(t *testing.T, r result) {
				p := r.clean(t)
				sum := sha256.Sum256([]byte(header + target + "applications: [{name: app, strategy: remediate, vms: [a-01]}]\nwaves: [{name: w1, applications: [app]}]\n"))
				if p.Hash != hex.EncodeToString(sum[:]) || p.File != "plan.yaml" {
					t.Errorf("hash %s file %s", p.Hash, p.File)
				}
			},
		},
		{
			name: "a replacement may not take the name of a VM that exists",
			yaml: header + target + `applications:
  - {name: fax, strategy: replace, vms: [fax-01], replacement: {template: tpl, name: mail-01}}
  - {name: mail, strategy: remediate, vms: [mail-01]}
waves: [{name: w1, applications: [fax, mail]}]
`,
			check: func(t *testing.T, r result) {
				r.invalid(t)
				r.has(t, plan.SeverityError, `VM "mail-01" is listed by both fax and mail`)
			},
		},
		{
			name: "a wave depending on a conveyor application is only a warning",
			yaml: header + target + `applications:
  - {name: big, strategy: remediate, vms: [a-01], dependsOn: [small]}
  - {name: small, strategy: remediate, vms: [b-01]}
waves: [{name: w1, applications: [big]}]
conveyor: {applications: [small]}
`,
			check: func(t *testing.T, r result) {
				r.valid(t)
				r.has(t, plan.SeverityWarning, "application big (wave w1) depends on conveyor application small")
			},
		},
		{
			name: "a conveyor application listed before its dependency is an error",
			yaml: header + target + `applications:
  - {name: first, strategy: remediate, vms: [a-01], dependsOn: [second]}
  - {name: second, strategy: remediate, vms: [b-01]}
conveyor: {applications: [first, second]}
`,
			check: func(t *testing.T, r result) {
				r.invalid(t)
				r.has(t, plan.SeverityError, "application first is on the conveyor ahead of second", "list second before first")
			},
		},
		{
			name: "a dependency on an unscheduled application can never be met",
			yaml: header + target + `applications:
  - {name: app, strategy: remediate, vms: [a-01], dependsOn: [db]}
  - {name: db, strategy: remediate, vms: [b-01]}
waves: [{name: w1, applications: [app]}]
`,
			check: func(t *testing.T, r result) {
				r.invalid(t)
				r.has(t, plan.SeverityError, "depends on db, which is in no wave and not on the conveyor")
				r.has(t, plan.SeverityWarning, "application db is in no wave and not on the conveyor")
			},
		},
		{
			name: "an application depending on itself is an error, not a cycle",
			yaml: header + target + `applications: [{name: app, strategy: remediate, vms: [a-01], dependsOn: [app]}]
waves: [{name: w1, applications: [app]}]
`,
			check: func(t *testing.T, r result) {
				r.invalid(t)
				r.has(t, plan.SeverityError, "application app depends on itself")
				if len(r.probs) != 1 {
					t.Errorf("want one problem, got:\n%s", r.probs)
				}
			},
		},
		{
			name: "remediate networks map a VM's NIC as well as the target's",
			yaml: header + target + `applications:
  - name: app
    strategy: remediate
    vms: [{name: a-01, networks: [VM Network, Old-Mgmt]}]
    remediate: {networks: {Old-Mgmt: pg-mgmt}}
waves: [{name: w1, applications: [app]}]
`,
			check: func(t *testing.T, r result) { r.clean(t) },
		},
		{
			name: "overlapping wave windows are only a warning",
			yaml: header + target + `applications:
  - {name: a, strategy: remediate, vms: [a-01]}
  - {name: b, strategy: remediate, vms: [b-01]}
waves:
  - {name: w1, applications: [a], window: {start: "2027-03-06T20:00:00Z", end: "2027-03-07T06:00:00Z"}}
  - {name: w2, applications: [b], window: {start: "2027-03-07T04:00:00Z", end: "2027-03-07T12:00:00Z"}}
`,
			check: func(t *testing.T, r result) {
				r.valid(t)
				r.has(t, plan.SeverityWarning, "wave w2's window opens before wave w1's closes")
			},
		},
		{
			name: "an http:// vCenter URL draws a warning at its line, as it sends the password in clear text",
			yaml: strings.Replace(header, "https://vc.example", "http://vc.example", 1) + target + `applications: [{name: app, strategy: remediate, vms: [a-01]}]
waves: [{name: w1, applications: [app]}]
`,
			check: func(t *testing.T, r result) {
				r.valid(t)
				pr := r.has(t, plan.SeverityWarning, "vcenter lab: http:// sends the login, password included, across the network in clear text", "--insecure-http")
				if pr.Pos.Line != 5 {
					t.Errorf("warning at line %d, want 5 (the url)", pr.Pos.Line)
				}
			},
		},
		{
			name: "a critical application affecting no users draws a warning",
			yaml: header + target + `applications: [{name: app, strategy: remediate, criticality: critical, vms: [a-01]}]
waves: [{name: w1, applications: [app]}]
`,
			check: func(t *testing.T, r result) {
				r.valid(t)
				r.has(t, plan.SeverityWarning, "application app is critical but affects 0 users")
			},
		},
		{
			name: "settings another strategy uses are warned about",
			yaml: header + target + `applications:
  - {name: app, strategy: remediate, vms: [a-01], template: tpl-rhel9, retainDays: 10}
waves: [{name: w1, applications: [app]}]
`,
			check: func(t *testing.T, r result) {
				r.valid(t)
				r.has(t, plan.SeverityWarning, "template is ignored by the remediate strategy")
				r.has(t, plan.SeverityWarning, "retainDays is ignored by the remediate strategy")
			},
		},
		{
			name: "an application without a complete target placement is an error",
			yaml: header + `target: {datacenter: DC1}
applications: [{name: app, strategy: remediate, vms: [a-01]}]
waves: [{name: w1, applications: [app]}]
`,
			check: func(t *testing.T, r result) {
				r.invalid(t)
				r.has(t, plan.SeverityError, "application app has no target cluster (or host), datastore")
			},
		},
		{
			name: "validation still runs after a decoding error, without repeating it",
			yaml: header + target + `applications:
  - {name: app, strategy: rehost, vms: [a-01]}
  - {name: dup, strategy: remediate, vms: [a-01]}
waves: [{name: w1, applications: [app, dup, ghost]}]
`,
			check: func(t *testing.T, r result) {
				r.invalid(t)
				r.has(t, plan.SeverityError, `"rehost" is not one of`)
				r.has(t, plan.SeverityError, `VM "a-01" is listed by both app and dup`)
				r.has(t, plan.SeverityError, `application "ghost" is not defined`)
				if r.probs.Errors() != 3 {
					t.Errorf("want 3 errors, got:\n%s", r.probs)
				}
			},
		},
		{
			name: "problems come sorted by position",
			yaml: header + target + `applications:
  - {name: b, strategy: remediate, vms: [a-01], dependsOn: [zz]}
  - {name: a, strategy: remediate, vms: [a-01], users: -1}
waves: [{name: w1, applications: [a, b, yy]}]
`,
			check: func(t *testing.T, r result) {
				r.invalid(t)
				for i := 1; i < len(r.probs); i++ {
					a, b := r.probs[i-1], r.probs[i]
					if a.Line > b.Line || (a.Line == b.Line && a.Column > b.Column) {
						t.Errorf("%s comes before %s", a.Pos, b.Pos)
					}
				}
			},
		},
		{
			name: "anchors and aliases are followed",
			yaml: header + target + `applications:
  - name: a
    strategy: remediate
    vms: [a-01]
    target: &silver {cluster: C1-Silver, datastore: ds-silver-01}
  - {name: b, strategy: remediate, vms: [b-01], target: *silver}
waves: [{name: w1, applications: [a, b]}]
`,
			check: func(t *testing.T, r result) {
				if got := r.clean(t).Application("b").Resolved.Cluster; got != "C1-Silver" {
					t.Errorf("cluster %q", got)
				}
			},
		},
		{
			name: "a billion laughs stops at the node limit",
			yaml: laughs(),
			check: func(t *testing.T, r result) {
				r.invalid(t)
				r.has(t, plan.SeverityError, "expands to more than")
			},
		},
		{
			name: "a second YAML document is an error, but the first is still checked",
			yaml: header + target + `applications: [{name: app, strategy: rehost, vms: [a-01]}]
---
kind: MigrationPlan
`,
			check: func(t *testing.T, r result) {
				r.invalid(t)
				r.has(t, plan.SeverityError, "a plan file holds one YAML document")
				r.has(t, plan.SeverityError, `"rehost" is not one of`)
			},
		},
		{
			name: "a document that is not a mapping is an error",
			yaml: "- apiVersion: wavectl/v1\n",
			check: func(t *testing.T, r result) {
				r.invalid(t)
				r.has(t, plan.SeverityError, "a plan is a mapping of fields, but this document is a list")
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, probs, err := plan.Load("plan.yaml", []byte(tc.yaml))
			tc.check(t, result{p, probs, err})
		})
	}
}

// laughs returns a small plan whose aliases expand to 120 applications of
// 120 VMs of 300 disks each: over four million values from 4 KiB of YAML.
func laughs() string {
	var b strings.Builder
	b.WriteString(header + target)
	b.WriteString("estimates: {}\napplications:\n  - &app\n    name: app\n    strategy: remediate\n    vms:\n      - &vm\n        name: a-01\n        disksGB: &disks [")
	b.WriteString(strings.TrimSuffix(strings.Repeat("1, ", 300), ", "))
	b.WriteString("]\n")
	for i := 0; i < 119; i++ {
		b.WriteString("      - *vm\n")
	}
	for i := 0; i < 119; i++ {
		b.WriteString("  - *app\n")
	}
	return b.String()
}

func TestLoadFile(t *testing.T) {
	t.Run("a missing file is not an invalid plan", func(t *testing.T) {
		_, _, err := plan.LoadFile(filepath.Join(t.TempDir(), "nope.yaml"))
		var ie *plan.InvalidError
		if !errors.Is(err, fs.ErrNotExist) || errors.As(err, &ie) {
			t.Errorf("got %v", err)
		}
	})
	t.Run("a server image is looked for next to the plan", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, "images"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "images", "db.ova"), []byte("ova"), 0o644); err != nil {
			t.Fatal(err)
		}
		yaml := header + target + `applications:
  - name: app
    strategy: virtualise
    servers:
      - {name: db-01, cpus: 2, memoryMB: 4096, disksGB: [50], image: images/db.ova}
      - {name: db-02, cpus: 2, memoryMB: 4096, disksGB: [50], image: images/missing.ova}
waves: [{name: w1, applications: [app]}]
`
		file := filepath.Join(dir, "plan.yaml")
		if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		_, probs, err := plan.LoadFile(file)
		if err != nil {
			t.Fatalf("%v\n%s", err, probs)
		}
		if len(probs) != 1 || probs[0].Severity != plan.SeverityWarning || !strings.Contains(probs[0].Message, "image images/missing.ova is not there") {
			t.Errorf("want one warning about missing.ova, got:\n%s", probs)
		}
	})
}

func TestByteOrderMarksShiftNoPosition(t *testing.T) {
	body := header + target + "applications: [{name: app, strategy: remediate, vms: [a-01]}]\nwaves: [{name: w1, applications: [app]}]\n"
	for _, marks := range []string{"", "\ufeff", "\ufeff\ufeff", "\ufeff\ufeff\ufeff"} {
		p, probs, err := plan.Load("plan.yaml", []byte(marks+strings.Replace(body, "apiVersion", "apiVersio", 1)))
		if err == nil || p == nil {
			t.Fatalf("%d marks: the misspelt field was not found", len(marks)/3)
		}
		pr := probs[0]
		if pr.Line != 1 || pr.Column != 1 || !strings.Contains(pr.Message, `"apiVersio"`) {
			t.Errorf("%d marks: %s, want the misspelt apiVersio at 1:1", len(marks)/3, pr)
		}
	}
}
