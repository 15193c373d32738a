"""What an image binds from each library it loads, and what a library exports: read bounded.

dyld binds a two-level-namespace symbol to the library its ordinal names (1 = the first
library load command); :func:`imports` reads those pairs from ``LC_DYLD_CHAINED_FIXUPS``
(newer linkers) or ``LC_DYLD_INFO``'s bind and lazy-bind opcodes (older ones), and
:func:`exports` walks ``LC_DYLD_EXPORTS_TRIE`` or ``LC_DYLD_INFO``'s export trie. Every
offset is checked against the file's size, each table is read once and at most
:data:`MAX_TABLE` bytes, a trie's walk visits each node at most once: a malformed table
raises :class:`Malformed` saying which.

What macOS's libSystem exports is read from zig's ``lib/libc/darwin/libSystem.tbd`` (a text
stub of the SDK beside the zig gopack links with): :func:`system_exports`.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass

import yaml

from gopack.errors import ToolchainError
from gopack.platform.macos.macho import Image, Malformed, Reader
from gopack.platform.target import find_zig

LC_DYLD_INFO, LC_DYLD_INFO_ONLY = 0x22, 0x80000022
LC_DYLD_EXPORTS_TRIE, LC_DYLD_CHAINED_FIXUPS = 0x80000033, 0x80000034
#: The largest bind, fixups or export table read (real ones: a few MiB for the largest libraries).
MAX_TABLE = 64 << 20
#: The most imports one image's chained fixups may name, and the longest symbol name read.
MAX_IMPORTS = 1 << 20
MAX_NAME = 4096
_BIND_WEAK_IMPORT = 0x1


@dataclass(frozen=True, kw_only=True, slots=True)
class Import:
    ordinal: int  # 1.. a library load command; 0 self, -1 the program, -2 flat lookup, -3 weak lookup
    name: bytes
    weak: bool


def _table(read: Reader, image: Image, offset: int, size: int, what: str) -> bytes:
    if size > MAX_TABLE or offset + size > image.size:
        raise Malformed(f"its {what} ({size} bytes at {offset}) lies past its {image.size} bytes or passes {MAX_TABLE >> 20} MiB")
    data = read(offset, size) if size else b""
    if len(data) < size:
        raise Malformed(f"its {what} is cut short")
    return data


def _uleb(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data) or shift > 63:
            raise Malformed("a ULEB128 number runs past its table")
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at += 1
        shift += 7
        if byte < 0x80:
            return value, at


def _cstring(data: bytes, at: int) -> tuple[bytes, int]:
    end = data.find(b"\0", at, at + MAX_NAME)
    if end < 0:
        raise Malformed(f"a symbol name runs past its table or {MAX_NAME} bytes")
    return data[at:end], end + 1


def _commands(image: Image, *cmds: int) -> list[tuple[int, ...]]:
    found = []
    for command in image.commands:
        if command.cmd in cmds:
            count = (len(command.data) - 8) // 4
            found.append(struct.unpack_from(f"<{count}I", command.data, 8))
    return found


def imports(read: Reader, image: Image) -> list[Import]:
    """The symbols ``image`` binds, each with the ordinal of the library it binds it from."""
    found: list[Import] = []
    for fields in _commands(image, LC_DYLD_CHAINED_FIXUPS):
        found += _chained(_table(read, image, fields[0], fields[1], "chained fixups"))
    for fields in _commands(image, LC_DYLD_INFO, LC_DYLD_INFO_ONLY):
        if len(fields) >= 8:
            found += _binds(_table(read, image, fields[2], fields[3], "bind opcodes"))
            found += _binds(_table(read, image, fields[6], fields[7], "lazy bind opcodes"))
    return found


def _chained(data: bytes) -> list[Import]:
    if len(data) < 28:
        return []
    _, _, imports_at, symbols_at, count, fmt, _ = struct.unpack_from("<7I", data)
    size = {1: 4, 2: 8, 3: 16}.get(fmt)
    if size is None or count > MAX_IMPORTS or imports_at + count * size > len(data):
        raise Malformed(f"its chained fixups name {count} imports of format {fmt}, which do not fit")
    found = []
    for i in range(count):
        if fmt == 3:
            (value,) = struct.unpack_from("<Q", data, imports_at + i * size)
            ordinal, weak, name_at = value & 0xFFFF, (value >> 16) & 1, value >> 32
            ordinal = ordinal - 0x10000 if ordinal >= 0xFFF0 else ordinal
        else:
            (value,) = struct.unpack_from("<I", data, imports_at + i * size)
            ordinal, weak, name_at = value & 0xFF, (value >> 8) & 1, value >> 9
            ordinal = ordinal - 0x100 if ordinal >= 0xF0 else ordinal
        name, _ = _cstring(data, symbols_at + name_at)
        found.append(Import(ordinal=ordinal, name=name, weak=bool(weak)))
    return found


def _binds(data: bytes) -> list[Import]:
    found: list[Import] = []
    ordinal, name, weak = 0, b"", False
    at = 0
    while at < len(data):
        opcode, imm = data[at] & 0xF0, data[at] & 0x0F
        at += 1
        if opcode == 0x10:
            ordinal = imm
        elif opcode == 0x20:
            ordinal, at = _uleb(data, at)
        elif opcode == 0x30:
            ordinal = imm - 16 if imm else 0
        elif opcode == 0x40:
            name, at = _cstring(data, at)
            weak = bool(imm & _BIND_WEAK_IMPORT)
        elif opcode in (0x60, 0x70, 0x80, 0xA0):  # addend, segment+offset, add address: one number each
            _, at = _uleb(data, at)
        elif opcode == 0xC0:
            _, at = _uleb(data, at)
            _, at = _uleb(data, at)
        elif opcode == 0xD0 and imm == 0:
            _, at = _uleb(data, at)
        if opcode in (0x90, 0xA0, 0xB0, 0xC0):
            found.append(Import(ordinal=ordinal, name=name, weak=weak))
    return found


def exports(read: Reader, image: Image) -> frozenset[bytes]:
    """Every symbol name ``image``'s export trie holds (re-exports included)."""
    for fields in _commands(image, LC_DYLD_EXPORTS_TRIE):
        return _trie(_table(read, image, fields[0], fields[1], "export trie"))
    for fields in _commands(image, LC_DYLD_INFO, LC_DYLD_INFO_ONLY):
        if len(fields) >= 10:
            return _trie(_table(read, image, fields[8], fields[9], "export trie"))
    return frozenset()


