package engine_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wavectl/wavectl/pkg/engine"
	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/schedule"
	"github.com/wavectl/wavectl/pkg/state"
	"github.com/wavectl/wavectl/pkg/vsphere"
	"github.com/wavectl/wavectl/pkg/vsphere/sim"
)

// counting wraps a real driver and counts clone tasks in flight per
// target host and datastore, at the vSphere boundary.
type counting struct {
	vsphere.Driver
	mu               sync.Mutex
	host, ds         map[string]int
	peakHost, peakDS map[string]int
	clones           int
}

func (c *counting) Clone(ctx context.Context, spec vsphere.CloneSpec) (*vsphere.VM, error) {
	h, d := spec.Target.Host, spec.Target.Datastore
	c.mu.Lock()
	c.clones++
	c.host[h]++
	c.ds[d]++
	c.peakHost[h] = max(c.peakHost[h], c.host[h])
	c.peakDS[d] = max(c.peakDS[d], c.ds[d])
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.host[h]--
		c.ds[d]--
		c.mu.Unlock()
	}()
	return c.Driver.Clone(ctx, spec)
}

func TestAgainstTheSimulatorCloneTasksStayWithinThePerHostAndPerDatastoreLimits(t *testing.T) {
	var vms []string
	for i := range 12 {
		vms = append(vms, fmt.Sprintf("web-%02d", i))
	}
	p, _, err := plan.Load("t.yaml", []byte(`apiVersion: wavectl/v1
kind: MigrationPlan
metadata: {name: limits}
vcenters: {lab: {url: "https://vc/sdk"}}
source: {vcenter: lab, datacenter: OLD}
target: {datacenter: NEW, cluster: C1, datastore: ds1, folder: migrated, networks: {"VM Network": pg-1}}
limits: {concurrency: 8, perHost: 1, perDatastore: 3}
applications:
  - {name: web, strategy: redeploy, template: tpl, vms: [`+strings.Join(vms, ", ")+`]}
waves: [{name: w1, applications: [web]}]
`))
	if err != nil {
		t.Fatal(err)
	}
	// Clone tasks take a while in vCenter; the simulator's task delay
	// makes them overlap as they would there.
	s, err := sim.New(p, sim.Options{Delays: map[string]time.Duration{"CloneVM_Task": 150 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := s.Client(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	d := &counting{Driver: vsphere.NewGovmomi("lab", c.Client), host: map[string]int{}, ds: map[string]int{}, peakHost: map[string]int{}, peakDS: map[string]int{}}
	sched, _ := schedule.Compile(p)
	store, err := state.Create(filepath.Join(t.TempDir(), "s.json"), state.NewState(p.Metadata.Name, p.File, p.Hash))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	res, err := engine.Run(context.Background(), engine.Options{Plan: p, Schedule: sched, Store: store, Dial: s.DialContext,
		Drivers: func(context.Context, string) (vsphere.Driver, error) { return d, nil }})
	if err != nil || res.Status != engine.Succeeded {
		t.Fatalf("run: %v %+v", err, res)
	}
	if d.clones != 12 {
		t.Errorf("%d clones, want 12", d.clones)
	}
	for h, n := range d.peakHost {
		if n > 1 || h == "" {
			t.Errorf("host %q had %d clones at once, want at most 1 on a named host", h, n)
		}
	}
	if d.peakDS["ds1"] != 3 {
		t.Errorf("datastore ds1 peaked at %d clones at once, want its limit of 3 (reached, never passed)", d.peakDS["ds1"])
	}
	// Every new VM exists once, in the target folder, read back from vCenter.
	inv, err := d.Inventory(context.Background(), "NEW")
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, vm := range inv.VMs {
		if vm.Folder == "migrated" {
			count[vm.Name]++
		}
	}
	for _, name := range vms {
		if count[name] != 1 {
			t.Errorf("%s is in the target folder %d times, want once", name, count[name])
		}
	}
}
