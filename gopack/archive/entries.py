"""The first reading of an archive nobody vouched for: the rules each entry must meet.

Pure checks over the entries as they come (:class:`Checker`), nothing written.
Each name must be one top-level folder followed by plain components (no
absolute path, ``.``, ``..``, empty part, control character or over-long name);
each entry a folder, a regular file, a symlink or a hard link; no name twice
and nothing inside a symlink or a file. A symlink must stay inside the bundle
by its text alone: relative, its ``..`` parts all leading and no more of them
than the folders it sits in, so whatever symlinks it passes through (each held
to the same rule) it never climbs above the top. A hard link must name a
regular file that came earlier. The manifest is read with a size cap and
checked against its schema; then every file, link and size is checked against
it (nothing unlisted, no entry larger than listed) and the smoke command must
name an executable inside the bundle.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

from gopack._text import shown
from gopack.archive import manifest
from gopack.archive.limits import HINT, MAX_ENTRIES, Budget
from gopack.errors import VerifyError

#: Before the manifest is seen nothing can be checked against it; a gopack archive holds
#: only the app and the Go binary before it (``app/``, ``bin/`` sort before ``gopack.json``).
MAX_BEFORE_MANIFEST = 4 << 30
MAX_ENTRIES_BEFORE_MANIFEST = 200_000
#: Folders an archive may hold beyond one per listed file.
SPARE_DIRECTORIES = 1024
MAX_DEPTH = 64
_NAME_MAX, _PATH_MAX = 255, 4095
DIR, FILE, SYMLINK, HARDLINK = "directory", "file", "symlink", "hard link"
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True, kw_only=True)
class Entry:
    name: str  # bundle-relative, '/'-separated; "" for the top folder itself
    kind: str  # DIR, FILE, SYMLINK or HARDLINK
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
    #: Each ELF file's machine (EM_X86_64, EM_AARCH64, ...), read from its own header by the scan.
    machines: Mapping[str, str] = field(default_factory=dict)
    #: The bytes of the files the scan was asked to keep (``scan(keep=...)``), checked against the manifest's sha256.
    kept: Mapping[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Member:
    """One entry as the archive format gives it, before any check."""

    raw_name: str
    kind: str | None  # None: a type gopack never writes (device, fifo, sparse ...)
    type_name: str
    size: int
    mode: int
    link: str
    read: Callable[[], IO[bytes]]


class Refused(VerifyError):
    """An entry or manifest that is unsafe, or does not match the manifest."""


def split_name(raw: str, where: str, what: str = "") -> list[str]:
    """A name's components, or the reason it is refused."""
    label = what or repr(raw)
    if raw.startswith("/"):
        raise Refused(f"{where}: unsafe entry refused: {label} is an absolute path", hint=HINT)
    parts = raw.split("/")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()  # a folder's trailing slash
    if len(raw.encode("utf-8", "surrogateescape")) > _PATH_MAX:
        raise Refused(f"{where}: unsafe entry refused: {label[:80]}... is longer than {_PATH_MAX} bytes", hint=HINT)
    if len(parts) > MAX_DEPTH:
        raise Refused(f"{where}: unsafe entry refused: {label[:80]}... is more than {MAX_DEPTH} folders deep", hint=HINT)
    for part in parts:
        if part in ("", ".", ".."):
            which = f"a {part!r} part" if part else "an empty part"
            raise Refused(f"{where}: unsafe entry refused: {label} has {which}", hint=HINT)
        if len(part.encode("utf-8", "surrogateescape")) > _NAME_MAX:
            raise Refused(f"{where}: unsafe entry refused: {label[:80]}... has a part longer than {_NAME_MAX} bytes", hint=HINT)
        if not part.isprintable() or _has_surrogate(part):
            raise Refused(f"{where}: unsafe entry refused: {label} holds a control character or bytes that are not UTF-8", hint=HINT)
    return parts


def _has_surrogate(text: str) -> bool:
    """Bytes that were not UTF-8, as ``surrogateescape`` decoded them (a regex: a name is
    checked for each of up to 300,000 entries)."""
    return _SURROGATE.search(text) is not None


