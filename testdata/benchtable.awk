# Summarises `go test -bench` output: the mean of each benchmark over its
# runs, and its ratio to the baseline measured in the same run.
/^Benchmark/ {
	name = $1; sub(/-[0-9]+$/, "", name)
	for (i = 3; i < NF; i++) {
		if ($(i+1) == "ns/op") ns[name] += $i
		if ($(i+1) == "B/op") bytes[name] += $i
	}
	runs[name]++
	if (!(name in seen)) { seen[name] = 1; order[++n] = name }
}
END {
	base = ""
	for (i = 1; i <= n; i++) if (order[i] ~ /baseline/) base = order[i]
	printf "\n%-52s %12s %12s %10s\n", "benchmark", "ms/op", "MB alloc/op", "x baseline"
	for (i = 1; i <= n; i++) {
		k = order[i]; ms = ns[k] / runs[k] / 1e6
		ratio = (base != "" && ns[base] > 0) ? sprintf("%.2f", (ns[k] / runs[k]) / (ns[base] / runs[base])) : "-"
		printf "%-52s %12.2f %12.1f %10s\n", k, ms, bytes[k] / runs[k] / 1e6, ratio
	}
}
