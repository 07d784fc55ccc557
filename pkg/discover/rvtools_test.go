package discover

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
	"github.com/xuri/excelize/v2"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/schedule"
)

func discoverFile(t *testing.T, path string) []byte {
	t.Helper()
	inv, err := ReadRVTools(context.Background(), path, Filter{}, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := LoadRules("../../examples/discover/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Build(Input{Inventory: inv, Rules: r})
	if err != nil {
		t.Fatal(err)
	}
	out, err := res.Write()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDiscoverFromRVTools: the export's plan matches the golden file,
// validates without a problem and compiles; the CSV of the older column
// spellings gives the same plan.
func TestDiscoverFromRVTools(t *testing.T) {
	xlsx := discoverFile(t, filepath.Join(fixtureDir, "rvtools.xlsx"))
	golden(t, "rvtools.golden.yaml", xlsx)
	p, probs, err := plan.Load("rvtools.golden.yaml", xlsx)
	if err != nil || len(probs) > 0 {
		t.Fatalf("the discovered plan has problems: %v\n%s", err, probs)
	}
	if _, probs := schedule.Compile(p); len(probs) > 0 {
		t.Fatalf("the discovered plan does not compile cleanly: %s", probs)
	}
	csv := discoverFile(t, filepath.Join(fixtureDir, "rvtools-vinfo.csv"))
	csv = bytes.Replace(csv, []byte("rvtools-vinfo.csv"), []byte("rvtools.xlsx"), 1)
	// The rows left out are named by line in the CSV, by sheet and row in
	// the workbook.
	csv = bytes.Replace(csv, []byte("rvtools-vinfo.csv:29:"), []byte("rvtools.xlsx (sheet vInfo, row 29):"), 1)
	if !bytes.Equal(csv, xlsx) {
		t.Errorf("the CSV (RVTools 3.x spellings) and the .xlsx (4.x) give different plans:\n%s", lineDiff(string(xlsx), string(csv)))
	}
}

func TestRVToolsSaysWhichColumnsItUsed(t *testing.T) {
	for _, tc := range []struct {
		file string
		want map[string]string
	}{
		{"rvtools.xlsx", map[string]string{"name": "VM", "disk": "Total disk capacity MiB", "hardware": "HW version"}},
		{"rvtools-vinfo.csv", map[string]string{"name": "Name", "disk": "Total disk capacity MB", "hardware": "HW version"}},
	} {
		inv, err := ReadRVTools(context.Background(), filepath.Join(fixtureDir, tc.file), Filter{}, ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range tc.want {
			if inv.Columns[k] != v {
				t.Errorf("%s: %s read from %q, want %q", tc.file, k, inv.Columns[k], v)
			}
		}
		if len(inv.LeftOut) != 1 || inv.LeftOut[0].VM != "tpl-old-win" || !strings.HasPrefix(inv.LeftOut[0].Reason, "a template") || len(inv.VMs) != 30 || inv.VCenterURL != "https://vc-legacy.example.gov/sdk" || inv.Datacenter != "DC-OLD" {
			t.Errorf("%s: %d VMs, left out %v, vCenter %s, datacenter %s", tc.file, len(inv.VMs), inv.LeftOut, inv.VCenterURL, inv.Datacenter)
		}
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// With --strict, a row that cannot be read stops discover with where and
// what; without, see TestUnreadableRowsAreLeftOutAndListed.
func TestRVToolsMistakesSayWhereAndWhat(t *testing.T) {
	for _, tc := range []struct {
		name, csv string
		filter    Filter
		want      string
	}{
		{"a missing required column is named with the header found", "VM,CPUs\na,2\n", Filter{}, `vinfo.csv: no column for memory ("Memory" or "Memory MiB" or "Memory MB" or "vInfoMemory"); the header has: "VM", "CPUs"`},
		{"a cell that is not a number names its line and column", "VM,CPUs,Memory\na,2,4096\nb,two,4096\n", Filter{}, `vinfo.csv:3: column "CPUs": "two" is not a number`},
		{"a row without a name names its line", "VM,CPUs,Memory\n,2,4096\n", Filter{}, `vinfo.csv:2: column "VM" is empty`},
		{"a VM listed twice names both rows", "VM,CPUs,Memory\na,2,4096\na,2,4096\n", Filter{}, `vinfo.csv:3: VM a is listed twice (first at `},
		{"a bad hardware version names its cell", "VM,CPUs,Memory,HW version\na,2,4096,new\n", Filter{}, `vinfo.csv:2: column "HW version": "new" is not a hardware version`},
		{"broken CSV quoting names its line", "VM,CPUs,Memory\n\"a,2,4096\nb\"x,2,3\n", Filter{}, "vinfo.csv:3:"},
		{"an empty file asks for a header", "", Filter{}, "the file is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadRVTools(context.Background(), writeFile(t, "vinfo.csv", tc.csv), tc.filter, ReadOptions{Strict: true})
			var ie *InputError
			if !errors.As(err, &ie) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an InputError with %q", err, tc.want)
			}
		})
	}
}

func TestRVToolsFiltersAndSemicolons(t *testing.T) {
	path := writeFile(t, "vinfo.csv", "\ufeffVM;CPUs;Memory;Datacenter;Cluster;Folder\na;2;4096;X;C1;/apps/web\nb;2;4096;Y;C1;/apps\nc;2;4096;X;C2;/apps\nd;2;4096;X;C1;/other\n")
	inv, err := ReadRVTools(context.Background(), path, Filter{Datacenter: "X", Cluster: "C1", Folder: "apps"}, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.VMs) != 1 || inv.VMs[0].Name != "a" || inv.VMs[0].Folder != "apps/web" {
		t.Fatalf("read %+v, want only a in apps/web", inv.VMs)
	}
	if inv.Skipped["in other datacenters"] != 1 || inv.Skipped["in other clusters"] != 1 || inv.Skipped["in other folders"] != 1 {
		t.Errorf("skipped %v", inv.Skipped)
	}
}

func TestRVToolsWorkbookWithoutVInfoIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wrong.xlsx")
	x := excelize.NewFile()
	_ = x.SetSheetName("Sheet1", "vHost")
	if err := x.SaveAs(path); err != nil {
		t.Fatal(err)
	}
	_, err := ReadRVTools(context.Background(), path, Filter{}, ReadOptions{})
	if err == nil || !strings.Contains(err.Error(), "no vInfo sheet (the workbook has: vHost)") {
		t.Fatalf("got %v", err)
	}
	_, err = ReadRVTools(context.Background(), writeFile(t, "broken.xlsx", "not a zip"), Filter{}, ReadOptions{})
	if err == nil || !strings.Contains(err.Error(), "not a readable .xlsx file") {
		t.Fatalf("got %v", err)
	}
	_, err = ReadRVTools(context.Background(), writeFile(t, "export.txt", "x"), Filter{}, ReadOptions{})
	if err == nil || !strings.Contains(err.Error(), "an RVTools export is an .xlsx file") {
		t.Fatalf("got %v", err)
	}
}

// TestRVToolsReadsEachDiskFromVDisk: with a vDisk sheet, each VM gets its
// disks one by one rather than one disk of the total.
func TestRVToolsReadsEachDiskFromVDisk(t *testing.T) {
	path := filepath.Join(t.TempDir(), "disks.xlsx")
	x := excelize.NewFile()
	_ = x.SetSheetName("Sheet1", "vInfo")
	_ = x.SetSheetRow("vInfo", "A1", &[]any{"VM", "CPUs", "Memory", "Provisioned MiB"})
	_ = x.SetSheetRow("vInfo", "A2", &[]any{"db-01", 4, 8192, 700000})
	_ = x.SetSheetRow("vInfo", "A3", &[]any{"web-01", 2, 4096, 40960})
	_, _ = x.NewSheet("vDisk")
	_ = x.SetSheetRow("vDisk", "A1", &[]any{"VM", "Disk", "Capacity MiB"})
	_ = x.SetSheetRow("vDisk", "A2", &[]any{"db-01", "Hard disk 1", 81920})
	_ = x.SetSheetRow("vDisk", "A3", &[]any{"db-01", "Hard disk 2", 512000})
	if err := x.SaveAs(path); err != nil {
		t.Fatal(err)
	}
	inv, err := ReadRVTools(context.Background(), path, Filter{}, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(inv.VMs[0].DisksGB, []int{80, 500}) || !slices.Equal(inv.VMs[1].DisksGB, []int{40}) {
		t.Fatalf("disks %v and %v, want [80 500] from vDisk and [40] from vInfo", inv.VMs[0].DisksGB, inv.VMs[1].DisksGB)
	}
}

// TestGuestIDsAreVSphereIdentifiers: every id the name table gives is one
// vSphere (and the simulator that seeds from the plan) accepts.
func TestGuestIDsAreVSphereIdentifiers(t *testing.T) {
	for _, g := range guestIDs {
		if !slices.Contains(simulator.GuestID, types.VirtualMachineGuestOsIdentifier(g.id)) {
			t.Errorf("%s (for %s) is not a vSphere guest id", g.id, g.re)
		}
	}
}
