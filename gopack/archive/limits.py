"""What reading a stranger's archive may cost, stated before any of it is paid.

Every size, count and ratio an archive declares is checked against these caps
before the bytes are read, held or written (STYLE.md 19): a header that asks
for more is refused, not obeyed. The numbers leave real gopack archives far
inside them: the sklearn example is a 50 MB tar.gz of 2,062 entries that
unpacks to 168 MB (3.4 times its size); the package corpus is some 270 MB in
tens of thousands of files.
"""

from __future__ import annotations

from dataclasses import dataclass

from gopack.errors import VerifyError

#: One PAX extended header ('x'): path, linkpath, size, times. A name is at most 4095 bytes,
#: so two of them and the rest fit many times over. tarfile's parser of these records is
#: quadratic on Pythons without the CVE-2024-6232 fix; gopack parses them itself, linearly.
MAX_PAX_HEADER = 64 << 10
#: A GNU long name ('L') or long link ('K'): a path of at most 4095 bytes and its NUL.
MAX_LONG_NAME = 4096
#: Zeros after the end-of-archive marker (tar pads to its record size, 10 KiB by default).
MAX_END_PADDING = 1 << 20
#: Entries of every kind, folders (named or only implied by a path) and links included.
MAX_ENTRIES = 300_000
#: Everything the archive unpacks to (a tar stream's headers and data, a zip's data), at
#: most ``MAX_EXPANSION`` times the archive's own size past ``EXPANSION_FLOOR``, and never
#: more than ``MAX_UNPACKED``: this is what extraction may write and what reading may hash.
MAX_UNPACKED = 8 << 30
MAX_EXPANSION = 64
EXPANSION_FLOOR = 128 << 20
#: A zip's central directory, read whole by zipfile before any entry (about 150 bytes an entry).
MAX_ZIP_DIRECTORY = 64 << 20

HINT = "the archive was not made by gopack or was altered; do not run what it holds"


def unpacked_cap(archive_size: int) -> int:
    """The most an archive of ``archive_size`` bytes may unpack to.

    >>> unpacked_cap(50_000_000) == 3_200_000_000, unpacked_cap(1000) == EXPANSION_FLOOR
    (True, True)
    >>> unpacked_cap(1 << 40) == MAX_UNPACKED
    True
    """
    return min(MAX_UNPACKED, max(EXPANSION_FLOOR, MAX_EXPANSION * archive_size))


def describe_cap(archive_size: int) -> str:
    cap = unpacked_cap(archive_size)
    if cap == MAX_UNPACKED:
        return f"{MAX_UNPACKED >> 30} GiB, the most any archive may unpack to"
    if cap == EXPANSION_FLOOR:
        return f"{EXPANSION_FLOOR >> 20} MiB, the most a {archive_size}-byte archive may unpack to"
    return f"{cap} bytes, {MAX_EXPANSION} times the archive's {archive_size} bytes"


@dataclass
class Budget:
    """The bytes one reading of an archive has unpacked so far, against its cap."""

    where: str
    archive_size: int
    spent: int = 0

    @property
    def cap(self) -> int:
        return unpacked_cap(self.archive_size)

    def spend(self, n: int) -> None:
        self.spent += n
        if self.spent > self.cap:
            raise VerifyError(
                f"{self.where}: unpacks to more than {describe_cap(self.archive_size)}; refused before it was all read",
                hint=f"{HINT} (a compression bomb, or an archive far larger than any gopack makes)",
            )

    def check_listed(self, total: int, what: str) -> None:
        """Refuse a manifest whose files alone pass the cap, before any of them is read."""
        if total > self.cap:
            raise VerifyError(
                f"{self.where}: {what} lists {total} bytes of files, more than {describe_cap(self.archive_size)}",
                hint=f"{HINT} (a compression bomb, or an archive far larger than any gopack makes)",
            )
