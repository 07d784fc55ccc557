package plan

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/wavectl/wavectl/pkg/input"
)

// MaxPlanBytes bounds the size of a plan file; the reference programme of
// 1,500 VMs is well under 1 MiB.
const MaxPlanBytes = 32 << 20

// maxNodes bounds how many YAML nodes one plan may expand to, so that a
// file of nested aliases cannot exhaust memory.
const maxNodes = 200_000

// LoadFile reads, decodes, resolves and validates the plan at path. The
// error is an *InvalidError when the plan has errors; warnings come back
// with a valid plan. Other errors (a missing file) are returned as they are.
func LoadFile(path string) (*Plan, Problems, error) {
	return LoadFileContext(context.Background(), path)
}

// LoadFileContext is LoadFile stopping when ctx is done. The file must be
// a regular one of at most MaxPlanBytes: a FIFO, a device (/dev/zero) or
// a huge file is refused without reading it all.
func LoadFileContext(ctx context.Context, path string) (*Plan, Problems, error) {
	data, err := input.ReadFile(ctx, path, "plan", MaxPlanBytes)
	if err != nil {
		return nil, nil, err
	}
	return Load(path, data)
}

// Load decodes, resolves and validates a plan from bytes; file names it in
// positions.
func Load(file string, data []byte) (*Plan, Problems, error) {
	p, probs := Decode(file, data)
	if p != nil {
		p.Resolve()
		// Validation runs even when decoding found errors, so that one pass
		// reports everything; what it says about a value that failed to
		// decode would only repeat that error, so it is dropped.
		decoded := make(map[string]bool, len(probs))
		for _, dp := range probs {
			if dp.Path != "" {
				decoded[dp.Path] = true
			}
		}
		for _, vp := range Validate(p) {
			if !underAny(vp.Path, decoded) {
				probs = append(probs, vp)
			}
		}
	}
	probs.Sort()
	if probs.Errors() > 0 {
		return p, probs, &InvalidError{File: file, Problems: probs}
	}
	return p, probs, nil
}

// underAny reports whether path is one of the decoded paths or lies under
// one (a field or element of it). It looks up each prefix of path rather
// than scanning the problems, so that validation stays linear in the
// number of problems.
func underAny(path string, decoded map[string]bool) bool {
	if len(decoded) == 0 {
		return false
	}
	if decoded[path] {
		return true
	}
	for i := len(path) - 1; i > 0; i-- {
		if (path[i] == '.' || path[i] == '[') && decoded[path[:i]] {
			return true
		}
	}
	return false
}

var utf8BOM = []byte{0xef, 0xbb, 0xbf}

var yamlLine = regexp.MustCompile(`line (\d+)(?:, column (\d+))?`)

// Decode parses YAML into a Plan, recording the position of every value and
// reporting syntax errors, wrong types, unknown fields, missing required
// fields and out-of-range values, all in one pass. It does not resolve
// defaults or check references (see Resolve and Validate).
func Decode(file string, data []byte) (*Plan, Problems) {
	d := &decoder{file: file, pos: positions{}}
	var root yaml.Node
	// yaml.v3 skips one byte-order mark; an editor that added a second one
	// would shift every column of the first line. Marks take no column in
	// an editor, so all of them are skipped (the hash stays the file's).
	src := data
	for bytes.HasPrefix(src, utf8BOM) {
		src = src[len(utf8BOM):]
	}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			d.add(Pos{File: file, Line: 1, Column: 1}, "", "plan is empty", "start from one of the plans in examples/, or run `wavectl schema` for the format")
			return nil, d.probs
		}
		d.syntax(err)
		return nil, d.probs
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		d.add(d.at(&extra), "", "a plan file holds one YAML document; found a second one", "split the plans into separate files, or remove the '---' separator")
	} else if !errors.Is(err, io.EOF) {
		d.syntax(err)
		return nil, d.probs
	}
	p := &Plan{File: file}
	sum := sha256.Sum256(data)
	p.Hash = hex.EncodeToString(sum[:])
	node := &root
	if node.Kind == yaml.DocumentNode {
		if len(node.Content) == 0 {
			d.add(Pos{File: file, Line: 1, Column: 1}, "", "plan is empty", "start from one of the plans in examples/")
			return nil, d.probs
		}
		node = node.Content[0]
	}
	if node.Kind != yaml.MappingNode {
		d.add(d.at(node), "", fmt.Sprintf("a plan is a mapping of fields, but this document is %s", describe(node)), "start with `apiVersion: wavectl/v1` and `kind: MigrationPlan`; see `wavectl schema`")
		return nil, d.probs
	}
	d.value(node, reflect.ValueOf(p).Elem(), "")
	if d.aborted {
		return nil, d.probs
	}
	p.pos = d.pos
	for i, a := range p.Applications {
		if a != nil {
			a.Index = i
		}
	}
	return p, d.probs
}

