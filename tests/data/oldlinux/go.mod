module example.com/gopack/oldlinux

go 1.21
