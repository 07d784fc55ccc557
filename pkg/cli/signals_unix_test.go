//go:build unix

package cli

import (
	"context"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestSpecialFilesAreRefusedAsPlansConfigsAndPasswordFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "plan.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("no FIFO here: %v", err)
	}
	for _, tt := range []struct {
		name string
		args []string
		env  map[string]string
		code int
		want string
	}{
		{"a FIFO as the plan", []string{"validate", fifo}, nil, ExitUsage, "is a named pipe (FIFO), not a regular file"},
		{"a FIFO as the config file", []string{"validate", "--config", fifo, demoPlan}, nil, ExitUsage, "config file " + fifo + " is a named pipe"},
		{"/dev/zero as the config file", []string{"validate", "--config", "/dev/zero", demoPlan}, nil, ExitUsage, "config file /dev/zero is a character device"},
		{"/dev/zero as the plan", []string{"plan", "--offline", "/dev/zero"}, nil, ExitUsage, "plan /dev/zero is a character device"},
		{"/dev/zero as the password file", []string{"plan", demoPlan}, map[string]string{"GOVC_URL": "https://vc.invalid/sdk", "GOVC_USERNAME": "u", "GOVC_PASSWORD": "/dev/zero"},
			ExitUsage, "GOVC_PASSWORD names a file that cannot be read: password file /dev/zero is a character device"},
		{"a FIFO as the password file", []string{"plan", demoPlan}, map[string]string{"GOVC_URL": "https://vc.invalid/sdk", "GOVC_USERNAME": "u", "GOVC_PASSWORD": fifo},
			ExitUsage, "password file " + fifo + " is a named pipe"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			ios, _, _, stderr := Test()
			if got := Run(context.Background(), ios, tt.args); got != tt.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", got, tt.code, stderr)
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr does not say %q:\n%s", tt.want, stderr)
			}
		})
	}
}
