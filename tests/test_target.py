"""Unit tests of gopack.platform.target: paths inside a root, the platform uv is given, the checks of make()."""

from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path

import pytest

from gopack.errors import GopackError
from gopack.platform import target
from gopack.platform.linux import analysis
from gopack.platform.target import Target
from gopack.python import interpreters


def elf_header(machine: int) -> bytes:
    """A 64-bit little-endian ELF header (ET_DYN) for ``machine``, with no sections or segments."""
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    return ident + struct.pack("<HHIQQQIHHHHHH", 3, machine, 1, 0, 0, 0, 0, 64, 56, 0, 64, 0, 0)


def test_inside_a_root_follows_absolute_links_within_it(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "usr" / "lib" / "x86_64-linux-gnu").mkdir(parents=True)
    (root / "usr" / "lib" / "x86_64-linux-gnu" / "ld-2.31.so").write_bytes(b"loader")
    (root / "usr" / "lib64").mkdir()
    (root / "lib64").symlink_to("usr/lib64")
    # As Debian ships it: an absolute link, which on the host would point at the host's file.
    (root / "usr" / "lib64" / "ld-linux-x86-64.so.2").symlink_to("/lib/x86_64-linux-gnu/ld-2.31.so")
    (root / "lib").symlink_to("usr/lib")
    t = Target(goarch="amd64", sysroot=root, libc="2.31", ld_paths=())
    assert t.inside("/lib64/ld-linux-x86-64.so.2") == root / "usr" / "lib" / "x86_64-linux-gnu" / "ld-2.31.so"
    assert t.inside(root / "lib64" / "ld-linux-x86-64.so.2") == root / "usr" / "lib" / "x86_64-linux-gnu" / "ld-2.31.so"
    assert t.inside("/usr/bin/python3.9") == root / "usr" / "bin" / "python3.9"  # not there: named, not invented
    (root / "loop").symlink_to("/loop")
    assert not t.inside("/loop/x").exists()


def test_launch_runs_a_roots_program_through_the_roots_loader(tmp_path: Path) -> None:
    host = Target(goarch="amd64", libc="2.36", ld_paths=("/lib",))
    assert host.launch(Path("/usr/bin/python3")) == ["/usr/bin/python3"]
    rooted = Target(
        goarch="amd64", sysroot=tmp_path, libc="2.31", loader=tmp_path / "ld.so", ld_paths=(str(tmp_path / "a"), str(tmp_path / "b"))
    )
    assert rooted.launch(tmp_path / "usr/bin/python3.9") == [
        str(tmp_path / "ld.so"),
        "--inhibit-cache",
        "--library-path",
        f"{tmp_path}/a:{tmp_path}/b",
        str(tmp_path / "usr/bin/python3.9"),
    ]
    assert target.launch(None, Path("/x")) == ["/x"]


@pytest.mark.parametrize(
    ("floor", "platform"),
    [
        ("2.17", "x86_64-manylinux_2_17"),
        ("2.27", "x86_64-manylinux_2_17"),
        ("2.29", "x86_64-manylinux_2_28"),
        ("2.31", "x86_64-manylinux_2_31"),
        ("2.36", "x86_64-manylinux_2_36"),
        ("2.45", "x86_64-manylinux_2_40"),
    ],
)
def test_wheels_are_resolved_for_the_newest_manylinux_uv_names_at_or_below_the_floor(floor: str, platform: str) -> None:
    assert Target(goarch="amd64", glibc=floor, libc="2.36", ld_paths=()).python_platform == platform


def test_the_host_target_resolves_for_the_host() -> None:
    host = Target(goarch="amd64", libc="2.36", ld_paths=())
    assert host.floor is None and host.python_platform is None and host.zig_triple is None
    assert host.uv_args(Path("/py"), "3.7.16") == ["--python", "/py"]
    assert host.cgo_env(cache_dir=Path("/nonexistent")) == ({}, "")


