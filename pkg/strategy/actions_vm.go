package strategy

// The steps that make the unit's new VM (create-vm, import-image, clone),
// power it on and verify it, and the application's hook steps.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/vsphere"
)

// server is the application's physical server the unit names.
func server(rt *Runtime) (*plan.Server, error) {
	for _, s := range rt.App.Servers {
		if s != nil && s.Name == rt.Unit {
			return s, nil
		}
	}
	return nil, fmt.Errorf("application %s has no server %s", rt.App.Name, rt.Unit)
}

// serverNetworks are the target portgroups of a server's NICs: its source
// networks mapped, or one NIC on the first mapped network (by source
// name) when it names none.
func serverNetworks(rt *Runtime, s *plan.Server) []string {
	nets := networks(rt.App)
	var out []string
	for _, n := range s.Networks {
		out = append(out, mapped(nets, n))
	}
	if len(out) == 0 && len(nets) > 0 {
		out = sortedValues(nets)[:1]
	}
	return out
}

// sizedAsServer checks a new VM against its server's CPUs, memory and (when
// created, not imported) disks.
func sizedAsServer(vm *vsphere.VM, s *plan.Server, disks bool) error {
	var diffs []string
	if vm.CPUs != s.CPUs {
		diffs = append(diffs, fmt.Sprintf("%d vCPU, not %d", vm.CPUs, s.CPUs))
	}
	if vm.MemoryMB != s.MemoryMB {
		diffs = append(diffs, fmt.Sprintf("%d MB, not %d", vm.MemoryMB, s.MemoryMB))
	}
	if disks && !slices.Equal(vm.DisksGB, s.DisksGB) {
		diffs = append(diffs, fmt.Sprintf("disks %v GB, not %v", vm.DisksGB, s.DisksGB))
	}
	if len(diffs) > 0 {
		return fmt.Errorf("VM %s has %s", vm.Name, strings.Join(diffs, ", "))
	}
	return nil
}

// createVM: a new VM shaped like the physical server (CPUs, memory, disks,
// NICs on the mapped portgroups) in the target. Check: a VM of ours
// stands for the server. Undo: delete it.
func createVM() Action {
	return Action{
		Check: findOwn,
		Do: func(ctx context.Context, rt *Runtime) error {
			s, err := server(rt)
			if err != nil {
				return err
			}
			guest := s.GuestID
			if guest == "" {
				guest = DefaultGuestID
			}
			vm, err := rt.Target.Create(ctx, vsphere.CreateSpec{
				Name: s.Name, Target: target(rt), GuestID: guest,
				CPUs: s.CPUs, MemoryMB: s.MemoryMB, DisksGB: s.DisksGB,
				Networks: serverNetworks(rt, s),
				Markers:  marks(rt, plan.StepCreateVM, vsphere.MarkerSource, rt.Unit),
			})
			if err != nil {
				return takeOwnDuplicate(ctx, rt, err)
			}
			rt.Outputs[OutVM] = vm.Ref
			madeVM(rt, vm)
			return nil
		},
		Verify: func(ctx context.Context, rt *Runtime) error {
			s, err := server(rt)
			if err != nil {
				return err
			}
			vm, err := newVM(ctx, rt)
			if err != nil {
				return err
			}
			return sizedAsServer(vm, s, true)
		},
		Undo: destroyOwn,
	}
}

// takeOwnDuplicate is what a step that makes a VM does with vCenter's
// refusal of a name that is taken (DuplicateName): when the VM that holds
// it is the unit's own, made by the task of an earlier run that died while
// vCenter carried it out, that VM is the step's result. Any other error,
// or a name taken by another VM, stays the step's failure.
func takeOwnDuplicate(ctx context.Context, rt *Runtime, err error) error {
	var f *vsphere.Fault
	if !errors.As(err, &f) || f.Kind != "DuplicateName" {
		return err
	}
	if own, ferr := findOwn(ctx, rt); ferr != nil || !own {
		return err
	}
	rt.Log.Info().Str("vm", rt.Unit).Str("ref", rt.Outputs[OutVM]).
		Msg("the name is taken by the VM an earlier run's task made for this unit: taking that VM")
	return nil
}

