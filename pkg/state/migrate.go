package state

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// migrations[v-1] turns a decoded file of format version v into version
// v+1, on its generic JSON form, since the structs of old formats are not
// kept. A change to the format raises FormatVersion and appends one here (a
// test checks that they match).
var migrations = []func(doc map[string]json.RawMessage) error{
	// 1 to 2: version 2 seals the file with a checksum (filled in by the
	// next write) and keeps a backup and a journal beside it; the record
	// itself is unchanged.
	func(doc map[string]json.RawMessage) error {
		doc["checksum"] = json.RawMessage(`""`)
		return nil
	},
	// 2 to 3: a run's options, and the dependency a skipped application
	// waited for, become data; they are read here, once, from the command
	// line and the reason that format 2 recorded them in. The record is
	// bound to its vCenters from the next run on (format 2 knew none), and
	// a record whose every run was a --simulate one is a rehearsal's.
	func(doc map[string]json.RawMessage) error {
		var runs []*Run
		if raw, ok := doc["runs"]; ok {
			if err := json.Unmarshal(raw, &runs); err != nil {
				return fmt.Errorf("runs: %w", err)
			}
		}
		rehearsal := len(runs) > 0
		for _, r := range runs {
			if r == nil {
				continue
			}
			r.Options = legacyOptions(r.Command, r.Args)
			rehearsal = rehearsal && r.Options.Simulate
		}
		if runs != nil {
			raw, err := json.Marshal(runs)
			if err != nil {
				return err
			}
			doc["runs"] = raw
		}
		if rehearsal {
			doc["rehearsal"] = json.RawMessage("true")
		}
		if raw, ok := doc["applications"]; ok {
			var apps []map[string]json.RawMessage
			if err := json.Unmarshal(raw, &apps); err != nil {
				return fmt.Errorf("applications: %w", err)
			}
			for _, a := range apps {
				var reason string
				if a != nil && json.Unmarshal(a["reason"], &reason) == nil {
					if dep := legacySkippedFor(reason); dep != "" {
						a["skippedFor"], _ = json.Marshal(dep)
					}
				}
			}
			raw, err := json.Marshal(apps)
			if err != nil {
				return err
			}
			doc["applications"] = raw
		}
		return nil
	},
}

// legacyOptions reads a format-2 run's options from its recorded command
// line: the only place format 2 kept them. Nothing else reads argv.
func legacyOptions(command string, args []string) RunOptions {
	var o RunOptions
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		if !strings.HasPrefix(a, "-") {
			continue
		}
		name, value, inline := strings.Cut(a, "=")
		takes := name == "--wave" || name == "--app" || name == "--retry-base" || name == "--verify-timeout"
		if !inline && takes && i+1 < len(args) {
			value = args[i+1]
			i++
		}
		on := !inline || value == "true"
		switch name {
		case "--wave":
			o.Waves = append(o.Waves, value)
		case "--app":
			o.Apps = append(o.Apps, value)
		case "--conveyor":
			o.Conveyor = on
		case "--simulate":
			o.Simulate = on && command == "apply"
		case "--ignore-windows":
			o.IgnoreWindows = on
		case "--retry-base":
			o.RetryBase = value
		case "--verify-timeout":
			o.VerifyTimeout = value
		case "--retry-failed":
			o.NoRetryFailed = inline && value == "false"
		}
	}
	return o
}

// legacySkippedFor reads the dependency out of a format-2 skip reason,
// "skipped: it depends on X, which failed".
func legacySkippedFor(reason string) string {
	const marker = "skipped: it depends on "
	rest, ok := strings.CutPrefix(reason, marker)
	if !ok {
		return ""
	}
	dep, _, ok := strings.Cut(rest, ", which")
	if !ok || strings.ContainsAny(dep, " \t") {
		return ""
	}
	return dep
}

// legacyRunOptions gives the runs and applications of a format-2 journal
// line their format-3 data, as the migration does for a format-2 file.
func legacyRunOptions(e *Entry) {
	if e.Record != nil {
		for _, r := range e.Record.Runs {
			if r != nil && reflect.ValueOf(r.Options).IsZero() {
				r.Options = legacyOptions(r.Command, r.Args)
			}
		}
	}
	if a := e.Application; a != nil && a.SkippedFor == "" {
		a.SkippedFor = legacySkippedFor(a.Reason)
	}
}
