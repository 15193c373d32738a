"""Linux: ELF files, glibc's loader, the manylinux tag. The first :class:`gopack.platform.base.Platform`.

Strip (:mod:`.strip`), analysis (:mod:`.analysis`, auditwheel's lddtree and policy),
vendoring and RUNPATH edits (:mod:`.relocate`, :mod:`.patch`), each as it was; this
module only puts them behind the interface the stages use.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gopack import _cputime
from gopack.platform.base import Linkage, Origin, Requirements, RuntimeBase
from gopack.platform.linux import analysis, dpkg, linkage, relocate, runtime
from gopack.platform.linux import strip as stripping
from gopack.platform.linux.analysis import Floor
from gopack.platform.linux.patch import LIBDIR
from gopack.platform.linux.relocate import Relocated
from gopack.platform.target import Target


class LinuxPlatform:
    name: str = "linux"
    tag_prefixes: tuple[str, ...] = ("manylinux_", "linux_")
    system_libraries: frozenset[str] = analysis.HOST_LIBRARIES

    def tree_binaries(
        self, root: Path, python: Path, *, backup: Path, strip: bool, target: Target, libraries: Sequence[Path] = ()
    ) -> TreeBinaries:
        # libraries: ELF's missing libraries come from the target's root, not from folders by name.
        return TreeBinaries(root, python, backup=backup, strip=strip, target=target)

    def relocate_program(self, root: Path, program: str, *, target: Target) -> Relocated:
        return relocate.relocate(
            root, frozen=frozenset({program}), only=frozenset({program}), ld_paths=target.ld_paths, where=target.libraries_where
        )

    def floor(self, requirements: Requirements, *, machine: str, target: Target) -> Floor:
        return relocate.floor(requirements, machine=machine, max_glibc=target.floor, where_max=target.where_glibc)

    def needs_of(self, requirements: Requirements, program: str, *, machine: str) -> dict[str, str]:
        return dict(analysis.floor_of({program: requirements.get(program, {})}, machine).highest)

    def machine_of(self, head: bytes) -> str | None:
        return analysis.header_machine(head)

    def runtime_base(self, root: Path, *, program: str, host_libraries: Sequence[str], target: Target) -> RuntimeBase:
        return runtime.runtime_base(root, program=program, host_libraries=host_libraries, target=target)

    def origins(self, files: Sequence[str], *, target: Target) -> dict[str, Origin]:
        root = target.sysroot or Path("/")
        inside: dict[str, str] = {}  # the path as the root sees it -> the host path asked about
        for file in files:
            for path in (Path(file), target.real(file)):
                try:
                    inside.setdefault("/" + path.relative_to(root).as_posix(), file)
                except ValueError:
                    continue  # not in the root: nothing of the root's packages
        return {inside[f]: origin for f, origin in dpkg.origins(inside, root=root).items()}

    def needed(self, root: Path, rel: str) -> tuple[str, ...] | None:
        try:
            found = linkage.read_file(root, rel)
        except linkage.Malformed:
            return None
        return None if found is None else tuple(linkage.text(n) for n in found.needed)

    def linkage(self, root: Path, *, accepted: frozenset[tuple[str, str]], tag: str = "") -> Linkage:
        # An archive nobody vouched for: its own bounded reader, never lddtree (see .linkage).
        found = linkage.check(root, libdir=LIBDIR, allowed=self.system_libraries, accepted=accepted)
        summary = f"{found.files} ELF files; outside the bundle they need only {', '.join(sorted(found.host))}"
        return Linkage(problems=found.problems, summary=summary)

    def smoke_elsewhere(self) -> str | None:
        return None  # verify's sandboxes are Linux's; another machine's bundle runs under qemu-user


class TreeBinaries:
    """Each part of the tree's ELF files, as soon as it is in place: stripped (before any
    patchelf edit), checked to load (an original put back then gets gopack's edits like any
    file), and analysed for :func:`relocate.apply`. Strip and the checks leave the dynamic
    sections as they are, so each file is read once."""

    def __init__(self, root: Path, python: Path, *, backup: Path, strip: bool, target: Target) -> None:
        self.root, self.python, self.backup, self.strip, self.target = root, python, backup, strip, target
        self.files: list[analysis.ElfInfo] = []
        self.sizes: dict[str, int] = {}
        self.checked = stripping.Checked()
        self.facts: dict[str, analysis.FileFacts] = {}
        self.applied: relocate.Applied | None = None

    def add(self, *, under: Path | None = None, skip: Path | None = None) -> None:
        with _cputime.step("ELF analysis"):
            files = analysis.elf_files(self.root, under=under, skip=skip)
        with _cputime.step("strip"):
            sizes, kept = stripping.strip(self.root, files, backup=self.backup, tool=self.target.tool("strip")) if self.strip else ({}, {})
        with _cputime.step("load check"):
            checked = stripping.check_stripped(self.python, self.root, sizes, kept, target=self.target)
        with _cputime.step("ELF analysis"):
            self.facts.update(relocate.facts(self.root, files, ld_paths=self.target.ld_paths))
        self.files = sorted([*self.files, *files], key=lambda f: analysis.walk_order(f.path))
        self.sizes.update(sizes)
        self.checked = stripping.Checked(
            restored=dict(sorted({**self.checked.restored, **checked.restored}.items())),
            blanked={**self.checked.blanked, **checked.blanked},
        )

    def relocate(self) -> None:
        """Vendor what the target may lack and rewrite RUNPATHs, over every file added."""
        with _cputime.step("relocation"):
            self.applied = relocate.apply(
                self.root, files=self.files, known=self.facts, ld_paths=self.target.ld_paths, where=self.target.libraries_where
            )

    def check(self) -> Relocated:
        """Prove the relocation, and that every stripped file still loads after the edits (reads only)."""
        assert self.applied is not None, "relocate() comes first"
        with _cputime.step("ELF analysis"):
            relocated = relocate.check(self.applied)
        with _cputime.step("load check"):
            stripping.still_load(self.python, self.root, [p for p in self.sizes if p not in self.checked.restored], target=self.target)
        return relocated

    def stripped(self) -> dict[str, Any]:
        undone = {*self.checked.restored, *self.checked.blanked}
        saved = {p: before - _size(self.root / p) for p, before in self.sizes.items() if p not in undone}
        return {
            "files": len(saved),
            "bytes": sum(saved.values()),
            "restored": [{"path": p, "why": why} for p, why in self.checked.restored.items()],
            "blanked": {"files": len(self.checked.blanked), "bytes": sum(self.checked.blanked.values())},
        }


def _size(path: Path) -> int:
    return path.stat().st_size


LINUX = LinuxPlatform()
