package vsphere_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/wavectl/wavectl/pkg/vsphere"
)

// vcenterState is every VM of the simulator as the property collector
// sees it: name, place, power, hardware version, CPUs, memory, networks,
// snapshot count and extraConfig, one line per VM, sorted.
func vcenterState(t *testing.T, c *vim25.Client) []string {
	t.Helper()
	ctx := context.Background()
	v, err := view.NewManager(c).CreateContainerView(ctx, c.ServiceContent.RootFolder, []string{"VirtualMachine"}, true)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = v.Destroy(ctx) }()
	var vms []mo.VirtualMachine
	err = v.Retrieve(ctx, []string{"VirtualMachine"}, []string{
		"name", "parent", "runtime.powerState", "runtime.host", "datastore", "network",
		"config.version", "config.hardware.numCPU", "config.hardware.memoryMB", "config.extraConfig", "config.template", "snapshot",
	}, &vms)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range vms {
		snaps := 0
		if m.Snapshot != nil {
			var count func([]types.VirtualMachineSnapshotTree)
			count = func(tree []types.VirtualMachineSnapshotTree) {
				for _, s := range tree {
					snaps++
					count(s.ChildSnapshotList)
				}
			}
			count(m.Snapshot.RootSnapshotList)
		}
		var ec []string
		for _, o := range m.Config.ExtraConfig {
			ov := o.GetOptionValue()
			ec = append(ec, fmt.Sprintf("%s=%v", ov.Key, ov.Value))
		}
		sort.Strings(ec)
		out = append(out, fmt.Sprintf("%s %s parent=%s power=%s host=%s ds=%v net=%v version=%s cpus=%d mem=%d template=%v snapshots=%d extraConfig=%v",
			m.Self.Value, m.Name, m.Parent.Value, m.Runtime.PowerState, m.Runtime.Host.Value, m.Datastore, m.Network,
			m.Config.Version, m.Config.Hardware.NumCPU, m.Config.Hardware.MemoryMB, m.Config.Template, snaps, ec))
	}
	sort.Strings(out)
	return out
}

// readCalls are the only SOAP methods a read-only run may send.
var readCalls = []string{
	"RetrievePropertiesEx", "ContinueRetrievePropertiesEx", "CreateContainerView", "DestroyView",
	"CreatePropertyCollector", "DestroyPropertyCollector", "CreateFilter", "DestroyPropertyFilter",
	"WaitForUpdatesEx", "CancelWaitForUpdates",
}

