package discover

import (
	"bufio"
	"context"
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
	"unicode"
	"unicode/utf8"

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
	{"host", false, []string{"Host", "vInfoHost"}},
	{"evc", false, []string{"min Required EVC Mode Key", "Min Required EVC Mode Key"}},
	{"srm", false, []string{"SRM Placeholder", "vInfoSRMPlaceholder"}},
	{"dns", false, []string{"DNS Name", "vInfoDNSName"}},
	{"ip", false, []string{"Primary IP Address", "vInfoPrimaryIPAddress"}},
}

// networkColumn matches RVTools' "Network #1" ... "Network #8".
var networkColumn = regexp.MustCompile(`(?i)^network\s*#?\s*(\d+)$`)

// Bounds on what an export may make discover read. A vCenter holds at most
// 45,000 registered VMs (VMware's configuration maximums for vCenter 8), so
// a bigger vInfo sheet is not one export; the other sheets have a row per
// disk, NIC or partition. Inflated, a 10,000-VM RVTools workbook is about
// 60 MB; MaxInflated refuses a zip bomb before it is unpacked.
var (
	MaxVInfoRows       = 100_000
	MaxSheetRows       = 500_000
	MaxInflated  int64 = 1 << 30 // bytes, all parts of an .xlsx together
)

const (
	maxXMLInMemory   = 16 << 20
	checkEveryNthRow = 1024
)

// vSphere 8's configuration maximums for one VM: a size past them is a
// broken cell, not a VM.
const (
	maxVCPUs    = 768
	maxMemoryMB = 24 << 20 // 24 TB
	maxDiskGB   = 62 << 10 // 62 TB per virtual disk
	maxTotalGB  = 1 << 30  // what the plan's numbers hold
)

// InputError is a mistake in an input file (RVTools export, servers or
// dependency CSV), with where it is and what to do.
type InputError struct {
	Where string // file:line, or file (sheet S, row N)
	Msg   string
}

func (e *InputError) Error() string { return e.Where + ": " + e.Msg }

// Filter limits what is read of an estate.
type Filter struct {
	// Datacenter is DC, or VCENTER/DC when an export covers several
	// vCenters with a datacenter of the same name.
	Datacenter string
	Cluster    string
	Folder     string
}

// ReadOptions say how forgiving a read is.
type ReadOptions struct {
	// Strict makes an unreadable row fatal (CI wants to know), rather than
	// left out and listed.
	Strict bool
}

// LeftOut is a VM (or one of its rows) that discover left out of the plan,
// and why: a row it could not read, or a VM that is not the migration's to
// move.
type LeftOut struct {
	Where  string // file (sheet S, row N), file:line, or the VM's inventory path
	VM     string // "" when the row has no readable name
	Reason string
	// Unreadable: the row could not be read (rather than a VM that is not
	// the migration's to move).
	Unreadable bool
}

func (l LeftOut) String() string {
	vm := l.VM
	if vm == "" {
		vm = "(no name)"
	}
	return fmt.Sprintf("%s: %s: %s", l.Where, vm, l.Reason)
}

// SourceChoice is one vCenter and datacenter an export covers.
type SourceChoice struct {
	VCenter    string // the VI SDK Server, "" when the export has no such column
	Datacenter string
	VMs        int
}

func (c SourceChoice) String() string {
	dc := c.Datacenter
	if dc == "" {
		dc = "(no datacenter)"
	}
	if c.VCenter == "" {
		return dc
	}
	return c.VCenter + "/" + dc
}

// SourcesError: the export covers several sources and none was chosen,
// or none is the one chosen (Wanted).
type SourcesError struct {
	File    string
	Choices []SourceChoice
	Wanted  string
}

