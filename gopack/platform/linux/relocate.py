"""The relocate stage: analyse a staged tree, vendor what the host may lack,
check the result, and record the symbol versions that set the glibc floor.

It runs twice per bundle: once over the Python tree (whose result is cached)
and once over the Go binary, which changes with every build and is never
edited: a library it needs is copied in under its own name, into the
directory its link-time RPATH names.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from gopack.errors import BuildError
from gopack.platform.base import Vendored
from gopack.platform.linux import analysis, patch
from gopack.platform.linux.analysis import ElfInfo, FileFacts, Floor
from gopack.platform.target import LOW_FLOOR_HINT

Requirements = Mapping[str, Mapping[str, frozenset[str]]]
log = logging.getLogger(__name__)
_SITE_PACKAGES = re.compile(r"^python/lib/python[^/]+/site-packages/")


def _in_wheel(path: str) -> bool:
    """An installed distribution's file (an optional extension, such as numba's ``tbbpool``
    without the ``tbb`` wheel, may need what nothing here has), not the interpreter's own."""
    return bool(_SITE_PACKAGES.match(path))


@dataclass(frozen=True, kw_only=True)
class Relocated:
    vendored: tuple[Vendored, ...]
    host_libraries: tuple[str, ...]
    requirements: Requirements
    edited: int
    #: (file, soname) a wheel's module needs that exists nowhere: it ships as the wheel had it.
    unresolved: tuple[tuple[str, str], ...] = ()


def facts(root: Path, files: Sequence[ElfInfo], *, ld_paths: Sequence[str] | None = None) -> dict[str, FileFacts]:
    """The analysis :func:`apply` starts from, of ``files`` only (see its ``known``)."""
    return analysis.facts(root, executable_rpath=[root / patch.LIBDIR], files=files, ld_paths=ld_paths)


def relocate(
    root: Path,
    *,
    frozen: frozenset[str] = frozenset(),
    only: frozenset[str] | None = None,
    files: Sequence[ElfInfo] | None = None,
    ld_paths: Sequence[str] | None = None,
    where: str = "on this machine",
) -> Relocated:
    """Vendor and rewrite so that everything under ``root`` (or just ``only``) is self-contained.
    ``files``: :func:`analysis.elf_files` of ``root``, if the caller has it; ``ld_paths``: where
    the target's libraries are (the target's ``ld_paths``; the host's when None), ``where`` says
    where that is."""
    return check(apply(root, frozen=frozen, only=only, files=files, ld_paths=ld_paths, where=where))


@dataclass(frozen=True, kw_only=True)
class Applied:
    """What :func:`apply` did, for :func:`check`."""

    root: Path
    before: dict[str, FileFacts]
    plan: patch.RelocationPlan
    frozen: frozenset[str]
    only: frozenset[str] | None
    ld_paths: Sequence[str] | None = None
    unresolved: tuple[tuple[str, str], ...] = ()


def apply(
    root: Path,
    *,
    frozen: frozenset[str] = frozenset(),
    only: frozenset[str] | None = None,
    files: Sequence[ElfInfo] | None = None,
    known: Mapping[str, FileFacts] | None = None,
    ld_paths: Sequence[str] | None = None,
    where: str = "on this machine",
) -> Applied:
    """The edits of :func:`relocate`: analyse, vendor, rewrite. Every file is final when it returns.
    ``known``: facts (:func:`facts`) of some files, found while the rest of the tree was being made.
    ``where``: where ``ld_paths`` are, for messages ("in the root /srv/debian11")."""
    libdir = root / patch.LIBDIR
    facts = analysis.facts(root, executable_rpath=[libdir], only=only, files=files, known=known, ld_paths=ld_paths)
    before = analysis.combine(facts.values())
    optional = tuple(u for u in before.unresolved if _in_wheel(u[0]))
    fatal = [u for u in before.unresolved if u not in optional]
    if fatal:
        raise BuildError(
            f"libraries needed by the bundle were found neither in it nor {where}:\n"
            + "\n".join(f"  {needer} needs {soname}" for needer, soname in fatal),
            hint="install the missing libraries on the build machine (or in the sysroot), or prune the modules that need them",
        )
    for needer, soname in optional:
        log.warning(
            "%s needs %s, which is nowhere (not in any wheel, not %s): it ships as the wheel had it and "
            "will not import (as in a virtual environment here); install the library or its wheel if the program uses it",
            needer,
            soname,
            where,
        )
    shipped = frozenset(p.name for p in libdir.iterdir() if p.name.startswith("lib")) if libdir.is_dir() else frozenset()
    plan = patch.plan(before, frozen=frozen, shipped=shipped)
    patch.apply(plan, root)
    return Applied(root=root, before=facts, plan=plan, frozen=frozen, only=only, ld_paths=ld_paths, unresolved=optional)


