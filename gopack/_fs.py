"""File-system helpers the tree stages share."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
from pathlib import Path


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
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
