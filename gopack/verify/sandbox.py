"""Run a command where no Python exists: a private mount namespace hides them all.

``unshare -m`` gives the command its own mount table. In it every Python
installation found on the machine is covered: directories with an empty
read-only tmpfs, single files (``/usr/bin/python3``, ``libpython3.11.so.1.0``)
with ``/dev/null``. The host is not changed. The environment is cleared to a
minimal PATH, plus whatever the caller adds (decoys, say).

:func:`run_confined` is for code from an archive nobody vouched for (``gopack
verify``'s smoke runs). On top of hiding Python it gives the command:

- new mount, network, PID, IPC and UTS namespaces (``unshare``): no network
  but the namespace's own loopback, brought up with iproute2's ``ip`` where it
  is installed (127.0.0.1 there reaches only the sandbox: a program that serves
  and queries itself works, the host's listeners do not); PID 1 of the
  namespace is the root shell that set it up and waits for the command, so when
  the command ends, is killed at the timeout, or verify dies however it dies
  (parent-death signals, from verify's thread to ``unshare`` to PID 1), every
  process it started dies too;
- every mount of the host read-only (in its own mount table only), seen through
  overlayfs so that no unix socket of the host answers (:mod:`gopack.verify.host_view`),
  or, in the glibc-only root, no host at all; a private tmpfs on /tmp (HOME is /tmp/home)
  and /dev/shm; a devpts instance of its own (a few pseudo-terminals, none of
  the host's); the bundle mounted read-only;
- a uid and gid of its own (a random one no account uses, so that
  RLIMIT_NPROC counts its processes alone), no supplementary groups, no
  capabilities and ``no_new_privs`` (setuid programs give nothing);
- a new, empty session keyring instead of the caller's, and no keyring
  syscalls at all (:mod:`gopack.verify.keyring`);
- limits (``prlimit``): processes and threads, address space per process,
  file size, CPU seconds, no core dumps; and the wall-clock timeout.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import selectors
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from auditwheel.lddtree import find_lib, ldd, load_ld_paths
from auditwheel.libc import Libc

from gopack import _proc
from gopack.errors import VerifyError
from gopack.platform.emulation import IN_ROOT, Emulation
from gopack.verify import host_view

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
    confinement: str = ""  # what a confined run had, for reports


def pythons_on_host() -> tuple[list[str], list[str]]:
    """Directories and files that hold a Python on this machine."""
    pyenv = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    dirs = sorted(
        {d for pattern in _DIR_GLOBS for d in glob.glob(pattern.format(pyenv=pyenv)) if os.path.isdir(d) and not os.path.islink(d)}
    )
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


#: The namespaces a confined run gets; unshare makes them, then forks PID 1, which it kills if it dies.
_NAMESPACES = ("--mount", "--net", "--pid", "--ipc", "--uts", "--fork", "--kill-child")
#: The unshare that starts a confined run dies with the verify thread that started it, however
#: verify dies (SIGKILL, a closed terminal): a session of its own, it would otherwise wait on.
_DIES_WITH_VERIFY = ("setpriv", "--pdeathsig", "KILL", "--")
#: Then it joins a session keyring of its own and loses the keyring syscalls (:mod:`gopack.verify.keyring`),
#: run by this interpreter before any namespace hides it.
_OWN_KEYRING = (sys.executable, "-I", "-S", str(Path(__file__).with_name("keyring.py")))
#: The most pseudo-terminals a confined run may open (in its own devpts instance).
MAX_PTYS = 16


@dataclass(frozen=True, kw_only=True)
class Limits:
    """What one confined run may use."""

    timeout: float  # wall clock, seconds; then the whole process tree is killed
    processes: int = 1024  # RLIMIT_NPROC of the run's own uid (threads count)
    memory: int = 8 << 30  # all its processes together, bytes (a memory cgroup, where one can be made)
    address_space: int = 16 << 30  # RLIMIT_AS, bytes, per process
    file_size: int = 1 << 30  # RLIMIT_FSIZE, bytes
    tmp_size: int = 1 << 30  # the private /tmp and /dev/shm (tmpfs), bytes each

    def describe(self, memory_cgroup: bool) -> str:
        memory = f"{_size(self.memory)} of memory in all" if memory_cgroup else "no memory cgroup could be made"
        network = "no network but its own loopback" if _IP else "no network (loopback down: iproute2's ip is not installed)"
        return f"{network}, no host unix socket, own uid, own empty keyring, at most {self.processes} processes of {_size(self.address_space)} address space each, {memory}, {self.timeout:g} s"


#: iproute2's ip, which brings a new network namespace's loopback up (found before PATH is narrowed).
_IP = shutil.which("ip") or next((p for p in ("/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip") if os.access(p, os.X_OK)), None)


def _size(n: int) -> str:
    return f"{n >> 30} GiB" if n >= 1 << 30 else f"{n >> 20} MiB"


def can_sandbox() -> str | None:
    """None when every protection of :func:`run_confined` can be had, else which cannot and why."""
    if os.geteuid() != 0:
        return "hiding Python and confining the smoke test need root (mount, network and PID namespaces, a uid of its own)"
    for tool in ("unshare", "prlimit", "setpriv"):
        if shutil.which(tool) is None:
            return f"{tool} (util-linux) is not installed"
    probe = subprocess.run(
        [
            *_OWN_KEYRING,
            "unshare",
            *_NAMESPACES,
            "prlimit",
            "--nproc=64",
            "--",
            "setpriv",
            "--no-new-privs",
            "--",
            "unshare",
            "--setgid=65534",
            "--setuid=65534",
            "--",
            "true",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        return (
            "new mount, network and PID namespaces with a uid of its own and no keyrings cannot be made here: "
            f"{probe.stderr.strip() or probe.returncode}"
        )
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
    script = ["set -e", "mount --make-rprivate /", *_hide_python()]
    for directory in read_only:
        quoted = shlex.quote(str(directory))
        script += [f"mount --bind {quoted} {quoted}", f"mount -o remount,ro,bind {quoted}"]
    script += [f"cd {shlex.quote(str(cwd))}", 'exec "$@"']
    clean_env = {"PATH": SAFE_PATH, "HOME": "/nonexistent", **(env or {})}
    return _run(["unshare", "-m", "/bin/sh", "-c", "\n".join(script), "gopack-sandbox", *argv], clean_env, timeout)


def _hide_python(root: str = "") -> list[str]:
    """Every Python of the host covered, in the host's tree or in ``root``, a view of it."""
    dirs, files = pythons_on_host()
    script = [f"mount -n -t tmpfs -o ro,size=4k gopack-hidden {shlex.quote(root + d)}" for d in dirs]
    return script + [f"mount -n --bind /dev/null {shlex.quote(root + f)}" for f in files]