// importImage: the server's OVF/OVA (relative to the plan file) imported
// as its VM, with the OVF's networks mapped and the server's CPUs and
// memory. Check: a VM of ours stands for the server. Undo: delete it.
func importImage() Action {
	return Action{
		// Found is not enough: a run killed between the import and the
		// resize left the VM at the image's size, so the step finishes
		// the resize (Reconfigure skips what is already in place).
		Check: func(ctx context.Context, rt *Runtime) (bool, error) {
			own, err := findOwn(ctx, rt)
			if err != nil || !own {
				return own, err
			}
			s, err := server(rt)
			if err != nil {
				return false, err
			}
			return true, rt.Target.Reconfigure(ctx, rt.Outputs[OutVM], vsphere.ReconfigureSpec{CPUs: s.CPUs, MemoryMB: s.MemoryMB})
		},
		Do: func(ctx context.Context, rt *Runtime) error {
			s, err := server(rt)
			if err != nil {
				return err
			}
			if s.Image == "" {
				return fmt.Errorf("server %s has no image to import", s.Name)
			}
			img := imagePath(rt, s.Image)
			nets, err := imageNetworks(rt, s, img)
			if err != nil {
				return err
			}
			vm, err := rt.Target.Import(ctx, vsphere.ImportSpec{
				Name: s.Name, Path: img, Target: target(rt),
				Networks: nets,
				Markers:  marks(rt, plan.StepImportImage, vsphere.MarkerSource, rt.Unit),
			})
			if err != nil {
				return err
			}
			rt.Outputs[OutVM] = vm.Ref
			// The image brings the disks; the plan says the size.
			return rt.Target.Reconfigure(ctx, vm.Ref, vsphere.ReconfigureSpec{CPUs: s.CPUs, MemoryMB: s.MemoryMB})
		},
		Verify: func(ctx context.Context, rt *Runtime) error {
			s, err := server(rt)
			if err != nil {
				return err
			}
			vm, err := newVM(ctx, rt)
			if err != nil {
				return err
			}
			if err := sizedAsServer(vm, s, false); err != nil {
				return err
			}
			if len(vm.DisksGB) == 0 {
				return fmt.Errorf("VM %s has no disks after importing %s", vm.Name, s.Image)
			}
			return nil
		},
		Undo: destroyOwn,
	}
}

// imageNetworks maps the image's OVF networks to target portgroups: an OVF
// network named after a mapped source network takes its portgroup; any
// other takes the portgroup of the server's NIC in the same place (OVF
// networks often carry a tool's own names, "bridged" say). Networks the
// OVF does not declare are left out of the mapping.
func imageNetworks(rt *Runtime, s *plan.Server, img string) (map[string]string, error) {
	names, err := vsphere.OVFNetworks(img)
	if err != nil {
		return nil, fmt.Errorf("server %s: read image %s: %w", s.Name, img, err)
	}
	nets, nics := networks(rt.App), serverNetworks(rt, s)
	out := map[string]string{}
	for i, n := range names {
		if to, ok := nets[n]; ok && to != "" {
			out[n] = to
		} else if i < len(nics) {
			out[n] = nics[i]
		}
	}
	return out, nil
}

// template finds the template a clone starts from: in the target
// datacenter, else in the source one when the target vCenter holds it. A
// template wins over a VM of the same name.
func template(ctx context.Context, rt *Runtime, name string) (*vsphere.VM, error) {
	for _, dc := range []string{target(rt).Datacenter, rt.Plan.Source.Datacenter} {
		vms, err := rt.Target.FindVMs(ctx, dc, name)
		if vsphere.IsNotFound(err) {
			continue // the source datacenter is in another vCenter
		}
		if err != nil {
			return nil, err
		}
		var tpls, others []*vsphere.VM
		for _, vm := range vms {
			if vm.Template {
				tpls = append(tpls, vm)
			} else if vm.Markers[vsphere.MarkerSource] == "" {
				others = append(others, vm)
			}
		}
		if len(tpls) > 0 {
			return tpls[0], nil
		}
		if len(others) > 0 {
			return others[0], nil
		}
	}
	return nil, fmt.Errorf("template %s not found in datacenter %s: %w", name, target(rt).Datacenter, vsphere.ErrNotFound)
}

