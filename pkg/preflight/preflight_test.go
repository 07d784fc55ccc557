package preflight_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/preflight"
	"github.com/wavectl/wavectl/pkg/vsphere"
)

// inventoryOnly is a fake driver that serves fixed inventories; the
// checks only read. What the inventories look like in a real vCenter is
// shown against the simulator in the CLI's end-to-end tests.
type inventoryOnly struct {
	vsphere.Driver
	dcs   map[string]*vsphere.Inventory
	reads int
}

func (f *inventoryOnly) Inventory(ctx context.Context, dc string) (*vsphere.Inventory, error) {
	f.reads++
	inv, ok := f.dcs[dc]
	if !ok {
		return nil, fmt.Errorf("datacenter %s: %w", dc, vsphere.ErrNotFound)
	}
	return inv, nil
}

const planText = `apiVersion: wavectl/v1
kind: MigrationPlan
metadata: {name: t}
vcenters: {lab: {url: "https://vc/sdk"}}
source: {vcenter: lab, datacenter: OLD}
target: {datacenter: NEW, cluster: C1, datastore: ds1, folder: migrated, networks: {"VM Network": pg-1}}
applications:
  - {name: db, strategy: remediate, vms: [db-1, db-2]}
  - {name: web, strategy: redeploy, template: tpl-web, vms: [web-1]}
  - {name: fax, strategy: replace, vms: [fax-1], replacement: {template: tpl-fax, name: fax-new}}
waves:
  - {name: w1, applications: [db]}
  - {name: w2, applications: [web, fax]}
`

func estate() map[string]*vsphere.Inventory {
	vm := func(name string, cpus, mem, disk int) *vsphere.VM {
		return &vsphere.VM{Ref: "vm-" + name, Name: name, CPUs: cpus, MemoryMB: mem, DisksGB: []int{disk}, Networks: []string{"VM Network"}, PowerState: vsphere.PoweredOn}
	}
	tpl := func(name string) *vsphere.VM {
		v := vm(name, 2, 4096, 40)
		v.Template = true
		return v
	}
	return map[string]*vsphere.Inventory{
		"OLD": {Datacenter: "OLD", VMs: []*vsphere.VM{vm("db-1", 4, 16384, 200), vm("db-2", 4, 16384, 200), vm("web-1", 2, 4096, 40), vm("fax-1", 1, 2048, 20), tpl("tpl-web"), tpl("tpl-fax")}},
		"NEW": {Datacenter: "NEW",
			Clusters:   map[string]*vsphere.Cluster{"C1": {Name: "C1", Hosts: []string{"esx-1"}, CPUCores: 16, MemoryMB: 65536}},
			Datastores: map[string]*vsphere.Datastore{"ds1": {Name: "ds1", CapacityGB: 2000, FreeGB: 1000, Accessible: true}},
			Networks:   []string{"pg-1"},
			Folders:    []string{"", "migrated", "wavectl-retired"},
		},
	}
}

