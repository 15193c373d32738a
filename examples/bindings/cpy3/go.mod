module example.com/gopack/bindings/cpy3

go 1.21

require github.com/go-python/cpy3 v0.2.0
