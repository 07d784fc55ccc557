package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmware/govmomi/simulator"

	"github.com/wavectl/wavectl/pkg/discover"
	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/vsphere/sim"
)

// TestDiscoverStopsWhenInterrupted: SIGINT and SIGTERM cancel the
// command's context (root.go); discover checks it while it reads, and the
// cancellation is exit 130 with no plan written.
func TestDiscoverStopsWhenInterrupted(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("VM,CPUs,Memory\n")
	for i := 0; i < 5000; i++ {
		fmt.Fprintf(&b, "vm-%d,2,4096\n", i)
	}
	export := filepath.Join(dir, "vinfo.csv")
	if err := os.WriteFile(export, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	io, _, _, _ := Test()
	out := filepath.Join(dir, "plan.yaml")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := discoverRun(ctx, &DiscoverOptions{IO: io, From: "rvtools", File: export, Out: out})
	if code := codeOf(err); code != ExitInterrupted {
		t.Fatalf("exit %d (%v), want %d", code, err, ExitInterrupted)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a plan was written: %v", err)
	}
}

// TestDiscoverFromVCenterStrict: a VM vCenter returns no configuration
// for is left out and counted; with --strict it is exit 3, naming it.
func TestDiscoverFromVCenterStrict(t *testing.T) {
	p, _, err := plan.LoadFile("../../testdata/discover/estate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s, err := sim.New(p, sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	c, err := s.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range s.Model().Map().All("VirtualMachine") {
		if vm := o.(*simulator.VirtualMachine); vm.Name == "wiki-01" {
			vm.Config = nil
		}
	}
	connect := func(context.Context, string) (discover.VCenterSource, func(), error) {
		return discover.VCenterSource{Client: c.Client, URL: "https://vc-legacy.example/sdk"}, func() {}, nil
	}
	for _, strict := range []bool{false, true} {
		io, _, _, errOut := Test()
		out := filepath.Join(t.TempDir(), "plan.yaml")
		err := discoverRun(ctx, &DiscoverOptions{IO: io, From: "vcenter", Filter: discover.Filter{Datacenter: "DC-OLD"}, Out: out, Strict: strict, connect: connect})
		switch {
		case strict && (codeOf(err) != ExitInvalid || !strings.Contains(err.Error(), "wiki-01: vCenter returns no configuration for it") || !strings.Contains(err.Error(), "--strict")):
			t.Errorf("strict: exit %d, %v", codeOf(err), err)
		case !strict && (err != nil || !strings.Contains(errOut.String(), "Left out: 1 row that could not be read (listed at the top of the plan):\n  https://vc-legacy.example/sdk DC-OLD/vm/wiki-01: wiki-01: vCenter returns no configuration")):
			t.Errorf("not strict: %v\n%s", err, errOut)
		}
	}
}
