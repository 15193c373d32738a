module gopack.invalid/launcher

go 1.21
