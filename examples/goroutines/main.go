// Command goroutines embeds CPython 2.7 through github.com/sbinet/go-python
// and calls the Python function hello.SayHello (hello.py) from two goroutines
// at once, handling the GIL the way the C API asks:
//
//   - the main thread initializes Python (and so holds the GIL), then releases
//     it with PyEval_SaveThread;
//   - each goroutine pins itself to one OS thread (runtime.LockOSThread), takes
//     the GIL with PyGILState_Ensure, calls Python, and gives the GIL back with
//     PyGILState_Release on that same thread;
//   - once every goroutine is done, the main thread takes the GIL back with
//     PyEval_RestoreThread and finalizes.
//
// The program never touches sys.path: the bundler makes hello importable.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sync"

	python "github.com/sbinet/go-python"
)

// The interpreter's main thread state belongs to the OS thread that
// initialised it, so keep the main goroutine on that thread.
func init() { runtime.LockOSThread() }

// fail prints the pending Python exception and exits non-zero. The caller
// must hold the GIL.
func fail(what string) {
	fmt.Fprintf(os.Stderr, "goroutines: %s failed\n", what)
	if python.PyErr_Occurred() != nil {
		python.PyErr_Print()
	}
	os.Exit(1)
}

// must returns o, or fails if it is nil.
func must(o *python.PyObject, what string) *python.PyObject {
	if o == nil {
		fail(what)
	}
	return o
}

// attrInt returns int(o.name).
func attrInt(o *python.PyObject, name string) int {
	v := must(o.GetAttrString(name), "getattr "+name)
	defer v.DecRef()
	n := python.PyInt_AsLong(v)
	if n == -1 && python.PyErr_Occurred() != nil {
		fail(name + " as int")
	}
	return n
}

// sayHello calls fn(arg) from a goroutine and returns the result as a Go
// string. It takes and releases the GIL itself.
func sayHello(fn *python.PyObject, arg string) string {
	// PyGILState_Ensure and PyGILState_Release must run on the same OS
	// thread, and the thread state they create belongs to that thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	gstate := python.PyGILState_Ensure()
	defer python.PyGILState_Release(gstate)

	res := must(fn.CallFunction(arg), fmt.Sprintf("SayHello(%q)", arg))
	defer res.DecRef()
	if !python.PyString_Check(res) {
		fmt.Fprintf(os.Stderr, "goroutines: SayHello(%q) did not return a str\n", arg)
		os.Exit(1)
	}
	return python.PyString_AsString(res)
}

func main() {
	// Initialize starts the interpreter and its GIL (PyEval_InitThreads):
	// from here on this thread holds the GIL.
	if err := python.Initialize(); err != nil {
		fmt.Fprintf(os.Stderr, "goroutines: %v\n", err)
		os.Exit(1)
	}

	hello := must(python.PyImport_ImportModule("hello"), "import hello")
	fn := must(hello.GetAttrString("SayHello"), "getattr SayHello")

	// Release the GIL so that the goroutines can take it.
	state := python.PyEval_SaveThread()

	args := []string{"xwj", "gopack"}
	results := make([]string, len(args))
	var wg sync.WaitGroup
	for i, arg := range args {
		wg.Add(1)
		go func(i int, arg string) {
			defer wg.Done()
			results[i] = sayHello(fn, arg)
		}(i, arg)
	}
	wg.Wait()

	// Take the GIL back on the main thread before using Python again.
	python.PyEval_RestoreThread(state)

	for i, res := range results {
		fmt.Printf("[GOROUTINE %d] res = %s\n", i+1, res)
	}
	fn.DecRef()
	hello.DecRef()

	// PySys_GetObject returns a borrowed reference: no DecRef.
	versionInfo := must(python.PySys_GetObject("version_info"), "sys.version_info")
	fmt.Printf("[VERSION] %d.%d\n", attrInt(versionInfo, "major"), attrInt(versionInfo, "minor"))

	if err := python.Finalize(); err != nil {
		fmt.Fprintf(os.Stderr, "goroutines: %v\n", err)
		os.Exit(120)
	}
}
