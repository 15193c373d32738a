"""macOS: Mach-O files, dyld, ad-hoc signatures, the ``macosx_`` tag. A :class:`gopack.platform.base.Platform`.

Nothing of the target runs on the build machine: the tree's files are found by their
magic, thinned, relocated and signed by Python code (:mod:`.relocate`), and proven by
the same static dyld model ``verify`` uses (:mod:`.linkage`). There is no strip (Mach-O
files ship as their wheels and the interpreter's tree had them) and no load check by
running: the manifest's ``stripped`` section says zero files.

Requirements (the manifest's ``requirements``): file -> ``{"macOS": {"14.7"}}``, its
minimum macOS (LC_BUILD_VERSION's minos, else LC_VERSION_MIN_MACOSX's); the floor's
``highest`` is ``{"macOS": "14.7"}``, and its tag ``macosx_14_0_arm64``: from macOS 11 on,
a wheel tag names the major version only (pip takes ``macosx_14_0`` for every 14.x), before
it ``macosx_10_13``. A floor above ``target.macos`` is an error naming the files.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gopack.errors import BuildError
from gopack.platform.base import Linkage, Origin, Requirements, RuntimeBase
from gopack.platform.macos import linkage, macho, relocate, signature
from gopack.platform.macos.relocate import Relocated
from gopack.platform.target import Target

FAMILY = "macOS"
#: Go 1.25 and later need macOS 12 whatever the link says (research/macos.md).
GO_MINIMUM = "12.0"


def version_key(version: str) -> tuple[int, ...]:
    """ "14.7" -> (14, 7); a version from a stranger's file that is not numbers sorts lowest."""
    try:
        return tuple(int(p) for p in version.split("."))
    except ValueError:
        return ()


def tag_of(version: str, machine: str) -> str:
    """The wheel-style tag of a floor: ``macosx_14_0_arm64``, ``macosx_10_13_x86_64``."""
    major, minor = (*version_key(version), 0, 0)[:2]
    return f"macosx_{major}_{0 if major >= 11 else minor}_{macho.ARCH_NAMES.get(machine, machine)}"


@dataclass(frozen=True, kw_only=True)
class Floor:
    tag: str
    highest: Mapping[str, str]


def machine_of_target(target: Target) -> str:
    return macho.MACHINES.get(target.goarch, f"MACHO_{target.goarch}")


