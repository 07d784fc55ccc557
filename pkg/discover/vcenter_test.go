package discover

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vapi/rest"
	"github.com/vmware/govmomi/vapi/tags"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/schedule"
	"github.com/wavectl/wavectl/pkg/vsphere/sim"
)

// estatePlan is a plan whose only job is to seed the simulator with the
// fixture's estate (source VMs with their sizes, guests, hardware, networks
// and power) and with the target discover's rules name (DC1, its cluster,
// datastore, portgroups and templates), so that the discovered plan can
// be applied to the same simulator.
func estatePlan() []byte {
	var b bytes.Buffer
	b.WriteString(`# Seeds the simulator for the discover tests: the estate of
# rvtools-vinfo.csv in DC-OLD, and the target that examples/discover/rules.yaml
# names. Written by the generator in pkg/discover/vcenter_test.go (-update).
apiVersion: wavectl/v1
kind: MigrationPlan
metadata: {name: discover-estate}
vcenters: {legacy: {url: https://vc-legacy.example.gov/sdk}}
source: {vcenter: legacy, datacenter: DC-OLD}
target:
  datacenter: DC1
  cluster: C1-Gold
  datastore: ds-gold-01
  folder: migrated
  networks:
`)
	r, _ := LoadRules("../../examples/discover/rules.yaml")
	for _, k := range slices.Sorted(maps.Keys(r.Target.Networks)) {
		fmt.Fprintf(&b, "    %s: %s\n", k, r.Target.Networks[k])
	}
	b.WriteString("applications:\n")
	b.WriteString("  - name: estate\n    strategy: remediate\n    vms:\n")
	for _, e := range estate {
		if e.template {
			continue
		}
		nets := e.net1
		if e.net2 != "" {
			nets += ", " + e.net2
		}
		power := "poweredOn"
		if e.power != "poweredOn" {
			power = "poweredOff"
		}
		fmt.Fprintf(&b, "      - {name: %s, cpus: %d, memoryMB: %d, disksGB: [%d], networks: [%s], powerState: %s, guestId: %s, hardwareVersion: vmx-%02d}\n",
			e.vm, e.cpus, e.memMB, gbOf(float64(e.diskMiB)), nets, power, guestIDOf(e.os), e.hw)
	}
	// Templates the rules clone from are seeded by applications that use them.
	b.WriteString(`  - name: templates-win
    strategy: redeploy
    template: tpl-win2022
    vms: [{name: tpl-seed-win, powerState: poweredOff}]
  - name: templates-fax
    strategy: replace
    vms: [{name: tpl-seed-fax, powerState: poweredOff}]
    replacement: {template: tpl-fax-cloud, name: tpl-seed-fax-new}
  - name: templates-rhel
    strategy: redeploy
    template: tpl-rhel9
    vms: [{name: tpl-seed-rhel, powerState: poweredOff}]
waves:
  - name: all
    applications: [estate, templates-win, templates-fax, templates-rhel]
`)
	return b.Bytes()
}

