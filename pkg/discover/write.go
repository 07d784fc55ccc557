package discover

import (
	"bytes"
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/wavectl/wavectl/pkg/plan"
)

// Placeholders written when the target is not given; the summary and a
// comment next to each say what to set.
const (
	PlaceholderURL        = "https://vcenter.invalid/sdk"
	PlaceholderDatacenter = "DC-NEW"
	PlaceholderCluster    = "CLUSTER-NEW"
	PlaceholderDatastore  = "DATASTORE-NEW"
)

// str is a string scalar, quoted when a YAML reader could take it for
// something else: YAML 1.1 booleans and nulls (yes, no, on, off, y, n,
// ~; PyYAML and many editors still read YAML 1.1), numbers, and names with
// spaces at either end, which discover keeps exactly as vCenter has them.
func str(v string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v}
	if needsQuotes(v) {
		n.Style = yaml.DoubleQuotedStyle
	}
	return n
}

var yaml11Special = regexp.MustCompile(`^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF|null|Null|NULL|~|[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?|0x[0-9a-fA-F_]+|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?)$`)

func needsQuotes(v string) bool {
	return v == "" || yaml11Special.MatchString(v) || strings.TrimSpace(v) != v
}

func num(n int) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(n)}
}

func seq(flow bool, items ...*yaml.Node) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: items}
	if flow {
		n.Style = yaml.FlowStyle
	}
	return n
}

func strs(flow bool, v []string) *yaml.Node {
	items := make([]*yaml.Node, len(v))
	for i, s := range v {
		items[i] = str(s)
	}
	return seq(flow, items...)
}

func ints(v []int) *yaml.Node {
	items := make([]*yaml.Node, len(v))
	for i, n := range v {
		items[i] = num(n)
	}
	return seq(true, items...)
}

// mapping is an ordered YAML mapping; keys are added with set.
type mapping struct{ n *yaml.Node }

func newMapping(flow bool) mapping {
	m := mapping{&yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}}
	if flow {
		m.n.Style = yaml.FlowStyle
	}
	return m
}

// set adds key: value and returns the key node, for comments.
func (m mapping) set(key string, v *yaml.Node) *yaml.Node {
	k := str(key)
	m.n.Content = append(m.n.Content, k, v)
	return k
}

var planNameBad = regexp.MustCompile(`[^a-z0-9-]+`)

