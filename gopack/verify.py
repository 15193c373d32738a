"""``gopack verify``: prove an archive is intact and runs where no Python exists.

1. Extract safely (tarfile's ``data`` filter refuses absolute paths, ``..``,
   links that point outside and device files) into a fresh directory whose path
   has a space and non-ASCII characters.
2. Check every file against the manifest, and that nothing unlisted was added.
3. Run the smoke test stored in the manifest with every Python on the host
   hidden, the environment cleared and decoys set (PYTHONHOME, PYTHONPATH,
   LD_LIBRARY_PATH pointing at wrong places), from the root directory.
"""

from __future__ import annotations

import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gopack import archive, sandbox
from gopack.errors import UsageError, VerifyError

DECOYS = {
    "PYTHONHOME": "/nonexistent/gopack-decoy-home",
    "PYTHONPATH": "/nonexistent/gopack-decoy-path",
    "LD_LIBRARY_PATH": "/nonexistent/gopack-decoy-lib",
}
PLACE = "gopack verify ünïcødé"


@dataclass(frozen=True, kw_only=True)
class Check:
    name: str
    ok: bool
    detail: str
    output: str = ""


def verify(path: Path) -> list[Check]:
    if not path.is_file():
        raise UsageError(f"{path}: no such archive", hint="pass the .tar.gz that gopack bundle wrote")
    manifest = archive.read_manifest(path)
    with tempfile.TemporaryDirectory(prefix="gopack-verify-") as tmp:
        place = Path(tmp) / PLACE
        root = extract(path, place)
        checks = [check_files(root, manifest)]
        if checks[0].ok:
            checks.append(smoke(root, manifest))
    return checks


def extract(path: Path, dest: Path) -> Path:
    """Extract with the ``data`` filter; return the bundle's root directory."""
    dest.mkdir(parents=True)
    try:
        with tarfile.open(path, "r:*") as tar:
            tops = {m.name.split("/", 1)[0] for m in tar.getmembers()}
            if len(tops) != 1:
                raise VerifyError(f"{path}: expected one top-level directory, found {len(tops)}")
            tar.extractall(dest, filter="data")
    except tarfile.FilterError as exc:
        raise VerifyError(f"{path}: unsafe entry refused: {exc}", hint="the archive was not made by gopack or was altered") from None
    except (OSError, tarfile.TarError) as exc:
        raise VerifyError(f"{path}: cannot extract: {exc}") from None
    return dest / tops.pop()


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


def smoke(root: Path, manifest: dict[str, Any]) -> Check:
    spec = manifest["smoke"]
    argv = [str(root / spec["command"][0]), *spec["command"][1:]]
    result = sandbox.run_without_python(argv, cwd=Path("/"), env=DECOYS, timeout=spec["timeout"])
    missing = [e for e in spec["expect"] if e not in result.output]
    if result.returncode != 0:
        return Check(name="smoke", ok=False, detail=f"{spec['command'][0]} exited with {result.returncode} with every Python hidden", output=result.output)
    if missing:
        return Check(name="smoke", ok=False, detail=f"output lacks {', '.join(map(repr, missing))}", output=result.output)
    return Check(name="smoke", ok=True, detail=f"{len(spec['expect'])} expected lines seen with every Python hidden, decoys set, from {PLACE!r}", output=result.output)
