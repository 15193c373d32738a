// Command hello embeds CPython through raw cgo, imports the Python module
// hello (hello.py) and prints its repr, a variable and a function result.
//
// The program never touches sys.path: the bundler makes hello importable.
package main

/*
#cgo pkg-config: python3-embed
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>

// call1 returns f(arg); cgo cannot call variadic C functions directly.
static PyObject *call1(PyObject *f, PyObject *arg) {
	return PyObject_CallFunctionObjArgs(f, arg, NULL);
}
*/
import "C"

import (
	"fmt"
	"os"
	"runtime"
	"unsafe"
)

// The interpreter's thread state belongs to the OS thread that initialised
// it, so keep the main goroutine on that thread.
func init() { runtime.LockOSThread() }

// fail prints the pending Python exception and exits non-zero.
func fail(what string) {
	fmt.Fprintf(os.Stderr, "hello: %s failed\n", what)
	if C.PyErr_Occurred() != nil {
		C.PyErr_Print()
	}
	os.Exit(1)
}

// check returns o, or fails if it is NULL.
func check(o *C.PyObject, what string) *C.PyObject {
	if o == nil {
		fail(what)
	}
	return o
}

// goString converts a Python str to a Go string.
func goString(o *C.PyObject) string {
	s := C.PyUnicode_AsUTF8(o)
	if s == nil {
		fail("PyUnicode_AsUTF8")
	}
	return C.GoString(s)
}

// getAttr returns a new reference to o.name.
func getAttr(o *C.PyObject, name string) *C.PyObject {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	return check(C.PyObject_GetAttrString(o, cname), "getattr "+name)
}

func main() {
	C.Py_InitializeEx(0)

	cname := C.CString("hello")
	mod := check(C.PyImport_ImportModule(cname), "import hello")
	C.free(unsafe.Pointer(cname))

	repr := check(C.PyObject_Repr(mod), "repr(hello)")
	fmt.Printf("[MODULE] repr(hello) = %s\n", goString(repr))
	C.Py_DecRef(repr)

	a := getAttr(mod, "a")
	n := C.PyLong_AsLong(a)
	if n == -1 && C.PyErr_Occurred() != nil {
		fail("hello.a as int")
	}
	fmt.Printf("[VARS] a = %d\n", int(n))
	C.Py_DecRef(a)

	sayHello := getAttr(mod, "SayHello")
	carg := C.CString("xwj")
	arg := check(C.PyUnicode_FromString(carg), "str")
	C.free(unsafe.Pointer(carg))
	res := check(C.call1(sayHello, arg), `SayHello("xwj")`)
	fmt.Printf("[FUNC] res = %s\n", goString(res))
	C.Py_DecRef(res)
	C.Py_DecRef(arg)
	C.Py_DecRef(sayHello)
	C.Py_DecRef(mod)

	if C.Py_FinalizeEx() < 0 {
		os.Exit(120)
	}
}
