package discover

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/xuri/excelize/v2"
)

// Columns of an RVTools vInfo sheet, by the field they fill. Headings vary
// between RVTools versions (3.x wrote "MB", 4.x writes "MiB") and between
// hand-saved CSVs; the first alias found in the header wins. Headings are
// matched without regard to case or surrounding spaces.
var Aliases = []struct {
	Field    string
	Required bool
	Names    []string
}{
	{"name", true, []string{"VM", "Name", "VM Name", "vInfoVMName"}},
	{"cpus", true, []string{"CPUs", "# CPUs", "Num CPUs", "vInfoCPUs"}},
	{"memory", true, []string{"Memory", "Memory MiB", "Memory MB", "vInfoMemory"}},
	{"power", false, []string{"Powerstate", "Power State", "PowerState", "vInfoPowerstate"}},
	{"template", false, []string{"Template", "vInfoTemplate"}},
	{"disk", false, []string{"Total disk capacity MiB", "Total disk capacity MB", "Provisioned MiB", "Provisioned MB", "vInfoProvisioned"}},
	{"os", false, []string{"OS according to the configuration file", "OS according to the VMware Tools", "OS", "Guest OS", "vInfoOS"}},
	{"hardware", false, []string{"HW version", "Hardware version", "HW Version", "vInfoHWVersion"}},
	{"datacenter", false, []string{"Datacenter", "Data Center", "vInfoDataCenter"}},
	{"cluster", false, []string{"Cluster", "vInfoCluster"}},
	{"folder", false, []string{"Folder", "VM Folder", "vInfoFolder"}},
	{"vcenter", false, []string{"VI SDK Server", "vCenter", "vInfoVISDKServer"}},
}

// networkColumn matches RVTools' "Network #1" ... "Network #8".
var networkColumn = regexp.MustCompile(`(?i)^network\s*#?\s*(\d+)$`)

// InputError is a mistake in an input file (RVTools export, servers or
// dependency CSV), with where it is and what to do.
type InputError struct {
	Where string // file:line, or file (sheet S, row N)
	Msg   string
}

func (e *InputError) Error() string { return e.Where + ": " + e.Msg }

// Filter limits what is read of an estate.
type Filter struct {
	Datacenter string
	Cluster    string
	Folder     string
}

// table is a sheet as rows of strings with the header resolved.
type table struct {
	file   string
	sheet  string // "" for a CSV
	header []string
	rows   [][]string
	lines  []int // the row's line (CSV) or row number (sheet)
}

func (t *table) where(i int) string {
	if t.sheet == "" {
		return fmt.Sprintf("%s:%d", t.file, t.lines[i])
	}
	return fmt.Sprintf("%s (sheet %s, row %d)", t.file, t.sheet, t.lines[i])
}

// column finds the first of names in the header; -1 when none is there.
func (t *table) column(names ...string) (int, string) {
	for _, n := range names {
		for i, h := range t.header {
			if strings.EqualFold(strings.TrimSpace(h), n) {
				return i, strings.TrimSpace(h)
			}
		}
	}
	return -1, ""
}

func (t *table) cell(row []string, col int) string {
	if col < 0 || col >= len(row) {
		return ""
	}
	return strings.TrimSpace(row[col])
}

// ReadRVTools reads the vInfo sheet of an RVTools export: the .xlsx file,
// or the sheet saved as CSV. Templates are left out, and so are VMs outside
// the filter. With an .xlsx, the vDisk sheet, when there, gives each VM's
// disks one by one; otherwise each VM gets one disk of its total size.
func ReadRVTools(path string, f Filter) (*Inventory, error) {
	var (
		info  *table
		disks map[string][]int
		err   error
	)
	switch strings.ToLower(filepath.Ext(path)) {
	case ".xlsx", ".xlsm":
		info, disks, err = readXLSX(path)
	case ".csv":
		info, err = readCSV(path)
	default:
		return nil, &InputError{Where: path, Msg: "an RVTools export is an .xlsx file, or its vInfo sheet saved as .csv"}
	}
	if err != nil {
		return nil, err
	}
	return fromVInfo(info, disks, f)
}

// readCSV reads a CSV file with a header row (see csvTable).
func readCSV(path string) (*table, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	return csvTable(path, fh)
}

