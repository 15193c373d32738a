"""Blanking: debug sections zeroed in place, the file still loads, nothing moves."""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from gopack.platform.linux import analysis, strip
from gopack.platform.linux.strip import blank_debug

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


CRASH_ON_LOAD = (
    "#include <signal.h>\n__attribute__((constructor)) static void boom(void) { raise(SIGSEGV); }\nint gopack_c(void) { return 1; }\n"
)
CRASH_AT_EXIT = (
    "#include <signal.h>\n__attribute__((destructor)) static void boom(void) { raise(SIGSEGV); }\nint gopack_d(void) { return 2; }\n"
)
NEEDS_MISSING = "int gopack_missing(void);\nint gopack_n(void) { return gopack_missing(); }\n"


def compile_library(tmp_path: Path, name: str, source: str, *extra: str) -> Path:
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.fail("gcc is missing: cgo needs it, and this test compiles libraries")
    (tmp_path / f"{name}.c").write_text(source)
    out = tmp_path / f"lib{name}.so"
    subprocess.run([gcc, "-g", "-O1", "-shared", "-fPIC", "-o", out, tmp_path / f"{name}.c", *extra], check=True, cwd=tmp_path)
    return out


@pytest.fixture
def assorted(tmp_path: Path, library: Path) -> dict[str, Path]:
    """A library that loads, one whose constructor crashes, one whose destructor crashes
    at exit, and one that needs a library that is not there."""
    missing = compile_library(tmp_path, "missing", "int gopack_missing(void) { return 3; }\n")
    needs = compile_library(tmp_path, "needs", NEEDS_MISSING, "-L.", "-lmissing")
    missing.unlink()
    return {
        "fine": library,
        "crash": compile_library(tmp_path, "crash", CRASH_ON_LOAD),
        "exit": compile_library(tmp_path, "exit", CRASH_AT_EXIT),
        "needs": needs,
    }


def test_load_check_survives_a_crash_and_names_the_file(assorted: dict[str, Path]) -> None:
    # Several copies around the crashing one: the batch that dies is split, the rest still judged.
    paths = sorted([*assorted.values(), *(assorted["fine"].with_name(f"libcopy{i}.so") for i in range(4))])
    for copy in paths:
        if not copy.exists():
            shutil.copy2(assorted["fine"], copy)
    failed = strip.load_failures(Path(sys.executable), paths)
    assert set(failed) == {assorted["crash"], assorted["needs"]}
    assert "killed by SIGSEGV" in failed[assorted["crash"]] and "alone" in failed[assorted["crash"]]
    assert "libmissing.so" in failed[assorted["needs"]]


def test_a_short_list_is_checked_in_one_process_a_long_one_spread(assorted: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    # A checking process costs more to start than to load a few more files: a short list is not split.
    paths = [assorted["fine"].with_name(f"libspread{i}.so") for i in range(6)]
    for copy in paths:
        shutil.copy2(assorted["fine"], copy)
    batches: list[int] = []
    check = strip._load_batch

    def counted(python: Path, part: list[Path], target: object) -> dict[Path, str]:
        batches.append(len(part))
        return check(python, part, None)

    monkeypatch.setattr(strip, "_load_batch", counted)
    assert strip.load_failures(Path(sys.executable), paths) == {}
    assert batches == [6]
    batches.clear()
    monkeypatch.setattr(strip, "LOAD_PER_PROCESS", 2)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert strip.load_failures(Path(sys.executable), paths) == {}
    assert sorted(batches) == [3, 3]


def test_a_file_whose_original_does_not_load_either_ships_as_the_wheel_had_it(tmp_path: Path, assorted: dict[str, Path]) -> None:
    root = tmp_path / "tree"
    backup = tmp_path / "backup"
    files = []
    for name, path in assorted.items():
        (root / "pkg").mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, root / "pkg" / path.name)
        info = analysis.elf_info(root, f"pkg/{path.name}")
        assert info is not None, name
        files.append(info)
    originals = {f.path: (root / f.path).read_bytes() for f in files}
    sizes, kept = strip.strip(root, files, backup=backup)
    assert set(sizes) == set(kept) == set(originals)  # every stripped file's original is kept
    checked = strip.check_stripped(Path(sys.executable), root, sizes, kept)
    assert set(checked.restored) == {"pkg/libcrash.so", "pkg/libneeds.so"}
    assert all("even as the wheel shipped it" in why for why in checked.restored.values())
    assert "SIGSEGV" in checked.restored["pkg/libcrash.so"] and "libmissing.so" in checked.restored["pkg/libneeds.so"]
    for path in checked.restored:
        assert (root / path).read_bytes() == originals[path]
    # The library that crashes only at exit loads: it is judged, and ships stripped.
    assert (root / "pkg/libexit.so").stat().st_size < len(originals["pkg/libexit.so"])
    assert (root / "pkg/libf.so").stat().st_size < len(originals["pkg/libf.so"])


def test_the_dynamic_read_notes_what_strip_would_remove(library: Path, tmp_path: Path) -> None:
    """elf_info's full read says whether strip has work (the strip stage then opens nothing again);
    a read without symbol versions does not know, and strippable reads the file itself."""
    root = library.parent
    stripped = root / "libstripped.so"
    shutil.copy2(library, stripped)
    subprocess.run(["strip", "--strip-unneeded", stripped], check=True)
    full = {p.name: analysis.elf_info(root, p.name) for p in (library, stripped)}
    assert {n: i.debug for n, i in full.items() if i is not None} == {"libf.so": True, "libstripped.so": False}
    partial = analysis.elf_info(root, library.name, versions=False)
    assert partial is not None and partial.debug is None
    bare = analysis.elf_info(root, stripped.name, versions=False)
    assert bare is not None and strip.strippable(root, partial) and not strip.strippable(root, bare)
    vendored = root / "pkg.libs"
    vendored.mkdir()
    shutil.copy2(library, vendored / "libf.so")
    info = analysis.elf_info(root, "pkg.libs/libf.so")
    assert info is not None and info.debug and not strip.strippable(root, info), "a wheel's .libs are never stripped"