// cloneVM: redeploy's new VM (the old VM's name, size and remapped
// networks) or replace's replacement, cloned from the template into the
// target with the plan's customisation, left off. Check: a VM of ours
// stands for the unit. Undo: delete it.
func cloneVM() Action {
	return Action{
		Check: findOwn,
		Do: func(ctx context.Context, rt *Runtime) error {
			a := rt.App
			spec := vsphere.CloneSpec{
				Name:    rt.Unit,
				Target:  target(rt),
				Markers: marks(rt, plan.StepClone, vsphere.MarkerSource, rt.Unit),
			}
			tplName := a.Template
			if a.Strategy == plan.Replace {
				if a.Replacement == nil {
					return fmt.Errorf("application %s has no replacement", a.Name)
				}
				tplName, spec.Name = a.Replacement.Template, a.Replacement.Name
				spec.CPUs, spec.MemoryMB = a.Replacement.CPUs, a.Replacement.MemoryMB
				// The old VMs are retired after this: refuse a managed one
				// before anything is deployed for it.
				for _, ref := range a.VMs {
					if ref == nil {
						continue
					}
					one := *rt
					one.Unit, one.Outputs, one.reads = ref.Name, map[string]string{}, nil
					if _, old, err := sourceVM(ctx, &one); err == nil {
						if err := notManaged(&one, old); err != nil {
							return err
						}
					}
				}
			}
			tpl, err := template(ctx, rt, tplName)
			if err != nil {
				return err
			}
			spec.Source = tpl.Ref
			nets := networks(a)
			spec.Networks = map[string]string{}
			if a.Strategy == plan.Redeploy {
				// The new VM takes the old one's size, and each of its NICs
				// the portgroup the old VM's NIC in that place maps to.
				_, old, err := sourceVM(ctx, rt)
				if err != nil {
					return err
				}
				if err := notManaged(rt, old); err != nil {
					return err
				}
				spec.CPUs, spec.MemoryMB = old.CPUs, old.MemoryMB
				for i, n := range tpl.Networks {
					if _, set := spec.Networks[n]; set {
						continue
					}
					if i < len(old.Networks) {
						spec.Networks[n] = mapped(nets, old.Networks[i])
					} else if to, ok := nets[n]; ok {
						spec.Networks[n] = to
					}
				}
			} else {
				for _, n := range tpl.Networks {
					if to, ok := nets[n]; ok {
						spec.Networks[n] = to
					}
				}
			}
			if c := a.Customization; c != nil {
				spec.Customization = &vsphere.Customization{
					Hostname: c.Hostname, Domain: c.Domain, IP: c.IP, Netmask: c.Netmask, Gateway: c.Gateway, DNS: c.DNS,
				}
			}
			vm, err := rt.Target.Clone(ctx, spec)
			if err != nil {
				return takeOwnDuplicate(ctx, rt, err)
			}
			rt.Outputs[OutVM] = vm.Ref
			madeVM(rt, vm)
			return nil
		},
		Verify: func(ctx context.Context, rt *Runtime) error {
			vm, err := newVM(ctx, rt)
			if err != nil {
				return err
			}
			if p := target(rt); !placed(rt, vm, p) {
				return fmt.Errorf("the clone %s is at %s (cluster %s, datastores %s), not in cluster %s, datastore %s, folder %s",
					vm.Name, vm.Path, vm.Cluster, strings.Join(vm.Datastores, ","), p.Cluster, p.Datastore, p.Folder)
			}
			return nil
		},
		Undo: destroyOwn,
	}
}

// wantOn is the power state power-on leaves the unit's VM in: on, except
// for a remediated VM that record-state found off (or suspended), which
// stays off.
func wantOn(rt *Runtime) bool {
	if rt.App.Strategy != plan.Remediate {
		return true
	}
	s := rt.Outputs[OutPowerState]
	return s == "" || s == vsphere.PoweredOn
}

