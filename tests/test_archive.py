"""Archives built from a cached, separately compressed segment hold what one stream would."""

from __future__ import annotations

import errno
import gzip
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
import zstandard
from conftest import open_tar

from gopack.archive import write as archive
from gopack.errors import BuildError

TOP = "demo-1.0"


def make_tree(root: Path) -> None:
    files = {
        "app/main.pyc": b"app code",
        "app/same.bin": b"per-build twin" * 100,
        "app/twin.bin": b"per-build twin" * 100,
        "bin/demo": b"\x7fELF pretend",
        "gopack.json": b"{}\n",
        "python/lib/libpython.so": b"python library" * 1000,
        "python/lib/python3.7/os.pyc": b"os",
        "python/lib/python3.7/site-packages/a.libs/libblas.so": b"blas" * 5000,
        "python/lib/python3.7/site-packages/b.libs/libblas.so": b"blas" * 5000,
        "python/lib/python3.7/site-packages/app-copy.bin": b"per-build twin" * 100,
        "zz-after-python/notes.txt": b"sorts after python/",
    }
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    (root / "bin/demo").chmod(0o755)
    (root / "python/bin").mkdir()
    os.symlink("../lib/python3.7", root / "python/bin/stdlib-link")


def links_of(root: Path, fmt: str, shared: frozenset[str]) -> dict[str, str]:
    files = archive.manifest_files(root)
    return {
        **archive.duplicates([f for f in files if f["path"] in shared], fmt),
        **archive.duplicates([f for f in files if f["path"] not in shared], fmt),
    }


def segment_of(
    root: Path, names: frozenset[str], dest: Path, links: dict[str, str], *, fmt: str = "tar.gz", level: int = 6
) -> archive.Segment:
    tar_bytes = archive.write_segment(root, "python", TOP, dest, fmt=fmt, level=level, links=links)
    return archive.Segment(path=dest, tar_bytes=tar_bytes, subtree="python", names=names)


def decompress(path: Path) -> bytes:
    if path.name.endswith(".tar.zst"):
        with path.open("rb") as raw, zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True) as stream:
            return stream.read()
    return gzip.decompress(path.read_bytes())


@pytest.mark.parametrize("fmt", ["tar.gz", "tar.zst"])
def test_archive_with_a_segment_is_the_same_tar_as_one_stream(fmt: str, tmp_path: Path) -> None:
    root = tmp_path / "bundle"
    make_tree(root)
    names = frozenset({"python", *(f"python/{p.as_posix()}" for p in archive.walk(root / "python"))})
    links = links_of(root, fmt, names)
    assert links == {
        "app/twin.bin": "app/same.bin",
        "python/lib/python3.7/site-packages/b.libs/libblas.so": "python/lib/python3.7/site-packages/a.libs/libblas.so",
    }  # never across the segment's edge: app-copy.bin stays a file
    segment = segment_of(root, names, tmp_path / f"python.{fmt}", links, fmt=fmt, level=3)
    joined = tmp_path / f"joined.{fmt}"
    whole = tmp_path / f"whole.{fmt}"
    archive.write(root, TOP, joined, fmt=fmt, level=3, links=links, segment=segment)
    archive.write(root, TOP, whole, fmt=fmt, level=3, links=links)
    assert joined.read_bytes() != whole.read_bytes()  # three compressed parts, not one
    assert decompress(joined) == decompress(whole)
    assert len(decompress(joined)) % tarfile.RECORDSIZE == 0
    with open_tar(joined) as tar:
        members = [(m.name, m.type, m.linkname) for m in tar]
    names_in_order = [m[0] for m in members]
    assert names_in_order == sorted(names_in_order)
    assert (
        f"{TOP}/python/lib/python3.7/site-packages/b.libs/libblas.so",
        tarfile.LNKTYPE,
        f"{TOP}/python/lib/python3.7/site-packages/a.libs/libblas.so",
    ) in members
    assert (f"{TOP}/python/bin/stdlib-link", tarfile.SYMTYPE, "../lib/python3.7") in members


