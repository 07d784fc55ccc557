package discover

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
	"gopkg.in/yaml.v3"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/schedule"
)

// build reads an export with the default rules and writes its plan, which
// must load without an error.
func build(t *testing.T, inv *Inventory, r *Rules) (*Result, []byte) {
	t.Helper()
	if r == nil {
		r = DefaultRules()
		if err := r.Check("defaults"); err != nil {
			t.Fatal(err)
		}
	}
	res, err := Build(Input{Inventory: inv, Rules: r})
	if err != nil {
		t.Fatal(err)
	}
	out, err := res.Write()
	if err != nil {
		t.Fatal(err)
	}
	if _, probs, err := plan.Load("plan.yaml", out); err != nil {
		t.Fatalf("the plan does not load: %v\n%s\n%s", err, probs, out)
	}
	return res, out
}

func read(t *testing.T, path string, f Filter, o ReadOptions) *Inventory {
	t.Helper()
	inv, err := ReadRVTools(context.Background(), path, f, o)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// TestUnreadableRowsAreLeftOutAndListed: an inaccessible VM's row (no CPU
// or memory), a cell that is not a number, a row without a name and a VM
// listed twice are left out; the plan is written from the rest, and its
// header lists each with its row, VM and reason.
func TestUnreadableRowsAreLeftOutAndListed(t *testing.T) {
	path := writeFile(t, "vinfo.csv", "VM,CPUs,Memory,HW version\n"+
		"web-01,2,4096,13\n"+
		"ghost-01,,,\n"+
		"web-02,two,4096,13\n"+
		",2,4096,13\n"+
		"web-03,2,4096,13\n"+
		"web-03,2,4096,13\n"+
		"web-04,2,4096,new\n")
	inv := read(t, path, Filter{}, ReadOptions{})
	var names []string
	for _, v := range inv.VMs {
		names = append(names, v.Name)
	}
	if !slices.Equal(names, []string{"web-01", "web-03"}) {
		t.Fatalf("read %v, want web-01 and web-03", names)
	}
	want := []struct{ where, vm, reason string }{
		{"vinfo.csv:3", "ghost-01", `no CPU count or memory size ("CPUs" "", "Memory" ""): an inaccessible or orphaned VM`},
		{"vinfo.csv:4", "web-02", `column "CPUs": "two" is not a number`},
		{"vinfo.csv:5", "", `column "VM" is empty`},
		{"vinfo.csv:7", "web-03", "VM web-03 is listed twice (first at " + path + ":6)"},
		{"vinfo.csv:8", "web-04", `column "HW version": "new" is not a hardware version`},
	}
	if len(inv.LeftOut) != len(want) {
		t.Fatalf("left out %v, want %d rows", inv.LeftOut, len(want))
	}
	for i, w := range want {
		l := inv.LeftOut[i]
		if !strings.HasSuffix(l.Where, w.where) || l.VM != w.vm || !strings.HasPrefix(l.Reason, w.reason) || !l.Unreadable {
			t.Errorf("left out %d: %+v, want %s %q %q...", i, l, w.where, w.vm, w.reason)
		}
	}
	_, out := build(t, inv, nil)
	head := string(out[:bytes.Index(out, []byte("apiVersion:"))])
	if !strings.Contains(head, "# Left out of this plan: 5 rows that could not be read; 0 VMs not the migration's to move:\n") ||
		!strings.Contains(head, "#   vinfo.csv:3: ghost-01: no CPU count or memory size") ||
		!strings.Contains(head, "#   vinfo.csv:5: (no name): column \"VM\" is empty") {
		t.Errorf("the plan's header does not list the rows left out:\n%s", head)
	}
	// --strict: the first of them is fatal, with where and what.
	_, err := ReadRVTools(context.Background(), path, Filter{}, ReadOptions{Strict: true})
	var ie *InputError
	if !errors.As(err, &ie) || !strings.HasSuffix(ie.Where, "vinfo.csv:3") {
		t.Fatalf("strict: got %v, want an InputError at vinfo.csv:3", err)
	}
}

// TestNamesAreKeptExactlyAndQuotedWhenNeeded: a name is written as vCenter
// has it, spaces included, and quoted when a YAML 1.1 reader would take it
// for a boolean, a null or a number; a NUL or control character in a name
// leaves the row out, named by its input row.
func TestNamesAreKeptExactlyAndQuotedWhenNeeded(t *testing.T) {
	names := []string{"yes", "No", "on", "OFF", "y", "~", "null", "1e3", "0x1F", "12:30", " web-01", "web-02 ", "true", "plain-01"}
	var b strings.Builder
	b.WriteString("VM,CPUs,Memory\n")
	for _, n := range names {
		fmt.Fprintf(&b, "%q,2,4096\n", n)
	}
	b.WriteString("\"bad\x00name\",2,4096\n\"bad\nline\",2,4096\n")
	inv := read(t, writeFile(t, "vinfo.csv", b.String()), Filter{}, ReadOptions{})
	if len(inv.VMs) != len(names) {
		t.Fatalf("read %d VMs, want %d", len(inv.VMs), len(names))
	}
	if len(inv.LeftOut) != 2 || !strings.HasSuffix(inv.LeftOut[0].Where, "vinfo.csv:16") || inv.LeftOut[0].VM != `"bad\x00name"` ||
		!strings.Contains(inv.LeftOut[0].Reason, "NUL or another control character") || !strings.HasSuffix(inv.LeftOut[1].Where, "vinfo.csv:17") {
		t.Fatalf("left out %+v, want the NUL row at line 16 and the newline row at 17", inv.LeftOut)
	}
	r := DefaultRules()
	r.GroupBy = "attribute:none" // every VM its own application
	if err := r.Check("t"); err != nil {
		t.Fatal(err)
	}
	_, out := build(t, inv, r)
	for _, n := range names[:10] {
		if !bytes.Contains(out, []byte(fmt.Sprintf("{name: %q,", n))) {
			t.Errorf("%q is not quoted in the plan", n)
		}
	}
	if !bytes.Contains(out, []byte(`{name: " web-01",`)) || !bytes.Contains(out, []byte(`{name: "web-02 ",`)) || !bytes.Contains(out, []byte(`{name: plain-01,`)) {
		t.Errorf("names with spaces are not kept exactly:\n%s", out)
	}
	if !bytes.Contains(out, []byte(`#   vinfo.csv:16: "bad\x00name": column`)) || !bytes.Contains(out, []byte(`#   vinfo.csv:17: "bad\nline": column`)) {
		t.Errorf("the header does not name the NUL and newline rows safely:\n%s", out[:700])
	}
	// And they read back as the same strings.
	var doc struct {
		Applications []struct {
			VMs []struct{ Name string } `yaml:"vms"`
		} `yaml:"applications"`
	}
	if err := yaml.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range doc.Applications {
		for _, v := range a.VMs {
			got = append(got, v.Name)
		}
	}
	slices.Sort(got)
	want := slices.Clone(names)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("names read back %q, want %q", got, want)
	}
}

