package plan_test

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wavectl/wavectl/pkg/plan"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/plans/invalid")

// TestInvalidPlans loads every plan under testdata/plans/invalid and compares
// everything the loader says about it with NAME.golden next to it. The test
// runs from the repository root, so the paths in the messages (and in hints
// that point at another place in the file) read as a user would see them.
// Files named warn-*.yaml are valid plans that only draw warnings.
//
// After changing a message on purpose: go test ./pkg/plan -run TestInvalidPlans -update
func TestInvalidPlans(t *testing.T) {
	t.Chdir(repoRoot)
	files, err := filepath.Glob("testdata/plans/invalid/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no plans under testdata/plans/invalid")
	}
	for _, file := range files {
		file = filepath.ToSlash(file)
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			p, probs, err := plan.LoadFile(file)

			warnOnly := strings.HasPrefix(name, "warn-")
			var invalid *plan.InvalidError
			switch {
			case warnOnly && err != nil:
				t.Errorf("a warn-* plan must load; got %v", err)
			case warnOnly && (p == nil || probs.Warnings() == 0):
				t.Errorf("a warn-* plan must load with warnings; got plan %v and %d warnings", p != nil, probs.Warnings())
			case !warnOnly && !errors.As(err, &invalid):
				t.Errorf("want an *plan.InvalidError, got %T: %v", err, err)
			case !warnOnly && invalid.File != file:
				t.Errorf("InvalidError names %q, want %q", invalid.File, file)
			case !warnOnly && len(invalid.Problems) != len(probs):
				t.Errorf("InvalidError carries %d problems, Load returned %d", len(invalid.Problems), len(probs))
			}
			for _, pr := range probs {
				if pr.Line < 1 || pr.Column < 1 || pr.File != file {
					t.Errorf("problem without a proper position (%s:%d:%d): %s", pr.File, pr.Line, pr.Column, pr)
				}
				if strings.TrimSpace(pr.Message) == "" {
					t.Errorf("problem without a message: %+v", pr)
				}
				if pr.Severity != plan.SeverityError && pr.Severity != plan.SeverityWarning {
					t.Errorf("problem with severity %q: %s", pr.Severity, pr)
				}
			}

			got := listing(probs)
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("problems differ from %s (run with -update if the change is intended)\n--- got\n%s--- want\n%s", golden, got, want)
			}
		})
	}
}

// listing is what a user reads: each problem as Problem.String prints it,
// one after the other.
func listing(probs plan.Problems) string {
	var b strings.Builder
	for _, p := range probs {
		b.WriteString(p.String())
		b.WriteByte('\n')
	}
	return b.String()
}