func (e *SourcesError) Error() string {
	unit := "VM"
	if e.Wanted != "" {
		unit = "row" // counted before templates and unreadable rows are left out
	}
	var list []string
	for _, c := range e.Choices {
		list = append(list, fmt.Sprintf("%s (%s)", c, count(c.VMs, unit)))
	}
	if e.Wanted != "" {
		return fmt.Sprintf("%s has no datacenter %s: it covers %s; pick one with --datacenter", e.File, e.Wanted, strings.Join(list, ", "))
	}
	return fmt.Sprintf("%s covers %d sources: %s. A plan moves one source datacenter: pick one with --datacenter %s, or write one plan per source with --out-dir DIR",
		e.File, len(e.Choices), strings.Join(list, ", "), e.Choices[0])
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
	return strings.TrimSpace(rawCell(row, col))
}

func rawCell(row []string, col int) string {
	if col < 0 || col >= len(row) {
		return ""
	}
	return row[col]
}

// export is what was read of an RVTools export: vInfo and the other
// sheets discover uses, when there.
type export struct {
	path   string
	info   *table
	sheets map[string]*table // by lower-case name: vdisk, vnetwork, vhost, vcpu, vmemory, vpartition
}

// otherSheets are the sheets read besides vInfo, and the columns kept of
// each (the rest of a side sheet is dropped as it is read).
var otherSheets = map[string][][]string{
	"vdisk":      {{"VM", "Name", "VM Name"}, {"Capacity MiB", "Capacity MB"}, {"VI SDK Server"}},
	"vnetwork":   {{"VM", "Name", "VM Name"}, {"Network"}, {"VI SDK Server"}},
	"vhost":      {{"Host", "Name"}, {"CPU Model"}, {"Current EVC", "Current EVC Mode", "EVC Mode"}, {"VI SDK Server"}},
	"vcpu":       {{"VM", "Name", "VM Name"}, {"Hot Add", "Hot add"}, {"VI SDK Server"}},
	"vmemory":    {{"VM", "Name", "VM Name"}, {"Hot Add", "Hot add"}, {"VI SDK Server"}},
	"vpartition": {{"VM", "Name", "VM Name"}, {"Consumed MiB", "Consumed MB"}, {"VI SDK Server"}},
}

// sheetOrder is the order the summary lists sheets in.
var sheetOrder = []string{"vInfo", "vDisk", "vNetwork", "vHost", "vCPU", "vMemory", "vPartition"}

// ReadRVTools reads an RVTools export (the .xlsx file, or its vInfo sheet
// saved as CSV) into the inventory of one source datacenter. When the
// export covers several and the filter chooses none, the error is a
// *SourcesError listing them. See ReadRVToolsSources.
func ReadRVTools(ctx context.Context, path string, f Filter, o ReadOptions) (*Inventory, error) {
	invs, err := ReadRVToolsSources(ctx, path, f, o)
	if err != nil {
		return nil, err
	}
	if len(invs) > 1 {
		se := &SourcesError{File: path}
		for _, inv := range invs {
			se.Choices = append(se.Choices, SourceChoice{VCenter: inv.vcenterHost, Datacenter: inv.Datacenter, VMs: len(inv.VMs)})
		}
		return nil, se
	}
	return invs[0], nil
}

// ReadRVToolsSources reads an RVTools export into one inventory per source
// (vCenter and datacenter) it covers, in name order. Templates, VMs that a
// solution manages and the vCenter appliance are left out, and so are VMs
// outside the filter; rows that cannot be read are left out and listed
// (fatal with o.Strict). The other sheets, when there, add each VM's disks
// (vDisk), NICs' networks (vNetwork), host CPU and EVC mode (vHost), CPU
// and memory hot-add (vCPU, vMemory) and used space (vPartition).
func ReadRVToolsSources(ctx context.Context, path string, f Filter, o ReadOptions) ([]*Inventory, error) {
	var (
		ex  *export
		err error
	)
	switch strings.ToLower(filepath.Ext(path)) {
	case ".xlsx", ".xlsm":
		ex, err = readXLSX(ctx, path)
	case ".csv":
		var t *table
		t, err = readCSV(ctx, path)
		ex = &export{path: path, info: t}
	default:
		return nil, &InputError{Where: path, Msg: "an RVTools export is an .xlsx file, or its vInfo sheet saved as .csv"}
	}
	if err != nil {
		return nil, err
	}
	return ex.inventories(f, o)
}

