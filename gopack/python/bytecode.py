"""Bytecode precompiled by the target interpreter: deterministic, parallel, and
naming no path of the build machine.

3.7+ writes unchecked-hash pycs (PEP 552): valid whatever the files' times,
never re-validated against the source, so a read-only install starts at full
speed. 2.7 only has timestamp pycs: sources are stamped with the archive's
fixed time first, which is also the time they carry after extraction. Code
objects record a bundle-relative file name, so nothing points at the staging
directory.

Determinism: marshal decides back-references from reference counts, so a pyc's
bytes depend on what else the compiling process has touched. ``compileall -j``
hands files to workers as they free up, which differs from run to run. gopack
instead splits the sorted file list into a fixed number of slices, each
compiled in order by a fresh process: the same inputs give the same bytes on
any machine, whatever its number of cores.

The stdlib is not compiled again where the interpreter has compiled it
already (3.7+; pyenv, python.org and Debian's builds all do): a pyc in the
interpreter's own ``__pycache__`` whose header matches the copied file (its
time and size, or its hash) holds the code object compiling would give, only
naming the interpreter's path. It is loaded, renamed to the bundle-relative
name and written as the unchecked-hash pyc: about a seventh of the CPU of
compiling (0.14 s against 0.92 s for 3.8's stdlib). Its bytes are those of a
fresh process that loaded it, so they differ from a compiled file's where
marshal's back-references do; the same interpreter install gives the same
bytes every time.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from types import TracebackType
from typing import final

from gopack import _cputime, _proc
from gopack.errors import BuildError
from gopack.platform import target as targets
from gopack.platform.target import Target

#: Slices per folder (each a process). gopack compiles the stdlib and site-packages
#: as two folders, so 4 keep 8 processes for a big machine and start few on a small one.
SLICES = 4
#: Compiling runs beside the critical path (strip, relocate); at a lower priority it takes
#: the CPU they leave, instead of slowing them down.
NICE = 10

_COMPILE = r"""
import json, os, py_compile, sys
os.nice(NICE)
kwargs = {}
reuse = None
if sys.version_info >= (3, 7):
    kwargs["invalidation_mode"] = py_compile.PycInvalidationMode.UNCHECKED_HASH
    import importlib.util, marshal
    from importlib import _bootstrap_external as bootstrap

    def renamed(code, name):
        consts = tuple(renamed(c, name) if isinstance(c, type(code)) else c for c in code.co_consts)
        if hasattr(code, "replace"):
            return code.replace(co_filename=name, co_consts=consts)
        return type(code)(  # 3.7: no replace
            code.co_argcount, code.co_kwonlyargcount, code.co_nlocals, code.co_stacksize, code.co_flags,
            code.co_code, consts, code.co_names, code.co_varnames, name, code.co_name, code.co_firstlineno,
            code.co_lnotab, code.co_freevars, code.co_cellvars,
        )

    def reuse(source, dfile, cfile, origin):
        # The interpreter's own pyc of origin, if made from the bytes source holds: True once written.
        try:
            with open(importlib.util.cache_from_source(origin), "rb") as f:
                pyc = f.read()
            with open(source, "rb") as f:
                data = f.read()
        except (OSError, ValueError, NotImplementedError):
            return False
        if len(pyc) < 16 or pyc[:4] != importlib.util.MAGIC_NUMBER:
            return False
        flags = int.from_bytes(pyc[4:8], "little")
        digest = importlib.util.source_hash(data)
        if flags == 0:
            stamp = (int(os.stat(source).st_mtime) & 0xFFFFFFFF).to_bytes(4, "little") + (len(data) & 0xFFFFFFFF).to_bytes(4, "little")
            if pyc[8:16] != stamp:
                return False
        elif flags not in (1, 3) or pyc[8:16] != digest:
            return False
        try:
            code = renamed(marshal.loads(pyc[16:]), dfile)
        except (EOFError, ValueError, TypeError):
            return False
        cfile = cfile or importlib.util.cache_from_source(source)
        os.makedirs(os.path.dirname(cfile), exist_ok=True)
        bootstrap._write_atomic(cfile, bootstrap._code_to_hash_pyc(code, digest, False), bootstrap._calc_mode(source))
        return True
failed = []
for source, dfile, legacy, origin in json.load(sys.stdin):
    cfile = source + "c" if (legacy or sys.version_info[0] == 2) else None
    if reuse is not None and origin is not None and reuse(source, dfile, cfile, origin):
        continue
    try:
        py_compile.compile(source, cfile=cfile, dfile=dfile, doraise=True, **kwargs)
    except (py_compile.PyCompileError, SyntaxError, UnicodeDecodeError, ValueError) as exc:
        failed.append(source)
