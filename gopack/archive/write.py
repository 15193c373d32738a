"""The manifest and the deterministic archive (tar.gz, tar.zst or zip).

Entries are sorted, owned by 0:0 with no user names, stamped with one fixed
time (``SOURCE_DATE_EPOCH`` or 1980-01-01) and normalised modes; gzip carries no
name. Compression is parallel (gzip: fixed 4 MiB blocks compressed by
zlib-ng on a thread each; zstd: its own threads) and gives the same bytes
whatever the number of threads. The archive is written under a temporary name beside its
destination and renamed into place, so a failure leaves nothing behind.

A tar archive may carry a :class:`Segment`: the entries of one subtree (the
cached ``python/``) compressed on their own, once, and copied in as they are.
gzip members and zstd frames may be concatenated (gzip, ``tar xzf``, ``zstd
-d`` and tarfile read them as one stream), so the archive is: the entries that
sort before the subtree, compressed; the segment's bytes; the entries after
it and the end-of-archive blocks, compressed. Hard links stay inside their
part, each after its target.
"""

from __future__ import annotations

import errno
import fcntl
import glob
import io
import json
import os
import shutil
import stat
import tarfile
import time
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, final

import zstandard
from zlib_ng import gzip_ng, zlib_ng

from gopack import _cputime
from gopack._fs import sha256_file, sha256_of
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
        raise UsageError(
            f"SOURCE_DATE_EPOCH={value!r} is not a whole number of seconds", hint="unset it or set it to e.g. $(git log -1 --format=%ct)"
        ) from None


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


def manifest_files(root: Path, *, known: Mapping[str, dict[str, Any]] | None = None, but: str | None = None) -> list[dict[str, Any]]:
    """The manifest's file list: every file and link (not directories), without the manifest
    (nor what is in the folder ``but``, if given: one still being written).

    Entries in ``known`` (from the cache, same size) are taken as they are, not hashed again.
    """
    known = known or {}
    entries: list[dict[str, Any] | None] = []
    new: dict[int, tuple[Path, str, os.stat_result]] = {}  # index in entries -> what to hash
    for rel in walk(root):
        path = rel.as_posix()
        if path == MANIFEST or (but is not None and path.startswith(f"{but}/")):
            continue
        full = root / rel
        info = full.lstat()
        if stat.S_ISDIR(info.st_mode):
            continue
        cached = known.get(path)
        if cached is not None and cached.get("size") == (0 if stat.S_ISLNK(info.st_mode) else info.st_size):
            entries.append(cached)
        else:
            new[len(entries)] = (full, path, info)
            entries.append(None)

    # Hashing on a thread per CPU: hashlib lets go of the GIL for all but tiny files.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="gopack-hash") as pool:
        for i, entry in zip(new, pool.map(_cputime.carried(_listed_item), new.values())):
            entries[i] = entry
    return [e for e in entries if e is not None]


def with_files(root: Path, files: list[dict[str, Any]], paths: list[str]) -> list[dict[str, Any]]:
    """``files`` (a :func:`manifest_files` list of ``root``) with ``paths``, files written into
    ``root`` since, in their places: what :func:`manifest_files` would give without walking again."""
    added = {path: _listed(root / path, path, (root / path).lstat()) for path in paths}
    return sorted([*(f for f in files if f["path"] not in added), *added.values()], key=lambda f: str(f["path"]))


def with_folder(root: Path, files: list[dict[str, Any]], folder: str) -> list[dict[str, Any]]:
    """``files`` (a :func:`manifest_files` list of ``root`` made with ``but=folder``) with what ``folder`` holds now."""
    paths = [f"{folder}/{rel.as_posix()}" for rel in walk(root / folder) if not (root / folder / rel).is_dir()]
    return with_files(root, files, paths)


def _listed_item(item: tuple[Path, str, os.stat_result]) -> dict[str, Any]:
    return _listed(*item)


def _listed(full: Path, path: str, info: os.stat_result) -> dict[str, Any]:
    """A file's entry in the manifest's list."""
    entry = _entry(full, path, info)
    return {k: v for k, v in vars(entry).items() if v is not None and not (k == "sha256" and entry.link)}


def write_manifest(root: Path, document: Mapping[str, Any], files: list[dict[str, Any]]) -> dict[str, Any]:
    """Write ``document`` with its file list to ``root/gopack.json``."""
    manifest = {"schema_version": MANIFEST_SCHEMA_VERSION, **document, "files": files}
    (root / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=False) + "\n")
    return manifest


