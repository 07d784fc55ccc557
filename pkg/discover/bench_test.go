package discover

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
)

// benchVMs is the size of the generated export: a large vCenter's.
const benchVMs = 10_000

// writeBigExport writes an RVTools-shaped workbook of n VMs with the
// sheets discover reads: vInfo (RVTools 4.x headings and custom
// attribute columns), vDisk (two disks each), vNetwork, vCPU, vMemory,
// vPartition and vHost. Names are application stems with roles and
// numbers (app0042-web-01), folder-less, as in the exports that need
// name-stem grouping.
func writeBigExport(tb testing.TB, path string, n int) {
	tb.Helper()
	x := excelize.NewFile()
	defer x.Close()
	sheets := []string{"vInfo", "vDisk", "vNetwork", "vCPU", "vMemory", "vPartition", "vHost"}
	for i, s := range sheets {
		if i == 0 {
			_ = x.SetSheetName("Sheet1", s)
		} else if _, err := x.NewSheet(s); err != nil {
			tb.Fatal(err)
		}
	}
	stream := func(sheet string, rows func(add func(...any))) {
		sw, err := x.NewStreamWriter(sheet)
		if err != nil {
			tb.Fatal(err)
		}
		r := 0
		rows(func(cells ...any) {
			r++
			cell, _ := excelize.CoordinatesToCellName(1, r)
			if err := sw.SetRow(cell, cells); err != nil {
				tb.Fatal(err)
			}
		})
		if err := sw.Flush(); err != nil {
			tb.Fatal(err)
		}
	}
	name := func(i int) string {
		return fmt.Sprintf("app%04d-%s-%02d", i/4, []string{"web", "web", "app", "db"}[i%4], i%4+1)
	}
	host := func(i int) string { return fmt.Sprintf("esx%03d.example.org", i%200) }
	stream("vInfo", func(add func(...any)) {
		add("VM", "Powerstate", "Template", "SRM Placeholder", "Config status", "DNS Name", "Connection state", "CPUs", "Memory", "NICs", "Disks",
			"Provisioned MiB", "In Use MiB", "Total disk capacity MiB", "Network #1", "Network #2", "Datacenter", "Cluster", "Host",
			"OS according to the configuration file", "HW version", "min Required EVC Mode Key", "VI SDK Server", "Owner", "Criticality", "Backup")
		for i := range n {
			add(name(i), "poweredOn", "False", "False", "green", name(i)+".example.org", "connected", 2+i%4*2, 4096*(1+i%4), 2, 2,
				122880, 40960, 122880, fmt.Sprintf("VLAN%d", 100+i%40), "Backup", "DC-OLD", fmt.Sprintf("C%d", i%8), host(i),
				"Red Hat Enterprise Linux 8 (64-bit)", 10+i%10, "intel-broadwell", "vc-old.example.org", "team-"+fmt.Sprint(i%30), "medium", "daily")
		}
	})
	stream("vDisk", func(add func(...any)) {
		add("VM", "Powerstate", "Disk", "Capacity MiB", "Thin", "VI SDK Server")
		for i := range n {
			add(name(i), "poweredOn", "Hard disk 1", 40960, "True", "vc-old.example.org")
			add(name(i), "poweredOn", "Hard disk 2", 81920, "True", "vc-old.example.org")
		}
	})
	stream("vNetwork", func(add func(...any)) {
		add("VM", "Powerstate", "NIC label", "Adapter", "Network", "Connected", "VI SDK Server")
		for i := range n {
			add(name(i), "poweredOn", "Network adapter 1", "Vmxnet3", fmt.Sprintf("VLAN%d", 100+i%40), "True", "vc-old.example.org")
			add(name(i), "poweredOn", "Network adapter 2", "Vmxnet3", "Backup", "True", "vc-old.example.org")
		}
	})
	for _, s := range []string{"vCPU", "vMemory"} {
		stream(s, func(add func(...any)) {
			add("VM", "Powerstate", "Hot Add", "VI SDK Server")
			for i := range n {
				add(name(i), "poweredOn", fmt.Sprint(i%3 == 0), "vc-old.example.org")
			}
		})
	}
	stream("vPartition", func(add func(...any)) {
		add("VM", "Powerstate", "Disk", "Capacity MiB", "Consumed MiB", "VI SDK Server")
		for i := range n {
			add(name(i), "poweredOn", "/", 40000, 12000, "vc-old.example.org")
			add(name(i), "poweredOn", "/data", 80000, 30000, "vc-old.example.org")
		}
	})
	stream("vHost", func(add func(...any)) {
		add("Host", "Datacenter", "Cluster", "CPU Model", "Current EVC", "VI SDK Server")
		for i := range 200 {
			add(host(i), "DC-OLD", fmt.Sprintf("C%d", i%8), "Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz", "intel-broadwell", "vc-old.example.org")
		}
	})
	if err := x.SaveAs(path); err != nil {
		tb.Fatal(err)
	}
}

// heapPeak samples the Go heap every few milliseconds until stopped, and
// returns its peak over what it was at the start.
func heapPeak() (stop func() uint64) {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	base := sample[0].Value.Uint64()
	var peak uint64
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > base && v-base > peak {
				peak = v - base
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(done); <-finished; return peak }
}

// BenchmarkDiscover10k: discover on a generated 10,000-VM export, every
// sheet read, grouped, packed into waves and written as a plan; against
// reading the same workbook's sheets with excelize alone (GetRows of each),
// the floor any reader of the file pays.
func BenchmarkDiscover10k(b *testing.B) {
	path := filepath.Join(b.TempDir(), "export.xlsx")
	writeBigExport(b, path, benchVMs)
	ctx := context.Background()
	b.Run("discover", func(b *testing.B) {
		var peak uint64
		for b.Loop() {
			stop := heapPeak()
			inv, err := ReadRVTools(ctx, path, Filter{}, ReadOptions{Strict: true})
			if err != nil {
				b.Fatal(err)
			}
			if len(inv.VMs) != benchVMs {
				b.Fatalf("read %d VMs, want %d", len(inv.VMs), benchVMs)
			}
			r := DefaultRules()
			if err := r.Check("defaults"); err != nil {
				b.Fatal(err)
			}
			res, err := Build(Input{Inventory: inv, Rules: r})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := res.Write(); err != nil {
				b.Fatal(err)
			}
			peak = max(peak, stop())
		}
		b.ReportMetric(benchVMs, "VMs")
		b.ReportMetric(float64(peak)/(1<<20), "peakMB")
	})
	b.Run("excelize-only", func(b *testing.B) {
		var peak uint64
		for b.Loop() {
			stop := heapPeak()
			x, err := excelize.OpenFile(path)
			if err != nil {
				b.Fatal(err)
			}
			for _, s := range x.GetSheetList() {
				if _, err := x.GetRows(s, excelize.Options{RawCellValue: true}); err != nil {
					b.Fatal(err)
				}
			}
			_ = x.Close()
			peak = max(peak, stop())
		}
		b.ReportMetric(benchVMs, "VMs")
		b.ReportMetric(float64(peak)/(1<<20), "peakMB")
	})
}
