"""Read and extract an archive someone else made, without trusting it.

Two passes over the same open file:

1. :func:`Archive.scan` reads every entry and writes nothing. Each name must
   be one top-level folder followed by plain components (no absolute path,
   ``.``, ``..``, empty part, control character or over-long name); each entry
   a directory, a regular file, a symlink or a hard link; no name twice and
   nothing inside a symlink or a file. A symlink must stay inside the bundle
   by its text alone: relative, its ``..`` parts all leading and no more of
   them than the folders it sits in (so whatever symlinks it passes through,
   each of them held to the same rule, it never climbs above the top). A hard
   link must name a regular file that came earlier. The manifest is read with
   a size cap and checked against its schema; then every file, link and size
   is checked against it (nothing unlisted, no entry larger than listed) and
   the smoke command must name an executable inside the bundle.
2. :func:`Archive.extract` creates each entry relative to an open directory
   descriptor: folders are opened with ``O_NOFOLLOW`` one component at a
   time, files created with ``O_CREAT | O_EXCL | O_NOFOLLOW``, links with
   ``symlinkat``/``linkat`` (never following), so nothing is written through
   a link whatever the archive holds. The data are streamed with the
   manifest's sizes as caps: a block that would pass an entry's size or the
   manifest's total is refused before it is written. An entry that differs
   from what the first pass saw stops the extraction.

Neither :mod:`tarfile`'s extraction filters nor ``os.path.realpath`` is used:
both are what the CVE-2025-4517 class of attacks (symlink chains longer than
PATH_MAX) gets around.
"""

from __future__ import annotations

import os
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

import zstandard
from zlib_ng import gzip_ng

from gopack import archive, manifest
from gopack.errors import UsageError, VerifyError

#: Before the manifest is seen nothing can be checked against it; a gopack archive holds
#: only the app and the Go binary before it (``app/``, ``bin/`` sort before ``gopack.json``).
MAX_BEFORE_MANIFEST = 4 << 30
MAX_ENTRIES_BEFORE_MANIFEST = 200_000
#: Folders an archive may hold beyond one per listed file.
SPARE_DIRECTORIES = 1024
MAX_DEPTH = 64
_NAME_MAX, _PATH_MAX = 255, 4095
_BLOCK = 1 << 20
_HINT = "the archive was not made by gopack or was altered; do not run what it holds"
_DAMAGED: tuple[type[BaseException], ...] = (
    OSError,
    EOFError,
    zlib.error,
    tarfile.TarError,
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zstandard.ZstdError,
    NotImplementedError,
)
_DIR, _FILE, _SYMLINK, _HARDLINK = "directory", "file", "symlink", "hard link"


@dataclass(frozen=True, kw_only=True)
class Entry:
    name: str  # bundle-relative, '/'-separated; "" for the top folder itself
    kind: str  # _DIR, _FILE, _SYMLINK or _HARDLINK
    size: int = 0
    executable: bool = False
    target: str = ""  # a symlink's text, or the bundle-relative file a hard link names


@dataclass(frozen=True, kw_only=True)
class Listing:
    """What the first pass found: every entry in archive order, and the manifest."""

    top: str
    manifest: dict[str, Any]
    manifest_bytes: bytes
    entries: tuple[Entry, ...]
    cap: int  # the most bytes extraction may write: the listed sizes and the manifest


@dataclass(frozen=True, kw_only=True)
class _Member:
    raw_name: str
    kind: str | None  # None: a type gopack never writes (device, fifo, sparse ...)
    type_name: str
    size: int
    mode: int
    link: str
    read: Callable[[], IO[bytes]]


class Refused(VerifyError):
    """An entry or manifest that is unsafe, or does not match the manifest."""


