package sim

import (
	"context"
	"testing"
	"time"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// The strategies' steps, run against the seeded demo plan as a driver
// would: none may crash the simulator, and each leaves what vCenter would.
func TestStrategyStepsRunAgainstTheSeededPlan(t *testing.T) {
	ctx := context.Background()
	_, c := start(t, loadPlan(t, "../../../examples/demo.yaml"), Options{})
	f := find.NewFinder(c.Client)
	ct := demoTarget(t, ctx, c)
	pg, err := f.Network(ctx, "/DC1/network/pg-db-120")
	must(t, "portgroup", err)
	backing, err := pg.EthernetCardBackingInfo(ctx)
	must(t, "backing", err)
	// remapNIC moves a VM's first NIC to pg-db-120.
	remapNIC := func(t *testing.T, vm *object.VirtualMachine) []types.BaseVirtualDeviceConfigSpec {
		devices, err := vm.Device(ctx)
		must(t, "devices", err)
		nic := devices.SelectByType((*types.VirtualEthernetCard)(nil))[0]
		nic.GetVirtualDevice().Backing = backing
		return []types.BaseVirtualDeviceConfigSpec{&types.VirtualDeviceConfigSpec{
			Operation: types.VirtualDeviceConfigSpecOperationEdit, Device: nic,
		}}
	}
	waitIP := func(t *testing.T, vm *object.VirtualMachine) string {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		ip, err := vm.WaitForIP(wctx)
		must(t, "wait for IP", err)
		return ip
	}

	t.Run("remediate", func(t *testing.T) {
		vm := vmAt(t, ctx, c, "/DC-OLD/vm/ccm-app-01")
		must(t, "snapshot", done(vm.CreateSnapshot(ctx, "wavectl-pre", "", false, false)))
		// Across datacenters, no host named, NIC remapped in the same spec.
		must(t, "relocate", done(vm.Relocate(ctx, types.VirtualMachineRelocateSpec{
			Pool: &ct.pool, Datastore: &ct.ds, Folder: types.NewReference(ct.folder.Reference()),
			DeviceChange: remapNIC(t, vm),
		}, types.VirtualMachineMovePriorityDefaultPriority)))
		var m mo.VirtualMachine
		must(t, "read", vm.Properties(ctx, vm.Reference(), []string{"parent", "runtime.host", "network"}, &m))
		if *m.Parent != ct.folder.Reference() {
			t.Errorf("relocated VM is in %v", m.Parent)
		}
		onTarget := false
		for _, h := range ct.hosts {
			onTarget = onTarget || h.Reference() == *m.Runtime.Host
		}
		if !onTarget {
			t.Errorf("relocated VM runs on %v, not a C1-Gold host", m.Runtime.Host)
		}
		must(t, "power off", done(vm.PowerOff(ctx)))
		must(t, "upgrade", done(vm.UpgradeVM(ctx, "vmx-19")))
		must(t, "reconfigure", done(vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{NumCPUs: 8, MemoryMB: 32768})))
		must(t, "power on", done(vm.PowerOn(ctx)))
		waitIP(t, vm)
		must(t, "remove snapshot", done(vm.RemoveAllSnapshot(ctx, nil)))
		must(t, "snapshot again", done(vm.CreateSnapshot(ctx, "again", "", false, false)))
		snap, err := vm.FindSnapshot(ctx, "again")
		must(t, "find snapshot", err)
		must(t, "remove one snapshot", done(vm.RemoveSnapshot(ctx, snap.Value, false, nil)))
	})

	t.Run("redeploy", func(t *testing.T) {
		tpl := vmAt(t, ctx, c, "/DC1/vm/templates/tpl-rhel9-web")
		spec := types.VirtualMachineCloneSpec{
			Location: types.VirtualMachineRelocateSpec{Pool: &ct.pool, Datastore: &ct.ds, DeviceChange: remapNIC(t, tpl)},
			Config: &types.VirtualMachineConfigSpec{ExtraConfig: []types.BaseOptionValue{
				&types.OptionValue{Key: "guestinfo.wavectl.plan", Value: "demo"},
			}},
			Customization: &types.CustomizationSpec{
				Identity: &types.CustomizationLinuxPrep{HostName: &types.CustomizationFixedName{Name: "portal-web-01"}, Domain: "example.gov"},
				NicSettingMap: []types.CustomizationAdapterMapping{{Adapter: types.CustomizationIPSettings{
					Ip: &types.CustomizationFixedIp{IpAddress: "10.20.30.40"}, SubnetMask: "255.255.255.0",
				}}},
			},
			PowerOn: true,
		}
		must(t, "clone", done(tpl.Clone(ctx, ct.folder, "portal-web-01", spec)))
		vm := vmAt(t, ctx, c, "/DC1/vm/migrated/portal-web-01")
		if ip := waitIP(t, vm); ip != "10.20.30.40" {
			t.Errorf("clone has IP %s, want the customised 10.20.30.40", ip)
		}
		old := vmAt(t, ctx, c, "/DC-OLD/vm/portal-web-01")
		must(t, "power off the old VM", done(old.PowerOff(ctx)))
	})

	t.Run("replace", func(t *testing.T) {
		old := vmAt(t, ctx, c, "/DC-OLD/vm/fax-legacy-01")
		must(t, "power off", done(old.PowerOff(ctx)))
		retired, err := f.Folder(ctx, "/DC-OLD/vm/wavectl-retired")
		must(t, "retirement folder", err)
		must(t, "retire", done(retired.MoveInto(ctx, []types.ManagedObjectReference{old.Reference()})))
		must(t, "rename", done(old.Rename(ctx, "fax-legacy-01-retired")))
		must(t, "destroy", done(old.Destroy(ctx)))
		if _, err := f.VirtualMachine(ctx, "/DC-OLD/vm/wavectl-retired/fax-legacy-01-retired"); err == nil {
			t.Error("destroyed VM still found")
		}
	})
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}
