package discover

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/wavectl/wavectl/pkg/plan"
)

// App is one suggested application.
type App struct {
	Name     string
	Strategy string
	// Why gives the reasons for the strategy, written next to it.
	Why []string
	// Group says how its members were grouped, written above it.
	Group       string
	Criticality string
	Users       int
	DependsOn   []string
	VMs         []*VM
	Servers     []*Server
	Template    string
	Remediate   *plan.Remediation
	Replacement *plan.Replacement
	// Notes are per-member remarks (VM or server name -> note).
	Notes map[string]string
}

// Units is how many VMs or servers the application moves.
func (a *App) Units() int { return len(a.VMs) + len(a.Servers) }

func (a *App) size() (vcpus, memMB int) {
	for _, v := range a.VMs {
		vcpus += v.CPUs
		memMB += v.MemoryMB
	}
	for _, s := range a.Servers {
		vcpus += s.CPUs
		memMB += s.MemoryMB
	}
	if r := a.Remediate; r != nil {
		if r.CPUs > 0 {
			vcpus = r.CPUs * len(a.VMs)
		}
		if r.MemoryMB > 0 {
			memMB = r.MemoryMB * len(a.VMs)
		}
	}
	return
}

// Result is a discovered plan before it is written.
type Result struct {
	Inventory *Inventory
	Rules     *Rules
	Apps      []*App
	Waves     []*Wave
	Conveyor  []string
	// Notes are things the engineer should know (left-out dependencies,
	// placeholders); the summary prints them.
	Notes []string
	// Counts are the suggestions by strategy.
	Counts map[string]int
	// GroupBy is how VMs were grouped; GroupWhy says why, when discover
	// chose it (no groupBy in the rules nor --group-by).
	GroupBy  Source
	GroupWhy string

	byName map[string]*App // for estimates
}

// Input is everything Build works from.
type Input struct {
	Inventory    *Inventory // nil when only servers are given
	Servers      []*Server
	Dependencies []Dependency
	Rules        *Rules
}

// Build groups the inventory into applications, suggests each one's
// strategy and packs them into the conveyor and waves.
func Build(in Input) (*Result, error) {
	r := in.Rules
	if r == nil {
		r = DefaultRules()
		if err := r.check("defaults"); err != nil {
			return nil, err
		}
	}
	inv := in.Inventory
	if inv == nil {
		inv = &Inventory{From: "servers", Columns: map[string]string{}, Skipped: map[string]int{}}
	}
	res := &Result{Inventory: inv, Rules: r, Counts: map[string]int{}}
	byName := map[string]*App{}
	var order []string
	get := func(name, group string) *App {
		if a, ok := byName[name]; ok {
			return a
		}
		a := &App{Name: name, Group: group, Notes: map[string]string{}}
		byName[name] = a
		order = append(order, name)
		return a
	}

	res.GroupBy, res.GroupWhy = r.groupBy, ""
	if res.GroupBy.IsZero() {
		res.GroupBy, res.GroupWhy = AutoGroup(inv.VMs)
	}
	by := res.GroupBy
	for i, vm := range inv.VMs {
		key := vm.Value(by)
		if by.Kind == SourceNameStem {
			key = nameStem(vm.Name, r.affixes, r.NameStem.MinLength)
		}
		name := appName(key)
		group := fmt.Sprintf("grouped by %s = %s", by, key)
		if name == "" {
			name = appName(vm.Name)
			group = fmt.Sprintf("no %s value on %s: an application of its own", by, vm.Name)
		}
		if name == "" {
			// A VM name of no letters or digits ("~") names no application.
			name = fmt.Sprintf("vm-%d", i+1)
		}
		a := get(name, group)
		a.VMs = append(a.VMs, vm)
		if !r.criticality.IsZero() {
			if c := strings.ToLower(vm.Value(r.criticality)); contains(criticalities, c) && rank(c) > rank(a.Criticality) {
				a.Criticality = c
			} else if c != "" && !contains(criticalities, c) {
				res.Notes = append(res.Notes, fmt.Sprintf("%s: %s %q is not low, medium, high or critical; left out", vm.Name, r.criticality, vm.Value(r.criticality)))
			}
		}
		if !r.users.IsZero() {
			if u := vm.Value(r.users); u != "" {
				n, err := strconv.Atoi(strings.ReplaceAll(u, ",", ""))
				if err != nil || n < 0 {
					res.Notes = append(res.Notes, fmt.Sprintf("%s: %s %q is not a number of users; left out", vm.Name, r.users, u))
				} else if n > a.Users {
					a.Users = n
				}
			}
		}
		if !r.dependsOn.IsZero() {
			for _, d := range strings.Split(vm.Value(r.dependsOn), ",") {
				if d = appName(d); d != "" && !contains(a.DependsOn, d) {
					a.DependsOn = append(a.DependsOn, d)
				}
			}
		}
	}
	if by.Kind == SourceNameStem {
		for _, a := range byName {
			var names []string
			for _, v := range a.VMs {
				names = append(names, v.Name)
			}
			if len(names) > 8 {
				names = append(names[:8], fmt.Sprintf("and %d more", len(names)-8))
			}
			if len(a.VMs) == 1 {
				a.Group = fmt.Sprintf("grouped by name-stem = %s: no other VM's name has this stem", a.Name)
			} else {
				a.Group = fmt.Sprintf("grouped by name-stem = %s: %s (the names without trailing digits and nameStem.affixes)", a.Name, strings.Join(names, ", "))
			}
		}
	}
	vmApps := map[string]bool{}
	for n := range byName {
		vmApps[n] = true
	}
	for _, s := range in.Servers {
		name := appName(s.Application)
		group := "physical servers of application " + s.Application
		if name == "" {
			name, group = appName(s.Name), "physical server with no application: an application of its own"
		}
		if vmApps[name] {
			// virtualise moves servers only: the VMs stay a separate
			// application, and this one moves with it.
			res.Notes = append(res.Notes, fmt.Sprintf("application %s has VMs and physical servers: the servers are application %s-physical", name, name))
			name += "-physical"
		}
		a := get(name, group)
		a.Servers = append(a.Servers, s)
		if rank(s.Criticality) > rank(a.Criticality) {
			a.Criticality = s.Criticality
		}
		if s.Users > a.Users {
			a.Users = s.Users
		}
	}
	for _, d := range in.Dependencies {
		a, dep := byName[appName(d.App)], appName(d.DependsOn)
		switch {
		case a == nil:
			res.Notes = append(res.Notes, fmt.Sprintf("%s: no application %s was discovered; dependency left out", d.Where, d.App))
		case byName[dep] == nil:
			res.Notes = append(res.Notes, fmt.Sprintf("%s: no application %s was discovered; dependency left out", d.Where, d.DependsOn))
		case !contains(a.DependsOn, dep):
			a.DependsOn = append(a.DependsOn, dep)
		}
	}
	for _, name := range order {
		a := byName[name]
		var kept []string
		for _, d := range a.DependsOn {
			switch {
			case d == a.Name:
			case byName[d] == nil:
				res.Notes = append(res.Notes, fmt.Sprintf("application %s depends on %s, which was not discovered; dependency left out", a.Name, d))
			default:
				kept = append(kept, d)
			}
		}
		sort.Strings(kept)
		a.DependsOn = kept
		res.Apps = append(res.Apps, a)
	}
	sort.Slice(res.Apps, func(i, j int) bool { return res.Apps[i].Name < res.Apps[j].Name })
	res.breakCycles(byName)

	replacements := map[string]bool{}
	for _, vm := range inv.VMs {
		replacements[vm.Name] = true
	}
	for _, s := range in.Servers {
		replacements[s.Name] = true
	}
	for _, a := range res.Apps {
		suggest(r, a, replacements)
		res.Counts[a.Strategy]++
	}
	res.pack()
	return res, nil
}

