package main

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/rogpeppe/go-internal/testscript"
)

// canMountTmpfs is the scripts' [tmpfs] condition: a tmpfs can be mounted
// here (root, as in CI).
func canMountTmpfs() bool {
	dir, err := os.MkdirTemp("", "wavectl-tmpfs-")
	if err != nil {
		return false
	}
	defer os.Remove(dir)
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=64k"); err != nil {
		return false
	}
	return syscall.Unmount(dir, 0) == nil
}

// cmdTmpfs mounts a tmpfs of SIZE bytes (k and m suffixes) on DIR under
// the script's work folder, unmounted when the script ends: a small disk
// that fills, or turns read-only, under a run. Scripts guard it with
// [!tmpfs] skip.
//
//	tmpfs DIR SIZE
func cmdTmpfs(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: tmpfs DIR SIZE")
	}
	dir := ts.MkAbs(args[0])
	if err := os.MkdirAll(dir, 0o755); err != nil {
		ts.Fatalf("%v", err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+args[1]); err != nil {
		ts.Fatalf("mount a tmpfs on %s: %v", dir, err)
	}
	ts.Defer(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
}

// cmdReadOnly remounts a tmpfs that tmpfs mounted read-only.
//
//	readonly DIR
func cmdReadOnly(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: readonly DIR")
	}
	if err := syscall.Mount("tmpfs", ts.MkAbs(args[0]), "tmpfs", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		ts.Fatalf("remount read-only: %v", err)
	}
}

// cmdFill fills the filesystem of DIR with a file until at most FREE
// bytes are left.
//
//	fill DIR FREE
func cmdFill(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: fill DIR FREE")
	}
	free, err := strconv.ParseInt(args[1], 10, 64)
	if err != nil {
		ts.Fatalf("%v", err)
	}
	f, err := os.Create(filepath.Join(ts.MkAbs(args[0]), "filler"))
	if err != nil {
		ts.Fatalf("%v", err)
	}
	defer f.Close()
	block := make([]byte, 4096)
	for {
		var st syscall.Statfs_t
		if err := syscall.Fstatfs(int(f.Fd()), &st); err != nil {
			ts.Fatalf("%v", err)
		}
		if int64(st.Bavail)*st.Bsize <= free {
			return
		}
		if _, err := f.Write(block); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return
			}
			ts.Fatalf("%v", err)
		}
	}
}
