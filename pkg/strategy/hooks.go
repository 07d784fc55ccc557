package strategy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/redact"
)

// HookOutputLimit bounds the output kept of one hook command: the last
// 16 KiB (the end of a failing script says why).
const HookOutputLimit = 16 << 10

// HookRecorder receives each hook command's run, for the run's record.
// err is nil when the command exited 0.
type HookRecorder func(kind, unit, command string, exitCode int, output string, err error, started, ended time.Time)

// ShellHooks runs hook commands with /bin/sh -c, one after another, each
// within the hooks' timeout. When a command ends (or runs over), whatever
// it started is killed: its process group, and on Linux every process
// carrying its WAVECTL_HOOK_RUN marker, setsid children included (see
// endHook). Commands run in Dir (the plan file's folder) with the
// process's environment plus:
//
//	WAVECTL_PLAN, WAVECTL_APP, WAVECTL_STRATEGY, WAVECTL_WAVE (empty on
//	the conveyor), WAVECTL_HOOK (pre, post, verify), WAVECTL_UNIT and
//	WAVECTL_VM (the VM or server; empty for pre and post), WAVECTL_VM_REF
//	(its managed object id, once known) and WAVECTL_IP (verify: the IP the
//	VM reported).
//
// The first command that fails (non-zero exit, timeout, cannot start)
// stops the rest and is returned as a *HookError.
type ShellHooks struct {
	// Dir is where commands run; "" is the working directory.
	Dir string
	// Timeout applies when the plan's hooks set none (default
	// plan.DefaultHookTimeout).
	Timeout time.Duration
	// Record, when set, receives every command's run.
	Record HookRecorder
	// Env adds KEY=VALUE pairs to every command's environment.
	Env []string
}

var _ HookRunner = (*ShellHooks)(nil)

// HookError is a failed hook command.
type HookError struct {
	Kind     string
	Command  string
	ExitCode int // -1 when it did not exit by itself
	TimedOut bool
	Timeout  time.Duration
	// Output is the end of its combined output.
	Output string
	Err    error
}

func (e *HookError) Error() string {
	var what string
	switch {
	case e.TimedOut:
		what = fmt.Sprintf("did not finish within %s and was killed", e.Timeout)
	case e.ExitCode > 0:
		what = fmt.Sprintf("exited %d", e.ExitCode)
	default:
		what = fmt.Sprintf("failed: %v", e.Err)
	}
	msg := fmt.Sprintf("%s hook %q %s", e.Kind, e.Command, what)
	if out := strings.TrimSpace(e.Output); out != "" {
		const max = 1024
		if len(out) > max {
			out = "..." + out[len(out)-max:]
		}
		msg += ": " + out
	}
	return msg
}

func (e *HookError) Unwrap() error { return e.Err }

// hookCommands are the application's hooks of a kind: the plan's, then
// its own.
func hookCommands(a *plan.Application, kind string) []string {
	h := a.AllHooks
	if h == nil {
		return nil
	}
	switch kind {
	case "pre":
		return h.Pre
	case "post":
		return h.Post
	case "verify":
		return h.Verify
	}
	return nil
}

// Run runs the application's hooks of kind (pre, post, verify) for rt's
// unit.
func (h *ShellHooks) Run(ctx context.Context, kind string, rt *Runtime) error {
	if rt == nil || rt.App == nil || rt.Plan == nil {
		return errors.New("hooks run without their plan and application")
	}
	a := rt.App
	timeout := h.timeout(a.AllHooks)
	ref := ""
	if rt.Outputs != nil {
		ref = rt.Outputs[OutVM]
		if ref == "" {
			ref = rt.Outputs[OutSource]
		}
	}
	env := []string{
		"WAVECTL_PLAN=" + rt.Plan.Metadata.Name,
		"WAVECTL_APP=" + a.Name,
		"WAVECTL_STRATEGY=" + a.Strategy,
		"WAVECTL_WAVE=" + a.Wave,
		"WAVECTL_HOOK=" + kind,
		"WAVECTL_UNIT=" + rt.Unit,
		"WAVECTL_VM=" + rt.Unit,
		"WAVECTL_VM_REF=" + ref,
		"WAVECTL_IP=" + rt.Outputs[OutIP],
	}
	for _, c := range hookCommands(a, kind) {
		if err := h.run(ctx, kind, rt.Unit, c, timeout, env); err != nil {
			return err
		}
	}
	return nil
}

