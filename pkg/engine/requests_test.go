package engine_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/wavectl/wavectl/pkg/engine"
	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/schedule"
	"github.com/wavectl/wavectl/pkg/state"
	"github.com/wavectl/wavectl/pkg/vsphere"
	"github.com/wavectl/wavectl/pkg/vsphere/sim"
)

// requestCounter counts the SOAP requests that cross the HTTP transport,
// by vSphere method (the first element in the envelope's Body): what a
// vCenter would see, whatever the driver does above it.
type requestCounter struct {
	base http.RoundTripper
	mu   sync.Mutex
	n    map[string]int
}

func (c *requestCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	method := "(other)"
	if r.Body != nil {
		body, err := io.ReadAll(r.Body)
		_ = r.Body.Close()
		if err != nil {
			return nil, err
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if i := bytes.Index(body, []byte("Body>")); i >= 0 {
			rest := body[i+5:]
			if j := bytes.IndexByte(rest, '<'); j >= 0 {
				rest = rest[j+1:]
				if k := bytes.IndexAny(rest, " >/"); k >= 0 {
					method = string(rest[:k])
				}
				if method == "RetrievePropertiesEx" {
					method += readOf(body)
				}
			}
		}
	}
	c.mu.Lock()
	c.n[method]++
	c.mu.Unlock()
	return c.base.RoundTrip(r)
}

// readOf says what a read is for, from what it asks: tasks' state (the
// task waits), a container view (a search), a VM with what it refers to
// (a VM read), or something else.
func readOf(body []byte) string {
	switch {
	case bytes.Contains(body, []byte(">Task<")):
		return "(tasks)"
	case bytes.Contains(body, []byte(">ContainerView<")):
		return "(search)"
	case bytes.Contains(body, []byte(">config.hardware<")):
		return "(VM)"
	}
	return "(other)"
}

func (c *requestCounter) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.n)
}

func (c *requestCounter) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.n {
		n += v
	}
	return n
}

// byMethod is "method=count ..." by count, then name.
func (c *requestCounter) byMethod() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	keys := make([]string, 0, len(c.n))
	for k := range c.n {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if c.n[keys[i]] != c.n[keys[j]] {
			return c.n[keys[i]] > c.n[keys[j]]
		}
		return keys[i] < keys[j]
	})
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%d ", k, c.n[k])
	}
	return strings.TrimSpace(b.String())
}

// requestBudgets are the most vCenter requests per migrated VM (or
// server) that a small fixed plan of each strategy may make, counted at
// the HTTP transport against the in-process simulator with no task
// delays: reads, searches, changes, task waits and marker writes together.
//
// How they were set (issue 17, 2 December 2026, on the 2-core machine the
// tests run on, busy with other builds): each plan ran several times; the
// budget is 10-20% above the highest count seen, which puts it below
// the count of any one extra request per step (a VM has 3 to 9 steps
// here). The counts vary a little from run to run because
// task waits are batched reads per tick (pkg/vsphere/poller.go): how many
// waits share a read depends on timing. Measured then, per VM, before and
// after issue 17's changes (by method: go test -v -run
// TestVCenterRequestsPerVMStayWithinBudget ./pkg/engine):
//
//	redeploy        76.8 -> 20-23
//	remediate cold 127.2 -> 26-29
//	remediate live  77.0 -> 20-23
//	replace         49.2 -> 17-18
//	virtualise      35.5 ->  9-12
//
// Lower a budget when a change makes fewer requests; raise one only with
// the reason in the commit.
var requestBudgets = []struct {
	name   string
	apps   string
	budget float64
}{
	{"redeploy", `  - {name: app, strategy: redeploy, template: tpl, vms: [r-01, r-02, r-03, r-04]}
`, 27},
	{"remediate cold", `  - name: app
    strategy: remediate
    move: cold
    vms: [c-01, c-02, c-03, c-04]
    remediate: {hardwareVersion: vmx-19, cpus: 4, memoryMB: 8192}
`, 34},
	{"remediate live", `  - {name: app, strategy: remediate, vms: [l-01, l-02, l-03, l-04]}
`, 27},
	{"replace", `  - {name: app, strategy: replace, vms: [x-01, x-02, x-03], replacement: {template: tpl, name: x-new}}
`, 20},
	{"virtualise", `  - name: app
    strategy: virtualise
    servers:
      - {name: v-01, cpus: 2, memoryMB: 4096, disksGB: [40], networks: [VM Network]}
      - {name: v-02, cpus: 2, memoryMB: 4096, disksGB: [40], networks: [VM Network]}
      - {name: v-03, cpus: 2, memoryMB: 4096, disksGB: [40], networks: [VM Network]}
      - {name: v-04, cpus: 2, memoryMB: 4096, disksGB: [40], networks: [VM Network]}
`, 14},
}

// TestVCenterRequestsPerVMStayWithinBudget runs a small plan of each
// strategy against the simulator and counts the requests at the
// transport, so that a change that makes wavectl chattier with vCenter
// fails `make test`.
func TestVCenterRequestsPerVMStayWithinBudget(t *testing.T) {
	log.SetOutput(io.Discard) // the simulator's own chatter
	defer log.SetOutput(os.Stderr)
	for _, c := range requestBudgets {
		t.Run(c.name, func(t *testing.T) {
			p, probs, err := plan.Load("requests.yaml", []byte(requestsHeader+c.apps))
			if err != nil || probs.Errors() > 0 {
				t.Fatalf("plan: %v %v", err, probs)
			}
			perVM, methods := countRun(t, p)
			t.Logf("%.1f requests per VM (budget %.1f): %s", perVM, c.budget, methods)
			if perVM > c.budget {
				t.Errorf("%s: %.1f vCenter requests per VM, above the budget of %.1f (%s): find the new requests, or raise the budget and say why",
					c.name, perVM, c.budget, methods)
			}
		})
	}
}

const requestsHeader = `apiVersion: wavectl/v1
kind: MigrationPlan
metadata: {name: requests}
vcenters: {lab: {url: "https://vc/sdk"}}
source: {vcenter: lab, datacenter: OLD}
target: {datacenter: NEW, cluster: C1, datastore: ds1, folder: migrated, networks: {"VM Network": pg-1}}
limits: {concurrency: 8, perHost: 4, perDatastore: 8}
waves: [{name: w1, applications: [app]}]
applications:
`

// countRun applies p against a fresh simulator through a counting client
// and returns the requests per unit and their split by method.
func countRun(t *testing.T, p *plan.Plan) (float64, string) {
	t.Helper()
	ctx := context.Background()
	s, err := sim.New(p, sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	vc, cnt := countingClient(t, s)
	d := vsphere.NewGovmomi("lab", vc)
	sched, _ := schedule.Compile(p)
	store, err := state.Create(filepath.Join(t.TempDir(), "s.json"), state.NewState(p.Metadata.Name, p.File, p.Hash))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	cnt.reset()
	res, err := engine.Run(ctx, engine.Options{Plan: p, Schedule: sched, Store: store, Dial: s.DialContext, IgnoreWindows: true,
		Drivers: func(context.Context, string) (vsphere.Driver, error) { return d, nil }})
	if err != nil || res.Status != engine.Succeeded {
		t.Fatalf("run: %v %+v", err, res)
	}
	return float64(cnt.total()) / float64(sched.Totals.Units), cnt.byMethod()
}
