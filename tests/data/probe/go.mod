module example.com/gopack/probe

go 1.21
