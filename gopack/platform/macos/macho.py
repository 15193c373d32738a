"""Mach-O read without trusting a byte: the header, the load commands dyld reads, fat headers.

One reader serves gopack's own trees and verify's strangers' archives alike, so it reads
through a ``pread(offset, size)`` function and never more than a cap: the load commands
(at most :data:`MAX_COMMANDS_BYTES`), a fat header's table (at most :data:`MAX_SLICES`
entries), every offset and size checked against the file's size before it is used. A file
that breaks a rule dyld relies on raises :class:`Malformed` saying what and where; nothing
here raises anything else on bad bytes.

Only 64-bit little-endian images are images gopack ships (arm64, x86_64); a 32-bit one
(an i386 slice of an old fat library) is read as far as its architecture, to be thinned away.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

#: GOARCH -> the machine name gopack gives a Mach-O file (Target.machine for macos).
MACHINES = {"arm64": "MACHO_ARM64", "amd64": "MACHO_X86_64"}
#: The machine name of a fat (universal) file, whatever it holds.
FAT = "MACHO_FAT"
#: Mach-O CPU types -> gopack's machine names and the architecture names lipo and wheel tags use.
CPU_TYPES = {0x0100000C: "MACHO_ARM64", 0x01000007: "MACHO_X86_64", 7: "MACHO_I386", 12: "MACHO_ARM"}
ARCH_NAMES = {"MACHO_ARM64": "arm64", "MACHO_X86_64": "x86_64", "MACHO_I386": "i386", "MACHO_ARM": "arm"}

#: The most bytes of load commands read (real files hold a few KiB; dyld's own limit is the first segment).
MAX_COMMANDS_BYTES = 1 << 20
#: The most load commands one image may have.
MAX_COMMANDS = 4096
#: The most slices a fat file may hold (``file`` treats more than this as a Java class).
MAX_SLICES = 16
#: The longest path a load command may name.
MAX_STRING = 4096

MH_MAGIC_64, MH_MAGIC = 0xFEEDFACF, 0xFEEDFACE
FAT_MAGIC, FAT_MAGIC_64 = 0xCAFEBABE, 0xCAFEBABF
MH_EXECUTE, MH_DYLIB, MH_BUNDLE = 2, 6, 8

LC_SEGMENT, LC_SEGMENT_64 = 0x1, 0x19
LC_ID_DYLIB, LC_LOAD_DYLIB, LC_LOAD_WEAK_DYLIB = 0xD, 0xC, 0x80000018
LC_REEXPORT_DYLIB, LC_LAZY_LOAD_DYLIB, LC_LOAD_UPWARD_DYLIB = 0x8000001F, 0x20, 0x80000023
LC_RPATH = 0x8000001C
LC_CODE_SIGNATURE = 0x1D
LC_BUILD_VERSION, LC_VERSION_MIN_MACOSX = 0x32, 0x24
#: The commands that make dyld load a library, by name for messages.
LOADS = {
    LC_LOAD_DYLIB: "LC_LOAD_DYLIB",
    LC_LOAD_WEAK_DYLIB: "LC_LOAD_WEAK_DYLIB",
    LC_REEXPORT_DYLIB: "LC_REEXPORT_DYLIB",
    LC_LAZY_LOAD_DYLIB: "LC_LAZY_LOAD_DYLIB",
    LC_LOAD_UPWARD_DYLIB: "LC_LOAD_UPWARD_DYLIB",
}
PLATFORM_MACOS = 1

Reader = Callable[[int, int], bytes]


class Malformed(Exception):
    """A Mach-O file dyld would refuse or misread; the message says where."""


@dataclass(frozen=True, kw_only=True)
class Command:
    """One load command: where it is in the image and its bytes."""

    cmd: int
    offset: int  # from the image's start
    data: bytes


@dataclass(frozen=True, kw_only=True)
class Segment:
    name: str
    vmaddr: int
    vmsize: int
    fileoff: int
    filesize: int
    command: int  # index into Image.commands


@dataclass(frozen=True, kw_only=True)
class Load:
    """A library one image loads: the load command's name and the path it names."""

    kind: str  # "LC_LOAD_DYLIB"
    path: str
    weak: bool