def check(applied: Applied) -> Relocated:
    """The proof of :func:`relocate` (it only reads): nothing reaches outside the bundle any
    more; and the symbol versions the files need."""
    root, plan = applied.root, applied.plan
    libdir = root / patch.LIBDIR
    after = analysis.combine(_after(root, libdir, applied.before, plan, applied.only, applied.ld_paths).values())
    leftovers = [f"{e.soname} (needed by {', '.join(e.needed_by)})" for e in after.externals]
    leftovers += [f"{n} needs {s}, which does not resolve" for n, s in after.unresolved if (n, s) not in applied.unresolved]
    leftovers += [f"{f} searches {p}" for f, p in after.absolute_paths if f not in applied.frozen]
    if leftovers:
        raise BuildError("after vendoring, the bundle still reaches outside itself:\n  " + "\n  ".join(leftovers))
    vendored_files = [info for v in plan.vendored if (info := analysis.elf_info(root, f"{patch.LIBDIR}/{v.name}")) is not None]
    files = [*after.files, *vendored_files]
    return Relocated(
        vendored=plan.vendored,
        host_libraries=after.host_libraries,
        requirements=analysis.symbol_requirements({f.path: f for f in files}.values()),
        edited=len(plan.edits),
        unresolved=applied.unresolved,
    )


def _info_after(root: Path, path: str, before: dict[str, FileFacts], plan: patch.RelocationPlan) -> ElfInfo | None:
    """``path``'s dynamic section after the edits, read again only if they touched it. patchelf
    changes DT_NEEDED and the search paths, never the symbol versions: those carry over."""
    if path not in before:
        return analysis.elf_info(root, path)  # vendored now
    if path not in plan.edits:
        return before[path].info
    info = analysis.elf_info(root, path, versions=False)
    return None if info is None else replace(info, versions=before[path].info.versions)


def _after(
    root: Path,
    libdir: Path,
    before: dict[str, FileFacts],
    plan: patch.RelocationPlan,
    only: frozenset[str] | None,
    ld_paths: Sequence[str] | None,
) -> dict[str, FileFacts]:
    """The facts after :func:`patch.apply`, analysing again only what it could have changed:
    the files it wrote or edited and those whose trees load one of them. Every other
    file needs, searches and loads what it did before."""
    changed = set(plan.edits) | {f"{patch.LIBDIR}/{v.name}" for v in plan.vendored}
    present = set(only) if only is not None else {*before, *(f"{patch.LIBDIR}/{v.name}" for v in plan.vendored)}
    again = {p for p in present if p not in before or p in changed or before[p].reaches & changed}
    fresh = analysis.facts(
        root,
        executable_rpath=[libdir],
        files=[i for p in sorted(again) if (i := _info_after(root, p, before, plan)) is not None],
        ld_paths=ld_paths,
    )
    kept = {p: before[p] for p in present - again}
    return {p: {**kept, **fresh}[p] for p in sorted({*kept, *fresh}, key=analysis.walk_order)}


def floor(requirements: Requirements, *, machine: str, max_glibc: str | None, where_max: str) -> Floor:
    """The glibc floor and platform tag; a BuildError naming files and symbols above ``max_glibc``."""
    result = analysis.floor_of(requirements, machine)
    if max_glibc is not None:
        newer = analysis.too_new(result, max_glibc)
        if newer:
            lines = [f"  {path}: {version} ({', '.join(sorted(symbols)) or 'no symbol named'})" for path, version, symbols in newer]
            raise BuildError(
                f"{where_max}: the bundle needs glibc {result.highest['GLIBC']}, newer than {max_glibc}; these files require newer symbols:\n"
                + "\n".join(lines[:40])
                + (f"\n  ... and {len(lines) - 40} more" if len(lines) > 40 else ""),
                hint=LOW_FLOOR_HINT,
            )
    return result
