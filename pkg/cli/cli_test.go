package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/wavectl/wavectl/pkg/redact"
)

const demoPlan = "../../examples/demo.yaml"

const invalidPlan = `apiVersion: wavectl/v1
kind: MigrationPlan
metadata: {name: bad}
vcenters:
  lab: {url: https://vc.example/sdk}
source: {vcenter: lab, datacenter: DC-OLD}
target: {datacenter: DC1, cluster: C1, datastore: ds1, folder: f}
applications:
  - {name: app-a, strategy: virtualize, users: 10, vms: [a-01]}
waves:
  - {name: w1, applications: [app-a]}
`

// warningPlan is valid with one warning: an application that never moves.
const warningPlan = `apiVersion: wavectl/v1
kind: MigrationPlan
metadata: {name: warn}
vcenters:
  lab: {url: https://vc.example/sdk}
source: {vcenter: lab, datacenter: DC-OLD}
target: {datacenter: DC1, cluster: C1, datastore: ds1, folder: f}
applications:
  - {name: app-a, strategy: remediate, users: 10, vms: [a-01]}
  - {name: stray, strategy: remediate, users: 1, vms: [s-01]}
waves:
  - {name: w1, applications: [app-a]}
`

// isolate keeps the developer's own WAVECTL_* env and config file out of a
// test, and returns a folder for the test's files.
func isolate(t *testing.T) string {
	t.Helper()
	for _, k := range []string{"WAVECTL_CONFIG", "WAVECTL_OUTPUT", "WAVECTL_STRICT", "WAVECTL_OFFLINE",
		"WAVECTL_DETAIL", "WAVECTL_SIMULATE", "WAVECTL_LOG_LEVEL", "WAVECTL_LOG_FORMAT",
		"WAVECTL_URL", "WAVECTL_USERNAME", "WAVECTL_PASSWORD", "WAVECTL_INSECURE", "WAVECTL_THUMBPRINT", "WAVECTL_CA_FILE",
		"WAVECTL_VCENTER_LAB_URL", "GOVC_URL", "GOVC_USERNAME", "GOVC_PASSWORD", "GOVC_INSECURE",
		"GOVC_TLS_CA_CERTS", "GOVC_TLS_KNOWN_HOSTS"} {
		t.Setenv(k, "")
	}
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "xdg"))
	t.Setenv("HOME", filepath.Join(dir, "home"))
	return dir
}

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// crash matches what the Go runtime prints when a program panics.
var crash = regexp.MustCompile(`panic:|goroutine \d+ \[`)

