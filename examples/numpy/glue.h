// C glue between Go and numpy's C API. Only glue.c includes numpy's headers:
// import_array() fills a function table that is static to that file.
#ifndef GLUE_H
#define GLUE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

// glue_init imports numpy's C API; 0 on success, -1 with a Python exception set.
int glue_init(void);

// glue_apply calls fn(a), where a is a float64 ndarray wrapping data[0:n] without
// a copy, and stores fn's result (a float) in *result. The array must not outlive
// the call (data is Go memory): if fn keeps a reference, glue_apply fails.
int glue_apply(PyObject *fn, double *data, long n, double *result);

#endif
