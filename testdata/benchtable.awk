# Turns the output of `make bench` (go test -bench, several packages) into
# one table: each measure, its value, its target and whether it is met.
# Figures are means over a benchmark's runs; ratios are taken between
# benchmarks of the same run. Variables: date, cpus, cpu (set by make).

function metric(name, unit,    k) { k = name SUBSEP unit; return (k in sum) ? sum[k] / cnt[k] : "" }
function has(name, unit) { return ((name SUBSEP unit) in sum) }
function row(what, value, target, met) {
	printf "| %-68s | %20s | %-8s | %-4s |\n", what, value, target, met
}
function yes(ok) { return ok ? "yes" : "NO" }

/^Benchmark/ {
	name = $1; sub(/-[0-9]+$/, "", name)
	for (i = 3; i < NF; i++) {
		unit = $(i+1)
		if ($i ~ /^[0-9.e+-]+$/ && unit !~ /^[0-9.e+-]+$/) {
			k = name SUBSEP unit
			sum[k] += $i; cnt[k]++
		}
	}
}
/^--- SKIP|^    .*skipped|^    .*: the .* peer is skipped/ { skipped[++nskip] = $0 }

END {
	printf "\nwavectl benchmarks, %s, %s CPU(s): %s\n\n", date, cpus, cpu
	row("measure", "value", "target", "met")
	print "|----------------------------------------------------------------------|----------------------|----------|------|"

	base = metric("BenchmarkOfflineProcess/baseline-version", "ns/op")
	for (c = 1; c <= 2; c++) {
		sub_ = (c == 1) ? "validate" : "plan-offline"
		label = (c == 1) ? "validate" : "plan --offline"
		b = "BenchmarkOfflineProcess/" sub_
		if (has(b, "ns/op")) {
			ms = metric(b, "ns/op") / 1e6
			row("reference plan: `wavectl " label "`, whole process", sprintf("%.0f ms", ms), "< 200 ms", yes(ms < 200))
			mb = metric(b, "peakMB")
			row("  peak memory (maxrss)", sprintf("%.0f MB", mb), "< 100 MB", yes(mb < 100))
		}
	}
	if (base != "")
		row("  (starting the binary: `wavectl --version`)", sprintf("%.0f ms", base / 1e6), "", "")
	if (has("BenchmarkReference/baseline-yaml-parse", "ns/op")) {
		y = metric("BenchmarkReference/baseline-yaml-parse", "ns/op")
		row("  load + validate in-process / bare yaml.v3 parse", sprintf("%.2fx", metric("BenchmarkReference/load-and-validate", "ns/op") / y), "", "")
	}

	if (has("BenchmarkManyProblems", "ns/op")) {
		ms = metric("BenchmarkManyProblems", "ns/op") / 1e6
		row("load + validate a plan with 60,000 problems (linear, not quadratic)", sprintf("%.0f ms", ms), "< 2 s", yes(ms < 2000))
	}

	a = "BenchmarkApplyReference"
	if (has(a, "ns/op")) {
		n = metric(a, "VMs")
		row(sprintf("apply reference plan (%d VMs), simulator, no task delays", n), sprintf("%.1f s", metric(a, "ns/op") / 1e9), "", "")
		req = metric(a, "req/VM"); least = metric(a, "min-req/VM")
		row("  vCenter API requests per VM (least the strategies need)", sprintf("%.1f (%.1f) = %.1fx", req, least, req / least), "<= 2x", yes(req / least <= 2))
		p = metric(a, "persist%")
		row("  time persisting state, share of the run", sprintf("%.1f %%", p), "< 5 %", yes(p < 5))
		row("  peak memory (Go heap, wavectl + simulator)", sprintf("%.0f MB", metric(a, "peakMB")), "", "")
	}
	for (k = 1; k <= 2; k++) {
		st = (k == 1) ? "file" : "postgres"
		sb = "BenchmarkApplyReferenceStores/" st
		if (!has(sb, "ns/op")) continue
		p = metric(sb, "persist%")
		row(sprintf("apply reference plan, record in %s: wall time, persistence share", (k == 1) ? "a state file" : "PostgreSQL"),
			sprintf("%.1f s, %.1f %%", metric(sb, "ns/op") / 1e9, p), "< 5 %", yes(p < 5))
	}
	if (has("BenchmarkApplyReferenceStores/file", "ns/op") && has("BenchmarkApplyReferenceStores/postgres", "ns/op"))
		row("  wall time, PostgreSQL / file", sprintf("%.2f", metric("BenchmarkApplyReferenceStores/postgres", "ns/op") / metric("BenchmarkApplyReferenceStores/file", "ns/op")), "", "")
	# In-process (wavectl and the simulator share one process): run by
	# hand, not by make bench.
	split("BenchmarkScheduleEfficiency/whole-programme BenchmarkScheduleEfficiency/one-wave", effs, " ")
	for (i = 1; i <= 2; i++) {
		e = effs[i]
		if (!has(e, "efficiency")) continue
		one = (e ~ /one-wave/)
		what = one ? sprintf("one wave alone (%d VMs)", metric(e, "VMs")) : "whole programme"
		eff = metric(e, "efficiency"); want = one ? 0.9 : 0.85
		row(sprintf("schedule efficiency in-process, %s: bound %.0f s / makespan %.0f s", what, metric(e, "bound-s"), metric(e, "makespan-s")), sprintf("%.2f", eff), ">= " want, yes(eff >= want))
	}
	# wavectl apply and wavectl sim as two processes (make bench).
	split("BenchmarkProgrammeProcess/one-wave BenchmarkProgrammeProcess/whole-programme", effs, " ")
	for (i = 1; i <= 2; i++) {
		e = effs[i]
		if (!has(e, "efficiency")) continue
		one = (e ~ /one-wave/)
		what = one ? sprintf("one wave alone (%d VMs)", metric(e, "VMs")) : sprintf("whole programme (%d VMs)", metric(e, "VMs"))
		eff = metric(e, "efficiency"); want = one ? 0.9 : 0.85
		row(sprintf("schedule efficiency, %s: bound %.0f s / makespan %.0f s", what, metric(e, "bound-s"), metric(e, "makespan-s")), sprintf("%.2f", eff), ">= " want, yes(eff >= want))
		w = metric(e, "wavectl-cpu-s"); sm = metric(e, "sim-cpu-s"); cpus = metric(e, "cpus"); ms = metric(e, "makespan-s")
		row(sprintf("  CPU: wavectl %.0f s + simulator %.0f s, of %d CPUs x %.0f s", w, sm, cpus, ms), sprintf("%.0f %%", 100 * (w + sm) / (cpus * ms)), "", "")
		row("  machine idle during the run (other work shows here)", sprintf("%.0f %%", metric(e, "machine-idle%")), "", "")
		if (has(e, "persist%")) {
			ps = metric(e, "persist%")
			row("  time persisting state (file store), share of the run", sprintf("%.1f %%", ps), "< 5 %", yes(ps < 5))
		}
		mb = metric(e, "peakMB")
		if (one) row("  peak memory of wavectl apply (maxrss)", sprintf("%.0f MB", mb), "", "")
		else row("  peak memory of wavectl apply (maxrss), reference run", sprintf("%.0f MB", mb), "< 300 MB", yes(mb < 300))
	}

	pg = "BenchmarkProgrammeProcess/one-wave-postgres"
	if (has(pg, "persist%")) {
		ps = metric(pg, "persist%")
		row(sprintf("one wave, record in PostgreSQL: makespan %.0f s (file: %.0f s), persistence share", metric(pg, "makespan-s"), metric("BenchmarkProgrammeProcess/one-wave", "makespan-s")),
			sprintf("%.1f %%", ps), "< 5 %", yes(ps < 5))
	}

	d = "BenchmarkDiscover10k/discover"
	if (has(d, "ns/op")) {
		n = metric(d, "VMs"); sec = metric(d, "ns/op") / 1e9
		row(sprintf("discover, generated %d-VM RVTools export (7 sheets) to a plan", n), sprintf("%.1f s", sec), "< 10 s", yes(sec < 10))
		row("  peak memory (Go heap)", sprintf("%.0f MB", metric(d, "peakMB")), "", "")
		x = "BenchmarkDiscover10k/excelize-only"
		if (has(x, "ns/op")) {
			row("  reading the same workbook with excelize alone (GetRows)", sprintf("%.1f s, %.0f MB", metric(x, "ns/op") / 1e9, metric(x, "peakMB")), "", "")
			row("  discover / excelize alone, time", sprintf("%.2fx", metric(d, "ns/op") / metric(x, "ns/op")), "", "")
		}
	}

	for (s = 1; s <= 2; s++) {
		size = (s == 1) ? 50 : 200
		pre = "BenchmarkPeers/redeploy-" size "/"
		w8 = metric(pre "wavectl-8-in-flight", "ns/op")
		w = metric(pre "wavectl", "ns/op")
		if (w8 == "" && w == "") continue
		fl = metric(pre "wavectl-8-in-flight", "floor-s")
		if (fl == "") fl = metric(pre "govc-xargs-P8", "floor-s")
		row(sprintf("redeploy wave of %d VMs: floor (its tasks / 8 in flight)", size), sprintf("%.1f s", fl), "", "")
		if (w8 != "") {
			e = metric(pre "wavectl-8-in-flight", "efficiency")
			row("  wavectl at 8 in flight: time, efficiency (floor / time)", sprintf("%.1f s, %.2f", w8 / 1e9, e), ">= 0.9", yes(e >= 0.9))
		}
		g = metric(pre "govc-xargs-P8", "ns/op")
		if (g != "") {
			row("  govc script, xargs -P 8: time, efficiency", sprintf("%.1f s, %.2f", g / 1e9, metric(pre "govc-xargs-P8", "efficiency")), "", "")
			if (w8 != "") row("  wavectl / govc, both at 8 in flight", sprintf("%.2f", w8 / g), "<= 0.75", yes(w8 / g <= 0.75))
		} else row("  govc script", "skipped", "", "")
		if (w != "") row("  wavectl, default limits (16 in flight): time, efficiency", sprintf("%.1f s, %.2f", w / 1e9, metric(pre "wavectl", "efficiency")), "", "")
		an = metric(pre "ansible-forks8", "ns/op")
		if (an != "") {
			row("  Ansible community.vmware, 8 forks: time, efficiency", sprintf("%.1f s, %.3f", an / 1e9, metric(pre "ansible-forks8", "efficiency")), "", "")
			if (w8 != "") row("  wavectl / Ansible, both at 8 in flight", sprintf("%.3f", w8 / an), "", "")
		} else row("  Ansible playbook", "skipped", "", "")
	}
	for (i = 1; i <= nskip; i++) print skipped[i]
}