func TestReadOnlyRefusesEveryChangeAndPassesReadsThrough(t *testing.T) {
	s := newSim(t, nil)
	ctx := context.Background()
	s.folder(t, "DC0", "migrated")
	s.portgroup(t, "DC0", "DC0_DVPG1")
	vm := s.vm(t, "DC0", "DC0_C0_RP0_VM0")
	s.guest(t, vm, "10.0.0.42")
	off := s.vm(t, "DC0", "DC0_C0_RP0_VM1")
	wait(t)(off.PowerOff(ctx))
	wait(t)(off.CreateSnapshot(ctx, "before", "", false, false))
	wait(t)(off.Reconfigure(ctx, types.VirtualMachineConfigSpec{ExtraConfig: []types.BaseOptionValue{
		&types.OptionValue{Key: vsphere.MarkerPlan, Value: "p"},
	}}))

	inner := vsphere.NewGovmomi("sim", s.client.Client)
	ro := vsphere.NewReadOnly(inner)
	before := vcenterState(t, s.client.Client)

	// From here on, only reads may reach the simulator.
	rt := &recorder{RoundTripper: s.client.Client.RoundTripper}
	s.client.Client.RoundTripper = rt

	// Reads pass through and give what the driver itself gives.
	same := func(what string, a, b any, errA, errB error) {
		t.Helper()
		if errA != nil || errB != nil {
			t.Fatalf("%s: read-only %v, driver %v", what, errA, errB)
		}
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s differs through the read-only driver:\n%+v\n%+v", what, a, b)
		}
	}
	if ro.Name() != inner.Name() {
		t.Errorf("name %q, want %q", ro.Name(), inner.Name())
	}
	invA, errA := ro.Inventory(ctx, "DC0")
	invB, errB := inner.Inventory(ctx, "DC0")
	same("Inventory", invA, invB, errA, errB)
	ref := vm.Reference().Value
	offRef := off.Reference().Value
	vmA, errA := ro.VM(ctx, ref)
	vmB, errB := inner.VM(ctx, ref)
	same("VM", vmA, vmB, errA, errB)
	fA, errA := ro.FindVMs(ctx, "DC0", "DC0_C0_RP0_VM1")
	fB, errB := inner.FindVMs(ctx, "DC0", "DC0_C0_RP0_VM1")
	same("FindVMs", fA, fB, errA, errB)
	mA, errA := ro.FindByMarker(ctx, "DC0", vsphere.MarkerPlan, "p")
	mB, errB := inner.FindByMarker(ctx, "DC0", vsphere.MarkerPlan, "p")
	same("FindByMarker", mA, mB, errA, errB)
	if len(mA) != 1 || mA[0].Ref != offRef {
		t.Errorf("FindByMarker found %v, want %s", mA, offRef)
	}
	ipA, errA := ro.WaitForIP(ctx, ref, time.Minute)
	ipB, errB := inner.WaitForIP(ctx, ref, time.Minute)
	same("WaitForIP", ipA, ipB, errA, errB)
	if _, err := ro.VM(ctx, "vm-999999"); !errors.Is(err, vsphere.ErrNotFound) {
		t.Errorf("a missing VM through the read-only driver: %v, want ErrNotFound", err)
	}

	// Every change is refused and recorded, whatever it asks.
	target := vsphere.Placement{Datacenter: "DC0", Cluster: "DC0_C0", Host: "DC0_C0_H1", Datastore: "LocalDS_1", Folder: "migrated"}
	changes := []struct {
		op string
		do func() error
	}{
		{"clone", func() error {
			_, err := ro.Clone(ctx, vsphere.CloneSpec{Source: ref, Name: "new", Target: target, PowerOn: true, Networks: map[string]string{"DC0_DVPG0": "DC0_DVPG1"}})
			return err
		}},
		{"create", func() error {
			_, err := ro.Create(ctx, vsphere.CreateSpec{Name: "new2", Target: target, CPUs: 1, MemoryMB: 64, DisksGB: []int{1}, Networks: []string{"DC0_DVPG1"}})
			return err
		}},
		{"import", func() error {
			_, err := ro.Import(ctx, vsphere.ImportSpec{Name: "new3", Path: tinyOVA(t), Target: target})
			return err
		}},
		{"relocate", func() error { return ro.Relocate(ctx, ref, vsphere.RelocateSpec{Target: target}) }},
		{"reconfigure", func() error { return ro.Reconfigure(ctx, ref, vsphere.ReconfigureSpec{CPUs: 8, MemoryMB: 8192}) }},
		{"upgrade-hardware", func() error { return ro.UpgradeHardware(ctx, offRef, "vmx-15") }},
		{"power-on", func() error { return ro.PowerOn(ctx, offRef) }},
		{"power-off", func() error { return ro.PowerOff(ctx, ref) }},
		{"shutdown", func() error { return ro.Shutdown(ctx, ref, time.Second) }},
		{"snapshot", func() error { _, err := ro.CreateSnapshot(ctx, ref, "s", ""); return err }},
		{"revert-snapshot", func() error { return ro.RevertSnapshot(ctx, offRef, "before") }},
		{"remove-snapshot", func() error { return ro.RemoveSnapshot(ctx, offRef, "before") }},
		{"rename", func() error { return ro.Rename(ctx, ref, "renamed") }},
		{"move", func() error { return ro.MoveToFolder(ctx, ref, "DC0", "migrated") }},
		{"destroy", func() error { return ro.Destroy(ctx, ref) }},
		{"set-markers", func() error { return ro.SetMarkers(ctx, ref, map[string]string{vsphere.MarkerStep: "x"}) }},
	}
	var ops []string
	for _, c := range changes {
		err := c.do()
		var f *vsphere.Fault
		if !errors.Is(err, vsphere.ErrReadOnly) || errors.As(err, &f) {
			t.Errorf("%s: %v, want ErrReadOnly", c.op, err)
		}
		ops = append(ops, c.op)
	}
	var recorded []string
	for _, c := range ro.Changes() {
		recorded = append(recorded, c.Op)
	}
	if !slices.Equal(recorded, ops) {
		t.Errorf("recorded changes %v, want %v", recorded, ops)
	}

	for _, call := range rt.names {
		if !slices.Contains(readCalls, call) {
			t.Errorf("the read-only run sent %s", call)
		}
	}
	s.client.Client.RoundTripper = rt.RoundTripper
	after := vcenterState(t, s.client.Client)
	if !slices.Equal(before, after) {
		t.Errorf("vCenter changed under the read-only driver:\nbefore:\n%s\nafter:\n%s", strings.Join(before, "\n"), strings.Join(after, "\n"))
	}
	if len(before) == 0 {
		t.Fatal("no VMs read")
	}
}
