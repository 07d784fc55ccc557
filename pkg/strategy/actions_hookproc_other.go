//go:build !unix

package strategy

import "os/exec"

// processGroup: without Unix process groups, a timeout kills the shell
// only.
func processGroup(*exec.Cmd, string) {}

func waitHook(cmd *exec.Cmd, _ string) error { return cmd.Wait() }
