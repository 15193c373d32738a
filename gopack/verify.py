"""``gopack verify``: prove an archive is intact and runs where no Python exists.

1. Extract safely: tarfile's ``data`` filter refuses absolute paths, ``..``,
   links that point outside and device files.
2. Check every file against the manifest, and that nothing unlisted was added.
3. Check statically that no ELF search path is absolute and that every
   DT_NEEDED resolves inside the bundle or to a host library the policy allows.
4. Run the smoke test stored in the manifest in three places:
   a. a root holding only the policy's libraries (glibc, libgcc_s, libstdc++),
      the loader and /bin/sh, entered with unshare -m + chroot, /proc mounted;
   b. the host with every Python hidden and decoys set (PYTHONHOME,
      PYTHONPATH, LD_LIBRARY_PATH pointing at wrong places, a fake python3
      first on PATH);
   c. read-only, moved to a path with spaces and non-ASCII characters.
"""

from __future__ import annotations

import os
import stat
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zstandard

from gopack import archive, sandbox
from gopack.elf import analysis
from gopack.elf.patch import LIBDIR
from gopack.errors import UsageError, VerifyError

DECOYS = {
    "PYTHONHOME": "/nonexistent/gopack-decoy-home",
    "PYTHONPATH": "/nonexistent/gopack-decoy-path",
    "LD_LIBRARY_PATH": "/nonexistent/gopack-decoy-lib",
}
MOVED_TO = "moved here ünïcødé 日本"
_FAKE_PYTHON = "#!/bin/sh\necho 'gopack decoy python3 was run' >&2\nexit 97\n"


@dataclass(frozen=True, kw_only=True)
class Check:
    name: str
    ok: bool
    detail: str
    output: str = ""


def verify(path: Path, *, allow_unsandboxed: bool = False) -> list[Check]:
    try:
        readable = path.is_file() and os.access(path, os.R_OK)
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror}") from None
    if not readable:
        raise UsageError(f"{path}: no such archive, or not readable by this user", hint="pass the .tar.gz that gopack bundle wrote")
    manifest = archive.read_manifest(path)
    why_not = sandbox.can_sandbox()
    if why_not is not None and not allow_unsandboxed:
        raise VerifyError(
            f"cannot make the sandboxes verify runs the smoke test in: {why_not}",
            hint="run as root with util-linux's unshare, or pass --allow-unsandboxed to run the smoke test on this host as it is",
        )
    with tempfile.TemporaryDirectory(prefix="gopack-verify-") as tmp:
        work = Path(tmp)
        root = extract(path, work / "extracted")
        checks = [check_files(root, manifest), check_linkage(root, accepted=_unresolved(manifest))]
        if not all(c.ok for c in checks):
            return checks
        smoke = manifest["smoke"]
        if why_not is not None:
            result = sandbox.run_plain(_argv(root, smoke), cwd=Path("/"), timeout=smoke["timeout"])
            return [*checks, _judge("smoke (unsandboxed)", result, smoke, f"ran on this host as it is: {why_not}")]
        checks.append(_in_glibc_root(root, manifest, work / "glibc-root"))
        checks.append(_with_python_hidden(root, smoke, work / "decoy-bin"))
        moved = work / MOVED_TO / root.name
        moved.parent.mkdir()
        root.rename(moved)
        checks.append(_moved_read_only(moved, smoke))
    return checks


def extract(path: Path, dest: Path) -> Path:
    """Extract safely; return the bundle's root directory.

    tar: the ``data`` filter (no absolute paths, no ``..``, no links out, no
    devices). zip: the same refusals, and the modes it stores are applied.
    """
    if not hasattr(tarfile, "data_filter"):
        raise UsageError(
            f"this Python ({sys.version.split()[0]}) cannot extract archives safely: its tarfile has no extraction filters",
            hint="run gopack with Python 3.10.12+, 3.11.4+ or 3.12+",
        )
    dest.mkdir(parents=True)
    try:
        if archive.archive_format(path) == "zip":
            _extract_zip(path, dest)
        else:
            with archive.open_tar(path) as tar:
                tar.extractall(dest, filter="data")
    except tarfile.FilterError as exc:
        raise VerifyError(f"{path}: unsafe entry refused: {exc}", hint="the archive was not made by gopack or was altered") from None
    except (OSError, tarfile.TarError, zipfile.BadZipFile, zstandard.ZstdError) as exc:
        raise VerifyError(f"{path}: cannot extract: {exc}") from None
    tops = list(dest.iterdir())
    if len(tops) != 1 or not tops[0].is_dir():
        raise VerifyError(f"{path}: expected one top-level directory, found {len(tops)} entries")
    return tops[0]