def write_file(dest: Path, data: bytes) -> None:
    """Write ``data`` to ``dest`` under a temporary name beside it, then rename it into place
    (removing what a killed writer of ``dest`` left)."""
    remove_abandoned(dest)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


FORMATS = ("tar.gz", "tar.zst", "zip")
#: gzip at 5, not 6: on the sklearn example's 170 MB tree zlib-ng spends 13% less CPU (1.42 s
#: against 1.64 s) for an archive 0.2% bigger (50.17 against 50.06 MB); at 4 the archive is 1.7% bigger.
DEFAULT_LEVELS = {"tar.gz": 5, "tar.zst": 3, "zip": 6}
_NO_KERNEL_COPY = frozenset({errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL, errno.EBADF})
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


@dataclass(frozen=True, kw_only=True)
class Segment:
    """Tar entries of ``subtree`` (and all it holds), compressed on their own, with no
    end-of-archive blocks (see :func:`write_segment`)."""

    path: Path  # the compressed bytes
    tar_bytes: int  # their length uncompressed
    subtree: str  # bundle-relative, e.g. "python"
    names: frozenset[str]  # every bundle-relative path the segment holds, the subtree itself included


def write_segment(root: Path, subtree: str, top: str, dest: Path, *, fmt: str, level: int, links: Mapping[str, str]) -> int:
    """Write the entries of ``root/subtree`` (as ``top/subtree/...``) compressed to ``dest``
    with no end-of-archive blocks; return their uncompressed length. ``links`` as
    for :func:`write`, targets inside the subtree."""
    mtime = epoch()
    with dest.open("wb") as raw, _compressor(raw, fmt, level) as stream:
        tar = _TarWriter(stream)
        for rel in [Path(subtree), *(Path(subtree) / r for r in walk(root / subtree))]:
            _add(tar, root, rel, top, mtime, links)
    return tar.offset


def remove_abandoned(dest: Path) -> None:
    """Remove the temporary files (or folders: an image layout) a killed writer of ``dest``
    left beside it: those whose writer (the pid in the name) is gone and that no process
    holds locked (a live writer holds its own until it renames it; the lock covers a pid
    reused or seen from another machine)."""
    for stale in dest.parent.glob(f".{glob.escape(dest.name)}.*.tmp"):
        pid = stale.name[len(dest.name) + 2 : -len(".tmp")]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        try:
            fd = os.open(stale, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # being written
        else:
            if stat.S_ISDIR(os.fstat(fd).st_mode):
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)
        finally:
            os.close(fd)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write(root: Path, top: str, dest: Path, *, fmt: str, level: int, links: Mapping[str, str], segment: Segment | None = None) -> int:
    """Pack ``root`` as ``top/...`` into ``dest`` atomically; return the archive's size.

    Paths in ``links`` are stored as hard links to the file with the same
    content (see :func:`duplicates`), so identical files are stored once. With
    a ``segment`` (tar formats), what it holds is copied from it, not read from ``root``.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    remove_abandoned(dest)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    mtime = epoch()
    try:
        with tmp.open("wb") as raw:
            fcntl.flock(raw.fileno(), fcntl.LOCK_EX)  # held while it is written: see remove_abandoned
            if fmt == "zip":
                _write_zip(root, top, raw, level=level, mtime=mtime)
            else:
                entries = [rel for rel in walk(root) if segment is None or rel.as_posix() not in segment.names]
                _write_tar(raw, root, top, entries, fmt=fmt, level=level, links=links, segment=segment, mtime=mtime)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest.stat().st_size


def _write_tar(
    raw: BinaryIO,
    root: Path,
    top: str,
    entries: Sequence[Path],
    *,
    fmt: str,
    level: int,
    links: Mapping[str, str],
    segment: Segment | None,
    mtime: int,
) -> None:
    """``entries`` of ``root`` (sorted, relative) as ``top/...`` after ``top``'s own folders
    (each of its components), with ``segment``'s bytes in their place; a whole tar archive."""
    before = [rel for rel in entries if segment is None or rel.as_posix() < segment.subtree]
    parts = top.split("/")
    with _compressor(raw, fmt, level) as stream:
        tar = _TarWriter(stream)
        for i in range(1, len(parts) + 1):
            tar.add(_info("/".join(parts[:i]), tarfile.DIRTYPE, 0o755, mtime))
        for rel in before:
            _add(tar, root, rel, top, mtime, links)
    offset = tar.offset
    if segment is not None:
        _append(segment.path, raw)
        offset += segment.tar_bytes
    with _compressor(raw, fmt, level) as stream:
        tar = _TarWriter(stream, offset=offset)
        for rel in entries[len(before) :]:
            _add(tar, root, rel, top, mtime, links)
        tar.close()


