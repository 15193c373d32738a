"""Archives an attacker would make, built entry by entry, with a manifest that matches them.

The manifest lists every file and symlink of the archive with its true size,
sha256 and link text, so that what ``gopack verify`` refuses is the hostile
part itself, not a mismatch with the manifest.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conftest import REPO, Canaries


@dataclass(frozen=True)
class Item:
    """One archive entry, its name relative to the archive (not the bundle)."""

    name: str
    data: bytes | None = None  # a regular file
    symlink: str | None = None
    hardlink: str | None = None  # an archive name
    directory: bool = False
    mode: int = 0o644
    size: int | None = None  # a tar header that says other than len(data)
    kind: bytes | None = None  # another tar type (a device, a fifo)


@dataclass
class Bundle:
    top: str
    items: list[Item] = field(default_factory=list)
    smoke: dict[str, Any] = field(default_factory=lambda: {"command": ["bin/app"], "expect": ["OK"], "timeout": 60})

    def dir(self, rel: str) -> Bundle:
        self.items.append(Item(f"{self.top}/{rel}", directory=True, mode=0o755))
        return self

    def file(self, rel: str, data: bytes, *, executable: bool = False) -> Bundle:
        self.items.append(Item(f"{self.top}/{rel}", data=data, mode=0o755 if executable else 0o644))
        return self

    def script(self, rel: str, text: str) -> Bundle:
        return self.file(rel, ("#!/bin/sh\n" + text).encode(), executable=True)

    def add(self, item: Item) -> Bundle:
        self.items.append(item)
        return self

    def manifest(self) -> dict[str, Any]:
        """A manifest with every field gopack writes, listing the bundle's entries."""
        files: list[dict[str, Any]] = []
        contents = {i.name: i.data for i in self.items if i.data is not None}
        prefix = self.top + "/"
        for item in self.items:
            if not item.name.startswith(prefix) or item.directory or item.kind is not None:
                continue
            path = item.name[len(prefix) :]
            if item.symlink is not None:
                files.append({"path": path, "size": 0, "mode": 0o777, "link": item.symlink})
                continue
            data = item.data if item.hardlink is None else contents.get(item.hardlink, b"")
            assert data is not None
            files.append(
                {"path": path, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "mode": 0o755 if item.mode & 0o111 else 0o644}
            )
        return {
            "schema_version": 1,
            "gopack_version": "0.1.0",
            "name": self.top,
            "version": "1.0",
            "platform": "manylinux_2_17_x86_64",
            "python": {
                "version": "3.11.7",
                "abi": "cp311",
                "tag": "cp311",
                "libpython": "libpython3.11.so.1.0",
                "executable": "python/bin/python3.11",
            },
            "binding": {"name": "cgo", "module": "example.com/app", "version": "", "pkg_config": ["python3-embed"]},
            "go": {"version": "go1.26.0", "goos": "linux", "goarch": "amd64", "binary": "bin/app", "rpath": "$ORIGIN/../python/lib"},
            "glibc": {"floor": None, "symbol_versions": {}, "tag": "manylinux_2_17_x86_64"},
            "host_libraries": [],
            "vendored": [],
            "installer": "none",
            "packages": [],
            "pruned": [],
            "stripped": {"files": 0, "bytes": 0, "restored": [], "blanked": {"files": 0, "bytes": 0}},
            "components": {},
            "smoke": self.smoke,
            "deduplicated": {"files": 0, "bytes": 0},
            "files": sorted(files, key=lambda f: str(f["path"])),
        }

    def entries(self, manifest: bytes | None = None, *, in_order: bool = False) -> list[Item]:
        """Every entry: the top folder, then ours sorted with the manifest in its place, as gopack
        writes them; ``in_order``: the manifest first, then ours in the order they were added."""
        text = manifest if manifest is not None else json.dumps(self.manifest(), indent=1).encode()
        ours = Item(f"{self.top}/gopack.json", data=text)
        rest = [ours, *self.items] if in_order else sorted([ours, *self.items], key=lambda i: i.name)
        return [Item(self.top, directory=True, mode=0o755), *rest]

    def tar(self, dest: Path, *, manifest: bytes | None = None, in_order: bool = False) -> Path:
        write_tar(dest, self.entries(manifest, in_order=in_order))
        return dest

    def zip(self, dest: Path) -> Path:
        """Entries as ``ZipFile.writestr`` stores them: plain permission bits, no file type."""
        with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for item in self.entries():
                if item.directory:
                    zf.writestr(item.name + "/", b"")
                elif item.data is not None and item.mode & 0o111:
                    info = zipfile.ZipInfo(item.name)
                    info.external_attr = 0o755 << 16  # permission bits only, as a script made by hand would have
                    zf.writestr(info, item.data)
                elif item.data is not None:
                    zf.writestr(item.name, item.data)  # 0o600 << 16: what writestr gives
                else:
                    raise ValueError(f"zip cannot hold {item}")
        return dest