// RunWave runs a wave's own pre or post hooks (those in the wave's
// hooks, which belong to no application).
func (h *ShellHooks) RunWave(ctx context.Context, kind string, p *plan.Plan, w *plan.Wave) error {
	if w == nil || w.Hooks == nil {
		return nil
	}
	var cmds []string
	switch kind {
	case "pre":
		cmds = w.Hooks.Pre
	case "post":
		cmds = w.Hooks.Post
	case "verify":
		cmds = w.Hooks.Verify
	}
	env := []string{"WAVECTL_PLAN=" + p.Metadata.Name, "WAVECTL_WAVE=" + w.Name, "WAVECTL_HOOK=" + kind}
	for _, c := range cmds {
		if err := h.run(ctx, kind, "", c, h.timeout(w.Hooks), env); err != nil {
			return err
		}
	}
	return nil
}

func (h *ShellHooks) timeout(hooks *plan.Hooks) time.Duration {
	if hooks != nil && hooks.Timeout > 0 {
		return time.Duration(hooks.Timeout)
	}
	if h.Timeout > 0 {
		return h.Timeout
	}
	return time.Duration(plan.DefaultHookTimeout)
}

// run runs one command and records it. The command runs in a process
// group of its own, with a marker in its environment
// (WAVECTL_HOOK_RUN); when it ends, by itself or at its timeout, whatever
// it started is killed (see endHook), so that no background child outlives
// the hook.
func (h *ShellHooks) run(ctx context.Context, kind, unit, command string, timeout time.Duration, env []string) error {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	marker := hookMarker()
	cmd := exec.CommandContext(cctx, "/bin/sh", "-c", command)
	cmd.Dir = h.Dir
	cmd.Env = append(append(append(hookEnviron(), h.Env...), env...), marker)
	out := &tailBuffer{limit: HookOutputLimit}
	processGroup(cmd, marker)

	started := time.Now()
	err := runHook(cmd, marker, out)
	ended := time.Now()
	code := -1
	if cmd.ProcessState != nil {
		code = cmd.ProcessState.ExitCode()
	}
	// What a hook prints is recorded in the state: a password it echoes
	// (from a file of its own) is hidden there too.
	output := redact.String(out.String())
	var herr *HookError
	if err != nil {
		herr = &HookError{Kind: kind, Command: command, ExitCode: code, Output: output, Err: err, Timeout: timeout}
		if errors.Is(cctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			herr.TimedOut = true
		}
	}
	if h.Record != nil {
		var rerr error
		if herr != nil {
			rerr = herr
		}
		h.Record(kind, unit, command, code, output, rerr, started, ended)
	}
	if herr != nil {
		return herr
	}
	return nil
}

// hookOutputGrace is how long, once a hook and what it started are gone,
// its output is still read: only a process that escaped endHook can hold
// the pipe open longer.
const hookOutputGrace = 2 * time.Second

// runHook starts cmd with its stdout and stderr on one pipe read into out,
// and waits for it (waitHook). The pipe is an *os.File, so the command
// owns no copying goroutine that a background child could keep waiting.
func runHook(cmd *exec.Cmd, marker string, out io.Writer) error {
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(out, pr)
	}()
	err = cmd.Start()
	pw.Close()
	if err == nil {
		err = waitHook(cmd, marker)
	}
	select {
	case <-copied:
	case <-time.After(hookOutputGrace):
	}
	pr.Close()
	<-copied
	return err
}

// hookMarker is a KEY=VALUE unique to one hook run, inherited by all it
// starts.
func hookMarker() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "WAVECTL_HOOK_RUN=" + hex.EncodeToString(b[:])
}

// tailBuffer keeps the last limit bytes written to it.
type tailBuffer struct {
	mu    sync.Mutex
	limit int
	buf   []byte
	cut   int
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.limit; over > 0 {
		b.cut += over
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cut > 0 {
		return fmt.Sprintf("[%d bytes cut]\n", b.cut) + string(b.buf)
	}
	return string(b.buf)
}

// hookEnviron is the process's environment without vCenter credentials:
// hooks get the migration's context, not its secrets, so that a hook
// that prints its environment cannot put a password in the state file
// (see redact.Env: WAVECTL_*/GOVC_* passwords, secrets and tokens are
// dropped, a user:password@ in GOVC_URL and the like is masked).
func hookEnviron() []string {
	return redact.Env(os.Environ())
}