// Write renders the result as a plan in YAML, with the reason for every
// suggestion in a comment next to it.
func (res *Result) Write() ([]byte, error) {
	r, inv := res.Rules, res.Inventory
	root := newMapping(false)
	root.n.HeadComment = strings.Join([]string{
		"Written by `wavectl discover` from " + inv.From + ".",
		"A starter plan: every strategy, wave and grouping below is a suggestion,",
		"with its reason in a comment next to it. Review it, change what your",
		"judgement says, then: wavectl validate, wavectl plan, wavectl apply --wave wave-1.",
	}, "\n")
	if lo := inv.LeftOut; len(lo) > 0 {
		bad := 0
		for _, l := range lo {
			if l.Unreadable {
				bad++
			}
		}
		lines := []string{"", fmt.Sprintf("Left out of this plan: %s that could not be read; %s not the migration's to move:",
			count(bad, "row"), count(len(lo)-bad, "VM"))}
		for _, l := range lo {
			if inv.file != "" {
				// The plan names the export by its file name, wherever it was read.
				l.Where = strings.Replace(l.Where, inv.file, filepath.Base(inv.file), 1)
			}
			lines = append(lines, "  "+commentSafe(l.String()))
		}
		root.n.HeadComment += strings.Join(lines, "\n")
	}
	root.set("apiVersion", str(plan.APIVersion))
	root.set("kind", str(plan.Kind))

	meta := newMapping(false)
	name := planNameBad.ReplaceAllString(strings.ToLower(r.Plan.Name), "-")
	name = strings.Trim(name, "-")
	if name == "" {
		name = "discovered"
	}
	meta.set("name", str(name))
	desc := r.Plan.Description
	if desc == "" {
		desc = "Starter plan discovered from " + inv.From
	}
	meta.set("description", str(desc))
	root.set("metadata", meta.n)

	// vCenters: the source, and the target when it is another one.
	vcs := newMapping(false)
	srcName := orString(r.Source.VCenter, "source")
	srcURL := orString(r.Source.URL, inv.VCenterURL)
	srcVC := newMapping(false)
	k := srcVC.set("url", str(orString(srcURL, PlaceholderURL)))
	if srcURL == "" {
		k.LineComment = "placeholder: the source vCenter's SDK URL (source.url in the rules file)"
		res.note("the source vCenter's URL is a placeholder: set source.url in the rules file, or override it with --vcenter " + srcName + "=URL when you run")
	}
	vcs.set(srcName, srcVC.n)
	tgtName := r.Target.VCenter
	if tgtName == srcName {
		tgtName = ""
	}
	if tgtName == "" && r.Target.URL != "" {
		tgtName = "target"
	}
	if tgtName != "" {
		tgtVC := newMapping(false)
		k := tgtVC.set("url", str(orString(r.Target.URL, PlaceholderURL)))
		if r.Target.URL == "" {
			k.LineComment = "placeholder: the target vCenter's SDK URL (target.url in the rules file)"
			res.note("the target vCenter's URL is a placeholder: set target.url in the rules file")
		}
		vcs.set(tgtName, tgtVC.n)
	}
	root.set("vcenters", vcs.n)

	src := newMapping(false)
	src.set("vcenter", str(srcName))
	dc := inv.Datacenter
	k = src.set("datacenter", str(orString(dc, "DC-SOURCE")))
	if dc == "" {
		k.LineComment = "placeholder: the export names no datacenter; set the source datacenter"
		res.note("the source datacenter is a placeholder (DC-SOURCE): the input names none")
	}
	if inv.Folder != "" {
		src.set("folder", str(inv.Folder))
	}
	root.set("source", src.n)

	tgt := newMapping(false)
	if tgtName != "" {
		tgt.set("vcenter", str(tgtName))
	}
	place := func(key, v, placeholder, flag string) {
		k := tgt.set(key, str(orString(v, placeholder)))
		if v == "" {
			k.LineComment = fmt.Sprintf("placeholder: set with %s or target.%s in the rules file", flag, key)
			res.note(fmt.Sprintf("target %s is a placeholder (%s): set it with %s or target.%s in the rules file", key, placeholder, flag, key))
		}
	}
	place("datacenter", r.Target.Datacenter, PlaceholderDatacenter, "--target-datacenter")
	place("cluster", r.Target.Cluster, PlaceholderCluster, "--target-cluster")
	place("datastore", r.Target.Datastore, PlaceholderDatastore, "--target-datastore")
	if r.Target.Folder != "" {
		tgt.set("folder", str(r.Target.Folder))
	}
	nets := res.networks()
	if len(nets) > 0 {
		nm := newMapping(false)
		for _, n := range nets {
			to, ok := r.Target.Networks[n]
			k := nm.set(n, str(orString(to, n)))
			if !ok {
				k.LineComment = "same name: map it with --network or target.networks in the rules file"
			}
		}
		tgt.set("networks", nm.n)
	}
	root.set("target", tgt.n)

	// Applications, in the order they move: waves, then the conveyor.
	byName := map[string]*App{}
	for _, a := range res.Apps {
		byName[a.Name] = a
	}
	var ordered []*App
	for _, w := range res.Waves {
		for _, n := range w.Apps {
			ordered = append(ordered, byName[n])
		}
	}
	for _, n := range res.Conveyor {
		ordered = append(ordered, byName[n])
	}
	var apps []*yaml.Node
	for _, a := range ordered {
		apps = append(apps, a.node())
	}
	root.set("applications", seq(false, apps...))

	if len(res.Waves) > 0 {
		var waves []*yaml.Node
		for _, w := range res.Waves {
			m := newMapping(false)
			m.n.HeadComment = strings.Join(append([]string{describeWave(w)}, w.Why...), "\n")
			m.set("name", str(w.Name))
			if w.Window != nil {
				win := newMapping(true)
				win.set("start", str(w.Window.Start.Format(time.RFC3339)))
				win.set("end", str(w.Window.End.Format(time.RFC3339)))
				m.set("window", win.n)
			}
			m.set("applications", strs(true, w.Apps))
			m.set("onFailure", str(r.Waves.OnFailure))
			waves = append(waves, m.n)
		}
		k = root.set("waves", seq(false, waves...))
		k.HeadComment = fmt.Sprintf("Waves: packed in window order within waves.maxVMs %d, maxVCPUs %d, maxMemoryGB %d (0: no bound)\nand each window's length; an application never moves before what it depends on.",
			r.Waves.MaxVMs, r.Waves.MaxVCPUs, r.Waves.MaxMemoryGB)
	}
	if len(res.Conveyor) > 0 {
		c := newMapping(false)
		c.set("applications", strs(false, res.Conveyor))
		c.set("inFlight", num(max(1, r.Conveyor.InFlight)))
		k = root.set("conveyor", c.n)
		k.HeadComment = fmt.Sprintf("Conveyor: applications of at most %d VMs with criticality %s, tied by\ndependencies to no application in a wave, one by one.",
			r.Conveyor.MaxVMs, strings.Join(r.Conveyor.Criticality, " or "))
	}

	safeComments(root.n)
	doc := &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root.n}}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (a *App) node() *yaml.Node {
	m := newMapping(false)
	m.n.HeadComment = a.Group
	m.set("name", str(a.Name))
	k := m.set("strategy", str(a.Strategy))
	k.LineComment = strings.Join(a.Why, "; ")
	if a.Criticality != "" {
		m.set("criticality", str(a.Criticality))
	}
	if a.Users > 0 {
		m.set("users", num(a.Users))
	}
	if len(a.DependsOn) > 0 {
		m.set("dependsOn", strs(true, a.DependsOn))
	}
	if len(a.VMs) > 0 {
		var vms []*yaml.Node
		for _, v := range a.VMs {
			vm := newMapping(true)
			vm.set("name", str(v.Name))
			vm.set("cpus", num(v.CPUs))
			vm.set("memoryMB", num(v.MemoryMB))
			if len(v.DisksGB) > 0 {
				vm.set("disksGB", ints(v.DisksGB))
			}
			if len(v.Networks) > 0 {
				vm.set("networks", strs(true, v.Networks))
			}
			if v.PowerState != "" {
				vm.set("powerState", str(v.PowerState))
			}
			if v.GuestID != "" {
				vm.set("guestId", str(v.GuestID))
			}
			if v.HardwareVersion != "" {
				vm.set("hardwareVersion", str(v.HardwareVersion))
			}
			vm.n.LineComment = commentSafe(joinNote(a.Notes[v.Name], v.facts()))
			vms = append(vms, vm.n)
		}
		m.set("vms", seq(false, vms...))
	}
	if len(a.Servers) > 0 {
		var ss []*yaml.Node
		for _, s := range a.Servers {
			sm := newMapping(true)
			sm.set("name", str(s.Name))
			sm.set("cpus", num(s.CPUs))
			sm.set("memoryMB", num(s.MemoryMB))
			sm.set("disksGB", ints(s.DisksGB))
			if len(s.Networks) > 0 {
				sm.set("networks", strs(true, s.Networks))
			}
			if s.GuestID != "" {
				sm.set("guestId", str(s.GuestID))
			}
			ss = append(ss, sm.n)
		}
		m.set("servers", seq(false, ss...))
	}
	if a.Template != "" {
		m.set("template", str(a.Template))
	}
	if r := a.Remediate; r != nil {
		rm := newMapping(false)
		if r.HardwareVersion != "" {
			rm.set("hardwareVersion", str(r.HardwareVersion))
		}
		if r.CPUs > 0 {
			rm.set("cpus", num(r.CPUs))
		}
		if r.MemoryMB > 0 {
			rm.set("memoryMB", num(r.MemoryMB))
		}
		m.set("remediate", rm.n)
	}
	if r := a.Replacement; r != nil {
		rm := newMapping(true)
		rm.set("template", str(r.Template))
		rm.set("name", str(r.Name))
		m.set("replacement", rm.n)
	}
	return m.n
}