def write_tar(dest: Path, items: Sequence[Item]) -> None:
    mode = "w:zst" if dest.name.endswith(".zst") else "w:gz"
    if mode == "w:zst":
        import zstandard

        with dest.open("wb") as raw, zstandard.ZstdCompressor().stream_writer(raw) as out, tarfile.open(fileobj=out, mode="w|") as tar:
            _add_all(tar, items)
        return
    with tarfile.open(dest, mode) as tar:
        _add_all(tar, items)


def _add_all(tar: tarfile.TarFile, items: Sequence[Item]) -> None:
    for item in items:
        info = tarfile.TarInfo(item.name)
        info.mode = item.mode
        if item.directory:
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
        elif item.symlink is not None:
            info.type, info.linkname = tarfile.SYMTYPE, item.symlink
            tar.addfile(info)
        elif item.hardlink is not None:
            info.type, info.linkname = tarfile.LNKTYPE, item.hardlink
            tar.addfile(info)
        elif item.kind is not None:
            info.type = item.kind
            tar.addfile(info)
        else:
            assert item.data is not None
            info.size = len(item.data) if item.size is None else item.size
            tar.addfile(info, io.BytesIO(item.data) if item.size is None else _Zeros(info.size))


class _Zeros(io.RawIOBase):
    """``size`` zero bytes, never all in memory."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n


# -- raw tar, header by header: what tarfile itself would never write ---------------------------


def tar_header(name: str, *, kind: bytes = tarfile.REGTYPE, size: int = 0, mode: int = 0o644, link: str = "") -> bytes:
    """One header block with a right checksum (``size`` need not match what follows)."""
    info = tarfile.TarInfo(name)
    info.type, info.size, info.mode, info.linkname = kind, size, mode, link
    return info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")


def tar_record(kind: bytes, payload: bytes) -> bytes:
    """An extended header ('x' PAX, 'L' GNU long name, 'K' long link) holding ``payload``."""
    return tar_header("././@LongLink", kind=kind, size=len(payload)) + payload + bytes(-len(payload) % 512)


def pax_records(records: dict[str, str]) -> bytes:
    """PAX ``LENGTH KEY=VALUE\\n`` records, each length counting its own digits."""
    out = b""
    for key, value in records.items():
        body = f" {key}={value}\n".encode()
        length = len(body) + 1
        while len(str(length)) + len(body) != length:
            length += 1
        out += str(length).encode() + body
    return out


def tar_members(items: Sequence[Item]) -> bytes:
    """The tar stream of ``items`` without the end-of-archive marker, to be continued."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        _add_all(tar, items)
        end = tar.offset
    return out.getvalue()[:end]


def compress(dest: Path, raw: bytes | Iterable[bytes]) -> Path:
    """``raw`` (one stream, or its parts in order) gzip- or zstd-compressed into ``dest``."""
    parts = [raw] if isinstance(raw, bytes) else raw
    if dest.name.endswith(".zst"):
        import zstandard

        with dest.open("wb") as f, zstandard.ZstdCompressor(level=1).stream_writer(f) as out:
            for part in parts:
                out.write(part)
        return dest
    import gzip

    with gzip.open(dest, "wb", compresslevel=1) as gz:
        for part in parts:
            gz.write(part)
    return dest


def zeros(size: int) -> Iterator[bytes]:
    """``size`` zero bytes in blocks of at most 1 MiB."""
    while size:
        n = min(size, 1 << 20)
        yield bytes(n)
        size -= n


def sha256_of_zeros(size: int) -> str:
    digest = hashlib.sha256()
    for block in zeros(size):
        digest.update(block)
    return digest.hexdigest()


# -- running gopack on them --------------------------------------------------------------------

FAILED = 5


def gopack(*args: str, tmpdir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TMPDIR": str(tmpdir)}
    return subprocess.run([sys.executable, "-m", "gopack", *args], capture_output=True, text=True, check=False, env=env, cwd=REPO)


def refused(archive: Path, canaries: Canaries, *, command: str = "verify") -> str:
    """Run ``gopack command archive``; check it fails cleanly and changes nothing; return stderr."""
    before = canaries.snapshot()
    result = gopack(command, str(archive), tmpdir=canaries.tmpdir)
    assert result.returncode == FAILED, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert canaries.snapshot() == before
    assert list(canaries.tmpdir.iterdir()) == []
    return result.stderr


def error_line(stderr: str) -> str:
    (line,) = [line for line in stderr.splitlines() if line.startswith("error: ")]
    return line


def app(top: str, script: str = "echo OK\n") -> Bundle:
    """A bundle whose program is the shell ``script``."""
    return Bundle(top).script("bin/app", script)


def with_manifest(bundle: Bundle, dest: Path, edit: Any) -> Path:
    """``bundle`` as a tar at ``dest`` whose manifest ``edit`` changed in place."""
    document = bundle.manifest()
    edit(document)
    return bundle.tar(dest, manifest=json.dumps(document).encode())