def _trie(data: bytes) -> frozenset[bytes]:
    names: set[bytes] = set()
    if not data:
        return frozenset()
    stack = [(0, b"")]
    seen: set[int] = set()
    while stack:
        node, prefix = stack.pop()
        if node in seen or node >= len(data):
            raise Malformed(f"its export trie revisits or leaves itself at node {node}")
        seen.add(node)
        info, at = _uleb(data, node)
        if info:
            names.add(prefix)
            at += info
        if at >= len(data):
            raise Malformed("its export trie's node runs past the trie")
        children = data[at]
        at += 1
        for _ in range(children):
            label, at = _cstring(data, at)
            child, at = _uleb(data, at)
            stack.append((child, prefix + label))
    return frozenset(names)


#: A machine -> the tbd target whose symbols it may bind.
_TBD_TARGETS = {"MACHO_ARM64": "arm64-macos", "MACHO_X86_64": "x86_64-macos"}
#: The library whose exports zig's stub lists (its re-exported libsystem_* included).
LIBSYSTEM = "/usr/lib/libSystem.B.dylib"


class _TbdLoader(yaml.CSafeLoader):
    """YAML with TAPI's document tag read as a plain mapping."""


_TbdLoader.add_constructor("!tapi-tbd", lambda loader, node: loader.construct_mapping(node, deep=True))  # type: ignore[arg-type]


@functools.cache
def system_exports(machine: str) -> frozenset[bytes] | None:
    """Every symbol libSystem (and what it re-exports) exports for ``machine`` by zig's stub; None
    where there is no stub (no zig, or one without its lib/ beside it) or no such target in it."""
    try:
        zig = find_zig("checking what macOS's libSystem exports")
    except ToolchainError:
        return None
    stub = zig.parent / "lib" / "libc" / "darwin" / "libSystem.tbd"
    target = _TBD_TARGETS.get(machine)
    if target is None or not stub.is_file():
        return None
    names: set[bytes] = set()
    with stub.open(encoding="utf-8") as f:
        for document in yaml.load_all(f, Loader=_TbdLoader):
            for entry in [*(document.get("exports") or ()), *(document.get("reexports") or ())]:
                if target in entry.get("targets", ()):
                    for key in ("symbols", "weak-symbols", "thread-local-symbols"):
                        names.update(name.encode() for name in entry.get(key) or ())
    return frozenset(names) or None
