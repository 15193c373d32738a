"""The manifest and the deterministic archive (tar.gz, tar.zst or zip).

Entries are sorted, owned by 0:0 with no user names, stamped with one fixed
time (``SOURCE_DATE_EPOCH`` or 1980-01-01) and normalised modes; gzip carries no
name. Compression is parallel (pgzip, zstd's own threads) and gives the same
bytes whatever the number of threads. The archive is written under a temporary name beside its
destination and renamed into place, so a failure leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import tarfile
import time
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import pgzip
import zstandard

from gopack.errors import BuildError, UsageError

MANIFEST = "gopack.json"
MANIFEST_SCHEMA_VERSION = 1
DEFAULT_EPOCH = 315532800  # 1980-01-01T00:00:00Z, the earliest time zip can store


@dataclass(frozen=True, kw_only=True)
class FileEntry:
    path: str  # relative to the bundle root, '/'-separated
    size: int
    sha256: str
    mode: int
    link: str | None = None  # symlink target, relative


def epoch() -> int:
    value = os.environ.get("SOURCE_DATE_EPOCH", "")
    if not value:
        return DEFAULT_EPOCH
    try:
        return int(value)
    except ValueError:
        raise UsageError(f"SOURCE_DATE_EPOCH={value!r} is not a whole number of seconds", hint="unset it or set it to e.g. $(git log -1 --format=%ct)") from None


def walk(root: Path) -> list[Path]:
    """Every file, symlink and directory under ``root``, as relative paths sorted by
    their '/'-joined text (so a directory always comes before what it holds)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath).relative_to(root)
        found += [base / name for name in dirnames + filenames]
    return sorted(found, key=lambda p: p.as_posix())


def normal_mode(mode: int) -> int:
    if stat.S_ISDIR(mode) or mode & 0o111:
        return 0o755
    return 0o644


def file_entries(root: Path) -> list[FileEntry]:
    entries = []
    for rel in walk(root):
        full = root / rel
        info = full.lstat()
        if not stat.S_ISDIR(info.st_mode):
            entries.append(_entry(full, rel.as_posix(), info))
    return entries


