"""Where the bundle must run: the one value that says which machine and which root.

A bundle's glibc floor is set by what it is built *from*. A :class:`Target` is
made once by the plan and read by every stage that looks for files or runs
programs (STYLE 17): the interpreter search, the interpreter's probe and every
later run of it (bytecode, load checks), the C compiler cgo uses, the library
search of the ELF analysis, the platform uv resolves wheels for and the floor
gate. No stage reaches for the host on its own.

- host (no sysroot, no glibc): the host's interpreter, libraries and gcc.
- ``glibc``: the oldest glibc the bundle must start on. The Go binary is linked
  for it by zig cc (PyPI's ``ziglang``, a pinned dependency), wheels are
  resolved for ``manylinux_2_NN``, and any file needing a newer glibc fails the
  build.
- ``sysroot``: a root file system of the target distribution. The interpreter,
  its headers and libpython and the libraries to vendor come from it; its
  interpreter runs through the root's own dynamic loader with the root's
  library path (no chroot, no root privileges); the Go binary is linked by zig
  cc for the root's glibc (gcc's ``--sysroot`` would follow the root's absolute
  ``/lib64/ld-linux-x86-64.so.2`` link and the host's crt files out of it).
  The floor is the root's glibc unless ``glibc`` asks for an older one.

- ``goarch`` of another machine (``target.arch``: aarch64 from x86_64, say): a
  cross-build. It needs a root of that machine; Go builds with that GOARCH, zig
  cc links for the root's glibc on that machine, uv resolves wheels for its
  manylinux platform, and every run of the root's interpreter (the probe,
  bytecode, load checks) goes through qemu-user (:attr:`Target.emulator`, from
  Debian's ``qemu-user``). Stripping takes binutils' strip for that machine
  (``aarch64-linux-gnu-strip``, Debian's ``binutils-aarch64-linux-gnu``).

- ``system`` macos (``target.os``): a Mac, x86_64 or arm64, built from Linux. Nothing of
  the target runs here: no root, no loader, no emulator. The interpreter is a tree read
  from its files (``python.home``), zig cc links the Go program for ``<arch>-macos.<V>``,
  uv resolves wheels for ``<arch>-apple-darwin`` (its floor from ``MACOSX_DEPLOYMENT_TARGET``,
  binary wheels only) and ``macos`` is the oldest macOS every Mach-O file may need.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import re
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditwheel.lddtree import load_ld_paths, parse_ld_so_conf
from auditwheel.libc import Libc
from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerDefSection

from gopack import _fs
from gopack.errors import RecipeError, ToolchainError
from gopack.platform.linux import analysis

#: GOARCH -> the ELF machine it builds for (pyelftools' e_machine names).
GOARCH_MACHINES = {
    "amd64": "EM_X86_64",
    "arm64": "EM_AARCH64",
    "386": "EM_386",
    "arm": "EM_ARM",
    "ppc64le": "EM_PPC64",
    "s390x": "EM_S390",
    "riscv64": "EM_RISCV",
}
#: GOARCH -> (the glibc loader's path in a root, the GNU triple zig targets, the manylinux architecture).
_ARCHES = {
    "amd64": ("/lib64/ld-linux-x86-64.so.2", "x86_64-linux-gnu", "x86_64"),
    "arm64": ("/lib/ld-linux-aarch64.so.1", "aarch64-linux-gnu", "aarch64"),
}
#: What target.arch / --target-arch take: the machine's own name or Go's.
ARCH_NAMES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
#: GOARCH -> the qemu-user emulator that runs its programs elsewhere, and the Debian package that has it.
EMULATORS = {"amd64": ("qemu-x86_64", "qemu-user"), "arm64": ("qemu-aarch64", "qemu-user")}
#: GOARCH -> the Mach-O machine (the names gopack.platform.macos.macho.MACHINES uses) and the
#: architecture zig's and uv's triples name.
MACOS_ARCHES = {"amd64": ("MACHO_X86_64", "x86_64"), "arm64": ("MACHO_ARM64", "aarch64")}
#: The oldest macOS Go 1.26 builds for: whatever the link says, its programs need it.
GO_OLDEST_MACOS = "12.0"
#: What target.os / --target-os take.
SYSTEMS = ("linux", "macos")
_MACOS = re.compile(r"[1-9]\d\.\d{1,2}")
#: The oldest glibc zig links for (and manylinux2014's).
OLDEST_GLIBC = "2.17"
#: The manylinux_2_NN platforms uv's --python-platform takes (uv 0.13): NN.
_UV_MANYLINUX = (17, 28, *range(31, 41))
_GLIBC = re.compile(r"2\.\d{1,2}")
_BANNER = re.compile(rb"GNU C Library [^\n]{0,200}?release version (2\.\d{1,2})")
#: zig's glibc headers have no crypt.h (libcrypt is libxcrypt's, not glibc's); Python.h up to 3.10 includes it.
_CRYPT_H = """\
/* Added by gopack: zig's glibc headers have no crypt.h, which Python.h includes. */
#ifndef _CRYPT_H
#define _CRYPT_H 1
#ifdef __cplusplus
extern "C" {
#endif
extern char *crypt(const char *__phrase, const char *__setting);
#ifdef __cplusplus
}
#endif
#endif
"""
#: ELF machine -> the architecture's own name, for messages.
ARCH_OF_MACHINE = {
    **{GOARCH_MACHINES[g]: arch for g, (_, _, arch) in _ARCHES.items()},
    # A Mac names its machines arm64 and x86_64.
    **{machine: ("arm64" if g == "arm64" else "x86_64") for g, (machine, _) in MACOS_ARCHES.items()},
}
LOW_FLOOR_HINT = (
    "build against a root file system of the target distribution (target.sysroot / --sysroot, e.g. made with debootstrap), "
    "or take the interpreter from conda-forge (python.conda) or python-build-standalone (a Python `uv python install` manages is found by "
    "the search; or set python.interpreter), which target glibc 2.17"
)


@dataclass(frozen=True, kw_only=True)
class Target:
    """Which platform, machine and root a bundle is built for."""

    goarch: str
    #: The platform (:data:`gopack.platform.platforms.PLATFORMS`): its binary format, loader and floor.
    system: str = "linux"
    sysroot: Path | None = None
    #: The oldest glibc the bundle must start on, as asked ("2.31"); None: whatever the build takes from.
    glibc: str | None = None
    #: Where ``glibc`` was asked for, for messages: "--target-glibc" or "recipe.yaml:3: target.glibc".
    where_glibc: str = "target.glibc"
    #: The glibc of the C library the build would otherwise link against: the root's, or the host's.
    libc: str
    #: The root's dynamic loader (a host path); None on the host.
    loader: Path | None = None
    #: The directories the target's ld.so searches (its ld.so.conf and trusted directories), as host paths.
    ld_paths: tuple[str, ...]
    #: zig, when cgo's C compiler must link for an older glibc than the host's gcc does.
    zig: Path | None = None
    #: qemu-user, when the target's machine is not this one: every program of the root runs under it.
    emulator: Path | None = None
    #: With system macos: the oldest macOS the bundle must start on, as asked ("14.0"); None: what its files need.
    macos: str | None = None
    #: Where ``macos`` was asked for, for messages: "--target-macos" or "recipe.yaml:3: target.macos".
    where_macos: str = "target.macos"
    #: Where the machine and the system were chosen, for messages: "--target-arch", "recipe.yaml:4: target.arch".
    where_arch: str = "GOARCH"
    where_system: str = "target.os"

    @property
    def machine(self) -> str:
        """The machine its binaries are for: an ELF e_machine ("EM_X86_64"), or a Mach-O one ("MACHO_ARM64")."""
        if self.system == "macos":
            return MACOS_ARCHES[self.goarch][0]
        return GOARCH_MACHINES.get(self.goarch, "unknown machine")

    @property
    def goos(self) -> str:
        """The GOOS Go builds for."""
        return "darwin" if self.system == "macos" else "linux"

    @property
    def arch_name(self) -> str:
        """The machine's own name, for messages: x86_64, aarch64 (arm64 on a Mac)."""
        if self.system == "macos":
            return "arm64" if self.goarch == "arm64" else "x86_64"
        return _ARCHES[self.goarch][2] if self.goarch in _ARCHES else self.goarch

    @property
    def foreign(self) -> bool:
        """The target's machine is not this one."""
        return self.emulator is not None

    @property
    def floor(self) -> str | None:
        """The newest glibc anything in the bundle may need, or None when nothing limits it."""
        return self.glibc or (self.libc if self.sysroot is not None else None)

    @property
    def python_platform(self) -> str | None:
        """What uv resolves wheels for (``--python-platform``), when not for the host. For macOS
        the floor is not in the name: uv reads it from ``MACOSX_DEPLOYMENT_TARGET`` (:meth:`uv_env`)."""
        if self.system == "macos":
            return f"{MACOS_ARCHES[self.goarch][1]}-apple-darwin"
        floor = self.floor
        if floor is None:
            return None
        # uv names a fixed set of manylinux platforms: the newest at or below the floor.
        minor = int(floor.split(".")[1])
        chosen = max((m for m in _UV_MANYLINUX if m <= minor), default=_UV_MANYLINUX[0])
        return f"{_ARCHES[self.goarch][2]}-manylinux_2_{chosen}"

    def inside(self, path: str | os.PathLike[str]) -> Path:
        """The host path of ``path`` as the target sees it: on the host the path itself; in a
        root, the file ``path`` names there, symlinks followed inside the root (a root's
        ``/lib64/ld-linux-x86-64.so.2`` is an absolute link that points out of it otherwise).
        A path already under the root is taken as a host path."""
        if self.sysroot is None:
            return Path(path)
        return resolve_in_root(self.sysroot, Path(path))

    def real(self, path: str | os.PathLike[str]) -> Path:
        """``path`` with its symlinks followed, on the host or inside the root."""
        return Path(path).resolve() if self.sysroot is None else resolve_in_root(self.sysroot, Path(path))

    def launch(self, program: str | os.PathLike[str]) -> list[str]:
        """The argv that starts ``program`` (an ELF executable of the target) from the host.

        In a root: the root's own loader with the root's library path, so that the program
        and everything it loads are the root's; ld.so's cache (the host's) is not read.
        For another machine, that loader runs under qemu-user: the program's paths stay
        host paths (no ``-L``), so what it reads and writes is where the build put it."""
        if self.loader is None:
            return [os.fspath(program)]
        emulator = [os.fspath(self.emulator)] if self.emulator is not None else []
        return [*emulator, os.fspath(self.loader), "--inhibit-cache", "--library-path", ":".join(self.ld_paths), os.fspath(program)]

    def tool(self, name: str) -> tuple[str, str]:
        """The binutils program ``name`` that reads the target's ELF files, and the Debian
        package that has it: the host's own, or the cross one for another machine."""
        if not self.foreign:
            return name, "binutils"
        triple = _ARCHES[self.goarch][1]
        return f"{triple}-{name}", f"binutils-{triple}"

    @property
    def libraries_where(self) -> str:
        """Where the libraries the bundle vendors are looked for, for messages."""
        return "on this machine" if self.sysroot is None else f"in the root {self.sysroot}"

    def search_path(self) -> str | None:
        """Where the interpreter search looks for ``pythonX.Y`` on PATH; None: the host's PATH."""
        if self.sysroot is None:
            return None
        return os.pathsep.join(str(self.sysroot / d) for d in ("usr/local/bin", "usr/bin", "bin"))

    @property
    def zig_triple(self) -> str | None:
        """What zig cc links the Go program for ("x86_64-linux-gnu.2.28"); None: the host's gcc does."""
        if self.zig is None:
            return None
        if self.system == "macos":
            return f"{MACOS_ARCHES[self.goarch][1]}-macos.{self.macos or GO_OLDEST_MACOS}"
        return f"{_ARCHES[self.goarch][1]}.{self.floor or self.libc}"

    def cgo_env(self, *, cache_dir: Path) -> tuple[dict[str, str], str]:
        """CC (and CXX) for cgo, and the C flags the target adds; nothing for the host's gcc."""
        if self.zig is None:
            return {}, ""
        # In the cache, named by its content: the flags must not change from build to build, or
        # Go would rebuild every cgo package (runtime/cgo, net, ...) each time.
        shim = cache_dir / "target-include" / hashlib.sha256(_CRYPT_H.encode()).hexdigest()[:16]
        _fs.write_once(shim / "crypt.h", _CRYPT_H)
        # zig's own libc headers come first; a root's /usr/include supplies what they lack
        # (Debian's multiarch pyconfig.h, crypt.h); the shim is the last resort.
        after = ([str(self.sysroot / "usr" / "include")] if self.sysroot is not None else []) + [str(shim)]
        triple = self.zig_triple
        env = {
            "CC": f"{self.zig} cc -target {triple}",
            "CXX": f"{self.zig} c++ -target {triple}",
            "ZIG_GLOBAL_CACHE_DIR": str(cache_dir / "zig"),
            "ZIG_LOCAL_CACHE_DIR": str(cache_dir / "zig"),
        }
        return env, " ".join(f"-idirafter {d}" for d in after)

    def uv_args(self, interpreter: Path, version: str) -> list[str]:
        """How uv is told which Python and platform it installs for.

        On the host, the interpreter itself (uv runs it for its markers); for a root, its
        version and platform, without running it (uv's --python-platform): gopack's own
        Python only hosts uv's resolver. For macOS the same, and wheels only: nothing can be
        built for a Mac here."""
        platform = ["--python-platform", self.python_platform] if self.python_platform else []
        if self.system == "macos":
            return ["--python", sys.executable, "--python-version", version, *platform, "--only-binary", ":all:"]
        if self.sysroot is not None:
            return ["--python", sys.executable, "--python-version", version, *platform]
        return ["--python", str(interpreter), *platform]

    def uv_env(self) -> dict[str, str]:
        """What uv's environment adds: the oldest macOS its macOS wheels may need."""
        return {"MACOSX_DEPLOYMENT_TARGET": self.macos} if self.system == "macos" and self.macos else {}

    def identity(self) -> dict[str, Any]:
        """What the cache key of a Python tree must hold of the target."""
        own = {"goarch": self.goarch, "sysroot": str(self.sysroot) if self.sysroot else None, "libc": self.libc, "glibc": self.glibc}
        return own if self.system == "linux" else {**own, "system": self.system, "macos": self.macos}


