module example.com/gopack/goroutines

go 1.21

require github.com/sbinet/go-python v0.1.0