def _entry(full: Path, path: str, info: os.stat_result) -> FileEntry:
    if stat.S_ISLNK(info.st_mode):
        return FileEntry(path=path, size=0, sha256="", mode=0o777, link=os.readlink(full))
    if stat.S_ISREG(info.st_mode):
        return FileEntry(path=path, size=info.st_size, sha256=sha256_file(full), mode=normal_mode(info.st_mode))
    raise BuildError(f"{full} is neither a file, a directory nor a symlink; it cannot go into an archive")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest_files(root: Path, *, known: Mapping[str, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The manifest's file list: every file and link (not directories), without the manifest.

    Entries in ``known`` (from the cache, same size) are taken as they are, not hashed again.
    """
    known = known or {}
    entries = []
    for rel in walk(root):
        path = rel.as_posix()
        if path == MANIFEST:
            continue
        full = root / rel
        info = full.lstat()
        if stat.S_ISDIR(info.st_mode):
            continue
        cached = known.get(path)
        if cached is not None and cached.get("size") == (0 if stat.S_ISLNK(info.st_mode) else info.st_size):
            entries.append(cached)
            continue
        entry = _entry(full, path, info)
        entries.append({k: v for k, v in vars(entry).items() if v is not None and not (k == "sha256" and entry.link)})
    return entries


def write_manifest(root: Path, document: Mapping[str, Any], files: list[dict[str, Any]]) -> dict[str, Any]:
    """Write ``document`` with its file list to ``root/gopack.json``."""
    manifest = {"schema_version": MANIFEST_SCHEMA_VERSION, **document, "files": files}
    (root / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=False) + "\n")
    return manifest


FORMATS = ("tar.gz", "tar.zst", "zip")
DEFAULT_LEVELS = {"tar.gz": 6, "tar.zst": 3, "zip": 6}
_BLOCK = 4 << 20


def duplicates(files: list[dict[str, Any]], fmt: str) -> dict[str, str]:
    """path -> the first path (in archive order) with the same content; tar formats only."""
    if fmt == "zip":
        return {}
    first: dict[str, str] = {}
    links: dict[str, str] = {}
    for entry in sorted(files, key=lambda e: str(e["path"])):
        digest = entry.get("sha256")
        if not digest or not entry.get("size"):
            continue
        if digest in first:
            links[entry["path"]] = first[digest]
        else:
            first[digest] = entry["path"]
    return links


def write(root: Path, top: str, dest: Path, *, fmt: str, level: int, links: Mapping[str, str]) -> int:
    """Pack ``root`` as ``top/...`` into ``dest`` atomically; return the archive's size.

    Paths in ``links`` are stored as hard links to the file with the same
    content (see :func:`duplicates`), so identical files are stored once.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    mtime = epoch()
    try:
        with tmp.open("wb") as raw:
            if fmt == "zip":
                _write_zip(root, top, raw, level=level, mtime=mtime)
            else:
                with _compressor(raw, fmt, level, mtime) as stream, tarfile.open(fileobj=stream, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                    tar.addfile(_info(top, tarfile.DIRTYPE, 0o755, mtime))
                    for rel in walk(root):
                        _add(tar, root, rel, top, mtime, links)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest.stat().st_size


@contextmanager
def _compressor(raw: BinaryIO, fmt: str, level: int, mtime: int) -> Iterator[BinaryIO]:
    """A parallel, deterministic compressing stream (same bytes for any thread count)."""
    threads = os.cpu_count() or 1
    if fmt == "tar.gz":
        with pgzip.PgzipFile(filename="", mode="wb", fileobj=raw, mtime=mtime, compresslevel=level, thread=threads, blocksize=_BLOCK) as gz:
            yield gz
    elif fmt == "tar.zst":
        with zstandard.ZstdCompressor(level=level, threads=-1).stream_writer(raw, closefd=False) as zst:
            yield zst  # type: ignore[misc]
    else:
        raise UsageError(f"unknown archive format {fmt!r}", hint=f"use one of {', '.join(FORMATS)}")


def compress_file(source: Path, dest: Path, *, fmt: str, level: int) -> None:
    """Compress a file with the archive writer's own compressor (used by bench/)."""
    with source.open("rb") as src, dest.open("wb") as raw, _compressor(raw, fmt, level, DEFAULT_EPOCH) as out:
        shutil.copyfileobj(src, out, _BLOCK)


def _info(name: str, kind: bytes, mode: int, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = kind, mode, mtime
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _add(tar: tarfile.TarFile, root: Path, rel: Path, top: str, mtime: int, links: Mapping[str, str]) -> None:
    full, name, key = root / rel, f"{top}/{rel.as_posix()}", rel.as_posix()
    st = full.lstat()
    if stat.S_ISLNK(st.st_mode):
        info = _info(name, tarfile.SYMTYPE, 0o777, mtime)
        info.linkname = os.readlink(full)
        tar.addfile(info)
    elif stat.S_ISDIR(st.st_mode):
        tar.addfile(_info(name, tarfile.DIRTYPE, 0o755, mtime))
    elif key in links:
        info = _info(name, tarfile.LNKTYPE, normal_mode(st.st_mode), mtime)
        info.linkname = f"{top}/{links[key]}"
        tar.addfile(info)
    else:
        info = _info(name, tarfile.REGTYPE, normal_mode(st.st_mode), mtime)
        info.size = st.st_size
        with full.open("rb") as f:
            tar.addfile(info, f)


def _write_zip(root: Path, top: str, raw: BinaryIO, *, level: int, mtime: int) -> None:
    stamp = time.gmtime(max(mtime, DEFAULT_EPOCH))[:6]
    with zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=level) as zf:
        for rel in [Path(), *walk(root)]:
            full = root / rel
            name = f"{top}/{rel.as_posix()}" if rel != Path() else top
            st = full.lstat()
            if stat.S_ISDIR(st.st_mode):
                info = zipfile.ZipInfo(name + "/", stamp)
                info.external_attr = (stat.S_IFDIR | 0o755) << 16 | 0x10
                zf.writestr(info, b"")
            elif stat.S_ISLNK(st.st_mode):
                raise BuildError(f"{rel} is a symbolic link, which zip archives cannot hold", hint="use output.format: tar.gz")
            else:
                info = zipfile.ZipInfo(name, stamp)
                info.external_attr = (stat.S_IFREG | normal_mode(st.st_mode)) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                with full.open("rb") as f, zf.open(info, "w") as out:
                    shutil.copyfileobj(f, out, _BLOCK)


def archive_format(path: Path) -> str:
    for fmt in FORMATS:
        if path.name.endswith("." + fmt):
            return fmt
    raise UsageError(f"{path}: not a gopack archive name (expected .tar.gz, .tar.zst or .zip)")


@contextmanager
def open_tar(path: Path) -> Iterator[tarfile.TarFile]:
    """A tar archive (gzip or zstd) opened for reading."""
    if archive_format(path) == "tar.zst":
        with path.open("rb") as raw, zstandard.ZstdDecompressor().stream_reader(raw) as stream, tarfile.open(fileobj=stream, mode="r|") as tar:
            yield tar
    else:
        with tarfile.open(path, "r:*") as tar:
            yield tar


def read_manifest(archive: Path) -> dict[str, Any]:
    """The manifest inside an archive, without extracting anything else."""
    try:
        if archive_format(archive) == "zip":
            with zipfile.ZipFile(archive) as zf:
                for name in zf.namelist():
                    if name.count("/") == 1 and name.endswith("/" + MANIFEST):
                        return dict(json.loads(zf.read(name)))
        else:
            with open_tar(archive) as tar:
                for member in tar:
                    if member.name.count("/") == 1 and member.name.endswith("/" + MANIFEST):
                        f = tar.extractfile(member)
                        if f is not None:  # read() whole: a streamed member cannot seek
                            return dict(json.loads(f.read().decode("utf-8")))
    except (OSError, tarfile.TarError, zipfile.BadZipFile, zstandard.ZstdError) as exc:
        raise UsageError(f"{archive}: cannot read the archive: {exc}") from None
    raise UsageError(f"{archive}: holds no {MANIFEST}; it was not made by gopack")
