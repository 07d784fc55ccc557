package discover

import (
	"bytes"
	"encoding/csv"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
)

var update = flag.Bool("update", false, "rewrite the fixtures and golden files in testdata/discover")

const fixtureDir = "../../testdata/discover"

// estateRow is one VM of the RVTools-shaped fixture: a small legacy estate
// with every case the rules decide on.
type estateRow struct {
	vm, power       string
	template        bool
	cpus, memMB     int
	diskMiB         int
	net1, net2      string
	cluster, folder string
	os              string
	hw              int
	app, crit       string
	users           int
	dependsOn       string
}

var estate = []estateRow{
	{"pay-web-01", "poweredOn", false, 2, 4096, 61440, "Payroll-VLAN20", "", "Prod", "/Payroll", "Microsoft Windows Server 2008 R2 (64-bit)", 8, "payroll", "high", 5200, "hr-db"},
	{"pay-web-02", "poweredOn", false, 2, 4096, 61440, "Payroll-VLAN20", "", "Prod", "/Payroll", "Microsoft Windows Server 2008 R2 (64-bit)", 8, "payroll", "high", 5200, "hr-db"},
	{"pay-app-01", "poweredOn", false, 4, 16384, 102400, "Payroll-VLAN20", "Backup", "Prod", "/Payroll", "Microsoft Windows Server 2016 (64-bit)", 13, "payroll", "high", 5200, "hr-db"},
	{"hr-db-01", "poweredOn", false, 8, 32768, 512000, "DB-VLAN30", "Backup", "Prod", "/HR", "Red Hat Enterprise Linux 8 (64-bit)", 15, "hr-db", "critical", 5200, ""},
	{"hr-db-02", "poweredOn", false, 8, 32768, 512000, "DB-VLAN30", "Backup", "Prod", "/HR", "Red Hat Enterprise Linux 8 (64-bit)", 15, "hr-db", "critical", 5200, ""},
	{"intranet-web-01", "poweredOn", false, 2, 4096, 40960, "VM Network", "", "Prod", "/Intranet", "Red Hat Enterprise Linux 7 (64-bit)", 10, "intranet", "medium", 9000, ""},
	{"intranet-web-02", "poweredOn", false, 2, 4096, 40960, "VM Network", "", "Prod", "/Intranet", "Red Hat Enterprise Linux 7 (64-bit)", 10, "intranet", "medium", 9000, ""},
	{"intranet-cms-01", "poweredOff", false, 1, 1024, 20480, "VM Network", "", "Prod", "/Intranet", "Red Hat Enterprise Linux 7 (64-bit)", 10, "intranet", "medium", 9000, ""},
	{"crm-app-01", "poweredOn", false, 4, 8192, 81920, "CRM-VLAN40", "", "Prod", "/CRM", "Red Hat Enterprise Linux 9 (64-bit)", 19, "crm", "high", 1800, "hr-db"},
	{"crm-app-02", "poweredOn", false, 4, 8192, 81920, "CRM-VLAN40", "", "Prod", "/CRM", "Red Hat Enterprise Linux 9 (64-bit)", 19, "crm", "high", 1800, "hr-db"},
	{"crm-db-01", "poweredOn", false, 8, 16384, 307200, "CRM-VLAN40", "Backup", "Prod", "/CRM", "Red Hat Enterprise Linux 9 (64-bit)", 19, "crm", "high", 1800, "hr-db"},
	{"fax-legacy-01", "poweredOn", false, 1, 2048, 40960, "VM Network", "", "Prod", "/Fax", "Microsoft Windows Server 2003 (32-bit)", 7, "fax-gateway", "low", 40, ""},
	{"print-01", "poweredOn", false, 2, 4096, 40960, "VM Network", "", "Prod", "/Print", "Microsoft Windows Server 2019 (64-bit)", 14, "print", "low", 300, ""},
	{"wiki-01", "poweredOn", false, 2, 4096, 40960, "VM Network", "", "Prod", "/Wiki", "Ubuntu Linux (64-bit)", 14, "wiki", "low", 150, ""},
	{"wiki-db-01", "poweredOff", false, 2, 2048, 40960, "VM Network", "", "Prod", "/Wiki", "Ubuntu Linux (64-bit)", 14, "wiki", "low", 150, ""},
	{"lic-01", "poweredOn", false, 2, 4096, 30720, "VM Network", "", "Prod", "/Licensing", "Microsoft Windows Server 2019 (64-bit)", 14, "licensing", "low", 25, ""},
	{"gis-app-01", "poweredOn", false, 4, 16384, 204800, "GIS-VLAN50", "", "Prod", "/GIS", "Microsoft Windows Server 2012 R2 (64-bit)", 11, "gis", "medium", 400, ""},
	{"gis-app-02", "poweredOn", false, 4, 16384, 204800, "GIS-VLAN50", "", "Prod", "/GIS", "Microsoft Windows Server 2012 R2 (64-bit)", 11, "gis", "medium", 400, ""},
	{"gis-tile-01", "poweredOn", false, 2, 8192, 409600, "GIS-VLAN50", "", "Prod", "/GIS", "Microsoft Windows Server 2012 R2 (64-bit)", 11, "gis", "medium", 400, ""},
	{"portal-web-01", "poweredOn", false, 4, 8192, 61440, "DMZ-VLAN10", "", "DMZ", "/Portal", "Red Hat Enterprise Linux 8 (64-bit)", 14, "citizen-portal", "critical", 12000, "crm,payroll"},
	{"portal-web-02", "poweredOn", false, 4, 8192, 61440, "DMZ-VLAN10", "", "DMZ", "/Portal", "Red Hat Enterprise Linux 8 (64-bit)", 14, "citizen-portal", "critical", 12000, "crm,payroll"},
	{"portal-web-03", "poweredOn", false, 4, 8192, 61440, "DMZ-VLAN10", "", "DMZ", "/Portal", "Red Hat Enterprise Linux 8 (64-bit)", 14, "citizen-portal", "critical", 12000, "crm,payroll"},
	{"portal-api-01", "poweredOn", false, 4, 8192, 61440, "DMZ-VLAN10", "CRM-VLAN40", "DMZ", "/Portal", "Red Hat Enterprise Linux 8 (64-bit)", 14, "citizen-portal", "critical", 12000, "crm,payroll"},
	{"mon-01", "poweredOn", false, 2, 4096, 102400, "Mgmt-VLAN90", "", "Mgmt", "/Infra", "Red Hat Enterprise Linux 9 (64-bit)", 19, "monitoring", "medium", 60, ""},
	{"mon-02", "poweredOn", false, 2, 4096, 102400, "Mgmt-VLAN90", "", "Mgmt", "/Infra", "Red Hat Enterprise Linux 9 (64-bit)", 19, "monitoring", "medium", 60, ""},
	{"backup-proxy-01", "poweredOn", false, 4, 8192, 40960, "Backup", "", "Mgmt", "/Infra", "Microsoft Windows Server 2016 (64-bit)", 13, "", "", 0, ""},
	{"jump-01", "poweredOn", false, 1, 2048, 40960, "Mgmt-VLAN90", "", "Mgmt", "/Infra", "Microsoft Windows Server 2019 (64-bit)", 14, "", "", 0, ""},
	{"tpl-old-win", "poweredOff", true, 2, 4096, 40960, "VM Network", "", "Prod", "/Templates", "Microsoft Windows Server 2016 (64-bit)", 13, "", "", 0, ""},
	{"edu-lms-01", "poweredOn", false, 4, 8192, 153600, "VM Network", "", "Prod", "/Learning", "Red Hat Enterprise Linux 8 (64-bit)", 14, "learning", "medium", 2500, "hr-db"},
	{"edu-lms-02", "poweredOn", false, 4, 8192, 153600, "VM Network", "", "Prod", "/Learning", "Red Hat Enterprise Linux 8 (64-bit)", 14, "learning", "medium", 2500, "hr-db"},
	{"kiosk-01", "suspended", false, 1, 1024, 20480, "DMZ-VLAN10", "", "DMZ", "/Kiosk", "Microsoft Windows Server 2008 R2 (64-bit)", 9, "kiosk", "low", 80, ""},
}

