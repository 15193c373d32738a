module example.com/gopack/npglue

go 1.21
