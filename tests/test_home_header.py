"""gopack_home.h declares the little of CPython it uses itself instead of including Python.h
(cgo compiles it into the main package at every edit of the program). Those declarations must
be the ones Python.h makes: compiled after each supported CPython's Python.h, with warnings as
errors, a differing one fails ("conflicting types")."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import require_pyenv

from gopack.go import build
from gopack.python import interpreters

HEADER = Path(build.__file__).parent.parent / "cgo" / "gopack_home.h"


@pytest.mark.parametrize("version", ["2.7", "3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13"])
def test_declarations_agree_with_python_h(version: str, tmp_path: Path) -> None:
    prefix = require_pyenv(version)
    interpreter = interpreters.probe(prefix / "bin" / f"python{version}")
    defines = build.home_defines(interpreter)
    assert f"#define GOPACK_PY_MAJOR {version[0]}\n" in defines
    # After Python.h, 3.11+ deprecates what the header uses (a warning, as when it included Python.h).
    for name, text, allow in (
        ("alone", defines + HEADER.read_text(), []),
        ("with-python-h", "#include <Python.h>\n" + defines + HEADER.read_text(), ["-Wno-deprecated-declarations"]),
    ):
        source = tmp_path / f"{name}.c"
        source.write_text(text)
        argv = [
            "gcc",
            "-std=gnu11",
            "-Wall",
            "-Werror",
            *allow,
            f"-I{interpreter.include}",
            "-c",
            str(source),
            "-o",
            str(tmp_path / f"{name}.o"),
        ]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        assert done.returncode == 0, f"{name}: {done.stderr}"
    # Alone, the object needs exactly these of libpython.
    symbols = subprocess.run(["nm", "-u", str(tmp_path / "alone.o")], capture_output=True, text=True, check=True).stdout.split()
    wanted = {"Py_IgnoreEnvironmentFlag", "Py_NoUserSiteDirectory", "Py_SetProgramName"}
    if version.startswith("3."):
        wanted |= {"Py_UTF8Mode", "Py_DecodeLocale"}
    assert wanted <= set(symbols)
    assert not {s for s in symbols if s.startswith("Py")} - wanted