def scan(path: Path) -> Listing:
    """The first pass alone (``gopack inspect``): every check, nothing written."""
    with opened(path) as arc:
        return arc.scan()


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
        self.path, self.fmt = path, archive.archive_format(path)
        try:
            self.raw: IO[bytes] = path.open("rb")
        except OSError as exc:
            raise UsageError(f"{path}: cannot read: {exc.strerror}", hint="pass the archive gopack bundle wrote") from None
        self.zip: zipfile.ZipFile | None = None
        if self.fmt == "zip":
            try:
                self.zip = zipfile.ZipFile(self.raw)
            except _DAMAGED as exc:
                self.raw.close()
                raise VerifyError(f"{path}: the archive is damaged or not a zip file: {_text(exc)}", hint=_HINT) from None

    def close(self) -> None:
        if self.zip is not None:
            self.zip.close()
        self.raw.close()

    def scan(self) -> Listing:
        checker = _Checker(str(self.path))
        try:
            for member in self._members():
                checker.add(member)
        except _DAMAGED as exc:  # raised while reading an entry's data
            raise VerifyError(f"{self.path}: the archive is damaged or truncated: {_text(exc)}", hint=_HINT) from None
        return checker.finish()

    def extract(self, listing: Listing, dest: Path) -> Path:
        """Create the entries under ``dest`` (a new folder); return the bundle's root."""
        dest.mkdir(parents=True)
        dest_fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            os.mkdir(listing.top, 0o755, dir_fd=dest_fd)
            writer = _Writer(os.open(listing.top, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dest_fd), listing, str(self.path))
        finally:
            os.close(dest_fd)
        try:
            expected = iter(listing.entries)
            for member in self._members():
                entry = _entry(member, listing.top, str(self.path))
                if entry != next(expected, None):
                    raise Refused(f"{self.path}: {member.raw_name!r} differs from what the first reading saw; the archive changed while it was read")
                try:
                    writer.create(entry, member)
                except _DAMAGED as exc:
                    raise VerifyError(f"{self.path}: cannot extract {member.raw_name!r}: {_text(exc)}", hint=_HINT) from None
            if next(expected, None) is not None:
                raise Refused(f"{self.path}: the archive ended early on the second reading; it changed while it was read")
        finally:
            writer.close()
        return dest / listing.top

    def _members(self) -> Iterator[_Member]:
        try:
            yield from self._zip_members() if self.zip is not None else self._tar_members()
        except (Refused, UsageError):
            raise
        except _DAMAGED as exc:
            raise VerifyError(f"{self.path}: the archive is damaged or truncated: {_text(exc)}", hint=_HINT) from None

    def _tar_members(self) -> Iterator[_Member]:
        self.raw.seek(0)
        stream: IO[bytes]
        if self.fmt == "tar.zst":
            # read_across_frames: a gopack archive is several zstd frames (see archive.py).
            stream = zstandard.ZstdDecompressor().stream_reader(self.raw, read_across_frames=True, closefd=False)
        else:
            # zlib-ng reads gzip 2.8x as fast as zlib; its GzipNGFile is not annotated.
            stream = cast(IO[bytes], gzip_ng.GzipNGFile(fileobj=self.raw, mode="rb"))  # type: ignore[no-untyped-call]
        with stream, tarfile.open(fileobj=stream, mode="r|") as tar:
            while (info := tar.next()) is not None:
                getattr(tar, "members").clear()  # noqa: B009 -- streamed: keep no list of every header (typeshed omits the attribute)
                kind = _DIR if info.isdir() else _SYMLINK if info.issym() else _HARDLINK if info.islnk() else None
                if info.type in (tarfile.REGTYPE, tarfile.AREGTYPE) and not info.sparse:
                    kind = _FILE
                yield _Member(
                    raw_name=info.name,
                    kind=kind,
                    type_name=_TAR_TYPES.get(info.type, f"tar type {info.type!r}"),
                    size=info.size,
                    mode=info.mode,
                    link=info.linkname,
                    read=lambda info=info: _opened(tar.extractfile(info)),  # type: ignore[misc]
                )

    def _zip_members(self) -> Iterator[_Member]:
        assert self.zip is not None
        zf = self.zip
        for info in zf.infolist():
            mode = info.external_attr >> 16
            kind: str | None = None
            fmt = stat.S_IFMT(mode)
            if info.is_dir() and fmt in (0, stat.S_IFDIR):
                kind = _DIR
            elif not info.is_dir() and fmt in (0, stat.S_IFREG):  # 0: plain permission bits, as ZipFile.writestr stores
                kind = _FILE
            type_name = "a directory" if info.is_dir() else "a symlink" if stat.S_ISLNK(mode) else f"file type {fmt:#o}"
            if info.flag_bits & 0x1:
                kind, type_name = None, "an encrypted file"
            yield _Member(
                raw_name=info.filename,
                kind=kind,
                type_name=type_name,
                size=info.file_size,
                mode=mode & 0o7777,
                link="",
                read=lambda info=info: zf.open(info),  # type: ignore[misc]
            )


