//go:build unix

package input

import (
	"os"
	"syscall"
)

// openNoBlock opens path without waiting for a FIFO's writer, should the
// path have become one since it was looked at.
func openNoBlock(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}
