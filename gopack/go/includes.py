"""What the program's own cgo code asks of the Python side, read before anything is built.

Two things, from the packages ``go list -deps`` reports (the main module and its
dependencies; the standard library is left out):

- ``#include`` lines in cgo preambles and in the packages' C, C++ and header
  files that nothing known before the Python tree exists can answer: not the
  package's folder, not its ``#cgo CFLAGS``/``CPPFLAGS`` ``-I`` folders, not the
  recipe's ``CGO_CFLAGS``/``CGO_CPPFLAGS``, not the folders its other pkg-config
  names give, not the interpreter's headers, not the C compiler's own search
  path. The compiler is asked (``__has_include``, one run per package), so the
  answer is the one the build would get. Those headers may be shipped by an
  installed distribution (numpy's ``numpy/arrayobject.h``): the Go build then
  waits for the tree, which keeps a copy of every header it installed
  (:mod:`gopack.python.headers`).
- ``-lpythonX.Y`` in ``#cgo LDFLAGS``: which Python version each asks for, and
  where (file and line), so that the plan can refuse a version that is not
  ``python.version`` before building.
"""

from __future__ import annotations

import os
import re
import shlex
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from gopack import _proc
from gopack.errors import ToolchainError
from gopack.go.bindings import LIBPYTHON_FLAG, GoPackage

_DIRECTIVE = re.compile(r"^\s*(?://)?\s*#\s*(?P<kind>include|cgo)\b(?P<rest>.*)$")
_INCLUDE = re.compile(r"""^\s*(?:<(?P<angle>[^>]+)>|"(?P<quoted>[^"]+)")""")
#: Flags that change where the preprocessor looks; the rest of CFLAGS does not matter here.
_SEARCH_FLAGS = ("-I", "-isystem", "-iquote", "-idirafter", "-isysroot", "--sysroot")


@dataclass(frozen=True, kw_only=True)
class Include:
    """One ``#include`` line."""

    header: str  # as written between <> or "": "numpy/arrayobject.h"
    quoted: bool
    file: str  # the file that holds the line
    line: int
    cxx: bool = False  # from a C++ file

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, kw_only=True)
class LibpythonFlag:
    """``-lpythonX.Y`` in a package's ``#cgo LDFLAGS``."""

    flag: str
    version: str
    package: str
    file: str  # where the line is ("" if no file holds it: a flag from CGO_LDFLAGS)
    line: int


@dataclass(frozen=True, kw_only=True)
class CgoScan:
    #: Includes nothing known before the Python tree answers.
    missing: tuple[Include, ...] = ()
    libpython: tuple[LibpythonFlag, ...] = ()


def directives(path: Path) -> list[tuple[int, str, str]]:
    """(line, "include" or "cgo", the rest) of each preprocessor line of a C file or a
    Go file's comments (in a Go file a line starting with ``#`` can only be in a comment).

    >>> import tempfile, os
    >>> f = tempfile.NamedTemporaryFile("w", suffix=".go", delete=False)
    >>> _ = f.write('package p\\n// #cgo LDFLAGS: -lpython3.12\\n/*\\n#include <numpy/arrayobject.h>\\n*/\\nimport "C"\\n'); f.close()
    >>> directives(Path(f.name))
    [(2, 'cgo', ' LDFLAGS: -lpython3.12'), (4, 'include', ' <numpy/arrayobject.h>')]
    >>> os.unlink(f.name)
    """
    try:
        text = path.read_text("utf-8", errors="replace")
    except OSError:
        return []
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        match = _DIRECTIVE.match(line)
        if match:
            found.append((number, match.group("kind"), match.group("rest")))
    return found


def includes(package: GoPackage) -> list[Include]:
    """Every literal ``#include`` of a package's cgo files, C, C++ and header files."""
    found = []
    groups = ((package.cgo_files, False), (package.c_files, False), (package.h_files, False), (package.cxx_files, True))
    for names, cxx in groups:
        for name in names:
            path = Path(package.dir) / name
            for number, kind, rest in directives(path):
                match = _INCLUDE.match(rest) if kind == "include" else None
                if match:
                    quoted = match.group("quoted") is not None
                    header = match.group("quoted") if quoted else match.group("angle")
                    found.append(Include(header=header.strip(), quoted=quoted, file=str(path), line=number, cxx=cxx))
    return found


def libpython_flags(packages: Iterable[GoPackage]) -> list[LibpythonFlag]:
    """``-lpythonX.Y`` in the ``#cgo LDFLAGS`` go list reports (build constraints applied),
    each with the file and line that says it."""
    found = []
    for package in packages:
        if package.standard:
            continue
        for flag in package.cgo_ldflags:
            match = LIBPYTHON_FLAG.match(flag)
            if match is None:
                continue
            file, line = _cgo_line(package, flag)
            found.append(LibpythonFlag(flag=flag, version=match.group("version"), package=package.import_path, file=file, line=line))
    return found