@dataclass(frozen=True, kw_only=True)
class Image:
    """What dyld reads of one thin 64-bit image."""

    machine: str
    filetype: int
    flags: int
    size: int  # the image's bytes (a slice's size in a fat file)
    commands: tuple[Command, ...]
    header_size: int  # 32: the header before the first load command
    id: str | None
    loads: tuple[Load, ...]
    rpaths: tuple[str, ...]
    #: The oldest macOS it runs on, "14.7": LC_BUILD_VERSION's minos, else LC_VERSION_MIN_MACOSX's.
    minos: str | None
    #: (dataoff, datasize) of LC_CODE_SIGNATURE.
    signature: tuple[int, int] | None
    segments: tuple[Segment, ...]

    def segment(self, name: str) -> Segment | None:
        return next((s for s in self.segments if s.name == name), None)

    @property
    def room(self) -> int:
        """Bytes free between the load commands and the first section's data (for edits)."""
        end = self.header_size + sum(len(c.data) for c in self.commands)
        return _first_data(self) - end


@dataclass(frozen=True, kw_only=True)
class Slice:
    machine: str
    offset: int
    size: int


def kind_of(head: bytes) -> str | None:
    """ "thin", "fat" or None from a file's first bytes (at least 8)."""
    if len(head) < 8:
        return None
    (le,) = struct.unpack_from("<I", head)
    if le in (MH_MAGIC_64, MH_MAGIC):
        return "thin"
    (be, count) = struct.unpack_from(">II", head)
    if be in (FAT_MAGIC, FAT_MAGIC_64) and 0 < count <= MAX_SLICES:  # a Java class file's version is larger
        return "fat"
    return None


def machine_of(head: bytes) -> str | None:
    """gopack's machine name of a Mach-O file from its first bytes; :data:`FAT` for a fat one."""
    kind = kind_of(head)
    if kind == "fat":
        return FAT
    if kind == "thin" and len(head) >= 8:
        return CPU_TYPES.get(struct.unpack_from("<I", head, 4)[0], f"MACHO_CPU_{struct.unpack_from('<I', head, 4)[0]:#x}")
    return None


def slices(read: Reader, size: int) -> tuple[Slice, ...]:
    """The slices of a fat file, each checked to lie inside its ``size`` bytes."""
    head = read(0, 8)
    magic, count = struct.unpack_from(">II", head)
    wide = magic == FAT_MAGIC_64
    entry = 32 if wide else 20
    if not 0 < count <= MAX_SLICES or 8 + count * entry > size:
        raise Malformed(f"its fat header names {count} slices, which do not fit in its {size} bytes (at most {MAX_SLICES})")
    table = read(8, count * entry)
    found = []
    for i in range(count):
        if wide:
            cpu, _, offset, length, _, _ = struct.unpack_from(">IIQQII", table, i * entry)
        else:
            cpu, _, offset, length, _ = struct.unpack_from(">IIIII", table, i * entry)
        if offset < 8 + count * entry or offset + length > size or length < 32:
            raise Malformed(f"its slice {i} ({length} bytes at {offset}) lies outside its {size} bytes")
        found.append(Slice(machine=CPU_TYPES.get(cpu, f"MACHO_CPU_{cpu:#x}"), offset=offset, size=length))
    return tuple(found)


def _string(data: bytes, at: int, what: str) -> str:
    if not 0 < at < len(data):
        raise Malformed(f"{what}'s name offset {at} lies outside its {len(data)} bytes")
    raw, nul, _ = data[at : at + MAX_STRING + 1].partition(b"\0")
    if not nul:
        raise Malformed(f"{what}'s name is not ended inside the command (or is longer than {MAX_STRING} bytes)")
    return raw.decode("utf-8", errors="surrogateescape")


def parse_name(data: bytes) -> str:
    """The path a dylib or rpath command (already read by :func:`read_image`) names."""
    return _string(data, struct.unpack_from("<I", data, 8)[0], "a load command")


def _version(v: int) -> str:
    return f"{v >> 16}.{(v >> 8) & 0xFF}" + (f".{v & 0xFF}" if v & 0xFF else "")