// Two spellings of the same vInfo sheet: RVTools 4.x (MiB, "VM", hardware
// as a bare number) in the .xlsx, RVTools 3.x (MB, hardware as vmx-NN) in
// the CSV, with "Name" for the VM as some hand-saved sheets have it.
var (
	headerXLSX = []string{"VM", "Powerstate", "Template", "CPUs", "Memory", "NICs", "Disks", "Total disk capacity MiB", "Provisioned MiB", "In Use MiB",
		"Network #1", "Network #2", "Datacenter", "Cluster", "Host", "Folder", "OS according to the configuration file", "HW version", "VI SDK Server",
		"Application", "Criticality", "Users", "DependsOn"}
	headerCSV = []string{"Name", "Powerstate", "Template", "CPUs", "Memory", "NICs", "Disks", "Total disk capacity MB", "Provisioned MB", "In Use MB",
		"Network #1", "Network #2", "Datacenter", "Cluster", "Host", "Folder", "OS according to the configuration file", "HW version", "VI SDK Server",
		"Application", "Criticality", "Users", "DependsOn"}
)

func (e estateRow) cells(newer bool) []string {
	nics := 1
	if e.net2 != "" {
		nics = 2
	}
	hw := fmt.Sprintf("vmx-%02d", e.hw)
	if newer {
		hw = strconv.Itoa(e.hw)
	}
	users := ""
	if e.users > 0 {
		users = strconv.Itoa(e.users)
	}
	return []string{e.vm, e.power, map[bool]string{true: "True", false: "False"}[e.template], strconv.Itoa(e.cpus), strconv.Itoa(e.memMB),
		strconv.Itoa(nics), "1", strconv.Itoa(e.diskMiB), strconv.Itoa(e.diskMiB + e.memMB), strconv.Itoa(e.diskMiB / 3),
		e.net1, e.net2, "DC-OLD", e.cluster, "esx0" + strconv.Itoa(len(e.vm)%4+1) + ".legacy.example.gov", e.folder, e.os, hw,
		"vc-legacy.example.gov", e.app, e.crit, users, e.dependsOn}
}

