package plan_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"

	"github.com/wavectl/wavectl/pkg/plan"
)

// compileSchema round-trips the generated schema through JSON and compiles
// it with an independent JSON Schema implementation.
func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	raw, err := json.Marshal(plan.Schema())
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(plan.SchemaID, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(plan.SchemaID)
	if err != nil {
		t.Fatalf("generated schema does not compile: %v", err)
	}
	return s
}

// asJSON decodes YAML into the generic form a schema validator takes.
func asJSON(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestEveryExampleConformsToTheGeneratedSchema(t *testing.T) {
	s := compileSchema(t)
	files, _ := filepath.Glob("../../examples/*.yaml")
	more, _ := filepath.Glob("../../plans/*.yaml")
	files = append(files, more...)
	if len(files) == 0 {
		t.Fatal("no example plans found")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Validate(asJSON(t, data)); err != nil {
				t.Errorf("%s does not conform to the schema: %v", f, err)
			}
		})
	}
}

func TestSchemaRejectsWhatTheLoaderRejects(t *testing.T) {
	s := compileSchema(t)
	base := `apiVersion: wavectl/v1
kind: MigrationPlan
metadata: {name: t}
vcenters: {lab: {url: "https://vc/sdk"}}
source: {vcenter: lab, datacenter: DC0}
target: {datacenter: DC1, cluster: C1, datastore: ds1}
applications:
  - name: a
    strategy: remediate
    vms: [vm-1, {name: vm-2, cpus: 2}]
waves: [{name: w1, applications: [a]}]
`
	if err := s.Validate(asJSON(t, []byte(base))); err != nil {
		t.Fatalf("the base plan should conform: %v", err)
	}
	if _, _, err := plan.Load("base.yaml", []byte(base)); err != nil {
		t.Fatalf("the base plan should load: %v", err)
	}
	cases := []struct{ name, from, to string }{
		{"an unknown field", "strategy: remediate", "strategy: remediate\n    colour: blue"},
		{"an unknown strategy", "strategy: remediate", "strategy: lift-and-shift"},
		{"a string where a number goes", "cpus: 2", "cpus: two"},
		{"a wrong apiVersion", "wavectl/v1", "wavectl/v9"},
		{"a missing required field", "    strategy: remediate\n", "\n"},
		{"a zero limit", "waves:", "limits: {concurrency: 0}\nwaves:"},
		{"a bad window time", "applications: [a]}]", "applications: [a], window: {start: tomorrow, end: \"2027-01-01T00:00:00Z\"}}]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := strings.Replace(base, c.from, c.to, 1)
			if doc == base {
				t.Fatalf("replacement %q did not apply", c.from)
			}
			if err := s.Validate(asJSON(t, []byte(doc))); err == nil {
				t.Errorf("schema accepted a plan with %s", c.name)
			}
			if _, _, err := plan.Load("case.yaml", []byte(doc)); err == nil {
				t.Errorf("loader accepted a plan with %s", c.name)
			}
		})
	}
}