func TestRunExitCodes(t *testing.T) {
	dir := isolate(t)
	invalid := write(t, dir, "invalid.yaml", invalidPlan)
	warning := write(t, dir, "warning.yaml", warningPlan)
	config := write(t, dir, "config.yaml", "output: json\n")
	broken := write(t, dir, "broken.yaml", "output: [json\n")

	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string // a regexp stdout must match
		stderr string // a regexp stderr must match; "^$" for nothing
	}{
		{"a valid plan validates with 0", []string{"validate", demoPlan}, ExitOK, `demo\.yaml: valid\n$`, `^$`},
		{"a plan with only warnings validates with 0", []string{"validate", warning}, ExitOK, `valid, 1 warning\n$`, `^$`},
		{"a plan with warnings fails under --strict with 3", []string{"validate", "--strict", warning}, ExitInvalid, `invalid under --strict, 1 warning\n$`, `^$`},
		{"an invalid plan fails validate with 3 and lists its problems on stdout", []string{"validate", invalid}, ExitInvalid, `invalid\.yaml:9:29: error: .*\n    hint: `, `^$`},
		{"one invalid plan among valid ones fails validate with 3", []string{"validate", demoPlan, invalid}, ExitInvalid, `(?s)demo\.yaml: valid\n.*invalid\.yaml: invalid, 1 error`, `^$`},
		{"validate without a plan file is a usage error", []string{"validate"}, ExitUsage, `^$`, `^Error: validate needs at least one plan file\n`},
		{"a plan file that does not exist is a usage error", []string{"validate", filepath.Join(dir, "nope.yaml")}, ExitUsage, `^$`, `nope\.yaml does not exist\n`},
		{"a folder given as a plan is a usage error", []string{"validate", dir}, ExitUsage, `^$`, `is a folder; name a plan file`},
		{"an unknown flag is a usage error", []string{"validate", "--nope", demoPlan}, ExitUsage, `^$`, `^Error: unknown flag: --nope\n`},
		{"an unknown command is a usage error", []string{"migrate"}, ExitUsage, `^$`, `^Error: unknown command "migrate"`},
		{"an output format other than text or json is a usage error", []string{"validate", "-o", "yaml", demoPlan}, ExitUsage, `^$`, `output format "yaml" \(from -o\): use text or json`},
		{"a bad log level is a usage error", []string{"--log-level", "loud", "validate", demoPlan}, ExitUsage, `^$`, `log level "loud" \(from --log-level`},
		{"a bad log format is a usage error", []string{"--log-format", "xml", "validate", demoPlan}, ExitUsage, `^$`, `log format "xml" \(from --log-format`},
		{"a config file that does not exist is a usage error", []string{"--config", filepath.Join(dir, "none.yaml"), "validate", demoPlan}, ExitUsage, `^$`, `config file .*none\.yaml`},
		{"a config file that is not YAML is a usage error", []string{"--config", broken, "validate", demoPlan}, ExitUsage, `^$`, `config file .*broken\.yaml`},
		{"a config file's output setting is used", []string{"--config", config, "validate", demoPlan}, ExitOK, `"valid": true`, `^$`},
		{"plan --offline on a valid plan exits 0", []string{"plan", "--offline", demoPlan}, ExitOK, `(?m)^Total: 6 applications`, `^$`},
		{"plan against vCenter without credentials is a usage error that says how to give them", []string{"plan", demoPlan}, ExitUsage, `^$`, "no username or password for vCenter lab: set WAVECTL_USERNAME and WAVECTL_PASSWORD"},
		{"plan against an unreachable vCenter exits 5", []string{"plan", "--url", "https://127.0.0.1:1/sdk", "--username", "u", "--password", "p", demoPlan}, ExitUnreachable, `^$`, `cannot reach vCenter lab`},
		{"plan --simulate checks against the embedded simulator", []string{"plan", "--simulate", demoPlan}, ExitOK, `(?m)^Ready: no problems found\.$`, `^$`},
		{"plan --simulate and --offline exclude each other", []string{"plan", "--simulate", "--offline", demoPlan}, ExitUsage, `^$`, `exclude each other`},
		{"plan --offline on an invalid plan fails with 3 and lists problems on stderr", []string{"plan", "--offline", invalid}, ExitInvalid, `^$`, `(?s)invalid\.yaml:9:29: error: .*Error: .*invalid\.yaml is invalid: 1 error, 0 warnings`},
		{"plan with two plan files is a usage error", []string{"plan", "--offline", demoPlan, demoPlan}, ExitUsage, `^$`, `got 2 arguments`},
		{"schema exits 0", []string{"schema"}, ExitOK, `"\$schema"`, `^$`},
		{"schema with an argument is a usage error", []string{"schema", "x"}, ExitUsage, `^$`, `schema takes no arguments`},
		{"help exits 0 and lists the exit codes", []string{"--help"}, ExitOK, `(?m)^Exit codes:\n  0 +success`, `^$`},
		{"--version exits 0", []string{"--version"}, ExitOK, `^wavectl version \S+\n$`, `^$`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ios, _, stdout, stderr := Test()
			code := Run(context.Background(), ios, tt.args)
			if code != tt.code {
				t.Errorf("wavectl %s exited with %d, want %d\nstdout:\n%s\nstderr:\n%s",
					strings.Join(tt.args, " "), code, tt.code, stdout, stderr)
			}
			if !regexp.MustCompile(tt.stdout).MatchString(stdout.String()) {
				t.Errorf("stdout does not match %q:\n%s", tt.stdout, stdout)
			}
			if !regexp.MustCompile(tt.stderr).MatchString(stderr.String()) {
				t.Errorf("stderr does not match %q:\n%s", tt.stderr, stderr)
			}
			for _, out := range []string{stdout.String(), stderr.String()} {
				if crash.MatchString(out) {
					t.Errorf("output shows a crash:\n%s", out)
				}
			}
		})
	}
}

