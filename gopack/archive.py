"""The manifest and the deterministic archive.

Entries are sorted, owned by 0:0 with no user names, stamped with one fixed
time (``SOURCE_DATE_EPOCH`` or 1980-01-01) and normalised modes; gzip carries no
name and no time. The archive is written under a temporary name beside its
destination and renamed into place, so a failure leaves nothing behind.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import stat
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gopack.errors import BuildError, UsageError

MANIFEST = "gopack.json"
MANIFEST_SCHEMA_VERSION = 1
DEFAULT_EPOCH = 315532800  # 1980-01-01T00:00:00Z, the earliest time zip can store


@dataclass(frozen=True, kw_only=True)
class FileEntry:
    path: str  # relative to the bundle root, '/'-separated
    size: int
    sha256: str
    mode: int
    link: str | None = None  # symlink target, relative


def epoch() -> int:
    value = os.environ.get("SOURCE_DATE_EPOCH", "")
    if not value:
        return DEFAULT_EPOCH
    try:
        return int(value)
    except ValueError:
        raise UsageError(f"SOURCE_DATE_EPOCH={value!r} is not a whole number of seconds", hint="unset it or set it to e.g. $(git log -1 --format=%ct)") from None


def walk(root: Path) -> list[Path]:
    """Every file, symlink and directory under ``root``, as relative paths sorted by
    their '/'-joined text (so a directory always comes before what it holds)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath).relative_to(root)
        found += [base / name for name in dirnames + filenames]
    return sorted(found, key=lambda p: p.as_posix())


def normal_mode(mode: int) -> int:
    if stat.S_ISDIR(mode) or mode & 0o111:
        return 0o755
    return 0o644


def file_entries(root: Path) -> list[FileEntry]:
    entries = []
    for rel in walk(root):
        full = root / rel
        info = full.lstat()
        if stat.S_ISLNK(info.st_mode):
            entries.append(FileEntry(path=rel.as_posix(), size=0, sha256="", mode=0o777, link=os.readlink(full)))
        elif stat.S_ISREG(info.st_mode):
            entries.append(FileEntry(path=rel.as_posix(), size=info.st_size, sha256=sha256_file(full), mode=normal_mode(info.st_mode)))
        elif not stat.S_ISDIR(info.st_mode):
            raise BuildError(f"{full} is neither a file, a directory nor a symlink; it cannot go into an archive")
    return entries


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest_files(root: Path) -> list[dict[str, Any]]:
    """The manifest's file list: every file and link (not directories), without the manifest."""
    return [
        {k: v for k, v in vars(e).items() if v is not None and not (k == "sha256" and e.link)}
        for e in file_entries(root)
        if e.path != MANIFEST
    ]


def write_manifest(root: Path, document: Mapping[str, Any], files: list[dict[str, Any]]) -> dict[str, Any]:
    """Write ``document`` with its file list to ``root/gopack.json``."""
    manifest = {"schema_version": MANIFEST_SCHEMA_VERSION, **document, "files": files}
    (root / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=False) + "\n")
    return manifest


def write_tar_gz(root: Path, top: str, dest: Path, *, level: int = 6) -> int:
    """Pack ``root`` as ``top/...`` into ``dest`` atomically; return the archive's size."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    mtime = epoch()
    try:
        with tmp.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=mtime, compresslevel=level) as gz:
            with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
                tar.addfile(_info(f"{top}", tarfile.DIRTYPE, 0o755, mtime))
                for rel in walk(root):
                    _add(tar, root / rel, f"{top}/{rel.as_posix()}", mtime)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest.stat().st_size


def _info(name: str, kind: bytes, mode: int, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = kind, mode, mtime
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _add(tar: tarfile.TarFile, full: Path, name: str, mtime: int) -> None:
    st = full.lstat()
    if stat.S_ISLNK(st.st_mode):
        info = _info(name, tarfile.SYMTYPE, 0o777, mtime)
        info.linkname = os.readlink(full)
        tar.addfile(info)
    elif stat.S_ISDIR(st.st_mode):
        tar.addfile(_info(name, tarfile.DIRTYPE, 0o755, mtime))
    else:
        info = _info(name, tarfile.REGTYPE, normal_mode(st.st_mode), mtime)
        info.size = st.st_size
        with full.open("rb") as f:
            tar.addfile(info, f)


def read_manifest(archive: Path) -> dict[str, Any]:
    """The manifest inside an archive, without extracting anything else."""
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                if member.name.count("/") == 1 and member.name.endswith("/" + MANIFEST):
                    f = tar.extractfile(member)
                    if f is not None:
                        return dict(json.load(io.TextIOWrapper(f, "utf-8")))
    except (OSError, tarfile.TarError) as exc:
        raise UsageError(f"{archive}: cannot read the archive: {exc}") from None
    raise UsageError(f"{archive}: holds no {MANIFEST}; it was not made by gopack")
