"""One executable (``output.format: exe``): the launcher, the bundle's tar.gz, a trailer.

The launcher (Go, ``gopack/launcher``, built by :mod:`gopack.go.launcher`) reads its
own file, finds the trailer at the end, extracts the tar.gz once into a per-user cache
folder named by the manifest's digest and execs the program there. The trailer is
fixed-size (:data:`TRAILER_SIZE` bytes, integers little-endian)::

    0     magic "GOPACKX1"
    8     u32 trailer version (1), u32 flags (0)
    16    u64 payload offset, u64 payload size
    32    sha256 of the payload (32 bytes)
    64    sha256 of the bundle's gopack.json (32 bytes): names the extracted folder
    96    u16 length of the top folder's name, u16 length of the program's path
    128   the top folder's name (<name>-<version>), zero-padded to 256 bytes
    384   the program, relative to the top folder (bin/<name>), zero-padded to 512 bytes
    896   zeros; at 1016 the magic again

The payload is the tar.gz :func:`gopack.archive.write.write` makes, byte for byte,
so an executable is as deterministic as the archive and the launcher are.
:func:`payload` finds it again for ``gopack inspect`` and ``gopack verify``, which
read it with the same reader and caps as any archive (:mod:`gopack.archive.unpack`).
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from gopack._fs import sha256_of
from gopack.archive.limits import HINT
from gopack.errors import BuildError, VerifyError

FORMAT = "exe"
#: What ``output.format`` and ``--format`` take.
#: The archive format of the payload: gzip, which Go's standard library reads.
PAYLOAD_FORMAT = "tar.gz"
MAGIC = b"GOPACKX1"
VERSION = 1
TRAILER_SIZE = 1024
_HEAD = struct.Struct("<8sII QQ 32s32s HH 28x")  # the first 128 bytes
_TOP, _PROGRAM = (128, 256), (384, 512)  # (offset, room) of the two names
_BLOCK = 1 << 20


@dataclass(frozen=True, kw_only=True)
class Trailer:
    offset: int  # where the payload starts in the file
    size: int  # the payload's length
    payload_sha256: str
    manifest_sha256: str
    top: str  # the bundle's top folder, <name>-<version>
    program: str  # what the launcher runs, relative to the top folder

    def pack(self) -> bytes:
        top, program = self.top.encode(), self.program.encode()
        if not 0 < len(top) <= _TOP[1] or not 0 < len(program) <= _PROGRAM[1]:
            raise BuildError(f"{self.top}/{self.program}: too long a name for the executable's trailer")
        head = _HEAD.pack(
            MAGIC,
            VERSION,
            0,
            self.offset,
            self.size,
            bytes.fromhex(self.payload_sha256),
            bytes.fromhex(self.manifest_sha256),
            len(top),
            len(program),
        )
        body = head + top.ljust(_TOP[1], b"\0") + program.ljust(_PROGRAM[1], b"\0")
        return body.ljust(TRAILER_SIZE - len(MAGIC), b"\0") + MAGIC


def parse(tail: bytes, file_size: int, where: str) -> Trailer | None:
    """The trailer in ``tail`` (the file's last :data:`TRAILER_SIZE` bytes), None if the file
    has none (an archive); refused if it has one that does not hold together.

    >>> t = Trailer(offset=10, size=20, payload_sha256="ab" * 32, manifest_sha256="cd" * 32, top="a-1", program="bin/a")
    >>> parse(t.pack(), 10 + 20 + TRAILER_SIZE, "x") == t
    True
    >>> parse(b"\\0" * TRAILER_SIZE, 5000, "x") is None
    True
    """
    if len(tail) != TRAILER_SIZE or not tail.startswith(MAGIC) or not tail.endswith(MAGIC):
        return None
    _magic, version, _flags, offset, size, payload_sha, manifest_sha, top_len, program_len = _HEAD.unpack_from(tail)
    if version != VERSION:
        raise VerifyError(f"{where}: a gopack executable of trailer version {version}, which this gopack cannot read", hint="update gopack")
    if not 0 < top_len <= _TOP[1] or not 0 < program_len <= _PROGRAM[1]:
        raise VerifyError(f"{where}: the executable's trailer is damaged", hint=HINT)
    if size <= 0 or offset + size != file_size - TRAILER_SIZE:
        raise VerifyError(f"{where}: the executable's trailer does not match its length; it was cut short or appended to", hint=HINT)
    try:
        top = tail[_TOP[0] : _TOP[0] + top_len].decode()
        program = tail[_PROGRAM[0] : _PROGRAM[0] + program_len].decode()
    except UnicodeDecodeError:
        raise VerifyError(f"{where}: the executable's trailer is damaged", hint=HINT) from None
    return Trailer(offset=offset, size=size, payload_sha256=payload_sha.hex(), manifest_sha256=manifest_sha.hex(), top=top, program=program)


def read_trailer(raw: IO[bytes], where: str) -> Trailer | None:
    """The trailer of the open file ``raw``, None if it has none."""
    size = raw.seek(0, os.SEEK_END)
    if size < TRAILER_SIZE:
        return None
    raw.seek(size - TRAILER_SIZE)
    return parse(raw.read(TRAILER_SIZE), size, where)


def payload_digest(raw: IO[bytes], trailer: Trailer) -> str:
    """sha256 of the payload as the file holds it."""
    return sha256_of(Section(raw, trailer.offset, trailer.size), _BLOCK)


class Section(io.RawIOBase):
    """A read-only, seekable view of ``size`` bytes of ``raw`` from ``offset``: the payload,
    as the archive readers see it (nothing before or after it)."""

    def __init__(self, raw: IO[bytes], offset: int, size: int) -> None:
        super().__init__()
        self.raw, self.offset, self.size, self.pos = raw, offset, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, pos: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self.pos, os.SEEK_END: self.size}[whence]
        self.pos = max(0, base + pos)
        return self.pos

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        want = min(len(buffer), self.size - self.pos)
        if want <= 0:
            return 0
        self.raw.seek(self.offset + self.pos)
        data = self.raw.read(want)
        buffer[: len(data)] = data
        self.pos += len(data)
        return len(data)


def write(launcher: Path, payload: Path, dest: Path, *, top: str, program: str, manifest: Path) -> int:
    """The executable at ``dest`` (written beside it and renamed into place): ``launcher``,
    then ``payload`` (the bundle's tar.gz), then the trailer naming ``manifest``'s digest
    (the bundle's gopack.json). Returns its size."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as out:
            with launcher.open("rb") as src:
                shutil.copyfileobj(src, out, _BLOCK)
            offset = out.tell()
            digest = hashlib.sha256()
            with payload.open("rb") as src:
                while block := src.read(_BLOCK):
                    digest.update(block)
                    out.write(block)
            size = out.tell() - offset
            trailer = Trailer(
                offset=offset,
                size=size,
                payload_sha256=digest.hexdigest(),
                manifest_sha256=hashlib.sha256(manifest.read_bytes()).hexdigest(),
                top=top,
                program=program,
            )
            out.write(trailer.pack())
        tmp.chmod(0o755)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest.stat().st_size