func TestRunPointsAtHelpOnlyForUsageErrors(t *testing.T) {
	dir := isolate(t)
	invalid := write(t, dir, "invalid.yaml", invalidPlan)
	const hint = "Run 'wavectl --help' for usage."

	ios, _, _, stderr := Test()
	Run(context.Background(), ios, []string{"validate", "--nope"})
	if !strings.HasSuffix(stderr.String(), hint+"\n") {
		t.Errorf("a usage error should end with %q; stderr:\n%s", hint, stderr)
	}

	ios, _, _, stderr = Test()
	Run(context.Background(), ios, []string{"plan", "--offline", invalid})
	if strings.Contains(stderr.String(), hint) {
		t.Errorf("an invalid plan is not a usage mistake, yet stderr says %q:\n%s", hint, stderr)
	}
}

func TestRunValidateJSONReportsEveryField(t *testing.T) {
	dir := isolate(t)
	invalid := write(t, dir, "invalid.yaml", invalidPlan)
	ios, _, stdout, _ := Test()
	if code := Run(context.Background(), ios, []string{"validate", "-o", "json", invalid}); code != ExitInvalid {
		t.Fatalf("exit code %d, want %d", code, ExitInvalid)
	}
	var got struct {
		Valid bool
		Files []struct {
			File     string
			Valid    bool
			Errors   int
			Problems []map[string]any
		}
	}
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("validate -o json printed something that is not JSON: %v\n%s", err, stdout)
	}
	if got.Valid || len(got.Files) != 1 || got.Files[0].Valid || got.Files[0].Errors != 1 || len(got.Files[0].Problems) != 1 {
		t.Fatalf("want one invalid file with one error, got %+v", got)
	}
	p := got.Files[0].Problems[0]
	want := map[string]any{"file": invalid, "line": 9.0, "column": 29.0, "severity": "error"}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("problem %s = %v, want %v", k, p[k], v)
		}
	}
	for _, k := range []string{"message", "hint", "path"} {
		if s, _ := p[k].(string); s == "" {
			t.Errorf("problem has no %s: %v", k, p)
		}
	}
}

func TestCodeOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		code int
	}{
		{"no error is success", nil, ExitOK},
		{"an ExitError carries its own code", &ExitError{Code: ExitInvalid}, ExitInvalid},
		{"a wrapped ExitError keeps its code", fmt.Errorf("load: %w", exitf(ExitUsage, "x")), ExitUsage},
		{"a usage error is a usage mistake", usageError{errors.New("bad flag")}, ExitUsage},
		{"a wrapped usage error is still one", fmt.Errorf("setup: %w", usageError{errors.New("x")}), ExitUsage},
		{"cobra's unknown flag is a usage mistake", errors.New("unknown flag: --x"), ExitUsage},
		{"cobra's unknown command is a usage mistake", errors.New(`unknown command "x" for "wavectl"`), ExitUsage},
		{"a cancelled context is an interruption", context.Canceled, ExitInterrupted},
		{"a wrapped cancellation is an interruption", fmt.Errorf("clone vm-1: %w", context.Canceled), ExitInterrupted},
		{"any other error is an unexpected failure", errors.New("disk full"), ExitFailure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := codeOf(tt.err); got != tt.code {
				t.Errorf("codeOf(%v) = %d, want %d", tt.err, got, tt.code)
			}
		})
	}
}

