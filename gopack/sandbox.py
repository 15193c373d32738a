"""Run a command where no Python exists: a private mount namespace hides them all.

``unshare -m`` gives the command its own mount table. In it every Python
installation found on the machine is covered: directories with an empty
read-only tmpfs, single files (``/usr/bin/python3``, ``libpython3.11.so.1.0``)
with ``/dev/null``. The host is not changed. The environment is cleared to a
minimal PATH, plus whatever the caller adds (decoys, say).
"""

from __future__ import annotations

import glob
import os
import shlex
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from gopack.errors import VerifyError

_DIR_GLOBS = (
    "{pyenv}",
    "/usr/lib/python[23]*",
    "/usr/local/lib/python[23]*",
    "/usr/lib/x86_64-linux-gnu/python[23]*",
    "/usr/share/python[23]*",
    "/opt/conda",
    "/root/miniconda3",
    "/root/anaconda3",
)
_FILE_GLOBS = (
    "{bindir}/python*",
    "{bindir}/pip*",
    "{libdir}/libpython*",
)
_BIN_DIRS = ("/usr/bin", "/bin", "/usr/local/bin", "/usr/sbin", "/sbin")
_LIB_DIRS = ("/usr/lib", "/usr/lib64", "/usr/local/lib", "/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu")
SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass(frozen=True, kw_only=True)
class Result:
    returncode: int
    output: str


def pythons_on_host() -> tuple[list[str], list[str]]:
    """Directories and files that hold a Python on this machine."""
    pyenv = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    dirs = sorted({d for pattern in _DIR_GLOBS for d in glob.glob(pattern.format(pyenv=pyenv)) if os.path.isdir(d) and not os.path.islink(d)})
    path_dirs = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d]
    files = set()
    for pattern in _FILE_GLOBS:
        for bindir in (*_BIN_DIRS, *path_dirs):
            files.update(glob.glob(pattern.format(bindir=bindir, libdir=bindir)))
        for libdir in _LIB_DIRS:
            files.update(glob.glob(pattern.format(bindir=libdir, libdir=libdir)))
    # A symlink is hidden by hiding what it points to; a bind mount would follow it anyway.
    real = {os.path.realpath(f) for f in files if os.path.isfile(f)}
    return dirs, sorted(f for f in real if not any(f.startswith(d + "/") for d in dirs))


def can_sandbox() -> str | None:
    """None when a private mount namespace can be made, else why not."""
    if os.geteuid() != 0:
        return "hiding Python needs root (mount namespaces with tmpfs and bind mounts)"
    if shutil.which("unshare") is None:
        return "unshare (util-linux) is not installed"
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        return f"unshare -m failed: {probe.stderr.strip()}"
    return None


def run_without_python(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    read_only: Sequence[Path] = (),
    timeout: float = 300,
) -> Result:
    """Run ``argv`` in ``cwd`` with every Python on the host hidden and a cleared environment.

    Directories in ``read_only`` are remounted read-only inside the namespace
    (for root, file modes alone would not stop a write).
    """
    why_not = can_sandbox()
    if why_not is not None:
        raise VerifyError(f"cannot make a sandbox without Python: {why_not}", hint="run as root on Linux with util-linux installed")
    dirs, files = pythons_on_host()
    script = ["set -e", "mount --make-rprivate /"]
    script += [f"mount -t tmpfs -o ro,size=4k gopack-hidden {shlex.quote(d)}" for d in dirs]
    script += [f"mount --bind /dev/null {shlex.quote(f)}" for f in files]
    for directory in read_only:
        quoted = shlex.quote(str(directory))
        script += [f"mount --bind {quoted} {quoted}", f"mount -o remount,ro,bind {quoted}"]
    script += [f"cd {shlex.quote(str(cwd))}", 'exec "$@"']
    clean_env = {"PATH": SAFE_PATH, "HOME": "/nonexistent", **(env or {})}
    cmd = ["unshare", "-m", "/bin/sh", "-c", "\n".join(script), "gopack-sandbox", *argv]
    try:
        proc = subprocess.run(cmd, env=clean_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace", timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return Result(returncode=-1, output=out + f"\n[gopack] timed out after {timeout:.0f} s")
    return Result(returncode=proc.returncode, output=proc.stdout)