def goarch_of(arch: str, *, where: str) -> str:
    """The GOARCH ``arch`` names (x86_64 or amd64, aarch64 or arm64)."""
    goarch = ARCH_NAMES.get(arch)
    if goarch is None:
        raise RecipeError(
            f"{where}: {arch!r} is not an architecture gopack builds for",
            hint="use x86_64 (amd64) or aarch64 (arm64)",
        )
    return goarch


def make(
    goarch: str,
    *,
    sysroot: Path | None,
    glibc: str | None,
    where_sysroot: str = "target.sysroot",
    where_glibc: str = "target.glibc",
    where_arch: str = "GOARCH",
    system: str = "linux",
    where_system: str = "target.os",
    macos: str | None = None,
    where_macos: str = "target.macos",
) -> Target:
    """The target, checked: a usable root of GOARCH's machine (run under qemu-user when that
    is not this machine), a glibc zig can link for. ``where_arch``: where GOARCH was chosen,
    for messages ("--target-arch", "recipe.yaml:4: target.arch", or Go's own GOARCH).
    ``system`` macos: a Mac of GOARCH's machine (:func:`make_macos`)."""
    if system == "macos":
        if sysroot is not None:
            raise RecipeError(
                f"{where_sysroot}: a root file system is for a Linux target, but {where_system} is macos",
                hint="drop the sysroot: a macOS bundle takes its interpreter from python.home",
            )
        if glibc is not None:
            raise RecipeError(f"{where_glibc}: glibc {glibc} is for a Linux target, but {where_system} is macos", hint="use target.macos")
        made = make_macos(goarch, macos=macos, where_macos=where_macos, where_arch=where_arch)
        return dataclasses.replace(made, where_system=where_system)
    if system != "linux":
        raise RecipeError(f"{where_system}: {system!r} is not a system gopack builds for", hint=f"use one of {', '.join(SYSTEMS)}")
    if macos is not None:
        raise RecipeError(f"{where_macos}: macOS {macos} is for a macOS target, but {where_system} is linux", hint="add target.os: macos")
    if glibc is not None and not _GLIBC.fullmatch(glibc):
        raise RecipeError(f"{where_glibc}: {glibc!r} is not a glibc version", hint="write it as 2.NN, e.g. 2.28")
    if glibc is not None and analysis.version_key(f"GLIBC_{glibc}") < analysis.version_key(f"GLIBC_{OLDEST_GLIBC}"):
        raise RecipeError(
            f"{where_glibc}: glibc {glibc} is older than {OLDEST_GLIBC}, the oldest gopack (zig cc, manylinux2014) links for",
            hint=f"use {OLDEST_GLIBC} or newer",
        )
    if sysroot is None and GOARCH_MACHINES.get(goarch) != host_machine():
        raise ToolchainError(
            f"{where_arch}: the bundle is for GOARCH={goarch} ({GOARCH_MACHINES.get(goarch, 'unknown machine')}), but this machine is "
            f"{host_machine()} and no root file system of the target's architecture was given",
            hint=f"build against a root of that architecture (target.sysroot / --sysroot), e.g. made with "
            f"debootstrap --arch={goarch} --foreign --variant=minbase --include=python3.X,libpython3.X-dev SUITE DIR",
        )
    if sysroot is None:
        libc = host_glibc()
        zig = None
        if glibc is not None and analysis.version_key(f"GLIBC_{glibc}") < analysis.version_key(f"GLIBC_{libc}"):
            zig = find_zig(f"{where_glibc}: linking the Go program for glibc {glibc} (this machine has {libc})")
        return Target(
            goarch=goarch, glibc=glibc, where_glibc=where_glibc, libc=libc, ld_paths=tuple(load_ld_paths(Libc.GLIBC)["conf"]), zig=zig
        )
    return _rooted(goarch, sysroot.absolute(), glibc=glibc, where_sysroot=where_sysroot, where_glibc=where_glibc, where_arch=where_arch)


