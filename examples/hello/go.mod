module example.com/gopack/hello

go 1.21
