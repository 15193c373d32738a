//go:build !linux

package main

import (
	"os"
	"syscall"
)

// macOS and the other Unix systems: no /proc; statfs's MNT_NOEXEC flag.

const (
	noFollow  = syscall.O_NOFOLLOW
	userCache = "Library/Caches" // macOS's per-user cache folder, under $HOME
)

func openSelf() (*os.File, error) {
	path, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return os.Open(path)
}

func noExec(dir string) bool {
	var st syscall.Statfs_t
	return syscall.Statfs(dir, &st) == nil && st.Flags&0x4 != 0 // MNT_NOEXEC
}
