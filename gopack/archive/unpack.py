"""Read and extract an archive someone else made, without trusting it.

Two passes over the same open file:

1. :meth:`Archive.scan` reads every entry and writes nothing; the rules are in
   :mod:`gopack.archive.entries` (names, types, links, the manifest and its schema,
   sizes, the smoke command).
2. :meth:`Archive.extract` creates each entry relative to an open directory
   descriptor: folders are opened with ``O_NOFOLLOW`` one component at a
   time, files created with ``O_CREAT | O_EXCL | O_NOFOLLOW``, links with
   ``symlinkat``/``linkat`` (never following), so nothing is written through
   a link whatever the archive holds. The data are streamed with the
   manifest's sizes as caps: a block that would pass an entry's size or the
   manifest's total is refused before it is written. An entry that differs
   from what the first pass saw stops the extraction.

A gopack executable (``output.format: exe``) is read the same way: its payload, the
tar.gz after the launcher, is what both passes see (:class:`gopack.archive.exe.Section`);
its trailer's digests of the payload and the manifest are checked by the scan.

Neither :mod:`tarfile`'s extraction filters nor ``os.path.realpath`` is used:
both are what the CVE-2025-4517 class of attacks (symlink chains longer than
PATH_MAX) gets around.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import io
import os
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, cast

import zstandard
from zlib_ng import gzip_ng, zlib_ng

from gopack.archive import exe, manifest, zipcheck
from gopack.archive import write as archive
from gopack.archive.entries import DIR, FILE, HARDLINK, SYMLINK, Checker, Entry, Listing, Member, Refused, make_entry
from gopack.archive.limits import HINT, Budget
from gopack.archive.tarstream import TarStream
from gopack.errors import UsageError, VerifyError
from gopack.platform import platforms

_BLOCK = 1 << 20
_ROOM_HINT = "free space there, or set TMPDIR to a folder on a disk with more room (this says nothing against the archive)"
_DAMAGED: tuple[type[BaseException], ...] = (
    OSError,
    EOFError,
    zlib.error,
    # Not a zlib.error: what zlib-ng's gzip reader raises on damaged data (its stub declares an instance).
    cast(type[BaseException], zlib_ng.error),
    tarfile.TarError,
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zstandard.ZstdError,
    NotImplementedError,
)


def scan(path: Path, *, keep: Mapping[str, int] | None = None) -> Listing:
    """The first pass alone (``gopack inspect``): every check, nothing written. ``keep``: files
    (bundle-relative) whose bytes the listing keeps, each with the most it may hold."""
    with opened(path) as arc:
        return arc.scan(keep=keep)


@contextmanager
def opened(path: Path) -> Iterator[Archive]:
    """The archive at ``path``, open for both passes."""
    arc = Archive(path)
    try:
        yield arc
    finally:
        arc.close()


class Archive:
    """One archive file, opened once for both passes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.file: IO[bytes] = path.open("rb")
        except OSError as exc:
            raise UsageError(f"{path}: cannot read: {exc.strerror}", hint="pass the archive gopack bundle wrote") from None
        try:
            #: The executable's trailer; None for an archive.
            self.trailer = exe.read_trailer(self.file, str(path))
            self.fmt = exe.PAYLOAD_FORMAT if self.trailer is not None else archive.archive_format(path)
        except BaseException:
            self.file.close()
            raise
        self.raw: IO[bytes] = self.file
        if self.trailer is not None:
            self.raw = io.BufferedReader(exe.Section(self.file, self.trailer.offset, self.trailer.size), _BLOCK)
        #: What the caps measure against: the archive's bytes (an executable's embedded one).
        self.size = self.trailer.size if self.trailer is not None else os.fstat(self.file.fileno()).st_size
        self.zip: zipfile.ZipFile | None = None
        if self.fmt == "zip":
            try:
                zipcheck.check_directory(self.raw, self.size, str(path))
                self.zip = zipfile.ZipFile(self.raw)
                zipcheck.check_apart(self.zip, self.raw, str(path))
            except _DAMAGED as exc:
                self.close()
                raise VerifyError(f"{path}: the archive is damaged or not a zip file: {_text(exc)}", hint=HINT) from None
            except VerifyError:
                self.close()
                raise

    def close(self) -> None:
        if self.zip is not None:
            self.zip.close()
        self.file.close()

    def scan(self, *, keep: Mapping[str, int] | None = None) -> Listing:
        checker = Checker(str(self.path), budget=Budget(str(self.path), self.size))
        digests: dict[str, str] = {}
        machines: dict[str, str] = {}
        kept: dict[str, bytes] = {}
        keep = keep or {}
        try:
            for member in self._members():
                checker.add(member)
                entry = checker.entries[-1]
                if entry.kind == FILE and entry.name != manifest.NAME:
                    # Every file is read to its end (a zip's CRC is checked only then) and hashed:
                    # a flip that a zstd frame without a checksum passes on is caught here too.
                    digest = hashlib.sha256()
                    wanted = entry.name in keep
                    if wanted and entry.size > keep[entry.name]:
                        raise VerifyError(
                            f"{self.path}: {entry.name} is {entry.size} bytes, more than the {keep[entry.name]} it may have", hint=HINT
                        )
                    data = bytearray()
                    with member.read() as f:
                        head = block = f.read(_BLOCK)
                        while block:
                            digest.update(block)
                            if wanted and len(data) + len(block) <= keep[entry.name]:
                                data += block
                            block = f.read(_BLOCK)
                    digests[entry.name] = digest.hexdigest()
                    if wanted:
                        kept[entry.name] = bytes(data)
                    machine = platforms.machine_of(head)
                    if machine is not None:
                        machines[entry.name] = machine
        except _DAMAGED as exc:  # raised while reading an entry's data
            raise VerifyError(f"{self.path}: the archive is damaged or truncated: {_text(exc)}", hint=HINT) from None
        listing = checker.finish()
        if self.trailer is not None:
            self._check_trailer(self.trailer, listing)
        listed = {f["path"]: f for f in listing.manifest["files"]}
        wrong = sorted(name for name, digest in digests.items() if listed[name].get("sha256") != digest)
        if wrong:
            more = f" and {len(wrong) - 1} more" if len(wrong) > 1 else ""
            raise VerifyError(
                f"{self.path}: {wrong[0]}{more}: content differs from the manifest ({manifest.NAME}); the archive is damaged or was altered",
                hint=HINT,
            )
        return dataclasses.replace(listing, machines=machines, kept=kept)

    def _check_trailer(self, trailer: exe.Trailer, listing: Listing) -> None:
        """The executable's trailer names this payload and this manifest, and the program in it."""
        problem = None
        if hashlib.sha256(listing.manifest_bytes).hexdigest() != trailer.manifest_sha256:
            problem = f"its {manifest.NAME} is not the one its trailer names"
        elif exe.payload_digest(self.file, trailer) != trailer.payload_sha256:
            problem = "its payload does not match the sha256 its trailer records"
        elif trailer.top != listing.top or trailer.program != listing.manifest["go"]["binary"]:
            problem = f"its trailer runs {trailer.top}/{trailer.program}, not the bundle's program {listing.top}/{listing.manifest['go']['binary']}"
        if problem is not None:
            raise VerifyError(f"{self.path}: {problem}; the executable is damaged or was altered", hint=HINT)

    def extract(self, listing: Listing, dest: Path) -> Path:
        """Create the entries under ``dest`` (a new folder); return the bundle's root."""
        dest.mkdir(parents=True)
        room = os.statvfs(dest)
        free = room.f_bavail * room.f_frsize
        if listing.cap > free:
            raise VerifyError(
                f"{self.path}: extracting it needs {listing.cap} bytes in {dest.parent}, where {free} are free", hint=_ROOM_HINT
            )
        dest_fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            os.mkdir(listing.top, 0o755, dir_fd=dest_fd)
            writer = _Writer(
                os.open(listing.top, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dest_fd), listing, str(self.path)
            )
        finally:
            os.close(dest_fd)
        try:
            expected = iter(listing.entries)
            for member in self._members():
                entry = make_entry(member, listing.top, str(self.path))
                if entry != next(expected, None):
                    raise Refused(
                        f"{self.path}: {member.raw_name!r} differs from what the first reading saw; the archive changed while it was read"
                    )
                try:
                    writer.create(entry, member)
                except OSError as exc:
                    if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                        raise VerifyError(f"{self.path}: cannot extract {member.raw_name!r}: {_text(exc)}", hint=HINT) from None
                    raise VerifyError(
                        f"{self.path}: the disk is full: cannot write {member.raw_name!r} into {dest} ({exc.strerror})",
                        hint=_ROOM_HINT,
                    ) from None
                except _DAMAGED as exc:
                    raise VerifyError(f"{self.path}: cannot extract {member.raw_name!r}: {_text(exc)}", hint=HINT) from None
            if next(expected, None) is not None:
                raise Refused(f"{self.path}: the archive ended early on the second reading; it changed while it was read")
        finally:
            writer.close()
        return dest / listing.top

    def _members(self) -> Iterator[Member]:
        """Every member, in archive order; each reading counts what it unpacks against the caps."""
        budget = Budget(str(self.path), self.size)
        try:
            yield from self._zip_members(budget) if self.zip is not None else self._tar_members(budget)
        except (Refused, UsageError):
            raise
        except _DAMAGED as exc:
            raise VerifyError(f"{self.path}: the archive is damaged or truncated: {_text(exc)}", hint=HINT) from None

    def _tar_members(self, budget: Budget) -> Iterator[Member]:
        self.raw.seek(0)
        stream: IO[bytes]
        if self.fmt == "tar.zst":
            # read_across_frames: a gopack archive is several zstd frames (see archive.py).
            stream = zstandard.ZstdDecompressor().stream_reader(self.raw, read_across_frames=True, closefd=False)
        else:
            # zlib-ng reads gzip 2.8x as fast as zlib; its GzipNGFile is not annotated.
            stream = cast(IO[bytes], gzip_ng.GzipNGFile(fileobj=self.raw, mode="rb"))  # type: ignore[no-untyped-call]
        with stream:
            yield from TarStream(stream, str(self.path), budget).members()

    def _zip_members(self, budget: Budget) -> Iterator[Member]:
        assert self.zip is not None
        zf = self.zip
        for info in zf.infolist():
            mode = info.external_attr >> 16
            kind: str | None = None
            fmt = stat.S_IFMT(mode)
            if info.is_dir() and fmt in (0, stat.S_IFDIR):
                kind = DIR
            elif not info.is_dir() and fmt in (0, stat.S_IFREG):  # 0: plain permission bits, as ZipFile.writestr stores
                kind = FILE
            type_name = "a directory" if info.is_dir() else "a symlink" if stat.S_ISLNK(mode) else f"file type {fmt:#o}"
            if info.flag_bits & 0x1:
                kind, type_name = None, "an encrypted file"
            yield Member(
                raw_name=info.filename,
                kind=kind,
                type_name=type_name,
                size=info.file_size,
                mode=mode & 0o7777,
                link="",
                read=lambda info=info: cast(IO[bytes], _Counted(zf.open(info), budget)),  # type: ignore[misc]
            )


