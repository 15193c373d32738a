// Command numpydep uses numpy through a dependency module whose C glue
// includes numpy/arrayobject.h; this module has no cgo code of its own.
package main

import (
	"fmt"
	"os"

	"example.com/gopack/npglue"
)

func main() {
	if err := npglue.Init(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sum, err := npglue.Sum([]float64{1.5, 2.5, 3, 4})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("[SUM] %.1f\n", sum)
}
