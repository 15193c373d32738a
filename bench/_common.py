"""Shared by the benchmark's modules: paths, the process runner, small helpers."""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import resource
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
GOPACK = REPO / ".venv" / "bin" / "gopack"
GOPACK_PYTHON = REPO / ".venv" / "bin" / "python"
UV = REPO / ".venv" / "bin" / "uv"
MB = 1e6


class BenchError(Exception):
    """A benchmark step could not run; the message says which step and why."""


# --------------------------------------------------------------------------- processes


@dataclass(frozen=True)
class Ran:
    argv: list[str]
    returncode: int
    seconds: float
    stdout: str
    stderr: str
    # user + system CPU seconds of the process and every descendant it waited for
    # (uv, go, the compiler, strip, ...): what a shared CI runner pays, whatever the overlap.
    cpu_seconds: float = 0.0


_PR_SET_CHILD_SUBREAPER = 36


def adopt_orphans() -> None:
    """Make this process the reaper of every descendant whose parent exits before it
    (prctl PR_SET_CHILD_SUBREAPER), so that their CPU time counts as the run's: loky's
    workers outlive the sklearn program that started them, and would otherwise be
    reparented to init, their CPU lost from the run's and charged to "other processes"."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise BenchError(f"prctl(PR_SET_CHILD_SUBREAPER) failed: {os.strerror(ctypes.get_errno())}")


def reap_orphans(patience: float = 30.0) -> None:
    """Wait for the descendants a run left behind (see :func:`adopt_orphans`), at most
    ``patience`` seconds; one still running then is left to finish on its own."""
    deadline = time.monotonic() + patience
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:  # none left
            return
        if pid == 0:  # some still running
            if time.monotonic() > deadline:
                return
            time.sleep(0.02)


def children_cpu() -> float:
    """User + system CPU seconds of every child this process has waited for so far.
    The benchmark runs one process at a time, so the difference around one run is that
    run's whole tree (each process's rusage includes the children it waited for)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    stdout: Path | None = None,
    check: bool = True,
    timeout: float | None = 3600,
) -> Ran:
    """Run a whole process and time it with perf_counter (stdout to a file if given)."""
    args = [os.fspath(a) for a in argv]
    # No PYTHON* variables (PYTHONDONTWRITEBYTECODE would keep the .pyc cache cold).
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    full_env.update(env or {})
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(stdout.open("wb")) if stdout else subprocess.PIPE
        try:
            cpu_before = children_cpu()
            start = time.perf_counter()
            # Its own process group, so a timeout ends the children it started too.
            proc = subprocess.Popen(args, cwd=cwd, env=full_env, stdout=out, stderr=subprocess.PIPE, start_new_session=True)
            try:
                out_bytes, err_bytes = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
                raise BenchError(f"{shlex.join(args)} did not finish within {timeout} s (killed its process group)") from None
            seconds = time.perf_counter() - start
            reap_orphans()
            cpu_seconds = children_cpu() - cpu_before
        except FileNotFoundError as exc:
            raise BenchError(f"cannot run {args[0]}: {exc.strerror}") from None
    ran = Ran(args, proc.returncode, seconds, _text(out_bytes), _text(err_bytes), cpu_seconds)
    if check and ran.returncode != 0:
        output = (ran.stdout + "\n" + ran.stderr).strip()[-4000:]
        raise BenchError(f"{shlex.join(args)} failed (exit code {ran.returncode}):\n{output}")
    return ran


def _text(data: bytes | None) -> str:
    return data.decode("utf-8", "replace") if data else ""


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def fresh_dir(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def comparable(stdout: str) -> list[str]:
    """The program's lines, minus [MODULE] (it names hello.py's path, which differs); of the
    corpus's `PASS name: result` lines only `PASS name` (psycopg2's result names its
    temporary folder, protobuf's JSON orders its keys differently from run to run)."""
    return [_PASS.sub(r"\1", line) for line in stdout.splitlines() if not line.startswith("[MODULE]")]


_PASS = re.compile(r"^(PASS \S+): .*$")


@dataclass(frozen=True)
class Watched:
    ran: Ran
    first_output_seconds: float  # from start until the first line on stdout (the whole run if none)


def run_watched(argv: Sequence[str | os.PathLike[str]], *, cwd: Path, timeout: float = 1800) -> Watched:
    """Run a program to its end, noting when its first line of output arrived (stderr
    goes to a file, so reading stdout line by line cannot block on a full stderr pipe)."""
    args = [os.fspath(a) for a in argv]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    with tempfile.TemporaryFile() as err:
        cpu_before = children_cpu()
        start = time.perf_counter()
        proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=err, start_new_session=True)
        assert proc.stdout is not None
        timer = threading.Timer(timeout, os.killpg, (proc.pid, signal.SIGKILL))
        timer.start()
        try:
            first = proc.stdout.readline()
            first_seconds = time.perf_counter() - start
            rest = proc.stdout.read()
            returncode = proc.wait()
        finally:
            timer.cancel()
        seconds = time.perf_counter() - start
        reap_orphans()
        cpu_seconds = children_cpu() - cpu_before
        err.seek(0)
        stderr = _text(err.read())
    if not first:
        first_seconds = seconds
    ran = Ran(args, returncode, seconds, _text(first + rest), stderr, cpu_seconds)
    if returncode != 0:
        output = (ran.stdout + "\n" + ran.stderr).strip()[-4000:]
        raise BenchError(f"{shlex.join(args)} failed (exit code {returncode}):\n{output}")
    return Watched(ran, first_seconds)