// csvTable reads a CSV with a header row; comma or semicolon separated
// (Excel in many locales saves with semicolons).
func csvTable(path string, r io.Reader) (*table, error) {
	data, err := io.ReadAll(io.LimitReader(r, 256<<20))
	if err != nil {
		return nil, err
	}
	data = []byte(strings.TrimPrefix(string(data), "\ufeff")) // Excel's byte-order mark
	first, _, _ := strings.Cut(string(data), "\n")
	cr := csv.NewReader(strings.NewReader(string(data)))
	if strings.Count(first, ";") > strings.Count(first, ",") {
		cr.Comma = ';'
	}
	cr.FieldsPerRecord = -1
	t := &table{file: path}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, &InputError{Where: fmt.Sprintf("%s:%d", path, pe.Line), Msg: pe.Err.Error() + ": fix the CSV quoting on that line"}
			}
			return nil, &InputError{Where: path, Msg: err.Error()}
		}
		line, _ := cr.FieldPos(0)
		if t.header == nil {
			t.header = rec
			continue
		}
		if blank(rec) {
			continue
		}
		t.rows = append(t.rows, rec)
		t.lines = append(t.lines, line)
	}
	if t.header == nil {
		return nil, &InputError{Where: path, Msg: "the file is empty: it needs a header row and one row per item"}
	}
	return t, nil
}

func blank(rec []string) bool {
	for _, c := range rec {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

func readXLSX(path string) (*table, map[string][]int, error) {
	x, err := excelize.OpenFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, err
		}
		return nil, nil, &InputError{Where: path, Msg: fmt.Sprintf("not a readable .xlsx file (%v): export it again from RVTools, or save its vInfo sheet as CSV", err)}
	}
	defer x.Close()
	sheet := func(name string) (*table, error) {
		for _, s := range x.GetSheetList() {
			if strings.EqualFold(s, name) {
				rows, err := x.GetRows(s, excelize.Options{RawCellValue: true})
				if err != nil {
					return nil, &InputError{Where: path, Msg: fmt.Sprintf("sheet %s: %v", s, err)}
				}
				t := &table{file: path, sheet: s}
				for i, r := range rows {
					if t.header == nil {
						if !blank(r) {
							t.header = r
						}
						continue
					}
					if !blank(r) {
						t.rows = append(t.rows, r)
						t.lines = append(t.lines, i+1)
					}
				}
				return t, nil
			}
		}
		return nil, nil
	}
	info, err := sheet("vInfo")
	if err != nil {
		return nil, nil, err
	}
	if info == nil || info.header == nil {
		return nil, nil, &InputError{Where: path, Msg: fmt.Sprintf("no vInfo sheet (the workbook has: %s): discover reads RVTools' vInfo sheet", strings.Join(x.GetSheetList(), ", "))}
	}
	vdisk, err := sheet("vDisk")
	if err != nil || vdisk == nil || vdisk.header == nil {
		return info, nil, err
	}
	vmCol, _ := vdisk.column("VM", "Name", "VM Name")
	capCol, capName := vdisk.column("Capacity MiB", "Capacity MB")
	if vmCol < 0 || capCol < 0 {
		return info, nil, nil
	}
	disks := map[string][]int{}
	for i, r := range vdisk.rows {
		mib, err := number(vdisk.cell(r, capCol))
		if err != nil {
			return nil, nil, &InputError{Where: vdisk.where(i), Msg: fmt.Sprintf("column %q: %v", capName, err)}
		}
		name := vdisk.cell(r, vmCol)
		disks[name] = append(disks[name], gbOf(mib))
	}
	return info, disks, nil
}

// number reads a count or a size as RVTools writes it ("4096", "4,096",
// "40960.5").
func number(s string) (float64, error) {
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseFloat(strings.ReplaceAll(s, ",", ""), 64)
	if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return v, nil
}

// gbOf rounds MiB up to whole GiB.
func gbOf(mib float64) int { return int(math.Ceil(mib / 1024)) }

