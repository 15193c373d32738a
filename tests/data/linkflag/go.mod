module example.com/gopack/linkflag

go 1.21