// facts are what the other sheets said of a VM, for the engineer (the
// plan has no field for them): its host's CPU and EVC mode, the EVC mode
// it needs, hot-add, and the space its guest uses.
func (v *VM) facts() string {
	var f []string
	if v.HostCPU != "" || v.HostEVC != "" {
		h := "host " + orString(v.Host, "?")
		if v.HostCPU != "" {
			h += " " + v.HostCPU
		}
		if v.HostEVC != "" {
			h += ", EVC " + v.HostEVC
		}
		f = append(f, h)
	}
	if v.RequiredEVC != "" {
		f = append(f, "needs EVC "+v.RequiredEVC)
	}
	switch {
	case v.CPUHotAdd && v.MemoryHotAdd:
		f = append(f, "CPU and memory hot-add on")
	case v.CPUHotAdd:
		f = append(f, "CPU hot-add on")
	case v.MemoryHotAdd:
		f = append(f, "memory hot-add on")
	}
	if v.UsedGB > 0 {
		total := 0
		for _, d := range v.DisksGB {
			total += d
		}
		f = append(f, fmt.Sprintf("%d of %d GB used", v.UsedGB, total))
	}
	return strings.Join(f, "; ")
}

// commentSafe keeps a comment line a comment: control characters and
// invalid UTF-8 (a cell may hold anything) are written as Go escapes.
func commentSafe(s string) string {
	if utf8.ValidString(s) && strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) || !unicode.IsPrint(r) && r != ' ' }) < 0 {
		return s
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

// safeComments makes every comment in the tree safe, line by line.
func safeComments(n *yaml.Node) {
	for _, c := range []*string{&n.HeadComment, &n.LineComment, &n.FootComment} {
		if *c != "" {
			lines := strings.Split(*c, "\n")
			for i, l := range lines {
				lines[i] = commentSafe(l)
			}
			*c = strings.Join(lines, "\n")
		}
	}
	for _, k := range n.Content {
		safeComments(k)
	}
}

// networks are every source network a VM or server sits on.
func (res *Result) networks() []string {
	seen := map[string]bool{}
	for _, a := range res.Apps {
		for _, v := range a.VMs {
			for _, n := range v.Networks {
				seen[n] = true
			}
		}
		for _, s := range a.Servers {
			for _, n := range s.Networks {
				seen[n] = true
			}
		}
	}
	out := slices.Sorted(maps.Keys(seen))
	sort.Strings(out)
	return out
}

func (res *Result) note(s string) {
	if !contains(res.Notes, s) {
		res.Notes = append(res.Notes, s)
	}
}

func orString(v, d string) string {
	if strings.TrimSpace(v) != "" {
		return v
	}
	return d
}
