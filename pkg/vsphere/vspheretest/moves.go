package vspheretest

// Live and cross-vCenter moves. A live move (a powered-on VM relocated)
// must leave the VM running throughout: vCenter's event history for the VM
// shows no power-off, guest shutdown, suspend or reset during it. A
// cross-vCenter move must leave the VM once in the peer vCenter, with its
// markers and power state, and gone from this one.

import (
	"context"
	"testing"
	"time"

	"github.com/vmware/govmomi/event"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/wavectl/wavectl/pkg/vsphere"
)

// Peer is a second vCenter the fixture's driver can move VMs to (the
// driver was told of it, e.g. with Govmomi.AddPeer).
type Peer struct {
	// Name is the peer's name as the driver knows it (RelocateSpec.VCenter).
	Name   string
	Driver vsphere.Driver
	// Target is a full placement in the peer, and Portgroup a network
	// there that Network's NICs are remapped to.
	Target    vsphere.Placement
	Portgroup string
}

// RunMoves runs the live-move and cross-vCenter cases on their own, for
// drivers whose fixture cannot offer the whole suite (Run includes them).
func RunMoves(t *testing.T, setup func(t *testing.T) Fixture) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, f *Fixture)
	}{
		{"LiveRelocate", testLiveRelocate},
		{"CrossVCenterRelocate", testCrossVCenter},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t)
			tc.fn(t, &f)
		})
	}
}

// stops are the events of a VM going down.
var stops = []string{"VmPoweredOffEvent", "VmGuestShutdownEvent", "VmSuspendedEvent", "VmResettingEvent", "VmGuestRebootEvent"}

// stopEvents counts the VM's events of going down since since.
func stopEvents(t *testing.T, c *vim25.Client, ref string, since time.Time) int {
	t.Helper()
	m := event.NewManager(c)
	obj := types.ManagedObjectReference{Type: "VirtualMachine", Value: ref}
	events, err := m.QueryEvents(context.Background(), types.EventFilterSpec{
		Entity:      &types.EventFilterSpecByEntity{Entity: obj, Recursion: types.EventFilterSpecRecursionOptionSelf},
		EventTypeId: stops,
	})
	if err != nil {
		t.Fatalf("events of %s: %v", ref, err)
	}
	n := 0
	for _, e := range events {
		if !e.GetEvent().CreatedTime.Before(since) {
			n++
		}
	}
	return n
}

func testLiveRelocate(t *testing.T, f *Fixture) {
	if f.OtherHost == "" && f.OtherDatastore == "" {
		t.Skip("the fixture has no other host or datastore to move to")
	}
	ctx := ctxFor(t)
	vm := f.cloneOn(t, "live")
	if vm.PowerState != vsphere.PoweredOn {
		t.Fatalf("the clone is %s, want powered on", vm.PowerState)
	}
	since := time.Now().Add(-time.Second)
	spec := vsphere.RelocateSpec{Target: vsphere.Placement{Host: f.OtherHost, Datastore: f.OtherDatastore}, Networks: map[string]string{f.Network: f.Portgroup}}
	if mc, ok := f.Driver.(vsphere.MoveChecker); ok {
		reasons, err := mc.CheckMove(ctx, vm.Ref, spec, true)
		if err != nil || len(reasons) > 0 {
			t.Fatalf("vCenter's checks of a compatible live move: %v, %v", reasons, err)
		}
	}
	if err := f.Driver.Relocate(ctx, vm.Ref, spec); err != nil {
		t.Fatal(err)
	}
	got := f.read(t, vm.Ref)
	if got.PowerState != vsphere.PoweredOn || (f.OtherHost != "" && got.Host != f.OtherHost) || got.Networks[0] != f.Portgroup {
		t.Errorf("after the live move: %s on %s, NICs %v; want powered on, on %s, NIC on %s", got.PowerState, got.Host, got.Networks, f.OtherHost, f.Portgroup)
	}
	if f.Client != nil {
		if n := stopEvents(t, f.Client, vm.Ref, since); n != 0 {
			t.Errorf("vCenter recorded %d power-off, shutdown, suspend or reset events during a live move", n)
		}
	}
}