def test_a_root_is_its_own_floor_and_uv_does_not_run_its_interpreter(tmp_path: Path) -> None:
    rooted = Target(goarch="amd64", sysroot=tmp_path, libc="2.31", ld_paths=(), zig=Path("/zig"))
    assert rooted.floor == "2.31" and rooted.zig_triple == "x86_64-linux-gnu.2.31"
    args = rooted.uv_args(tmp_path / "usr/bin/python3.9", "3.9.2")
    assert args[args.index("--python-version") + 1] == "3.9.2" and args[-2:] == ["--python-platform", "x86_64-manylinux_2_31"]
    assert str(tmp_path / "usr/bin/python3.9") not in args
    env, cflags = rooted.cgo_env(cache_dir=tmp_path / "cache")
    assert env["CC"] == "/zig cc -target x86_64-linux-gnu.2.31"
    (shim,) = (tmp_path / "cache" / "target-include").iterdir()
    assert cflags == f"-idirafter {tmp_path}/usr/include -idirafter {shim}"
    assert "crypt(" in (shim / "crypt.h").read_text()
    assert rooted.cgo_env(cache_dir=tmp_path / "cache") == (env, cflags)  # the same flags every build: Go's cache holds


def test_the_hosts_libc_version_is_read_from_its_banner() -> None:
    libc = next(Path(d) / "libc.so.6" for d in target.make("amd64", sysroot=None, glibc=None).ld_paths if (Path(d) / "libc.so.6").is_file())
    assert target.defined_glibc(libc) == target.host_glibc()


@pytest.mark.parametrize(
    ("glibc", "says"),
    [("2.5x", "is not a glibc version"), ("2.12", "older than 2.17")],
)
def test_bad_glibc_values_are_refused(glibc: str, says: str) -> None:
    with pytest.raises(GopackError) as info:
        target.make("amd64", sysroot=None, glibc=glibc, where_glibc="r.yaml:3: target.glibc")
    assert info.value.message.startswith("r.yaml:3: target.glibc: ") and says in info.value.message


def test_a_host_floor_older_than_the_hosts_glibc_links_with_zig() -> None:
    made = target.make("amd64", sysroot=None, glibc="2.28")
    assert made.zig is not None and made.zig.name == "zig" and made.zig_triple == "x86_64-linux-gnu.2.28"
    assert target.make("amd64", sysroot=None, glibc="2.99").zig is None  # the host's gcc already links for older


def test_another_machines_root_without_qemu_names_the_debian_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    arm = tmp_path / "arm"
    (arm / "lib").mkdir(parents=True)
    (arm / "lib" / "ld-linux-aarch64.so.1").write_bytes(elf_header(183))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(GopackError) as info:
        target.make("arm64", sysroot=arm, glibc=None, where_sysroot="--sysroot")
    assert info.value.message == (
        f"--sysroot: {arm} is a root for EM_AARCH64, which this EM_X86_64 machine runs only under qemu-user, and qemu-aarch64 is not on PATH"
    )
    assert info.value.hint == "install Debian's qemu-user (apt-get install qemu-user)"


def test_another_machine_runs_through_qemu_and_strips_with_its_binutils(tmp_path: Path) -> None:
    arm = Target(
        goarch="arm64",
        sysroot=tmp_path,
        libc="2.31",
        loader=tmp_path / "ld.so",
        ld_paths=(str(tmp_path / "a"),),
        emulator=Path("/usr/bin/qemu-aarch64"),
    )
    assert arm.launch("/p") == [
        "/usr/bin/qemu-aarch64",
        str(tmp_path / "ld.so"),
        "--inhibit-cache",
        "--library-path",
        f"{tmp_path}/a",
        "/p",
    ]
    assert arm.foreign and arm.python_platform == "aarch64-manylinux_2_31"
    assert arm.tool("strip") == ("aarch64-linux-gnu-strip", "binutils-aarch64-linux-gnu")
    assert Target(goarch="amd64", libc="2.36", ld_paths=()).tool("strip") == ("strip", "binutils")