sys.stdout.write(json.dumps(failed) + "\n")
"""


def compile_tree(
    python: Path, directory: Path, *, relative_to: Path, version: str, keep_sources: bool, epoch: int, target: Target | None = None
) -> list[str]:
    """Compile every .py under ``directory`` with ``python``, the interpreter the bundle
    ships or the one it was copied from (the same build: the same bytes).

    Returns the files that do not compile (Python 2 syntax in a data folder,
    say); they stay as source, as pip would leave them.
    """
    keep = _always(keep_sources)
    sources, failed = _compile(python, directory, relative_to=relative_to, version=version, keep=keep, epoch=epoch, target=target)
    return _finish(python, directory, sources, failed, keep=keep)


@final  # __enter__ returns exactly this class
class Background:
    """Compiles folders (as :func:`compile_tree`) while the caller works on other files; the
    compiling waits mostly on its processes. ``python`` must not be the tree's own
    interpreter, which the caller may be editing. The sources go when the ``with``
    block ends, as the caller may run the tree's interpreter, which imports them,
    until then; an error in the block stops the compiling processes instead.
    """

    def __init__(
        self, python: Path, *, relative_to: Path, version: str, keep_sources: bool, epoch: int, target: Target | None = None
    ) -> None:
        self.python, self.relative_to, self.version, self.keep_sources, self.epoch = python, relative_to, version, keep_sources, epoch
        self.target = target
        self.running = contextlib.ExitStack()
        self.jobs: list[tuple[Path, Callable[[Path], bool], Future[tuple[list[Path], list[str]]]]] = []

    def add(
        self, directory: Path, *, skip: Path | None = None, keep: Callable[[Path], bool] | None = None, origin: Path | None = None
    ) -> None:
        """Start compiling the .py files under ``directory``, those under ``skip`` excepted.
        ``keep`` says which sources stay (default: all or none, as ``keep_sources``);
        ``origin``: the folder ``directory`` was copied from, whose ``__pycache__`` bytecode
        is reused where it matches (see the module's text)."""
        chosen = keep or _always(self.keep_sources)

        def task(cancel: _proc.Cancel) -> tuple[list[Path], list[str]]:
            with _cputime.step("bytecode"):
                return _compile(
                    self.python,
                    directory,
                    skip=skip,
                    origin=origin,
                    relative_to=self.relative_to,
                    version=self.version,
                    keep=chosen,
                    epoch=self.epoch,
                    cancel=cancel,
                    target=self.target,
                )

        self.jobs.append((directory, chosen, _proc.start(self.running, task, name="bytecode")))

    def __enter__(self) -> Background:
        self.running.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None) -> None:
        self.running.__exit__(kind, value, traceback)  # waits for the compiling; on an error, stops it first
        if kind is None:
            for directory, keep, compiling in self.jobs:
                with _cputime.step("bytecode"):
                    _finish(self.python, directory, *compiling.result(), keep=keep)


def _compile(
    python: Path,
    directory: Path,
    *,
    skip: Path | None = None,
    origin: Path | None = None,
    relative_to: Path,
    version: str,
    keep: Callable[[Path], bool],
    epoch: int,
    cancel: _proc.Cancel | None = None,
    target: Target | None = None,
) -> tuple[list[Path], list[str]]:
    """(every source, those that did not compile). A source that stays gets its pyc in
    __pycache__; one that goes, a pyc in its place (the sourceless layout)."""
    sources = sorted(_sources(directory, skip))
    if not sources:
        return [], []
    if version.startswith("2."):
        for source in sources:
            os.utime(source, (epoch, epoch))
    jobs: list[list[object]] = [
        [str(s), s.relative_to(relative_to).as_posix(), not keep(s), None if origin is None else str(origin / s.relative_to(directory))]
        for s in sources
    ]
    slices = [jobs[i::SLICES] for i in range(SLICES) if jobs[i::SLICES]]
    # Not -E: the hash seed must be fixed (set and frozenset constants keep its order).
    # -S: no site-packages and no .pth files of the compiling interpreter's home.
    # -B: the compiling process must not write caches for its own imports.
    env = {"PYTHONHASHSEED": "0", "PYTHONHOME": str(python.parent.parent), "PYTHONPATH": ""}

    def run(part: list[list[object]]) -> list[str]:
        out = _proc.run(
            [*targets.launch(target, python), "-S", "-B", "-c", _COMPILE.replace("NICE", str(NICE))],
            input=json.dumps(part),
            env=env,
            what=f"compiling bytecode in {directory.name}",
            cancel=cancel,
        )
        return list(json.loads(out.strip().splitlines()[-1]))

    return sources, sorted(f for part in _proc.in_parallel(run, slices) for f in part)


def _sources(directory: Path, skip: Path | None) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(directory):
        if skip is not None:
            dirnames[:] = [d for d in dirnames if Path(dirpath, d) != skip]
        for name in filenames:
            if name.endswith(".py") and os.path.isfile(full := os.path.join(dirpath, name)):
                yield Path(full)


def _always(keep_sources: bool) -> Callable[[Path], bool]:
    return lambda source: keep_sources


def _finish(python: Path, directory: Path, sources: list[Path], failed: list[str], *, keep: Callable[[Path], bool]) -> list[str]:
    """Remove the sources that compiled (unless they are kept); return those that did not."""
    if len(failed) > len(sources) // 2:
        raise BuildError(
            f"{len(failed)} of {len(sources)} files in {directory} do not compile with {python.name}",
            hint="is the code for this Python version?",
        )
    gone = set(failed)
    for source in sources:
        if str(source) not in gone and not keep(source):
            source.unlink()
    return failed
