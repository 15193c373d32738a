"""File-system helpers the tree stages share."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
from pathlib import Path
from typing import Protocol


def link_or_copy(source: str, dest: str) -> None:
    """Hard-link ``source`` to ``dest``; copy it where a link cannot be made (another file
    system, a file system without hard links, too many links)."""
    try:
        os.link(source, dest)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
            raise
        shutil.copy2(source, dest)


def sha256_file(path: Path) -> str:
    with path.open("rb") as f:
        return sha256_of(f)


class Readable(Protocol):
    def read(self, size: int, /) -> bytes | None: ...


def sha256_of(stream: Readable, block: int = 1 << 20) -> str:
    """sha256 of what ``stream`` holds from where it stands to its end, read a block at a time."""
    digest = hashlib.sha256()
    while data := stream.read(block):
        digest.update(data)
    return digest.hexdigest()
