// Command sklearn-demo embeds CPython through github.com/DataDog/go-python3:
// it imports the Python module hello, then scikit-learn, and runs a tiny
// LogisticRegression defined in model.py.
//
// The program never touches sys.path: the bundler makes hello, model and
// sklearn importable. It also prints cross-validation
// scores computed with two joblib workers.
package main

import (
	"fmt"
	"os"
	"runtime"

	python3 "github.com/DataDog/go-python3"
)

// The interpreter's thread state belongs to the OS thread that initialised
// it, so keep the main goroutine on that thread.
func init() { runtime.LockOSThread() }

// fail prints the pending Python exception and exits non-zero.
func fail(what string) {
	fmt.Fprintf(os.Stderr, "sklearn-demo: %s failed\n", what)
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

// goString converts a Python str to a Go string.
func goString(o *python3.PyObject, what string) string {
	s := python3.PyUnicode_AsUTF8(o)
	if python3.PyErr_Occurred() != nil {
		fail(what)
	}
	return s
}

// importModule imports name, failing on error; the caller owns the result.
func importModule(name string) *python3.PyObject {
	return must(python3.PyImport_ImportModule(name), "import "+name)
}

// attrString returns str(mod.name).
func attrString(mod *python3.PyObject, name string) string {
	v := must(mod.GetAttrString(name), "getattr "+name)
	defer v.DecRef()
	s := must(v.Str(), "str("+name+")")
	defer s.DecRef()
	return goString(s, "str("+name+")")
}

// call returns str(mod.name(args...)).
func call(mod *python3.PyObject, name string, args ...*python3.PyObject) string {
	fn := must(mod.GetAttrString(name), "getattr "+name)
	defer fn.DecRef()
	res := must(fn.CallFunctionObjArgs(args...), name+"()")
	defer res.DecRef()
	return goString(res, name+"() result")
}

func main() {
	python3.Py_InitializeEx(false)

	hello := importModule("hello")
	repr := must(hello.Repr(), "repr(hello)")
	fmt.Printf("[MODULE] repr(hello) = %s\n", goString(repr, "repr(hello)"))
	repr.DecRef()
	fmt.Printf("[VARS] a = %s\n", attrString(hello, "a"))
	arg := must(python3.PyUnicode_FromString("xwj"), "str")
	fmt.Printf("[FUNC] res = %s\n", call(hello, "SayHello", arg))
	arg.DecRef()
	hello.DecRef()

	sklearn := importModule("sklearn")
	fmt.Printf("[IMPORT] sklearn version = %s\n", attrString(sklearn, "__version__"))
	sklearn.DecRef()

	model := importModule("model")
	fmt.Printf("[PREDICT] %s\n", call(model, "predict"))
	// Two joblib (loky) workers: they are started from sys.executable.
	fmt.Printf("[CV] %s\n", call(model, "cv_scores"))
	model.DecRef()

	if python3.Py_FinalizeEx() < 0 {
		os.Exit(120)
	}
}
