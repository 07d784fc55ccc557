package strategy_test

import (
	"errors"
	"testing"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/strategy"
)

// A ref recorded in the state names another VM (a vCenter restored from a
// backup, or a restarted simulator, renumbered them): the step refuses,
// and the VM at that ref, another application's, is left as it was.
func TestAStepRefusesTheVMAtARecordedRefThatIsNotTheUnits(t *testing.T) {
	w := newWorld(t, actionsPlan, nil)
	a := w.p.Application("remed")
	for _, st := range strategy.Steps(a) {
		if st.Unit != "app-01" || st.Kind == plan.StepPowerOff {
			break
		}
		if _, err := w.step(a, st); err != nil {
			t.Fatalf("%s: %v", st.Kind, err)
		}
	}
	out := w.outputs["remed/app-01"]
	if out[strategy.OutSourceUUID] == "" || out[strategy.OutSourceMarked] != "true" {
		t.Fatalf("record-state and snapshot recorded no identity: %v", out)
	}
	// Another application's VM now answers to app-01's recorded ref.
	other := at(t, w.inventory(), "/DC-OLD/vm/web-01")
	out[strategy.OutSource] = other.Ref
	_, err := w.step(a, strategy.Step{Kind: plan.StepPowerOff, Unit: "app-01", Phase: 1})
	var ie *strategy.IdentityError
	if !errors.As(err, &ie) {
		// Found by its instance UUID instead: allowed, if it acted on app-01.
		if err != nil {
			t.Fatalf("power-off: %v; want an IdentityError or app-01 found by its UUID", err)
		}
		if out[strategy.OutSource] == other.Ref {
			t.Fatal("power-off acted on web-01's ref")
		}
	}
	if vm := at(t, w.inventory(), "/DC-OLD/vm/web-01"); vm.Power != "poweredOn" || len(vm.Markers) != 0 {
		t.Errorf("web-01, another application's VM, was changed: %+v", *vm)
	}
}

// The same ref reused, with the unit's own VM still in vCenter under
// another id: it is found by its instance UUID and the step acts on it.
func TestAStepFindsItsVMByInstanceUUIDWhenItsRefChanged(t *testing.T) {
	w := newWorld(t, actionsPlan, nil)
	a := w.p.Application("remed")
	for _, kind := range []string{plan.StepRecordState, plan.StepSnapshot} {
		if _, err := w.step(a, strategy.Step{Kind: kind, Unit: "app-01", Phase: 1}); err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
	}
	out := w.outputs["remed/app-01"]
	real := out[strategy.OutSource]
	out[strategy.OutSource] = "vm-99999" // an id no VM has
	if _, err := w.step(a, strategy.Step{Kind: plan.StepPowerOff, Unit: "app-01", Phase: 1}); err != nil {
		t.Fatalf("power-off: %v", err)
	}
	if out[strategy.OutSource] != real {
		t.Errorf("source is %s after the lookup, want %s", out[strategy.OutSource], real)
	}
	if vm := at(t, w.inventory(), "/DC-OLD/vm/app-01"); vm.Power != "poweredOff" {
		t.Errorf("app-01 is %s; want it powered off", vm.Power)
	}
}

// The recorded id of a VM wavectl made now names another VM: a step on the
// new VM finds its own by wavectl's markers, and leaves the other alone.
func TestAStepOnTheNewVMNeverTakesAnotherVMAtItsRecordedRef(t *testing.T) {
	w := newWorld(t, actionsPlan, nil)
	a := w.p.Application("redep")
	if _, err := w.step(a, strategy.Step{Kind: plan.StepClone, Unit: "web-01", Phase: 1}); err != nil {
		t.Fatalf("clone: %v", err)
	}
	out := w.outputs["redep/web-01"]
	own := out[strategy.OutVM]
	other := at(t, w.inventory(), "/DC-OLD/vm/batch-01") // powered off, another application's
	out[strategy.OutVM] = other.Ref
	if _, err := w.step(a, strategy.Step{Kind: plan.StepPowerOn, Unit: "web-01", Phase: 1}); err != nil {
		t.Fatalf("power-on: %v", err)
	}
	if out[strategy.OutVM] != own {
		t.Errorf("the unit's VM is %s after power-on, want its own %s", out[strategy.OutVM], own)
	}
	if vm := at(t, w.inventory(), "/DC-OLD/vm/batch-01"); vm.Power != "poweredOff" || len(vm.Markers) != 0 {
		t.Errorf("batch-01, another application's VM, was changed: %+v", *vm)
	}
}
