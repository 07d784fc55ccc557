package cli_test

import (
	"context"
	"os"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/wavectl/wavectl/pkg/cli"
	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/schedule"
)

const referencePlan = "../../plans/crown-hosting.yaml"

// BenchmarkReference measures the offline half of wavectl on the reference
// programme (60+ applications, 1,500+ VMs). The baseline is a bare yaml.v3
// parse of the same file: the least any YAML tool must pay. `make bench`
// prints every figure as a ratio to it.
func BenchmarkReference(b *testing.B) {
	data, err := os.ReadFile(referencePlan)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("baseline-yaml-parse", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			var v any
			if err := yaml.Unmarshal(data, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("load-and-validate", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, _, err := plan.Load(referencePlan, data); err != nil {
				b.Fatal(err)
			}
		}
	})
	p, _, err := plan.Load(referencePlan, data)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("compile-schedule", func(b *testing.B) {
		for b.Loop() {
			_, _ = schedule.Compile(p)
		}
	})
	for _, c := range []struct {
		name string
		args []string
	}{
		{"cli-validate", []string{"validate", referencePlan}},
		{"cli-plan-offline", []string{"plan", "--offline", referencePlan}},
		{"cli-plan-offline-json", []string{"plan", "--offline", "-o", "json", referencePlan}},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				io, _, _, _ := cli.Test()
				if code := cli.Run(context.Background(), io, c.args); code != 0 {
					b.Fatalf("%v exited %d", c.args, code)
				}
			}
		})
	}
}
