package main

import (
	"bufio"
	"bytes"
	"math/rand/v2"
	"os"
	"testing"
)

// TestCommittedPlanIsUpToDate fails when plans/crown-hosting.yaml was not
// regenerated after a change to this generator.
func TestCommittedPlanIsUpToDate(t *testing.T) {
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	g := &gen{w: w, rng: rand.New(rand.NewPCG(seed1, seed2))}
	g.plan()
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile("../crown-hosting.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), committed) {
		t.Error("plans/crown-hosting.yaml is stale: run `go run ./plans/gen > plans/crown-hosting.yaml`")
	}
}
