package plan

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// docs/reference.md documents every field of the plan, and the README
// every step kind; this keeps them from falling behind the model.
func TestTheReferenceDocumentsEveryFieldAndStepKind(t *testing.T) {
	data, err := os.ReadFile("../../docs/reference.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	guide, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type)
	var missing []string
	walk = func(ty reflect.Type) {
		for ty.Kind() == reflect.Pointer || ty.Kind() == reflect.Slice || ty.Kind() == reflect.Map {
			ty = ty.Elem()
		}
		if ty.Kind() != reflect.Struct || ty == timeType || seen[ty] {
			return
		}
		seen[ty] = true
		if !strings.Contains(readme, "\n## "+ty.Name()+"\n") {
			missing = append(missing, "section "+ty.Name())
		}
		for _, f := range structFields(ty).list {
			if !strings.Contains(readme, "| `"+f.name+"` |") {
				missing = append(missing, ty.Name()+"."+f.name)
			}
			walk(ty.Field(f.index).Type)
		}
	}
	walk(reflect.TypeOf(Plan{}))
	for _, k := range StepKinds {
		if !strings.Contains(string(guide), "`"+k+"`") {
			missing = append(missing, "step kind "+k)
		}
	}
	if len(missing) > 0 {
		t.Errorf("docs/reference.md (fields) or README.md (step kinds) does not document: %s", strings.Join(missing, ", "))
	}
}
