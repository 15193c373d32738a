"""Running a bundle of another machine (aarch64 on x86_64, say) under qemu-user, for ``gopack verify``.

A smoke run needs two things this machine lacks for another machine's program:

- an emulator that runs it: qemu-user's static build (Debian's ``qemu-user-static``,
  ``qemu-aarch64-static``), which also runs inside the glibc-only root, where none
  of the host's libraries are; a ``qemu-aarch64`` that is itself static will do;
- that machine's glibc, which the bundle takes from its host: a root of that
  machine (``verify --sysroot``, e.g. the one the bundle was built against), else
  Debian's cross packages (``libc6-arm64-cross``, ``libgcc-s1-arm64-cross``,
  ``libstdc++6-arm64-cross`` in ``/usr/aarch64-linux-gnu``), qemu's usual ``-L``.

The program is started as ``qemu -L PREFIX PROGRAM``: qemu loads its ELF interpreter
from the prefix, and a path the program opens is taken from the prefix only where
the prefix has that file, so the bundle's own paths stay its own. What qemu-user
cannot do without the kernel's binfmt_misc: start another machine's program from
the emulated one (a subprocess, multiprocessing's workers).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from gopack.platform import target as targets
from gopack.platform.linux import analysis

#: ELF machine -> (GOARCH, the folder Debian's cross packages install its glibc into, those packages).
_CROSS = {
    "EM_AARCH64": ("arm64", "/usr/aarch64-linux-gnu", "libc6-arm64-cross libgcc-s1-arm64-cross libstdc++6-arm64-cross"),
    "EM_X86_64": ("amd64", "/usr/x86_64-linux-gnu", "libc6-amd64-cross libgcc-s1-amd64-cross libstdc++6-amd64-cross"),
}
#: Where the emulator is put in the glibc-only root.
IN_ROOT = PurePosixPath("/.gopack/qemu")


@dataclass(frozen=True, kw_only=True)
class Emulation:
    machine: str  # EM_AARCH64
    emulator: Path  # a static qemu-user for it
    prefix: Path  # a folder laid out as a root, holding that machine's glibc
    loader: str  # the glibc loader's path as a root has it: /lib/ld-linux-aarch64.so.1

    def argv(self, command: Sequence[str], *, prefix: PurePosixPath | Path | None = None) -> list[str]:
        """``command`` (its program an ELF file of the machine) as qemu runs it on the host,
        with the machine's glibc from ``prefix`` (:attr:`prefix` where the sandbox shows it)."""
        return [str(self.emulator), "-L", str(prefix or self.prefix), *command]

    def argv_in_root(self, command: Sequence[str]) -> list[str]:
        """``command`` as qemu runs it in the root :func:`gopack.verify.sandbox.make_glibc_root` made with this emulation."""
        return [str(IN_ROOT), *command]

    def libraries(self, names: Sequence[str]) -> dict[str, Path]:
        """Where each of ``names`` (and the loader) goes in a root -> the prefix's file."""
        dirs = targets.root_ld_paths(self.prefix)
        found = {self.loader: targets.resolve_in_root(self.prefix, Path(self.loader))}
        for name in names:
            for d in dirs:
                candidate = Path(d) / name
                if candidate.is_file() and analysis.elf_machine(candidate.resolve()) == self.machine:
                    found[f"/lib/{name}"] = candidate.resolve()
                    break
        return found


def find(machine: str, *, sysroot: Path | None, where: str = "--sysroot") -> Emulation | str:
    """How to run ``machine``'s programs here, or why they cannot be (one sentence, with the fix)."""
    if machine not in _CROSS:
        return f"gopack does not run {machine} programs on this {targets.host_machine()} machine"
    goarch, cross, packages = _CROSS[machine]
    name = targets.EMULATORS[goarch][0]
    emulator = _static(f"{name}-static") or _static(name)
    arch = targets.ARCH_OF_MACHINE[machine]
    if emulator is None:
        return (
            f"the bundle is for {arch} ({machine}) and this machine is {targets.host_machine()}: its programs run here only under "
            f"qemu-user's static build ({name}-static), which is not on PATH; install Debian's qemu-user-static"
        )
    loader = f"/lib/{os.path.basename(targets.loader_of(goarch))}" if sysroot is None else targets.loader_of(goarch)
    prefix = sysroot if sysroot is not None else Path(cross)
    if sysroot is not None:
        in_root = targets.resolve_in_root(sysroot, Path(loader))
        if not in_root.is_file():
            return f"{where} {sysroot} has no {loader}: it is not a root for {arch}"
        found = analysis.elf_machine(in_root)
        if found != machine:
            return f"{where} {sysroot} is a root for {found}, but the bundle is for {arch} ({machine})"
    elif not (prefix / loader.lstrip("/")).is_file():
        return (
            f"the bundle is for {arch} ({machine}) and the host's glibc is for {targets.host_machine()}: {arch}'s glibc is needed, "
            f"and {prefix} has none; install Debian's {packages}, or pass --sysroot with a root for {arch}"
        )
    return Emulation(machine=machine, emulator=emulator, prefix=prefix, loader=loader)


def _static(name: str) -> Path | None:
    """``name`` on PATH if it is a static program (no ELF interpreter): one that runs in any root."""
    found = shutil.which(name)
    if found is None:
        return None
    return Path(found) if analysis.elf_interpreter(Path(os.path.realpath(found))) is None else None


def describe(emulation: Emulation) -> str:
    return f"under {emulation.emulator.name} with {targets.ARCH_OF_MACHINE[emulation.machine]}'s glibc from {emulation.prefix}"
