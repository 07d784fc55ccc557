// Package discover turns an inventory (the live vCenter, an RVTools export,
// a CMDB list of physical servers) into a starter migration plan: grouped
// applications, suggested strategies and waves, each with the reason why.
package discover

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Inventory is what was read of the source estate, whatever it came from.
type Inventory struct {
	// From says where it was read: "vcenter URL", "rvtools FILE".
	From string
	// VCenterURL is the source vCenter's SDK URL when known (without
	// credentials); Datacenter the source datacenter.
	VCenterURL string
	Datacenter string
	// Folder is the VM folder the read was limited to ("" for all).
	Folder string
	VMs    []*VM
	// Columns says which input column fed each field (RVTools), for the
	// summary: field -> column heading.
	Columns map[string]string
	// Skipped counts what the filter left out (other datacenters,
	// clusters, folders).
	Skipped map[string]int
	// LeftOut lists each row or VM left out of the plan, and why: rows
	// that could not be read, templates, VMs a solution manages, the
	// vCenter appliance.
	LeftOut []LeftOut
	// Sheets says which RVTools sheets besides vInfo were used, and their
	// columns: sheet -> columns.
	Sheets map[string]string

	vcenterHost string
	file        string // the export read, as given
}

// VM is one source virtual machine.
type VM struct {
	Name            string
	Folder          string // VM folder path under the datacenter's vm folder
	Cluster         string
	CPUs            int
	MemoryMB        int
	DisksGB         []int
	Networks        []string
	PowerState      string // poweredOn, poweredOff (suspended counts as on)
	GuestID         string // vSphere guest id, when known
	GuestOS         string // guest OS full name, when known
	HardwareVersion string // vmx-NN
	// Tags are vSphere tags by category; Attributes custom attributes by
	// name. An RVTools export carries both as extra vInfo columns, so
	// there they share one map (see Value).
	Tags       map[string][]string
	Attributes map[string]string
	// Where names the input row for messages ("export.csv:12").
	Where string

	// What the other RVTools sheets (or vCenter) say, for the engineer and
	// the live-move checks: the host, its CPU model and EVC mode, the EVC
	// mode the VM needs at least, CPU and memory hot-add, and the space
	// its guest uses (vPartition).
	Host, HostCPU, HostEVC  string
	RequiredEVC             string
	CPUHotAdd, MemoryHotAdd bool
	UsedGB                  int
}

// Value is the VM's value for a source such as "tag:Application",
// "attribute:Owner" or "folder"; "" when it has none.
func (v *VM) Value(src Source) string {
	switch src.Kind {
	case SourceTag:
		if t := v.Tags[src.Name]; len(t) > 0 {
			return t[0]
		}
		// An RVTools export has no tags of its own: a column of that
		// name stands in.
		return v.Attributes[src.Name]
	case SourceAttribute:
		return v.Attributes[src.Name]
	case SourceFolder:
		return v.Folder
	case SourcePattern:
		m := src.re.FindStringSubmatch(v.Name)
		switch {
		case m == nil:
			return ""
		case len(m) > 1 && m[1] != "":
			return m[1]
		}
		return m[0]
	}
	return ""
}

// Source kinds: where an application name, a criticality or a user count
// is read from.
const (
	SourceTag       = "tag"
	SourceAttribute = "attribute"
	SourceFolder    = "folder"
	SourcePattern   = "pattern"
	SourceNameStem  = "name-stem"
)

// Source is a parsed "tag:CATEGORY", "attribute:NAME", "folder" or
// "pattern:REGEX".
type Source struct {
	Kind string
	Name string // the category, attribute or regular expression
	re   *regexp.Regexp
}

func (s Source) String() string {
	if s.Kind == SourceFolder || s.Kind == SourceNameStem || s.Kind == "" {
		return s.Kind
	}
	return s.Kind + ":" + s.Name
}

// IsZero reports an unset source.
func (s Source) IsZero() bool { return s.Kind == "" }

// ParseSource parses a source as the rules file and --group-by write it.
func ParseSource(s string) (Source, error) {
	s = strings.TrimSpace(s)
	switch s {
	case SourceFolder:
		return Source{Kind: SourceFolder}, nil
	case SourceNameStem:
		return Source{Kind: SourceNameStem}, nil
	}
	kind, name, ok := strings.Cut(s, ":")
	name = strings.TrimSpace(name)
	if !ok || name == "" {
		return Source{}, fmt.Errorf("%q: write tag:CATEGORY, attribute:NAME, folder, pattern:REGEX or name-stem", s)
	}
	switch kind {
	case SourceTag, SourceAttribute:
		return Source{Kind: kind, Name: name}, nil
	case SourcePattern:
		re, err := regexp.Compile(name)
		if err != nil {
			return Source{}, fmt.Errorf("%q: the pattern is not a regular expression: %v", s, err)
		}
		return Source{Kind: kind, Name: name, re: re}, nil
	}
	return Source{}, fmt.Errorf("%q: %q is not a source; write tag:CATEGORY, attribute:NAME, folder, pattern:REGEX or name-stem", s, kind)
}

// Server is a physical server from the CMDB list.
type Server struct {
	Name        string
	CPUs        int
	MemoryMB    int
	DisksGB     []int
	Networks    []string
	GuestID     string
	Application string
	Criticality string
	Users       int
	Where       string
}

// hardwareNumber is NN of "vmx-NN" (or of a bare "NN"), 0 when unknown.
func hardwareNumber(v string) int {
	n, err := strconv.Atoi(strings.TrimPrefix(strings.ToLower(strings.TrimSpace(v)), "vmx-"))
	if err != nil {
		return 0
	}
	return n
}

// normalHardware writes a hardware version as vmx-NN; "" when it is not one.
func normalHardware(v string) string {
	if n := hardwareNumber(v); n > 0 {
		return fmt.Sprintf("vmx-%02d", n)
	}
	return ""
}

var nameBad = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// appName makes a valid application name of s: letters, digits, dots,
// dashes and underscores, starting and ending with a letter or digit.
func appName(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndex(s, "/"); i >= 0 && i < len(s)-1 {
		s = s[i+1:] // a folder path names the application by its last part
	}
	s = nameBad.ReplaceAllString(s, "-")
	s = strings.Trim(s, "._-")
	return s
}

// Source names the inventory's source: VCENTER/DATACENTER, or the
// datacenter alone when the vCenter is not known.
func (inv *Inventory) Source() string {
	return SourceChoice{VCenter: inv.vcenterHost, Datacenter: inv.Datacenter}.String()
}
