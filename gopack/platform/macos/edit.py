"""Edits of one Mach-O file, in Python: fat files thinned, load commands rewritten, then signed.

What ``install_name_tool`` and ``lipo -thin`` do, for the few edits delocate's job needs:
a new install name (``LC_ID_DYLIB``), a library's path changed (``LC_LOAD_DYLIB`` and
the other load commands), rpaths deleted or added. The load commands are written again in
their order into the room between the header and the first section's data; a file without
room for the edit is an error naming it (its maker can link it with
``-headerpad_max_install_names``). Every edited file is signed again ad hoc
(:func:`gopack.platform.macos.signature.sign`), as is every file that was not signed.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field

from gopack.platform.macos import macho, signature
from gopack.platform.macos.macho import Malformed


@dataclass(frozen=True, kw_only=True)
class Edits:
    """What to change in one image's load commands."""

    id: str | None = None
    changes: Mapping[str, str] = field(default_factory=dict)  # a loaded library's path -> its new one
    delete_rpaths: frozenset[str] = frozenset()
    add_rpaths: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.id or self.changes or self.delete_rpaths or self.add_rpaths)


def thin(data: bytes, machine: str) -> bytes:
    """The slice of the fat file ``data`` for ``machine`` ("MACHO_ARM64"); ``data`` if it is thin."""
    if macho.kind_of(data[:8]) != "fat":
        return data
    found = macho.slices(lambda offset, size: data[offset : offset + size], len(data))
    for part in found:
        if part.machine == machine:
            return data[part.offset : part.offset + part.size]
    held = ", ".join(macho.ARCH_NAMES.get(s.machine, s.machine) for s in found)
    raise Malformed(f"it is a fat file of {held}, without {macho.ARCH_NAMES.get(machine, machine)}")


def _path_command(cmd: int, template: bytes, path: str, offset_at: int) -> bytes:
    """A load command naming ``path`` (at ``offset_at``), its other fields from ``template``."""
    name = path.encode() + b"\0"
    size = (offset_at + len(name) + 7) // 8 * 8
    head = bytearray(template[:offset_at])
    struct.pack_into("<III", head, 0, cmd, size, offset_at)
    return bytes(head) + name + b"\0" * (size - offset_at - len(name))


def rewrite(data: bytes, edits: Edits) -> bytes:
    """``data`` (thin) with ``edits`` made to its load commands; not yet signed again."""
    image = macho.parse(data)
    commands: list[bytes] = []
    for command in image.commands:
        raw = command.data
        if command.cmd == macho.LC_ID_DYLIB and edits.id is not None:
            raw = _path_command(command.cmd, raw, edits.id, 24)
        elif command.cmd in macho.LOADS:
            name = macho.parse_name(raw)
            if name in edits.changes:
                raw = _path_command(command.cmd, raw, edits.changes[name], 24)
        elif command.cmd == macho.LC_RPATH and macho.parse_name(raw) in edits.delete_rpaths:
            continue
        commands.append(raw)
    have = {macho.parse_name(c) for c in commands if struct.unpack_from("<I", c)[0] == macho.LC_RPATH}
    for path in edits.add_rpaths:
        if path not in have:
            commands.append(_path_command(macho.LC_RPATH, b"\0" * 12, path, 12))
    new = b"".join(commands)
    old_end = image.header_size + sum(len(c.data) for c in image.commands)
    if image.header_size + len(new) > old_end + image.room:
        raise Malformed(
            f"its load commands would grow to {len(new)} bytes, past the {old_end + image.room - image.header_size} bytes of room "
            "before its first section (its maker can link it with -headerpad_max_install_names)"
        )
    out = bytearray(data)
    out[image.header_size : max(old_end, image.header_size + len(new))] = new.ljust(old_end - image.header_size, b"\0")
    struct.pack_into("<II", out, 16, len(commands), len(new))
    return bytes(out)


def edited(data: bytes, edits: Edits, *, identifier: str) -> bytes:
    """``data`` with ``edits`` made and signed again ad hoc (signed also when it was unsigned)."""
    return signature.sign(rewrite(data, edits) if edits else data, identifier)