def _extract_zip(path: Path, dest: Path) -> None:
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            parts = Path(info.filename).parts
            mode = info.external_attr >> 16
            if info.filename.startswith("/") or ".." in parts:
                raise tarfile.FilterError(f"{info.filename!r} points outside the destination")
            if stat.S_ISLNK(mode) or (mode and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))):
                raise tarfile.FilterError(f"{info.filename!r} is a link or a special file")
            target = Path(zf.extract(info, dest))
            if not info.is_dir():
                target.chmod(0o755 if mode & 0o111 else 0o644)


def check_files(root: Path, manifest: dict[str, Any]) -> Check:
    listed = {f["path"]: f for f in manifest["files"]}
    found = {e.path: e for e in archive.file_entries(root) if e.path != archive.MANIFEST}
    problems = []
    for rel in sorted(set(listed) - set(found)):
        problems.append(f"{rel}: listed in the manifest but missing")
    for rel in sorted(set(found) - set(listed)):
        problems.append(f"{rel}: present but not in the manifest")
    for rel in sorted(set(listed) & set(found)):
        want, have = listed[rel], found[rel]
        if want.get("link") != have.link:
            problems.append(f"{rel}: link target differs from the manifest")
        elif not have.link and (want["size"] != have.size or want["sha256"] != have.sha256):
            problems.append(f"{rel}: content differs from the manifest (sha256 {have.sha256[:12]}..., expected {want['sha256'][:12]}...)")
    if problems:
        return Check(name="files", ok=False, detail="; ".join(problems[:20]) + (f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""))
    return Check(name="files", ok=True, detail=f"{len(listed)} files match the manifest")


def _unresolved(manifest: dict[str, Any]) -> frozenset[tuple[str, str]]:
    """What the build found missing everywhere and shipped as the wheel had it (see relocate)."""
    return frozenset((u["path"], u["needs"]) for u in manifest.get("unresolved", ()))


def check_linkage(root: Path, *, accepted: frozenset[tuple[str, str]] = frozenset()) -> Check:
    found = analysis.analyse(root, executable_rpath=[root / LIBDIR])
    problems = [f"{f} searches the absolute path {p}" for f, p in found.absolute_paths]
    problems += [f"{n} needs {s}, which resolves to nothing inside the bundle" for n, s in found.unresolved if (n, s) not in accepted]
    problems += [f"{', '.join(e.needed_by)} need {e.soname}, found only on this host at {e.source}" for e in found.externals]
    if problems:
        return Check(name="linkage", ok=False, detail="; ".join(problems[:20]))
    return Check(
        name="linkage",
        ok=True,
        detail=f"{len(found.files)} ELF files; outside the bundle they need only {', '.join(found.host_libraries)}",
    )


def _argv(root: Path, smoke: dict[str, Any]) -> list[str]:
    return [str(root / smoke["command"][0]), *smoke["command"][1:]]


def _judge(name: str, result: sandbox.Result, smoke: dict[str, Any], where: str) -> Check:
    missing = [e for e in smoke["expect"] if e not in result.output]
    if result.returncode != 0:
        return Check(name=name, ok=False, detail=f"{smoke['command'][0]} exited with {result.returncode} ({where})", output=result.output)
    if missing:
        return Check(name=name, ok=False, detail=f"output lacks {', '.join(map(repr, missing))} ({where})", output=result.output)
    return Check(name=name, ok=True, detail=f"{len(smoke['expect'])} expected strings seen ({where})", output=result.output)


def _in_glibc_root(root: Path, manifest: dict[str, Any], place: Path) -> Check:
    libraries = sorted(analysis.HOST_LIBRARIES)
    sandbox.make_glibc_root(place, libraries)
    smoke = manifest["smoke"]
    argv = ["/bundle/" + smoke["command"][0], *smoke["command"][1:]]
    result = sandbox.run_in_glibc_root(argv, root=place, bundle=root, timeout=smoke["timeout"])
    return _judge("glibc-only root", result, smoke, "chroot holding only glibc, libgcc_s, libstdc++, the loader and /bin/sh")


def _with_python_hidden(root: Path, smoke: dict[str, Any], decoy_bin: Path) -> Check:
    decoy_bin.mkdir()
    fake = decoy_bin / "python3"
    fake.write_text(_FAKE_PYTHON)
    fake.chmod(0o755)
    env = {**DECOYS, "PATH": f"{decoy_bin}:{sandbox.SAFE_PATH}"}
    result = sandbox.run_without_python(_argv(root, smoke), cwd=Path("/"), env=env, timeout=smoke["timeout"])
    return _judge("no python, decoys", result, smoke, "every Python hidden; PYTHONHOME, PYTHONPATH, LD_LIBRARY_PATH and python3 are decoys")


def _moved_read_only(root: Path, smoke: dict[str, Any]) -> Check:
    result = sandbox.run_without_python(_argv(root, smoke), cwd=root.parent, read_only=(root,), timeout=smoke["timeout"])
    return _judge("moved, read-only", result, smoke, f"moved to {MOVED_TO!r}, mounted read-only")