func TestNameStem(t *testing.T) {
	r := DefaultRules()
	if err := r.Check("t"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, want string }{
		{"BBWMFG01", "bbwmfg"},
		{"BBWMFG02", "bbwmfg"},
		{"BBWMFGBETA01", "bbwmfg"},
		{"BOWMFGSQAPROD01", "bowmfg"},
		{"wspapp11", "wsp"},
		{"wsptstapp01", "wsp"},
		{"BOWABJS03a", "bowabjs"},
		{"pay-web-01", "pay"},
		{"pay-db-02", "pay"},
		{"hr_db_01.corp", "hr-corp"},
		{"prod-web-01", "prod"},
		{"wdb1", "wdb"},
		{"vCLS (23)", "vcls"},
	} {
		if got := nameStem(tc.name, r.affixes, r.NameStem.MinLength); got != tc.want {
			t.Errorf("stem of %s = %q, want %q", tc.name, got, tc.want)
		}
	}
	// The rules file replaces the affixes.
	r, err := ParseRules("rules.yaml", []byte("nameStem: {affixes: [beta], minLength: 2}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := nameStem("wspapp11", r.affixes, r.NameStem.MinLength); got != "wspapp" {
		t.Errorf("with affixes [beta]: stem of wspapp11 = %q, want wspapp", got)
	}
	if _, err := ParseRules("rules.yaml", []byte("nameStem: {affixes: [\"a b\"]}\n")); err == nil || !strings.Contains(err.Error(), `nameStem.affixes: "a b"`) {
		t.Errorf("a bad affix: got %v", err)
	}
}

// TestGroupingFollowsWhatTheDataHas: with nothing set, folders group when
// VMs sit in folders, else an Application attribute, else name stems; the
// result says which and why.
func TestGroupingFollowsWhatTheDataHas(t *testing.T) {
	for _, tc := range []struct {
		name, csv, by string
		apps          []string
	}{
		{"folders", "VM,CPUs,Memory,Folder\nBBWMFG01,2,4096,/mfg\nBBWMFG02,2,4096,/mfg\nwiki-01,2,4096,/wiki\n", "folder", []string{"mfg", "wiki"}},
		{"an attribute", "VM,CPUs,Memory,Application\nBBWMFG01,2,4096,mfg\nBBWMFG02,2,4096,mfg\nwiki-01,2,4096,\n", "attribute:Application", []string{"mfg", "wiki-01"}},
		{"names only", "VM,CPUs,Memory\nBBWMFG01,2,4096\nBBWMFG02,2,4096\nBBWMFGBETA01,2,4096\nwiki-01,2,4096\nwiki-db-01,2,4096\n", "name-stem", []string{"bbwmfg", "wiki"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, out := build(t, read(t, writeFile(t, "vinfo.csv", tc.csv), Filter{}, ReadOptions{}), nil)
			if res.GroupBy.String() != tc.by || res.GroupWhy == "" {
				t.Errorf("grouped by %s (%s), want %s and why", res.GroupBy, res.GroupWhy, tc.by)
			}
			var apps []string
			for _, a := range res.Apps {
				apps = append(apps, a.Name)
			}
			if !slices.Equal(apps, tc.apps) {
				t.Errorf("applications %v, want %v", apps, tc.apps)
			}
			if tc.by == "name-stem" && !bytes.Contains(out, []byte("# grouped by name-stem = bbwmfg: BBWMFG01, BBWMFG02, BBWMFGBETA01 (the names without trailing digits and nameStem.affixes)\n")) {
				t.Errorf("the reason is not next to the application:\n%s", out)
			}
		})
	}
}

// TestSeveralSourcesNeedAChoice: an export of two vCenters (one with two
// datacenters) lists the choices; --datacenter takes DC or VCENTER/DC; and
// ReadRVToolsSources gives one inventory per source, each VM name unique
// only within its vCenter.
func TestSeveralSourcesNeedAChoice(t *testing.T) {
	path := writeFile(t, "vinfo.csv", "VM,CPUs,Memory,Datacenter,VI SDK Server\n"+
		"a-01,2,4096,DC1,vc-a.example\n"+
		"a-02,2,4096,DC1,vc-a.example\n"+
		"a-03,2,4096,DC2,vc-a.example\n"+
		"a-01,2,4096,DC1,vc-b.example\n")
	_, err := ReadRVTools(context.Background(), path, Filter{}, ReadOptions{})
	var se *SourcesError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "covers 3 sources: vc-a.example/DC1 (2 VMs), vc-a.example/DC2 (1 VM), vc-b.example/DC1 (1 VM). A plan moves one source datacenter: pick one with --datacenter vc-a.example/DC1, or write one plan per source with --out-dir DIR") {
		t.Fatalf("got %v", err)
	}
	inv := read(t, path, Filter{Datacenter: "vc-b.example/DC1"}, ReadOptions{})
	if len(inv.VMs) != 1 || inv.VCenterURL != "https://vc-b.example/sdk" || inv.Datacenter != "DC1" || inv.Skipped["in other datacenters"] != 3 {
		t.Errorf("vc-b.example/DC1: %d VMs, %s, %s, skipped %v", len(inv.VMs), inv.VCenterURL, inv.Datacenter, inv.Skipped)
	}
	_, err = ReadRVTools(context.Background(), path, Filter{Datacenter: "DC9"}, ReadOptions{})
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "vinfo.csv has no datacenter DC9: it covers vc-a.example/DC1 (2 rows), vc-a.example/DC2 (1 row), vc-b.example/DC1 (1 row); pick one with --datacenter") {
		t.Fatalf("a datacenter the export does not have: got %v", err)
	}
	inv = read(t, path, Filter{Datacenter: "DC2"}, ReadOptions{})
	if len(inv.VMs) != 1 || inv.VMs[0].Name != "a-03" {
		t.Errorf("DC2: %v", inv.VMs)
	}
	// A row without a datacenter joins its vCenter's only one.
	orphan := writeFile(t, "orphan.csv", "VM,CPUs,Memory,Datacenter,VI SDK Server\na-01,2,4096,DC1,vc-a\norphan-01,2,4096,,vc-a\n")
	inv = read(t, orphan, Filter{}, ReadOptions{})
	if len(inv.VMs) != 2 || inv.Datacenter != "DC1" || len(inv.LeftOut) != 0 {
		t.Errorf("orphan: %d VMs in %s, left out %v", len(inv.VMs), inv.Datacenter, inv.LeftOut)
	}
	invs, err := ReadRVToolsSources(context.Background(), path, Filter{}, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, inv := range invs {
		got = append(got, fmt.Sprintf("%s:%d", inv.Source(), len(inv.VMs)))
		build(t, inv, nil)
	}
	if !slices.Equal(got, []string{"vc-a.example/DC1:2", "vc-a.example/DC2:1", "vc-b.example/DC1:1"}) {
		t.Errorf("sources %v", got)
	}
}

