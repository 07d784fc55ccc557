package discover

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/wavectl/wavectl/pkg/plan"
)

// FuzzExport: whatever a vInfo CSV holds, discover never panics; it
// returns an InputError or a plan that loads without an error (names are
// written so that they read back, or the row is left out).
func FuzzExport(f *testing.F) {
	for _, seed := range []string{
		"VM,CPUs,Memory\nweb-01,2,4096\n",
		"VM;CPUs;Memory;Folder\nyes;2;4096;/a/b\n",
		"VM,CPUs,Memory,Datacenter,VI SDK Server\na,2,4096,DC1,vc\nb,,,DC1,vc\n",
		"Name,CPUs,Memory MB,HW version,Network #1\n\" x \",1,1024,vmx-08,VM Network\n",
		"VM,CPUs,Memory,Template,SRM Placeholder\nvCLS (1),1,128,False,False\nt,2,4096,True,False\n",
	} {
		f.Add(seed)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data string) {
		path := filepath.Join(dir, "vinfo.csv")
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		invs, err := ReadRVToolsSources(context.Background(), path, Filter{}, ReadOptions{})
		var ie *InputError
		if err != nil {
			if !errors.As(err, &ie) {
				t.Fatalf("not an InputError: %v", err)
			}
			return
		}
		for _, inv := range invs {
			r := DefaultRules()
			if err := r.Check("defaults"); err != nil {
				t.Fatal(err)
			}
			res, err := Build(Input{Inventory: inv, Rules: r})
			if err != nil {
				t.Fatal(err)
			}
			out, err := res.Write()
			if err != nil {
				t.Fatal(err)
			}
			if _, probs, err := plan.Load("plan.yaml", out); err != nil {
				t.Fatalf("the plan does not load: %v\n%s\n%s", err, probs, out)
			}
		}
	})
}