func fromVInfo(t *table, disks map[string][]int, f Filter) (*Inventory, error) {
	inv := &Inventory{From: "rvtools " + filepath.Base(t.file), Columns: map[string]string{}, Skipped: map[string]int{}}
	col := map[string]int{}
	used := map[int]bool{}
	var missing []string
	for _, a := range Aliases {
		i, name := t.column(a.Names...)
		col[a.Field] = i
		if i >= 0 {
			inv.Columns[a.Field] = name
			used[i] = true
		} else if a.Required {
			missing = append(missing, fmt.Sprintf("%s (%s)", a.Field, strings.Join(quoteAll(a.Names), " or ")))
		}
	}
	if len(missing) > 0 {
		where := t.file
		if t.sheet != "" {
			where += " (sheet " + t.sheet + ")"
		}
		return nil, &InputError{Where: where, Msg: fmt.Sprintf("no column for %s; the header has: %s", strings.Join(missing, ", "), strings.Join(quoteAll(t.header), ", "))}
	}
	type netCol struct{ n, col int }
	var nets []netCol
	for i, h := range t.header {
		if m := networkColumn.FindStringSubmatch(strings.TrimSpace(h)); m != nil {
			n, _ := strconv.Atoi(m[1])
			nets = append(nets, netCol{n, i})
			used[i] = true
		}
	}
	sort.Slice(nets, func(i, j int) bool { return nets[i].n < nets[j].n })
	if len(nets) > 0 {
		inv.Columns["networks"] = fmt.Sprintf("Network #1..#%d", nets[len(nets)-1].n)
	}

	dcs := map[string]bool{}
	seen := map[string]string{}
	for i, r := range t.rows {
		at := t.where(i)
		name := t.cell(r, col["name"])
		if name == "" {
			return nil, &InputError{Where: at, Msg: fmt.Sprintf("column %q is empty: every row needs the VM's name", inv.Columns["name"])}
		}
		if isTrue(t.cell(r, col["template"])) {
			inv.Skipped["templates"]++
			continue
		}
		dc := t.cell(r, col["datacenter"])
		if f.Datacenter != "" && dc != "" && dc != f.Datacenter {
			inv.Skipped["in other datacenters"]++
			continue
		}
		if f.Cluster != "" && t.cell(r, col["cluster"]) != f.Cluster {
			inv.Skipped["in other clusters"]++
			continue
		}
		folder := cleanFolder(t.cell(r, col["folder"]))
		if f.Folder != "" && !within(folder, cleanFolder(f.Folder)) {
			inv.Skipped["in other folders"]++
			continue
		}
		if first, dup := seen[name]; dup {
			return nil, &InputError{Where: at, Msg: fmt.Sprintf("VM %s is listed twice (first at %s): a plan names each VM once; remove one row or narrow with --datacenter", name, first)}
		}
		seen[name] = at
		if dc != "" {
			dcs[dc] = true
		}
		vm := &VM{Name: name, Folder: folder, Cluster: t.cell(r, col["cluster"]), Where: at, Attributes: map[string]string{}}
		num := func(field string) (float64, error) {
			v, err := number(t.cell(r, col[field]))
			if err != nil {
				return 0, &InputError{Where: at, Msg: fmt.Sprintf("column %q: %v; fix the cell or the export", inv.Columns[field], err)}
			}
			return v, nil
		}
		cpus, err := num("cpus")
		if err != nil {
			return nil, err
		}
		mem, err := num("memory")
		if err != nil {
			return nil, err
		}
		if cpus < 1 || mem < 4 {
			return nil, &InputError{Where: at, Msg: fmt.Sprintf("VM %s has %v CPUs and %v MB of memory: both columns need a size", name, cpus, mem)}
		}
		vm.CPUs, vm.MemoryMB = int(cpus), int(mem)
		if d, ok := disks[name]; ok && len(d) > 0 {
			vm.DisksGB = d
		} else if col["disk"] >= 0 {
			mib, err := num("disk")
			if err != nil {
				return nil, err
			}
			if mib > 0 {
				vm.DisksGB = []int{gbOf(mib)}
			}
		}
		switch p := strings.ToLower(t.cell(r, col["power"])); p {
		case "poweredoff", "off", "suspended":
			vm.PowerState = "poweredOff"
		default:
			vm.PowerState = "poweredOn"
		}
		vm.GuestOS = t.cell(r, col["os"])
		vm.GuestID = guestIDOf(vm.GuestOS)
		if hw := t.cell(r, col["hardware"]); hw != "" {
			vm.HardwareVersion = normalHardware(hw)
			if vm.HardwareVersion == "" {
				return nil, &InputError{Where: at, Msg: fmt.Sprintf("column %q: %q is not a hardware version (e.g. vmx-13 or 13)", inv.Columns["hardware"], hw)}
			}
		}
		for _, nc := range nets {
			if n := t.cell(r, nc.col); n != "" && !contains(vm.Networks, n) {
				vm.Networks = append(vm.Networks, n)
			}
		}
		if inv.VCenterURL == "" {
			if host := t.cell(r, col["vcenter"]); host != "" {
				inv.VCenterURL = "https://" + host + "/sdk"
			}
		}
		// Every other column (custom attributes, and tag columns some
		// exports add) is kept for grouping and rules.
		for i, h := range t.header {
			if !used[i] && strings.TrimSpace(h) != "" {
				if v := t.cell(r, i); v != "" {
					vm.Attributes[strings.TrimSpace(h)] = v
				}
			}
		}
		inv.VMs = append(inv.VMs, vm)
	}
	switch names := slices.Sorted(maps.Keys(dcs)); {
	case f.Datacenter != "":
		inv.Datacenter = f.Datacenter
	case len(names) == 1:
		inv.Datacenter = names[0]
	case len(names) > 1:
		return nil, &InputError{Where: t.file, Msg: fmt.Sprintf("the export covers several datacenters (%s): a plan moves one source datacenter; pick one with --datacenter", strings.Join(names, ", "))}
	}
	inv.Folder = cleanFolder(f.Folder)
	return inv, nil
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = strconv.Quote(x)
	}
	return out
}

