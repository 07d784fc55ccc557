package plan

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/wavectl/wavectl/pkg/redact"
)

// Validate checks a decoded and resolved plan for everything the decoder
// cannot see on its own: references, duplicates, strategy settings,
// dependencies against the schedule, and windows. It returns every problem
// in one pass.
func Validate(p *Plan) Problems {
	v := &validator{p: p}
	v.vcenters()
	v.applications()
	v.schedule()
	v.dependencies()
	v.windows()
	v.governance()
	v.estimates("estimates", p.Estimates)
	v.hooks("hooks", p.Hooks)
	v.evcModes() // evc.go
	v.costs()    // costs.go
	return v.probs
}

type validator struct {
	p     *Plan
	probs Problems
}

func (v *validator) errorf(path, hint, format string, args ...any) {
	v.probs = append(v.probs, Problem{Pos: v.p.Pos(path), Severity: SeverityError, Path: path, Message: fmt.Sprintf(format, args...), Hint: hint})
}

func (v *validator) warnf(path, hint, format string, args ...any) {
	v.probs = append(v.probs, Problem{Pos: v.p.Pos(path), Severity: SeverityWarning, Path: path, Message: fmt.Sprintf(format, args...), Hint: hint})
}

func (v *validator) vcenterNames() []string {
	names := make([]string, 0, len(v.p.VCenters))
	for n := range v.p.VCenters {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (v *validator) vcenters() {
	p := v.p
	if len(p.VCenters) == 0 {
		v.errorf("vcenters", "add one, e.g. `vcenters: {main: {url: https://vc.example/sdk}}`", "the plan names no vCenter")
	}
	for _, name := range v.vcenterNames() {
		vc := p.VCenters[name]
		path := fmt.Sprintf("vcenters[%s].url", name)
		u, err := url.Parse(vc.URL)
		if vc.URL != "" && (err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "") {
			v.errorf(path, "write it as https://HOST/sdk; credentials go in --username/--password or GOVC_USERNAME/GOVC_PASSWORD, never in the plan", "vcenter %s: %q is not an http(s) URL", name, redact.URL(vc.URL))
		} else if err == nil && u.User != nil {
			v.errorf(path, "remove the user:password@ part and pass credentials with --username/--password or GOVC_USERNAME/GOVC_PASSWORD", "vcenter %s: the URL carries credentials; a plan must never hold them", name)
		} else if err == nil && u.Scheme == "http" {
			v.warnf(path, "write https://; wavectl refuses http:// unless --insecure-http is given (labs only)", "vcenter %s: http:// sends the login, password included, across the network in clear text", name)
		}
		if vc.Insecure && (vc.Thumbprint != "" || vc.CAFile != "") {
			v.warnf(fmt.Sprintf("vcenters[%s].insecure", name), "drop insecure: the thumbprint or CA file already lets wavectl trust the certificate", "vcenter %s: insecure is set together with a thumbprint or CA file", name)
		}
	}
	v.vcenterRef("source.vcenter", p.Source.VCenter)
	if p.Target.VCenter == "" && len(p.VCenters) > 1 {
		v.errorf("target", "set target.vcenter to one of: "+strings.Join(v.vcenterNames(), ", "), "target names no vCenter, and the plan has several")
	}
	v.vcenterRef("target.vcenter", p.Target.VCenter)
	v.networks("target.networks", p.Target.Networks)
}

func (v *validator) vcenterRef(path, name string) {
	if name == "" || len(v.p.VCenters) == 0 {
		return
	}
	if _, ok := v.p.VCenters[name]; !ok {
		hint := "Use one of: " + strings.Join(v.vcenterNames(), ", ")
		if s := suggest(name, v.vcenterNames()); s != "" {
			hint = fmt.Sprintf("did you mean %q? ", s) + hint
		}
		v.errorf(path, hint, "vcenter %q is not defined under vcenters", name)
	}
}

func (v *validator) networks(path string, m map[string]string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if strings.TrimSpace(k) == "" {
			v.errorf(path+"["+k+"]#key", "name the source network", "a network mapping has an empty source network")
		}
		if strings.TrimSpace(m[k]) == "" {
			v.errorf(path+"["+k+"]", "name the target portgroup, e.g. \""+k+"\": pg-app-101", "network %q maps to nothing", k)
		}
	}
}

func (v *validator) placement(path, app string, pl Placement) {
	missing := []string{}
	if pl.VCenter == "" && len(v.p.VCenters) > 1 {
		missing = append(missing, "vcenter")
	}
	if pl.Datacenter == "" {
		missing = append(missing, "datacenter")
	}
	if pl.Cluster == "" && pl.Host == "" {
		missing = append(missing, "cluster (or host)")
	}
	if pl.Datastore == "" {
		missing = append(missing, "datastore")
	}
	if len(missing) > 0 {
		v.errorf(path, "set it under target in the plan, its wave, the conveyor or the application", "application %s has no target %s", app, strings.Join(missing, ", "))
	}
}

func (v *validator) applications() {
	p := v.p
	appNames := map[string]string{}  // name -> path of first
	unitNames := map[string]string{} // VM name -> application
	for i, a := range p.Applications {
		path := fmt.Sprintf("applications[%d]", i)
		if a == nil {
			v.errorf(path, "remove the empty '-' entry", "application entry is empty")
			continue
		}
		if a.Name != "" {
			if first, dup := appNames[a.Name]; dup {
				v.errorf(path+".name", fmt.Sprintf("rename one of them; the first is at %s", p.Pos(first)), "application %q is defined twice", a.Name)
				continue // its VMs would only be reported again as shared
			} else {
				appNames[a.Name] = path + ".name"
			}
		}
		v.strategy(path, a)
		v.placement(path, a.Name, a.Resolved)
		if a.Target != nil {
			v.vcenterRef(path+".target.vcenter", a.Target.VCenter)
			v.networks(path+".target.networks", a.Target.Networks)
		}
		v.estimates(path+".estimates", a.Estimates)
		v.hooks(path+".hooks", a.Hooks)
		if a.Users == 0 && (a.Criticality == "high" || a.Criticality == "critical") {
			v.warnf(path, "set users to the staff who lose the service while it moves, so that user-hours lost can be projected and measured", "application %s is %s but affects 0 users", a.Name, a.Criticality)
		}

		claim := func(name, at string) {
			if name == "" {
				return
			}
			if why := badName(name); why != "" {
				v.errorf(at, "rename it in vCenter first, or leave it out of the plan", "VM name %q %s", name, why)
			}
			if other, dup := unitNames[name]; dup {
				v.errorf(at, "a VM belongs to one application; remove it from one of them", "VM %q is listed by both %s and %s", name, other, a.Name)
				return
			}
			unitNames[name] = a.Name
		}
		for j, vm := range a.VMs {
			at := fmt.Sprintf("%s.vms[%d]", path, j)
			if vm == nil {
				v.errorf(at, "give the VM's name", "VM entry is empty")
				continue
			}
			if vm.Name == "" {
				// A mapping without a name is already reported by the
				// decoder at this same path, and dropped here.
				v.errorf(at+".name", "give the VM's name", "VM name is empty")
				continue
			}
			claim(vm.Name, at)
			v.disks(at, vm.DisksGB)
			v.mapped(at, a, vm.Networks)
		}
		for j, s := range a.Servers {
			at := fmt.Sprintf("%s.servers[%d]", path, j)
			if s == nil {
				v.errorf(at, "describe the server: name, cpus, memoryMB, disksGB", "server entry is empty")
				continue
			}
			claim(s.Name, at+".name")
			v.disks(at, s.DisksGB)
			if s.DisksGB != nil && len(s.DisksGB) == 0 {
				v.errorf(at+".disksGB", "list the disks' sizes in GB, boot disk first", "server %s has no disks", s.Name)
			}
			v.mapped(at, a, s.Networks)
			if s.Image != "" {
				img := s.Image
				if !filepath.IsAbs(img) {
					img = filepath.Join(filepath.Dir(p.File), img)
				}
				if _, err := os.Stat(img); err != nil {
					v.warnf(at+".image", "apply needs the file; check the path (relative to the plan file)", "image %s is not there (%s)", s.Image, img)
				}
			}
		}
		if a.Replacement != nil {
			claim(a.Replacement.Name, path+".replacement.name")
		}
	}
}

// disks checks disk sizes: positive, and no larger than a virtual disk
// can be.
func (v *validator) disks(at string, gbs []int) {
	for k, gb := range gbs {
		switch {
		case gb <= 0:
			v.errorf(fmt.Sprintf("%s.disksGB[%d]", at, k), "give each disk's size in GB, e.g. [100, 500]", "disk size must be positive, not %d", gb)
		case gb > MaxDiskGB:
			v.errorf(fmt.Sprintf("%s.disksGB[%d]", at, k), "a virtual disk holds at most 62 TB; split the data over several disks", "disk size %d GB is larger than the %d GB vSphere allows", gb, MaxDiskGB)
		}
	}
}

// badName says why vSphere (or its simulator) cannot hold a VM of that
// name, or returns "".
func badName(name string) string {
	switch {
	case strings.ContainsAny(name, `/\`):
		return "holds '/' or '\\', which inventory paths read as folder separators"
	case strings.IndexFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }) >= 0:
		return "holds a control character"
	case utf8.RuneCountInString(name) > MaxNameLen:
		return fmt.Sprintf("is longer than the %d characters vCenter allows", MaxNameLen)
	}
	return ""
}

// mapped checks that every network a VM or server sits on has a target
// portgroup.
func (v *validator) mapped(path string, a *Application, nets []string) {
	for k, n := range nets {
		if _, ok := a.Resolved.Networks[n]; ok {
			continue
		}
		if a.Remediate != nil {
			if _, ok := a.Remediate.Networks[n]; ok {
				continue
			}
		}
		v.errorf(fmt.Sprintf("%s.networks[%d]", path, k), fmt.Sprintf("add %q: <portgroup> under target.networks", n), "network %q has no target portgroup", n)
	}
}

func (v *validator) strategy(path string, a *Application) {
	need := func(ok bool, field, hint, format string, args ...any) {
		if !ok {
			v.errorf(path+"."+field, hint, format, args...)
		}
	}
	ignored := func(set bool, field string) {
		if set {
			v.warnf(path+"."+field, "remove it, or change the strategy", "%s is ignored by the %s strategy", field, a.Strategy)
		}
	}
	switch a.Strategy {
	case Virtualise:
		need(len(a.Servers) > 0, "servers", "list the physical servers with name, cpus, memoryMB and disksGB", "application %s (virtualise) lists no servers", a.Name)
		need(len(a.VMs) == 0, "vms", "virtualise turns physical servers into VMs; existing VMs need remediate, redeploy or replace", "application %s (virtualise) lists vms", a.Name)
		ignored(a.Template != "", "template")
		ignored(a.Replacement != nil, "replacement")
		ignored(a.Remediate != nil, "remediate")
	case Redeploy:
		need(a.Template != "", "template", "name the template new VMs are cloned from, e.g. template: tpl-rhel9", "application %s (redeploy) needs a template", a.Name)
		need(len(a.VMs) > 0, "vms", "list the VMs being redeployed", "application %s (redeploy) lists no vms", a.Name)
		ignored(a.Replacement != nil, "replacement")
		ignored(a.Remediate != nil, "remediate")
	case Remediate:
		need(len(a.VMs) > 0, "vms", "list the VMs being remediated", "application %s (remediate) lists no vms", a.Name)
		ignored(a.Template != "", "template")
		ignored(a.Replacement != nil, "replacement")
		ignored(a.Customization != nil, "customization")
		if a.Remediate != nil {
			v.networks(path+".remediate.networks", a.Remediate.Networks)
		}
	case Replace:
		need(a.Replacement != nil, "replacement", "add replacement: {template: TEMPLATE, name: NEW-VM-NAME}", "application %s (replace) needs a replacement", a.Name)
		need(len(a.VMs) > 0, "vms", "list the old VMs that the replacement retires", "application %s (replace) lists no vms", a.Name)
		ignored(a.Template != "", "template")
		ignored(a.Remediate != nil, "remediate")
	}
	if a.Strategy != Virtualise {
		ignored(len(a.Servers) > 0, "servers")
	}
	if a.Strategy != Replace {
		ignored(a.RetainDays != nil, "retainDays")
	}
}

func (v *validator) hooks(path string, h *Hooks) {
	if h == nil {
		return
	}
	for name, cmds := range map[string][]string{"pre": h.Pre, "post": h.Post, "verify": h.Verify} {
		for i, c := range cmds {
			if strings.TrimSpace(c) == "" {
				v.errorf(fmt.Sprintf("%s.%s[%d]", path, name, i), "remove the empty entry", "%s hook command is empty", name)
			}
		}
	}
}

func (v *validator) estimates(path string, m map[string]Duration) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !contains(StepKinds, k) {
			hint := "step kinds: " + strings.Join(StepKinds, ", ")
			if s := suggest(k, StepKinds); s != "" {
				hint = fmt.Sprintf("did you mean %q? ", s) + hint
			}
			v.errorf(path+"["+k+"]#key", hint, "estimates: %q is not a step kind", k)
		} else if m[k] == 0 {
			v.warnf(path+"["+k+"]", "give the step's typical duration, e.g. 5m", "estimate for %s is zero", k)
		}
	}
}

// schedule checks wave and conveyor membership.
func (v *validator) schedule() {
	p := v.p
	names := make([]string, 0, len(p.Applications))
	for _, a := range p.Applications {
		if a != nil && a.Name != "" {
			names = append(names, a.Name)
		}
	}
	where := map[string]string{} // app -> "wave X" or "the conveyor"
	wherePath := map[string]string{}
	unknown := func(path, name string) bool {
		if p.Application(name) != nil {
			return false
		}
		hint := "define it under applications, or fix the name"
		if s := suggest(name, names); s != "" {
			hint = fmt.Sprintf("did you mean %q?", s)
		}
		v.errorf(path, hint, "application %q is not defined", name)
		return true
	}
	waveNames := map[string]string{}
	for i, w := range p.Waves {
		path := fmt.Sprintf("waves[%d]", i)
		if w == nil {
			v.errorf(path, "remove the empty '-' entry", "wave entry is empty")
			continue
		}
		if first, dup := waveNames[w.Name]; dup && w.Name != "" {
			v.errorf(path+".name", "rename one of them; the first is at "+p.Pos(first).String(), "wave %q is defined twice", w.Name)
		} else {
			waveNames[w.Name] = path + ".name"
		}
		if len(w.Applications) == 0 && w.Applications != nil {
			v.warnf(path+".applications", "add applications or remove the wave", "wave %s has no applications", w.Name)
		}
		if w.Target != nil {
			v.vcenterRef(path+".target.vcenter", w.Target.VCenter)
			v.networks(path+".target.networks", w.Target.Networks)
		}
		v.hooks(path+".hooks", w.Hooks)
		for j, name := range w.Applications {
			ap := fmt.Sprintf("%s.applications[%d]", path, j)
			if unknown(ap, name) {
				continue
			}
			label := "wave " + w.Name
			if prev, dup := where[name]; dup && prev == label {
				v.errorf(ap, "remove the second entry (the first is at "+p.Pos(wherePath[name]).String()+")", "application %s is listed twice in wave %s", name, w.Name)
				continue
			} else if dup {
				v.errorf(ap, "an application moves once: keep it in one wave or on the conveyor (first listed at "+p.Pos(wherePath[name]).String()+")", "application %s is in %s and in %s", name, prev, label)
				continue
			}
			where[name], wherePath[name] = label, ap
		}
	}
	if c := p.Conveyor; c != nil {
		if c.Target != nil {
			v.vcenterRef("conveyor.target.vcenter", c.Target.VCenter)
			v.networks("conveyor.target.networks", c.Target.Networks)
		}
		for j, name := range c.Applications {
			ap := fmt.Sprintf("conveyor.applications[%d]", j)
			if unknown(ap, name) {
				continue
			}
			if prev, dup := where[name]; dup {
				v.errorf(ap, "an application moves once: keep it in one wave or on the conveyor (first listed at "+p.Pos(wherePath[name]).String()+")", "application %s is in %s and on the conveyor", name, prev)
				continue
			}
			where[name], wherePath[name] = "the conveyor", ap
		}
	}
	for i, a := range p.Applications {
		if a == nil || a.Name == "" {
			continue
		}
		if _, ok := where[a.Name]; !ok {
			v.warnf(fmt.Sprintf("applications[%d].name", i), "add it to a wave or to the conveyor, or remove it; apply will not move it", "application %s is in no wave and not on the conveyor", a.Name)
		}
	}
}

// order returns a sortable rank of where an application runs: waves by
// index, the conveyor and unscheduled ones apart.
func (v *validator) waveIndex(name string) int {
	for i, w := range v.p.Waves {
		if w != nil && w.Name == name {
			return i
		}
	}
	return -1
}

func (v *validator) dependencies() {
	p := v.p
	for i, a := range p.Applications {
		if a == nil {
			continue
		}
		for j, dep := range a.DependsOn {
			path := fmt.Sprintf("applications[%d].dependsOn[%d]", i, j)
			if dep == a.Name {
				v.errorf(path, "remove it", "application %s depends on itself", a.Name)
				continue
			}
			d := p.Application(dep)
			if d == nil {
				names := []string{}
				for _, x := range p.Applications {
					if x != nil {
						names = append(names, x.Name)
					}
				}
				hint := "define it under applications, or fix the name"
				if s := suggest(dep, names); s != "" {
					hint = fmt.Sprintf("did you mean %q?", s)
				}
				v.errorf(path, hint, "application %s depends on %q, which is not defined", a.Name, dep)
				continue
			}
			scheduled := a.Wave != "" || a.OnConveyor
			switch {
			case !scheduled:
			case d.Wave == "" && !d.OnConveyor:
				v.errorf(path, "schedule "+dep+" in a wave or on the conveyor, or drop the dependency", "application %s depends on %s, which is in no wave and not on the conveyor, so it can never start", a.Name, dep)
			case a.Wave != "" && d.Wave != "" && v.waveIndex(d.Wave) > v.waveIndex(a.Wave):
				v.errorf(path, fmt.Sprintf("move %s to %s or later, or move %s to %s or earlier", a.Name, d.Wave, dep, a.Wave), "application %s (wave %s) depends on %s, which moves later (wave %s)", a.Name, a.Wave, dep, d.Wave)
			case a.OnConveyor && d.OnConveyor && v.conveyorIndex(dep) > v.conveyorIndex(a.Name):
				v.errorf(path, fmt.Sprintf("list %s before %s on the conveyor", dep, a.Name), "application %s is on the conveyor ahead of %s, which it depends on", a.Name, dep)
			case a.OnConveyor && d.Wave != "":
				v.warnf(path, "the conveyor holds "+a.Name+" until wave "+d.Wave+" has moved "+dep, "conveyor application %s depends on %s (wave %s)", a.Name, dep, d.Wave)
			case a.Wave != "" && d.OnConveyor:
				v.warnf(path, "the wave waits for the conveyor to deliver it; consider moving "+dep+" into an earlier wave", "application %s (wave %s) depends on conveyor application %s", a.Name, a.Wave, dep)
			}
		}
	}
	for _, cycle := range v.cycles() {
		first := p.Application(cycle[0])
		v.errorf(fmt.Sprintf("applications[%d].dependsOn", first.Index), "break the cycle by removing one of these dependencies", "dependency cycle: %s", strings.Join(cycle, " -> "))
	}
}

func (v *validator) conveyorIndex(name string) int {
	if v.p.Conveyor == nil {
		return -1
	}
	for i, n := range v.p.Conveyor.Applications {
		if n == name {
			return i
		}
	}
	return -1
}

// cycles finds dependency cycles with a depth-first search, reporting each
// cycle once, starting from its first application in plan order.
func (v *validator) cycles() [][]string {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	var out [][]string
	var visit func(name string)
	visit = func(name string) {
		color[name] = grey
		stack = append(stack, name)
		a := v.p.Application(name)
		for _, dep := range a.DependsOn {
			if v.p.Application(dep) == nil || dep == name {
				continue
			}
			switch color[dep] {
			case white:
				visit(dep)
			case grey:
				i := len(stack) - 1
				for stack[i] != dep {
					i--
				}
				cycle := append(append([]string{}, stack[i:]...), dep)
				out = append(out, cycle)
			}
		}
		stack = stack[:len(stack)-1]
		color[name] = black
	}
	for _, a := range v.p.Applications {
		if a != nil && a.Name != "" && color[a.Name] == white {
			visit(a.Name)
		}
	}
	return out
}

func (v *validator) windows() {
	p := v.p
	check := func(path, what string, w *Window) bool {
		if w == nil || w.Start.IsZero() || w.End.IsZero() {
			return false
		}
		if !w.End.After(w.Start) {
			v.errorf(path+".end", "the end must be after the start; times are RFC 3339 and carry their zone", "%s window ends (%s) before it starts (%s)", what, w.End.Format("2006-01-02T15:04Z07:00"), w.Start.Format("2006-01-02T15:04Z07:00"))
			return false
		}
		return true
	}
	var prev *Wave
	for i, w := range p.Waves {
		if w == nil {
			continue
		}
		path := fmt.Sprintf("waves[%d].window", i)
		if !check(path, "wave "+w.Name, w.Window) {
			continue
		}
		if prev != nil {
			switch {
			case !w.Window.End.After(prev.Window.Start):
				v.errorf(path, fmt.Sprintf("waves run in order: give %s a window after %s's, or reorder the waves", w.Name, prev.Name), "wave %s's window closes before wave %s's opens, but %s runs after %s", w.Name, prev.Name, w.Name, prev.Name)
			case w.Window.Start.Before(prev.Window.End):
				v.warnf(path+".start", fmt.Sprintf("%s starts only when %s has finished, so part of its window may be lost", w.Name, prev.Name), "wave %s's window opens before wave %s's closes", w.Name, prev.Name)
			}
		}
		prev = w
	}
	if p.Conveyor != nil {
		check("conveyor.window", "conveyor", p.Conveyor.Window)
	}
}
