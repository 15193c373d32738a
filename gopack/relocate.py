"""The relocate stage: analyse the staged tree, vendor what the host may lack,
check the result, and work out the glibc floor and the platform tag."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gopack.elf import analysis, patch
from gopack.elf.analysis import Floor
from gopack.elf.patch import Vendored
from gopack.errors import BuildError


@dataclass(frozen=True, kw_only=True)
class Relocated:
    vendored: tuple[Vendored, ...]
    host_libraries: tuple[str, ...]
    floor: Floor
    edited: int


def relocate(root: Path, *, go_binary: str, machine: str, max_glibc: str | None, where_max: str) -> Relocated:
    libdir = root / patch.LIBDIR
    before = analysis.analyse(root, executable_rpath=[libdir])
    if before.unresolved:
        raise BuildError(
            "libraries needed by the bundle were found neither in it nor on this machine:\n"
            + "\n".join(f"  {needer} needs {soname}" for needer, soname in before.unresolved),
            hint="install the missing libraries on the build machine, or drop the modules that need them",
        )
    plan = patch.plan(before, frozen=frozenset({go_binary}))
    patch.apply(plan, root)
    after = analysis.analyse(root, executable_rpath=[libdir])
    leftovers = [f"{e.soname} (needed by {', '.join(e.needed_by)})" for e in after.externals]
    leftovers += [f"{n} needs {s}, which does not resolve" for n, s in after.unresolved]
    leftovers += [f"{f} searches {p}" for f, p in after.absolute_paths if f != go_binary]
    if leftovers:
        raise BuildError("after vendoring, the bundle still reaches outside itself:\n  " + "\n  ".join(leftovers))
    floor = analysis.glibc_floor(root, after.files, machine)
    if max_glibc is not None:
        newer = analysis.too_new(floor, max_glibc)
        if newer:
            lines = [f"  {path}: {version} ({', '.join(sorted(symbols)) or 'no symbol named'})" for path, version, symbols in newer]
            raise BuildError(
                f"{where_max}: the bundle needs glibc {floor.highest['GLIBC']}, newer than {max_glibc}; these files require newer symbols:\n"
                + "\n".join(lines[:40]) + (f"\n  ... and {len(lines) - 40} more" if len(lines) > 40 else ""),
                hint="build on an older distribution (e.g. in a manylinux container) or raise max_glibc",
            )
    return Relocated(vendored=plan.vendored, host_libraries=after.host_libraries, floor=floor, edited=len(plan.edits))
