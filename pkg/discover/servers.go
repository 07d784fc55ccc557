package discover

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// ServerAliases are the columns of a physical-servers CSV (a CMDB export),
// by field. name, cpus, memory and disks are required.
var ServerAliases = []struct {
	Field    string
	Required bool
	Names    []string
}{
	{"name", true, []string{"name", "hostname", "server"}},
	{"cpus", true, []string{"cpus", "cpu", "cores", "vcpus"}},
	{"memory", true, []string{"memoryMB", "memory mb", "memory", "ram mb", "ram"}},
	{"disks", true, []string{"disksGB", "disks gb", "disks", "disk gb"}},
	{"application", false, []string{"application", "app", "service"}},
	{"criticality", false, []string{"criticality"}},
	{"users", false, []string{"users"}},
	{"networks", false, []string{"networks", "network", "vlan"}},
	{"guestId", false, []string{"guestId", "guest id"}},
}

var listSep = regexp.MustCompile(`[;|+\s]+`)

// ReadServers reads physical servers from a CSV with a header row. Disks
// and networks are lists separated by ";", "|", "+" or spaces.
func ReadServers(ctx context.Context, path string) ([]*Server, map[string]string, error) {
	t, err := readCSV(ctx, path)
	if err != nil {
		return nil, nil, err
	}
	col := map[string]int{}
	used := map[string]string{}
	var missing []string
	for _, a := range ServerAliases {
		i, name := t.column(a.Names...)
		col[a.Field] = i
		if i >= 0 {
			used[a.Field] = name
		} else if a.Required {
			missing = append(missing, fmt.Sprintf("%s (%s)", a.Field, strings.Join(quoteAll(a.Names), " or ")))
		}
	}
	if len(missing) > 0 {
		return nil, nil, &InputError{Where: path, Msg: fmt.Sprintf("no column for %s; the header has: %s", strings.Join(missing, ", "), strings.Join(quoteAll(t.header), ", "))}
	}
	var out []*Server
	seen := map[string]string{}
	for i, r := range t.rows {
		at := t.where(i)
		s := &Server{Name: t.cell(r, col["name"]), Where: at, Application: t.cell(r, col["application"]),
			Criticality: strings.ToLower(t.cell(r, col["criticality"])), GuestID: t.cell(r, col["guestId"])}
		if strings.IndexFunc(s.Name, unicode.IsControl) >= 0 {
			return nil, nil, &InputError{Where: at, Msg: fmt.Sprintf("the server's name %s holds a NUL or another control character: fix the cell", strconv.Quote(s.Name))}
		}
		if s.Name == "" {
			return nil, nil, &InputError{Where: at, Msg: "the server has no name"}
		}
		if first, dup := seen[s.Name]; dup {
			return nil, nil, &InputError{Where: at, Msg: fmt.Sprintf("server %s is listed twice (first at %s)", s.Name, first)}
		}
		seen[s.Name] = at
		whole := func(field string, min int) (int, error) {
			v := t.cell(r, col[field])
			n, err := strconv.Atoi(strings.ReplaceAll(v, ",", ""))
			if err != nil || n < min {
				return 0, &InputError{Where: at, Msg: fmt.Sprintf("column %q: %q: give a whole number of at least %d", used[field], v, min)}
			}
			return n, nil
		}
		if s.CPUs, err = whole("cpus", 1); err != nil {
			return nil, nil, err
		}
		if s.MemoryMB, err = whole("memory", 4); err != nil {
			return nil, nil, err
		}
		for _, d := range listSep.Split(t.cell(r, col["disks"]), -1) {
			if d == "" {
				continue
			}
			gb, err := strconv.Atoi(d)
			if err != nil || gb < 1 {
				return nil, nil, &InputError{Where: at, Msg: fmt.Sprintf("column %q: disk %q: give each disk's size in GB, separated by ';', e.g. 100;500", used["disks"], d)}
			}
			s.DisksGB = append(s.DisksGB, gb)
		}
		if len(s.DisksGB) == 0 {
			return nil, nil, &InputError{Where: at, Msg: fmt.Sprintf("column %q is empty: give each disk's size in GB, e.g. 100;500", used["disks"])}
		}
		if c := s.Criticality; c != "" && !contains(criticalities, c) {
			return nil, nil, &InputError{Where: at, Msg: fmt.Sprintf("column %q: %q: use low, medium, high or critical", used["criticality"], c)}
		}
		if u := t.cell(r, col["users"]); u != "" {
			if s.Users, err = whole("users", 0); err != nil {
				return nil, nil, err
			}
		}
		for _, n := range strings.Split(t.cell(r, col["networks"]), ";") {
			if n = strings.TrimSpace(n); n != "" {
				s.Networks = append(s.Networks, n)
			}
		}
		out = append(out, s)
	}
	return out, used, nil
}

// Dependency says that an application must move after another.
type Dependency struct {
	App, DependsOn string
	Where          string
}

// ReadDependencies reads a CSV of application,dependsOn pairs.
func ReadDependencies(ctx context.Context, path string) ([]Dependency, error) {
	t, err := readCSV(ctx, path)
	if err != nil {
		return nil, err
	}
	app, _ := t.column("application", "app")
	dep, _ := t.column("dependsOn", "depends on", "dependency")
	if app < 0 || dep < 0 {
		return nil, &InputError{Where: path, Msg: fmt.Sprintf("want columns \"application\" and \"dependsOn\"; the header has: %s", strings.Join(quoteAll(t.header), ", "))}
	}
	var out []Dependency
	for i, r := range t.rows {
		a, d := t.cell(r, app), t.cell(r, dep)
		if a == "" || d == "" {
			return nil, &InputError{Where: t.where(i), Msg: "both application and dependsOn are needed"}
		}
		out = append(out, Dependency{App: a, DependsOn: d, Where: t.where(i)})
	}
	return out, nil
}