_TAR_TYPES = {
    tarfile.CHRTYPE: "a character device",
    tarfile.BLKTYPE: "a block device",
    tarfile.FIFOTYPE: "a fifo",
    tarfile.CONTTYPE: "a contiguous file",
    tarfile.GNUTYPE_SPARSE: "a sparse file",
}


def _opened(f: IO[bytes] | None) -> IO[bytes]:
    if f is None:
        raise tarfile.ReadError("an entry has no data to read")
    return f


def _text(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _split(raw: str, where: str, what: str = "") -> list[str]:
    """A name's components, or the reason it is refused."""
    label = what or repr(raw)
    if raw.startswith("/"):
        raise Refused(f"{where}: unsafe entry refused: {label} is an absolute path", hint=_HINT)
    parts = raw.split("/")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()  # a folder's trailing slash
    if len(raw.encode("utf-8", "surrogateescape")) > _PATH_MAX:
        raise Refused(f"{where}: unsafe entry refused: {label[:80]}... is longer than {_PATH_MAX} bytes", hint=_HINT)
    if len(parts) > MAX_DEPTH:
        raise Refused(f"{where}: unsafe entry refused: {label[:80]}... is more than {MAX_DEPTH} folders deep", hint=_HINT)
    for part in parts:
        if part in ("", ".", ".."):
            which = f"a {part!r} part" if part else "an empty part"
            raise Refused(f"{where}: unsafe entry refused: {label} has {which}", hint=_HINT)
        if len(part.encode("utf-8", "surrogateescape")) > _NAME_MAX:
            raise Refused(f"{where}: unsafe entry refused: {label[:80]}... has a part longer than {_NAME_MAX} bytes", hint=_HINT)
        if not part.isprintable() or _has_surrogate(part):
            raise Refused(f"{where}: unsafe entry refused: {label} holds a control character or bytes that are not UTF-8", hint=_HINT)
    return parts


def _has_surrogate(text: str) -> bool:
    return any(0xD800 <= ord(c) <= 0xDFFF for c in text)


def _entry(member: _Member, top: str | None, where: str) -> Entry:
    """The entry a member makes, its name bundle-relative; refuses what can never be extracted."""
    parts = _split(member.raw_name, where)
    if top is not None and parts[0] != top:
        raise Refused(f"{where}: unsafe entry refused: {member.raw_name!r} is outside the top-level folder {top!r}; a gopack archive holds one folder", hint=_HINT)
    name = "/".join(parts[1:])
    if member.kind is None:
        raise Refused(f"{where}: unsafe entry refused: {member.raw_name!r} is {member.type_name}, which a gopack archive never holds", hint=_HINT)
    if member.kind in (_SYMLINK, _HARDLINK) and not name:
        raise Refused(f"{where}: unsafe entry refused: the top-level {member.raw_name!r} is a {member.kind}, not a folder", hint=_HINT)
    if member.kind == _FILE and not name:
        raise Refused(f"{where}: unsafe entry refused: {member.raw_name!r} is a file at the top level; a gopack archive holds one folder", hint=_HINT)
    if member.kind == _SYMLINK:
        return Entry(name=name, kind=_SYMLINK, target=_symlink_target(member, name, where))
    if member.kind == _HARDLINK:
        target = _split(member.link, where, f"the target of hard link {member.raw_name!r}")
        if top is not None and target[0] != top:
            raise Refused(f"{where}: unsafe entry refused: hard link {member.raw_name!r} names {member.link!r}, outside the bundle", hint=_HINT)
        return Entry(name=name, kind=_HARDLINK, target="/".join(target[1:]))
    if member.kind == _DIR:
        return Entry(name=name, kind=_DIR)
    return Entry(name=name, kind=_FILE, size=member.size, executable=bool(member.mode & 0o111))


def _symlink_target(member: _Member, name: str, where: str) -> str:
    """The symlink's text, if by itself it stays inside the bundle."""
    text, label = member.link, f"symlink {member.raw_name!r}"
    if not text:
        raise Refused(f"{where}: unsafe entry refused: {label} is empty", hint=_HINT)
    if text.startswith("/"):
        raise Refused(f"{where}: unsafe entry refused: {label} points to the absolute path {text!r}", hint=_HINT)
    if len(text.encode("utf-8", "surrogateescape")) > _PATH_MAX or not text.isprintable() or _has_surrogate(text):
        raise Refused(f"{where}: unsafe entry refused: {label} has a target too long or not printable UTF-8", hint=_HINT)
    parts = text.split("/")
    lead = 0
    while lead < len(parts) and parts[lead] in ("..", ".", ""):
        lead += 1
    ups = parts[:lead].count("..")
    if ".." in parts[lead:]:
        raise Refused(f"{where}: unsafe entry refused: {label} -> {text!r} climbs with '..' after a name; only leading '..' parts are allowed", hint=_HINT)
    depth = name.count("/")  # folders between the top and the link
    if ups > depth:
        raise Refused(f"{where}: unsafe entry refused: {label} -> {text!r} points outside the bundle", hint=_HINT)
    return text


@dataclass
class _Checker:
    """The first pass, entry by entry."""

    where: str
    top: str | None = None
    kinds: dict[str, str] = field(default_factory=dict)  # every name seen, and implicit folders
    explicit_dirs: set[str] = field(default_factory=set)
    entries: list[Entry] = field(default_factory=list)
    unchecked: list[Entry] = field(default_factory=list)  # before the manifest
    before_manifest: int = 0
    manifest: dict[str, Any] | None = None
    manifest_bytes: bytes = b""
    listed: dict[str, dict[str, Any]] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)  # regular files: their size
    folders: int = 0

    def add(self, member: _Member) -> None:
        if self.top is None:
            self.top = _split(member.raw_name, self.where)[0]
        entry = _entry(member, self.top, self.where)
        name = entry.name
        if not name:
            if entry.kind != _DIR or "" in self.explicit_dirs:
                raise Refused(f"{self.where}: unsafe entry refused: {member.raw_name!r} appears twice", hint=_HINT)
            self.explicit_dirs.add("")
            self.entries.append(entry)
            return
        self._place(entry, member.raw_name)
        if entry.kind == _HARDLINK and self.kinds.get(entry.target) != _FILE:
            raise Refused(
                f"{self.where}: unsafe entry refused: hard link {member.raw_name!r} names {entry.target!r}, which is not a regular file earlier in the archive",
                hint=_HINT,
            )
        if entry.kind == _FILE:
            self.sizes[name] = entry.size
        self.entries.append(entry)
        if name == manifest.NAME:
            self._read_manifest(member, entry)
        elif entry.kind != _DIR:
            if self.manifest is None:
                self.before_manifest += entry.size
                self.unchecked.append(entry)
                if self.before_manifest > MAX_BEFORE_MANIFEST or len(self.entries) > MAX_ENTRIES_BEFORE_MANIFEST:
                    raise Refused(f"{self.where}: more than {MAX_BEFORE_MANIFEST >> 30} GiB or {MAX_ENTRIES_BEFORE_MANIFEST} entries come before {manifest.NAME}", hint=_HINT)
            else:
                self._against_manifest(entry)
        self._count_dirs()

    def _place(self, entry: Entry, raw: str) -> None:
        parts = entry.name.split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            kind = self.kinds.get(parent)
            if kind is None:  # a folder no entry declares is made
                kind = self.kinds[parent] = _DIR
                self.folders += 1
            if kind != _DIR:
                raise Refused(f"{self.where}: unsafe entry refused: {raw!r} is inside {parent!r}, which is a {kind}", hint=_HINT)
        before = self.kinds.get(entry.name)
        if before is not None and not (before == _DIR and entry.kind == _DIR and entry.name not in self.explicit_dirs):
            raise Refused(f"{self.where}: unsafe entry refused: {raw!r} appears twice (as a {before} and a {entry.kind})", hint=_HINT)
        self.kinds[entry.name] = entry.kind
        if entry.kind == _DIR:
            self.explicit_dirs.add(entry.name)
            self.folders += before is None

    def _read_manifest(self, member: _Member, entry: Entry) -> None:
        if entry.kind != _FILE:
            raise Refused(f"{self.where}: unsafe entry refused: {member.raw_name!r} is a {entry.kind}, not a file", hint=_HINT)
        if entry.size > manifest.MAX_BYTES:
            raise Refused(f"{self.where}: {manifest.NAME} is {entry.size} bytes, more than the {manifest.MAX_BYTES} a manifest may have", hint=_HINT)
        with member.read() as f:
            data = f.read(manifest.MAX_BYTES + 1)
        if len(data) != entry.size:
            raise VerifyError(f"{self.where}: {manifest.NAME} holds {len(data)} bytes where its header says {entry.size}; the archive is damaged", hint=_HINT)
        self.manifest = manifest.parse(data, self.where)
        self.manifest_bytes = data
        self.listed = {f["path"]: f for f in self.manifest["files"]}
        if len(self.listed) != len(self.manifest["files"]):
            raise Refused(f"{self.where}: {manifest.NAME} lists a path twice in files", hint=_HINT)
        for early in self.unchecked:
            self._against_manifest(early)
        self.unchecked.clear()

    def _against_manifest(self, entry: Entry) -> None:
        listed = self.listed.get(entry.name)
        if listed is None:
            raise Refused(f"{self.where}: {entry.name}: present in the archive but not in {manifest.NAME}", hint=_HINT)
        if entry.kind == _SYMLINK:
            if listed.get("link") != entry.target:
                raise Refused(f"{self.where}: {entry.name}: a symlink to {entry.target!r} where {manifest.NAME} lists {_listed_as(listed)}", hint=_HINT)
            return
        size = entry.size if entry.kind == _FILE else self.sizes[entry.target]
        if "link" in listed:
            raise Refused(f"{self.where}: {entry.name}: a {entry.kind} where {manifest.NAME} lists {_listed_as(listed)}", hint=_HINT)
        if size != listed["size"]:
            raise Refused(f"{self.where}: {entry.name}: the archive holds {size} bytes where {manifest.NAME} lists {listed['size']}", hint=_HINT)

    def _count_dirs(self) -> None:
        if self.manifest is None:
            return
        if self.folders > len(self.listed) + SPARE_DIRECTORIES:
            raise Refused(f"{self.where}: the archive makes {self.folders} folders for {len(self.listed)} listed files", hint=_HINT)

    def finish(self) -> Listing:
        if self.top is None:
            raise Refused(f"{self.where}: the archive is empty", hint="pass the archive gopack bundle wrote")
        if self.manifest is None:
            raise Refused(f"{self.where}: holds no {self.top}/{manifest.NAME}; it was not made by gopack", hint="pass the archive gopack bundle wrote")
        self._count_dirs()
        _check_smoke(self.manifest, self.kinds, {e.name: e for e in self.entries}, self.where)
        cap = len(self.manifest_bytes) + sum(self.sizes[n] for n in self.sizes if n != manifest.NAME)
        return Listing(top=self.top, manifest=self.manifest, manifest_bytes=self.manifest_bytes, entries=tuple(self.entries), cap=cap)


