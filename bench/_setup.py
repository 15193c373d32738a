"""What the machine needs before anything is measured."""

from __future__ import annotations

import os
import shutil

from _common import GOPACK, REPO, BenchError, run, say


def ensure_packages() -> None:
    """apt-get install pigz, zstd and strace (the floor row's trace) if missing (apt-get update only then)."""
    missing = [name for name in ("pigz", "zstd", "strace") if shutil.which(name) is None]
    if not missing:
        return
    if shutil.which("apt-get") is None:
        raise BenchError(f"{', '.join(missing)} missing and there is no apt-get; install them by hand")
    say(f"installing {' '.join(missing)} with apt-get")
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update"], env=env)
    run(["apt-get", "install", "-y", *missing], env=env)


def check_host() -> None:
    if os.geteuid() != 0:
        raise BenchError("run as root: the read-only startup row mounts the bundle read-only in a private mount namespace (unshare -m)")
    for tool in ("go", "tar", "unshare", "mount"):
        if shutil.which(tool) is None:
            raise BenchError(f"{tool} is not on PATH")
    if not GOPACK.exists():
        raise BenchError(f"{GOPACK} is missing; run `make setup` in {REPO} first")
