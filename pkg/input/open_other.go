//go:build !unix

package input

import "os"

func openNoBlock(path string) (*os.File, error) { return os.Open(path) }
