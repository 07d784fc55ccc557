package plan_test

import (
	"path/filepath"
	"testing"

	"github.com/wavectl/wavectl/pkg/plan"
)

// repoRoot is the repository root, seen from this package's directory.
var repoRoot = filepath.Join("..", "..")

// TestExamplesLoadCleanly keeps every plan we ship loadable: the annotated
// examples with no errors and no warnings (they are what users copy), the
// reference programme under plans/ with no errors.
func TestExamplesLoadCleanly(t *testing.T) {
	for _, tc := range []struct {
		glob          string
		allowWarnings bool
	}{
		{glob: "examples/*.yaml"},
		{glob: "plans/*.yaml", allowWarnings: true},
	} {
		files, err := filepath.Glob(filepath.Join(repoRoot, filepath.FromSlash(tc.glob)))
		if err != nil {
			t.Fatal(err)
		}
		if len(files) == 0 {
			t.Errorf("no plans match %s", tc.glob)
		}
		for _, file := range files {
			rel, _ := filepath.Rel(repoRoot, file)
			t.Run(filepath.ToSlash(rel), func(t *testing.T) {
				p, probs, err := plan.LoadFile(file)
				if err != nil {
					t.Fatalf("does not load: %v\n%s", err, probs)
				}
				if p == nil {
					t.Fatal("loaded no plan")
				}
				if probs.Errors() > 0 {
					t.Errorf("has errors:\n%s", probs)
				}
				if !tc.allowWarnings && probs.Warnings() > 0 {
					t.Errorf("has warnings:\n%s", probs)
				}
				if len(p.Applications) == 0 {
					t.Error("moves no applications")
				}
			})
		}
	}
}
