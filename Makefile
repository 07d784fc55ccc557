# wavectl's everyday commands. Needs only Go (1.26+): everything else comes
# from the Go module proxy.
GO      ?= go
BIN     := bin/wavectl
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/wavectl/wavectl/pkg/cli.Version=$(VERSION)
FUZZTIME ?= 60s
# govc, the vSphere CLI, for the end-to-end tests that read the simulator
# the way engineers do. v0.46.0 is the last release whose govc is served by
# the module proxy as part of the govmomi module.
GOVC_VERSION := v0.46.0
TOOLS   := $(CURDIR)/bin/tools
GOLANGCI_VERSION := v2.15.0
# The packages with concurrency (the state's writer, the engine's workers,
# sessions and the simulator, the CLI's signals and progress) run under the
# race detector in make test; the rest without it.
RACE_PKGS := ./pkg/state ./pkg/engine ./pkg/vsphere ./pkg/cli
RACE_SKIP := /pkg/(state|engine|vsphere|cli)$$

.PHONY: all build test demo demo-team bench lint fuzz plans schema clean tools reference report crash

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/wavectl

## test: the whole suite (unit, fuzz seeds, end-to-end CLI scripts), the packages with concurrency under -race, plus lint
# -race needs cgo and so a C compiler (.ci/run installs gcc); without one,
# those packages are tested without it and a line says so.
test: lint tools
	PATH="$(TOOLS):$$PATH" $(GO) test -count=1 $$($(GO) list ./... | grep -v -E '$(RACE_SKIP)')
	@if command -v "$$($(GO) env CC)" >/dev/null 2>&1; then \
		echo 'PATH="$(TOOLS):$$PATH" $(GO) test -race -count=1 $(RACE_PKGS)'; \
		PATH="$(TOOLS):$$PATH" $(GO) test -race -count=1 $(RACE_PKGS); \
	else \
		echo "no C compiler ($$($(GO) env CC)) for the race detector: testing $(RACE_PKGS) without -race"; \
		PATH="$(TOOLS):$$PATH" $(GO) test -count=1 $(RACE_PKGS); \
	fi

tools: $(TOOLS)/govc

$(TOOLS)/golangci-lint:
	GOBIN=$(TOOLS) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_VERSION)

$(TOOLS)/govc:
	GOBIN=$(TOOLS) $(GO) install github.com/vmware/govmomi/govc@$(GOVC_VERSION)

## demo: a whole example migration (all four strategies, a wave and the conveyor) against the embedded vCenter simulator
demo: build
	./$(BIN) validate examples/demo.yaml
	./$(BIN) plan --simulate examples/demo.yaml
	rm -f demo.state.json
	./$(BIN) apply --simulate --yes --ignore-windows --state demo.state.json examples/demo.yaml
	./$(BIN) status --state demo.state.json
	./$(BIN) report --state demo.state.json

## demo-team: two waves of one plan applied at once from two shells against one PostgreSQL record, then status from a third (needs Debian's postgresql)
demo-team: build
	testdata/demo-team.sh ./$(BIN)

## bench: every benchmark, as one table with its targets (about an hour and a half, Ansible and the whole programme most of it; installs govc, Ansible and pyvmomi when it can)
# The table's figures go in docs/benchmarks.md.
bench: build tools
	@rm -f bench.out
	testdata/bench/install-peers.sh $(CURDIR)
	$(GO) test -run '^$$' -bench . -benchmem -count 3 ./pkg/cli ./pkg/state ./pkg/plan | tee -a bench.out
	PATH="$(TOOLS):$$PATH" $(GO) test -run '^$$' -bench OfflineProcess -benchtime 10x ./cmd/wavectl | tee -a bench.out
	$(GO) test -run '^$$' -bench ApplyReference -benchtime 1x -timeout 60m ./pkg/engine | tee -a bench.out
	$(GO) test -run '^$$' -bench ProgrammeProcess -benchtime 1x -timeout 60m ./cmd/wavectl | tee -a bench.out
	$(GO) test -run '^$$' -bench Discover10k -benchtime 3x ./pkg/discover | tee -a bench.out
	PATH="$(TOOLS):$$PATH" WAVECTL_BENCH_PEERS=1 $(GO) test -run '^$$' -bench Peers -benchtime 1x -timeout 90m ./cmd/wavectl | tee -a bench.out
	@awk -v date="$$(date -u +%Y-%m-%d)" -v cpus="$$(nproc)" -v cpu="$$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" \
		-f testdata/benchtable.awk bench.out | tee bench.table

## lint: gofmt, go vet, and golangci-lint (errcheck, staticcheck, unused, depguard: see .golangci.yml)
lint: $(TOOLS)/golangci-lint
	@out=$$(gofmt -l cmd pkg plans testdata); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(TOOLS)/golangci-lint run ./...

## reference: the whole reference programme (1,500+ VMs) migrated across two simulated vCenters, most VMs live (about 11 minutes on 2 cores)
reference: build
	./$(BIN) apply --simulate --yes --ignore-windows plans/crown-hosting.yaml
	./$(BIN) status plans/crown-hosting.yaml --state crown-hosting.simulate.state.json | head -40
	./$(BIN) report plans/crown-hosting.yaml --state crown-hosting.simulate.state.json | head -5

## report: the demo's report as HTML, with desktop and phone screenshots (needs Debian's chromium)
report: demo
	./$(BIN) report --state demo.state.json -o html --out demo-report.html
	testdata/report-screenshot.sh demo-report.html demo-report

## crash: the kill -9 tests at length: 200 kills in apply and resume per test, each run compared with an uninterrupted one
crash:
	WAVECTL_CRASH_KILLS=200 $(GO) test -count=1 -run Kill -v -timeout 60m ./cmd/wavectl

## fuzz: fuzz what wavectl parses or hides, FUZZTIME each (default 60s): the plan loader, the state file, a state's journal tail, the redactor, discover's export reader
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzLoad -fuzztime $(FUZZTIME) ./pkg/plan
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZTIME) ./pkg/state
	$(GO) test -run '^$$' -fuzz FuzzCatchUp -fuzztime $(FUZZTIME) ./pkg/state
	$(GO) test -run '^$$' -fuzz FuzzRedact -fuzztime $(FUZZTIME) ./pkg/redact
	$(GO) test -run '^$$' -fuzz FuzzExport -fuzztime $(FUZZTIME) ./pkg/discover

## plans: regenerate the reference programme
plans:
	$(GO) run ./plans/gen > plans/crown-hosting.yaml

schema: build
	./$(BIN) schema > wavectl.schema.json

clean:
	rm -rf bin bench.out bench.table
