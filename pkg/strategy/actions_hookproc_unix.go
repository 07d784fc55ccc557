//go:build unix

package strategy

import (
	"os/exec"
	"syscall"
)

// processGroup runs a hook in a process group of its own; a timeout or an
// interrupt kills everything the hook started (see endHook), not just the
// shell.
func processGroup(cmd *exec.Cmd, marker string) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		endHook(cmd.Process.Pid, marker)
		return nil
	}
}

// endHook kills what a hook left behind: its process group (a script's
// background jobs, a pipeline) and, where the system shows processes'
// environments (Linux's /proc), every process that carries the hook's
// marker, whatever group or session it moved to (a setsid or double-forked
// daemon). Killed processes may fork as they die, so the search repeats
// until it finds none.
//
// What escapes: a process that drops the marker from its environment
// (env -i, a program that clears it) and leaves the group, and, off Linux,
// any process that leaves the group.
func endHook(pgid int, marker string) {
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	for range 20 {
		pids := marked(marker)
		if len(pids) == 0 {
			return
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
}
