"""``verify``'s linkage check: every DT_NEEDED of an extracted bundle resolved the way ld.so
would, without trusting a byte of it.

The bundle may be an attacker's, and verify runs as root before any sandbox, so unlike
:mod:`.analysis` (which reads gopack's own trees with pyelftools and auditwheel's lddtree,
and looks on the host) this module:

- opens nothing outside the extracted bundle: a DT_NEEDED naming a path (``/dev/zero``,
  ``../../etc/shadow``), or a search path that is absolute or climbs out, is a problem,
  never a file to open; what is not inside is either one of the host libraries the
  policy allows (by name) or a problem;
- resolves names inside it component by component with ``lstat``, following a symlink
  only while it stays inside, at most :data:`MAX_LINKS` of them (a link to itself is
  a problem, not a loop);
- opens only regular files (``O_NOFOLLOW | O_NONBLOCK``, checked again after the
  open), and reads only what ld.so reads: the ELF header, the program headers, the
  dynamic segment and the strings it names, each read bounded by the file's size and
  by the caps below;
- reports a malformed ELF file as a problem naming it, never a traceback.

Search order, as ld.so's: for an object without DT_RUNPATH its DT_RPATH, then those of
the objects that loaded it up to the executable's (``$ORIGIN/../python/lib`` for the Go
binary and python3.X); then its DT_RUNPATH. A name already loaded in the tree is taken
from there, as ld.so takes a soname it has loaded.
"""

from __future__ import annotations

import os
import stat
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from auditwheel.lddtree import LIBPYTHON_RE

from gopack import _fs
from gopack.platform.linux.analysis import HOST_LIBRARIES, LOADER

#: Symlinks followed to resolve one name (Linux's own limit).
MAX_LINKS = 40
#: The largest dynamic segment read (64 Ki entries of 16 bytes; real ones hold a few dozen).
MAX_DYNAMIC = 1 << 20
#: The longest string a DT_NEEDED, DT_RPATH, DT_RUNPATH or DT_SONAME may name.
MAX_STRING = 4096
#: How many problems a check keeps (the rest are counted).
MAX_PROBLEMS = 200

_PT_LOAD, _PT_DYNAMIC, _PT_INTERP = 1, 2, 3
_DT_NULL, _DT_NEEDED, _DT_STRTAB, _DT_STRSZ, _DT_SONAME, _DT_RPATH, _DT_RUNPATH = 0, 1, 5, 10, 14, 15, 29
_ET_EXEC, _ET_DYN = 2, 3


class Malformed(Exception):
    """An ELF file ld.so would refuse or misread; the message says where."""


@dataclass(frozen=True, kw_only=True)
class Dynamic:
    """What ld.so reads of one file to load it."""

    abi: tuple[int, int, int]  # class, byte order, machine: what a library must match to be loaded
    needed: tuple[bytes, ...]
    rpath: tuple[bytes, ...]
    runpath: tuple[bytes, ...]