// fixtureCSV is the vInfo sheet saved as CSV.
func fixtureCSV() []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write(headerCSV)
	for _, e := range estate {
		_ = w.Write(e.cells(false))
	}
	w.Flush()
	return b.Bytes()
}

// writeFixtureXLSX writes the export as RVTools does: a vInfo sheet (with
// numbers as numbers) among others.
func writeFixtureXLSX(path string) error {
	x := excelize.NewFile()
	defer x.Close()
	if err := x.SetSheetName("Sheet1", "vInfo"); err != nil {
		return err
	}
	for _, s := range []string{"vCPU", "vMemory", "vHost"} {
		if _, err := x.NewSheet(s); err != nil {
			return err
		}
	}
	rows := [][]string{headerXLSX}
	for _, e := range estate {
		rows = append(rows, e.cells(true))
	}
	for i, r := range rows {
		vals := make([]any, len(r))
		for j, c := range r {
			if n, err := strconv.Atoi(c); err == nil && i > 0 {
				vals[j] = n
			} else {
				vals[j] = c
			}
		}
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := x.SetSheetRow("vInfo", cell, &vals); err != nil {
			return err
		}
	}
	return x.SaveAs(path)
}

// xlsxCells reads every sheet's cells, to compare workbooks by content
// (the zip itself carries timestamps).
func xlsxCells(t *testing.T, path string) string {
	t.Helper()
	x, err := excelize.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	var b strings.Builder
	for _, s := range x.GetSheetList() {
		rows, err := x.GetRows(s, excelize.Options{RawCellValue: true})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "[%s]\n", s)
		for _, r := range rows {
			b.WriteString(strings.Join(r, "\t") + "\n")
		}
	}
	return b.String()
}

// TestFixturesAreWhatTheGeneratorWrites keeps the committed fixtures and
// their generator in step; -update rewrites them.
func TestFixturesAreWhatTheGeneratorWrites(t *testing.T) {
	csvPath := filepath.Join(fixtureDir, "rvtools-vinfo.csv")
	xlsxPath := filepath.Join(fixtureDir, "rvtools.xlsx")
	if *update {
		if err := os.WriteFile(csvPath, fixtureCSV(), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := writeFixtureXLSX(xlsxPath); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(csvPath)
	if err != nil {
		t.Fatalf("%v (run go test ./pkg/discover -update to write it)", err)
	}
	if !bytes.Equal(got, fixtureCSV()) {
		t.Errorf("%s differs from the generator: run go test ./pkg/discover -update", csvPath)
	}
	fresh := filepath.Join(t.TempDir(), "fresh.xlsx")
	if err := writeFixtureXLSX(fresh); err != nil {
		t.Fatal(err)
	}
	if xlsxCells(t, xlsxPath) != xlsxCells(t, fresh) {
		t.Errorf("%s differs from the generator: run go test ./pkg/discover -update", xlsxPath)
	}
}