def run_plain(argv: Sequence[str], *, cwd: Path, env: Mapping[str, str] | None = None, timeout: float = 300) -> Result:
    """Run ``argv`` on the host as it is (``verify --allow-unsandboxed``); its process group is killed at the end."""
    return _run(list(argv), {"PATH": SAFE_PATH, "HOME": os.environ.get("HOME", "/"), **(env or {})}, timeout, cwd=cwd)


#: Inside a confined run: the private /tmp, and HOME in it.
PRIVATE_TMP = PurePosixPath("/tmp")
PRIVATE_HOME = PRIVATE_TMP / "home"


def run_confined(
    argv: Sequence[str],
    *,
    bundle: Path,
    at: PurePosixPath,
    cwd: PurePosixPath,
    limits: Limits,
    env: Mapping[str, str] | None = None,
    glibc_root: Path | None = None,
    also: Mapping[Path, PurePosixPath] | None = None,
) -> Result:
    """Run ``argv`` (paths as seen inside) on an untrusted ``bundle``, mounted read-only at ``at``.

    With ``glibc_root`` the command is chrooted there (``at`` must be /bundle, made by
    :func:`make_glibc_root`); else it sees the host read-only with every Python hidden,
    and ``at`` must be under /tmp, the private tmpfs. ``also`` maps more host folders to
    places under /tmp, read-only. The environment is ``env`` over a minimal one
    (PATH, HOME=/tmp/home, TMPDIR=/tmp); see the module's doc for the rest.
    """
    why_not = can_sandbox()
    if why_not is not None:
        raise VerifyError(
            f"cannot confine the smoke test: {why_not}", hint="run as root on Linux with util-linux installed, or pass --allow-unsandboxed"
        )
    binds = {bundle: at, **(also or {})}
    uid = _free_id()
    cgroup = _memory_cgroup(f"gopack-smoke-{uid}", limits.memory)
    with tempfile.TemporaryDirectory(prefix="gopack-stage-") as stage:
        script = ["set -e"]
        if cgroup is not None:  # before /sys is read-only; every process it starts stays in it
            script.append(f"echo $$ > {shlex.quote(str(cgroup / 'cgroup.procs'))}")
        if _IP:  # the new network namespace's own loopback: nothing outside it is reachable
            script.append(f"{shlex.quote(_IP)} link set lo up")
        script += ["mount -n --make-rprivate /", *_read_only_host()]
        tmp_options = f"size={limits.tmp_size},mode=1777,nosuid,nodev"
        if glibc_root is not None:
            if at != PurePosixPath("/bundle") or also:
                raise VerifyError("internal: in the glibc-only root the bundle is at /bundle and nothing else is mounted")
            r = shlex.quote(str(glibc_root))
            script += [f"mount -n -t proc -o nosuid,nodev,noexec proc {r}/proc", f"mount -n -t tmpfs -o {tmp_options} gopack-tmp {r}/tmp"]
            script += [f"mount -n -t tmpfs -o {tmp_options} gopack-shm {r}/dev/shm"]
            script += [f"mount -n --bind /dev/{d} {r}/dev/{d}" for d in _DEVICES]
            script += _bind_read_only(bundle, f"{r}/bundle")
            home = f"{r}{PRIVATE_HOME}"
            enter = ["unshare", f"--root={glibc_root}", f"--wd={cwd}"]
            path = "/bin"
        else:
            # A root of the run's own, in a small tmpfs: the host through overlays (no host
            # socket answers there, see host_view), then its own /proc, /dev/pts, /dev/shm, /tmp.
            new_root, empty = f"{stage}/root", f"{stage}/empty"
            r = shlex.quote(new_root)
            script += [f"mount -n -t tmpfs -o size=64k,mode=755 gopack-stage {shlex.quote(stage)}", f"mkdir {r} {shlex.quote(empty)}"]
            script += host_view.without_sockets(new_root, empty, replaced=("/proc", "/dev/pts", "/dev/shm", str(PRIVATE_TMP)))
            script += [f"mount -n -t proc -o nosuid,nodev,noexec proc {r}/proc", *_hide_python(new_root), *_private_ptys(new_root)]
            script += [
                f"mount -n -t tmpfs -o {tmp_options} gopack-shm {r}/dev/shm",
                f"mount -n -t tmpfs -o {tmp_options} gopack-tmp {r}/tmp",
            ]
            for source, inside in binds.items():
                if PRIVATE_TMP not in inside.parents:
                    raise VerifyError(f"internal: {inside} is not under {PRIVATE_TMP}")
                target = shlex.quote(f"{new_root}{inside}")
                script += [f"mkdir -p {target}", *_bind_read_only(source, target)]
            home = f"{new_root}{PRIVATE_HOME}"
            enter = ["unshare", f"--root={new_root}", f"--wd={cwd}"]
            path = SAFE_PATH
        script += [f"mkdir -m 700 {shlex.quote(home)}", f"chown {uid}:{uid} {shlex.quote(home)}"]
        # Not exec'd: this shell stays PID 1, as root, with the parent-death signal unshare's
        # --kill-child gave it (the command's change of uid would clear it). When the command
        # ends, or verify dies however it dies, PID 1 ends and the kernel kills the namespace.
        script += [
            " ".join(
                [
                    "prlimit",
                    f"--nproc={limits.processes}",
                    f"--as={limits.address_space}",
                    f"--fsize={limits.file_size}",
                    f"--cpu={max(1, int(limits.timeout))}",
                    "--core=0 --",
                    "setpriv --no-new-privs --",
                    *map(shlex.quote, enter),
                    f"--setgid={uid} --setuid={uid}",
                    '-- "$@"',
                ]
            )
        ]
        clean_env = {"PATH": path, "HOME": str(PRIVATE_HOME), "TMPDIR": str(PRIVATE_TMP), **(env or {})}
        try:
            command = [
                *_DIES_WITH_VERIFY,
                *_OWN_KEYRING,
                "unshare",
                *_NAMESPACES,
                "/bin/sh",
                "-c",
                "\n".join(script),
                "gopack-sandbox",
                *argv,
            ]
            result = _run(command, clean_env, limits.timeout)
        finally:
            if cgroup is not None:
                _remove_cgroup(cgroup)
    return Result(returncode=result.returncode, output=result.output, confinement=limits.describe(cgroup is not None))