def make_macos(goarch: str, *, macos: str | None, where_macos: str = "target.macos", where_arch: str = "GOARCH") -> Target:
    """A Mac of GOARCH's machine (amd64: x86_64, arm64: Apple silicon), its oldest macOS checked;
    zig links the Go program for it."""
    if goarch not in MACOS_ARCHES:
        raise RecipeError(
            f"{where_arch}: GOARCH={goarch} is not a Mac's machine",
            hint="use target.arch: arm64 (Apple silicon) or x86_64 (Intel, and Apple silicon under Rosetta 2)",
        )
    if macos is not None and not _MACOS.fullmatch(macos):
        raise RecipeError(f"{where_macos}: {macos!r} is not a macOS version", hint="write it as MAJOR.MINOR, e.g. 14.0")
    if macos is not None and _version(macos) < _version(GO_OLDEST_MACOS):
        raise RecipeError(
            f"{where_macos}: macOS {macos} is older than {GO_OLDEST_MACOS}, the oldest the Go toolchain builds programs for",
            hint=f"use {GO_OLDEST_MACOS} or newer",
        )
    zig = find_zig(f"linking the Go program for macOS ({MACOS_ARCHES[goarch][1]}-macos)")
    return Target(goarch=goarch, system="macos", macos=macos, where_macos=where_macos, where_arch=where_arch, libc="", ld_paths=(), zig=zig)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


