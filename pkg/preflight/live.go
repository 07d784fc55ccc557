package preflight

// Live moves, checked by vCenter itself before anything moves: for every
// remediated VM the plan moves live, the source vCenter's provisioning
// checker (CheckRelocate, through vsphere.MoveChecker) tests the move as
// planned: the target cluster's EVC mode against the VM's, the target
// host's access to the VM's networks after the remap and to the target
// datastore. A refusal is reported at the VM's plan line with vCenter's
// reasons and the choices.

import (
	"context"
	"fmt"
	"strings"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/strategy"
	"github.com/wavectl/wavectl/pkg/vsphere"
)

// liveMoves checks each live move of the scheduled applications.
func (c *checker) liveMoves(ctx context.Context) error {
	src := c.sourceInv()
	if src == nil {
		return nil
	}
	d, err := c.drivers(ctx, c.p.Source.VCenter)
	if err != nil {
		return &UnreachableError{VCenter: c.p.Source.VCenter, Err: err}
	}
	mc, ok := d.(vsphere.MoveChecker)
	if !ok {
		return nil
	}
	for _, a := range c.ordered() {
		if a.Strategy != plan.Remediate || c.targetInv(a) == nil {
			continue
		}
		for j, ref := range a.VMs {
			if ref == nil || !strategy.MoveOf(a, ref).Live {
				continue
			}
			vm := findVM(src, ref.Name, false)
			if vm == nil || vm.PowerState != vsphere.PoweredOn {
				continue // not there (reported elsewhere), moved already, or off: no vMotion
			}
			spec := vsphere.RelocateSpec{Target: placementOf(a.Resolved), Networks: remap(a)}
			if a.Resolved.VCenter != c.p.Source.VCenter {
				spec.VCenter = a.Resolved.VCenter
			}
			reasons, err := mc.CheckMove(ctx, vm.Ref, spec, true)
			if err != nil {
				c.errorf(fmt.Sprintf("applications[%d].vms[%d]", a.Index, j), "check the target placement; `wavectl plan` reports what is missing",
					"VM %s: vCenter could not check its live move: %v", ref.Name, err)
				continue
			}
			if len(reasons) == 0 {
				c.sum.LiveChecked++
				continue
			}
			c.errorf(fmt.Sprintf("applications[%d].vms[%d]", a.Index, j),
				fmt.Sprintf("move it cold (move: cold on application %s), or raise cluster %s's EVC mode (or connect its hosts to the network, mount the datastore)", a.Name, a.Resolved.Cluster),
				"VM %s cannot move live to cluster %s: %s", ref.Name, a.Resolved.Cluster, strings.Join(reasons, "; "))
		}
	}
	return nil
}

func placementOf(r plan.Placement) vsphere.Placement {
	return vsphere.Placement{Datacenter: r.Datacenter, Cluster: r.Cluster, Host: r.Host,
		ResourcePool: strings.Trim(r.ResourcePool, "/"), Datastore: r.Datastore, Folder: strings.Trim(r.Folder, "/")}
}

// remap is the application's NIC remap, as remediate applies it.
func remap(a *plan.Application) map[string]string {
	out := map[string]string{}
	for k, v := range a.Resolved.Networks {
		out[k] = v
	}
	if a.Remediate != nil {
		for k, v := range a.Remediate.Networks {
			out[k] = v
		}
	}
	return out
}
