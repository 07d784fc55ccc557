package strategy_test

import (
	"strings"
	"testing"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/strategy"
)

func load(t *testing.T, apps string) *plan.Plan {
	t.Helper()
	p, _, err := plan.Load("t.yaml", []byte(`apiVersion: wavectl/v1
kind: MigrationPlan
metadata: {name: t}
vcenters: {lab: {url: "https://vc/sdk"}}
source: {vcenter: lab, datacenter: DC0}
target: {datacenter: DC1, cluster: C1, datastore: ds1, networks: {"VM Network": pg-1}}
hooks: {pre: ["echo plan-wide"]}
`+apps))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func kinds(steps []strategy.Step, unit string) string {
	var out []string
	for _, s := range steps {
		if s.Unit == unit {
			k := s.Kind
			if s.Outage {
				k += "*"
			}
			out = append(out, k)
		}
	}
	return strings.Join(out, " ")
}

func TestEachStrategyIsItsStepList(t *testing.T) {
	p := load(t, `applications:
  - {name: v, strategy: virtualise, servers: [{name: phys-1, cpus: 2, memoryMB: 4096, disksGB: [40]}]}
  - {name: d, strategy: redeploy, template: tpl, vms: [web-1]}
  - {name: m, strategy: remediate, vms: [app-1], remediate: {hardwareVersion: vmx-19, cpus: 4}}
  - {name: r, strategy: replace, vms: [old-1], replacement: {template: tpl-new, name: new-1}, hooks: {post: ["echo done"]}}
conveyor: {applications: [v, d, m, r]}
`)
	cases := []struct {
		app, unit, want string
	}{
		{"v", "phys-1", "create-vm power-on* verify*"},
		{"d", "web-1", "clone power-on verify record-state power-off retire"},
		{"m", "app-1", "record-state snapshot power-off* upgrade-hardware* reconfigure* relocate* power-on* verify* remove-snapshot"},
		{"r", "new-1", "clone power-on verify"},
		{"r", "old-1", "record-state power-off retire decommission"},
		{"r", "", "pre-hook post-hook"},
	}
	for _, c := range cases {
		t.Run(c.app+"/"+c.unit, func(t *testing.T) {
			if got := kinds(strategy.Steps(p.Application(c.app)), c.unit); got != c.want {
				t.Errorf("steps = %q, want %q", got, c.want)
			}
		})
	}
}

func TestRemediateLeavesOutStepsWithNothingToDo(t *testing.T) {
	p := load(t, `applications:
  - {name: m, strategy: remediate, move: cold, vms: [app-1]}
waves: [{name: w, applications: [m]}]
`)
	// The target maps networks, so NICs are remapped; there is no
	// hardware version to upgrade to.
	got := kinds(strategy.Steps(p.Application("m")), "app-1")
	if strings.Contains(got, "upgrade-hardware") {
		t.Errorf("steps %q upgrade hardware with no hardwareVersion set", got)
	}
	if !strings.Contains(got, "reconfigure") {
		t.Errorf("steps %q do not remap NICs to the target's portgroups", got)
	}
}

func TestRemediateMovesLiveWhenNothingNeedsTheVMOff(t *testing.T) {
	p := load(t, `applications:
  - {name: plain, strategy: remediate, vms: [a-1, {name: a-2, powerState: poweredOff}]}
  - {name: hot, strategy: remediate, vms: [{name: h-1, hotAdd: true}, h-2], remediate: {cpus: 4}}
  - {name: hw, strategy: remediate, vms: [w-1], remediate: {hardwareVersion: vmx-19}}
  - {name: hwlater, strategy: remediate, vms: [l-1], remediate: {hardwareVersion: vmx-19, hardwareUpgrade: nextReboot}}
  - {name: forced, strategy: remediate, move: cold, vms: [f-1]}
waves: [{name: w, applications: [plain, hot, hw, hwlater, forced]}]
`)
	const live = "record-state snapshot relocate switch-over* verify remove-snapshot"
	const cold = "record-state snapshot power-off* reconfigure* relocate* power-on* verify* remove-snapshot"
	cases := []struct {
		app, unit, want, why string
	}{
		{"plain", "a-1", live, "nothing needs it off"},
		// Off, it moves cold, and takes no service down doing so.
		{"plain", "a-2", "record-state snapshot power-off reconfigure relocate power-on verify remove-snapshot", "powered off"},
		{"hot", "h-1", "record-state snapshot reconfigure relocate switch-over* verify remove-snapshot", "hot-add"},
		{"hot", "h-2", "record-state snapshot power-off* reconfigure* relocate* power-on* verify* remove-snapshot", "needs hot-add"},
		{"hw", "w-1", "record-state snapshot power-off* upgrade-hardware* reconfigure* relocate* power-on* verify* remove-snapshot", "needs it off"},
		{"hwlater", "l-1", "record-state snapshot upgrade-hardware relocate switch-over* verify remove-snapshot", "vmx-19 at its next reboot"},
		{"forced", "f-1", cold, "move: cold"},
	}
	for _, c := range cases {
		t.Run(c.app+"/"+c.unit, func(t *testing.T) {
			a := p.Application(c.app)
			if got := kinds(strategy.Steps(a), c.unit); got != c.want {
				t.Errorf("steps = %q, want %q", got, c.want)
			}
			var ref *plan.VMRef
			for _, v := range a.VMs {
				if v.Name == c.unit {
					ref = v
				}
			}
			if m := strategy.MoveOf(a, ref); !strings.Contains(m.Why, c.why) {
				t.Errorf("move %v, want the reason to say %q", m, c.why)
			}
		})
	}
}

func TestPlanWideHooksRunBeforeTheApplicationsOwn(t *testing.T) {
	p := load(t, `applications:
  - {name: d, strategy: redeploy, template: tpl, vms: [web-1], hooks: {pre: ["echo app"]}}
waves: [{name: w, applications: [d]}]
`)
	a := p.Application("d")
	if got := strings.Join(a.AllHooks.Pre, ";"); got != "echo plan-wide;echo app" {
		t.Errorf("pre hooks = %q", got)
	}
	if steps := strategy.Steps(a); steps[0].Kind != plan.StepPreHook || !strings.Contains(steps[0].Description, "2 pre hook") {
		t.Errorf("first step = %+v, want a pre-hook step running both hooks", steps[0])
	}
}

func TestEstimatesComeFromTheApplicationThenThePlanThenTheDefault(t *testing.T) {
	p := load(t, `estimates: {clone: 20m, relocate: 40m}
applications:
  - {name: d, strategy: redeploy, template: tpl, vms: [web-1], estimates: {clone: 5m}}
waves: [{name: w, applications: [d]}]
`)
	a := p.Application("d")
	for kind, want := range map[string]string{plan.StepClone: "5m0s", plan.StepRelocate: "40m0s", plan.StepVerify: "3m0s"} {
		if got := strategy.Estimate(p, a, kind).String(); got != want {
			t.Errorf("estimate of %s = %s, want %s", kind, got, want)
		}
	}
}