// seedEstate starts a simulator holding the estate, and tags and
// attributes its VMs as the fixture says: tag category Application, custom
// attributes Criticality, Users and DependsOn.
func seedEstate(t *testing.T) (*sim.Sim, VCenterSource) {
	t.Helper()
	p, _, err := plan.LoadFile(filepath.Join(fixtureDir, "estate.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := sim.New(p, sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	c, err := s.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Logout(context.Background()) })
	u := s.URL()
	rc := rest.NewClient(c.Client)
	if err := rc.Login(ctx, u.User); err != nil {
		t.Fatalf("REST login (is the vapi simulator registered?): %v", err)
	}
	tm := tags.NewManager(rc)
	catID, err := tm.CreateCategory(ctx, &tags.Category{Name: "Application", Cardinality: "SINGLE", AssociableTypes: []string{"VirtualMachine"}})
	if err != nil {
		t.Fatal(err)
	}
	cfm := object.NewCustomFieldsManager(c.Client)
	keys := map[string]int32{}
	for _, name := range []string{"Criticality", "Users", "DependsOn"} {
		def, err := cfm.Add(ctx, name, "VirtualMachine", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		keys[name] = def.Key
	}
	// The VMs that only seeded the templates are not part of the estate.
	for _, name := range []string{"tpl-seed-win", "tpl-seed-fax", "tpl-seed-rhel"} {
		vm := object.NewVirtualMachine(c.Client, findVM(t, s, name))
		task, err := vm.Destroy(ctx)
		if err == nil {
			err = task.Wait(ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	tagIDs := map[string]string{}
	for _, e := range estate {
		if e.template {
			continue
		}
		vm := findVM(t, s, e.vm)
		if e.app != "" {
			id, ok := tagIDs[e.app]
			if !ok {
				if id, err = tm.CreateTag(ctx, &tags.Tag{Name: e.app, CategoryID: catID}); err != nil {
					t.Fatal(err)
				}
				tagIDs[e.app] = id
			}
			if err := tm.AttachTag(ctx, id, vm); err != nil {
				t.Fatal(err)
			}
		}
		set := func(name, v string) {
			if v == "" {
				return
			}
			if err := cfm.Set(ctx, vm, keys[name], v); err != nil {
				t.Fatal(err)
			}
		}
		set("Criticality", e.crit)
		if e.users > 0 {
			set("Users", strconv.Itoa(e.users))
		}
		set("DependsOn", e.dependsOn)
	}
	bare := *u
	bare.User = nil
	return s, VCenterSource{Client: c.Client, URL: bare.String(), User: u.User}
}

func findVM(t *testing.T, s *sim.Sim, name string) types.ManagedObjectReference {
	t.Helper()
	for _, ref := range s.Model().Map().All("VirtualMachine") {
		if vm, ok := ref.(*simulator.VirtualMachine); ok && vm.Name == name {
			return vm.Self
		}
	}
	t.Fatalf("VM %s is not in the simulator", name)
	return types.ManagedObjectReference{}
}

func TestEstatePlanIsWhatTheGeneratorWrites(t *testing.T) {
	path := filepath.Join(fixtureDir, "estate.yaml")
	if *update {
		if err := os.WriteFile(path, estatePlan(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, estatePlan()) {
		t.Fatalf("%s differs from the generator (%v): run go test ./pkg/discover -update", path, err)
	}
}

// TestDiscoverFromTheSimulator reads a seeded estate (tags, custom
// attributes) and checks the plan written: it matches the golden file,
// validates, and compiles.
func TestDiscoverFromTheSimulator(t *testing.T) {
	_, src := seedEstate(t)
	r, err := LoadRules("../../examples/discover/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r.GroupBy = "tag:Application"
	r.Source.URL = "https://vc-legacy.example.gov/sdk" // the simulator's URL changes each run
	if err := r.check("test"); err != nil {
		t.Fatal(err)
	}
	if got := r.TagCategories(); !slices.Equal(got, []string{"Application"}) {
		t.Fatalf("tag categories read: %v", got)
	}
	inv, err := ReadVCenter(context.Background(), src, Filter{Datacenter: "DC-OLD"}, r.TagCategories())
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.VMs) != 30 {
		t.Errorf("read %d VMs, want the fixture's 30 (templates left out)", len(inv.VMs))
	}
	byName := map[string]*VM{}
	for _, vm := range inv.VMs {
		byName[vm.Name] = vm
	}
	want := &VM{Name: "portal-api-01", CPUs: 4, MemoryMB: 8192, DisksGB: []int{60}, Networks: []string{"DMZ-VLAN10", "CRM-VLAN40"},
		PowerState: "poweredOn", GuestID: "rhel8_64Guest", HardwareVersion: "vmx-14"}
	got := byName["portal-api-01"]
	if got == nil || got.CPUs != want.CPUs || got.MemoryMB != want.MemoryMB || !slices.Equal(got.DisksGB, want.DisksGB) ||
		!slices.Equal(got.Networks, want.Networks) || got.PowerState != want.PowerState || got.GuestID != want.GuestID || got.HardwareVersion != want.HardwareVersion {
		t.Errorf("portal-api-01 read as %+v, want %+v", got, want)
	}
	if got != nil && (!slices.Equal(got.Tags["Application"], []string{"citizen-portal"}) || got.Attributes["Users"] != "12000" || got.Attributes["DependsOn"] != "crm,payroll") {
		t.Errorf("portal-api-01 tags %v, attributes %v", got.Tags, got.Attributes)
	}
	if vm := byName["kiosk-01"]; vm == nil || vm.PowerState != "poweredOff" {
		t.Errorf("kiosk-01 (suspended in the export, seeded off) read as %+v", vm)
	}
	res, err := Build(Input{Inventory: inv, Rules: r})
	if err != nil {
		t.Fatal(err)
	}
	out, err := res.Write()
	if err != nil {
		t.Fatal(err)
	}
	out = stableFrom(out, src.URL)
	golden(t, "vcenter.golden.yaml", out)
	p, probs, err := plan.Load("vcenter.golden.yaml", out)
	if err != nil {
		t.Fatalf("the discovered plan does not validate: %v\n%s", err, probs)
	}
	if _, probs := schedule.Compile(p); probs.Errors() > 0 {
		t.Fatalf("the discovered plan does not compile: %s", probs)
	}
}

// stableFrom replaces the simulator's changing URL in the header.
func stableFrom(out []byte, url string) []byte {
	return bytes.ReplaceAll(out, []byte(url), []byte("https://127.0.0.1:PORT/sdk"))
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join(fixtureDir, name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./pkg/discover -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run go test ./pkg/discover -update, then review the diff):\n%s", path, lineDiff(string(want), string(got)))
	}
}

// lineDiff shows the first lines that differ.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var out []string
	for i := 0; i < max(len(w), len(g)) && len(out) < 20; i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			out = append(out, fmt.Sprintf("line %d:\n  want %s\n  got  %s", i+1, a, b))
		}
	}
	return strings.Join(out, "\n")
}

// TestVCenterLeavesOutWhatItCannotRead: a VM that vCenter returns no
// configuration for (inaccessible, orphaned) is left out and listed as
// unreadable; the rest is read.
func TestVCenterLeavesOutWhatItCannotRead(t *testing.T) {
	s, src := seedEstate(t)
	vm := s.Model().Map().Get(findVM(t, s, "wiki-01")).(*simulator.VirtualMachine)
	vm.Config = nil
	inv, err := ReadVCenter(context.Background(), src, Filter{Datacenter: "DC-OLD"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var bad []LeftOut
	for _, l := range inv.LeftOut {
		if l.Unreadable {
			bad = append(bad, l)
		}
	}
	if len(inv.VMs) != 29 || len(bad) != 1 || bad[0].VM != "wiki-01" || !strings.Contains(bad[0].Reason, "no configuration") || !strings.HasSuffix(bad[0].Where, " DC-OLD/vm/wiki-01") {
		t.Fatalf("read %d VMs, unreadable %+v", len(inv.VMs), bad)
	}
}
