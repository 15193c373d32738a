"""A zip's own structure, checked before :mod:`zipfile` trusts it.

``zipfile`` reads the whole central directory when it opens a file, so its
entry count and size are read here first from the end record (zip64 too) and
capped. Then every entry's local header and compressed data must lie apart
from every other's and before the central directory: entries that share
compressed data (the "quoted overlap" bomb) unpack to far more than the
archive holds, and ``unzip -t`` rejects them too.
"""

from __future__ import annotations

import struct
import zipfile
from typing import IO

from gopack.archive.limits import HINT, MAX_ENTRIES, MAX_ZIP_DIRECTORY
from gopack.errors import VerifyError

_END = struct.Struct("<4s4H2LH")
_LOCATOR = struct.Struct("<4sLQL")
_END64 = struct.Struct("<4sQ2H2L4Q")
_LOCAL = struct.Struct("<4s5H3L2H")
_MAX_COMMENT = 0xFFFF


def check_directory(raw: IO[bytes], size: int, where: str) -> None:
    """Refuse a central directory with more entries or bytes than the caps, from its end
    record alone. A zip without an end record is left to zipfile, which refuses it."""
    tail_size = min(size, _END.size + _MAX_COMMENT)
    raw.seek(size - tail_size)
    tail = raw.read(tail_size)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < _END.size:
        return
    _, _, _, _, entries, directory, _, _ = _END.unpack_from(tail, at)
    if entries == 0xFFFF or directory == 0xFFFFFFFF:
        end_at = size - tail_size + at
        if end_at >= _LOCATOR.size:
            raw.seek(end_at - _LOCATOR.size)
            sig, _, offset, _ = _LOCATOR.unpack(raw.read(_LOCATOR.size))
            if sig == b"PK\x06\x07" and offset + _END64.size <= size:
                raw.seek(offset)
                record = raw.read(_END64.size)
                if record[:4] == b"PK\x06\x06":
                    entries, directory = _END64.unpack(record)[7:9]
    if entries > MAX_ENTRIES:
        raise VerifyError(f"{where}: the zip's directory lists {entries} entries, more than the {MAX_ENTRIES} gopack reads", hint=HINT)
    if directory > MAX_ZIP_DIRECTORY:
        raise VerifyError(f"{where}: the zip's directory is {directory} bytes, more than the {MAX_ZIP_DIRECTORY} gopack reads", hint=HINT)


def check_apart(zf: zipfile.ZipFile, raw: IO[bytes], where: str) -> None:
    """Each entry's local header and data end before the next entry and the directory begin."""
    start_dir = getattr(zf, "start_dir", None)
    infos = sorted(zf.infolist(), key=lambda i: i.header_offset)
    for i, info in enumerate(infos):
        raw.seek(info.header_offset)
        header = raw.read(_LOCAL.size)
        if len(header) < _LOCAL.size or header[:4] != b"PK\x03\x04":
            raise VerifyError(f"{where}: the zip entry {info.filename[:200]!r} has no local header where its directory says", hint=HINT)
        name_len, extra_len = _LOCAL.unpack(header)[-2:]
        end = info.header_offset + _LOCAL.size + name_len + extra_len + info.compress_size
        after = infos[i + 1].header_offset if i + 1 < len(infos) else start_dir
        if isinstance(after, int) and end > after:
            other = repr(infos[i + 1].filename[:200]) if i + 1 < len(infos) else "the central directory"
            raise VerifyError(
                f"{where}: the zip entry {info.filename[:200]!r} overlaps {other}: entries that share data"
                " unpack to more than the archive holds (a zip bomb); unzip -t refuses it too",
                hint=HINT,
            )
