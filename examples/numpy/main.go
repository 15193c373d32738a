// Command numpy hands a Go []float64 to numpy without copying it: C glue
// (glue.c) wraps the slice's memory in an ndarray with the numpy C API
// (PyArray_SimpleNewFromData), a Python function standardizes it in place,
// and Go reads both the function's result and its own, changed, slice.
//
// Nothing in the recipe says where numpy's headers are: gopack sees that
// glue.c includes numpy/arrayobject.h and builds against the numpy it bundles.
package main

/*
#cgo pkg-config: python3-embed
#include <stdlib.h>
#include "glue.h"
*/
import "C"

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"unsafe"
)

// The interpreter's thread state belongs to the OS thread that initialised it.
func init() { runtime.LockOSThread() }

func fail(what string) {
	fmt.Fprintf(os.Stderr, "numpy example: %s failed\n", what)
	if C.PyErr_Occurred() != nil {
		C.PyErr_Print()
	}
	os.Exit(1)
}

func attr(o *C.PyObject, name string) *C.PyObject {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	a := C.PyObject_GetAttrString(o, cname)
	if a == nil {
		fail("getattr " + name)
	}
	return a
}

func main() {
	C.Py_InitializeEx(0)
	if C.glue_init() != 0 {
		fail("import_array")
	}
	cname := C.CString("stdscore")
	mod := C.PyImport_ImportModule(cname)
	C.free(unsafe.Pointer(cname))
	if mod == nil {
		fail("import stdscore")
	}
	version := attr(mod, "version")
	fmt.Printf("[NUMPY] numpy %s\n", C.GoString(C.PyUnicode_AsUTF8(version)))
	C.Py_DecRef(version)

	values := []float64{2, 4, 4, 4, 5, 5, 7, 9}
	before := &values[0]
	standardize := attr(mod, "standardize")
	var std C.double
	if C.glue_apply(standardize, (*C.double)(unsafe.Pointer(&values[0])), C.long(len(values)), &std) != 0 {
		fail("standardize")
	}
	fmt.Printf("[STD] %.4f\n", float64(std))

	// The slice itself changed: numpy wrote into Go's memory.
	mean, sq := 0.0, 0.0
	for _, v := range values {
		mean += v
		sq += v * v
	}
	mean /= float64(len(values))
	fmt.Printf("[INPLACE] %.2f\n", values)
	fmt.Printf("[NOCOPY] same memory: %v, mean %.3f, sd %.3f\n", before == &values[0], math.Abs(mean), math.Sqrt(sq/float64(len(values))))

	C.Py_DecRef(standardize)
	C.Py_DecRef(mod)
	if C.Py_FinalizeEx() < 0 {
		os.Exit(120)
	}
}