// AutoGroup picks the first grouping the VMs support, and says why: their
// folders (when any VM sits in one), an Application tag or attribute (when
// any VM has one), else the stem of their names.
func AutoGroup(vms []*VM) (Source, string) {
	has := func(f func(*VM) bool) bool {
		for _, v := range vms {
			if f(v) {
				return true
			}
		}
		return false
	}
	switch {
	case has(func(v *VM) bool { return v.Folder != "" }):
		return Source{Kind: SourceFolder}, "the VMs sit in folders"
	case has(func(v *VM) bool { return len(v.Tags["Application"]) > 0 }):
		return Source{Kind: SourceTag, Name: "Application"}, "no VM sits in a folder; they have Application tags"
	case has(func(v *VM) bool { return v.Attributes["Application"] != "" }):
		return Source{Kind: SourceAttribute, Name: "Application"}, "no VM sits in a folder; they have an Application attribute"
	}
	return Source{Kind: SourceNameStem}, "no folder, Application tag or Application attribute to group by"
}

func rank(c string) int {
	for i, x := range criticalities {
		if x == c {
			return i + 1
		}
	}
	return 0
}

// breakCycles drops the dependency that closes each cycle, so that the
// plan validates; the engineer is told which.
func (res *Result) breakCycles(byName map[string]*App) {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var visit func(a *App)
	visit = func(a *App) {
		color[a.Name] = grey
		var kept []string
		for _, d := range a.DependsOn {
			switch color[d] {
			case grey:
				res.Notes = append(res.Notes, fmt.Sprintf("dependency %s -> %s closes a cycle; left out: decide which comes first", a.Name, d))
				continue
			case white:
				visit(byName[d])
			}
			kept = append(kept, d)
		}
		a.DependsOn = kept
		color[a.Name] = black
	}
	for _, a := range res.Apps {
		if color[a.Name] == white {
			visit(a)
		}
	}
}