type decoder struct {
	file    string
	pos     positions
	probs   Problems
	nodes   int
	aborted bool
}

func (d *decoder) at(n *yaml.Node) Pos { return Pos{File: d.file, Line: n.Line, Column: n.Column} }

func (d *decoder) add(pos Pos, path, msg, hint string) {
	d.probs = append(d.probs, Problem{Pos: pos, Severity: SeverityError, Path: path, Message: msg, Hint: hint})
}

func (d *decoder) syntax(err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	pos := Pos{File: d.file, Line: 1, Column: 1}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		pos.Line, _ = strconv.Atoi(m[1])
		if m[2] != "" {
			pos.Column, _ = strconv.Atoi(m[2])
		}
		msg = strings.TrimSpace(yamlLine.ReplaceAllString(msg, ""))
		msg = strings.TrimPrefix(msg, ": ")
		// yaml.v3 numbers its parser's errors (as opposed to its scanner's)
		// from zero; they all start "did not find expected".
		if strings.HasPrefix(msg, "did not find expected") {
			pos.Line++
		}
	}
	hint := "check the indentation and quoting on this line and the one before it; values containing ': ' or starting with '*', '&' or '!' need quotes"
	if strings.Contains(msg, "tab") || strings.Contains(msg, "cannot start any token") {
		hint = "YAML indents with spaces only: replace tabs with spaces (or quote a value that starts with a special character)"
	}
	d.add(pos, "", "YAML syntax error: "+msg, hint)
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "empty"
		}
		return fmt.Sprintf("%q", n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "a document"
}

var (
	timeType     = reflect.TypeOf(time.Time{})
	durationType = reflect.TypeOf(Duration(0))
)

type scalarSetter interface{ FromScalar(string) }

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

