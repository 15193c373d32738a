"""What every platform a bundle can be built for answers, whatever its binary format.

The pipeline, the tree stage, ``inspect`` and ``verify`` reach the platform only
through :class:`Platform`, chosen by the target (:func:`gopack.platform.platforms.of`):
Linux/ELF/glibc is the first implementation (:mod:`gopack.platform.linux.platform`);
another (macOS: Mach-O, dylibs, signatures, a minimum macOS) is a folder beside it
and a line in :data:`gopack.platform.platforms.PLATFORMS`, not a branch in the stages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from gopack.platform.target import Target

#: file -> symbol version (or minimum OS) -> the symbols that need it
Requirements = Mapping[str, Mapping[str, frozenset[str]]]


class Floor(Protocol):
    """The oldest system a bundle starts on, and the tag its archive name carries."""

    @property
    def tag(self) -> str: ...  # manylinux_2_34_x86_64
    @property
    def highest(self) -> Mapping[str, str]: ...  # family -> newest version needed ("GLIBC" -> "2.34")


class Relocation(Protocol):
    """What making files self-contained found and did."""

    @property
    def vendored(self) -> Sequence[Vendored]: ...
    @property
    def host_libraries(self) -> Sequence[str]: ...
    @property
    def requirements(self) -> Requirements: ...
    @property
    def unresolved(self) -> Sequence[tuple[str, str]]: ...


class TreeBinaries(Protocol):
    """The native files of a Python tree being made: each part stripped, checked to load and
    analysed as soon as it is in place (:meth:`add`), then made self-contained at once
    (:meth:`relocate`) and proven (:meth:`check`)."""

    def add(self, *, under: Path | None = None, skip: Path | None = None) -> None: ...
    def relocate(self) -> None: ...
    def check(self) -> Relocation: ...
    def stripped(self) -> dict[str, Any]: ...  # the manifest's "stripped" section


@dataclass(frozen=True, kw_only=True)
class Vendored:
    """A library copied into the bundle (``python/lib``) from the build machine, the target's
    root or a folder the recipe names, whatever the binary format."""

    soname: str  # what files asked for (an ELF DT_NEEDED, a Mach-O load command's path)
    name: str  # the file in python/lib (and its new SONAME or install name)
    source: Path
    sha256: str
    needed_by: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        """The manifest's record of this library."""
        return {
            "name": self.name,
            "soname": self.soname,
            "source": str(self.source),
            "sha256": self.sha256,
            "needed_by": list(self.needed_by),
        }


@dataclass(frozen=True, kw_only=True)
class Origin:
    """The system package a file was copied from, as the target's package manager records it."""

    manager: str  # the package URL type: "deb"
    namespace: str  # the distribution: "debian", "ubuntu"
    name: str  # "libbz2-1.0"
    version: str  # "1.0.8-5+b1"
    arch: str  # "amd64"
    distro: str = ""  # "debian-12"


@dataclass(frozen=True, kw_only=True)
class Linkage:
    """``verify``'s static answer to "would the loader load every file of this bundle"."""

    problems: tuple[str, ...]
    #: One line for a bundle without problems: how many files, what they need from the host.
    summary: str


@dataclass(frozen=True, kw_only=True)
class RuntimeFile:
    """One file an image's runtime base takes from the target's root (or the host)."""

    path: str  # inside the image, without the leading "/"
    source: Path  # the host path it is copied from
    why: str
    link: str | None = None  # a symbolic link's target instead of a file


@dataclass(frozen=True, kw_only=True)
class RuntimeBase:
    """What a bundle needs from the system it runs on, as files for an image's lowest layer."""

    files: tuple[RuntimeFile, ...]
    #: Variables the image sets so that the bundle finds them (SSL_CERT_FILE).
    env: tuple[tuple[str, str], ...]
    #: The record the layer carries of where each file came from (and which package owns it).
    record: Mapping[str, Any]


class Platform(Protocol):
    name: str  # "linux"
    #: How the tags of its archives start: manylinux_2_34_x86_64, linux_x86_64.
    tag_prefixes: tuple[str, ...]
    #: What a smoke run's bare root must hold of the host: the system libraries a bundle may need.
    system_libraries: frozenset[str]

    def tree_binaries(
        self, root: Path, python: Path, *, backup: Path, strip: bool, target: Target, libraries: Sequence[Path] = ()
    ) -> TreeBinaries:
        """The native files of the tree under ``root``, run as ``target`` runs them (``python``
        is the tree's interpreter, for the load checks; ``backup`` keeps stripped originals;
        ``libraries``: folders the recipe names where a library the tree lacks may be found,
        which macOS searches by name and Linux ignores)."""
        ...

    def relocate_program(self, root: Path, program: str, *, target: Target) -> Relocation:
        """Make the program (bundle-relative) self-contained without editing it: what it needs
        goes where its link-time search path looks."""
        ...

    def floor(self, requirements: Requirements, *, machine: str, target: Target) -> Floor:
        """The floor and tag of a bundle whose files need ``requirements``; an error naming the
        files when it is above the target's."""
        ...

    def needs_of(self, requirements: Requirements, program: str, *, machine: str) -> dict[str, str]:
        """The newest version of each family one file needs (the manifest's ``go.symbol_versions``)."""
        ...

    def machine_of(self, head: bytes) -> str | None:
        """The machine a file's first bytes name, if it is this platform's binary format."""
        ...

    def runtime_base(self, root: Path, *, program: str, host_libraries: Sequence[str], target: Target) -> RuntimeBase:
        """The files the bundle staged at ``root`` needs from its host (``host_libraries``, the
        loader of ``program``, CA certificates and time zones where its code uses them), taken
        from the target's root or the host: an image's runtime base."""
        ...

    def origins(self, files: Sequence[str], *, target: Target) -> Mapping[str, Origin]:
        """Host file -> the system package that installed it, for those of ``files`` (host paths:
        in the target's root when it has one) its package manager knows."""
        ...

    def needed(self, root: Path, rel: str) -> tuple[str, ...] | None:
        """The libraries the native file ``root/rel`` names for the loader (ELF's DT_NEEDED), or
        None for a file that is not one (prune.imports follows them)."""
        ...

    def linkage(self, root: Path, *, accepted: frozenset[tuple[str, str]], tag: str = "") -> Linkage:
        """Every file's needs resolved as the loader would, inside the extracted bundle at ``root``;
        ``accepted``: (file, need) the build recorded as unresolvable; ``tag``: the archive's
        platform tag, whose floor macOS checks every file against (Linux's files carry none)."""
        ...

    def smoke_elsewhere(self) -> str | None:
        """Why a bundle of this platform cannot run its smoke test on this machine (verify
        reports it as not run); None where it runs."""
        ...