def _memory_cgroup(name: str, limit: int) -> Path | None:
    """A new memory cgroup ``name`` below this process's own, holding at most ``limit`` bytes;
    None where none can be made (no memory controller, or not delegated here)."""
    mounts: dict[str, tuple[str, str]] = {}  # "v1" / "v2" -> (mount point, root inside the hierarchy)
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            fields, _, tail = line.partition(" - ")
            parts, kind = fields.split(), tail.split()
            if len(kind) >= 3 and kind[0] == "cgroup" and "memory" in kind[2].split(","):
                mounts["v1"] = (host_view.unescape(parts[4]), parts[3])
            elif kind and kind[0] == "cgroup2":
                mounts.setdefault("v2", (host_view.unescape(parts[4]), parts[3]))
    with open("/proc/self/cgroup", encoding="utf-8") as f:
        lines = [line.rstrip("\n").split(":", 2) for line in f]
    for hierarchy, controllers, path in lines:
        if "memory" in controllers.split(",") and "v1" in mounts:
            where, limit_file = mounts["v1"], "memory.limit_in_bytes"
        elif hierarchy == "0" and "v2" in mounts:
            where, limit_file = mounts["v2"], "memory.max"
        else:
            continue
        point, root = where
        if not (path + "/").startswith(root.rstrip("/") + "/"):
            continue
        own = Path(point) / path[len(root.rstrip("/")) :].lstrip("/")
        if limit_file == "memory.max" and "memory" not in _read(own / "cgroup.subtree_control").split():
            continue
        child = own / name
        try:
            child.mkdir()
        except OSError:
            continue
        try:
            (child / limit_file).write_text(str(limit))
            return child
        except OSError:
            _remove_cgroup(child)
    return None


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _remove_cgroup(path: Path) -> None:
    """Remove a cgroup whose processes are gone (they may take a moment to leave it)."""
    for _ in range(50):
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.02)