def _listed_as(listed: dict[str, Any]) -> str:
    return f"a symlink to {listed['link']!r}" if "link" in listed else "a file"


def _check_smoke(document: dict[str, Any], kinds: dict[str, str], entries: dict[str, Entry], where: str) -> None:
    """The smoke command's first item names an executable file inside the bundle, through
    symlinks that stay inside (each was checked by its text)."""
    command = document["smoke"]["command"][0]
    label = f"{where}: {manifest.NAME}: smoke.command[0] {command!r}"
    hint = "smoke.command[0] must be the path of an executable inside the bundle, relative to its top, e.g. bin/app"
    if command.startswith("/"):
        raise Refused(f"{label} is an absolute path; verify runs only what is inside the bundle", hint=hint)
    queue = [p for p in command.split("/") if p not in ("", ".")]
    if ".." in queue:
        raise Refused(f"{label} climbs out of the bundle with '..'", hint=hint)
    at: list[str] = []
    hops = 0
    while queue:
        part = queue.pop(0)
        name = "/".join([*at, part])
        kind = kinds.get(name)
        if kind is None:
            raise Refused(f"{label} names nothing in the archive", hint=hint)
        if kind != _SYMLINK:
            at.append(part)
            continue
        hops += 1
        if hops > 40:
            raise Refused(f"{label} goes through a loop of symlinks", hint=hint)
        target = entries[name].target.split("/")
        lead = 0
        while lead < len(target) and target[lead] in ("..", ".", ""):
            lead += 1
        at = at[: len(at) - target[:lead].count("..")]
        queue = [p for p in target[lead:] if p not in ("", ".")] + queue
    final = entries.get("/".join(at))
    if final is not None and final.kind == _HARDLINK:
        final = entries.get(final.target)
    if final is None or final.kind != _FILE:
        raise Refused(f"{label} is not a regular file in the bundle", hint=hint)
    if not final.executable:
        raise Refused(f"{label} is not executable (mode without x bits)", hint=hint)


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

    def create(self, entry: Entry, member: _Member) -> None:
        if not entry.name:
            os.fchmod(self.top_fd, 0o755)
            return
        folder, _, base = entry.name.rpartition("/")
        fd = self._folder(folder)
        if entry.kind == _DIR:
            try:
                os.mkdir(base, 0o755, dir_fd=fd)
            except FileExistsError:
                pass  # made earlier for an entry inside it; opened without following below
            sub = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            try:
                os.fchmod(sub, 0o755)
            finally:
                os.close(sub)
        elif entry.kind == _SYMLINK:
            os.symlink(entry.target, base, dir_fd=fd)
        elif entry.kind == _HARDLINK:
            source_folder, _, source = entry.target.rpartition("/")
            source_fd = self._open_folder(source_folder)
            try:
                os.link(source, base, src_dir_fd=source_fd, dst_dir_fd=fd, follow_symlinks=False)
            finally:
                if source_fd != self.top_fd:
                    os.close(source_fd)
        else:
            self._write(entry, member, fd, base)

    def _write(self, entry: Entry, member: _Member, fd: int, base: str) -> None:
        out = os.open(base, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=fd)
        try:
            left = entry.size
            is_manifest = entry.name == manifest.NAME
            seen = bytearray()
            with member.read() as src:
                while block := src.read(min(_BLOCK, left + 1)):
                    if len(block) > left or self.written + len(block) > self.listing.cap:
                        raise Refused(f"{self.where}: {entry.name}: holds more than the {entry.size} bytes the archive and {manifest.NAME} list", hint=_HINT)
                    if is_manifest:
                        seen += block
                    view = memoryview(block)
                    while view:
                        view = view[os.write(out, view) :]
                    left -= len(block)
                    self.written += len(block)
            if left:
                raise VerifyError(f"{self.where}: {entry.name}: {left} bytes short of its size; the archive is damaged or truncated", hint=_HINT)
            if is_manifest and bytes(seen) != self.listing.manifest_bytes:
                raise Refused(f"{self.where}: {manifest.NAME} changed between the two readings", hint=_HINT)
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