def _rooted(goarch: str, sysroot: Path, *, glibc: str | None, where_sysroot: str, where_glibc: str, where_arch: str) -> Target:
    if not sysroot.is_dir():
        raise RecipeError(
            f"{where_sysroot}: {sysroot} is not a directory",
            hint="point it at a root file system (made by debootstrap, docker export, ...)",
        )
    if any(c.isspace() for c in str(sysroot)):
        raise RecipeError(
            f"{where_sysroot}: {sysroot} holds white space, which cgo's CC cannot carry",
            hint="move or link the root to a path without spaces",
        )
    if goarch not in _ARCHES:
        raise ToolchainError(f"{where_sysroot}: gopack builds against a root for GOARCH amd64 or arm64, not {goarch}")
    loader_name = _ARCHES[goarch][0]
    loader = resolve_in_root(sysroot, Path(loader_name))
    machine = analysis.elf_machine(loader) if loader.is_file() else root_machine(sysroot)
    if machine is None:
        raise ToolchainError(
            f"{where_sysroot}: {sysroot} has no {loader_name}, the glibc loader of GOARCH={goarch}",
            hint="a root of a glibc distribution for that architecture is needed (debootstrap --variant=minbase SUITE DIR makes one)",
        )
    if machine != GOARCH_MACHINES[goarch]:
        raise ToolchainError(
            f"{where_sysroot}: {sysroot} is a root for {machine} ({ARCH_OF_MACHINE.get(machine, machine)}), but the bundle is for "
            f"GOARCH={goarch} ({GOARCH_MACHINES[goarch]}, {where_arch})",
            hint="use a root of the target's architecture, or set the architecture to the root's (target.arch / --target-arch)",
        )
    emulator = None
    if machine != host_machine():
        name, package = EMULATORS[goarch]
        found = shutil.which(name)
        if found is None:
            raise ToolchainError(
                f"{where_sysroot}: {sysroot} is a root for {machine}, which this {host_machine()} machine runs only under "
                f"qemu-user, and {name} is not on PATH",
                hint=f"install Debian's {package} (apt-get install {package})",
            )
        emulator = Path(found)
    ld_paths = root_ld_paths(sysroot)
    libc_file = next((Path(d) / "libc.so.6" for d in ld_paths if (Path(d) / "libc.so.6").is_file()), None)
    libc = defined_glibc(libc_file) if libc_file is not None else None
    if libc is None:
        raise ToolchainError(
            f"{where_sysroot}: {sysroot} has no readable libc.so.6 in its library path ({', '.join(ld_paths)})",
            hint="a root of a glibc distribution is needed",
        )
    if glibc is not None and analysis.version_key(f"GLIBC_{glibc}") > analysis.version_key(f"GLIBC_{libc}"):
        glibc = None  # the root's libraries already fit: its glibc is the floor
    zig = find_zig(f"{where_sysroot}: linking the Go program against the root's glibc {glibc or libc}")
    return Target(
        goarch=goarch,
        sysroot=sysroot,
        glibc=glibc,
        where_glibc=where_glibc,
        libc=libc,
        loader=loader,
        ld_paths=ld_paths,
        zig=zig,
        emulator=emulator,
    )


