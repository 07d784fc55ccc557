package discover

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Rules say how discover groups VMs into applications and which strategy
// and wave it suggests. Every field has a default (DefaultRules); a rules
// file overrides the ones it sets. See examples/discover/rules.yaml.
type Rules struct {
	// GroupBy names the source of each VM's application:
	// tag:CATEGORY, attribute:NAME, folder, pattern:REGEX or name-stem;
	// "" (the default) picks the first the data supports (see AutoGroup).
	GroupBy string `yaml:"groupBy"`
	// NameStem tunes name-stem grouping.
	NameStem NameStemRules `yaml:"nameStem"`
	// Criticality, Users and DependsOn name where those come from, in the
	// same form (pattern is not allowed). DependsOn holds a comma-separated
	// list of application names.
	Criticality string `yaml:"criticality"`
	Users       string `yaml:"users"`
	DependsOn   string `yaml:"dependsOn"`

	Plan   PlanRules   `yaml:"plan"`
	Source VCRules     `yaml:"source"`
	Target TargetRules `yaml:"target"`

	Remediate RemediateRules `yaml:"remediate"`
	Redeploy  []RedeployRule `yaml:"redeploy"`
	Replace   []ReplaceRule  `yaml:"replace"`

	Conveyor ConveyorRules `yaml:"conveyor"`
	Waves    WaveRules     `yaml:"waves"`

	groupBy, criticality, users, dependsOn Source
	affixes                                []string
}

// NameStemRules: the affixes stripped from VM names, and the shortest
// stem left.
type NameStemRules struct {
	Affixes   []string `yaml:"affixes"`
	MinLength int      `yaml:"minLength"`
}

// PlanRules name the plan.
type PlanRules struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
}

// VCRules name a vCenter in the plan, and its URL.
type VCRules struct {
	VCenter string `yaml:"vcenter"`
	URL     string `yaml:"url"`
}

// TargetRules are the plan's target: discover cannot see it.
type TargetRules struct {
	VCenter    string            `yaml:"vcenter"`
	URL        string            `yaml:"url"`
	Datacenter string            `yaml:"datacenter"`
	Cluster    string            `yaml:"cluster"`
	Datastore  string            `yaml:"datastore"`
	Folder     string            `yaml:"folder"`
	Networks   map[string]string `yaml:"networks"`
}

// RemediateRules: a VM below these is suggested for remediation.
type RemediateRules struct {
	// BelowHardware: a VM on an older hardware version is upgraded to
	// HardwareVersion.
	BelowHardware   string `yaml:"belowHardware"`
	HardwareVersion string `yaml:"hardwareVersion"`
	// MinCPUs and MinMemoryMB: a smaller VM is grown.
	MinCPUs     int `yaml:"minCPUs"`
	MinMemoryMB int `yaml:"minMemoryMB"`
}

// RedeployRule: VMs whose guest OS matches are past end of support and are
// redeployed from Template.
type RedeployRule struct {
	OS       string `yaml:"os"`
	Template string `yaml:"template"`
	Why      string `yaml:"why"`
	re       *regexp.Regexp
	line     int
}

// ReplaceRule: applications (or VMs) whose name matches are retired in
// favour of a replacement service.
type ReplaceRule struct {
	Match    string `yaml:"match"`
	Template string `yaml:"template"`
	Name     string `yaml:"name"`
	Why      string `yaml:"why"`
	re       *regexp.Regexp
	line     int
}

// ConveyorRules say which applications are small and low-risk enough for
// the conveyor.
type ConveyorRules struct {
	MaxVMs      int      `yaml:"maxVMs"`
	Criticality []string `yaml:"criticality"`
	InFlight    int      `yaml:"inFlight"`
}

// WaveRules bound each wave and give its window.
type WaveRules struct {
	// MaxVMs, MaxVCPUs and MaxMemoryGB: what the target takes in one
	// window (0: no bound).
	MaxVMs      int `yaml:"maxVMs"`
	MaxVCPUs    int `yaml:"maxVCPUs"`
	MaxMemoryGB int `yaml:"maxMemoryGB"`
	// First, Every and Length make windows when Windows lists none: the
	// first opens at First, the next Every later, each Length long.
	First  time.Time `yaml:"first"`
	Every  Duration  `yaml:"every"`
	Length Duration  `yaml:"length"`
	// Windows are explicit change windows, in time order; Quiet ranks how
	// few users are about (higher is quieter).
	Windows   []WindowRule `yaml:"windows"`
	OnFailure string       `yaml:"onFailure"`
}

// WindowRule is one change window.
type WindowRule struct {
	Start time.Time `yaml:"start"`
	End   time.Time `yaml:"end"`
	Quiet int       `yaml:"quiet"`
}

