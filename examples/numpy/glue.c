#include "glue.h"

#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>

int glue_init(void) {
	import_array1(-1);
	return 0;
}

int glue_apply(PyObject *fn, double *data, long n, double *result) {
	npy_intp dims[1] = {(npy_intp)n};
	PyObject *array = PyArray_SimpleNewFromData(1, dims, NPY_FLOAT64, data);
	if (array == NULL) {
		return -1;
	}
	PyObject *out = PyObject_CallFunctionObjArgs(fn, array, NULL);
	if (Py_REFCNT(array) != 1) {
		// The array points into Go memory, which Python must not hold after this call.
		Py_XDECREF(out);
		Py_DECREF(array);
		PyErr_SetString(PyExc_RuntimeError, "the Python function kept the array that wraps Go memory");
		return -1;
	}
	Py_DECREF(array);
	if (out == NULL) {
		return -1;
	}
	*result = PyFloat_AsDouble(out);
	Py_DECREF(out);
	if (*result == -1.0 && PyErr_Occurred()) {
		return -1;
	}
	return 0;
}
