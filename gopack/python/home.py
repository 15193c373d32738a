"""An interpreter from a tree (``python.home``): a CPython install for the target, read from
its files and never run.

The tree is a folder, or an archive of one (``.jar``, ``.zip``, ``.tar.*``): JavaCPP's
``org.bytedeco:cpython`` jars, python-build-standalone's ``install_only`` archives, a
relocatable conda prefix. An archive is unpacked once into the cache's ``homes/<sha256>/``
(made in ``tmp/``, renamed into place under a lock). Inside, the prefix is the folder that
holds ``include/pythonX.Y<abiflags>/patchlevel.h`` and ``lib/pythonX.Y/``; from it:

- the version, from ``patchlevel.h``'s ``PY_MAJOR_VERSION``/``PY_MINOR_VERSION``/``PY_MICRO_VERSION``;
- the ABI flags, from the include folder's name (``python3.7m``: "m");
- libpython, ``libpythonX.Y<abiflags>.dylib`` (or ``.so.1.0``) in ``lib/`` or beside it
  (JavaCPP puts it at the top of the prefix), and its machine from its header.

A tree whose programs cannot run here (a macOS one) has its bytecode compiled by a CPython of
the same X.Y on this machine (pyenv's first, as :func:`gopack.python.interpreters.candidates`
searches): the bytecode format is fixed within a minor version.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import zstandard

from gopack import _fs, cache
from gopack.errors import RecipeError, ToolchainError
from gopack.platform import platforms
from gopack.platform import target as targets
from gopack.python import interpreters
from gopack.python.interpreters import Interpreter

#: The archive names an interpreter tree may have, longest first.
ARCHIVES = (".tar.gz", ".tar.xz", ".tar.bz2", ".tar.zst", ".tgz", ".txz", ".tzst", ".tar", ".jar", ".zip")
#: How deep in a folder or an archive the prefix may lie (JavaCPP's is org/bytedeco/cpython/macosx-arm64/).
_DEPTH = 6
_INCLUDE = re.compile(r"python(\d)\.(\d{1,2})([a-z]*)")
_PATCHLEVEL = re.compile(r"^#define\s+PY_(MAJOR|MINOR|MICRO)_VERSION\s+(\d+)", re.MULTILINE)
_HINT = (
    "point python.home at a CPython install for the target (a folder holding include/pythonX.Y and lib/pythonX.Y, "
    "or an archive of one: JavaCPP's org.bytedeco:cpython jar, python-build-standalone's install_only .tar.gz)"
)


def interpreter(home: Path, *, where: str, cache_dir: Path) -> Interpreter:
    """The interpreter the tree at ``home`` (a folder or an archive) holds, read from its files.
    ``where``: the recipe key or flag that named it, for messages."""
    folder = unpacked(home, where=where, cache_dir=cache_dir) if home.is_file() else home
    if not folder.is_dir():
        raise RecipeError(f"{where}: {home} is neither a folder nor a file", hint=_HINT)
    return dataclasses.replace(read(find_prefix(folder, where=where), where=where), tree=home)


def unpacked(archive: Path, *, where: str, cache_dir: Path) -> Path:
    """The folder ``archive`` unpacks to in the cache (unpacked now if it is not there yet)."""
    if not archive.name.lower().endswith(ARCHIVES):
        raise RecipeError(
            f"{where}: {archive} is not an archive gopack unpacks (it takes {', '.join(ARCHIVES)})",
            hint=_HINT,
        )
    with archive.open("rb") as f:
        digest = _fs.sha256_of(f)
    final = cache_dir / "homes" / digest
    if final.is_dir():
        return final
    with cache.lock(cache_dir, f"home-{digest}"):
        if final.is_dir():  # another run unpacked it while this one waited
            return final
        with cache.staging(cache_dir, "home-", what=f"interpreter tree {archive.name} being unpacked") as tmp:
            _extract(archive, tmp, where=where)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.rename(tmp, final)
    return final


def _extract(archive: Path, dest: Path, *, where: str) -> None:
    """Unpack ``archive`` into ``dest``: every name stays inside it (tarfile's ``data`` filter;
    zipfile drops absolute parts and ``..``)."""
    name = archive.name.lower()
    try:
        if name.endswith((".jar", ".zip")):
            with zipfile.ZipFile(archive) as z:
                z.extractall(dest)
        elif name.endswith((".tar.zst", ".tzst")):
            with archive.open("rb") as raw, zstandard.ZstdDecompressor().stream_reader(raw) as stream:
                _extract_tar(stream, dest)
        else:
            with tarfile.open(archive) as t:
                t.extractall(dest, filter="data")
    except (OSError, EOFError, zipfile.BadZipFile, tarfile.TarError, zstandard.ZstdError) as exc:
        raise RecipeError(f"{where}: cannot unpack {archive}: {exc}", hint=_HINT) from None


def _extract_tar(stream: IO[bytes], dest: Path) -> None:
    with tarfile.open(fileobj=stream, mode="r|") as t:
        t.extractall(dest, filter="data")


def find_prefix(folder: Path, *, where: str) -> Path:
    """The one prefix in ``folder`` (itself, or a folder at most a few levels down): the
    shallowest folder with ``include/pythonX.Y*/patchlevel.h`` and ``lib/pythonX.Y/``."""
    found: list[Path] = []
    for depth, candidates in enumerate(_levels(folder)):
        found = [c for c in candidates if _include_of(c) is not None]
        if found or depth >= _DEPTH:
            break
    if not found:
        raise RecipeError(
            f"{where}: {folder} holds no CPython install (no include/pythonX.Y/patchlevel.h beside lib/pythonX.Y/ "
            f"within {_DEPTH} folders of its top)",
            hint=_HINT,
        )
    if len(found) > 1:
        raise RecipeError(
            f"{where}: {folder} holds {len(found)} CPython installs: " + ", ".join(str(p.relative_to(folder)) for p in found),
            hint="point python.home at the one the bundle is for",
        )
    return found[0]


def _levels(folder: Path) -> Iterator[list[Path]]:
    """The folders under ``folder``, one depth at a time (links not followed), sorted."""
    level = [folder]
    while level:
        yield level
        level = sorted(c for p in level for c in _subfolders(p))


def _subfolders(path: Path) -> list[Path]:
    try:
        return [c for c in path.iterdir() if c.is_dir() and not c.is_symlink()]
    except OSError:
        return []


def _include_of(prefix: Path) -> tuple[Path, str, str] | None:
    """(include folder, X.Y, abiflags) of a prefix, or None if ``prefix`` is not one."""
    include = prefix / "include"
    if not include.is_dir():
        return None
    for entry in sorted(include.iterdir()):
        match = _INCLUDE.fullmatch(entry.name)
        if match and (entry / "patchlevel.h").is_file():
            short = f"{match.group(1)}.{match.group(2)}"
            if (prefix / "lib" / f"python{short}").is_dir():
                return entry, short, match.group(3)
    return None


def read(prefix: Path, *, where: str) -> Interpreter:
    """The interpreter at ``prefix``, from its files: version, ABI flags, libpython and its machine."""
    found = _include_of(prefix)
    if found is None:
        raise RecipeError(
            f"{where}: {prefix} is not a CPython install (no include/pythonX.Y/patchlevel.h beside lib/pythonX.Y/)", hint=_HINT
        )
    include, short, abiflags = found
    version = _version(include / "patchlevel.h")
    if version is None or ".".join(version.split(".")[:2]) != short:
        raise RecipeError(
            f"{where}: {include / 'patchlevel.h'} does not give Python {short}'s version (PY_MAJOR/MINOR/MICRO_VERSION)",
            hint="the tree's headers and its lib/pythonX.Y must be of the same Python",
        )
    stdlib = prefix / "lib" / f"python{short}"
    if not (stdlib / "os.py").is_file():
        raise RecipeError(f"{where}: {stdlib} holds no standard library (no os.py)", hint=_HINT)
    stem = f"libpython{short}{abiflags}"
    names = [f"{stem}.dylib", f"{stem}.so.1.0", f"{stem}.so"]
    tried = [folder / n for folder in (prefix / "lib", prefix) for n in names]
    libpython = next((p for p in tried if p.is_file()), None)
    if libpython is None:
        raise ToolchainError(
            f"{where}: {prefix} has no shared libpython (looked for {', '.join(str(p.relative_to(prefix)) for p in tried)})",
            hint="a Go program links libpython: use a tree built with --enable-shared (JavaCPP's jars and python-build-standalone's are)",
        )
    libpython = libpython.resolve()
    with libpython.open("rb") as f:
        machine = platforms.machine_of(f.read(4096))
    if machine is None:
        raise ToolchainError(
            f"{where}: {libpython} is not a binary gopack reads (neither ELF nor Mach-O)",
            hint="the tree must be a CPython build for Linux or macOS",
        )
    program = f"python{short}"
    executable = next((p for p in (prefix / "bin" / program, prefix / "bin" / "python3") if p.is_file()), prefix / "bin" / program)
    return Interpreter(
        executable=executable,
        version=version,
        abiflags=abiflags,
        prefix=prefix,
        stdlib=stdlib,
        include=include,
        libpython=libpython,
        elf_machine=machine,
        compiler=None if machine == targets.host_machine() else compiler(short, where=where),
    )


def _version(patchlevel: Path) -> str | None:
    parts = dict(_PATCHLEVEL.findall(patchlevel.read_text("utf-8", errors="replace")))
    if not {"MAJOR", "MINOR", "MICRO"} <= parts.keys():
        return None
    return f"{parts['MAJOR']}.{parts['MINOR']}.{parts['MICRO']}"


def compiler(short: str, *, where: str) -> Path:
    """A CPython ``short`` (X.Y) of this machine, which compiles the bytecode of a tree that cannot
    run here: pyenv's first, then PATH's, then uv's (as the interpreter search looks)."""
    found, rejected = interpreters.find(short, interpreters.candidates(short))
    if found is None:
        tried = "".join(f"\n  {r.path}: {r.reason}" for r in rejected) or "\n  (no pythonX.Y in pyenv versions, on PATH or managed by uv)"
        raise ToolchainError(
            f"{where}: the tree's Python {short} cannot run on this machine, and compiling its bytecode needs a CPython {short} "
            f"that can; none was found:{tried}",
            hint=f"install one (pyenv install {short}, any {short}.x: the bytecode of one minor version is the same)",
        )
    return found.executable
