package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/wavectl/wavectl/pkg/cli"
)

var update = flag.Bool("update", false, "rewrite the files that cmp compares against in testdata/script")

// TestMain lets scripts run the real program: `exec wavectl ...` re-runs
// this test binary as wavectl, through cli.Main as main does.
func TestMain(m *testing.M) {
	testscript.Main(stopsPG{m}, map[string]func(){
		"wavectl": func() { os.Exit(cli.Main()) },
	})
}

// TestScripts runs testdata/script/*.txtar. Scripts see the repository's
// root as $REPO, so that they can use the examples as they are shipped.
func TestScripts(t *testing.T) {
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join(repo, "testdata", "script"),
		UpdateScripts:       *update,
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Condition: func(cond string) (bool, error) {
			if cond == "tmpfs" {
				return canMountTmpfs(), nil
			}
			if cond == "pg" {
				return scriptPGCondition()
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Setup: func(env *testscript.Env) error {
			env.Setenv("REPO", repo)
			// govc, installed by `make tools`, reads the simulator the
			// way engineers do.
			env.Setenv("PATH", filepath.Join(repo, "bin", "tools")+string(os.PathListSeparator)+env.Getenv("PATH"))
			return setupScriptPG(env)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"status":    cmdStatus,
			"json":      cmdJSON,
			"startsim":  cmdStartSim,
			"loadenv":   cmdLoadEnv,
			"waitfile":  cmdWaitFile,
			"inventory": cmdInventory,
			"sleep":     cmdSleep,
			"tmpfs":     cmdTmpfs,
			"readonly":  cmdReadOnly,
			"fill":      cmdFill,
		},
	})
}

// crash matches what the Go runtime prints when a program panics. No
// command may print it, whatever its input.
var crash = regexp.MustCompile(`panic:|goroutine \d+ \[`)

// cmdStatus runs a command and checks its exact exit code, which `! exec`
// cannot do: CI tells an invalid plan (3) from a usage mistake (2).
//
//	status CODE command [args...]
//
// stdout and stderr are kept for the commands that follow, as with exec,
// and neither may show a panic.
func cmdStatus(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("status takes no '!': its CODE says what is expected")
	}
	if len(args) < 2 {
		ts.Fatalf("usage: status CODE command [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("status: CODE %q is not a number", args[0])
	}
	got := 0
	var exit *exec.ExitError
	switch err := ts.Exec(args[1], args[2:]...); {
	case err == nil:
	case errors.As(err, &exit):
		got = exit.ExitCode()
	default:
		ts.Fatalf("%s: %v", args[1], err)
	}
	for _, stream := range []string{"stdout", "stderr"} {
		if crash.MatchString(ts.ReadFile(stream)) {
			ts.Fatalf("%s printed a panic on %s", args[1], stream)
		}
	}
	if got != want {
		ts.Fatalf("%s exited with %d, want %d", args[1], got, want)
	}
}

// cmdJSON parses a file (or stdout/stderr) as JSON and checks one value in
// it.
//
//	json FILE PATH [WANT]
//
// PATH is dot-separated keys and list indexes, e.g. files.0.problems.0.line;
// "." is the whole document. Without WANT the value must exist; with WANT
// it must print as WANT (strings bare, numbers in shortest form, anything
// else as compact JSON). With '!', the value must not exist.
func cmdJSON(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 || len(args) > 3 || (neg && len(args) == 3) {
		ts.Fatalf("usage: json FILE PATH [WANT], or ! json FILE PATH")
	}
	var doc any
	if err := json.Unmarshal([]byte(ts.ReadFile(args[0])), &doc); err != nil {
		ts.Fatalf("%s is not JSON: %v", args[0], err)
	}
	v, err := lookup(doc, args[1])
	if neg {
		if err == nil {
			ts.Fatalf("%s has %s = %s; want none", args[0], args[1], show(v))
		}
		return
	}
	if err != nil {
		ts.Fatalf("%s: %v", args[0], err)
	}
	if len(args) == 3 && show(v) != args[2] {
		ts.Fatalf("%s: %s = %s, want %s", args[0], args[1], show(v), args[2])
	}
}

func lookup(v any, path string) (any, error) {
	if path == "." {
		return v, nil
	}
	at := ""
	for _, k := range strings.Split(path, ".") {
		at = strings.TrimPrefix(at+"."+k, ".")
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[k]; !ok {
				return nil, errors.New("no " + at)
			}
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(x) {
				return nil, errors.New("no " + at + " (a list of " + strconv.Itoa(len(x)) + ")")
			}
			v = x[i]
		default:
			return nil, errors.New("no " + at + " (" + show(v) + " has no fields)")
		}
	}
	return v, nil
}

func show(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	b, _ := json.Marshal(v)
	return string(b)
}