class _Counted:
    """A zip member's data, each block counted against the reading's budget as it is read."""

    def __init__(self, f: IO[bytes], budget: Budget) -> None:
        self.f, self.budget = f, budget

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        self.budget.spend(len(data))
        return data

    def __enter__(self) -> _Counted:  # noqa: PYI034 -- Self is not in typing before 3.11
        return self

    def __exit__(self, *exc: object) -> None:
        self.f.close()


def _text(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


class _Writer:
    """The second pass: entries created relative to directory descriptors, never following a link."""

    def __init__(self, top_fd: int, listing: Listing, where: str) -> None:
        self.top_fd, self.listing, self.where = top_fd, listing, where
        self.parent: tuple[str, int] | None = None  # the folder the last entry went in
        self.written = 0

    def close(self) -> None:
        if self.parent is not None:
            os.close(self.parent[1])
        os.close(self.top_fd)

    def create(self, entry: Entry, member: Member) -> None:
        if not entry.name:
            os.fchmod(self.top_fd, 0o755)
            return
        folder, _, base = entry.name.rpartition("/")
        fd = self._folder(folder)
        if entry.kind == DIR:
            try:
                os.mkdir(base, 0o755, dir_fd=fd)
            except FileExistsError:
                pass  # made earlier for an entry inside it; opened without following below
            sub = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            try:
                os.fchmod(sub, 0o755)
            finally:
                os.close(sub)
        elif entry.kind == SYMLINK:
            os.symlink(entry.target, base, dir_fd=fd)
        elif entry.kind == HARDLINK:
            source_folder, _, source = entry.target.rpartition("/")
            source_fd = self._open_folder(source_folder)
            try:
                os.link(source, base, src_dir_fd=source_fd, dst_dir_fd=fd, follow_symlinks=False)
            finally:
                if source_fd != self.top_fd:
                    os.close(source_fd)
        else:
            self._write(entry, member, fd, base)

    def _write(self, entry: Entry, member: Member, fd: int, base: str) -> None:
        out = os.open(base, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=fd)
        try:
            left = entry.size
            is_manifest = entry.name == manifest.NAME
            seen = bytearray()
            with member.read() as src:
                while block := src.read(min(_BLOCK, left + 1)):
                    if len(block) > left or self.written + len(block) > self.listing.cap:
                        raise Refused(
                            f"{self.where}: {entry.name}: holds more than the {entry.size} bytes the archive and {manifest.NAME} list",
                            hint=HINT,
                        )
                    if is_manifest:
                        seen += block
                    view = memoryview(block)
                    while view:
                        view = view[os.write(out, view) :]
                    left -= len(block)
                    self.written += len(block)
            if left:
                raise VerifyError(
                    f"{self.where}: {entry.name}: {left} bytes short of its size; the archive is damaged or truncated", hint=HINT
                )
            if is_manifest and bytes(seen) != self.listing.manifest_bytes:
                raise Refused(f"{self.where}: {manifest.NAME} changed between the two readings", hint=HINT)
            os.fchmod(out, 0o755 if entry.executable else 0o644)
        finally:
            os.close(out)

    def _folder(self, name: str) -> int:
        """The open folder ``name`` (bundle-relative), kept open while entries go in it."""
        if not name:
            return self.top_fd
        if self.parent is not None and self.parent[0] == name:
            return self.parent[1]
        fd = self._open_folder(name, make=True)
        if self.parent is not None:
            os.close(self.parent[1])
        self.parent = (name, fd)
        return fd

    def _open_folder(self, name: str, *, make: bool = False) -> int:
        """Open ``name`` one component at a time from the top, never following a link;
        with ``make``, folders no entry declared are created on the way."""
        fd = self.top_fd
        for part in name.split("/") if name else ():
            made = False
            if make:
                try:
                    os.mkdir(part, 0o755, dir_fd=fd)
                    made = True
                except FileExistsError:
                    pass
            try:
                sub = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            finally:
                if fd != self.top_fd:
                    os.close(fd)
            fd = sub
            if made:
                os.fchmod(fd, 0o755)  # whatever the umask: the sandbox's user must get in
        return fd