def _private_ptys(root: str) -> list[str]:
    """A devpts instance of the run's own on ``root``/dev/pts (and /dev/ptmx), holding at most
    :data:`MAX_PTYS`: the host's, even read-only, would hand out the host's terminals."""
    pts, ptmx = shlex.quote(f"{root}/dev/pts"), shlex.quote(f"{root}/dev/ptmx")
    options = f"newinstance,ptmxmode=0666,mode=0600,max={MAX_PTYS},nosuid,noexec"
    return [
        f"if [ -d {pts} ]; then mount -n -t devpts -o {options} gopack-pts {pts}; fi",
        f"if [ -e {ptmx} ] && [ ! -L {ptmx} ]; then mount -n --bind {pts}/ptmx {ptmx}; fi",
    ]


def _bind_read_only(source: Path, target: str) -> list[str]:
    return [f"mount -n --bind {shlex.quote(str(source))} {target}", f"mount -n -o remount,ro,bind,nosuid,nodev {target}"]


def _read_only_host() -> list[str]:
    """Every mount of the host made read-only, in the run's own mount table only."""
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        points = dict.fromkeys(host_view.unescape(line.split()[4]) for line in f if line.strip())
    script = []
    for point in points:
        quoted = shlex.quote(point)
        script.append(f"mount -n -o remount,bind,ro {quoted} || {{ echo gopack-sandbox: cannot make {quoted} read-only >&2; exit 111; }}")
    return script


def _free_id() -> int:
    """A uid (and gid) no account uses, in the upper half of the 32-bit range."""
    while True:
        uid = 0x40000000 + secrets.randbelow(0x3FFFFFF0)
        try:
            pwd.getpwuid(uid)
        except KeyError:
            return uid


