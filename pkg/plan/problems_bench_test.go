package plan_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/wavectl/wavectl/pkg/plan"
)

// manyProblems is a plan with n problems: n/2 VMs whose cpus do not
// decode, each listed again by a second application (a validation error).
// Validation problems are checked against the decoding ones, which once
// took time in the product of the two (60,000 problems: up to 2 minutes).
func manyProblems(n int) []byte {
	var a, b strings.Builder
	for i := range n / 2 {
		fmt.Fprintf(&a, "      - {name: vm-%d, cpus: many}\n", i)
		fmt.Fprintf(&b, "vm-%d, ", i)
	}
	return []byte(`apiVersion: wavectl/v1
kind: MigrationPlan
metadata: {name: many}
vcenters: {lab: {url: "https://vc/sdk"}}
source: {vcenter: lab, datacenter: DC0}
target: {datacenter: DC1, cluster: C1, datastore: ds1}
applications:
  - name: a
    strategy: remediate
    vms:
` + a.String() + `  - {name: b, strategy: remediate, vms: [` + b.String() + `]}
waves: [{name: w1, applications: [a, b]}]
`)
}

func TestEveryProblemOfAPlanWithThousandsIsReported(t *testing.T) {
	_, probs, _ := plan.Load("many.yaml", manyProblems(6000))
	if probs.Errors() != 6000 {
		t.Errorf("%d errors, want 6000", probs.Errors())
	}
}

// BenchmarkManyProblems loads a plan with 60,000 problems: validation must
// stay linear in the number of problems.
func BenchmarkManyProblems(b *testing.B) {
	data := manyProblems(60000)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, probs, _ := plan.Load("many.yaml", data); probs.Errors() != 60000 {
			b.Fatalf("%d errors, want 60000", probs.Errors())
		}
	}
}
