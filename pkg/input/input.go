// Package input reads the files a user names (plans, config files,
// password files) with a size bound, refusing what could block or never
// end: FIFOs, devices, sockets, folders.
package input

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// TooLargeError is a file over the bound its kind may have.
type TooLargeError struct {
	Path, What string
	Limit      int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s %s is larger than the %s a %s may have", e.What, e.Path, size(e.Limit), e.What)
}

// NotRegularError is a path that names something other than a regular
// file: reading a FIFO blocks until a writer comes, reading /dev/zero never
// ends.
type NotRegularError struct {
	Path, What string
	Mode       fs.FileMode
}

func (e *NotRegularError) Error() string {
	return fmt.Sprintf("%s %s is %s, not a regular file; wavectl reads only regular files (copy the content into one)", e.What, e.Path, kind(e.Mode))
}

// ReadFile reads the regular file at path, refusing it when it is larger
// than limit bytes or is not a regular file. what names the file in
// errors ("plan", "config file", "password file"). A cancelled ctx stops
// the read between chunks. Errors from the file system keep their type
// (errors.Is(err, fs.ErrNotExist) works).
func ReadFile(ctx context.Context, path, what string, limit int64) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, &NotRegularError{Path: path, What: what, Mode: st.Mode()}
	}
	f, err := openNoBlock(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// What was opened may not be what was looked at (a rename between).
	if st, err = f.Stat(); err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, &NotRegularError{Path: path, What: what, Mode: st.Mode()}
	}
	if st.Size() > limit {
		return nil, &TooLargeError{Path: path, What: what, Limit: limit}
	}
	buf := make([]byte, 0, min(st.Size()+1, limit+1))
	chunk := make([]byte, 64<<10)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n, err := f.Read(chunk)
		buf = append(buf, chunk[:n]...)
		if int64(len(buf)) > limit {
			return nil, &TooLargeError{Path: path, What: what, Limit: limit}
		}
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a folder"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return "not a regular file (" + m.Type().String() + ")"
}

func size(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
