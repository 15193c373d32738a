"""Ad-hoc code signatures: written the way zig's linker writes them, and checked page by page.

A signature is what ``LC_CODE_SIGNATURE`` points at, at the end of ``__LINKEDIT``: a
SuperBlob (magic 0xfade0cc0) holding one CodeDirectory (0xfade0c02, version 0x20400)
whose code slots are the SHA-256 of each page of the file up to the signature
(``codeLimit``). arm64 pages are 16 KiB, x86_64 pages 4 KiB (what zig writes; the
kernel takes the page size from the CodeDirectory). Flags ADHOC | LINKER_SIGNED, the
identifier is the file's name, no special slots, no requirements, no CMS blob: an
ad-hoc signature proves only that the pages are the ones signed, which is what macOS
on arm64 insists on before it maps a page. ``LC_CODE_SIGNATURE``'s size and
``__LINKEDIT``'s sizes sit in page 0, so they are patched before the pages are hashed.

:func:`sign` reproduces zig's output byte for byte (tests/test_macos_signature.py);
:func:`problem` checks a stranger's signature with bounded reads.
"""

from __future__ import annotations

import hashlib
import struct

from gopack.platform.macos import macho
from gopack.platform.macos.macho import Image, Malformed, Reader

SUPERBLOB, CODEDIRECTORY = 0xFADE0CC0, 0xFADE0C02
CS_ADHOC, CS_LINKER_SIGNED = 0x2, 0x20000
CS_EXECSEG_MAIN_BINARY = 0x1
CS_HASHTYPE_SHA1, CS_HASHTYPE_SHA256 = 1, 2
_HASHES = {CS_HASHTYPE_SHA1: ("sha1", 20), CS_HASHTYPE_SHA256: ("sha256", 32)}
#: CodeDirectory slot types: the primary and the alternates codesign adds (SHA-256 beside SHA-1).
_CD_SLOTS = (0, *range(0x1000, 0x1005))
_VERSION = 0x20400
_CD_HEADER = 88
#: log2 of the page size each machine's signatures hash.
PAGE_SHIFT = {"MACHO_ARM64": 14, "MACHO_X86_64": 12}
#: The largest signature verify reads (real ones: a few KiB to a few hundred for huge files).
MAX_SIGNATURE = 16 << 20


def _align(value: int, to: int) -> int:
    return (value + to - 1) // to * to


def sign(data: bytes, identifier: str) -> bytes:
    """``data`` (a thin 64-bit image) with a fresh ad-hoc signature in place of any it had."""
    image = macho.parse(data)
    shift = PAGE_SHIFT.get(image.machine, 12)
    page = 1 << shift
    linkedit = image.segment("__LINKEDIT")
    text = image.segment("__TEXT")
    if linkedit is None or text is None:
        raise Malformed("it has no __LINKEDIT or no __TEXT segment to sign")
    out = bytearray(data)
    if image.signature is not None:
        dataoff = image.signature[0]
        at = next(c.offset for c in image.commands if c.cmd == macho.LC_CODE_SIGNATURE)
    else:
        if image.room < 16:
            raise Malformed("it has no room for a signature's load command (link it with -headerpad_max_install_names)")
        dataoff = _align(linkedit.fileoff + linkedit.filesize, 16)
        at = image.header_size + sum(len(c.data) for c in image.commands)
        out[at : at + 16] = struct.pack("<4I", macho.LC_CODE_SIGNATURE, 16, 0, 0)
        ncmds, sizeofcmds = struct.unpack_from("<II", out, 16)
        struct.pack_into("<II", out, 16, ncmds + 1, sizeofcmds + 16)
    ident = identifier.encode() + b"\0"
    slots = _align(dataoff, page) // page
    cd_length = _CD_HEADER + len(ident) + slots * 32
    length = 20 + cd_length
    datasize = _align(length, 8)
    struct.pack_into("<II", out, at + 8, dataoff, datasize)
    seg = linkedit.command
    seg_at = image.commands[seg].offset
    filesize = dataoff + datasize - linkedit.fileoff
    vmsize = max(linkedit.vmsize, _align(filesize, page))
    struct.pack_into("<QQQQ", out, seg_at + 24, linkedit.vmaddr, vmsize, linkedit.fileoff, filesize)
    del out[dataoff:]
    out += b"\0" * (dataoff - len(out))
    flags = CS_EXECSEG_MAIN_BINARY if image.filetype == macho.MH_EXECUTE else 0
    header = struct.pack(
        ">9IBBBBI3IQQQQ",
        CODEDIRECTORY, cd_length, _VERSION, CS_ADHOC | CS_LINKER_SIGNED, _CD_HEADER + len(ident), _CD_HEADER, 0, slots, dataoff,
        32, CS_HASHTYPE_SHA256, 0, shift, 0,
        0, 0, 0,
        0, text.fileoff, text.filesize, flags,
    )  # fmt: skip
    view = memoryview(out)
    hashes = b"".join(hashlib.sha256(view[i : min(i + page, dataoff)]).digest() for i in range(0, dataoff, page))
    blob = struct.pack(">5I", SUPERBLOB, length, 1, 0, 20) + header + ident + hashes
    return bytes(out) + blob + b"\0" * (datasize - length)


