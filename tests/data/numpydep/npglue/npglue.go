// Package npglue sums a Go []float64 with numpy, through C glue that includes
// numpy's headers; it is a module of its own, which the program requires.
package npglue

/*
#cgo pkg-config: python3
#cgo LDFLAGS: -lpython3.12
#include "glue.h"
*/
import "C"

import (
	"errors"
	"runtime"
	"unsafe"
)

// CPython's thread state belongs to the OS thread that started it: every call
// into it must come from that thread, which the main goroutine keeps.
func init() { runtime.LockOSThread() }

// Init starts Python and imports numpy's C API.
func Init() error {
	C.Py_InitializeEx(0)
	if C.npglue_init() != 0 {
		C.PyErr_Print()
		return errors.New("import_array failed")
	}
	return nil
}

// Sum returns numpy.sum over values, which numpy reads in place.
func Sum(values []float64) (float64, error) {
	var out C.double
	if C.npglue_sum((*C.double)(unsafe.Pointer(&values[0])), C.long(len(values)), &out) != 0 {
		C.PyErr_Print()
		return 0, errors.New("numpy.sum failed")
	}
	return float64(out), nil
}
