package discover

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/schedule"
)

// Wave is one suggested wave.
type Wave struct {
	Name   string
	Apps   []string
	Window *plan.Window
	Quiet  int
	// Why says how it was filled, written above it.
	Why      []string
	vms      int
	vcpus    int
	memMB    int
	users    int
	estimate time.Duration
}

// pack puts small, low-criticality applications on the conveyor and packs
// the rest into waves in window order: an application goes in no earlier
// than the wave of everything it depends on; a wave holds no more than the
// target takes in one window (waves.maxVMs, maxVCPUs, maxMemoryGB) and no
// more than its window's length by wavectl's own estimate; and in the
// quietest window left the applications with the most users go first,
// while in busier windows the ones with the fewest users do, so that the
// big ones wait for a quiet one.
func (res *Result) pack() {
	r := res.Rules
	apps := map[string]*App{}
	for _, a := range res.Apps {
		apps[a.Name] = a
	}
	dependents := map[string][]string{}
	for _, a := range res.Apps {
		for _, d := range a.DependsOn {
			dependents[d] = append(dependents[d], a.Name)
		}
	}

	// Conveyor: small and low-risk, and tied by dependencies only to other
	// conveyor applications (so that neither a wave waits on the conveyor
	// nor the conveyor on a wave).
	on := map[string]bool{}
	for _, a := range res.Apps {
		crit := a.Criticality
		if crit == "" {
			crit = plan.DefaultCriticality
		}
		if r.Conveyor.MaxVMs > 0 && a.Units() <= r.Conveyor.MaxVMs && contains(r.Conveyor.Criticality, crit) {
			on[a.Name] = true
		}
	}
	for changed := true; changed; {
		changed = false
		for name := range on {
			for _, n := range append(append([]string{}, apps[name].DependsOn...), dependents[name]...) {
				if !on[n] {
					delete(on, name)
					changed = true
					break
				}
			}
		}
	}
	placed := map[string]bool{}
	for len(placed) < len(on) {
		for _, a := range res.Apps { // name order, dependencies first
			if on[a.Name] && !placed[a.Name] && all(a.DependsOn, placed) {
				placed[a.Name] = true
				res.Conveyor = append(res.Conveyor, a.Name)
			}
		}
	}

	var rest []*App
	for _, a := range res.Apps {
		if !on[a.Name] {
			rest = append(rest, a)
		}
	}
	done := map[string]bool{}
	for k := 0; len(rest) > 0; k++ {
		w := &Wave{Name: fmt.Sprintf("wave-%d", k+1)}
		w.Window, w.Quiet = res.window(k)
		quietest := res.quietestLeft(k)
		// Preference order: users descending in the quietest window left,
		// ascending otherwise; then name.
		sort.SliceStable(rest, func(i, j int) bool {
			if rest[i].Users != rest[j].Users {
				return (rest[i].Users > rest[j].Users) == quietest
			}
			return rest[i].Name < rest[j].Name
		})
		in := map[string]bool{}
		for added := true; added; {
			added = false
			for _, a := range rest {
				if in[a.Name] || !all(a.DependsOn, done, in) {
					continue
				}
				if res.fits(w, a) {
					res.add(w, a)
					in[a.Name] = true
					added = true
					break // preferences may change who is ready: start over
				} else if len(w.Apps) == 0 {
					res.add(w, a)
					in[a.Name] = true
					w.Why = append(w.Why, fmt.Sprintf("%s alone is more than a wave holds (waves.maxVMs, maxVCPUs, maxMemoryGB, or its window): a wave of its own; split it or widen the window", a.Name))
					break
				}
			}
			if len(w.Apps) > 0 && !added {
				break
			}
		}
		if len(w.Apps) == 0 {
			// Only possible when dependencies point outside the waves,
			// which pack never makes; guard against an endless loop.
			break
		}
		var left []*App
		for _, a := range rest {
			if in[a.Name] {
				done[a.Name] = true
			} else {
				left = append(left, a)
			}
		}
		rest = left
		switch {
		case w.Window == nil:
			w.Why = append(w.Why, "no window left: add one under waves.windows in the rules file, or set one here")
		case quietest && len(res.Rules.Waves.Windows) > 0:
			w.Why = append(w.Why, fmt.Sprintf("quietest window left (quiet %d): applications with the most users first", w.Quiet))
		case len(res.Rules.Waves.Windows) > 0:
			w.Why = append(w.Why, fmt.Sprintf("busier window (quiet %d): applications with the fewest users first; the big ones wait for a quieter one", w.Quiet))
		}
		sort.Strings(w.Apps)
		w.estimate = res.estimate(w.Apps, w.Window)
		res.Waves = append(res.Waves, w)
	}
}

func all(names []string, sets ...map[string]bool) bool {
	for _, n := range names {
		ok := false
		for _, s := range sets {
			ok = ok || s[n]
		}
		if !ok {
			return false
		}
	}
	return true
}