// suggest picks an application's strategy by the rules, in order: physical
// servers are virtualised; a listed retirement is replaced; a guest OS past
// end of support is redeployed; an old hardware version or too-small VM is
// remediated; anything else moves as it is (remediate with nothing to
// change: snapshot, relocate, verify).
func suggest(r *Rules, a *App, names map[string]bool) {
	if len(a.Servers) > 0 {
		a.Strategy = plan.Virtualise
		a.Why = []string{"physical servers: virtualise (a new VM of each server's size)"}
		return
	}
	for i, x := range r.Replace {
		hit := ""
		if x.re.MatchString(a.Name) {
			hit = "application " + a.Name
		}
		for _, v := range a.VMs {
			if hit == "" && x.re.MatchString(v.Name) {
				hit = "VM " + v.Name
			}
		}
		if hit == "" {
			continue
		}
		name := x.Name
		if name == "" || names[name] {
			name = a.Name + "-replacement"
		}
		names[name] = true
		a.Strategy = plan.Replace
		a.Replacement = &plan.Replacement{Template: x.Template, Name: name}
		why := fmt.Sprintf("%s matches replace rule %d (%s)", hit, i+1, x.Match)
		if x.Why != "" {
			why += ": " + x.Why
		}
		a.Why = []string{why}
		return
	}
	for _, v := range a.VMs {
		for i, x := range r.Redeploy {
			if !(v.GuestID != "" && x.re.MatchString(v.GuestID)) && !(v.GuestOS != "" && x.re.MatchString(v.GuestOS)) {
				continue
			}
			if a.Strategy == "" {
				a.Strategy = plan.Redeploy
				a.Template = x.Template
				why := fmt.Sprintf("guest OS of %s (%s) matches end-of-support rule %d (%s)", v.Name, osOf(v), i+1, x.OS)
				if x.Why != "" {
					why += ": " + x.Why
				}
				a.Why = []string{why}
			}
			a.Notes[v.Name] = "end of support: " + osOf(v)
			break
		}
	}
	if a.Strategy == plan.Redeploy {
		for _, v := range a.VMs {
			if a.Notes[v.Name] == "" {
				a.Notes[v.Name] = "not past end of support, but redeployed with its application: check " + a.Template + " suits it"
			}
		}
		return
	}
	a.Strategy = plan.Remediate
	rem := &plan.Remediation{}
	rr := r.Remediate
	if below := hardwareNumber(rr.BelowHardware); below > 0 {
		var old []string
		for _, v := range a.VMs {
			if n := hardwareNumber(v.HardwareVersion); n > 0 && n < below {
				old = append(old, v.Name)
				a.Notes[v.Name] = fmt.Sprintf("hardware %s, older than %s", v.HardwareVersion, rr.BelowHardware)
			}
		}
		if len(old) > 0 {
			rem.HardwareVersion = rr.HardwareVersion
			a.Why = append(a.Why, fmt.Sprintf("hardware older than %s on %s: upgrade to %s", rr.BelowHardware, strings.Join(old, ", "), rr.HardwareVersion))
		}
	}
	maxCPU, maxMem := 0, 0
	var smallCPU, smallMem []string
	for _, v := range a.VMs {
		maxCPU, maxMem = max(maxCPU, v.CPUs), max(maxMem, v.MemoryMB)
		if rr.MinCPUs > 0 && v.CPUs < rr.MinCPUs {
			smallCPU = append(smallCPU, v.Name)
			a.Notes[v.Name] = joinNote(a.Notes[v.Name], fmt.Sprintf("%d vCPU, fewer than %d", v.CPUs, rr.MinCPUs))
		}
		if rr.MinMemoryMB > 0 && v.MemoryMB < rr.MinMemoryMB {
			smallMem = append(smallMem, v.Name)
			a.Notes[v.Name] = joinNote(a.Notes[v.Name], fmt.Sprintf("%d MB, less than %d", v.MemoryMB, rr.MinMemoryMB))
		}
	}
	// remediate sets one size for every VM of the application: the
	// largest there, so that none shrinks.
	if len(smallCPU) > 0 {
		rem.CPUs = max(rr.MinCPUs, maxCPU)
		a.Why = append(a.Why, fmt.Sprintf("fewer than %d vCPU on %s: every VM to %d vCPU (none shrinks)", rr.MinCPUs, strings.Join(smallCPU, ", "), rem.CPUs))
	}
	if len(smallMem) > 0 {
		rem.MemoryMB = max(rr.MinMemoryMB, maxMem)
		a.Why = append(a.Why, fmt.Sprintf("less than %d MB on %s: every VM to %d MB (none shrinks)", rr.MinMemoryMB, strings.Join(smallMem, ", "), rem.MemoryMB))
	}
	if rem.HardwareVersion != "" || rem.CPUs > 0 || rem.MemoryMB > 0 {
		a.Remediate = rem
		return
	}
	a.Why = []string{"no rule matched: moves as it is (snapshot, relocate, verify)"}
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	if b == "" {
		return a
	}
	return a + "; " + b
}

func osOf(v *VM) string {
	if v.GuestOS != "" {
		return v.GuestOS
	}
	return v.GuestID
}
