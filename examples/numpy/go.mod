module example.com/gopack/numpy

go 1.21