func isTrue(s string) bool {
	switch strings.ToLower(s) {
	case "true", "yes", "1", "y":
		return true
	}
	return false
}

// cleanFolder writes a folder path as "a/b": RVTools writes it with a
// leading slash, sometimes with the datacenter's "vm" folder.
func cleanFolder(p string) string {
	var parts []string
	for _, s := range strings.Split(p, "/") {
		if s = strings.TrimSpace(s); s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, "/")
}

func within(folder, root string) bool {
	return root == "" || folder == root || strings.HasPrefix(folder, root+"/")
}

// guestIDs maps a guest OS full name, as vCenter shows it and RVTools
// exports it, to vSphere's guest id. First match wins; unknown names get
// no id (the plan then leaves guestId out).
var guestIDs = []struct {
	re *regexp.Regexp
	id string
}{
	{regexp.MustCompile(`(?i)windows server 2022`), "windows2019srvNext_64Guest"},
	{regexp.MustCompile(`(?i)windows server 2019`), "windows2019srv_64Guest"},
	{regexp.MustCompile(`(?i)windows server 2016`), "windows9Server64Guest"},
	{regexp.MustCompile(`(?i)windows server 2012`), "windows8Server64Guest"},
	{regexp.MustCompile(`(?i)windows server 2008 r2`), "windows7Server64Guest"},
	{regexp.MustCompile(`(?i)windows server 2008`), "winLonghorn64Guest"},
	{regexp.MustCompile(`(?i)windows server 2003`), "winNetEnterprise64Guest"},
	{regexp.MustCompile(`(?i)red hat enterprise linux 9`), "rhel9_64Guest"},
	{regexp.MustCompile(`(?i)red hat enterprise linux 8`), "rhel8_64Guest"},
	{regexp.MustCompile(`(?i)red hat enterprise linux 7`), "rhel7_64Guest"},
	{regexp.MustCompile(`(?i)red hat enterprise linux 6`), "rhel6_64Guest"},
	{regexp.MustCompile(`(?i)centos 7`), "centos7_64Guest"},
	{regexp.MustCompile(`(?i)centos 6`), "centos6_64Guest"},
	{regexp.MustCompile(`(?i)suse linux enterprise 15`), "sles15_64Guest"},
	{regexp.MustCompile(`(?i)suse linux enterprise 12`), "sles12_64Guest"},
	{regexp.MustCompile(`(?i)debian gnu/linux 11`), "debian11_64Guest"},
	{regexp.MustCompile(`(?i)debian gnu/linux 10`), "debian10_64Guest"},
	{regexp.MustCompile(`(?i)ubuntu linux \(64-bit\)`), "ubuntu64Guest"},
	{regexp.MustCompile(`(?i)other.*linux.*64`), "otherLinux64Guest"},
}

func guestIDOf(fullName string) string {
	for _, g := range guestIDs {
		if g.re.MatchString(fullName) {
			return g.id
		}
	}
	return ""
}