def make_entry(member: Member, top: str | None, where: str) -> Entry:
    """The entry a member makes, its name bundle-relative; refuses what can never be extracted."""
    parts = split_name(member.raw_name, where)
    if top is not None and parts[0] != top:
        raise Refused(
            f"{where}: unsafe entry refused: {member.raw_name!r} is outside the top-level folder {top!r}; a gopack archive holds one folder",
            hint=HINT,
        )
    name = "/".join(parts[1:])
    if member.kind is None:
        raise Refused(
            f"{where}: unsafe entry refused: {member.raw_name!r} is {member.type_name}, which a gopack archive never holds", hint=HINT
        )
    if member.kind in (SYMLINK, HARDLINK) and not name:
        raise Refused(f"{where}: unsafe entry refused: the top-level {member.raw_name!r} is a {member.kind}, not a folder", hint=HINT)
    if member.kind == FILE and not name:
        raise Refused(
            f"{where}: unsafe entry refused: {member.raw_name!r} is a file at the top level; a gopack archive holds one folder", hint=HINT
        )
    if member.kind == SYMLINK:
        return Entry(name=name, kind=SYMLINK, target=_symlink_target(member, name, where))
    if member.kind == HARDLINK:
        target = split_name(member.link, where, f"the target of hard link {member.raw_name!r}")
        if top is not None and target[0] != top:
            raise Refused(
                f"{where}: unsafe entry refused: hard link {member.raw_name!r} names {member.link!r}, outside the bundle", hint=HINT
            )
        return Entry(name=name, kind=HARDLINK, target="/".join(target[1:]))
    if member.kind == DIR:
        return Entry(name=name, kind=DIR)
    return Entry(name=name, kind=FILE, size=member.size, executable=bool(member.mode & 0o111))


def _symlink_target(member: Member, name: str, where: str) -> str:
    """The symlink's text, if by itself it stays inside the bundle."""
    text, label = member.link, f"symlink {member.raw_name!r}"
    if not text:
        raise Refused(f"{where}: unsafe entry refused: {label} is empty", hint=HINT)
    if text.startswith("/"):
        raise Refused(f"{where}: unsafe entry refused: {label} points to the absolute path {text!r}", hint=HINT)
    if len(text.encode("utf-8", "surrogateescape")) > _PATH_MAX or not text.isprintable() or _has_surrogate(text):
        raise Refused(f"{where}: unsafe entry refused: {label} has a target too long or not printable UTF-8", hint=HINT)
    parts = text.split("/")
    lead = 0
    while lead < len(parts) and parts[lead] in ("..", ".", ""):
        lead += 1
    ups = parts[:lead].count("..")
    if ".." in parts[lead:]:
        raise Refused(
            f"{where}: unsafe entry refused: {label} -> {text!r} climbs with '..' after a name; only leading '..' parts are allowed",
            hint=HINT,
        )
    depth = name.count("/")  # folders between the top and the link
    if ups > depth:
        raise Refused(f"{where}: unsafe entry refused: {label} -> {text!r} points outside the bundle", hint=HINT)
    return text


