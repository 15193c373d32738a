"""The environment cache: finished Python trees, addressed by what made them.

An entry is ``envs/<key>/`` holding ``python/`` (the relocated, pruned,
stripped, compiled prefix), ``headers/`` (the C headers pruning dropped from it,
at the same paths, for a Go build that includes them), ``meta.json`` (what the
pipeline learnt making it), and, added later, ``derived/<name>/``: files made from the tree (its
compressed archive segment for one format and level), each with a
``meta.json``. The key is a sha256 over the interpreter's identity, the requirements
(strings, file contents, the local project's files), the platform, the options
that shape the tree, gopack's version and its tree layout number. Entries are made in ``tmp/`` and
renamed into place, under a per-key lock, so concurrent runs build one entry
once and an interrupted run leaves only a ``tmp/`` folder that nothing reads.

Every folder in ``tmp/`` (a bundle's staging tree, an entry being made) is made by
:func:`staging`, which holds a lock of its own (``locks/tmp/<name>.lock``) for as
long as the folder is in use, with a note saying what it is beside the lock. A run
killed with SIGKILL cannot remove its folders; the kernel drops its locks. Later
runs remove a folder whose lock is free at once when its note says it was made on
this machine, and otherwise once it is :data:`STALE_AFTER` old (:func:`sweep`);
``gopack cache prune`` removes them at any age; ``gopack cache list`` shows them
(:func:`scratch`). A folder without a lock file (made by an older gopack) counts
as left over only at that age.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import secrets
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import filelock
import platformdirs

from gopack import __version__

_IGNORED_DIRS = {".git", ".hg", ".svn", "__pycache__", "build", "dist", ".tox", ".nox", ".venv"}
#: What a tree holds and how, apart from gopack's version: raised when that changes
#: between releases (2: bytecode only by default, blanked debug sections,
#: derived archive segments; 3: bytecode compiled by the source interpreter in
#: 4 slices per folder, the segment made with the tree; 4: which distribution owns
#: each file, in the metadata; 5: the installed headers kept in ``headers/`` for the Go
#: build; 6: sources kept per distribution, every stripped file's original kept and
#: judged, unresolved needs of wheels' modules recorded, pruned folders that code
#: imports kept), so that no run reuses a tree older code made.
LAYOUT = 6


#: A free-locked folder in tmp/ that another machine made (or whose note is gone) is removed by
#: a later run once this old (seconds): on a cache shared over a network file system another
#: machine's lock may not be seen. A folder this machine made goes as soon as its lock is free.
STALE_AFTER = 3600.0


@dataclass(frozen=True, kw_only=True)
class Entry:
    key: str
    path: Path  # envs/<key>
    meta: Mapping[str, Any]

    @property
    def python(self) -> Path:
        return self.path / "python"


def directory() -> Path:
    """Absolute: the go build runs in the module's folder and is handed paths inside the cache."""
    return Path(os.environ.get("GOPACK_CACHE_DIR") or platformdirs.user_cache_dir("gopack")).absolute()


def key(inputs: Mapping[str, Any]) -> str:
    """sha256 of everything that decides an entry (the caller's ``inputs``), with gopack's
    version, the cache layout and this machine."""
    document = {"gopack": __version__, "layout": LAYOUT, "machine": platform.machine(), **inputs}
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