def read_image(read: Reader, size: int) -> Image:
    """The thin image ``read`` gives (offsets from its start) of ``size`` bytes."""
    if size < 32:
        raise Malformed(f"it is {size} bytes, shorter than a Mach-O header")
    head = read(0, 32)
    magic, cpu, _, filetype, ncmds, sizeofcmds, flags = struct.unpack_from("<7I", head)
    machine = CPU_TYPES.get(cpu, f"MACHO_CPU_{cpu:#x}")
    if magic == MH_MAGIC:
        return Image(
            machine=machine, filetype=filetype, flags=flags, size=size, commands=(), header_size=28, id=None, loads=(), rpaths=(),
            minos=None, signature=None, segments=(),
        )  # fmt: skip
    if magic != MH_MAGIC_64:
        raise Malformed(f"its magic {magic:#x} is not a little-endian Mach-O's")
    if sizeofcmds > MAX_COMMANDS_BYTES or ncmds > MAX_COMMANDS or 32 + sizeofcmds > size:
        raise Malformed(f"its {ncmds} load commands of {sizeofcmds} bytes do not fit in its {size} bytes (caps {MAX_COMMANDS_BYTES})")
    raw = read(32, sizeofcmds)
    commands: list[Command] = []
    loads: list[Load] = []
    rpaths: list[str] = []
    segments: list[Segment] = []
    ident = minos = None
    version_min = None
    signature = None
    at = 0
    for index in range(ncmds):
        if at + 8 > len(raw):
            raise Malformed(f"load command {index} starts past the {sizeofcmds} bytes of load commands")
        cmd, cmdsize = struct.unpack_from("<II", raw, at)
        if cmdsize < 8 or cmdsize % 8 or at + cmdsize > len(raw):
            raise Malformed(f"load command {index} ({cmd:#x}) has size {cmdsize}, which is not a multiple of 8 inside the load commands")
        data = raw[at : at + cmdsize]
        commands.append(Command(cmd=cmd, offset=32 + at, data=data))
        what = f"load command {index}"
        if cmd in LOADS or cmd == LC_ID_DYLIB:
            if cmdsize < 24:
                raise Malformed(f"{what} ({LOADS.get(cmd, 'LC_ID_DYLIB')}) is {cmdsize} bytes, shorter than a dylib command")
            name = _string(data, struct.unpack_from("<I", data, 8)[0], what)
            if cmd == LC_ID_DYLIB:
                ident = name
            else:
                loads.append(Load(kind=LOADS[cmd], path=name, weak=cmd == LC_LOAD_WEAK_DYLIB))
        elif cmd == LC_RPATH:
            if cmdsize < 12:
                raise Malformed(f"{what} (LC_RPATH) is {cmdsize} bytes, too short")
            rpaths.append(_string(data, struct.unpack_from("<I", data, 8)[0], what))
        elif cmd == LC_BUILD_VERSION and cmdsize >= 24:
            platform, v = struct.unpack_from("<II", data, 8)
            if platform == PLATFORM_MACOS:
                minos = _version(v)
        elif cmd == LC_VERSION_MIN_MACOSX and cmdsize >= 16:
            version_min = _version(struct.unpack_from("<I", data, 8)[0])
        elif cmd == LC_CODE_SIGNATURE and cmdsize >= 16:
            dataoff, datasize = struct.unpack_from("<II", data, 8)
            if dataoff + datasize > size:
                raise Malformed(f"its code signature ({datasize} bytes at {dataoff}) lies past its {size} bytes")
            signature = (dataoff, datasize)
        elif cmd == LC_SEGMENT_64:
            if cmdsize < 72:
                raise Malformed(f"{what} (LC_SEGMENT_64) is {cmdsize} bytes, too short")
            segname = data[8:24].partition(b"\0")[0].decode("ascii", errors="replace")
            vmaddr, vmsize, fileoff, filesize = struct.unpack_from("<4Q", data, 24)
            if fileoff + filesize > size:
                raise Malformed(f"its segment {segname} ({filesize} bytes at {fileoff}) lies past its {size} bytes")
            segments.append(Segment(name=segname, vmaddr=vmaddr, vmsize=vmsize, fileoff=fileoff, filesize=filesize, command=index))
        at += cmdsize
    return Image(
        machine=machine, filetype=filetype, flags=flags, size=size, commands=tuple(commands), header_size=32, id=ident,
        loads=tuple(loads), rpaths=tuple(rpaths), minos=minos or version_min, signature=signature, segments=tuple(segments),
    )  # fmt: skip


def _first_data(image: Image) -> int:
    """The file offset of the first section's data (the end of the room load commands may grow into)."""
    first = image.size
    for command in image.commands:
        if command.cmd != LC_SEGMENT_64:
            continue
        (nsects,) = struct.unpack_from("<I", command.data, 64)
        for i in range(nsects):
            at = 72 + i * 80
            if at + 80 > len(command.data):
                break
            size, offset = struct.unpack_from("<QI", command.data, at + 40)
            if offset and size:
                first = min(first, offset)
    return first


def parse(data: bytes) -> Image:
    """The thin image ``data`` (all of a file gopack reads whole: its own trees)."""
    return read_image(lambda offset, size: data[offset : offset + size], len(data))
