"""Stripping: drop debug sections and local symbols from libraries, safely.

Stripping a file that patchelf has edited can break it (seen with scipy:
"ELF load command address/offset not page-aligned"). gopack strips before its
own patchelf edits, and leaves alone the files a wheel's repair tool already
edited: those in ``*.libs`` folders and those that need a hash-named library
(``libopenblasp-r0-2d23e62b.3.17.so``). Afterwards every stripped file must
still load: the bundle's own interpreter dlopens each one.
"""

from __future__ import annotations

import json
import os
import re
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
    if any(part.endswith(".libs") for part in Path(info.path).parts) or any(_REPAIRED_NAME.search(n) for n in info.needed):
        return False
    try:
        with (root / info.path).open("rb") as f:
            return any(s.name.startswith(".debug") or s.name == ".symtab" for s in ELFFile(f).iter_sections())
    except (OSError, ELFError):
        return False


def strip(root: Path, files: Iterable[ElfInfo]) -> tuple[list[str], int]:
    """Strip what is safe to; return the stripped paths and the bytes saved."""
    chosen = [f.path for f in files if strippable(root, f)]
    if not chosen:
        return [], 0
    tool = _proc.which("strip", hint="install binutils (apt-get install binutils), or set output.strip: false")
    before = sum((root / p).stat().st_size for p in chosen)
    for i in range(0, len(chosen), _BATCH):
        _proc.run([tool, "--strip-unneeded", *(root / p for p in chosen[i : i + _BATCH])], what="strip")
    return chosen, before - sum((root / p).stat().st_size for p in chosen)


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


def check_loads(python: Path, paths: Iterable[Path]) -> None:
    """Every path must dlopen in the bundle's interpreter (module init is not run)."""
    wanted = [os.fspath(p) for p in paths if p.name.endswith(".so") or ".so." in p.name]
    if not wanted:
        return
    out = _proc.run([python, "-E", "-s", "-c", _LOAD_CHECK], input=json.dumps(wanted), what="load check of stripped libraries")
    failed = json.loads(out.strip().splitlines()[-1])
    if failed:
        raise BuildError("stripped libraries no longer load:\n  " + "\n  ".join(failed), hint="set output.strip: false in the recipe and report this")