@pytest.mark.parametrize(("arch", "goarch"), [("x86_64", "amd64"), ("amd64", "amd64"), ("aarch64", "arm64"), ("arm64", "arm64")])
def test_target_arch_takes_the_machines_name_or_gos(arch: str, goarch: str) -> None:
    assert target.goarch_of(arch, where="--target-arch") == goarch


def test_an_unknown_arch_is_refused() -> None:
    with pytest.raises(GopackError, match=r"recipe.yaml:3: target.arch: 'sparc' is not an architecture gopack builds for"):
        target.goarch_of("sparc", where="recipe.yaml:3: target.arch")


def test_another_arch_needs_a_root() -> None:
    with pytest.raises(GopackError, match=r"--target-arch: the bundle is for GOARCH=arm64 \(EM_AARCH64\), but this machine is EM_X86_64"):
        target.make("arm64", sysroot=None, glibc=None, where_arch="--target-arch")


def test_sysroot_problems_are_said_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(GopackError, match="is not a directory"):
        target.make("amd64", sysroot=tmp_path / "missing", glibc=None, where_sysroot="--sysroot")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(GopackError, match=r"has no /lib64/ld-linux-x86-64\.so\.2, the glibc loader of GOARCH=amd64"):
        target.make("amd64", sysroot=empty, glibc=None)
    spaced = tmp_path / "a root"
    spaced.mkdir()
    with pytest.raises(GopackError, match="white space"):
        target.make("amd64", sysroot=spaced, glibc=None)
    arm = tmp_path / "arm"
    (arm / "lib").mkdir(parents=True)
    (arm / "lib" / "ld-linux-aarch64.so.1").write_bytes(elf_header(183))  # EM_AARCH64
    with pytest.raises(GopackError) as info:
        target.make("amd64", sysroot=arm, glibc=None, where_sysroot="--sysroot", where_arch="--target-arch")
    assert (
        info.value.message
        == f"--sysroot: {arm} is a root for EM_AARCH64 (aarch64), but the bundle is for GOARCH=amd64 (EM_X86_64, --target-arch)"
    )
    libc_less = tmp_path / "nolibc"
    (libc_less / "lib64").mkdir(parents=True)
    shutil.copy(os.path.realpath("/lib64/ld-linux-x86-64.so.2"), libc_less / "lib64" / "ld-linux-x86-64.so.2")
    with pytest.raises(GopackError, match="has no readable libc.so.6"):
        target.make("amd64", sysroot=libc_less, glibc=None)


def test_the_search_finds_the_pythons_uv_manages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """python-build-standalone builds that uv installs are a discovery source: here a copy of pyenv's
    3.7 where uv keeps its Pythons (UV_PYTHON_INSTALL_DIR), with no pyenv and nothing on PATH."""
    pyenv = sorted(Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"), "versions").glob("3.7.*"))
    if not pyenv:
        pytest.fail("pyenv CPython 3.7 is missing: the test needs it")
    managed = tmp_path / "uv-python" / f"cpython-{pyenv[-1].name}-linux-x86_64-gnu"
    shutil.copytree(pyenv[-1], managed, symlinks=True, ignore=shutil.ignore_patterns("test", "site-packages", "*.a", "__pycache__"))
    monkeypatch.setenv("UV_PYTHON_INSTALL_DIR", str(tmp_path / "uv-python"))
    (tmp_path / "empty").mkdir()
    found = list(interpreters.candidates("3.7", search_path=str(tmp_path / "empty"), pyenv_root=tmp_path / "empty"))
    assert found == [managed / "bin" / "python3.7"]
    assert list(interpreters.candidates("3.7", search_path=str(tmp_path / "empty"), pyenv=False)) == []  # a root's search: its PATH only


@pytest.mark.parametrize(
    ("head", "machine"), [(elf_header(183), "EM_AARCH64"), (elf_header(62), "EM_X86_64"), (elf_header(4242), "EM_4242")]
)
def test_an_elf_header_names_its_machine(head: bytes, machine: str) -> None:
    assert analysis.header_machine(head) == machine
    assert analysis.header_machine(head[:19]) is None
    assert analysis.header_machine(b"#!/bin/sh\n" + head) is None
