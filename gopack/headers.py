"""C headers the Python tree installed, kept for the Go build after pruning drops them.

The shipped bundle has no headers (``prune`` drops them), but a Go program's cgo
glue may include a package's (numpy's ``numpy/arrayobject.h``). While the tree
is made, before pruning, :func:`keep` hard-links every header under the tree's
site-packages and include folder into ``headers/`` beside ``python/`` in the
cache entry, at the same bundle-relative paths: the headers the Go build sees
are exactly the files of the distribution that ships, same version, same files.

:func:`sources` answers the includes the plan could not (:mod:`gopack.includes`):
each is matched against the kept files by its path (``numpy/arrayobject.h``
ends ``.../numpy/_core/include/numpy/arrayobject.h``), which gives the folder
to add with ``-I`` and, from the distributions' RECORDs, who ships it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name

from gopack._fs import link_or_copy
from gopack.errors import BuildError
from gopack.includes import Include

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


@dataclass(frozen=True, kw_only=True)
class HeaderSource:
    """An include folder of the Python tree the Go build used, and who ships it."""

    distribution: str  # "numpy"; "" for a folder no distribution's RECORD lists (a conda environment's include/)
    version: str
    include: str  # bundle-relative: python/lib/python3.12/site-packages/numpy/_core/include
    headers: tuple[str, ...]  # the includes it answered: numpy/arrayobject.h
    sha256: str  # over the names and contents of the files under the folder, as kept

    def to_json(self) -> dict[str, object]:
        return {
            "distribution": self.distribution,
            "version": self.version,
            "include": self.include,
            "headers": list(self.headers),
            "sha256": self.sha256,
        }


def kept_files(headers: Path) -> list[str]:
    """Bundle-relative paths of the kept headers (``headers`` is the entry's ``headers/``)."""
    if not headers.is_dir():
        return []
    found = []
    for dirpath, _, filenames in os.walk(headers):
        base = Path(dirpath).relative_to(headers).as_posix()
        found += [f"{base}/{n}" if base != "." else n for n in filenames]
    return sorted(found)


def folders_for(wanted: Iterable[Include], kept: Iterable[str]) -> dict[str, dict[str, list[str]]]:
    """include -> {include folder -> kept files answering it}.

    >>> kept = ["python/lib/python3.12/site-packages/numpy/_core/include/numpy/arrayobject.h"]
    >>> inc = Include(header="numpy/arrayobject.h", quoted=False, file="glue.c", line=3)
    >>> folders_for([inc], kept)
    {'numpy/arrayobject.h': {'python/lib/python3.12/site-packages/numpy/_core/include': ['python/lib/python3.12/site-packages/numpy/_core/include/numpy/arrayobject.h']}}
    """
    kept = list(kept)
    found: dict[str, dict[str, list[str]]] = {}
    for header in sorted({i.header for i in wanted}):
        tail = "/" + header.lstrip("/")
        for rel in kept:
            if rel.endswith(tail):
                found.setdefault(header, {}).setdefault(rel[: -len(tail)], []).append(rel)
    return found


def sources(
    wanted: list[Include],
    *,
    headers: Path,
    owners: Mapping[str, str],
    versions: Mapping[str, str],
) -> tuple[list[HeaderSource], list[Include]]:
    """The include folders of the kept headers that answer ``wanted``, and the includes
    no kept header answers (left to the compiler, which will say so)."""
    matches = folders_for(wanted, kept_files(headers))
    by_folder: dict[str, list[str]] = {}
    for header, folders in matches.items():
        if len(folders) > 1:
            places = "; ".join(f"{folder} ({_owner(files[0], owners) or 'no distribution'})" for folder, files in sorted(folders.items()))
            users = ", ".join(sorted({i.where for i in wanted if i.header == header}))
            raise BuildError(
                f"{users}: #include <{header}> is shipped by more than one include folder of the Python tree: {places}",
                hint="choose one: add -I{include:MODULE} (or -I{python.site_packages}/...) to go.env CGO_CPPFLAGS in the recipe",
            )
        ((folder, _),) = folders.items()
        by_folder.setdefault(folder, []).append(header)
    found = [source(folder, answered, headers=headers, owners=owners, versions=versions) for folder, answered in sorted(by_folder.items())]
    unanswered = [i for i in wanted if i.header not in matches]
    return found, unanswered


def source(folder: str, answered: Iterable[str], *, headers: Path, owners: Mapping[str, str], versions: Mapping[str, str]) -> HeaderSource:
    """The kept include ``folder`` (bundle-relative) that answered ``answered``, and who ships it."""
    answered = sorted(answered)
    distribution = _owner(f"{folder}/{answered[0]}", owners)
    return HeaderSource(
        distribution=distribution,
        version=versions.get(canonicalize_name(distribution), "") if distribution else "",
        include=folder,
        headers=tuple(answered),
        sha256=digest(headers / folder),
    )


def _owner(rel: str, owners: Mapping[str, str]) -> str:
    return owners.get(rel, "")


def digest(folder: Path) -> str:
    """sha256 over the relative names and contents of the files under ``folder``."""
    sha = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in sorted(filenames):
            full = Path(dirpath) / name
            sha.update(full.relative_to(folder).as_posix().encode() + b"\0")
            sha.update(full.read_bytes())
    return sha.hexdigest()