// execSub runs args through the real root command (so flags, env and the
// config file are bound as in wavectl) with one subcommand replaced by sub,
// built on the same factory.
func execSub(t *testing.T, build func(f *Factory) *cobra.Command, args ...string) (*Factory, error) {
	t.Helper()
	ios, _, _, stderr := Test()
	f := &Factory{IO: ios, Config: viper.New(), Log: zerolog.Nop()}
	root := NewRootCmd(f)
	sub := build(f)
	for _, c := range root.Commands() {
		if c.Name() == sub.Name() {
			root.RemoveCommand(c)
		}
	}
	root.AddCommand(sub)
	root.SetArgs(args)
	root.SetOut(io.Discard)
	root.SetErr(stderr)
	return f, root.ExecuteContext(context.Background())
}

func TestNewCmdPlanParsesFlags(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		env    map[string]string
		config string
		want   *PlanOptions // nil: the run function must not be called
		code   int
	}{
		{
			name: "every flag fills its option",
			args: []string{"plan", "--offline", "--detail", "-o", "json", "x.yaml"},
			want: &PlanOptions{Plan: "x.yaml", Output: "json", Offline: true, Detail: true},
		},
		{
			name: "without flags the defaults are text, online and a summary",
			args: []string{"plan", "x.yaml"},
			want: &PlanOptions{Plan: "x.yaml", Output: "text"},
		},
		{
			name: "flags may follow the plan file and use their long form",
			args: []string{"plan", "x.yaml", "--output=json", "--offline"},
			want: &PlanOptions{Plan: "x.yaml", Output: "json", Offline: true},
		},
		{
			name: "WAVECTL_* env sets the defaults",
			args: []string{"plan", "x.yaml"},
			env:  map[string]string{"WAVECTL_OUTPUT": "json", "WAVECTL_OFFLINE": "true", "WAVECTL_DETAIL": "1"},
			want: &PlanOptions{Plan: "x.yaml", Output: "json", Offline: true, Detail: true},
		},
		{
			name:   "the config file sets the defaults",
			args:   []string{"plan", "x.yaml"},
			config: "output: json\noffline: true\ndetail: true\n",
			want:   &PlanOptions{Plan: "x.yaml", Output: "json", Offline: true, Detail: true},
		},
		{
			name: "a flag beats the env",
			args: []string{"plan", "-o", "text", "--offline=false", "x.yaml"},
			env:  map[string]string{"WAVECTL_OUTPUT": "json", "WAVECTL_OFFLINE": "true"},
			want: &PlanOptions{Plan: "x.yaml", Output: "text"},
		},
		{
			name:   "the env beats the config file",
			args:   []string{"plan", "x.yaml"},
			env:    map[string]string{"WAVECTL_OUTPUT": "text"},
			config: "output: json\noffline: true\n",
			want:   &PlanOptions{Plan: "x.yaml", Output: "text", Offline: true},
		},
		{
			name: "an unknown output format stops before the run",
			args: []string{"plan", "-o", "yaml", "x.yaml"},
			code: ExitUsage,
		},
		{
			name: "two plan files stop before the run",
			args: []string{"plan", "a.yaml", "b.yaml"},
			code: ExitUsage,
		},
		{
			name: "a non-boolean --offline stops before the run",
			args: []string{"plan", "--offline=perhaps", "x.yaml"},
			code: ExitUsage,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := isolate(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			args := tt.args
			if tt.config != "" {
				args = append([]string{"--config", write(t, dir, "config.yaml", tt.config)}, args...)
			}
			var got *PlanOptions
			f, err := execSub(t, func(f *Factory) *cobra.Command {
				return NewCmdPlan(f, func(o *PlanOptions) error { got = o; return nil })
			}, args...)
			if code := codeOf(err); code != tt.code {
				t.Fatalf("exit code %d (%v), want %d", code, err, tt.code)
			}
			if tt.want == nil {
				if got != nil {
					t.Fatalf("the run function was called with %+v", *got)
				}
				return
			}
			if got == nil {
				t.Fatal("the run function was not called")
			}
			if got.IO != f.IO {
				t.Error("options do not carry the factory's streams")
			}
			tt.want.IO = f.IO
			tt.want.Log = f.Log // the factory's logger, set up from the flags
			if got.Connect == nil {
				t.Error("options have no way to connect to vCenter")
			}
			got.Connect = nil // a function: compared by being set, above
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("options = %+v, want %+v", *got, *tt.want)
			}
		})
	}
}

func TestNewCmdValidateParsesFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want *ValidateOptions // nil: the run function must not be called
		code int
	}{
		{
			name: "every flag fills its option and every file is kept in order",
			args: []string{"validate", "--strict", "-o", "json", "b.yaml", "a.yaml"},
			want: &ValidateOptions{Plans: []string{"b.yaml", "a.yaml"}, Output: "json", Strict: true},
		},
		{
			name: "without flags the output is text and warnings pass",
			args: []string{"validate", "a.yaml"},
			want: &ValidateOptions{Plans: []string{"a.yaml"}, Output: "text"},
		},
		{
			name: "files that do not exist still reach the run, which reports them",
			args: []string{"validate", "/nowhere/a.yaml"},
			want: &ValidateOptions{Plans: []string{"/nowhere/a.yaml"}, Output: "text"},
		},
		{
			name: "WAVECTL_STRICT turns strict on",
			args: []string{"validate", "a.yaml"},
			env:  map[string]string{"WAVECTL_STRICT": "true"},
			want: &ValidateOptions{Plans: []string{"a.yaml"}, Output: "text", Strict: true},
		},
		{
			name: "no file stops before the run",
			args: []string{"validate", "--strict"},
			code: ExitUsage,
		},
		{
			name: "an unknown flag stops before the run",
			args: []string{"validate", "--detail", "a.yaml"},
			code: ExitUsage,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolate(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var got *ValidateOptions
			f, err := execSub(t, func(f *Factory) *cobra.Command {
				return NewCmdValidate(f, func(o *ValidateOptions) error { got = o; return nil })
			}, tt.args...)
			if code := codeOf(err); code != tt.code {
				t.Fatalf("exit code %d (%v), want %d", code, err, tt.code)
			}
			if tt.want == nil {
				if got != nil {
					t.Fatalf("the run function was called with %+v", *got)
				}
				return
			}
			if got == nil {
				t.Fatal("the run function was not called")
			}
			tt.want.IO = f.IO
			tt.want.Log = f.Log // the factory's logger, set up from the flags
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("options = %+v, want %+v", *got, *tt.want)
			}
		})
	}
}

func TestNewCmdSchemaWritesToTheFactorysStreams(t *testing.T) {
	isolate(t)
	var got *IOStreams
	f, err := execSub(t, func(f *Factory) *cobra.Command {
		return NewCmdSchema(f, func(io *IOStreams) error { got = io; return nil })
	}, "schema")
	if err != nil {
		t.Fatal(err)
	}
	if got != f.IO {
		t.Errorf("schema ran with streams %p, want the factory's %p", got, f.IO)
	}
}

func TestARunFunctionsPlainErrorIsAnUnexpectedFailure(t *testing.T) {
	isolate(t)
	_, err := execSub(t, func(f *Factory) *cobra.Command {
		return NewCmdSchema(f, func(*IOStreams) error { return errors.New("disk full") })
	}, "schema")
	if code := codeOf(err); code != ExitFailure {
		t.Errorf("exit code %d (%v), want %d", code, err, ExitFailure)
	}
}

func TestRecordedCommandLinesCarryNoCredentials(t *testing.T) {
	got := strings.Join(redact.Args([]string{"apply", "--password", "s3cret", "--password=s3cret", "--url", "https://admin:s3cret@vc/sdk", "--url", "admin:s3cret@vc", "plan.yaml"}), " ")
	if strings.Contains(got, "s3cret") {
		t.Errorf("recorded args %q hold the password", got)
	}
	if !strings.Contains(got, "plan.yaml") || !strings.Contains(got, "vc/sdk") {
		t.Errorf("recorded args %q lost what is not a credential", got)
	}
}
