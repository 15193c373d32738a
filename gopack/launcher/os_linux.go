//go:build linux

package main

import (
	"os"
	"syscall"
)

// What differs on Linux: where a program finds its own file, noexec mounts.
// A macOS build takes os_other.go instead.

const (
	noFollow  = syscall.O_NOFOLLOW
	userCache = ".cache" // $XDG_CACHE_HOME's default
)

// openSelf opens the running executable: /proc/self/exe is the file the kernel ran, even if
// it has been renamed or moved since; without /proc, the path os.Executable finds.
func openSelf() (*os.File, error) {
	if f, err := os.Open("/proc/self/exe"); err == nil {
		return f, nil
	}
	path, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return os.Open(path)
}

// noExec: files on the file system holding dir cannot be run (mount -o noexec).
func noExec(dir string) bool {
	var st syscall.Statfs_t
	return syscall.Statfs(dir, &st) == nil && st.Flags&0x8 != 0 // ST_NOEXEC
}