// readCSV reads a CSV file with a header row (see csvTable).
func readCSV(ctx context.Context, path string) (*table, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	// A read blocked on a slow file (a pipe, a stalled network share)
	// would not see the context: closing the file ends it.
	stop := context.AfterFunc(ctx, func() { fh.Close() })
	defer stop()
	t, err := csvTable(ctx, path, fh, MaxVInfoRows)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return t, err
}

// csvTable reads a CSV with a header row; comma or semicolon separated
// (Excel in many locales saves with semicolons). It streams, and stops
// with an error past maxRows rows.
func csvTable(ctx context.Context, path string, r io.Reader, maxRows int) (*table, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	peek, err := br.Peek(64 << 10)
	if err != nil && err != io.EOF && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, &InputError{Where: path, Msg: err.Error()}
	}
	first, _, _ := strings.Cut(string(peek), "\n")
	cr := csv.NewReader(br)
	if strings.Count(first, ";") > strings.Count(first, ",") {
		cr.Comma = ';'
	}
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = false
	t := &table{file: path}
	for n := 0; ; n++ {
		if n%checkEveryNthRow == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
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
			rec[0] = strings.TrimPrefix(rec[0], "\ufeff") // Excel's byte-order mark
			t.header = rec
			continue
		}
		if blank(rec) {
			continue
		}
		if len(t.rows) >= maxRows {
			return nil, tooManyRows(fmt.Sprintf("%s:%d", path, line), maxRows)
		}
		t.rows = append(t.rows, rec)
		t.lines = append(t.lines, line)
	}
	if t.header == nil {
		return nil, &InputError{Where: path, Msg: "the file is empty: it needs a header row and one row per item"}
	}
	return t, nil
}

func tooManyRows(where string, limit int) error {
	return &InputError{Where: where, Msg: fmt.Sprintf("more than %d rows: more than one vCenter holds; export one vCenter at a time (RVTools -s HOST), or split the sheet by datacenter", limit)}
}

