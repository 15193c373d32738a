// Command linkflag links libpython with a hard-coded -lpython3.7 and no
// pkg-config line; the recipe gives the headers with {python.include}.
package main

/*
#cgo LDFLAGS: -lpython3.7
#include <Python.h>
*/
import "C"

import (
	"fmt"
	"os"
	"runtime"
)

// CPython's calls must come from the OS thread that initialised it.
func init() { runtime.LockOSThread() }

func main() {
	C.Py_InitializeEx(0)
	if C.PyRun_SimpleStringFlags(C.CString("import sys; print('[LINKED] %d.%d' % sys.version_info[:2])"), nil) != 0 {
		os.Exit(1)
	}
	fmt.Println("[DONE]")
	C.Py_FinalizeEx()
}
