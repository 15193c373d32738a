// Command corpus embeds CPython through raw cgo and runs the package corpus:
// for each snippet module corpus_snippets.<name> whose package is installed
// it imports the module, calls run(tmp) with a fresh temporary folder and
// prints "PASS <name>: <result>" or "FAIL <name>" with the Python traceback.
// It exits 1 if any snippet failed.
//
// The same program serves every Python 3 version (python3-embed), so one
// source bundles the 3.12 corpus and the 3.7 subset.
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
	"strings"
	"unsafe"
)

// The interpreter's thread state belongs to the OS thread that initialised
// it, so keep the main goroutine on that thread.
func init() { runtime.LockOSThread() }

// pyError prints the pending Python exception (traceback to stderr) and clears it.
func pyError() {
	if C.PyErr_Occurred() != nil {
		C.PyErr_Print()
	}
}

func goString(o *C.PyObject) (string, bool) {
	s := C.PyUnicode_AsUTF8(o)
	if s == nil {
		return "", false
	}
	return C.GoString(s), true
}

func importModule(name string) *C.PyObject {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	return C.PyImport_ImportModule(cname)
}

func getAttr(o *C.PyObject, name string) *C.PyObject {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	return C.PyObject_GetAttrString(o, cname)
}

// snippetNames asks corpus_snippets which snippets have their package installed.
func snippetNames() ([]string, bool) {
	pkg := importModule("corpus_snippets")
	if pkg == nil {
		return nil, false
	}
	defer C.Py_DecRef(pkg)
	fn := getAttr(pkg, "installed")
	if fn == nil {
		return nil, false
	}
	defer C.Py_DecRef(fn)
	res := C.PyObject_CallObject(fn, nil)
	if res == nil {
		return nil, false
	}
	defer C.Py_DecRef(res)
	joined, ok := goString(res)
	if !ok {
		return nil, false
	}
	return strings.Fields(joined), true
}

// runSnippet imports corpus_snippets.<name> and returns str(run(tmp)).
func runSnippet(name, tmp string) (string, bool) {
	mod := importModule("corpus_snippets." + name)
	if mod == nil {
		return "", false
	}
	defer C.Py_DecRef(mod)
	fn := getAttr(mod, "run")
	if fn == nil {
		return "", false
	}
	defer C.Py_DecRef(fn)
	ctmp := C.CString(tmp)
	arg := C.PyUnicode_FromString(ctmp)
	C.free(unsafe.Pointer(ctmp))
	if arg == nil {
		return "", false
	}
	defer C.Py_DecRef(arg)
	res := C.call1(fn, arg)
	if res == nil {
		return "", false
	}
	defer C.Py_DecRef(res)
	str := C.PyObject_Str(res)
	if str == nil {
		return "", false
	}
	defer C.Py_DecRef(str)
	return goString(str)
}

func main() {
	C.Py_InitializeEx(0)
	names, ok := snippetNames()
	if !ok {
		fmt.Println("FAIL corpus_snippets: cannot list the snippets")
		pyError()
		os.Exit(1)
	}
	failed := 0
	for _, name := range names {
		fmt.Printf("RUN %s\n", name)
		tmp, err := os.MkdirTemp("", "corpus-"+name+"-")
		if err != nil {
			fmt.Printf("FAIL %s: %v\n", name, err)
			failed++
			continue
		}
		result, ok := runSnippet(name, tmp)
		if ok {
			fmt.Printf("PASS %s: %s\n", name, result)
		} else {
			os.Stdout.Sync()
			pyError()
			fmt.Printf("FAIL %s\n", name)
			failed++
		}
		os.RemoveAll(tmp)
	}
	fmt.Printf("corpus: %d passed, %d failed\n", len(names)-failed, failed)
	if C.Py_FinalizeEx() < 0 {
		os.Exit(120)
	}
	if failed > 0 {
		os.Exit(1)
	}
}
