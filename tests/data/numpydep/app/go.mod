module example.com/gopack/numpydep

go 1.21

require example.com/gopack/npglue v0.0.0

replace example.com/gopack/npglue => ../npglue