// TestOtherSheetsFeedThePlan: vDisk gives each disk, vNetwork each NIC's
// network, vHost the host's CPU and EVC mode, vCPU and vMemory hot-add,
// vPartition the used space; the summary's record says which were used.
func TestOtherSheetsFeedThePlan(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sheets.xlsx")
	x := excelize.NewFile()
	rows := map[string][][]any{
		"vInfo":      {{"VM", "CPUs", "Memory", "Provisioned MiB", "Host", "Network #1", "min Required EVC Mode Key"}, {"db-01", 4, 8192, 700000, "esx-01", "old-net", "intel-sandybridge"}, {"web-01", 2, 4096, 40960, "esx-02", "VM Network", ""}},
		"vDisk":      {{"VM", "Disk", "Capacity MiB"}, {"db-01", "Hard disk 1", 81920}, {"db-01", "Hard disk 2", 512000}},
		"vNetwork":   {{"VM", "NIC label", "Network"}, {"db-01", "Network adapter 1", "DB-VLAN30"}, {"db-01", "Network adapter 2", "Backup"}},
		"vHost":      {{"Host", "CPU Model", "Current EVC"}, {"esx-01", "Intel(R) Xeon(R) CPU E5-2680 0 @ 2.70GHz", "intel-sandybridge"}},
		"vCPU":       {{"VM", "Hot Add"}, {"db-01", "True"}, {"web-01", "False"}},
		"vMemory":    {{"VM", "Hot Add"}, {"db-01", "True"}},
		"vPartition": {{"VM", "Disk", "Consumed MiB"}, {"db-01", "C:\\", 40960}, {"db-01", "D:\\", 204800}},
	}
	for i, s := range []string{"vInfo", "vDisk", "vNetwork", "vHost", "vCPU", "vMemory", "vPartition"} {
		if i == 0 {
			_ = x.SetSheetName("Sheet1", s)
		} else if _, err := x.NewSheet(s); err != nil {
			t.Fatal(err)
		}
		for j, r := range rows[s] {
			cell, _ := excelize.CoordinatesToCellName(1, j+1)
			if err := x.SetSheetRow(s, cell, &r); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := x.SaveAs(path); err != nil {
		t.Fatal(err)
	}
	inv := read(t, path, Filter{}, ReadOptions{})
	db, web := inv.VMs[0], inv.VMs[1]
	if !slices.Equal(db.DisksGB, []int{80, 500}) || !slices.Equal(db.Networks, []string{"DB-VLAN30", "Backup"}) || db.UsedGB != 240 ||
		!db.CPUHotAdd || !db.MemoryHotAdd || db.HostEVC != "intel-sandybridge" || db.RequiredEVC != "intel-sandybridge" || !strings.HasPrefix(db.HostCPU, "Intel(R) Xeon(R)") {
		t.Errorf("db-01: %+v", db)
	}
	// web-01 has no rows in vDisk or vNetwork: vInfo's total and Network #1.
	if !slices.Equal(web.DisksGB, []int{40}) || !slices.Equal(web.Networks, []string{"VM Network"}) || web.CPUHotAdd || web.UsedGB != 0 {
		t.Errorf("web-01: %+v", web)
	}
	for s, c := range map[string]string{"vDisk": "Capacity MiB", "vNetwork": "Network", "vHost": "CPU Model, Current EVC", "vCPU": "Hot Add", "vMemory": "Hot Add", "vPartition": "Consumed MiB"} {
		if inv.Sheets[s] != c {
			t.Errorf("sheet %s used with %q, want %q", s, inv.Sheets[s], c)
		}
	}
	_, out := build(t, inv, nil)
	if !bytes.Contains(out, []byte("# host esx-01 Intel(R) Xeon(R) CPU E5-2680 0 @ 2.70GHz, EVC intel-sandybridge; needs EVC intel-sandybridge; CPU and memory hot-add on; 240 of 580 GB used")) {
		t.Errorf("the facts are not next to db-01:\n%s", out)
	}
}

// TestBigInputsEnd: a workbook that inflates to 1.6 GB from 1.6 MB is
// refused before it is unpacked; a sheet past the row bound ends with a
// clear message; a cancelled context stops a read.
func TestBigInputsEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 1.6 GB zip bomb (about a second); -short skips it")
	}
	bomb := filepath.Join(t.TempDir(), "bomb.xlsx")
	writeBomb(t, bomb, 1600<<20)
	if st, _ := os.Stat(bomb); st.Size() > 4<<20 {
		t.Fatalf("the bomb is %d bytes, meant to be small", st.Size())
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := ReadRVTools(context.Background(), bomb, Filter{}, ReadOptions{})
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "inflates to more than 1024 MB: that is no RVTools export") {
		t.Fatalf("got %v", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
		t.Errorf("refusing the bomb allocated %d MB", grew>>20)
	}

	var b strings.Builder
	b.WriteString("VM,CPUs,Memory\n")
	for i := 0; i <= MaxVInfoRows; i++ {
		fmt.Fprintf(&b, "vm-%d,2,4096\n", i)
	}
	path := writeFile(t, "big.csv", b.String())
	_, err = ReadRVTools(context.Background(), path, Filter{}, ReadOptions{})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("big.csv:%d: more than %d rows", MaxVInfoRows+2, MaxVInfoRows)) {
		t.Fatalf("got %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ReadRVTools(ctx, path, Filter{}, ReadOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled read: got %v", err)
	}
	// The same bound on a workbook's side sheet.
	defer func(n int) { MaxSheetRows = n }(MaxSheetRows)
	MaxSheetRows = 3
	wb := filepath.Join(t.TempDir(), "disks.xlsx")
	x := excelize.NewFile()
	_ = x.SetSheetName("Sheet1", "vInfo")
	_ = x.SetSheetRow("vInfo", "A1", &[]any{"VM", "CPUs", "Memory"})
	_, _ = x.NewSheet("vDisk")
	for i := 1; i <= 5; i++ {
		_ = x.SetSheetRow("vDisk", fmt.Sprintf("A%d", i), &[]any{"VM", "Capacity MiB"})
	}
	if err := x.SaveAs(wb); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadRVTools(context.Background(), wb, Filter{}, ReadOptions{}); err == nil || !strings.Contains(err.Error(), "(sheet vDisk, row 5): more than 3 rows") {
		t.Fatalf("got %v", err)
	}
}

