package plan

import (
	"reflect"
)

// SchemaID names the schema document.
const SchemaID = "https://wavectl.dev/schema/wavectl-v1.json"

// Schema returns the plan's JSON Schema (draft 2020-12), generated from the
// model's struct tags: the same tags the decoder checks, so the two cannot
// drift.
func Schema() map[string]any {
	g := &schemaGen{defs: map[string]any{}}
	root := g.object(reflect.TypeOf(Plan{}))
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["$id"] = SchemaID
	root["title"] = "wavectl migration plan"
	root["description"] = "A wavectl/v1 MigrationPlan: which applications move onto vSphere, how, and in which order."
	root["$defs"] = g.defs
	return root
}

type schemaGen struct{ defs map[string]any }

func (g *schemaGen) typeSchema(t reflect.Type) map[string]any {
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t == durationType:
		return map[string]any{"type": "string", "pattern": `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`, "examples": []string{"90s", "20m", "1h30m"}}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.typeSchema(t.Elem())
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Int:
		return map[string]any{"type": "integer"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": g.typeSchema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.typeSchema(t.Elem())}
	case reflect.Struct:
		name := t.Name()
		if _, ok := g.defs[name]; !ok {
			g.defs[name] = nil // reserve against recursion
			obj := g.object(t)
			if reflect.PointerTo(t).Implements(reflect.TypeOf((*scalarSetter)(nil)).Elem()) {
				g.defs[name] = map[string]any{"oneOf": []any{map[string]any{"type": "string", "description": "the name alone"}, obj}}
			} else {
				g.defs[name] = obj
			}
		}
		return map[string]any{"$ref": "#/$defs/" + name}
	}
	return map[string]any{}
}

func (g *schemaGen) object(t reflect.Type) map[string]any {
	fs := structFields(t)
	props := map[string]any{}
	required := []string{}
	for _, f := range fs.list {
		s := g.typeSchema(t.Field(f.index).Type)
		if _, isRef := s["$ref"]; isRef && f.doc != "" {
			s = map[string]any{"allOf": []any{s}}
		}
		if f.doc != "" {
			s["description"] = f.doc
		}
		if len(f.enum) > 0 {
			s["enum"] = f.enum
		}
		if f.pattern != nil {
			s["pattern"] = f.pattern.String()
		}
		if f.min != nil {
			s["minimum"] = *f.min
		}
		if f.max != nil {
			s["maximum"] = *f.max
		}
		if f.required {
			required = append(required, f.name)
			if f.name == "disksGB" {
				s["minItems"] = 1
			}
		}
		props[f.name] = s
	}
	obj := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		obj["required"] = required
	}
	return obj
}
