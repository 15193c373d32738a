"""Stripping: drop debug sections and local symbols from libraries, safely.

Stripping a file that patchelf has edited can break it (seen with scipy:
"ELF load command address/offset not page-aligned"). gopack strips before its
own patchelf edits, and never touches the libraries in a wheel's ``*.libs``
folder. Extension modules that a wheel's repair tool did edit (they need a
hash-named library such as ``libopenblasp-r0-2d23e62b.3.17.so``) carry most of
the debug sections, so they are stripped too, but from a kept copy: every
stripped file is then dlopened by the bundle's own interpreter, and any that no
longer loads gets its original back.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from gopack import _proc
from gopack.elf.analysis import ElfInfo
from gopack.errors import BuildError

_REPAIRED_NAME = re.compile(r"-[0-9a-f]{8}\.so")
_BATCH = 200


def strippable(root: Path, info: ElfInfo) -> bool:
    if any(part.endswith(".libs") for part in Path(info.path).parts):
        return False
    try:
        with (root / info.path).open("rb") as f:
            return any(s.name.startswith(".debug") or s.name == ".symtab" for s in ELFFile(f).iter_sections())
    except (OSError, ELFError):
        return False


def edited_by_repair(info: ElfInfo) -> bool:
    """A wheel's repair tool (auditwheel) edited this file with patchelf."""
    return any(_REPAIRED_NAME.search(n) for n in info.needed)


def strip(root: Path, files: Iterable[ElfInfo], *, backup: Path) -> tuple[dict[str, int], dict[str, Path]]:
    """Strip what has debug sections; return each stripped path's size before, and
    the originals kept (in ``backup``) of files a repair tool had edited."""
    chosen = [f for f in files if strippable(root, f)]
    if not chosen:
        return {}, {}
    tool = _proc.which("strip", hint="install binutils (apt-get install binutils), or set output.strip: false")
    kept: dict[str, Path] = {}
    for info in chosen:
        if edited_by_repair(info):
            copy = backup / info.path
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / info.path, copy)
            kept[info.path] = copy
    before = {f.path: (root / f.path).stat().st_size for f in chosen}
    paths = list(before)
    for i in range(0, len(paths), _BATCH):
        _proc.run([tool, "--strip-unneeded", *(root / p for p in paths[i : i + _BATCH])], what="strip")
    return before, kept


_LOAD_CHECK = r"""
import ctypes, json, sys
failed = []
for path in json.load(sys.stdin):
    try:
        ctypes.CDLL(path, mode=getattr(ctypes, "RTLD_LOCAL", 0))
    except OSError as exc:
        failed.append("%s: %s" % (path, exc))
print(json.dumps(failed))
"""


def loads(python: Path, paths: Iterable[Path]) -> list[str]:
    """The paths that do not dlopen in the bundle's interpreter (module init is not run), with why."""
    wanted = [os.fspath(p) for p in paths if p.name.endswith(".so") or ".so." in p.name]
    if not wanted:
        return []
    out = _proc.run([python, "-E", "-s", "-c", _LOAD_CHECK], input=json.dumps(wanted), what="load check of stripped libraries")
    return list(json.loads(out.strip().splitlines()[-1]))


def check_stripped(python: Path, root: Path, stripped: Iterable[str], kept: dict[str, Path]) -> list[str]:
    """Every stripped file must load; a repaired file that does not gets its original back.
    Returns the files restored; raises if a file gopack stripped from pristine fails."""
    failed = loads(python, [root / p for p in stripped])
    restored = []
    for line in failed:
        path = Path(line.split(": ", 1)[0]).relative_to(root).as_posix()
        if path not in kept:
            raise BuildError("stripped libraries no longer load:\n  " + "\n  ".join(failed), hint="set output.strip: false in the recipe and report this")
        shutil.copy2(kept[path], root / path)
        restored.append(path)
    if restored and loads(python, [root / p for p in restored]):
        raise BuildError(f"{', '.join(restored)} do not load even as the wheel shipped them")
    return restored