// value decodes n into v, which is addressable.
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) {
	if d.aborted {
		return
	}
	d.nodes++
	if d.nodes > maxNodes {
		d.add(d.at(n), path, fmt.Sprintf("plan expands to more than %d YAML nodes", maxNodes), "remove deeply nested aliases (*name); a plan does not need them")
		d.aborted = true
		return
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			d.add(d.at(n), path, "alias refers to nothing", "define the anchor (&name) before using *name")
			return
		}
		d.pos[path] = d.at(n)
		d.value(n.Alias, v, path)
		return
	}
	if _, seen := d.pos[path]; !seen {
		d.pos[path] = d.at(n)
	}
	isNull := n.Kind == yaml.ScalarNode && n.Tag == "!!null"

	switch v.Kind() {
	case reflect.Pointer:
		if isNull {
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.value(n, v.Elem(), path)
		return
	case reflect.Struct:
		if v.Type() == timeType {
			d.timeValue(n, v, path)
			return
		}
		if n.Kind == yaml.ScalarNode && !isNull {
			if s, ok := v.Addr().Interface().(scalarSetter); ok {
				s.FromScalar(n.Value)
				return
			}
		}
		if isNull {
			var need []string
			for _, f := range structFields(v.Type()).list {
				if f.required {
					need = append(need, f.name)
				}
			}
			if len(need) > 0 {
				d.add(d.at(n), path, fmt.Sprintf("%s is empty", nameOf(path)), "it needs "+strings.Join(need, ", "))
			}
			return
		}
		if n.Kind != yaml.MappingNode {
			d.add(d.at(n), path, fmt.Sprintf("%s must be a mapping of fields, not %s", nameOf(path), describe(n)), "see `wavectl schema` for the fields it takes")
			return
		}
		d.structValue(n, v, path)
		return
	case reflect.Slice:
		if isNull {
			return
		}
		if n.Kind != yaml.SequenceNode {
			d.add(d.at(n), path, fmt.Sprintf("%s must be a list, not %s", nameOf(path), describe(n)), "write a list as [a, b] or one '- item' per line")
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			d.value(c, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
		return
	case reflect.Map:
		if isNull {
			return
		}
		if n.Kind != yaml.MappingNode {
			d.add(d.at(n), path, fmt.Sprintf("%s must be a mapping, not %s", nameOf(path), describe(n)), "write it as key: value pairs")
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				d.add(d.at(k), path, fmt.Sprintf("keys of %s must be plain names", nameOf(path)), "")
				continue
			}
			kp := fmt.Sprintf("%s[%s]", path, k.Value)
			if seen[k.Value] {
				d.add(d.at(k), kp, fmt.Sprintf("%q appears twice in %s", k.Value, nameOf(path)), "remove one of them")
				continue
			}
			seen[k.Value] = true
			d.pos[kp+"#key"] = d.at(k)
			ev := reflect.New(v.Type().Elem()).Elem()
			d.value(val, ev, kp)
			m.SetMapIndex(reflect.ValueOf(k.Value), ev)
		}
		v.Set(m)
		return
	}

	// Scalars from here on.
	if n.Kind != yaml.ScalarNode {
		d.add(d.at(n), path, fmt.Sprintf("%s must be a single value, not %s", nameOf(path), describe(n)), "")
		return
	}
	if isNull {
		return
	}
	switch {
	case v.Type() == durationType:
		dur, err := time.ParseDuration(n.Value)
		if err != nil || dur < 0 {
			d.add(d.at(n), path, fmt.Sprintf("%s: %q is not a duration", nameOf(path), n.Value), "write durations like 90s, 20m or 1h30m")
			return
		}
		if dur > MaxDuration {
			d.add(d.at(n), path, fmt.Sprintf("%s: %s is longer than the %s a plan's durations may be", nameOf(path), n.Value, Duration(MaxDuration)), "no step, hook or check takes a week; write it in hours, e.g. 36h")
			return
		}
		v.SetInt(int64(dur))
	case v.Kind() == reflect.String:
		v.SetString(n.Value)
	case v.Kind() == reflect.Int:
		i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
		if err != nil || n.Tag == "!!str" {
			d.add(d.at(n), path, fmt.Sprintf("%s must be a whole number, not %s", nameOf(path), describe(n)), "write it without quotes or units, e.g. 16")
			return
		}
		if i > 1<<31 || i < -(1<<31) {
			d.add(d.at(n), path, fmt.Sprintf("%s: %d is out of range", nameOf(path), i), "")
			return
		}
		v.SetInt(i)
	case v.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(n.Value)
		if err != nil || n.Tag != "!!bool" {
			d.add(d.at(n), path, fmt.Sprintf("%s must be true or false, not %s", nameOf(path), describe(n)), "")
			return
		}
		v.SetBool(b)
	default:
		d.add(d.at(n), path, fmt.Sprintf("%s: unsupported value", nameOf(path)), "")
	}
}

func (d *decoder) timeValue(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		d.add(d.at(n), path, fmt.Sprintf("%s must be a time, not %s", nameOf(path), describe(n)), "write times in RFC 3339, e.g. 2019-03-02T20:00:00Z")
		return
	}
	t, err := time.Parse(time.RFC3339, n.Value)
	if err != nil {
		d.add(d.at(n), path, fmt.Sprintf("%s: %q is not an RFC 3339 time", nameOf(path), n.Value), "write times with a date, a time and a zone, e.g. 2019-03-02T20:00:00Z or 2019-03-02T21:00:00+01:00")
		return
	}
	v.Set(reflect.ValueOf(t))
}

func (d *decoder) structValue(n *yaml.Node, v reflect.Value, path string) {
	t := v.Type()
	fields := structFields(t)
	seen := map[string]bool{}
	suggested := map[string]bool{} // required fields a misspelt key stands for
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.add(d.at(k), path, "field names must be plain words", "")
			continue
		}
		fp := join(path, k.Value)
		f, ok := fields.byName[k.Value]
		if !ok {
			hint := "remove it, or check its spelling and indentation; `wavectl schema` lists every field"
			if s := suggest(k.Value, fields.names); s != "" {
				suggested[s] = true
				hint = fmt.Sprintf("did you mean %q? Fields here: %s", s, strings.Join(fields.names, ", "))
			} else {
				hint = "fields here: " + strings.Join(fields.names, ", ")
			}
			d.add(d.at(k), fp, fmt.Sprintf("unknown field %q in %s", k.Value, nameOf(path)), hint)
			continue
		}
		if seen[k.Value] {
			d.add(d.at(k), fp, fmt.Sprintf("field %q appears twice in %s", k.Value, nameOf(path)), "remove one of them")
			continue
		}
		seen[k.Value] = true
		d.pos[fp+"#key"] = d.at(k)
		before := len(d.probs)
		fv := v.Field(f.index)
		d.value(val, fv, fp)
		if len(d.probs) == before {
			d.checkTags(val, fv, f, fp)
		}
	}
	for _, f := range fields.list {
		if f.required && !seen[f.name] && !suggested[f.name] {
			d.add(d.at(n), join(path, f.name), fmt.Sprintf("%s is missing required field %q", nameOf(path), f.name), fmt.Sprintf("add %s (%s)", f.name, strings.TrimSuffix(lowerFirst(f.doc), ".")))
		}
	}
}