def write_layer(
    root: Path, top: str, dest: Path, *, entries: Sequence[Path], level: int, links: Mapping[str, str], segment: Segment | None = None
) -> None:
    """An image layer: ``entries`` of ``root`` (sorted, relative; with ``segment``, what it holds
    is copied from it) as ``top/...``, a whole gzip tar archive written to ``dest``."""
    with dest.open("wb") as raw:
        _write_tar(raw, root, top, entries, fmt="tar.gz", level=level, links=links, segment=segment, mtime=epoch())


@dataclass(frozen=True, kw_only=True)
class LayerEntry:
    """One entry of an image layer that is not a bundle's: a folder, a file (copied from
    ``source``, or holding ``data``) or a symbolic link to ``link``."""

    path: str  # inside the image, without the leading "/"
    kind: str  # "dir", "file" or "symlink"
    mode: int = 0o755
    owner: int = 0  # uid and gid
    source: Path | None = None
    data: bytes | None = None
    link: str | None = None


_KINDS = {"dir": tarfile.DIRTYPE, "file": tarfile.REGTYPE, "symlink": tarfile.SYMTYPE}


def write_entries(dest: Path, entries: Sequence[LayerEntry], *, level: int) -> None:
    """An image layer holding ``entries``, sorted by path: a whole gzip tar archive written to ``dest``."""
    mtime = epoch()
    with dest.open("wb") as raw, _compressor(raw, "tar.gz", level) as stream:
        tar = _TarWriter(stream)
        for entry in sorted(entries, key=lambda e: e.path):
            info = _info(entry.path, _KINDS[entry.kind], entry.mode, mtime)
            info.uid = info.gid = entry.owner
            if entry.kind == "symlink":
                info.linkname = entry.link or ""
                tar.add(info)
            elif entry.kind == "dir":
                tar.add(info)
            elif entry.source is not None:
                info.size = entry.source.stat().st_size
                with entry.source.open("rb") as f:
                    tar.add(info, f)
            else:
                data = entry.data or b""
                info.size = len(data)
                tar.add(info, io.BytesIO(data))
        tar.close()


def gunzip_sha256(path: Path) -> str:
    """The sha256 of what the gzip file at ``path`` (one member or several) holds: a layer's diff_id."""
    with gzip_ng.open(path, "rb") as f:  # type: ignore[no-untyped-call]  # zlib-ng ships no annotations for it
        return sha256_of(f, _BLOCK)


def _append(path: Path, out: BinaryIO) -> None:
    """Add the file at ``path`` to the end of ``out``: copied by the kernel
    (copy_file_range: a 50 MB segment in 12 ms instead of 40-120 ms), else through memory."""
    out.flush()
    begin = out.tell()
    kernel_copy = getattr(os, "copy_file_range", None)  # Linux only
    with path.open("rb") as src:
        size = left = os.fstat(src.fileno()).st_size
        try:
            while left and kernel_copy is not None and (copied := kernel_copy(src.fileno(), out.fileno(), left)):
                left -= copied
        except OSError as exc:
            if exc.errno not in _NO_KERNEL_COPY:  # else: not between these two files
                raise
        if left:  # what the kernel did not copy
            src.seek(size - left)
            shutil.copyfileobj(src, out, _BLOCK)
    # The kernel moved the file's position, not the writer's idea of it.
    if out.seek(0, os.SEEK_END) - begin != size:
        raise BuildError(f"{path} changed while it was being copied into the archive")


class _TarWriter:
    """Tar entries (POSIX.1-2001/pax headers from :class:`tarfile.TarInfo`) written to a
    stream. Unlike :class:`tarfile.TarFile` it writes the end-of-archive blocks only
    when told to, so that parts written apart can be joined; ``offset`` counts the
    bytes of the whole archive so far, which sets the final padding."""

    def __init__(self, out: BinaryIO, *, offset: int = 0) -> None:
        self.out, self.offset = out, offset

    def add(self, info: tarfile.TarInfo, data: BinaryIO | None = None) -> None:
        header = info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
        self.out.write(header)
        self.offset += len(header)
        if data is None:
            return
        left = info.size
        while left:
            block = data.read(min(left, _BLOCK))
            if not block:
                raise BuildError(f"{info.name} shrank while it was being archived")
            self.out.write(block)
            left -= len(block)
        padding = -info.size % tarfile.BLOCKSIZE
        self.out.write(tarfile.NUL * padding)
        self.offset += info.size + padding

    def close(self) -> None:
        """Two zero blocks, then zeros up to a whole record, as tar and tarfile end an archive."""
        end = 2 * tarfile.BLOCKSIZE + (-(self.offset + 2 * tarfile.BLOCKSIZE) % tarfile.RECORDSIZE)
        self.out.write(tarfile.NUL * end)
        self.offset += end