// writeBomb writes a workbook whose vInfo sheet inflates to size bytes.
func writeBomb(t *testing.T, path string, size int64) {
	t.Helper()
	x := excelize.NewFile()
	_ = x.SetSheetName("Sheet1", "vInfo")
	var wb bytes.Buffer
	if err := x.Write(&wb); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(wb.Bytes()), int64(wb.Len()))
	if err != nil {
		t.Fatal(err)
	}
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	zw := zip.NewWriter(fh)
	for _, f := range zr.File {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: f.Name, Method: zip.Deflate})
		if err != nil {
			t.Fatal(err)
		}
		if f.Name == "xl/worksheets/sheet1.xml" {
			pad := bytes.Repeat([]byte(" "), 1<<20)
			for n := int64(0); n < size; n += int64(len(pad)) {
				if _, err := w.Write(pad); err != nil {
					t.Fatal(err)
				}
			}
			continue
		}
		r, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(w, r); err != nil {
			t.Fatal(err)
		}
		r.Close()
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestPublicExports reads two RVTools exports that other projects publish
// as test data (see testdata/discover/public/README.md): the plans they
// give validate and compile, and the older, folder-less one of 805 rows is
// grouped by name stem rather than into one application per VM.
func TestPublicExports(t *testing.T) {
	dir := filepath.Join(fixtureDir, "public")
	inv := read(t, filepath.Join(dir, "SizingWorkshop-RVTools.xlsx"), Filter{}, ReadOptions{})
	if len(inv.VMs) != 795 || len(inv.LeftOut) != 10 || inv.Columns["memory"] != "Memory" || inv.Columns["disk"] != "Provisioned MB" {
		t.Errorf("SizingWorkshop: %d VMs, %d left out, columns %v", len(inv.VMs), len(inv.LeftOut), inv.Columns)
	}
	res, out := build(t, inv, nil)
	if res.GroupBy.Kind != SourceNameStem || len(res.Apps) >= 600 {
		t.Errorf("SizingWorkshop: %d applications grouped by %s", len(res.Apps), res.GroupBy)
	}
	for _, a := range res.Apps {
		if a.Name == "bbwmfg" && len(a.VMs) != 3 {
			t.Errorf("bbwmfg has %d VMs, want BBWMFG01, BBWMFG02 and BBWMFGBETA01", len(a.VMs))
		}
	}
	p, _, err := plan.Load("sizing.yaml", out)
	if err != nil {
		t.Fatal(err)
	}
	if _, probs := schedule.Compile(p); probs.Errors() > 0 {
		t.Errorf("SizingWorkshop's plan does not compile: %s", probs)
	}

	inv = read(t, filepath.Join(dir, "rvtools-small-complete.xlsx"), Filter{}, ReadOptions{})
	if len(inv.VMs) != 3 || !slices.Equal(inv.VMs[1].DisksGB, []int{100, 220}) || !slices.Equal(inv.VMs[1].Networks, []string{"sample-db-net", "sample-backup-net"}) || !inv.VMs[1].MemoryHotAdd {
		t.Errorf("rvtools-small-complete: %+v", inv.VMs[1])
	}
	build(t, inv, nil)
}

func TestServerNamesWithControlCharactersAreRefused(t *testing.T) {
	_, _, err := ReadServers(context.Background(), writeFile(t, "servers.csv", "name,cpus,memoryMB,disksGB\nok-01,2,4096,40\n\"bad\x00-01\",2,4096,40\n"))
	var ie *InputError
	if !errors.As(err, &ie) || !strings.HasSuffix(ie.Where, "servers.csv:3") || !strings.Contains(ie.Msg, `"bad\x00-01" holds a NUL`) {
		t.Fatalf("got %v", err)
	}
}
