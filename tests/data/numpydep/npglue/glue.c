#include "glue.h"
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>

int npglue_init(void) {
	import_array1(-1);
	return 0;
}

int npglue_sum(double *data, long n, double *out) {
	npy_intp dims[1] = {(npy_intp)n};
	PyObject *array = PyArray_SimpleNewFromData(1, dims, NPY_FLOAT64, data);
	if (array == NULL) {
		return -1;
	}
	PyObject *sum = PyArray_Sum((PyArrayObject *)array, NPY_RAVEL_AXIS, NPY_FLOAT64, NULL);
	Py_DECREF(array);
	if (sum == NULL) {
		return -1;
	}
	*out = PyFloat_AsDouble(sum);
	Py_DECREF(sum);
	return PyErr_Occurred() ? -1 : 0;
}