def test_a_segment_copied_through_memory_gives_the_kernels_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the kernel does not copy (no copy_file_range, another file system, a file
    system that stops short) is copied through memory: same archive."""
    root = tmp_path / "bundle"
    make_tree(root)
    names = frozenset({"python", *(f"python/{p.as_posix()}" for p in archive.walk(root / "python"))})
    links = links_of(root, "tar.gz", names)
    segment = segment_of(root, names, tmp_path / "python.tar.gz", links)
    by_kernel, partly, by_memory, refused = (tmp_path / f"{n}.tar.gz" for n in ("kernel", "partly", "memory", "refused"))
    archive.write(root, TOP, by_kernel, fmt="tar.gz", level=6, links=links, segment=segment)
    kernel_copy = os.copy_file_range
    calls = []

    def some_then_nothing(src: int, dst: int, count: int) -> int:  # as some file systems answer
        calls.append(count)
        return kernel_copy(src, dst, min(count, 100)) if len(calls) == 1 else 0

    monkeypatch.setattr(os, "copy_file_range", some_then_nothing)
    archive.write(root, TOP, partly, fmt="tar.gz", level=6, links=links, segment=segment)
    assert len(calls) == 2
    monkeypatch.delattr(os, "copy_file_range")
    archive.write(root, TOP, by_memory, fmt="tar.gz", level=6, links=links, segment=segment)

    def cross_device(*args: object) -> int:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "copy_file_range", cross_device, raising=False)
    archive.write(root, TOP, refused, fmt="tar.gz", level=6, links=links, segment=segment)
    assert by_kernel.read_bytes() == partly.read_bytes() == by_memory.read_bytes() == refused.read_bytes()


def test_a_segment_that_does_not_arrive_whole_fails_and_leaves_no_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "bundle"
    make_tree(root)
    names = frozenset({"python", *(f"python/{p.as_posix()}" for p in archive.walk(root / "python"))})
    links = links_of(root, "tar.gz", names)
    segment = segment_of(root, names, tmp_path / "python.tar.gz", links)

    def says_all_copies_none(src: int, dst: int, count: int) -> int:
        return count

    monkeypatch.setattr(os, "copy_file_range", says_all_copies_none)
    dest = tmp_path / "out" / "joined.tar.gz"
    with pytest.raises(BuildError, match=r"python\.tar\.gz changed while it was being copied into the archive"):
        archive.write(root, TOP, dest, fmt="tar.gz", level=6, links=links, segment=segment)
    assert list(dest.parent.iterdir()) == []


def test_gnu_tar_extracts_a_joined_archive(tmp_path: Path) -> None:
    tar_tool = shutil.which("tar")
    if tar_tool is None:
        pytest.fail("GNU tar is missing")
    root = tmp_path / "bundle"
    make_tree(root)
    names = frozenset({"python", *(f"python/{p.as_posix()}" for p in archive.walk(root / "python"))})
    links = links_of(root, "tar.gz", names)
    segment = segment_of(root, names, tmp_path / "python.tar.gz", links)
    joined = tmp_path / "joined.tar.gz"
    archive.write(root, TOP, joined, fmt="tar.gz", level=6, links=links, segment=segment)
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run([tar_tool, "-xzf", joined, "-C", out], check=True)
    extracted = out / TOP
    for rel in archive.walk(root):
        assert (extracted / rel).is_symlink() == (root / rel).is_symlink()
        if (root / rel).is_file() and not (root / rel).is_symlink():
            assert (extracted / rel).read_bytes() == (root / rel).read_bytes(), rel
    blas = extracted / "python/lib/python3.7/site-packages"
    assert (blas / "a.libs/libblas.so").stat().st_ino == (blas / "b.libs/libblas.so").stat().st_ino


def test_a_file_added_inside_the_segments_folder_goes_after_it(tmp_path: Path) -> None:
    """The Go binary's own vendored library lands in python/lib, which the cached segment does not hold."""
    root = tmp_path / "bundle"
    make_tree(root)
    names = frozenset({"python", *(f"python/{p.as_posix()}" for p in archive.walk(root / "python"))})
    segment = segment_of(root, names, tmp_path / "python.tar.gz", {})
    (root / "python/lib/libgo-needs.so").write_bytes(b"vendored for the binary")  # after the segment, as with a cached one
    joined = tmp_path / "joined.tar.gz"
    archive.write(root, TOP, joined, fmt="tar.gz", level=6, links={}, segment=segment)
    with open_tar(joined) as tar:
        order = [m.name for m in tar]
    assert order.index(f"{TOP}/python/lib/libgo-needs.so") > order.index(f"{TOP}/python/lib/python3.7/os.pyc")
    assert order.index(f"{TOP}/python/lib/libgo-needs.so") < order.index(f"{TOP}/zz-after-python")
    assert len(order) == len(set(order)) == len(archive.walk(root)) + 1


@pytest.mark.parametrize("fmt", ["tar.gz", "tar.zst"])
def test_compressed_bytes_do_not_depend_on_threads_or_write_sizes(fmt: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A release pipeline compares archives built on machines with different core counts."""
    source = tmp_path / "data.bin"
    # About 10 MiB that compress neither to nothing nor not at all: three gzip blocks.
    chunk = bytes(range(256)) * 64 + os.urandom(4096)
    source.write_bytes(b"".join(chunk[: 1 + i * 37 % len(chunk)] for i in range(1000)))
    outputs = set()
    for cpus in (1, 2, 3, 8):
        monkeypatch.setattr(os, "cpu_count", lambda cpus=cpus: cpus)
        dest = tmp_path / f"out-{cpus}.{fmt}"
        archive.compress_file(source, dest, fmt=fmt, level=6 if fmt == "tar.gz" else 3)
        outputs.add(dest.read_bytes())
    assert len(outputs) == 1
    compressed = outputs.pop()
    assert decompress(tmp_path / f"out-1.{fmt}") == source.read_bytes()
    if fmt == "tar.gz":
        assert compressed.count(b"\x1f\x8b\x08") >= 3  # members of 4 MiB, one per block
        assert compressed[4:8] == b"\0\0\0\0"  # no time in the header