@contextmanager
def _compressor(raw: BinaryIO, fmt: str, level: int) -> Iterator[BinaryIO]:
    """A parallel, deterministic compressing stream (same bytes for any thread count)."""
    if fmt == "tar.gz":
        with _GzipMembers(raw, level=level) as gz:
            yield gz  # type: ignore[misc]
    elif fmt == "tar.zst":
        with zstandard.ZstdCompressor(level=level, threads=-1).stream_writer(raw, closefd=False) as zst:
            yield zst
    else:
        raise UsageError(f"unknown archive format {fmt!r}", hint=f"use one of {', '.join(FORMATS)}")


@final  # __enter__ returns exactly this class
class _GzipMembers:
    """gzip as a series of members, one per :data:`_BLOCK` bytes of input, each
    compressed by zlib-ng on a worker thread (zlib-ng releases the GIL) and written in order.

    The blocks are cut at fixed offsets and each is compressed on its own, so
    the bytes do not depend on the number of threads or on how writes arrive;
    a member's header has no name and no time. Readers (gzip, ``tar xzf``,
    tarfile) treat the members as one stream. On the sklearn example's 170 MB
    tree zlib-ng at level 6 compresses 2.5x faster than zlib (pgzip, which
    gopack used before) for an output 2% larger. The zlib-ng wheel carries its
    own copy of the library, so the bytes do not depend on the host's zlib.
    """

    def __init__(self, raw: BinaryIO, *, level: int) -> None:
        self.raw, self.level = raw, level
        self.threads = os.cpu_count() or 1
        self.pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="gzip")
        self.pending: list[Future[bytes]] = []
        self.buffer = bytearray()

    def __enter__(self) -> _GzipMembers:
        return self

    def __exit__(self, kind: object, *_: object) -> None:
        try:
            if kind is None:
                self.close()
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def write(self, data: bytes) -> int:
        self.buffer += data
        while len(self.buffer) >= _BLOCK:
            self._submit(bytes(self.buffer[:_BLOCK]))
            del self.buffer[:_BLOCK]
        return len(data)

    def close(self) -> None:
        if self.buffer:
            self._submit(bytes(self.buffer))
            self.buffer.clear()
        self._drain(0)

    def _submit(self, block: bytes) -> None:
        self.pending.append(self.pool.submit(_cputime.carried(zlib_ng.compress), block, self.level, wbits=31))
        self._drain(2 * self.threads)  # bounded: a few blocks in flight, not the whole archive

    def _drain(self, keep: int) -> None:
        while len(self.pending) > keep:
            self.raw.write(self.pending.pop(0).result())


def compress_file(source: Path, dest: Path, *, fmt: str, level: int) -> None:
    """Compress a file with the archive writer's own compressor (used by bench/)."""
    with source.open("rb") as src, dest.open("wb") as raw, _compressor(raw, fmt, level) as out:
        shutil.copyfileobj(src, out, _BLOCK)


def _info(name: str, kind: bytes, mode: int, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = kind, mode, mtime
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _add(tar: _TarWriter, root: Path, rel: Path, top: str, mtime: int, links: Mapping[str, str]) -> None:
    full, name, key = root / rel, f"{top}/{rel.as_posix()}", rel.as_posix()
    st = full.lstat()
    if stat.S_ISLNK(st.st_mode):
        info = _info(name, tarfile.SYMTYPE, 0o777, mtime)
        info.linkname = os.readlink(full)
        tar.add(info)
    elif stat.S_ISDIR(st.st_mode):
        tar.add(_info(name, tarfile.DIRTYPE, 0o755, mtime))
    elif key in links:
        info = _info(name, tarfile.LNKTYPE, normal_mode(st.st_mode), mtime)
        info.linkname = f"{top}/{links[key]}"
        tar.add(info)
    else:
        info = _info(name, tarfile.REGTYPE, normal_mode(st.st_mode), mtime)
        info.size = st.st_size
        with full.open("rb") as f:
            tar.add(info, f)


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
    raise UsageError(
        f"{path}: not a gopack archive name (expected .tar.gz, .tar.zst or .zip) and no executable's trailer at its end",
        hint="pass what gopack bundle wrote; an executable cut short has lost its trailer: copy it again",
    )