def make_glibc_root(dest: Path, libraries: Sequence[str], *, emulation: Emulation | None = None) -> list[str]:
    """Fill ``dest`` with the loader, the host's copies of ``libraries`` that exist
    (glibc, libgcc_s, libstdc++), ``/bin/sh`` and empty /proc, /dev, /tmp.

    Each file goes where it is on the host, so the loader's built-in search
    path finds the libraries. Returns the libraries placed, as root paths.

    With ``emulation`` (a bundle of another machine): that machine's loader and
    libraries from its prefix, in /lib, and the static qemu that runs them
    (:data:`gopack.platform.emulation.IN_ROOT`); no /bin/sh, which is the host's machine.
    """
    if emulation is not None:
        placed = []
        for where, library in sorted(emulation.libraries(libraries).items()):
            _place(library, dest / where.lstrip("/"))
            placed.append(where)
        _place(emulation.emulator, dest / str(IN_ROOT).lstrip("/"))
        _skeleton(dest)
        return placed
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
        _place(Path(source), dest / inside.lstrip("/"))
        placed.append(inside)
    _place(Path(os.path.realpath("/bin/sh")), dest / "bin" / "sh")
    _skeleton(dest)
    return placed


def _place(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, target)


def _skeleton(dest: Path) -> None:
    """The empty folders and device nodes' mount points a glibc-only root needs."""
    for directory in ("proc", "dev/shm", "tmp", "bundle"):
        (dest / directory).mkdir(parents=True, exist_ok=True)
    (dest / "tmp").chmod(0o1777)
    for device in _DEVICES:
        (dest / "dev" / device).touch()


_DEVICES = ("null", "zero", "random", "urandom")


def run_in_glibc_root(
    argv: Sequence[str], *, root: Path, bundle: Path, env: Mapping[str, str] | None = None, timeout: float = 300, at: str = "/bundle"
) -> Result:
    """Run ``argv`` (paths as seen inside) chrooted into ``root`` with ``bundle`` mounted
    read-only at ``at`` (any path, spaces and non-ASCII characters included), /proc
    mounted, /dev/shm a tmpfs."""
    why_not = can_sandbox()
    if why_not is not None:
        raise VerifyError(f"cannot make a glibc-only root: {why_not}", hint="run as root on Linux with util-linux installed")
    r = shlex.quote(str(root))
    script = ["set -e", "mount --make-rprivate /", f"mount -t proc proc {r}/proc", f"mount -t tmpfs -o size=256m gopack-shm {r}/dev/shm"]
    script += [f"mount --bind /dev/{d} {r}/dev/{d}" for d in _DEVICES]
    b, inside = shlex.quote(str(bundle)), shlex.quote(f"{root}{at}")
    script += [
        f"mkdir -p {inside}",
        f"mount --bind {b} {inside}",
        f"mount -o remount,ro,bind {inside}",
        f'exec {shlex.quote(shutil.which("chroot") or "/usr/sbin/chroot")} {r} "$@"',
    ]
    clean_env = {"PATH": "/bin", "HOME": "/nonexistent", **(env or {})}
    return _run(["unshare", "-m", "/bin/sh", "-c", "\n".join(script), "gopack-sandbox", *argv], clean_env, timeout)


#: The most output a run keeps (the rest is read and dropped).
MAX_OUTPUT = 4 << 20


def _run(cmd: Sequence[str], env: Mapping[str, str], timeout: float, *, cwd: Path | None = None) -> Result:
    """Run ``cmd`` in a session of its own, keeping at most :data:`MAX_OUTPUT` of its output;
    at the end, or at the timeout, the whole process group is killed."""
    deadline = time.monotonic() + timeout
    kept = bytearray()
    timed_out = False
    with subprocess.Popen(
        cmd, env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    ) as proc:
        assert proc.stdout is not None
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(proc.stdout, selectors.EVENT_READ)
                while True:
                    _proc.check_stop()  # a stop whose exception a finalizer swallowed still ends the run
                    left = deadline - time.monotonic()
                    if left <= 0:
                        timed_out = True
                        break
                    if not selector.select(min(left, 0.5)):
                        continue
                    block = os.read(proc.stdout.fileno(), 1 << 16)
                    if not block:  # every process that held the output is gone
                        break
                    kept += block[: max(0, MAX_OUTPUT - len(kept))]
        finally:
            _kill_group(proc.pid)
            proc.wait()
    text = kept.decode("utf-8", errors="replace")
    if timed_out:
        return Result(returncode=-1, output=text + f"\n[gopack] timed out after {timeout:g} s; every process it started was killed")
    return Result(returncode=proc.returncode, output=text)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