def root_machine(sysroot: Path) -> str | None:
    """The ELF machine of the first glibc loader a root holds; None: it holds none gopack knows."""
    for loader_name, _, _ in _ARCHES.values():
        loader = resolve_in_root(sysroot, Path(loader_name))
        if loader.is_file():
            return analysis.elf_machine(loader)
    return None


def root_ld_paths(sysroot: Path) -> tuple[str, ...]:
    """The root's ld.so.conf directories, then its trusted directories, as host paths."""
    # auditwheel joins the root and each line as text: the root must end in "/".
    conf = parse_ld_so_conf(f"{sysroot}/etc/ld.so.conf", root=f"{sysroot}/")
    trusted = [str(sysroot / d) for d in ("lib", "lib64", "usr/lib", "usr/lib64")]
    found: list[str] = []
    for d in [*conf, *trusted]:
        if os.path.isdir(d) and d not in found:
            found.append(d)
    return tuple(found)


def resolve_in_root(root: Path, path: Path) -> Path:
    """``path`` inside ``root`` with every symlink on the way followed as if ``root`` were ``/``."""
    if path.is_relative_to(root):
        path = Path("/") / path.relative_to(root)
    parts = list(Path("/", path).parts[1:])
    done = Path("/")
    hops = 0
    while parts:
        part = parts.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            done = done.parent
            continue
        here = root / done.relative_to("/") / part
        if here.is_symlink():
            hops += 1
            if hops > 40:
                return here  # a loop: the caller finds nothing there
            link = Path(os.readlink(here))
            parts = [*link.parts[1:], *parts] if link.is_absolute() else [*link.parts, *parts]
            if link.is_absolute():
                done = Path("/")
            continue
        done = done / part
    return root / done.relative_to("/")


