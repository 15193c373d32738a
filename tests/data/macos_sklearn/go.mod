module example.com/macossklearn

go 1.22
