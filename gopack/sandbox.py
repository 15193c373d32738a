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

from auditwheel.lddtree import find_lib, ldd, load_ld_paths
from auditwheel.libc import Libc

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
    return _run(["unshare", "-m", "/bin/sh", "-c", "\n".join(script), "gopack-sandbox", *argv], clean_env, timeout)


def run_plain(argv: Sequence[str], *, cwd: Path, timeout: float = 300) -> Result:
    """Run ``argv`` on the host as it is (``verify --allow-unsandboxed``)."""
    return _run(list(argv), {"PATH": SAFE_PATH, "HOME": os.environ.get("HOME", "/")}, timeout, cwd=cwd)


def make_glibc_root(dest: Path, libraries: Sequence[str]) -> list[str]:
    """Fill ``dest`` with the loader, the host's copies of ``libraries`` that exist
    (glibc, libgcc_s, libstdc++), ``/bin/sh`` and empty /proc, /dev, /tmp.

    Each file goes where it is on the host, so the loader's built-in search
    path finds the libraries. Returns the libraries placed, as root paths.
    """
    shell = ldd(Path(os.path.realpath("/bin/sh")))
    if shell.interpreter is None:
        raise VerifyError("/bin/sh has no ELF interpreter; cannot make a glibc-only root")
    conf = load_ld_paths(Libc.GLIBC)["conf"]
    placed = []
    wanted = {os.path.realpath(shell.interpreter): shell.interpreter}
    for name in libraries:
        realpath, fullpath = find_lib(shell.platform, name, conf)
        if realpath is not None and fullpath is not None:
            wanted[str(realpath)] = fullpath
    for source, inside in sorted(wanted.items()):
        target = dest / inside.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
        placed.append(inside)
    (dest / "bin").mkdir(exist_ok=True)
    shutil.copy2(os.path.realpath("/bin/sh"), dest / "bin" / "sh")
    for directory in ("proc", "dev/shm", "tmp", "bundle"):
        (dest / directory).mkdir(parents=True, exist_ok=True)
    (dest / "tmp").chmod(0o1777)
    for device in _DEVICES:
        (dest / "dev" / device).touch()
    return placed


_DEVICES = ("null", "zero", "random", "urandom")


def run_in_glibc_root(argv: Sequence[str], *, root: Path, bundle: Path, env: Mapping[str, str] | None = None, timeout: float = 300) -> Result:
    """Run ``argv`` (paths inside the bundle, relative to it) chrooted into ``root``
    with ``bundle`` mounted read-only at ``/bundle``, /proc mounted, /dev/shm a tmpfs."""
    why_not = can_sandbox()
    if why_not is not None:
        raise VerifyError(f"cannot make a glibc-only root: {why_not}", hint="run as root on Linux with util-linux installed")
    r = shlex.quote(str(root))
    script = ["set -e", "mount --make-rprivate /", f"mount -t proc proc {r}/proc", f"mount -t tmpfs -o size=256m gopack-shm {r}/dev/shm"]
    script += [f"mount --bind /dev/{d} {r}/dev/{d}" for d in _DEVICES]
    b = shlex.quote(str(bundle))
    script += [f"mount --bind {b} {r}/bundle", f"mount -o remount,ro,bind {r}/bundle", f'exec {shlex.quote(shutil.which("chroot") or "/usr/sbin/chroot")} {r} "$@"']
    clean_env = {"PATH": "/bin", "HOME": "/nonexistent", **(env or {})}
    return _run(["unshare", "-m", "/bin/sh", "-c", "\n".join(script), "gopack-sandbox", *argv], clean_env, timeout)


def _run(cmd: Sequence[str], env: Mapping[str, str], timeout: float, *, cwd: Path | None = None) -> Result:
    try:
        proc = subprocess.run(cmd, env=dict(env), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace", timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return Result(returncode=-1, output=out + f"\n[gopack] timed out after {timeout:.0f} s")
    return Result(returncode=proc.returncode, output=proc.stdout)
