"""File-system helpers the tree stages share."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import stat
import struct
from collections.abc import Callable, Iterator
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


#: How a file of an archive nobody vouched for is opened: never through a link, never a device's side effects.
SAFE_OPEN = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY


@contextlib.contextmanager
def open_regular(path: Path, error: Callable[[str], Exception]) -> Iterator[tuple[int, int] | None]:
    """``path`` opened as :data:`SAFE_OPEN` opens a stranger's file: ``(descriptor, size)``, or None
    when it is not a regular file. Where it cannot be opened or read, or a struct read in the
    body runs past its end, ``error`` (the reader's Malformed) says why, in words."""
    try:
        fd = os.open(path, SAFE_OPEN)
    except OSError as exc:
        raise error(f"cannot be opened: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        yield (fd, st.st_size) if stat.S_ISREG(st.st_mode) else None
    except OSError as exc:
        raise error(f"cannot be read: {exc.strerror}") from None
    except struct.error as exc:
        raise error(f"cut short: {exc}") from None
    finally:
        os.close(fd)


def write_once(path: Path, text: str, *, executable: bool = False) -> None:
    """``text`` at ``path`` unless a file is there already: a file of the cache named by its
    content, written under a temporary name and renamed, so a build beside never reads half."""
    if path.is_file():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f".{path.name}.{os.getpid()}")
    part.write_text(text)
    if executable:
        part.chmod(0o755)
    os.replace(part, path)


def files_starting(root: Path, size: int, wanted: Callable[[bytes], bool]) -> Iterator[str]:
    """Root-relative paths, in a stable order, of the regular files under ``root`` whose first
    ``size`` bytes ``wanted`` accepts (a binary format's magic); unreadable files are passed over."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            try:
                if not stat.S_ISREG(os.lstat(full).st_mode):
                    continue
                fd = os.open(full, SAFE_OPEN)
                try:
                    head = os.pread(fd, size, 0)
                finally:
                    os.close(fd)
            except OSError:
                continue
            if wanted(head):
                yield os.path.relpath(full, root)