func check(t *testing.T, text string, dcs map[string]*vsphere.Inventory) (plan.Problems, *preflight.Summary, *inventoryOnly) {
	t.Helper()
	p, _, err := plan.Load("t.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	fake := &inventoryOnly{dcs: dcs}
	probs, sum, err := preflight.Check(context.Background(), p, func(context.Context, string) (vsphere.Driver, error) { return fake, nil })
	if err != nil {
		t.Fatal(err)
	}
	return probs, sum, fake
}

func TestAReadyEstatePassesWithOneReadPerDatacenter(t *testing.T) {
	probs, sum, fake := check(t, planText, estate())
	if len(probs) != 0 {
		t.Fatalf("problems on a ready estate:\n%v", probs)
	}
	if fake.reads != 2 {
		t.Errorf("%d inventory reads, want 2 (source and target datacenter, once each)", fake.reads)
	}
	if sum.SourceFound != 4 {
		t.Errorf("found %d source VMs, want 4", sum.SourceFound)
	}
	// db-1 and db-2 move (8 vCPU, 32768 MB, 400 GB); web and fax add a
	// template-sized VM each (2 vCPU, 4096 MB, 40 GB).
	var cl, ds *preflight.Capacity
	for _, c := range sum.Capacity {
		if c.Kind == "cluster" {
			cl = c
		} else {
			ds = c
		}
	}
	if cl == nil || cl.NeedCPUs != 12 || cl.NeedMemMB != 40960 || cl.HaveCPUs != 64 {
		t.Errorf("cluster use = %+v, want 12 vCPUs and 40960 MB of 64 vCPUs", cl)
	}
	if ds == nil || ds.NeedGB != 480 || ds.FreeGB != 1000 {
		t.Errorf("datastore use = %+v, want 480 GB of 1000 free", ds)
	}
}

func TestEachMissingOrTakenThingIsReportedAtItsLine(t *testing.T) {
	cases := []struct {
		name   string
		change func(map[string]*vsphere.Inventory)
		line   int
		want   string
	}{
		{"a missing source VM", func(d map[string]*vsphere.Inventory) { d["OLD"].VMs = d["OLD"].VMs[1:] }, 8, "VM db-1 not found in datacenter OLD"},
		{"a missing template", func(d map[string]*vsphere.Inventory) { d["OLD"].VMs = d["OLD"].VMs[:5] }, 10, "template tpl-fax not found"},
		{"a missing cluster", func(d map[string]*vsphere.Inventory) { d["NEW"].Clusters = map[string]*vsphere.Cluster{} }, 6, "cluster C1 does not exist in datacenter NEW"},
		{"a missing datastore", func(d map[string]*vsphere.Inventory) { d["NEW"].Datastores = nil }, 6, "datastore ds1 does not exist"},
		{"a missing folder", func(d map[string]*vsphere.Inventory) { d["NEW"].Folders = []string{""} }, 6, "folder migrated does not exist"},
		{"a missing portgroup", func(d map[string]*vsphere.Inventory) { d["NEW"].Networks = nil }, 8, "portgroup pg-1 (for network VM Network) does not exist"},
		{"a taken name", func(d map[string]*vsphere.Inventory) {
			d["NEW"].VMs = append(d["NEW"].VMs, &vsphere.VM{Ref: "vm-99", Name: "fax-new", Folder: "migrated"})
		}, 10, "VM name fax-new is already taken in folder migrated"},
		{"an undersized cluster", func(d map[string]*vsphere.Inventory) { d["NEW"].Clusters["C1"].MemoryMB = 32768 }, 13, "cluster C1 runs out of memory with wave w2 (at web)"},
		{"a full datastore", func(d map[string]*vsphere.Inventory) { d["NEW"].Datastores["ds1"].FreeGB = 300 }, 12, "datastore ds1 runs out of space with wave w1 (at db)"},
		{"a missing datacenter", func(d map[string]*vsphere.Inventory) { delete(d, "NEW") }, 6, "datacenter NEW does not exist in vCenter lab"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dcs := estate()
			c.change(dcs)
			probs, _, _ := check(t, planText, dcs)
			var found *plan.Problem
			for i := range probs {
				if strings.Contains(probs[i].Message, c.want) {
					found = &probs[i]
					break
				}
			}
			if found == nil {
				t.Fatalf("no problem says %q; got:\n%v", c.want, probs)
			}
			if found.Line != c.line || found.Severity != plan.SeverityError || found.Hint == "" {
				t.Errorf("problem %v: want an error with a hint at line %d", found, c.line)
			}
		})
	}
}

func TestThisPlansOwnEarlierWorkIsNotAConflict(t *testing.T) {
	dcs := estate()
	// fax-new exists already, made by this plan for fax; db-1 was already
	// moved into NEW by this plan.
	ours := map[string]string{vsphere.MarkerPlan: "t", vsphere.MarkerApplication: "fax"}
	dcs["NEW"].VMs = append(dcs["NEW"].VMs, &vsphere.VM{Ref: "vm-98", Name: "fax-new", Folder: "migrated", Markers: ours})
	moved := dcs["OLD"].VMs[0]
	moved.Markers = map[string]string{vsphere.MarkerPlan: "t", vsphere.MarkerApplication: "db"}
	dcs["OLD"].VMs = dcs["OLD"].VMs[1:]
	dcs["NEW"].VMs = append(dcs["NEW"].VMs, moved)
	probs, sum, _ := check(t, planText, dcs)
	if len(probs) != 0 {
		t.Fatalf("problems for the plan's own work:\n%v", probs)
	}
	if sum.SourceMoved != 1 {
		t.Errorf("already moved = %d, want 1", sum.SourceMoved)
	}
}

func TestAnUnreachableVCenterIsAnErrorNotAProblem(t *testing.T) {
	p, _, err := plan.Load("t.yaml", []byte(planText))
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("dial tcp: connection refused")
	_, _, err = preflight.Check(context.Background(), p, func(context.Context, string) (vsphere.Driver, error) { return nil, boom })
	var un *preflight.UnreachableError
	if !errors.As(err, &un) || un.VCenter != "lab" || !errors.Is(err, boom) {
		t.Fatalf("err = %v, want an UnreachableError for lab wrapping the dial error", err)
	}
}