def defined_glibc(libc: Path) -> str | None:
    """The glibc version of ``libc`` (a libc.so.6): the release its banner names (what
    ``gnu_get_libc_version`` says), else the newest GLIBC_2.N version it defines (a release
    that added no symbol, as 2.31, defines none of its own)."""
    try:
        banner = _BANNER.search(libc.read_bytes())
    except OSError:
        return None
    if banner is not None:
        return banner.group(1).decode()
    try:
        with libc.open("rb") as f:
            elf = ELFFile(f)
            versions = [
                aux.name
                for section in analysis.sections_of_type(elf, "SHT_GNU_verdef")
                if isinstance(section, GNUVerDefSection)
                for _, auxiliaries in section.iter_versions()
                for aux in auxiliaries
                if re.fullmatch(r"GLIBC_2\.\d+(\.\d+)?", aux.name)
            ]
    except (OSError, ELFError):
        return None
    if not versions:
        return None
    return max(versions, key=analysis.version_key).partition("_")[2]


def host_glibc() -> str:
    """This machine's glibc version."""
    found = os.confstr("CS_GNU_LIBC_VERSION") if "CS_GNU_LIBC_VERSION" in os.confstr_names else None
    match = re.search(r"(\d+\.\d+)", found or "")
    if match is None:
        raise ToolchainError("this machine's C library is not glibc", hint="gopack builds on a glibc Linux")
    return match.group(1)


