//go:build !unix

package state

// noFollow: no O_NOFOLLOW here; openPrivate checks with Lstat instead.
const noFollow = 0
