"""Imports numpy in the embedded interpreter and says where it runs."""

import os
import platform
import sys

import numpy


def report():
    matrix = numpy.arange(9, dtype=float).reshape(3, 3)
    return (
        "[OLDLINUX] python %d.%d numpy %s det=%.1f trace=%.1f libc=%s prefix_ok=%s"
        % (
            sys.version_info[0],
            sys.version_info[1],
            numpy.__version__,
            numpy.linalg.det(matrix + numpy.eye(3)),
            numpy.trace(matrix),
            os.confstr("CS_GNU_LIBC_VERSION").replace(" ", "-"),
            os.path.isdir(os.path.join(sys.prefix, "lib")),
        )
        + " "
        + platform.machine()
    )
