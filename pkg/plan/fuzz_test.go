package plan_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/wavectl/wavectl/pkg/plan"
)

// FuzzLoad feeds the loader mangled plans: it must never panic, and every
// problem it reports must point at a line and column of the file.
//
//	go test -fuzz FuzzLoad -fuzztime 3m ./pkg/plan
func FuzzLoad(f *testing.F) {
	for _, glob := range []string{"examples/*.yaml", "plans/*.yaml", "testdata/plans/invalid/*.yaml"} {
		files, err := filepath.Glob(filepath.Join(repoRoot, filepath.FromSlash(glob)))
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Add([]byte(""))
	f.Add([]byte("a: &a [*a, *a]\nb: *a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		const file = "fuzz.yaml"
		p, probs, err := plan.Load(file, data)
		for _, pr := range probs {
			if pr.Line < 1 || pr.Column < 1 {
				t.Errorf("problem without a position (line %d, column %d): %s", pr.Line, pr.Column, pr)
			}
			if pr.File != file {
				t.Errorf("problem names file %q, want %q: %s", pr.File, file, pr)
			}
			if pr.Message == "" {
				t.Errorf("problem without a message: %+v", pr)
			}
		}
		if (err != nil) != (probs.Errors() > 0) {
			t.Errorf("error %v, but %d errors among the problems", err, probs.Errors())
		}
		if err == nil && p == nil {
			t.Error("no error and no plan")
		}
	})
}
