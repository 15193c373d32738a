"""Which headers kept with the Python tree answer the program's includes, and who ships them.

The plan leaves the includes nothing known before the tree could answer
(:mod:`gopack.go.includes`); the tree keeps a copy of every header it installed
(:mod:`gopack.python.headers`). :func:`sources` matches each include against the
kept files by its path (``numpy/arrayobject.h`` ends
``.../numpy/_core/include/numpy/arrayobject.h``), which gives the folder to add
with ``-I`` and, from the distributions' RECORDs, who ships it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name

from gopack.errors import BuildError
from gopack.go.includes import Include
from gopack.python.headers import kept_files


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