@dataclass
class Checker:
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
    budget: Budget | None = None  # the listed sizes are checked against its cap

    def add(self, member: Member) -> None:
        if self.top is None:
            self.top = split_name(member.raw_name, self.where)[0]
        entry = make_entry(member, self.top, self.where)
        name = entry.name
        if not name:
            if entry.kind != DIR or "" in self.explicit_dirs:
                raise Refused(f"{self.where}: unsafe entry refused: {member.raw_name!r} appears twice", hint=HINT)
            self.explicit_dirs.add("")
            self.entries.append(entry)
            return
        self._place(entry, member.raw_name)
        if len(self.kinds) >= MAX_ENTRIES:  # the top folder is not in kinds
            raise Refused(
                f"{self.where}: more than {MAX_ENTRIES} entries (folders, files and links, named or implied by a path)", hint=HINT
            )
        if entry.kind == HARDLINK and self.kinds.get(entry.target) != FILE:
            raise Refused(
                f"{self.where}: unsafe entry refused: hard link {member.raw_name!r} names {entry.target!r}, which is not a regular file earlier in the archive",
                hint=HINT,
            )
        if entry.kind == FILE:
            self.sizes[name] = entry.size
        self.entries.append(entry)
        if name == manifest.NAME:
            self._read_manifest(member, entry)
        elif entry.kind != DIR:
            if self.manifest is None:
                self.before_manifest += entry.size
                self.unchecked.append(entry)
                if self.before_manifest > MAX_BEFORE_MANIFEST or len(self.entries) > MAX_ENTRIES_BEFORE_MANIFEST:
                    raise Refused(
                        f"{self.where}: more than {MAX_BEFORE_MANIFEST >> 30} GiB or {MAX_ENTRIES_BEFORE_MANIFEST} entries come before {manifest.NAME}",
                        hint=HINT,
                    )
            else:
                self._against_manifest(entry)
        self._count_dirs()

    def _place(self, entry: Entry, raw: str) -> None:
        parts = entry.name.split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            kind = self.kinds.get(parent)
            if kind is None:  # a folder no entry declares is made
                kind = self.kinds[parent] = DIR
                self.folders += 1
            if kind != DIR:
                raise Refused(f"{self.where}: unsafe entry refused: {raw!r} is inside {parent!r}, which is a {kind}", hint=HINT)
        before = self.kinds.get(entry.name)
        if before is not None and not (before == DIR and entry.kind == DIR and entry.name not in self.explicit_dirs):
            raise Refused(f"{self.where}: unsafe entry refused: {raw!r} appears twice (as a {before} and a {entry.kind})", hint=HINT)
        self.kinds[entry.name] = entry.kind
        if entry.kind == DIR:
            self.explicit_dirs.add(entry.name)
            self.folders += before is None

    def _read_manifest(self, member: Member, entry: Entry) -> None:
        if entry.kind != FILE:
            raise Refused(f"{self.where}: unsafe entry refused: {member.raw_name!r} is a {entry.kind}, not a file", hint=HINT)
        if entry.size > manifest.MAX_BYTES:
            raise Refused(
                f"{self.where}: {manifest.NAME} is {entry.size} bytes, more than the {manifest.MAX_BYTES} a manifest may have", hint=HINT
            )
        with member.read() as f:
            data = f.read(manifest.MAX_BYTES + 1)
        if len(data) != entry.size:
            raise VerifyError(
                f"{self.where}: {manifest.NAME} holds {len(data)} bytes where its header says {entry.size}; the archive is damaged",
                hint=HINT,
            )
        self.manifest = manifest.parse(data, self.where)
        self.manifest_bytes = data
        self.listed = {f["path"]: f for f in self.manifest["files"]}
        if self.budget is not None:
            self.budget.check_listed(sum(int(f.get("size", 0)) for f in self.manifest["files"]), manifest.NAME)
        if len(self.listed) != len(self.manifest["files"]):
            raise Refused(f"{self.where}: {manifest.NAME} lists a path twice in files", hint=HINT)
        for early in self.unchecked:
            self._against_manifest(early)
        self.unchecked.clear()

    def _against_manifest(self, entry: Entry) -> None:
        listed = self.listed.get(entry.name)
        if listed is None:
            raise Refused(f"{self.where}: {entry.name}: present in the archive but not in {manifest.NAME}", hint=HINT)
        if entry.kind == SYMLINK:
            if listed.get("link") != entry.target:
                raise Refused(
                    f"{self.where}: {entry.name}: a symlink to {entry.target!r} where {manifest.NAME} lists {_listed_as(listed)}", hint=HINT
                )
            return
        size = entry.size if entry.kind == FILE else self.sizes[entry.target]
        if "link" in listed:
            raise Refused(f"{self.where}: {entry.name}: a {entry.kind} where {manifest.NAME} lists {_listed_as(listed)}", hint=HINT)
        if size != listed["size"]:
            raise Refused(
                f"{self.where}: {entry.name}: the archive holds {size} bytes where {manifest.NAME} lists {listed['size']}", hint=HINT
            )

    def _count_dirs(self) -> None:
        if self.manifest is None:
            return
        if self.folders > len(self.listed) + SPARE_DIRECTORIES:
            raise Refused(f"{self.where}: the archive makes {self.folders} folders for {len(self.listed)} listed files", hint=HINT)

    def finish(self) -> Listing:
        if self.top is None:
            raise Refused(f"{self.where}: the archive is empty", hint="pass the archive gopack bundle wrote")
        if self.manifest is None:
            raise Refused(
                f"{self.where}: holds no {self.top}/{manifest.NAME}; it was not made by gopack", hint="pass the archive gopack bundle wrote"
            )
        self._count_dirs()
        missing = [path for path in self.listed if path not in self.kinds]
        if missing:
            more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
            raise VerifyError(
                f"{self.where}: {shown(missing[0])}{more}: listed in {manifest.NAME} but not in the archive; it is truncated or damaged",
                hint=HINT,
            )
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
        if kind != SYMLINK:
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
    if final is not None and final.kind == HARDLINK:
        final = entries.get(final.target)
    if final is None or final.kind != FILE:
        raise Refused(f"{label} is not a regular file in the bundle", hint=hint)
    if not final.executable:
        raise Refused(f"{label} is not executable (mode without x bits)", hint=hint)
