"""The output folder's ``SHA256SUMS``: one ``<hex>  <file name>`` line per archive and SBOM,
sorted by name, as ``sha256sum`` writes it and ``sha256sum -c`` reads it.

Each run replaces the lines of the files it wrote and keeps every other line (the
archives of other recipes and targets built into the same folder). Runs into one folder
at once take turns: the read-modify-write happens under a lock (``.SHA256SUMS.lock``
beside it), and the new file is written under a temporary name and renamed, so a reader
never sees half a file and an interrupted run leaves the old one.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from filelock import FileLock

from gopack._fs import sha256_file
from gopack.errors import BuildError

NAME = "SHA256SUMS"
#: Held by a run while it updates SHA256SUMS; left in place (empty) afterwards, as a lock file must be.
LOCK = f".{NAME}.lock"
#: A checksum file larger than this is not one gopack wrote: it is not read.
MAX_BYTES = 16 << 20


def update(folder: Path, written: Iterable[Path]) -> Path:
    """Put the sha256 of each of ``written`` (files in ``folder``) into ``folder/SHA256SUMS``."""
    digests = {path.name: sha256_file(path) for path in written}
    target = folder / NAME
    with FileLock(folder / LOCK):
        for abandoned in folder.glob(f".{NAME}.*.tmp"):  # only a writer holding the lock makes one: a killed one left it
            abandoned.unlink(missing_ok=True)
        lines = parse(_read(target), where=str(target))
        lines.update(digests)
        tmp = folder / f".{NAME}.{os.getpid()}.tmp"
        try:
            tmp.write_text(render(lines), encoding="utf-8", errors="surrogateescape")
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    return target


def _read(path: Path) -> str:
    try:
        if path.stat().st_size > MAX_BYTES:
            raise BuildError(
                f"{path} is larger than {MAX_BYTES >> 20} MiB; it is not a checksum file gopack keeps",
                hint="move it away, or choose another output folder",
            )
        return path.read_text("utf-8", "surrogateescape")
    except FileNotFoundError:
        return ""


def parse(text: str, *, where: str) -> dict[str, str]:
    """file name -> sha256, from ``sha256sum``'s output (text or binary mode, GNU's escaped names).

    >>> parse("ab" * 32 + "  a.tar.gz\\n" + "\\\\" + "cd" * 32 + " *b\\\\nc\\n", where="SHA256SUMS")
    {'a.tar.gz': 'abababababababababababababababababababababababababababababababab', 'b\\nc': 'cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd'}
    """
    found = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        escaped = line.startswith("\\")
        body = line[1:] if escaped else line
        digest, sep, name = body.partition(" ")
        if not sep or len(digest) != 64 or any(c not in "0123456789abcdefABCDEF" for c in digest) or name[:1] not in (" ", "*"):
            raise BuildError(
                f"{where}:{number}: not a line sha256sum writes ('<sha256>  <file name>')",
                hint="gopack keeps this file up to date and will not overwrite one it cannot read: fix the line or remove the file",
            )
        name = name[1:]
        found[_unescape(name) if escaped else name] = digest.lower()
    return found


def render(digests: dict[str, str]) -> str:
    r"""The file's text: sorted by name; a name holding a backslash or a newline escaped as GNU sha256sum does.

    >>> render({"b": "2" * 64, "a\nx": "1" * 64}).splitlines()[0] == "\\" + "1" * 64 + "  a\\nx"
    True
    """
    lines = []
    for name in sorted(digests):
        if "\\" in name or "\n" in name:
            lines.append(f"\\{digests[name]}  {name.replace(chr(92), chr(92) * 2).replace(chr(10), chr(92) + 'n')}")
        else:
            lines.append(f"{digests[name]}  {name}")
    return "".join(f"{line}\n" for line in lines)


def _unescape(name: str) -> str:
    out, chars = [], iter(name)
    for char in chars:
        if char == "\\":
            following = next(chars, "")
            out.append("\n" if following == "n" else following)
        else:
            out.append(char)
    return "".join(out)