func blank(rec []string) bool {
	for _, c := range rec {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

func readXLSX(ctx context.Context, path string) (*export, error) {
	x, err := excelize.OpenFile(path, excelize.Options{UnzipSizeLimit: MaxInflated, UnzipXMLSizeLimit: min(maxXMLInMemory, MaxInflated)})
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		if strings.Contains(err.Error(), "unzip size exceeds") {
			return nil, &InputError{Where: path, Msg: fmt.Sprintf("inflates to more than %d MB: that is no RVTools export (a 10,000-VM one inflates to about 60 MB); export it again, or save its vInfo sheet as CSV", MaxInflated>>20)}
		}
		return nil, &InputError{Where: path, Msg: fmt.Sprintf("not a readable .xlsx file (%v): export it again from RVTools, or save its vInfo sheet as CSV", err)}
	}
	defer x.Close()
	ex := &export{path: path, sheets: map[string]*table{}}
	names := x.GetSheetList()
	find := func(want string) string {
		for _, s := range names {
			if strings.EqualFold(s, want) {
				return s
			}
		}
		return ""
	}
	vinfo := find("vInfo")
	if vinfo == "" {
		return nil, &InputError{Where: path, Msg: fmt.Sprintf("no vInfo sheet (the workbook has: %s): discover reads RVTools' vInfo sheet", strings.Join(names, ", "))}
	}
	if ex.info, err = readSheet(ctx, x, path, vinfo, nil, MaxVInfoRows); err != nil {
		return nil, err
	}
	if ex.info.header == nil {
		return nil, &InputError{Where: path + " (sheet " + vinfo + ")", Msg: "the sheet is empty: it needs RVTools' header row and one row per VM"}
	}
	for key, cols := range otherSheets {
		if s := find(key); s != "" {
			t, err := readSheet(ctx, x, path, s, cols, MaxSheetRows)
			if err != nil {
				return nil, err
			}
			ex.sheets[key] = t
		}
	}
	return ex, nil
}

// readSheet streams a sheet's rows. With keep, only the columns named
// there are kept (the first alias found of each, in that order; -1 when
// none), so that a side sheet of half a million rows costs little.
func readSheet(ctx context.Context, x *excelize.File, path, sheet string, keep [][]string, maxRows int) (*table, error) {
	rows, err := x.Rows(sheet)
	if err != nil {
		return nil, &InputError{Where: path, Msg: fmt.Sprintf("sheet %s: %v", sheet, err)}
	}
	defer rows.Close()
	t := &table{file: path, sheet: sheet}
	var idx []int
	for n := 1; rows.Next(); n++ {
		if n%checkEveryNthRow == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		r, err := rows.Columns(excelize.Options{RawCellValue: true})
		if err != nil {
			return nil, &InputError{Where: fmt.Sprintf("%s (sheet %s, row %d)", path, sheet, n), Msg: err.Error()}
		}
		if blank(r) {
			continue
		}
		if t.header == nil {
			t.header = r
			if keep != nil {
				var h []string
				for _, names := range keep {
					i, name := t.column(names...)
					idx = append(idx, i)
					h = append(h, name)
				}
				t.header = h
			}
			continue
		}
		if len(t.rows) >= maxRows {
			return nil, tooManyRows(fmt.Sprintf("%s (sheet %s, row %d)", path, sheet, n), maxRows)
		}
		if keep != nil {
			p := make([]string, len(idx))
			for j, i := range idx {
				p[j] = rawCell(r, i)
			}
			r = p
		}
		t.rows = append(t.rows, r)
		t.lines = append(t.lines, n)
	}
	if err := rows.Error(); err != nil {
		return nil, &InputError{Where: path, Msg: fmt.Sprintf("sheet %s: %v", sheet, err)}
	}
	return t, nil
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

// vmKey keys a side sheet's rows by vCenter and VM name: VM names are
// unique within a vCenter only.
func vmKey(vc, name string) string { return strings.ToLower(vc) + "\x00" + name }

// side is what the other sheets say about one VM.
type side struct {
	disks       []int
	badDisk     bool
	networks    []string
	cpuHotAdd   bool
	memHotAdd   bool
	usedMiB     float64
	hasUsed     bool
	hasNetworks bool
}

// sides reads the other sheets into what each says per VM, and adds the
// rows it cannot read to leftOut.
func (ex *export) sides(strict bool, leftOut *[]LeftOut, used map[string]string) (map[string]*side, map[string][2]string, error) {
	out := map[string]*side{}
	get := func(vc, vm string) *side {
		k := vmKey(vc, vm)
		if out[k] == nil {
			out[k] = &side{}
		}
		return out[k]
	}
	fail := func(t *table, i int, vm, msg string) error {
		if strict {
			return &InputError{Where: t.where(i), Msg: msg + "; fix the cell or the export (without --strict the row is left out)"}
		}
		*leftOut = append(*leftOut, LeftOut{Where: t.where(i), VM: vm, Reason: msg, Unreadable: true})
		return nil
	}
	ok := func(t *table) bool { return t != nil && len(t.header) > 1 && t.header[0] != "" && t.header[1] != "" }
	if t := ex.sheets["vdisk"]; ok(t) {
		used["vDisk"] = t.header[1]
		for i, r := range t.rows {
			vm := rawCell(r, 0)
			mib, err := number(t.cell(r, 1))
			if err == nil && gbOf(mib) > maxDiskGB {
				err = fmt.Errorf("%v MiB is more than a virtual disk holds (62 TB)", mib)
			}
			if err != nil || mib == 0 {
				s := get(rawCell(r, 2), vm)
				s.badDisk = true
				msg := fmt.Sprintf("column %q: %v; the VM keeps vInfo's total disk size", t.header[1], err)
				if err == nil {
					msg = fmt.Sprintf("column %q is empty; the VM keeps vInfo's total disk size", t.header[1])
				}
				if err := fail(t, i, vm, msg); err != nil {
					return nil, nil, err
				}
				continue
			}
			s := get(rawCell(r, 2), vm)
			s.disks = append(s.disks, gbOf(mib))
		}
	}
	if t := ex.sheets["vnetwork"]; ok(t) {
		used["vNetwork"] = t.header[1]
		for i, r := range t.rows {
			s := get(rawCell(r, 2), rawCell(r, 0))
			s.hasNetworks = true
			if n := t.cell(r, 1); badText(n) {
				if err := fail(t, i, rawCell(r, 0), fmt.Sprintf("column %q holds a NUL or another control character, or invalid UTF-8; that NIC's network is left out", t.header[1])); err != nil {
					return nil, nil, err
				}
			} else if n != "" && !contains(s.networks, n) {
				s.networks = append(s.networks, n)
			}
		}
	}
	for _, hs := range []struct {
		key, sheet string
		set        func(*side)
	}{
		{"vcpu", "vCPU", func(s *side) { s.cpuHotAdd = true }},
		{"vmemory", "vMemory", func(s *side) { s.memHotAdd = true }},
	} {
		if t := ex.sheets[hs.key]; ok(t) {
			used[hs.sheet] = t.header[1]
			for _, r := range t.rows {
				if isTrue(t.cell(r, 1)) {
					hs.set(get(rawCell(r, 2), rawCell(r, 0)))
				}
			}
		}
	}
	if t := ex.sheets["vpartition"]; ok(t) {
		used["vPartition"] = t.header[1]
		for i, r := range t.rows {
			vm := rawCell(r, 0)
			mib, err := number(t.cell(r, 1))
			if err != nil {
				if err := fail(t, i, vm, fmt.Sprintf("column %q: %v; the VM's used space is left out", t.header[1], err)); err != nil {
					return nil, nil, err
				}
				continue
			}
			s := get(rawCell(r, 2), vm)
			s.usedMiB += mib
			s.hasUsed = true
		}
	}
	hosts := map[string][2]string{}
	if t := ex.sheets["vhost"]; t != nil && len(t.header) > 2 && t.header[0] != "" && (t.header[1] != "" || t.header[2] != "") {
		var cols []string
		for _, h := range t.header[1:3] {
			if h != "" {
				cols = append(cols, h)
			}
		}
		used["vHost"] = strings.Join(cols, ", ")
		for _, r := range t.rows {
			hosts[vmKey(rawCell(r, 3), t.cell(r, 0))] = [2]string{t.cell(r, 1), t.cell(r, 2)}
		}
	}
	return out, hosts, nil
}

// solutionNames are VMs that vSphere solutions deploy and manage, known by
// name, for exports (RVTools) that do not carry config.managedBy: vSphere
// Cluster Services agents (vCenter 7.0 U1 on: "vCLS (23)", from 7.0 U3
// "vCLS-<uuid>") and Workload Management's control plane.
var solutionNames = []struct {
	re  *regexp.Regexp
	why string
}{
	{regexp.MustCompile(`^vCLS( \(\d+\)|-[0-9a-fA-F-]+)?$`), "a vSphere Cluster Services agent VM (vCLS): vCenter deploys and manages it"},
	{regexp.MustCompile(`^SupervisorControlPlaneVM( \(\d+\))?$`), "a Workload Management control-plane VM: vCenter deploys and manages it"},
}

// isAppliance reports whether a VM is the vCenter appliance that serves
// the export (or the run): its DNS name, IP address or name is the
// vCenter's host.
func isAppliance(vcHost, name, dns, ip string) bool {
	vcHost = strings.ToLower(strings.TrimSpace(vcHost))
	if vcHost == "" {
		return false
	}
	short, _, _ := strings.Cut(vcHost, ".")
	for _, v := range []string{dns, ip, name} {
		v = strings.ToLower(strings.TrimSpace(v))
		if v == "" || isIP(vcHost) && v != vcHost {
			continue
		}
		if v == vcHost || (!isIP(v) && (v == short || strings.HasPrefix(vcHost, v+"."))) {
			return true
		}
	}
	return false
}

// isIP reports an IPv4 or IPv6 address rather than a host name.
func isIP(s string) bool {
	return strings.Count(s, ".") == 3 && strings.Trim(s, "0123456789.") == "" || strings.Contains(s, ":")
}

type sourceKey struct{ vc, dc string }

// inventories turns vInfo and the side sheets into one inventory per
// source.
func (ex *export) inventories(f Filter, o ReadOptions) ([]*Inventory, error) {
	t := ex.info
	var leftOut []LeftOut
	usedSheets := map[string]string{}
	sides, hosts, err := ex.sides(o.Strict, &leftOut, usedSheets)
	if err != nil {
		return nil, err
	}
	columns := map[string]string{}
	col := map[string]int{}
	used := map[int]bool{}
	var missing []string
	for _, a := range Aliases {
		i, name := t.column(a.Names...)
		col[a.Field] = i
		if i >= 0 {
			columns[a.Field] = name
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
		columns["networks"] = fmt.Sprintf("Network #1..#%d", nets[len(nets)-1].n)
	}
	filterVC, filterDC := "", f.Datacenter
	if a, b, ok := strings.Cut(f.Datacenter, "/"); ok {
		filterVC, filterDC = a, b
	}

	invs := map[sourceKey]*Inventory{}
	var order []sourceKey
	inv := func(k sourceKey) *Inventory {
		if x := invs[k]; x != nil {
			return x
		}
		x := &Inventory{From: "rvtools " + filepath.Base(t.file), Datacenter: k.dc, Columns: columns, Skipped: map[string]int{},
			Folder: cleanFolder(f.Folder), vcenterHost: k.vc, Sheets: usedSheets, file: t.file}
		if k.vc != "" {
			x.VCenterURL = "https://" + k.vc + "/sdk"
		}
		invs[k] = x
		order = append(order, k)
		return x
	}
	skipped := map[string]int{}
	present := map[sourceKey]int{} // rows per source, before the filter
	var unsorted []LeftOut         // rows left out before their source is known
	seen := map[sourceKey]map[string]string{}
	dcsOf := map[string]map[string]bool{} // vCenter -> its datacenters
	for _, r := range t.rows {
		if dc := t.cell(r, col["datacenter"]); dc != "" {
			vc := strings.ToLower(t.cell(r, col["vcenter"]))
			if dcsOf[vc] == nil {
				dcsOf[vc] = map[string]bool{}
			}
			dcsOf[vc][dc] = true
		}
	}
	for i, r := range t.rows {
		at := t.where(i)
		name := rawCell(r, col["name"])
		vc := t.cell(r, col["vcenter"])
		dc := t.cell(r, col["datacenter"])
		k := sourceKey{vc, dc}
		switch {
		case dc != "":
		case f.Datacenter != "":
			// A row without a datacenter (an orphaned VM) passes the
			// filter: it joins the datacenter chosen.
			k.dc = filterDC
		case len(dcsOf[strings.ToLower(vc)]) == 1:
			// ... or the only datacenter its vCenter has.
			for only := range dcsOf[strings.ToLower(vc)] {
				k.dc = only
			}
		}
		drop := func(vm, msg string) error {
			if o.Strict {
				return &InputError{Where: at, Msg: msg + "; fix the cell or the export (without --strict the row is left out)"}
			}
			unsorted = append(unsorted, LeftOut{Where: at, VM: vm, Reason: msg, Unreadable: true})
			return nil
		}
		if strings.TrimSpace(name) == "" {
			if err := drop("", fmt.Sprintf("column %q is empty: every row needs the VM's name", columns["name"])); err != nil {
				return nil, err
			}
			continue
		}
		if badText(name) {
			if err := drop(strconv.Quote(name), fmt.Sprintf("column %q holds a NUL or another control character, or invalid UTF-8, which no vCenter name has: fix the cell", columns["name"])); err != nil {
				return nil, err
			}
			continue
		}
		if bad := badCells(t, r, col["datacenter"], col["vcenter"], col["folder"]); bad != "" {
			if err := drop(name, fmt.Sprintf("column %q holds a NUL or another control character, or invalid UTF-8: fix the cell", bad)); err != nil {
				return nil, err
			}
			continue
		}
		present[k]++
		if f.Datacenter != "" && dc != "" && (dc != filterDC || (filterVC != "" && !strings.EqualFold(vc, filterVC))) {
			skipped["in other datacenters"]++
			continue
		}
		if f.Cluster != "" && t.cell(r, col["cluster"]) != f.Cluster {
			skipped["in other clusters"]++
			continue
		}
		folder := cleanFolder(t.cell(r, col["folder"]))
		if f.Folder != "" && !within(folder, cleanFolder(f.Folder)) {
			skipped["in other folders"]++
			continue
		}
		notOurs := ""
		switch {
		case isTrue(t.cell(r, col["template"])):
			notOurs = "a template: templates are not moved (redeploy and replace name theirs in the plan)"
		case isTrue(t.cell(r, col["srm"])):
			notOurs = fmt.Sprintf("an SRM placeholder (column %q): Site Recovery Manager owns it", columns["srm"])
		case isAppliance(vc, name, t.cell(r, col["dns"]), t.cell(r, col["ip"])):
			notOurs = fmt.Sprintf("the vCenter appliance (%s) that serves the export: a migration it runs must not move it", vc)
		default:
			for _, s := range solutionNames {
				if s.re.MatchString(name) {
					notOurs = s.why
				}
			}
		}
		if notOurs != "" {
			x := inv(k)
			x.LeftOut = append(x.LeftOut, LeftOut{Where: at, VM: name, Reason: notOurs})
			continue
		}
		if seen[k] == nil {
			seen[k] = map[string]string{}
		}
		if first, dup := seen[k][name]; dup {
			if err := drop(name, fmt.Sprintf("VM %s is listed twice (first at %s): a plan names each VM once; remove one row or narrow with --datacenter", name, first)); err != nil {
				return nil, err
			}
			continue
		}
		num := func(field string) (float64, error) {
			v, err := number(t.cell(r, col[field]))
			if err != nil {
				return 0, fmt.Errorf("column %q: %v", columns[field], err)
			}
			return v, nil
		}
		cpus, err := num("cpus")
		if err != nil {
			if err := drop(name, err.Error()); err != nil {
				return nil, err
			}
			continue
		}
		mem, err := num("memory")
		if err != nil {
			if err := drop(name, err.Error()); err != nil {
				return nil, err
			}
			continue
		}
		if cpus > maxVCPUs || mem > maxMemoryMB {
			if err := drop(name, fmt.Sprintf("%v vCPUs and %v MB of memory: more than vSphere allows one VM (%d vCPUs, %d MB); fix the cell or the export", cpus, mem, maxVCPUs, maxMemoryMB)); err != nil {
				return nil, err
			}
			continue
		}
		if cpus < 1 || mem < 4 {
			if err := drop(name, fmt.Sprintf("no CPU count or memory size (%q %q, %q %q): an inaccessible or orphaned VM in vCenter, or a cut-off export",
				columns["cpus"], t.cell(r, col["cpus"]), columns["memory"], t.cell(r, col["memory"]))); err != nil {
				return nil, err
			}
			continue
		}
		vm := &VM{Name: name, Folder: folder, Cluster: t.cell(r, col["cluster"]), Where: at, Attributes: map[string]string{},
			CPUs: int(cpus), MemoryMB: int(mem), Host: t.cell(r, col["host"]), RequiredEVC: t.cell(r, col["evc"])}
		if hw := t.cell(r, col["hardware"]); hw != "" {
			vm.HardwareVersion = normalHardware(hw)
			if vm.HardwareVersion == "" {
				if err := drop(name, fmt.Sprintf("column %q: %q is not a hardware version (e.g. vmx-13 or 13)", columns["hardware"], hw)); err != nil {
					return nil, err
				}
				continue
			}
		}
		sd := sides[vmKey(vc, name)]
		if sd == nil {
			sd = sides[vmKey("", name)]
		}
		if sd != nil && len(sd.disks) > 0 && !sd.badDisk {
			vm.DisksGB = sd.disks
		} else if col["disk"] >= 0 {
			mib, err := num("disk")
			if err != nil {
				if err := drop(name, err.Error()); err != nil {
					return nil, err
				}
				continue
			}
			if gbOf(mib) > maxTotalGB {
				if err := drop(name, fmt.Sprintf("column %q: %v MiB is more than any VM's disks hold; fix the cell or the export", columns["disk"], mib)); err != nil {
					return nil, err
				}
				continue
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
		if sd != nil && sd.hasNetworks {
			vm.Networks = sd.networks
		} else {
			badNet := ""
			for _, nc := range nets {
				if n := t.cell(r, nc.col); badText(n) {
					badNet = strings.TrimSpace(t.header[nc.col])
				} else if n != "" && !contains(vm.Networks, n) {
					vm.Networks = append(vm.Networks, n)
				}
			}
			if badNet != "" {
				if err := drop(name, fmt.Sprintf("column %q holds a NUL or another control character, or invalid UTF-8: fix the cell", badNet)); err != nil {
					return nil, err
				}
				continue
			}
		}
		if sd != nil {
			vm.CPUHotAdd, vm.MemoryHotAdd = sd.cpuHotAdd, sd.memHotAdd
			if sd.hasUsed {
				vm.UsedGB = gbOf(sd.usedMiB)
			}
		}
		if h, ok := hosts[vmKey(vc, vm.Host)]; ok {
			vm.HostCPU, vm.HostEVC = h[0], h[1]
		} else if h, ok := hosts[vmKey("", vm.Host)]; ok {
			vm.HostCPU, vm.HostEVC = h[0], h[1]
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
		seen[k][name] = at
		x := inv(k)
		x.VMs = append(x.VMs, vm)
	}
	if len(order) == 0 && f.Datacenter != "" && len(present) > 0 {
		se := &SourcesError{File: t.file, Wanted: f.Datacenter}
		for _, k := range slices.SortedFunc(maps.Keys(present), func(a, b sourceKey) int { return strings.Compare(a.vc+"/"+a.dc, b.vc+"/"+b.dc) }) {
			se.Choices = append(se.Choices, SourceChoice{VCenter: k.vc, Datacenter: k.dc, VMs: present[k]})
		}
		return nil, se
	}
	if len(order) == 0 {
		inv(sourceKey{dc: filterDC, vc: filterVC})
	}
	sort.Slice(order, func(i, j int) bool {
		if order[i].vc != order[j].vc {
			return order[i].vc < order[j].vc
		}
		return order[i].dc < order[j].dc
	})
	out := make([]*Inventory, 0, len(order))
	for _, k := range order {
		x := invs[k]
		if x.Datacenter == "" && filterDC != "" {
			x.Datacenter = filterDC
		}
		maps.Copy(x.Skipped, skipped)
		// Rows that could not be read belong to no source for sure: every
		// plan lists them.
		x.LeftOut = append(slices.Clone(unsorted), x.LeftOut...)
		sort.SliceStable(x.LeftOut, func(i, j int) bool { return rowOrder(x.LeftOut[i].Where) < rowOrder(x.LeftOut[j].Where) })
		out = append(out, x)
	}
	return out, nil
}

// badText reports a cell no vCenter name holds: a control character (NUL,
// line break) or invalid UTF-8.
func badText(s string) bool {
	return strings.IndexFunc(s, unicode.IsControl) >= 0 || !utf8.ValidString(s)
}

// badCells is the heading of the first of cols whose cell is bad text.
func badCells(t *table, r []string, cols ...int) string {
	for _, c := range cols {
		if badText(rawCell(r, c)) {
			return strings.TrimSpace(t.header[c])
		}
	}
	return ""
}

// rowOrder sorts left-out rows by sheet order, then row.
var rowNumber = regexp.MustCompile(`(?:sheet (\S+), row |:)(\d+)\)?$`)

func rowOrder(where string) int {
	m := rowNumber.FindStringSubmatch(where)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[2])
	for i, s := range sheetOrder {
		if strings.EqualFold(s, m[1]) {
			return i*10_000_000 + n
		}
	}
	return n
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
