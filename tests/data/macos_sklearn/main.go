// Command macos-sklearn embeds CPython 3.13 through raw cgo and runs the module
// fit.py, which trains a scikit-learn model on numpy arrays: the macOS arm64
// bundle's program (tests/test_integration_macos.py).
package main

/*
#cgo pkg-config: python3-embed
#define PY_SSIZE_T_CLEAN
#include <Python.h>
*/
import "C"

import (
	"fmt"
	"os"
	"runtime"
	"unsafe"
)

func init() { runtime.LockOSThread() }

func main() {
	C.Py_Initialize()
	name := C.CString("fit")
	defer C.free(unsafe.Pointer(name))
	module := C.PyImport_ImportModule(name)
	if module == nil {
		C.PyErr_Print()
		fmt.Fprintln(os.Stderr, "macos-sklearn: import fit failed")
		os.Exit(1)
	}
	C.Py_DecRef(module)
	if C.Py_FinalizeEx() != 0 {
		os.Exit(1)
	}
}