def files_state(path: Path) -> list[list[object]]:
    """What a folder gopack searches by name holds, cheaply: every file's relative path, size
    and modification time (a Homebrew prefix is too big to hash whole on every build)."""
    found: list[list[object]] = []
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames.sort()
        for name in sorted(filenames):
            full = Path(dirpath) / name
            try:
                st = full.stat()
            except OSError:
                continue  # a dangling link: not a file the search would take
            found.append([full.relative_to(path).as_posix(), st.st_size, st.st_mtime_ns])
    return found


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
        with staging(cache, f"{the_key[:12]}-", what=f"Python tree {the_key[:16]} being made") as tmp:
            meta = make(tmp)
            meta = {**meta, "key": the_key, "created": int(time.time())}
            (tmp / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
            final = cache / "envs" / the_key
            final.parent.mkdir(parents=True, exist_ok=True)
            os.rename(tmp, final)
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
            with staging(cache, f"{entry.key[:12]}-{name[:12]}-", what=f"{name} of Python tree {entry.key[:16]} being made") as tmp:
                _fill(tmp, make)
                folder.parent.mkdir(exist_ok=True)
                os.rename(tmp, folder)
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


@contextmanager
def using(the_key: str, cache: Path | None = None) -> Iterator[None]:
    """A shared hold on the entry ``the_key`` (made or not yet): while any run holds it,
    :func:`prune` leaves the entry alone. Taken before the entry is looked up, so no
    prune can remove it between the lookup and its use."""
    cache = cache or directory()
    (cache / "locks").mkdir(parents=True, exist_ok=True)
    fd = os.open(_use_lock(cache, the_key), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def _in_use(cache: Path, the_key: str) -> bool:
    """Some run holds :func:`using` on the entry (checked under the entry's own lock)."""
    try:
        fd = os.open(_use_lock(cache, the_key), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _use_lock(cache: Path, the_key: str) -> Path:
    return cache / "locks" / f"{the_key}.use"


@dataclass(frozen=True, kw_only=True)
class Scratch:
    """A folder in the cache's ``tmp/``: in use by a run, or left by one that was killed."""

    path: Path
    what: str
    size: int
    #: Seconds since the folder last changed.
    age: float
    #: The process that made it, if its note says.
    pid: int | None
    in_use: bool


@contextmanager
def staging(cache: Path, prefix: str, *, what: str) -> Iterator[Path]:
    """A new folder ``tmp/<prefix><random>`` in ``cache``, locked while the body runs and
    removed afterwards (unless the body renamed it away). ``what`` says what it holds,
    for ``gopack cache list``.

    The lock is taken before the folder exists, so no other run ever sees the folder unlocked
    while this one lives.
    """
    (cache / "tmp").mkdir(parents=True, exist_ok=True)
    (cache / "locks" / "tmp").mkdir(parents=True, exist_ok=True)
    held, name = _claim(cache, prefix)
    folder = cache / "tmp" / name
    try:
        # The note before the folder: a folder that exists always says whose it is, even after
        # an interrupt or a SIGKILL that lands between the two.
        _scratch_note(cache, name).write_text(
            json.dumps({"what": what, "pid": os.getpid(), "host": platform.node(), "started": int(time.time())}) + "\n"
        )
        os.mkdir(folder)
        yield folder
    finally:
        try:
            shutil.rmtree(folder, ignore_errors=True)
            if not folder.exists():
                _forget(cache, name)
            # else a child still writing there (uv, a compiler, on their way out after an
            # interrupt) beat the removal: the note stays, so the next run's sweep knows the
            # folder is this machine's and removes it once this run's lock is free.
        finally:
            held.release()


def _claim(cache: Path, prefix: str) -> tuple[filelock.FileLock, str]:
    """A new name in ``tmp/`` and its lock, held; no folder of that name exists."""
    while True:
        name = f"{prefix}{secrets.token_hex(4)}"
        held = filelock.FileLock(_scratch_lock(cache, name), timeout=0)
        try:
            held.acquire()
        except filelock.Timeout:
            continue
        if not (cache / "tmp" / name).exists():
            return held, name
        held.release()


def scratch(cache: Path | None = None) -> list[Scratch]:
    """The folders in ``tmp/``, with what they hold and whether a live run holds them."""
    cache = cache or directory()
    tmp = cache / "tmp"
    found = []
    for path in sorted(tmp.iterdir()) if tmp.is_dir() else []:
        try:
            note = json.loads(_scratch_note(cache, path.name).read_text("utf-8"))
        except (OSError, ValueError):
            note = {}
        with _probe_lock(cache, path.name) as free:
            in_use = free is False
        found.append(
            Scratch(
                path=path,
                what=str(note.get("what", "no lock: made by an older gopack or by hand")),
                size=size(path),
                age=_age(path),
                pid=note.get("pid"),
                in_use=in_use,
            )
        )
    return found


def sweep(cache: Path | None = None, *, older_than: float | None = STALE_AFTER) -> list[Scratch]:
    """Remove the folders in ``tmp/`` that killed runs left: those whose lock is free and
    that are ``older_than`` seconds old (None: any age), and those without a lock file once
    :data:`STALE_AFTER` old. A folder whose lock a live run holds is never touched."""
    cache = cache or directory()
    tmp = cache / "tmp"
    removed = []
    for path in sorted(tmp.iterdir()) if tmp.is_dir() else []:
        with _probe_lock(cache, path.name) as free:
            if free is False:
                continue
            if _age(path) < (STALE_AFTER if free is None else 0.0 if _made_here(cache, path.name) else older_than or 0.0):
                continue
            left = Scratch(path=path, what="", size=size(path), age=_age(path), pid=None, in_use=False)
            shutil.rmtree(path, ignore_errors=True)
            if free:
                _forget(cache, path.name)
            removed.append(left)
    _sweep_orphan_locks(cache)
    return removed


def _sweep_orphan_locks(cache: Path) -> None:
    """Lock files and notes of folders that were never made (a run stopped between taking
    a name and making its folder), once no run holds them."""
    locks = cache / "locks" / "tmp"
    names = {p.name.rsplit(".", 1)[0] for p in locks.iterdir()} if locks.is_dir() else set()
    for name in sorted(names):
        if (cache / "tmp" / name).exists():
            continue
        with _probe_lock(cache, name) as free:
            if free is not False and not (cache / "tmp" / name).exists():
                _forget(cache, name)


@contextmanager
def _probe_lock(cache: Path, name: str) -> Iterator[bool | None]:
    """Hold the lock of the folder ``name`` if it is free: yields True (held now), False (a live
    run holds it) or None (the folder has no lock file)."""
    path = _scratch_lock(cache, name)
    if not path.is_file():
        yield None
        return
    probe = filelock.FileLock(path, timeout=0)
    try:
        probe.acquire()
    except filelock.Timeout:
        yield False
        return
    try:
        yield True
    finally:
        probe.release()


def _scratch_lock(cache: Path, name: str) -> Path:
    return cache / "locks" / "tmp" / f"{name}.lock"


def _scratch_note(cache: Path, name: str) -> Path:
    return cache / "locks" / "tmp" / f"{name}.json"


def _made_here(cache: Path, name: str) -> bool:
    """The folder's note says this machine made it: its free lock is proof its run ended."""
    try:
        return bool(json.loads(_scratch_note(cache, name).read_text("utf-8")).get("host") == platform.node())
    except (OSError, ValueError, AttributeError):
        return False


def _forget(cache: Path, name: str) -> None:
    """Remove a folder's note and lock file (under its lock: the folder is gone)."""
    _scratch_note(cache, name).unlink(missing_ok=True)
    _scratch_lock(cache, name).unlink(missing_ok=True)


def _age(path: Path) -> float:
    try:
        return max(0.0, time.time() - path.lstat().st_mtime)
    except OSError:
        return 0.0


def entries(cache: Path | None = None) -> list[Entry]:
    envs = (cache or directory()) / "envs"
    found = [lookup(p.name, cache or directory()) for p in sorted(envs.iterdir())] if envs.is_dir() else []
    return [e for e in found if e is not None]


def size(path: Path) -> int:
    total = 0
    for dirpath, _, filenames in os.walk(path):  # a folder being removed meanwhile counts what is left
        for name in filenames:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total


def prune(*, older_than_days: float | None, cache: Path | None = None) -> list[Entry]:
    """Remove entries (all, or those older than the given age). What killed runs left in
    ``tmp/`` is :func:`sweep`'s."""
    cache = cache or directory()
    removed = []
    limit = None if older_than_days is None else time.time() - older_than_days * 86400
    for entry in entries(cache):
        if limit is not None and entry.meta.get("created", 0) >= limit:
            continue
        with lock(cache, entry.key):
            if _in_use(cache, entry.key) or lookup(entry.key, cache) is None:
                continue  # a running bundle uses it (it goes next time), or another prune took it
            with staging(cache, "removing-", what=f"Python tree {entry.key[:16]} being removed") as doomed:
                os.rename(entry.path, doomed / "entry")  # atomic: no reader sees half an entry
        removed.append(entry)
    return removed
