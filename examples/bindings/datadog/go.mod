module example.com/gopack/bindings/datadog

go 1.21

require github.com/DataDog/go-python3 v0.0.0-20211102160307-40adc605f1fe

require github.com/stretchr/testify v1.12.1 // indirect
