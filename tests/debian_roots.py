"""Debian root file systems for gopack's target tests, made with debootstrap once and cached.

A root is ``debootstrap --variant=minbase [--include=PKGS] SUITE DIR`` from Debian's
own mirror. Making one takes one to two minutes, so each is kept under
``$GOPACK_TEST_ROOTS`` (default ``~/.cache/gopack-test-roots``) in a folder named by
a hash of the suite, the variant, the package list and the mirror: a test session
reuses what an earlier one made, and a changed package list makes a new root. A
root is made in a temporary folder and renamed into place under a lock, so an
interrupted run leaves nothing half made that a later run would take.

A root of another architecture (``arch="arm64"`` on this x86_64 machine) is made with
``debootstrap --arch=ARCH --foreign``: that unpacks the base system but cannot run
its second stage (the root's own programs) here, so every package it fetched,
the ``--include`` ones among them, is unpacked with ``dpkg-deb -x``. Nothing in it
is configured, which is all a build root (files) and a run root (glibc) need.

debootstrap itself comes from Debian's packages (``make setup`` installs it).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import filelock
import pytest

MIRROR = "http://deb.debian.org/debian"
#: Bumped when the way a root is made changes.
LAYOUT = 1


def cache_dir() -> Path:
    return Path(os.environ.get("GOPACK_TEST_ROOTS") or Path.home() / ".cache" / "gopack-test-roots")


def debian_root(suite: str, packages: Sequence[str] = (), *, arch: str | None = None) -> Path:
    """A minbase root of Debian ``suite`` with ``packages`` added, made once and cached;
    ``arch``: a Debian architecture other than this machine's (see the module's doc)."""
    debootstrap = shutil.which("debootstrap") or shutil.which("debootstrap", path="/usr/sbin:/sbin")
    if debootstrap is None:
        pytest.fail("debootstrap is missing: `make setup` installs it (apt-get install debootstrap)")
    what = {"layout": LAYOUT, "suite": suite, "variant": "minbase", "packages": sorted(packages), "mirror": MIRROR}
    if arch is not None:
        what["arch"] = arch
    key = hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]
    cache = cache_dir()
    name = f"{suite}-{arch}" if arch else suite
    root = cache / f"{name}-{key}"
    cache.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(cache / f"{name}-{key}.lock"):
        if (root / "etc" / "debian_version").is_file():
            return root
        tmp = Path(tempfile.mkdtemp(prefix=f"{name}-{key}-", dir=cache))
        argv = [debootstrap, "--variant=minbase"]
        if arch is not None:
            argv += [f"--arch={arch}", "--foreign"]
        if packages:
            argv.append("--include=" + ",".join(sorted(packages)))
        argv += [suite, str(tmp / "root"), MIRROR]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=1800)
            if done.returncode != 0:
                pytest.fail(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
            if arch is not None:
                _unpack_fetched(tmp / "root")
            (tmp / "root" / "gopack-root.json").write_text(json.dumps(what, indent=1) + "\n")
            os.rename(tmp / "root", root)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return root


def _unpack_fetched(root: Path) -> None:
    """Unpack every package debootstrap --foreign fetched into ``root``, then drop the .deb files."""
    archives = root / "var" / "cache" / "apt" / "archives"
    for deb in sorted(archives.glob("*.deb")):
        done = subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            pytest.fail(f"dpkg-deb -x {deb} failed ({done.returncode}): {done.stderr[-2000:]}")
        deb.unlink()