// Duration is a time.Duration written as "10h" or "168h".
type Duration time.Duration

// UnmarshalYAML reads "10h", "90m".
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || v < 0 {
		return fmt.Errorf("line %d: %q is not a duration; write e.g. 10h or 168h", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// DefaultRules are used for every field a rules file leaves out.
func DefaultRules() *Rules {
	return &Rules{
		NameStem:    NameStemRules{Affixes: DefaultAffixes, MinLength: DefaultStemMinLength},
		Criticality: "attribute:Criticality",
		Users:       "attribute:Users",
		DependsOn:   "attribute:DependsOn",
		Source:      VCRules{VCenter: "source"},
		Remediate: RemediateRules{
			BelowHardware:   "vmx-13",
			HardwareVersion: "vmx-19",
			MinCPUs:         2,
			MinMemoryMB:     2048,
		},
		Conveyor: ConveyorRules{MaxVMs: 2, Criticality: []string{"low"}, InFlight: 1},
		Waves: WaveRules{
			MaxVMs:    20,
			First:     time.Date(2030, 1, 5, 20, 0, 0, 0, time.UTC), // a Saturday night
			Every:     Duration(7 * 24 * time.Hour),
			Length:    Duration(10 * time.Hour),
			OnFailure: "continue",
		},
	}
}

// RulesError is a mistake in the rules file, with where it is.
type RulesError struct {
	File string
	Line int
	Msg  string
}

func (e *RulesError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// LoadRules reads a rules file over the defaults.
func LoadRules(path string) (*Rules, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseRules(path, data)
}

// ParseRules reads rules from bytes over the defaults; file names them in
// messages.
func ParseRules(file string, data []byte) (*Rules, error) {
	r := DefaultRules()
	if len(bytes.TrimSpace(data)) > 0 {
		var root yaml.Node
		if err := yaml.Unmarshal(data, &root); err != nil {
			return nil, rulesYAMLError(file, err)
		}
		// Lists replace the defaults rather than merging into them.
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(r); err != nil {
			return nil, rulesYAMLError(file, err)
		}
		lines(&root, r)
	}
	if err := r.check(file); err != nil {
		return nil, err
	}
	return r, nil
}

func rulesYAMLError(file string, err error) error {
	var te *yaml.TypeError
	msg := err.Error()
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1]) // the pattern matched digits
		return &RulesError{File: file, Line: line, Msg: m[2] + " (see examples/discover/rules.yaml for the format)"}
	}
	return &RulesError{File: file, Msg: msg + " (see examples/discover/rules.yaml for the format)"}
}

// lines records where each redeploy and replace rule sits, for messages.
func lines(root *yaml.Node, r *Rules) {
	if root.Kind != yaml.DocumentNode || len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return
	}
	m := root.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		key, val := m.Content[i].Value, m.Content[i+1]
		if val.Kind != yaml.SequenceNode {
			continue
		}
		for j, item := range val.Content {
			switch {
			case key == "redeploy" && j < len(r.Redeploy):
				r.Redeploy[j].line = item.Line
			case key == "replace" && j < len(r.Replace):
				r.Replace[j].line = item.Line
			}
		}
	}
}

var criticalities = []string{"low", "medium", "high", "critical"}

// Check checks the rules and compiles their sources and patterns; file
// names them in messages. LoadRules and ParseRules call it; call it again
// after changing rules (from flags).
func (r *Rules) Check(file string) error { return r.check(file) }

