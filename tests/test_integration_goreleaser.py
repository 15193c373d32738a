"""Issue 23: publishing gopack bundles with GoReleaser (examples/goreleaser).

The program of tests/data/oldlinux, in a git repository of its own with the example's
.goreleaser.yaml and gopack-go, released with ``goreleaser release --snapshot --clean``
against the Debian 11 root: the release holds gopack's archive and its SBOM, GoReleaser's
checksum file lists them with the packages, and its .deb installs with dpkg into a clean
Debian 11 root (no Python there) and runs from /usr/bin.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DATA, EXAMPLES

pytestmark = pytest.mark.integration

#: make setup installs it beside gopack (go install github.com/goreleaser/goreleaser/v2@v2.17.0).
GORELEASER = Path(sys.executable).parent / "goreleaser"
EXPECTED = "[OLDLINUX] python 3.9 numpy 1.26.4"
SBIN = "/usr/sbin:/usr/bin:/sbin:/bin"


def _run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)
    assert result.returncode == 0, f"{argv[:3]} exited {result.returncode}\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_goreleaser_snapshot_release_of_a_gopack_bundle(
    bullseye_python: Path, bullseye_bare: Path, cache_dir: Path, tmp_path: Path
) -> None:
    if not GORELEASER.is_file():
        pytest.fail(f"{GORELEASER} is missing: `make setup` installs GoReleaser v2.17.0 from the Go module proxy")
    repo = tmp_path / "oldlinux"
    shutil.copytree(DATA / "oldlinux", repo)
    for name in (".goreleaser.yaml", "gopack-go"):
        shutil.copy2(EXAMPLES / "goreleaser" / name, repo / name)
    git = ["git", "-c", "user.name=gopack tests", "-c", "user.email=tests@gopack.invalid", "-C", str(repo)]
    _run([*git, "init", "-q"])
    _run([*git, "add", "-A"])
    _run(
        [*git, "commit", "-q", "-m", "release"],
        env={**os.environ, "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z", "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z"},
    )
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "GOPACK_SYSROOT": str(bullseye_python),
        "GOPACK_CACHE_DIR": str(cache_dir),
    }
    _run([str(GORELEASER), "release", "--snapshot", "--clean"], cwd=repo, env=env, timeout=1800)

    dist = repo / "dist"
    (archive,) = (dist / "gopack").glob("*.tar.gz")
    assert archive.name.startswith("oldlinux-1.0-cp39-manylinux_2_31_x86_64")
    (deb,) = dist.glob("*.deb")
    assert len(list(dist.glob("*.rpm"))) == 1
    # GoReleaser's checksum file lists gopack's archive (and its SBOM) with the packages.
    listed = dict(reversed(line.split(None, 1)) for line in (dist / "checksums.txt").read_text().splitlines())
    assert listed[archive.name] == _sha256(archive)
    assert listed[deb.name] == _sha256(deb)
    (sbom,) = (dist / "gopack").glob("*.cdx.json")
    assert sbom.name == archive.name + ".cdx.json" and listed[sbom.name] == _sha256(sbom)

    # Installed by dpkg into a clean Debian 11 (glibc 2.31, no Python), run from /usr/bin.
    root = tmp_path / "debian11"
    _run(["cp", "-a", str(bullseye_bare), str(root)])
    shutil.copy2(deb, root / "tmp" / deb.name)
    chroot = shutil.which("chroot", path=SBIN) or "chroot"
    _run([chroot, str(root), "dpkg", "-i", f"/tmp/{deb.name}"], env={"PATH": SBIN})
    assert not list((root / "usr" / "bin").glob("python*"))
    # With /proc, as on any running system: the loader's $ORIGIN and the program's home both
    # resolve /usr/bin/oldlinux, a link, to /opt/oldlinux/bin/oldlinux through /proc/self/exe.
    unshare = ["unshare", "--mount", "--pid", "--fork", f"--mount-proc={root / 'proc'}"]
    run = _run([*unshare, chroot, str(root), "/usr/bin/oldlinux"], env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}, timeout=300)
    assert EXPECTED in run.stdout
