//go:build unix

package state

import "syscall"

// noFollow makes an open fail (ELOOP) when the path's last element is a
// symbolic link.
const noFollow = syscall.O_NOFOLLOW
