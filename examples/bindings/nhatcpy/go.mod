module example.com/gopack/bindings/nhatcpy

go 1.24

require go.nhat.io/cpy/v3 v3.12.0
