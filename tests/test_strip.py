"""Blanking: debug sections zeroed in place, the file still loads, nothing moves."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from gopack.elf import analysis
from gopack.elf.strip import blank_debug

SOURCE = "#include <math.h>\ndouble gopack_f(double x) { return sqrt(x) + 1.0; }\n"


@pytest.fixture
def library(tmp_path: Path) -> Path:
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.fail("gcc is missing: cgo needs it, and this test compiles a library with debug sections")
    (tmp_path / "f.c").write_text(SOURCE)
    out = tmp_path / "libf.so"
    subprocess.run([gcc, "-g", "-O1", "-shared", "-fPIC", "-o", out, tmp_path / "f.c", "-lm"], check=True)
    return out


def sections(path: Path) -> dict[str, str]:
    with path.open("rb") as f:
        return {s.name: s["sh_type"] for s in ELFFile(f).iter_sections()}


def test_blank_debug_zeroes_debug_sections_and_the_library_still_loads(library: Path) -> None:
    before = library.read_bytes()
    assert sections(library)[".debug_info"] == "SHT_PROGBITS"
    zeroed = blank_debug(library)
    after = library.read_bytes()
    assert zeroed > 0 and len(after) == len(before)
    assert sum(a != b for a, b in zip(before, after)) <= zeroed + 64  # the section data and the headers' type fields
    kinds = sections(library)
    assert all(kinds[n] == "SHT_NOBITS" for n in kinds if n.startswith(".debug") or n in (".symtab", ".strtab"))
    assert kinds[".dynsym"] == "SHT_DYNSYM" and kinds[".shstrtab"] == "SHT_STRTAB"
    info = analysis.elf_info(library.parent, library.name)
    assert info is not None and "libm.so.6" in info.needed
    function = ctypes.CDLL(str(library)).gopack_f
    function.restype, function.argtypes = ctypes.c_double, [ctypes.c_double]
    assert function(16.0) == 5.0


def test_blank_debug_twice_changes_nothing(library: Path) -> None:
    blank_debug(library)
    once = library.read_bytes()
    assert blank_debug(library) == 0
    assert library.read_bytes() == once