// checkTags applies the enum, pattern, min and max constraints of a field.
func (d *decoder) checkTags(n *yaml.Node, v reflect.Value, f field, path string) {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.String:
		s := v.String()
		if s == "" && !f.required {
			return
		}
		if len(f.enum) > 0 && !contains(f.enum, s) {
			hint := "Use one of: " + strings.Join(f.enum, ", ")
			if sg := suggest(s, f.enum); sg != "" {
				hint = fmt.Sprintf("did you mean %q? Use one of: %s", sg, strings.Join(f.enum, ", "))
			}
			d.add(d.at(n), path, fmt.Sprintf("%s: %q is not one of %s", nameOf(path), s, strings.Join(f.enum, ", ")), hint)
		}
		if f.pattern != nil && !f.pattern.MatchString(s) {
			hint := f.patternHint
			if hint == "" {
				hint = "it must match " + f.pattern.String()
			}
			d.add(d.at(n), path, fmt.Sprintf("%s: %q is not a valid %s", nameOf(path), s, f.name), hint)
		}
	case reflect.Int:
		i := v.Int()
		if f.min != nil && i < *f.min {
			hint := ""
			if *f.min == 1 {
				hint = "leave it out to use the default"
			}
			d.add(d.at(n), path, fmt.Sprintf("%s must be at least %d, not %d", nameOf(path), *f.min, i), hint)
		}
		if f.max != nil && i > *f.max {
			d.add(d.at(n), path, fmt.Sprintf("%s must be at most %d, not %d", nameOf(path), *f.max, i), "")
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// nameOf turns a path into words for a message: the root is "the plan".
func nameOf(path string) string {
	if path == "" {
		return "the plan"
	}
	return path
}

type field struct {
	name        string
	index       int
	required    bool
	doc         string
	enum        []string
	pattern     *regexp.Regexp
	patternHint string
	min, max    *int64
}

type fieldSet struct {
	list   []field
	byName map[string]field
	names  []string
}

var fieldCache = map[reflect.Type]*fieldSet{}

// structFields reads a struct's yaml, req, doc, enum, pattern, min and max
// tags. The model is fixed, so the result is cached; callers are the
// decoder and the schema generator, which never run concurrently on a cold
// cache in practice, but initTypes warms it at start-up anyway.
func structFields(t reflect.Type) *fieldSet {
	if fs, ok := fieldCache[t]; ok {
		return fs
	}
	fs := &fieldSet{byName: map[string]field{}}
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		name := strings.Split(sf.Tag.Get("yaml"), ",")[0]
		if name == "" || name == "-" || !sf.IsExported() {
			continue
		}
		f := field{name: name, index: i, required: sf.Tag.Get("req") == "true", doc: sf.Tag.Get("doc")}
		if e := sf.Tag.Get("enum"); e != "" {
			f.enum = strings.Split(e, ",")
		}
		if p := sf.Tag.Get("pattern"); p != "" {
			f.pattern = regexp.MustCompile(p)
			f.patternHint = sf.Tag.Get("hint")
		}
		if m := sf.Tag.Get("min"); m != "" {
			x, _ := strconv.ParseInt(m, 10, 64)
			f.min = &x
		}
		if m := sf.Tag.Get("max"); m != "" {
			x, _ := strconv.ParseInt(m, 10, 64)
			f.max = &x
		}
		fs.list = append(fs.list, f)
		fs.byName[name] = f
		fs.names = append(fs.names, name)
	}
	fieldCache[t] = fs
	return fs
}

func init() { initTypes(reflect.TypeOf(Plan{})) }

// initTypes fills the field cache for every struct reachable from t, so
// that concurrent loads only ever read it.
func initTypes(t reflect.Type) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t == timeType {
		return
	}
	if _, ok := fieldCache[t]; ok {
		return
	}
	fs := structFields(t)
	for _, f := range fs.list {
		initTypes(t.Field(f.index).Type)
	}
}

func lowerFirst(s string) string {
	// Keep acronyms: "RFC 3339 time" stays as it is.
	if len(s) < 2 || strings.ToUpper(s[1:2]) == s[1:2] {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}