func (r *Rules) check(file string) error {
	fail := func(line int, format string, args ...any) error {
		return &RulesError{File: file, Line: line, Msg: fmt.Sprintf(format, args...)}
	}
	var err error
	r.groupBy = Source{}
	if strings.TrimSpace(r.GroupBy) != "" {
		if r.groupBy, err = ParseSource(r.GroupBy); err != nil {
			return fail(0, "groupBy %v", err)
		}
	}
	if r.NameStem.MinLength < 1 {
		return fail(0, "nameStem.minLength must be 1 or more (default %d)", DefaultStemMinLength)
	}
	r.affixes = nil
	for _, a := range r.NameStem.Affixes {
		a = strings.ToLower(strings.TrimSpace(a))
		if a == "" || stemSep.MatchString(a) {
			return fail(0, "nameStem.affixes: %q: give each affix as one word of letters or digits, e.g. prod", a)
		}
		r.affixes = append(r.affixes, a)
	}
	// The longest affix first, so that sqa is stripped before qa.
	sort.SliceStable(r.affixes, func(i, j int) bool { return len(r.affixes[i]) > len(r.affixes[j]) })
	for _, f := range []struct {
		name string
		val  string
		dst  *Source
	}{{"criticality", r.Criticality, &r.criticality}, {"users", r.Users, &r.users}, {"dependsOn", r.DependsOn, &r.dependsOn}} {
		if strings.TrimSpace(f.val) == "" {
			continue
		}
		s, err := ParseSource(f.val)
		if err != nil {
			return fail(0, "%s %v", f.name, err)
		}
		if s.Kind == SourcePattern || s.Kind == SourceFolder || s.Kind == SourceNameStem {
			return fail(0, "%s: %q: write tag:CATEGORY or attribute:NAME", f.name, f.val)
		}
		*f.dst = s
	}
	if r.Remediate.BelowHardware != "" && normalHardware(r.Remediate.BelowHardware) == "" {
		return fail(0, "remediate.belowHardware %q: write a hardware version, e.g. vmx-13", r.Remediate.BelowHardware)
	}
	if hw := r.Remediate.HardwareVersion; hw != "" && !regexp.MustCompile(`^vmx-[0-9]+$`).MatchString(hw) {
		return fail(0, "remediate.hardwareVersion %q: write it as vmx-NN, e.g. vmx-19", hw)
	}
	if r.Remediate.BelowHardware != "" && r.Remediate.HardwareVersion == "" {
		return fail(0, "remediate.belowHardware is set but remediate.hardwareVersion (what to upgrade to) is not")
	}
	if r.Remediate.MinCPUs < 0 || r.Remediate.MinMemoryMB < 0 {
		return fail(0, "remediate.minCPUs and remediate.minMemoryMB must be 0 (no minimum) or more")
	}
	for i := range r.Redeploy {
		x := &r.Redeploy[i]
		if strings.TrimSpace(x.OS) == "" {
			return fail(x.line, "redeploy rule %d has no os: give a regular expression matched against the guest OS id and name, e.g. \"windows7Server|Windows Server 2008\"", i+1)
		}
		if x.re, err = regexp.Compile("(?i)" + x.OS); err != nil {
			return fail(x.line, "redeploy rule %d: os %q is not a regular expression: %v", i+1, x.OS, err)
		}
		if strings.TrimSpace(x.Template) == "" {
			return fail(x.line, "redeploy rule %d (%s) has no template: name the template new VMs are cloned from, e.g. template: tpl-win2022", i+1, x.OS)
		}
	}
	for i := range r.Replace {
		x := &r.Replace[i]
		if strings.TrimSpace(x.Match) == "" {
			return fail(x.line, "replace rule %d has no match: give a regular expression matched against application and VM names", i+1)
		}
		if x.re, err = regexp.Compile(x.Match); err != nil {
			return fail(x.line, "replace rule %d: match %q is not a regular expression: %v", i+1, x.Match, err)
		}
		if strings.TrimSpace(x.Template) == "" {
			return fail(x.line, "replace rule %d (%s) has no template: name the replacement service's template", i+1, x.Match)
		}
	}
	for _, c := range r.Conveyor.Criticality {
		if !contains(criticalities, c) {
			return fail(0, "conveyor.criticality %q: use low, medium, high or critical", c)
		}
	}
	if r.Conveyor.MaxVMs < 0 || r.Conveyor.InFlight < 0 {
		return fail(0, "conveyor.maxVMs and conveyor.inFlight must be 0 or more")
	}
	w := &r.Waves
	if w.MaxVMs < 0 || w.MaxVCPUs < 0 || w.MaxMemoryGB < 0 {
		return fail(0, "waves.maxVMs, maxVCPUs and maxMemoryGB must be 0 (no bound) or more")
	}
	if len(w.Windows) == 0 && (w.Every <= 0 || w.Length <= 0) {
		return fail(0, "waves.every and waves.length must be more than 0 (or list waves.windows)")
	}
	for i, win := range w.Windows {
		if !win.End.After(win.Start) {
			return fail(0, "waves.windows[%d]: the end must be after the start", i)
		}
		if i > 0 && win.Start.Before(w.Windows[i-1].End) {
			return fail(0, "waves.windows[%d] opens before waves.windows[%d] closes: list windows in time order, without overlaps", i, i-1)
		}
	}
	if !contains([]string{"continue", "stop", "rollback"}, w.OnFailure) {
		return fail(0, "waves.onFailure %q: use continue, stop or rollback", w.OnFailure)
	}
	for k, v := range r.Target.Networks {
		if strings.TrimSpace(k) == "" || strings.TrimSpace(v) == "" {
			return fail(0, "target.networks: %q: %q: name both the source network and the target portgroup", k, v)
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
