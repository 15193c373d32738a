"""The environment cache: finished Python trees, addressed by what made them.

An entry is ``envs/<key>/`` holding ``python/`` (the relocated, pruned,
stripped, compiled prefix) and ``meta.json`` (what the pipeline learnt making
it), and, added later, ``derived/<name>/``: files made from the tree (its
compressed archive segment for one format and level), each with a
``meta.json``. The key is a sha256 over the interpreter's identity, the requirements
(strings, file contents, the local project's files), the platform, the options
that shape the tree, gopack's version and its tree layout number. Entries are made in ``tmp/`` and
renamed into place, under a per-key lock, so concurrent runs build one entry
once and an interrupted run leaves only a ``tmp/`` folder that nothing reads.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import filelock
import platformdirs

from gopack import __version__
from gopack.interpreters import Interpreter

_IGNORED_DIRS = {".git", ".hg", ".svn", "__pycache__", "build", "dist", ".tox", ".nox", ".venv"}
#: What a tree holds and how, apart from gopack's version: raised when that changes
#: between releases (2: bytecode only by default, blanked debug sections,
#: derived archive segments; 3: bytecode compiled by the source interpreter in
#: 4 slices per folder, the segment made with the tree; 4: which distribution owns
#: each file, in the metadata; 6: sources kept per distribution, every stripped file's
#: original kept and judged, unresolved needs of wheels' modules recorded), so that no
#: run reuses a tree older code made.
LAYOUT = 6


@dataclass(frozen=True, kw_only=True)
class Entry:
    key: str
    path: Path  # envs/<key>
    meta: Mapping[str, Any]

    @property
    def python(self) -> Path:
        return self.path / "python"


def directory() -> Path:
    return Path(os.environ.get("GOPACK_CACHE_DIR") or platformdirs.user_cache_dir("gopack"))


def key(interpreter: Interpreter, inputs: Mapping[str, Any]) -> str:
    """sha256 of everything that decides the Python tree."""
    stat = interpreter.libpython.stat()
    document = {
        "gopack": __version__,
        "layout": LAYOUT,
        "machine": platform.machine(),
        "interpreter": [str(interpreter.executable), interpreter.version, interpreter.abi, str(interpreter.libpython), stat.st_size, stat.st_mtime_ns],
        **inputs,
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True, default=str).encode()).hexdigest()


def tree_digest(path: Path) -> str:
    """sha256 over a local project's files (names and contents), ignoring VCS and build output."""
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = sorted(d for d in dirnames if d not in _IGNORED_DIRS and not d.endswith(".egg-info"))
        for name in sorted(filenames):
            full = Path(dirpath) / name
            digest.update(full.relative_to(path).as_posix().encode() + b"\0")
            digest.update(full.read_bytes() if full.is_file() else b"")
    return digest.hexdigest()


def lookup(the_key: str, cache: Path | None = None) -> Entry | None:
    path = (cache or directory()) / "envs" / the_key
    meta = path / "meta.json"
    if not meta.is_file():
        return None
    return Entry(key=the_key, path=path, meta=json.loads(meta.read_text("utf-8")))


def get_or_make(the_key: str, make: Callable[[Path], dict[str, Any]], cache: Path | None = None) -> tuple[Entry, bool]:
    """The entry for ``the_key``, made by ``make(tmp_dir)`` if missing. Returns (entry, was_cached).

    ``make`` fills ``tmp_dir/python`` and returns the metadata to keep.
    """
    cache = cache or directory()
    found = lookup(the_key, cache)
    if found is not None:
        return found, True
    with lock(cache, the_key):
        found = lookup(the_key, cache)  # another run may have made it while we waited
        if found is not None:
            return found, True
        (cache / "tmp").mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f"{the_key[:12]}-", dir=cache / "tmp"))
        try:
            meta = make(tmp)
            meta = {**meta, "key": the_key, "created": int(time.time())}
            (tmp / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
            final = cache / "envs" / the_key
            final.parent.mkdir(parents=True, exist_ok=True)
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    entry = lookup(the_key, cache)
    assert entry is not None
    return entry, False


def derived(entry: Entry, name: str, make: Callable[[Path], dict[str, Any]]) -> tuple[Path, dict[str, Any]]:
    """``envs/<key>/derived/<name>/`` and its metadata, made by ``make(tmp_dir)`` if missing.

    Made in ``tmp/`` under the entry's lock and renamed into place, as entries are:
    concurrent runs make it once, an interrupted run leaves no half of it.
    """
    cache = entry.path.parent.parent
    folder = entry.path / "derived" / name
    if (folder / "meta.json").is_file():
        return folder, json.loads((folder / "meta.json").read_text("utf-8"))
    with lock(cache, entry.key):
        if not (folder / "meta.json").is_file():
            (cache / "tmp").mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f"{entry.key[:12]}-{name[:12]}-", dir=cache / "tmp"))
            try:
                _fill(tmp, make)
                folder.parent.mkdir(exist_ok=True)
                os.rename(tmp, folder)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
    return folder, json.loads((folder / "meta.json").read_text("utf-8"))


def derive_new(entry: Path, name: str, make: Callable[[Path], dict[str, Any]]) -> None:
    """``derived/<name>/`` in an entry still being made (in ``tmp/``): the entry is renamed
    into place whole, so this needs neither lock nor rename of its own (see :func:`derived`)."""
    folder = entry / "derived" / name
    folder.mkdir(parents=True)
    _fill(folder, make)


def _fill(folder: Path, make: Callable[[Path], dict[str, Any]]) -> None:
    """``make(folder)``, then its metadata beside what it made: a derived folder is complete once ``meta.json`` is there."""
    (folder / "meta.json").write_text(json.dumps(make(folder), indent=1) + "\n")


@contextmanager
def lock(cache: Path, the_key: str) -> Iterator[None]:
    """Hold the cache's lock named ``the_key`` (for an entry, or for anything else kept in the cache)."""
    (cache / "locks").mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(cache / "locks" / f"{the_key}.lock"):
        yield


def entries(cache: Path | None = None) -> list[Entry]:
    envs = (cache or directory()) / "envs"
    found = [lookup(p.name, cache or directory()) for p in sorted(envs.iterdir())] if envs.is_dir() else []
    return [e for e in found if e is not None]


def size(path: Path) -> int:
    return sum(f.lstat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def prune(*, older_than_days: float | None, cache: Path | None = None) -> list[Entry]:
    """Remove entries (all, or those older than the given age) and leftovers of interrupted runs."""
    cache = cache or directory()
    removed = []
    limit = None if older_than_days is None else time.time() - older_than_days * 86400
    for entry in entries(cache):
        if limit is not None and entry.meta.get("created", 0) >= limit:
            continue
        with lock(cache, entry.key):
            doomed = cache / "tmp" / f"removing-{entry.key}"
            doomed.parent.mkdir(parents=True, exist_ok=True)
            os.rename(entry.path, doomed)  # atomic: no reader sees half an entry
            shutil.rmtree(doomed)
        removed.append(entry)
    tmp = cache / "tmp"
    if tmp.is_dir():
        for leftover in tmp.iterdir():
            if time.time() - leftover.stat().st_mtime > 3600:
                shutil.rmtree(leftover, ignore_errors=True)
    return removed
