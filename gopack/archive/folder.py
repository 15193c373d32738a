"""Reading an extracted bundle folder (``gopack inspect DIR``) without leaving it.

The folder may be a stranger's as much as an archive is, and its manifest names
the files to read. Each path must be plain and relative (the rules of
:func:`gopack.archive.entries.split_name`); it is opened one component at a time
from the folder's descriptor with ``O_NOFOLLOW``, so no symlink is followed, in
the folder or out of it, and the file with ``O_NONBLOCK`` (a FIFO cannot block)
and read only if ``fstat`` says it is a regular file.
"""

from __future__ import annotations

import os
import stat

from gopack.archive.entries import split_name

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


def read_inside(root_fd: int, rel: str, limit: int, where: str) -> bytes | None:
    """At most ``limit`` bytes of the regular file ``rel`` inside the folder ``root_fd``; None
    where there is none (missing, a symlink on the way, a folder, a device, a FIFO). A path
    that is not plain and relative is refused (:class:`~gopack.archive.entries.Refused`)."""
    parts = split_name(rel, where)
    fd = root_fd
    try:
        for part in parts[:-1]:
            sub = os.open(part, _DIR_FLAGS, dir_fd=fd)
            if fd != root_fd:
                os.close(fd)
            fd = sub
        file_fd = os.open(parts[-1], _FILE_FLAGS, dir_fd=fd)
    except OSError:
        return None
    finally:
        if fd != root_fd:
            os.close(fd)
    try:
        if not stat.S_ISREG(os.fstat(file_fd).st_mode):
            return None
        chunks, left = [], limit
        while left > 0:
            chunk = os.read(file_fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(file_fd)


def bundle_folders(fd: int) -> list[str]:
    """The names of the real folders (not symlinks) directly in the folder ``fd``, sorted."""
    with os.scandir(fd) as found:
        return sorted(e.name for e in found if e.is_dir(follow_symlinks=False))
