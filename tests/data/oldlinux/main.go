// Command oldlinux embeds CPython with raw cgo and runs oldlinux.report(),
// which imports numpy. gopack's tests bundle it against a Debian 11 root
// and run it in other Debian 11 roots.
package main

// #cgo pkg-config: python3-embed
// #include <Python.h>
// #include <stdlib.h>
// static PyObject *call0(PyObject *f) { return PyObject_CallObject(f, NULL); }
import "C"

import (
	"fmt"
	"os"
	"runtime"
	"unsafe"
)

func init() { runtime.LockOSThread() }

func check(o *C.PyObject, what string) *C.PyObject {
	if o == nil {
		fmt.Fprintf(os.Stderr, "oldlinux: %s failed\n", what)
		C.PyErr_Print()
		os.Exit(1)
	}
	return o
}

func main() {
	C.Py_InitializeEx(0)
	name := C.CString("oldlinux")
	defer C.free(unsafe.Pointer(name))
	mod := check(C.PyImport_ImportModule(name), "import oldlinux")
	attr := C.CString("report")
	defer C.free(unsafe.Pointer(attr))
	fn := check(C.PyObject_GetAttrString(mod, attr), "oldlinux.report")
	out := check(C.call0(fn), "oldlinux.report()")
	fmt.Println(C.GoString(C.PyUnicode_AsUTF8(out)))
	C.Py_DecRef(out)
	C.Py_DecRef(fn)
	C.Py_DecRef(mod)
	if C.Py_FinalizeEx() != 0 {
		os.Exit(1)
	}
}