def read_dynamic(fd: int, size: int) -> Dynamic | None:
    """The dynamic section of the open regular file ``fd`` of ``size`` bytes, as ld.so finds it
    (through the program headers); None for a file that is not a dynamic ELF object."""
    head = os.pread(fd, 64, 0)
    if len(head) < 16 or head[:4] != b"\x7fELF":
        return None
    elf_class, order = head[4], head[5]
    if elf_class not in (1, 2) or order not in (1, 2):
        raise Malformed(f"ELF class {elf_class} or byte order {order} is neither 32/64-bit nor little/big-endian")
    end = "<" if order == 1 else ">"
    wide = elf_class == 2
    if len(head) < (64 if wide else 52):
        raise Malformed("the ELF header is cut short")
    e_type, machine = struct.unpack_from(end + "HH", head, 16)
    if e_type not in (_ET_EXEC, _ET_DYN):
        return None
    (phoff,) = struct.unpack_from(end + ("Q" if wide else "I"), head, 32 if wide else 28)
    phentsize, phnum = struct.unpack_from(end + "HH", head, 54 if wide else 42)
    want = 56 if wide else 32  # sizeof(Elf64_Phdr), sizeof(Elf32_Phdr)
    if phnum == 0:
        return None
    if phentsize != want or phnum == 0xFFFF or phoff + phnum * want > size:
        raise Malformed(f"its {phnum} program headers of {phentsize} bytes at {phoff} do not fit in its {size} bytes")
    table = os.pread(fd, phnum * want, phoff)
    loads: list[tuple[int, int, int]] = []  # (vaddr, offset, filesz)
    dynamic: tuple[int, int] | None = None
    for i in range(phnum):
        if wide:
            p_type, _, p_offset, p_vaddr, _, p_filesz = struct.unpack_from(end + "IIQQQQ", table, i * want)
        else:
            p_type, p_offset, p_vaddr, _, p_filesz = struct.unpack_from(end + "IIIII", table, i * want)
        if p_type == _PT_LOAD:
            loads.append((p_vaddr, p_offset, p_filesz))
        elif p_type == _PT_DYNAMIC and dynamic is None:
            dynamic = (p_offset, p_filesz)
    if dynamic is None:
        return None  # static
    offset, length = dynamic
    if length > MAX_DYNAMIC or offset + length > size:
        raise Malformed(f"its dynamic segment ({length} bytes at {offset}) does not fit in its {size} bytes or passes {MAX_DYNAMIC}")
    entry = 16 if wide else 8
    raw = os.pread(fd, length, offset)
    tags: list[tuple[int, int]] = []
    for at in range(0, len(raw) - entry + 1, entry):
        tag, value = struct.unpack_from(end + ("qQ" if wide else "iI"), raw, at)
        if tag == _DT_NULL:
            break
        tags.append((tag, value))
    strtab = next((v for t, v in tags if t == _DT_STRTAB), None)
    strsz = next((v for t, v in tags if t == _DT_STRSZ), None)
    if not any(t in (_DT_NEEDED, _DT_RPATH, _DT_RUNPATH) for t, _ in tags):
        return Dynamic(abi=(elf_class, order, machine), needed=(), rpath=(), runpath=())
    if strtab is None or strsz is None:
        raise Malformed("its dynamic segment names strings but has no DT_STRTAB or DT_STRSZ")
    table_at = next((off + strtab - vaddr for vaddr, off, filesz in loads if vaddr <= strtab < vaddr + filesz), None)
    if table_at is None or table_at + strsz > size:
        raise Malformed(f"its string table (DT_STRTAB {strtab:#x}, {strsz} bytes) lies in no loaded part of the file")

    def string(index: int) -> bytes:
        if index >= strsz:
            raise Malformed(f"a dynamic string at {index} lies past its string table's {strsz} bytes")
        text = os.pread(fd, min(MAX_STRING + 1, strsz - index), table_at + index)
        text, nul, _ = text.partition(b"\0")
        if not nul:
            raise Malformed(f"a dynamic string at {index} is not ended within {MAX_STRING} bytes")
        return text

    def paths(tag: int) -> tuple[bytes, ...]:
        return tuple(p for t, v in tags if t == tag for p in string(v).split(b":") if p)

    return Dynamic(
        abi=(elf_class, order, machine),
        needed=tuple(string(v) for t, v in tags if t == _DT_NEEDED),
        rpath=paths(_DT_RPATH),
        runpath=paths(_DT_RUNPATH),
    )


def resolve(root: Path, rel: str) -> str | None:
    """The bundle-relative path of the regular file ``rel`` names inside ``root``, following
    symlinks only while they stay inside; None where it leaves, loops, is missing or is not
    a regular file. Only ``lstat`` and ``readlink``, on paths made of resolved folders."""
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    done: list[str] = []
    links = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if not done:
                return None  # climbs out of the bundle
            done.pop()
            continue
        here = os.path.join(root, *done, part)
        try:
            mode = os.lstat(here).st_mode
        except (OSError, ValueError):
            return None
        if stat.S_ISLNK(mode):
            links += 1
            try:
                target = os.readlink(here)
            except OSError:
                return None
            if links > MAX_LINKS or target.startswith("/"):
                return None
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
        elif stat.S_ISDIR(mode) or (not parts and stat.S_ISREG(mode)):
            done.append(part)
        else:
            return None
    try:
        return "/".join(done) if done and stat.S_ISREG(os.lstat(os.path.join(root, *done)).st_mode) else None
    except OSError:
        return None


def read_file(root: Path, rel: str) -> Dynamic | None:
    """:func:`read_dynamic` of the regular file ``root/rel`` (a resolved path), opened without
    following a link or blocking; :class:`Malformed` also where it cannot be read."""
    with _fs.open_regular(root / rel, Malformed) as opened:
        return None if opened is None else read_dynamic(*opened)


def text(raw: bytes) -> str:
    """A name from the archive, safe to print: control characters escaped."""
    decoded = raw.decode("utf-8", errors="backslashreplace")
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in decoded)


@dataclass(frozen=True, kw_only=True)
class Found:
    """What the check found in one bundle."""

    files: int  # dynamic ELF files
    host: frozenset[str]  # host libraries they need
    problems: tuple[str, ...]


