//go:build linux

package strategy

import (
	"bytes"
	"os"
	"os/exec"
	"strconv"

	"golang.org/x/sys/unix"
)

// waitHook waits for the hook's shell to exit, kills what it left behind,
// then reaps it.
func waitHook(cmd *exec.Cmd, marker string) error {
	waitExited(cmd.Process.Pid)
	endHook(cmd.Process.Pid, marker)
	return cmd.Wait()
}

// waitExited waits until the hook's shell has exited without reaping it:
// while it is a zombie its PID, and so its process group's ID, cannot be
// given to another process, so killing the group afterwards cannot hit a
// stranger.
func waitExited(pid int) {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != unix.EINTR {
			return
		}
	}
}

// marked lists the processes whose environment holds marker (a
// KEY=VALUE): a hook's descendants, wherever they moved. Processes of
// other users, and zombies, show no environment and are not listed.
func marked(marker string) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	want := append([]byte(marker), 0)
	self := os.Getpid()
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil {
			continue
		}
		if bytes.HasPrefix(env, want) || bytes.Contains(env, append([]byte{0}, want...)) {
			out = append(out, pid)
		}
	}
	return out
}