// powerOn: power the new VM on, or restore a remediated VM's recorded
// power state. Check: it is in that state. Undo: shut it down.
func powerOn() Action {
	return Action{
		Check: func(ctx context.Context, rt *Runtime) (bool, error) {
			_, vm, err := subjectVM(ctx, rt)
			if err != nil {
				return false, err
			}
			if !wantOn(rt) {
				return true, nil
			}
			return vm.PowerState == vsphere.PoweredOn, nil
		},
		Do: func(ctx context.Context, rt *Runtime) error {
			d, vm, err := subjectVM(ctx, rt)
			if err != nil {
				return err
			}
			// A remediated VM that power-off turned off: the marker must
			// say so before it is on again (see markPast). A new VM's
			// power state is all its Check needs.
			if err := markPast(ctx, rt, d, vm, plan.StepPowerOff, plan.StepPowerOn); err != nil {
				return err
			}
			return d.PowerOn(ctx, vm.Ref)
		},
		Undo: func(ctx context.Context, rt *Runtime) error {
			d, vm, err := subjectVM(ctx, rt)
			if vsphere.IsNotFound(err) {
				return nil
			}
			if err != nil {
				return err
			}
			if err := d.Shutdown(ctx, vm.Ref, shutdownTimeout(rt)); err != nil {
				return err
			}
			return rewind(ctx, rt, d, vm, plan.StepPowerOn)
		},
	}
}

func verifyTimeout(rt *Runtime) time.Duration {
	if rt.VerifyTimeout > 0 {
		return rt.VerifyTimeout
	}
	return DefaultVerifyTimeout
}

// verify: the VM is powered on, its tools run and it has an IP (kept in
// OutIP); then each of the application's TCP checks connects to the IP;
// then its verify hooks pass. A remediated VM that was off before the
// migration is only checked to be off. Check: never done (it changes
// nothing, and must be fresh).
func verify() Action {
	return Action{
		Check: never,
		Do: func(ctx context.Context, rt *Runtime) error {
			d, vm, err := subjectVM(ctx, rt)
			if err != nil {
				return err
			}
			if !wantOn(rt) {
				if vm.PowerState != vsphere.PoweredOff {
					return fmt.Errorf("%s is %s; it was %s before the migration", vm.Name, vm.PowerState, rt.Outputs[OutPowerState])
				}
				rt.Log.Info().Str("vm", vm.Name).Msg("left powered off as it was before the migration: no IP, TCP or hook checks")
				return nil
			}
			// The read that found the VM says whether it is up already;
			// only when it is not is there anything to wait for.
			ip := vm.IP
			if vm.PowerState != vsphere.PoweredOn || !vm.ToolsRunning || ip == "" {
				if ip, err = d.WaitForIP(ctx, vm.Ref, verifyTimeout(rt)); err != nil {
					return err
				}
			}
			rt.Outputs[OutIP] = ip
			for _, c := range rt.App.Checks {
				if err := tcpCheck(ctx, rt, ip, c); err != nil {
					return err
				}
			}
			return runHooks(ctx, rt, "verify")
		},
	}
}

// tcpCheck dials ip:port until it connects or the check's timeout (else
// the verify timeout) passes.
func tcpCheck(ctx context.Context, rt *Runtime, ip string, c plan.Check) error {
	limit := time.Duration(c.Timeout)
	if limit <= 0 {
		limit = rt.VerifyTimeout
	}
	if limit <= 0 {
		limit = DefaultCheckTimeout
	}
	dial := rt.Dial
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	addr := net.JoinHostPort(ip, strconv.Itoa(c.TCP))
	cctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var last error
	for {
		actx, acancel := context.WithTimeout(cctx, min(5*time.Second, limit))
		conn, err := dial(actx, "tcp", addr)
		acancel()
		if err == nil {
			_ = conn.Close()
			return nil
		}
		last = err
		select {
		case <-cctx.Done():
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("TCP check of %s (%s): no connection within %s: %v", rt.Unit, addr, limit, last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// runHooks runs the application's hooks of a kind, when it has any.
func runHooks(ctx context.Context, rt *Runtime, kind string) error {
	if len(hookCommands(rt.App, kind)) == 0 {
		return nil
	}
	if rt.Hooks == nil {
		return fmt.Errorf("application %s has %s hooks but the run has no hook runner", rt.App.Name, kind)
	}
	return rt.Hooks.Run(ctx, kind, rt)
}

// hookAction runs the application's pre or post hooks. A failure fails
// the step (the engine decides what a failed post hook means for the
// application). Check: never done; no undo.
func hookAction(kind string) Action {
	return Action{
		Check: never,
		Do: func(ctx context.Context, rt *Runtime) error {
			return runHooks(ctx, rt, kind)
		},
	}
}
