//go:build unix

package input

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestReadFileRefusesWhatCouldBlockOrNeverEnd(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "plan.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("no FIFO here: %v", err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, 1025), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		path, want string
	}{
		{fifo, "plan " + fifo + " is a named pipe (FIFO), not a regular file"},
		{"/dev/zero", "plan /dev/zero is a character device, not a regular file"},
		{dir, "is a folder, not a regular file"},
		{big, "plan " + big + " is larger than the 1 KiB a plan may have"},
	} {
		_, err := ReadFile(context.Background(), tt.path, "plan", 1024)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ReadFile(%s) = %v, want an error saying %q", tt.path, err, tt.want)
		}
	}
}

func TestReadFileReadsARegularFileWithinItsBound(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte("exactly 16 bytes"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(context.Background(), path, "file", 16)
	if err != nil || string(got) != "exactly 16 bytes" {
		t.Errorf("ReadFile = %q, %v", got, err)
	}
	if _, err := ReadFile(context.Background(), filepath.Join(t.TempDir(), "none"), "file", 16); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing file: %v, want fs.ErrNotExist", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ReadFile(ctx, path, "file", 16); !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled read: %v, want context.Canceled", err)
	}
}