class MacosPlatform:
    name: str = "macos"
    tag_prefixes: tuple[str, ...] = ("macosx_",)
    #: A smoke run's bare root is Linux's; a macOS bundle's smoke test runs on a Mac only.
    system_libraries: frozenset[str] = frozenset()

    def tree_binaries(
        self, root: Path, python: Path, *, backup: Path, strip: bool, target: Target, libraries: Sequence[Path] = ()
    ) -> TreeBinaries:
        return TreeBinaries(root, target=target, libraries=libraries)

    def relocate_program(self, root: Path, program: str, *, target: Target) -> Relocated:
        """The Go program signed ad hoc where zig left it unsigned (x86_64), and proven to load."""
        path = root / program
        found = relocate.read(path)
        if found is None:
            raise BuildError(f"{program}: the Go program is not a Mach-O executable", hint="build it with GOOS=darwin")
        data, image = found
        if image.machine != machine_of_target(target):
            raise BuildError(f"{program} is for {image.machine}, the target is {machine_of_target(target)}")
        if not relocate.signed(data, image):
            relocate.write(path, signature.sign(data, path.name))
        checked = linkage.check(root, program=linkage.Program(path=program, rpaths=image.rpaths), signatures=True)
        mine = [p for p in checked.problems if p.startswith(program)]
        if mine:
            raise BuildError("the Go program would not load on macOS:\n  " + "\n  ".join(mine))
        minos = max(image.minos or GO_MINIMUM, GO_MINIMUM, key=version_key)
        return Relocated(
            host_libraries=tuple(sorted(load.path for load in image.loads if linkage.is_system(load.path))),
            requirements={program: {FAMILY: frozenset({minos})}},
        )

    def floor(self, requirements: Requirements, *, machine: str, target: Target) -> Floor:
        versions = {f: max(v.get(FAMILY, ()), key=version_key) for f, v in requirements.items() if v.get(FAMILY)}
        highest = max(versions.values(), key=version_key, default=GO_MINIMUM)
        ceiling: str | None = getattr(target, "macos", None)
        if ceiling is not None:
            newer = sorted((f, v) for f, v in versions.items() if version_key(v) > version_key(ceiling))
            if newer:
                where = getattr(target, "where_macos", "target.macos")
                lines = [f"  {f}: macOS {v}" for f, v in newer[:40]] + ([f"  ... and {len(newer) - 40} more"] if len(newer) > 40 else [])
                raise BuildError(
                    f"{where}: the bundle needs macOS {highest}, newer than {ceiling}; these files need a newer macOS:\n"
                    + "\n".join(lines),
                    hint=f"raise target.macos to {highest}, or use an interpreter and wheels built for macOS {ceiling}",
                )
        return Floor(tag=tag_of(highest, machine), highest={FAMILY: highest})

    def needs_of(self, requirements: Requirements, program: str, *, machine: str) -> dict[str, str]:
        versions = requirements.get(program, {}).get(FAMILY, frozenset())
        return {FAMILY: max(versions, key=version_key)} if versions else {}

    def machine_of(self, head: bytes) -> str | None:
        return macho.machine_of(head)

    def runtime_base(self, root: Path, *, program: str, host_libraries: Sequence[str], target: Target) -> RuntimeBase:
        raise BuildError("an OCI image of a macOS bundle: images are Linux-only", hint="leave output.image out for target.os: macos")

    def origins(self, files: Sequence[str], *, target: Target) -> dict[str, Origin]:
        return {}

    def needed(self, root: Path, rel: str) -> tuple[str, ...] | None:
        try:
            found = linkage.read(root, rel)
        except macho.Malformed:
            return None
        return None if found is None else tuple(load.path for load in found.image.loads)

    def linkage(self, root: Path, *, accepted: frozenset[tuple[str, str]], tag: str = "") -> Linkage:
        found = linkage.check(root, signatures=True)
        problems = list(found.problems)
        highest = max(found.minos.values(), key=version_key, default=None)
        floor = _tag_version(tag)
        if floor is not None:
            newer = sorted(f for f, v in found.minos.items() if _above(version_key(v), floor))
            problems += [f"{f} needs macOS {found.minos[f]}, above the archive's tag {tag}" for f in newer[:20]]
        if len(found.machines) == 1 and tag and not tag.endswith("_" + macho.ARCH_NAMES.get(next(iter(found.machines)), "?")):
            problems.append(f"its images are {', '.join(found.machines)}, its tag says {tag}")
        arch = ", ".join(sorted(macho.ARCH_NAMES.get(m, m) for m in found.machines)) or "no images"
        summary = (
            f"{found.images} Mach-O images, all {arch}, signed (every page hash matches), oldest macOS {highest}; "
            f"outside the bundle they load only macOS's own {', '.join(sorted(found.system))}"
        )
        return Linkage(problems=tuple(problems), summary=summary)

    def smoke_elsewhere(self) -> str | None:
        if sys.platform == "darwin":
            return None
        return "not run: a macOS bundle's smoke test needs a Mac (the static checks above are what Linux can prove)"


def _above(version: tuple[int, ...], floor: tuple[int, int]) -> bool:
    """A file's minimum macOS is newer than a tag's (from 11 on a tag names the major version only)."""
    return version[:1] > floor[:1] if floor[0] >= 11 else version > floor


def _tag_version(tag: str) -> tuple[int, int] | None:
    """``macosx_14_0_arm64`` -> (14, 0)."""
    parts = tag.split("_")
    if len(parts) < 4 or not parts[1].isdigit() or not parts[2].isdigit():
        return None
    return int(parts[1]), int(parts[2])


class TreeBinaries:
    """The tree's Mach-O files: thinned as each part lands (:meth:`add`), made self-contained
    and signed at once (:meth:`relocate`), proven by the static dyld check (:meth:`check`)."""

    def __init__(self, root: Path, *, target: Target, libraries: Sequence[Path] = ()) -> None:
        self.root, self.target, self.libraries = root, target, tuple(libraries)
        self.machine = machine_of_target(target)
        self.files: list[str] = []
        self.applied: Relocated | None = None

    def add(self, *, under: Path | None = None, skip: Path | None = None) -> None:
        top = under or self.root
        if not top.is_dir():
            return
        prefix = top.relative_to(self.root).as_posix()
        found = [rel if prefix == "." else f"{prefix}/{rel}" for rel in linkage.macho_files(top)]
        if skip is not None:
            skipped = skip.relative_to(self.root).as_posix() + "/"
            found = [rel for rel in found if not rel.startswith(skipped)]
        relocate.thin(self.root, found, machine=self.machine)
        self.files = sorted({*self.files, *found})

    def relocate(self) -> None:
        self.applied = relocate.apply(self.root, self.files, machine=self.machine, libraries=self.libraries)

    def check(self) -> Relocated:
        assert self.applied is not None, "relocate() comes first"
        return relocate.check(self.root, self.applied, machine=self.machine)

    def stripped(self) -> dict[str, Any]:
        return {"files": 0, "bytes": 0, "restored": [], "blanked": {"files": 0, "bytes": 0}}


MACOS = MacosPlatform()
