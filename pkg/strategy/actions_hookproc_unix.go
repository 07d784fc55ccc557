//go:build unix

package strategy

import (
	"os/exec"
	"syscall"
)

// processGroup runs a hook in a process group of its own and makes a
// timeout kill the whole group: a shell's children (a script's sleep, a
// curl) die with it instead of running on unseen.
func processGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
