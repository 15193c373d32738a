// Command cpy3 embeds CPython 3.7 through github.com/go-python/cpy3:
// it imports the Python module hello (hello.py), calls hello.SayHello("xwj")
// and prints the result and the interpreter's major.minor version.
//
// The program never touches sys.path: the bundler makes hello importable.
package main

import (
	"fmt"
	"os"
	"runtime"

	python3 "github.com/go-python/cpy3"
)

// The interpreter's thread state belongs to the OS thread that initialised
// it, so keep the main goroutine on that thread.
func init() { runtime.LockOSThread() }

// fail prints the pending Python exception and exits non-zero.
func fail(what string) {
	fmt.Fprintf(os.Stderr, "cpy3: %s failed\n", what)
	if python3.PyErr_Occurred() != nil {
		python3.PyErr_Print()
	}
	os.Exit(1)
}

// must returns o, or fails if it is nil.
func must(o *python3.PyObject, what string) *python3.PyObject {
	if o == nil {
		fail(what)
	}
	return o
}

// attrInt returns int(o.name).
func attrInt(o *python3.PyObject, name string) int {
	v := must(o.GetAttrString(name), "getattr "+name)
	defer v.DecRef()
	n := python3.PyLong_AsLong(v)
	if n == -1 && python3.PyErr_Occurred() != nil {
		fail(name + " as int")
	}
	return n
}

func main() {
	// Py_InitializeEx(false): no Python signal handlers, which Go's runtime
	// would reject before 3.10 (they lack SA_ONSTACK).
	python3.Py_InitializeEx(false)
	if !python3.Py_IsInitialized() {
		fmt.Fprintln(os.Stderr, "cpy3: could not initialize the interpreter")
		os.Exit(1)
	}

	hello := must(python3.PyImport_ImportModule("hello"), "import hello")
	sayHello := must(hello.GetAttrString("SayHello"), "getattr SayHello")
	arg := must(python3.PyUnicode_FromString("xwj"), "str")
	res := must(sayHello.CallFunctionObjArgs(arg), `SayHello("xwj")`)
	s := python3.PyUnicode_AsUTF8(res)
	if python3.PyErr_Occurred() != nil {
		fail("SayHello result as str")
	}
	fmt.Printf("[FUNC] res = %s\n", s)
	res.DecRef()
	arg.DecRef()
	sayHello.DecRef()
	hello.DecRef()

	// PySys_GetObject returns a borrowed reference: no DecRef.
	versionInfo := must(python3.PySys_GetObject("version_info"), "sys.version_info")
	fmt.Printf("[VERSION] %d.%d\n", attrInt(versionInfo, "major"), attrInt(versionInfo, "minor"))

	if python3.Py_FinalizeEx() < 0 {
		os.Exit(120)
	}
}