def _cgo_line(package: GoPackage, flag: str) -> tuple[str, int]:
    for name in package.cgo_files:
        path = Path(package.dir) / name
        for number, kind, rest in directives(path):
            if kind == "cgo" and "LDFLAGS" in rest.split(":", 1)[0] and flag in rest.split(":", 1)[-1].split():
                return str(path), number
    return "", 0


def search_flags(flags: Sequence[str]) -> list[str]:
    """The flags of ``flags`` that change the preprocessor's search path, with their arguments.

    >>> search_flags(["-O2", "-I", "/a", "-I/b", "-DX=1", "-isystem", "/c", "--sysroot=/r"])
    ['-I', '/a', '-I/b', '-isystem', '/c', '--sysroot=/r']
    """
    kept = []
    i = 0
    while i < len(flags):
        flag = flags[i]
        option = next((s for s in _SEARCH_FLAGS if flag == s or flag.startswith(s)), None)
        if option is not None:
            kept.append(flag)
            if flag == option and i + 1 < len(flags):
                kept.append(flags[i + 1])
                i += 1
        elif flag == "-nostdinc":
            kept.append(flag)
        i += 1
    return kept


def search_folders(flags: Sequence[str]) -> list[str]:
    """The folders -I, -isystem, -iquote and -idirafter name.

    >>> search_folders(["-I", "/a", "-I/b", "-isystem", "/c", "-O2", "-idirafter/d"])
    ['/a', '/b', '/c', '/d']
    """
    found = []
    words = search_flags(flags)
    i = 0
    while i < len(words):
        option = next((s for s in ("-I", "-isystem", "-iquote", "-idirafter") if words[i].startswith(s)), None)
        if option is not None and words[i] == option and i + 1 < len(words):
            found.append(words[i + 1])
            i += 1
        elif option is not None:
            found.append(words[i][len(option) :])
        i += 1
    return found


def missing(
    packages: Iterable[GoPackage],
    *,
    cc: Sequence[str],
    cxx: Sequence[str],
    flags: Sequence[str],
    env: Mapping[str, str],
) -> list[Include]:
    """The includes of the program's own packages that the compiler cannot find with
    ``flags`` (the interpreter's folder, the recipe's and pkg-config's -I flags) plus each
    package's own folder and ``#cgo`` flags."""
    found: list[Include] = []
    for package in packages:
        if package.standard:
            continue
        wanted = includes(package)
        if not wanted:
            continue
        own = [*search_flags(package.cgo_cppflags), *search_flags(package.cgo_cflags), "-I", package.dir]
        for is_cxx in (False, True):
            asked = [i for i in wanted if i.cxx == is_cxx]
            if asked:
                extra = search_flags(package.cgo_cxxflags) if is_cxx else []
                found += _not_found(asked, cxx if is_cxx else cc, [*flags, *own, *extra], env=env, language="c++" if is_cxx else "c")
    return found


def _not_found(
    wanted: list[Include], compiler: Sequence[str], flags: Sequence[str], *, env: Mapping[str, str], language: str
) -> list[Include]:
    """Ask the compiler which of ``wanted`` it finds (``__has_include``), in one run."""
    if not compiler:
        raise ToolchainError("no C compiler is configured (go env CC is empty)", hint="install gcc, or set CC in go.env")
    quote_dirs = sorted({os.path.dirname(i.file) for i in wanted if i.quoted})
    distinct = sorted({(i.header, i.quoted) for i in wanted})
    lines = []
    for n, (header, quoted) in enumerate(distinct):
        name = f'"{header}"' if quoted else f"<{header}>"
        lines += [f"#if __has_include({name})", f"gopack_found {n}", "#endif"]
    with tempfile.TemporaryDirectory(prefix="gopack-includes-") as tmp:
        probe = Path(tmp) / ("probe.cc" if language == "c++" else "probe.c")
        probe.write_text("\n".join(lines) + "\n")
        argv = [*compiler, "-E", "-P", "-x", language, *flags, *(f"-iquote{d}" for d in quote_dirs), str(probe)]
        out = _proc.run(
            argv,
            what=f"{compiler[0]} (which headers the cgo code finds)",
            env=dict(env),
            error=ToolchainError,
            hint="check that the C compiler works (go env CC) and the -I flags in go.env",
        )
    seen = {int(line.split()[1]) for line in out.splitlines() if line.startswith("gopack_found ")}
    absent = {distinct[n] for n in range(len(distinct)) if n not in seen}
    return [i for i in wanted if (i.header, i.quoted) in absent]


def split_flags(value: str) -> list[str]:
    """A CGO_*FLAGS value as Go splits it (quotes group words)."""
    try:
        return shlex.split(value)
    except ValueError:
        return value.split()
