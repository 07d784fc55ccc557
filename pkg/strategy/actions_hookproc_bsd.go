//go:build unix && !linux

package strategy

import "os/exec"

// waitHook waits for the hook's shell, then kills what it left behind in
// its process group. (Without waitid's WNOWAIT the shell is reaped first:
// its group's ID could in principle be reused in between.)
func waitHook(cmd *exec.Cmd, marker string) error {
	err := cmd.Wait()
	endHook(cmd.Process.Pid, marker)
	return err
}

// marked: there is no portable way to read other processes' environments
// here; only the process group is killed.
func marked(string) []int { return nil }