// window is the k-th change window: from the rules' list, then every
// waves.every after the last one (or after waves.first).
func (res *Result) window(k int) (*plan.Window, int) {
	w := res.Rules.Waves
	if k < len(w.Windows) {
		x := w.Windows[k]
		return &plan.Window{Start: x.Start.UTC(), End: x.End.UTC()}, x.Quiet
	}
	if w.Every <= 0 || w.Length <= 0 {
		return nil, 0
	}
	start := w.First
	n := k
	if len(w.Windows) > 0 {
		start = w.Windows[len(w.Windows)-1].Start
		n = k - len(w.Windows) + 1
	}
	start = start.Add(time.Duration(n) * time.Duration(w.Every)).UTC()
	return &plan.Window{Start: start, End: start.Add(time.Duration(w.Length))}, 0
}

// quietestLeft reports whether window k is at least as quiet as every
// listed window after it.
func (res *Result) quietestLeft(k int) bool {
	ws := res.Rules.Waves.Windows
	_, q := res.window(k)
	for i := k + 1; i < len(ws); i++ {
		if ws[i].Quiet > q {
			return false
		}
	}
	return true
}

func (res *Result) add(w *Wave, a *App) {
	w.Apps = append(w.Apps, a.Name)
	c, m := a.size()
	w.vms += a.Units()
	w.vcpus += c
	w.memMB += m
	w.users += a.Users
}

// fits reports whether a joins w within the wave's bounds and window.
func (res *Result) fits(w *Wave, a *App) bool {
	b := res.Rules.Waves
	c, m := a.size()
	if b.MaxVMs > 0 && w.vms+a.Units() > b.MaxVMs {
		return false
	}
	if b.MaxVCPUs > 0 && w.vcpus+c > b.MaxVCPUs {
		return false
	}
	if b.MaxMemoryGB > 0 && (w.memMB+m+1023)/1024 > b.MaxMemoryGB {
		return false
	}
	if w.Window != nil {
		if est := res.estimate(append(append([]string{}, w.Apps...), a.Name), w.Window); est > w.Window.End.Sub(w.Window.Start) {
			return false
		}
	}
	return true
}

// estimate is wavectl's own estimate (the one `plan` shows) of a wave of
// these applications, under the default limits.
func (res *Result) estimate(names []string, win *plan.Window) time.Duration {
	p := &plan.Plan{
		APIVersion: plan.APIVersion, Kind: plan.Kind, Metadata: plan.Metadata{Name: "estimate"},
		VCenters: map[string]plan.VCenter{"vc": {URL: "https://vc.invalid/sdk"}},
		Source:   plan.Source{VCenter: "vc", Datacenter: "src"},
		Target:   plan.Placement{Datacenter: "dst", Cluster: "c", Datastore: "ds"},
		Waves:    []*plan.Wave{{Name: "w", Applications: names, Window: win}},
	}
	if res.byName == nil {
		res.byName = map[string]*App{}
		for _, a := range res.Apps {
			res.byName[a.Name] = a
		}
	}
	for _, n := range names {
		if a := res.byName[n]; a != nil {
			pa := a.planApp()
			pa.DependsOn = nil
			p.Applications = append(p.Applications, pa)
		}
	}
	p.Resolve()
	s, _ := schedule.Compile(p)
	if s == nil || len(s.Waves) == 0 {
		return 0
	}
	return time.Duration(s.Waves[0].Estimate)
}

// planApp is the application as the plan model holds it.
func (a *App) planApp() *plan.Application {
	pa := &plan.Application{Name: a.Name, Strategy: a.Strategy, Criticality: a.Criticality, Users: a.Users,
		DependsOn: a.DependsOn, Template: a.Template, Remediate: a.Remediate, Replacement: a.Replacement}
	for _, v := range a.VMs {
		pa.VMs = append(pa.VMs, v.ref())
	}
	for _, s := range a.Servers {
		pa.Servers = append(pa.Servers, &plan.Server{Name: s.Name, CPUs: s.CPUs, MemoryMB: s.MemoryMB, DisksGB: s.DisksGB, Networks: s.Networks, GuestID: s.GuestID})
	}
	return pa
}

func (v *VM) ref() *plan.VMRef {
	return &plan.VMRef{Name: v.Name, CPUs: v.CPUs, MemoryMB: v.MemoryMB, DisksGB: v.DisksGB, Networks: v.Networks,
		PowerState: v.PowerState, GuestID: v.GuestID, Hardware: v.HardwareVersion}
}

func describeWave(w *Wave) string {
	parts := []string{count(len(w.Apps), "application"), count(w.vms, "VM or server", "VMs or servers"),
		fmt.Sprintf("%d vCPU", w.vcpus), fmt.Sprintf("%d GB memory", (w.memMB+1023)/1024), fmt.Sprintf("%d users", w.users),
		"estimated " + schedule.Seconds(w.estimate).String()}
	return strings.Join(parts, ", ")
}

func count(n int, one string, many ...string) string {
	if n == 1 {
		return "1 " + one
	}
	if len(many) > 0 {
		return fmt.Sprintf("%d %s", n, many[0])
	}
	return fmt.Sprintf("%d %ss", n, one)
}
