module example.com/gopack/corpus

go 1.21
