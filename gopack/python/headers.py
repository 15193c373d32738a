"""C headers the Python tree installed, kept for the Go build after pruning drops them.

The shipped bundle has no headers (``prune`` drops them), but a Go program's cgo
glue may include a package's (numpy's ``numpy/arrayobject.h``). While the tree
is made, before pruning, :func:`keep` hard-links every header under the tree's
site-packages and include folder into ``headers/`` beside ``python/`` in the
cache entry, at the same bundle-relative paths: the headers the Go build sees
are exactly the files of the distribution that ships, same version, same files.
Which of them answer the program's includes is the Go side's question
(:mod:`gopack.go.headers`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from gopack._fs import link_or_copy

#: Folder of the cache entry that holds the kept headers.
FOLDER = "headers"
HEADER_SUFFIXES = frozenset({".h", ".hh", ".hpp", ".hxx", ".h++", ".inc", ".inl", ".ipp", ".tcc", ".tpp", ".cuh"})
#: Not headers even inside an include folder.
_NEVER = frozenset({".py", ".pyc", ".pyi", ".so", ".a", ".o", ".dll", ".dylib"})


def is_header(rel: str) -> bool:
    """A file a C or C++ compiler may include: a header suffix, or any source-like
    file inside a folder named ``include`` (numpy keeps ``__multiarray_api.c`` there;
    C++ libraries ship headers without a suffix).

    >>> is_header("python/lib/python3.12/site-packages/numpy/_core/include/numpy/__multiarray_api.c")
    True
    >>> is_header("python/lib/python3.12/site-packages/numpy/_core/_multiarray_umath.cpython-312-x86_64-linux-gnu.so")
    False
    >>> is_header("python/include/Eigen/Dense"), is_header("python/lib/python3.12/site-packages/x/include/y.py")
    (True, False)
    """
    name = rel.rsplit("/", 1)[-1]
    suffix = os.path.splitext(name)[1].lower()
    if suffix in HEADER_SUFFIXES:
        return True
    if "include" not in rel.split("/")[:-1]:
        return False
    return suffix not in _NEVER and ".so." not in name


def keep(root: Path, folders: Iterable[Path]) -> int:
    """Hard-link (copy across file systems) the headers under ``folders`` (inside
    ``root``) to ``root/headers/`` at the same relative paths; return how many."""
    count = 0
    for folder in folders:
        if not folder.is_dir():
            continue
        for dirpath, _, filenames in os.walk(folder):
            for name in filenames:
                full = Path(dirpath) / name
                rel = full.relative_to(root).as_posix()
                if full.is_symlink() or not is_header(rel):
                    continue
                dest = root / FOLDER / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                link_or_copy(str(full), str(dest))
                count += 1
    return count


def kept_files(headers: Path) -> list[str]:
    """Bundle-relative paths of the kept headers (``headers`` is the entry's ``headers/``)."""
    if not headers.is_dir():
        return []
    found = []
    for dirpath, _, filenames in os.walk(headers):
        base = Path(dirpath).relative_to(headers).as_posix()
        found += [f"{base}/{n}" if base != "." else n for n in filenames]
    return sorted(found)
