package state

import (
	"fmt"
	"testing"
	"time"
)

// checkpointAlways makes the stores of a test replace the state file at
// every commit, for tests of the file's own handling (backup, mode, atomic
// replacement); the journal keeps every change either way.
func checkpointAlways(t *testing.T) {
	prev := checkpointEvery
	checkpointEvery = 0
	t.Cleanup(func() { checkpointEvery = prev })
}

var t0 = time.Date(2019, 3, 2, 20, 0, 0, 0, time.UTC)

func at(min int) *time.Time {
	t := t0.Add(time.Duration(min) * time.Minute)
	return &t
}

// sampleState is a small record that uses every field of the format, for
// the golden file that pins it.
// sampleStateV2 is sampleState as a file of format 1 or 2 gives it after
// the migration: those formats knew no vCenter identities.
func sampleStateV2() *State {
	st := sampleState()
	st.VCenters = nil
	return st
}

func sampleState() *State {
	ended := at(95)
	return &State{
		FormatVersion: FormatVersion,
		Plan:          "crown-hosting",
		PlanFile:      "plans/crown-hosting.yaml",
		PlanHash:      "9f2c1a7e0b5d4c3f8e6a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6a",
		Lineage:       "5b0e3f1c9a7d4e2b8c6f0a1d3e5b7c9f",
		Serial:        42,
		VCenters:      map[string]VCenter{"crown": {InstanceUUID: "dbed6e0c-91e2-4d2a-a2c3-6b2e5e4f7a10"}},
		Created:       t0.Add(-time.Minute),
		Updated:       *ended,
		Runs: []*Run{{
			Command: "apply", Args: []string{"--wave", "wave-1"}, Options: RunOptions{Waves: []string{"wave-1"}},
			Host: "jump-01", User: "alice", PID: 4242,
			Started: t0, Ended: ended, Result: "failed", Note: "1 application failed",
		}},
		Apps: []*App{
			{
				Name: "pension-calc", Wave: "wave-1", Strategy: "remediate", Users: 4200,
				Status: Failed, Reason: "relocate of pcalc-app-01 failed: Insufficient disk space on datastore 'ds-gold-01'.",
				Started: at(0), Ended: at(90),
				Units: []*Unit{
					{Name: "", Status: Done, Steps: []*Step{
						{Kind: "pre-hook", Status: Done, Attempts: 1, Started: at(0), Ended: at(1)},
					}},
					{Name: "pcalc-app-01", Status: Failed,
						Outputs: map[string]string{"source": "vm-101", "powerState": "poweredOn", "snapshot": "snapshot-7"},
						Steps: []*Step{
							{Kind: "snapshot", Phase: 1, Status: Done, Attempts: 1, Started: at(1), Ended: at(2)},
							{Kind: "relocate", Phase: 1, Status: Failed, Attempts: 3, Started: at(2), Ended: at(90),
								Error:   "Insufficient disk space on datastore 'ds-gold-01'.",
								Retried: []string{"The operation is not allowed in the current state.", "Host is in maintenance mode"}},
						}},
				},
				Hooks: []HookRun{{Kind: "pre", Command: "./checks/drain.sh", ExitCode: 0, Output: "draining\nok\n",
					Started: *at(0), Ended: *at(1)}},
			},
			{
				Name: "fax-gateway", Conveyor: true, Strategy: "replace", Users: 40,
				Status: Done, Started: at(3), Ended: at(20),
				Units: []*Unit{{Name: "fax-legacy-01", Status: Done, Outputs: map[string]string{"retiredAt": "2019-03-02T20:20:00Z"},
					Steps: []*Step{
						{Kind: "retire", Phase: 2, Status: Done, Attempts: 1, Started: at(19), Ended: at(20)},
						{Kind: "decommission", Phase: 2, Status: Deferred, NotBefore: at(30 * 24 * 60)},
					}}},
				Hooks: []HookRun{{Kind: "verify", Unit: "fax-gw-01", Command: "./checks/fax.sh", ExitCode: 2,
					Output: "dialling\nno carrier\n", Error: "exit status 2", Started: *at(10), Ended: *at(11)}},
			},
		},
	}
}

// stepKinds is remediate's step list: 8 steps a VM, as in the reference
// programme.
var stepKinds = []string{"record-state", "snapshot", "power-off", "upgrade-hardware", "relocate", "power-on", "verify", "remove-snapshot"}

// bigState is a record the size of the reference programme: apps x
// unitsPerApp units of 8 steps each, half of them done, with the outputs
// and times a real run leaves.
func bigState(apps, unitsPerApp int) *State {
	st := NewState("crown-hosting", "plans/crown-hosting.yaml", "9f2c1a7e0b5d4c3f8e6a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6a")
	st.Runs = append(st.Runs, &Run{Command: "apply", Host: "jump-01", User: "alice", PID: 4242, Started: t0, Result: "running"})
	for a := range apps {
		app := &App{Name: fmt.Sprintf("app-%02d", a), Wave: fmt.Sprintf("wave-%d", a/10+1), Strategy: "remediate",
			Users: 100 * (a + 1), Status: Running, Started: at(a)}
		for u := range unitsPerApp {
			unit := &Unit{Name: fmt.Sprintf("app%02d-vm-%03d", a, u), Status: Running,
				Outputs: map[string]string{"source": fmt.Sprintf("vm-%d", 1000+a*100+u), "powerState": "poweredOn",
					"host": "host-" + fmt.Sprint(u%40), "datastore": "datastore-12", "folder": "group-v22",
					"resourcePool": "resgroup-8", "datacenter": "datacenter-2"}}
			for k, kind := range stepKinds {
				s := &Step{Kind: kind, Phase: 1, Status: Pending}
				if k < 4 {
					s.Status, s.Attempts, s.Started, s.Ended = Done, 1, at(a+k), at(a+k+1)
				}
				unit.Steps = append(unit.Steps, s)
			}
			app.Units = append(app.Units, unit)
		}
		st.Apps = append(st.Apps, app)
	}
	return st
}