func testCrossVCenter(t *testing.T, f *Fixture) {
	if f.Peer == nil {
		t.Skip("the fixture has no second vCenter")
	}
	ctx := ctxFor(t)
	p := f.Peer
	src := f.find(t, f.Datacenter, f.SourceVM)
	name := f.name("xvc")
	vm, err := f.Driver.Clone(ctx, vsphere.CloneSpec{Source: src.Ref, Name: name,
		Target:  vsphere.Placement{Datacenter: f.Datacenter, Cluster: f.Cluster, Host: f.Host, Datastore: f.Datastore},
		Markers: map[string]string{vsphere.MarkerPlan: "suite"}, PowerOn: true})
	if err != nil {
		t.Fatalf("clone %s: %v", f.SourceVM, err)
	}
	spec := vsphere.RelocateSpec{VCenter: p.Name, Target: p.Target, Networks: map[string]string{f.Network: p.Portgroup}}
	if mc, ok := f.Driver.(vsphere.MoveChecker); ok {
		if reasons, err := mc.CheckMove(ctx, vm.Ref, spec, true); err != nil || len(reasons) > 0 {
			t.Fatalf("vCenter's checks of a compatible cross-vCenter move: %v, %v", reasons, err)
		}
	}
	if err := f.Driver.Relocate(ctx, vm.Ref, spec); err != nil {
		t.Fatalf("cross-vCenter relocate: %v", err)
	}
	if left, _ := f.Driver.FindVMs(ctx, f.Datacenter, name); len(left) != 0 {
		t.Errorf("%s is still in the source vCenter", name)
	}
	there, err := p.Driver.FindVMs(ctx, p.Target.Datacenter, name)
	if err != nil || len(there) != 1 {
		t.Fatalf("%s in the peer: %d copies, %v", name, len(there), err)
	}
	moved := there[0]
	t.Cleanup(func() {
		_ = p.Driver.PowerOff(context.Background(), moved.Ref)
		if err := p.Driver.Destroy(context.Background(), moved.Ref); err != nil {
			t.Errorf("cleanup: destroy %s in the peer: %v", moved.Ref, err)
		}
	})
	if moved.PowerState != vsphere.PoweredOn || moved.Markers[vsphere.MarkerPlan] != "suite" || moved.Cluster != p.Target.Cluster ||
		len(moved.Networks) == 0 || moved.Networks[0] != p.Portgroup {
		t.Errorf("arrived as %+v: want powered on, marked, in cluster %s, NIC on %s", moved, p.Target.Cluster, p.Portgroup)
	}
	// Asking again is refused, not done twice: the VM is not here any more.
	if err := f.Driver.Relocate(ctx, vm.Ref, spec); !vsphere.IsNotFound(err) {
		t.Errorf("moving it again from the source: %v, want not found", err)
	}
}

// cloneOn makes a powered-on VM from SourceVM (Template when the fixture
// has one) and destroys it when the test ends.
func (f *Fixture) cloneOn(t *testing.T, what string) *vsphere.VM {
	t.Helper()
	if f.Template != "" {
		return f.clone(t, what, true)
	}
	src := f.find(t, f.Datacenter, f.SourceVM)
	vm, err := f.Driver.Clone(ctxFor(t), vsphere.CloneSpec{Source: src.Ref, Name: f.name(what),
		Target:  vsphere.Placement{Datacenter: f.Datacenter, Cluster: f.Cluster, Host: f.Host, Datastore: f.Datastore},
		Markers: map[string]string{vsphere.MarkerPlan: "suite"}, PowerOn: true})
	if err != nil {
		t.Fatalf("clone %s: %v", f.SourceVM, err)
	}
	t.Cleanup(func() {
		_ = f.Driver.PowerOff(context.Background(), vm.Ref)
		if err := f.Driver.Destroy(context.Background(), vm.Ref); err != nil {
			t.Errorf("cleanup: destroy %s: %v", vm.Ref, err)
		}
	})
	return vm
}

// StopEvents counts a VM's power-off, shutdown, suspend and reset events
// since a time: what a live move must not add.
func StopEvents(t *testing.T, c *vim25.Client, ref string, since time.Time) int {
	return stopEvents(t, c, ref, since)
}
