// Command nhatcpy embeds CPython 3.12 through go.nhat.io/cpy/v3:
// it imports the Python module hello (hello.py), calls hello.SayHello("xwj")
// and prints the result and the interpreter's major.minor version.
//
// The program never touches sys.path: the bundler makes hello importable.
package main

import (
	"fmt"
	"os"
	"runtime"

	cpy "go.nhat.io/cpy/v3"
)

// The interpreter's thread state belongs to the OS thread that initialised
// it, so keep the main goroutine on that thread.
func init() { runtime.LockOSThread() }

// fail prints the pending Python exception and exits non-zero.
func fail(what string) {
	fmt.Fprintf(os.Stderr, "nhatcpy: %s failed\n", what)
	if cpy.PyErr_Occurred() != nil {
		cpy.PyErr_Print()
	}
	os.Exit(1)
}

// must returns o, or fails if it is nil.
func must(o *cpy.PyObject, what string) *cpy.PyObject {
	if o == nil {
		fail(what)
	}
	return o
}

// attrInt returns int(o.name).
func attrInt(o *cpy.PyObject, name string) int {
	v := must(o.GetAttrString(name), "getattr "+name)
	defer v.DecRef()
	n := cpy.PyLong_AsLong(v)
	if n == -1 && cpy.PyErr_Occurred() != nil {
		fail(name + " as int")
	}
	return n
}

func main() {
	// Py_InitializeEx(false): leave signal handling to Go's runtime.
	cpy.Py_InitializeEx(false)
	if !cpy.Py_IsInitialized() {
		fmt.Fprintln(os.Stderr, "nhatcpy: could not initialize the interpreter")
		os.Exit(1)
	}

	hello := must(cpy.PyImport_ImportModule("hello"), "import hello")
	sayHello := must(hello.GetAttrString("SayHello"), "getattr SayHello")
	arg := must(cpy.PyUnicode_FromString("xwj"), "str")
	res := must(sayHello.CallFunctionObjArgs(arg), `SayHello("xwj")`)
	s := cpy.PyUnicode_AsUTF8(res)
	if cpy.PyErr_Occurred() != nil {
		fail("SayHello result as str")
	}
	fmt.Printf("[FUNC] res = %s\n", s)
	res.DecRef()
	arg.DecRef()
	sayHello.DecRef()
	hello.DecRef()

	// PySys_GetObject returns a borrowed reference: no DecRef.
	versionInfo := must(cpy.PySys_GetObject("version_info"), "sys.version_info")
	fmt.Printf("[VERSION] %d.%d\n", attrInt(versionInfo, "major"), attrInt(versionInfo, "minor"))

	if cpy.Py_FinalizeEx() < 0 {
		os.Exit(120)
	}
}