class _Bundle:
    """The bundle's files read once each; :meth:`check` walks every file's tree."""

    def __init__(self, root: Path, libdir: str, allowed: frozenset[str]) -> None:
        self.root, self.libdir, self.allowed = root, libdir, allowed
        self.read: dict[str, Dynamic | None | Malformed] = {}

    def dynamic(self, rel: str) -> Dynamic | None | Malformed:
        if rel not in self.read:
            try:
                self.read[rel] = read_file(self.root, rel)
            except Malformed as exc:
                self.read[rel] = exc
        return self.read[rel]

    def search(self, origin: str, entries: tuple[bytes, ...], owner: str, problems: list[str]) -> list[str]:
        """The folders (bundle-relative, unresolved) ``entries`` of ``owner`` name; a problem for each
        entry that is absolute or not under $ORIGIN, or climbs out."""
        found = []
        for raw in entries:
            entry = os.fsdecode(raw)
            for token in ("$ORIGIN", "${ORIGIN}"):
                if entry == token or entry.startswith(token + "/"):
                    inside = os.path.normpath(os.path.join(origin, entry[len(token) :].lstrip("/")))
                    if inside == ".." or inside.startswith(("../", "/")):
                        problems.append(f"{owner} searches {text(raw)}, which climbs out of the bundle")
                    else:
                        found.append("" if inside == "." else inside)
                    break
            else:
                where = "the absolute path" if entry.startswith("/") else "the path, relative to where it is run,"
                problems.append(f"{owner} searches {where} {text(raw)}")
        return found

    def load(self, folders: list[str], name: str, abi: tuple[int, int, int]) -> str | None:
        """The first file called ``name`` in ``folders`` that ld.so would load for ``abi``."""
        for folder in folders:
            rel = resolve(self.root, f"{folder}/{name}" if folder else name)
            if rel is None:
                continue
            found = self.dynamic(rel)
            if isinstance(found, Dynamic) and found.abi == abi:
                return rel
        return None

    def tree(self, top: str, info: Dynamic, problems: list[str]) -> tuple[set[tuple[str, str]], set[tuple[str, str]], set[str]]:
        """(resolved, unresolved) (needer, name) pairs of ``top``'s tree, and the host libraries it names."""
        resolved: set[tuple[str, str]] = set()
        unresolved: set[tuple[str, str]] = set()
        host: set[str] = set()
        loaded: dict[str, str] = {}
        queue: list[tuple[str, Dynamic, list[str]]] = [(top, info, [self.libdir])]  # the loading executables' DT_RPATH
        seen = {top}
        while queue:
            rel, dyn, inherited = queue.pop(0)
            origin = os.path.dirname(rel)
            own = self.search(origin, dyn.rpath, rel, problems)
            own = own if not dyn.runpath else []  # ld.so ignores DT_RPATH beside a DT_RUNPATH; its problems stand
            runpath = self.search(origin, dyn.runpath, rel, problems)
            folders = [*own, *inherited, *runpath] if not dyn.runpath else runpath
            for raw in dyn.needed:
                name = os.fsdecode(raw)
                if not name or "/" in name:
                    problems.append(f"{rel} needs {text(raw)!r}, a path the loader would open as it is, outside the bundle")
                    continue
                if name in self.allowed:
                    host.add(name)
                    continue
                if LOADER.match(name) or name in loaded:
                    resolved.add((rel, name))
                    continue
                if LIBPYTHON_RE.match(name) and resolve(self.root, f"{self.libdir}/{name}") is not None:
                    resolved.add((rel, name))  # the executable loaded it already
                    continue
                lib = self.load(folders, name, dyn.abi)
                if lib is None:
                    unresolved.add((rel, name))
                    continue
                resolved.add((rel, name))
                loaded[name] = lib
                lib_dyn = self.dynamic(lib)
                if lib not in seen and isinstance(lib_dyn, Dynamic):
                    seen.add(lib)
                    queue.append((lib, lib_dyn, [*own, *inherited]))  # its loaders' DT_RPATHs, up to the executable's
        return resolved, unresolved, host


def elf_files(root: Path) -> Iterator[str]:
    """Bundle-relative paths of the regular files under ``root`` that start as ELF files do."""
    return _fs.files_starting(root, 4, lambda magic: magic == b"\x7fELF")


def check(
    root: Path, *, libdir: str, allowed: frozenset[str] = HOST_LIBRARIES, accepted: frozenset[tuple[str, str]] = frozenset()
) -> Found:
    """Every dynamic ELF file under ``root`` and its tree; ``accepted``: (file, name) pairs the
    build recorded as unresolvable everywhere."""
    bundle = _Bundle(root, libdir, allowed)
    problems: list[str] = []
    resolved: set[tuple[str, str]] = set()
    unresolved: set[tuple[str, str]] = set()
    host: set[str] = set()
    files = 0
    for rel in elf_files(root):
        found = bundle.dynamic(rel)
        if isinstance(found, Malformed):
            problems.append(f"{rel} is not an ELF file the loader can read: {found}")
            continue
        if found is None:
            continue
        files += 1
        tree_resolved, tree_unresolved, tree_host = bundle.tree(rel, found, problems)
        resolved |= tree_resolved
        unresolved |= tree_unresolved
        host |= tree_host
    # A library wheels vendored may find its needs only because the module loading it already
    # loaded them: what resolves in some loading tree is resolved.
    for needer, name in sorted(unresolved - resolved - accepted):
        problems.append(f"{needer} needs {text(os.fsencode(name))}, which resolves to nothing inside the bundle")
    unique = list(dict.fromkeys(problems))
    if len(unique) > MAX_PROBLEMS:
        unique = [*unique[:MAX_PROBLEMS], f"and {len(unique) - MAX_PROBLEMS} more"]
    return Found(files=files, host=frozenset(host), problems=tuple(unique))
