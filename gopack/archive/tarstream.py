"""A tar stream read header by header by gopack itself, every declared size capped first.

:mod:`tarfile` is not used to read a stranger's archive: its PAX parser is
quadratic on Pythons without the CVE-2024-6232 fix (the 3.11.7 that runs
gopack among them), it reads a GNU long name or PAX record whole whatever its
header declares, and it stops at a header with a bad checksum, at a lone zero
block or at the end marker, where GNU tar reads on and extracts what follows.
Here:

- a PAX ('x') record or GNU long name/link ('L', 'K') larger than its cap in
  :mod:`gopack.archive.limits` is refused from its header, before it is read,
  and PAX records are parsed in one linear pass;
- a header whose checksum is wrong is refused as damage, never taken for the end;
- the first zero block ends the entries, and every byte after it to the true
  end of the stream must be zero (at most ``MAX_END_PADDING`` of them); a stream
  that ends without the marker is truncated;
- a folder or link whose header claims data, a PAX global header, a PAX sparse
  file and every type gopack never writes are reported by what they are;
- every byte taken from the stream is counted against the reading's
  :class:`~gopack.archive.limits.Budget`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, cast

from gopack.archive.entries import DIR, FILE, HARDLINK, SYMLINK, Member
from gopack.archive.limits import HINT, MAX_END_PADDING, MAX_LONG_NAME, MAX_PAX_HEADER, Budget
from gopack.errors import VerifyError

BLOCK = 512
_ZERO = bytes(BLOCK)
_POSIX_MAGIC = b"ustar\x00"
_HIGH = bytes(range(128, 256))
_TYPES = {
    b"0": FILE,
    b"\x00": FILE,
    b"1": HARDLINK,
    b"2": SYMLINK,
    b"5": DIR,
}
_OTHER_TYPES = {
    b"3": "a character device",
    b"4": "a block device",
    b"6": "a fifo",
    b"7": "a contiguous file",
    b"S": "a sparse file (GNU)",
    b"g": "a PAX global header",
    b"V": "a volume label",
    b"M": "a multi-volume continuation",
    b"D": "a GNU dump directory",
}
_EXTENSIONS = {
    b"x": ("a PAX extended header", MAX_PAX_HEADER),
    b"L": ("a GNU long name", MAX_LONG_NAME),
    b"K": ("a GNU long link", MAX_LONG_NAME),
}


class TarStream:
    """The members of the tar stream ``stream``, for one reading of the archive at ``where``.

    A member's :attr:`Member.read` must be called, if at all, before the next member is
    asked for; whatever it leaves unread is skipped (and counted) when the next one is."""

    def __init__(self, stream: IO[bytes], where: str, budget: Budget) -> None:
        self.stream, self.where, self.budget = stream, where, budget
        self.offset = 0  # bytes of the tar stream taken so far
        self.left = 0  # data of the current member not yet read, and its padding
        self.data_left = 0

    def members(self) -> Iterator[Member]:
        while True:
            member = self._next()
            if member is None:
                return
            yield member

    # -- the stream ---------------------------------------------------------------------------

    def _take(self, n: int) -> bytes:
        """Exactly ``n`` bytes, or fewer only at the stream's end."""
        self.budget.spend(n)
        parts, want = [], n
        while want:
            chunk = self.stream.read(want)
            if not chunk:
                break
            parts.append(chunk)
            want -= len(chunk)
        data = b"".join(parts)
        self.offset += len(data)
        return data

    def _damaged(self, what: str) -> VerifyError:
        return VerifyError(f"{self.where}: the archive is damaged or truncated: {what} at byte {self.offset} of the tar stream", hint=HINT)

    def _skip_rest(self) -> None:
        while self.left:
            data = self._take(min(self.left, 1 << 20))
            if not data:
                raise self._damaged("the data of an entry end early")
            self.left -= len(data)
        self.data_left = 0

    def _block(self) -> bytes:
        block = self._take(BLOCK)
        if len(block) < BLOCK:
            raise self._damaged("the stream ends without the end-of-archive marker" if not block else "a header is cut short")
        return block

    def _record(self, size: int) -> bytes:
        data = self._take(size + (-size % BLOCK))
        if len(data) < size + (-size % BLOCK):
            raise self._damaged("an extended header is cut short")
        return data[:size]

    def _end(self) -> None:
        """After the first zero block: nothing but zeros, to the true end of the stream."""
        padding = 0
        while True:
            chunk = self.stream.read(1 << 16)
            if not chunk:
                return
            self.budget.spend(len(chunk))
            if chunk.count(0) != len(chunk):
                at = self.offset + padding + next(i for i, b in enumerate(chunk) if b)
                raise VerifyError(
                    f"{self.where}: data follow the end of the tar archive (a non-zero byte at {at}, after a zero block at {self.offset - BLOCK});"
                    " GNU tar would read on and extract what gopack did not check",
                    hint=HINT,
                )
            padding += len(chunk)
            if padding > MAX_END_PADDING:
                raise VerifyError(f"{self.where}: more than {MAX_END_PADDING} bytes of zeros follow the end of the tar archive", hint=HINT)

    # -- headers --------------------------------------------------------------------------

    def _next(self) -> Member | None:
        self._skip_rest()
        pax: dict[str, str] = {}
        long_name = long_link = None
        seen: set[bytes] = set()
        while True:
            block = self._block()
            if block == _ZERO:
                if seen:
                    raise self._damaged("an extended header is followed by the end marker")
                self._end()
                return None
            self._check_sum(block)
            kind = block[156:157]
            size = self._number(block[124:136], "size")
            if kind not in _EXTENSIONS:
                break
            what, cap = _EXTENSIONS[kind]
            if kind in seen:
                raise VerifyError(f"{self.where}: two of {what} before one entry, at byte {self.offset - BLOCK}", hint=HINT)
            seen.add(kind)
            if size > cap:
                raise VerifyError(
                    f"{self.where}: {what} at byte {self.offset - BLOCK} declares {size} bytes, more than the {cap} gopack reads;"
                    " refused before it was read",
                    hint=HINT,
                )
            data = self._record(size)
            if kind == b"x":
                pax = self._pax(data)
            elif kind == b"L":
                long_name = _text(data.split(b"\x00", 1)[0])
            else:
                long_link = _text(data.split(b"\x00", 1)[0])
        name = _text(_nts(block[0:100]))
        if block[257:263] == _POSIX_MAGIC:
            prefix = _nts(block[345:500])
            if prefix:
                name = _text(prefix) + "/" + name
        link = _text(_nts(block[157:257]))
        name = pax.get("path", long_name if long_name is not None else name)
        link = pax.get("linkpath", long_link if long_link is not None else link)
        if "size" in pax:
            if not pax["size"].isdigit() or not pax["size"].isascii():
                raise self._damaged(f"a PAX size {pax['size'][:40]!r} that is not a number")
            size = int(pax["size"])
        mode = self._number(block[100:108], "mode")
        entry_kind = _TYPES.get(kind)
        type_name = _OTHER_TYPES.get(kind, f"tar type {kind!r}")
        if kind == b"\x00" and name.endswith("/"):
            entry_kind = DIR  # the old convention for a folder
        if any(key.startswith("GNU.sparse.") for key in pax):
            entry_kind, type_name = None, "a sparse file (PAX GNU.sparse)"
        if entry_kind in (DIR, SYMLINK, HARDLINK) and size:
            raise VerifyError(
                f"{self.where}: {name[:200]!r} is a {entry_kind} whose header claims {size} bytes of data; tar programs disagree on what follows",
                hint=HINT,
            )
        self.left = size + (-size % BLOCK)
        self.data_left = size
        return Member(
            raw_name=name,
            kind=entry_kind,
            type_name=type_name,
            size=size,
            mode=mode,
            link=link,
            read=self._opener(),
        )

    def _opener(self) -> _Opener:
        return _Opener(self, self.offset)

    def _check_sum(self, block: bytes) -> None:
        """The sum of the header's bytes, its checksum field as spaces: unsigned, or as some
        old tars wrote it, of signed bytes (counted only where the unsigned sum is not it)."""
        stored = self._number(block[148:156], "checksum")
        unsigned = sum(block[:148]) + 8 * 32 + sum(block[156:])
        if stored == unsigned:
            return
        high = len(block) - 8 - len(block[:148].translate(None, _HIGH)) - len(block[156:].translate(None, _HIGH))
        if stored != unsigned - 256 * high:
            raise self._damaged("a header whose checksum is wrong")

    def _number(self, field: bytes, what: str) -> int:
        if field[:1] == b"\x80":  # GNU base-256, for values octal cannot hold
            return int.from_bytes(field[1:], "big")
        if field[:1] and field[0] & 0x80:
            raise self._damaged(f"a negative or malformed {what} field")
        digits = field.split(b"\x00", 1)[0].strip(b" ")
        if not digits:
            return 0
        if digits.strip(b"01234567"):
            raise self._damaged(f"a {what} field that is not octal ({digits[:12]!r})")
        return int(digits, 8)

    def _pax(self, data: bytes) -> dict[str, str]:
        """``LENGTH KEY=VALUE\\n`` records, in one pass: each length is read from at most
        a few digits and checked against what is left before anything is sliced."""
        records: dict[str, str] = {}
        pos = 0
        while pos < len(data):
            if data[pos] == 0:  # padding some writers leave
                if data[pos:].count(0) != len(data) - pos:
                    raise self._damaged("a PAX header with data after its padding")
                break
            space = data.find(b" ", pos, pos + 8)
            digits = data[pos:space] if space > pos else b""
            if not digits.isdigit():
                raise self._damaged("a PAX record without a length")
            length = int(digits)
            end = pos + length
            if length <= len(digits) + 1 or end > len(data) or data[end - 1 : end] != b"\n":
                raise self._damaged("a PAX record whose length is wrong")
            key, eq, value = data[space + 1 : end - 1].partition(b"=")
            if not eq:
                raise self._damaged("a PAX record without '='")
            records[_text(key)] = _text(value)
            pos = end
        return records


class _Opener:
    """A member's data, readable once and only while it is the current member."""

    def __init__(self, tar: TarStream, at: int) -> None:
        self.tar, self.at = tar, at

    def __call__(self) -> IO[bytes]:
        if self.tar.offset != self.at:
            raise self.tar._damaged("an entry's data were asked for after the reading moved on")
        return cast(IO[bytes], _Data(self.tar))


class _Data:
    """The current member's data as a file: at most its size, then nothing."""

    def __init__(self, tar: TarStream) -> None:
        self.tar = tar

    def read(self, n: int = -1) -> bytes:
        tar = self.tar
        want = tar.data_left if n < 0 else min(n, tar.data_left)
        if want <= 0:
            return b""
        data = tar._take(want)
        if len(data) < want:
            raise tar._damaged("the data of an entry end early")
        tar.data_left -= len(data)
        tar.left -= len(data)
        return data

    def __enter__(self) -> _Data:  # noqa: PYI034 -- Self is not in typing before 3.11
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def close(self) -> None:
        return None


def _nts(field: bytes) -> bytes:
    return field.split(b"\x00", 1)[0]


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")