def problem(read: Reader, image: Image) -> str | None:
    """Why the image's signature does not hold (None: every page hash matches), reading at most
    :data:`MAX_SIGNATURE` bytes of it and each page once."""
    if image.signature is None:
        return "it is not signed (macOS on arm64 refuses to map it)"
    dataoff, datasize = image.signature
    if datasize > MAX_SIGNATURE or datasize < 12:
        return f"its signature is {datasize} bytes (a signature is 12 bytes to {MAX_SIGNATURE >> 20} MiB)"
    blob = read(dataoff, datasize)
    if len(blob) < datasize:
        return "its signature is cut short"
    magic, length, count = struct.unpack_from(">3I", blob)
    if magic != SUPERBLOB or length > datasize or 12 + count * 8 > length:
        return f"its signature is not a code signature SuperBlob (magic {magic:#x}, {count} entries, {length} bytes)"
    directories = 0
    for i in range(count):
        slot, offset = struct.unpack_from(">II", blob, 12 + i * 8)
        if slot not in _CD_SLOTS:
            continue
        if offset + _CD_HEADER > length:
            return f"its CodeDirectory {slot:#x} lies outside the signature"
        wrong = _check_directory(read, blob, offset, length, dataoff)
        if wrong is not None:
            return wrong
        directories += 1
    return None if directories else "its signature holds no CodeDirectory"


def _check_directory(read: Reader, blob: bytes, at: int, length: int, dataoff: int) -> str | None:
    magic, cd_length, _, _, hash_offset, _, _, slots, code_limit, hash_size, hash_type, _, shift = struct.unpack_from(">9IBBBB", blob, at)
    if magic != CODEDIRECTORY or at + cd_length > length:
        return f"its CodeDirectory has magic {magic:#x} or length {cd_length} past the signature"
    if hash_type not in _HASHES or _HASHES[hash_type][1] != hash_size:
        return f"its CodeDirectory's hash type {hash_type} ({hash_size} bytes) is not SHA-1 or SHA-256"
    if not 12 <= shift <= 16:
        return f"its CodeDirectory's page size 2^{shift} is not 4 to 64 KiB"
    page = 1 << shift
    if code_limit > dataoff or slots != _align(code_limit, page) // page or hash_offset + slots * hash_size > cd_length:
        return f"its CodeDirectory covers {code_limit} bytes in {slots} pages, not the {dataoff} bytes before the signature"
    name = _HASHES[hash_type][0]
    for i in range(slots):
        start = i * page
        chunk = read(start, min(page, code_limit - start))
        want = blob[at + hash_offset + i * hash_size : at + hash_offset + (i + 1) * hash_size]
        if hashlib.new(name, chunk).digest() != want:
            return f"page {i} (bytes {start} to {start + len(chunk)}) does not match its signature's hash"
    return None