def find_zig(why: str) -> Path:
    """zig from the ``ziglang`` package gopack depends on, else from PATH."""
    try:
        import ziglang  # type: ignore[import-untyped]  # a binary in a package, no Python API
    except ImportError:
        found = shutil.which("zig")
        if found is None:
            raise ToolchainError(
                f"{why} needs zig, which is not installed", hint="install gopack with its dependencies (pip install gopack) to get ziglang"
            ) from None
        zig = Path(found)
    else:
        zig = Path(ziglang.__file__).parent / "zig"
    if any(c.isspace() for c in str(zig)):
        raise ToolchainError(
            f"{why} needs zig, which is at {zig}: a path with white space, which cgo's CC cannot carry",
            hint="install gopack in an environment whose path has no spaces",
        )
    return zig


def too_new(requirements: Mapping[str, Mapping[str, frozenset[str]]], floor: str) -> list[str]:
    """One line per file and GLIBC_ version newer than ``floor``, naming the symbols that need it."""
    limit = analysis.version_key(f"GLIBC_{floor}")
    return [
        f"  {path}: {version} ({', '.join(sorted(symbols)) or 'no symbol named'})"
        for path, versions in sorted(requirements.items())
        for version, symbols in sorted(versions.items(), key=lambda v: analysis.version_key(v[0]))
        if version.startswith("GLIBC_") and analysis.version_key(version) > limit
    ]


def above_floor(target: Target, files: Sequence[Path]) -> list[str]:
    """:func:`too_new`'s lines for ``files`` (an interpreter's libpython and executable); none without a floor."""
    floor = target.floor
    if floor is None:
        return []
    requirements = {}
    for path in files:
        info = analysis.elf_info(path.parent, path.name)
        if info is not None:
            requirements[str(path)] = info.versions
    return too_new(requirements, floor)


def check_files(target: Target, files: Sequence[Path], *, what: str) -> None:
    """Before any work: ``files`` (an interpreter's libpython and executable) must start on the floor."""
    floor = target.floor
    lines = above_floor(target, files)
    if lines:
        raise ToolchainError(
            f"{target.where_glibc}: the bundle must start on glibc {floor}, but {what} needs newer; these files require newer symbols:\n"
            + "\n".join(lines[:40])
            + (f"\n  ... and {len(lines) - 40} more" if len(lines) > 40 else ""),
            hint=LOW_FLOOR_HINT,
        )


@functools.cache
def host_machine() -> str:
    """This machine's ELF machine (gopack's own interpreter's); read once."""
    return analysis.elf_machine(Path(os.path.realpath(sys.executable)))


def loader_of(goarch: str) -> str:
    """The glibc loader's path in a root of GOARCH's machine."""
    return _ARCHES[goarch][0]


def launch(target: Target | None, program: str | os.PathLike[str]) -> list[str]:
    """:meth:`Target.launch`, or ``program`` alone for the host (callers that take no target)."""
    return target.launch(program) if target is not None else [os.fspath(program)]
