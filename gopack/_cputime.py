"""CPU seconds by step of a build, when ``GOPACK_PROFILE`` is set in the environment
(``gopack bundle --json`` then reports them as ``cpu``; bench/run.py prints them).

A build's steps overlap: the Go build, the installer, the bytecode and the
compression run in threads beside the rest. So the time the process and its
children spent is split by who spent it, not by when:

- each thread's own CPU (:func:`time.thread_time`) goes to the innermost
  :func:`step` it is in; a thread working for a step (:func:`carried`) counts
  for that step;
- each command's CPU, its whole process tree, goes to the step of the thread
  that ran it. :mod:`gopack._proc` measures it with ``getrusage(RUSAGE_CHILDREN)``
  before and after the command and, for that difference to be the command's
  alone, runs one command at a time while profiling (:func:`command`): a
  profiled build takes longer, its CPU seconds do not change.

A step's figure is its own: what a step nested in it spent is not counted
again. What the process spent before its first step (the interpreter's start,
gopack's imports, reading the recipe) is ``start``; what no step claims (a
command or thread no step started, the threads zstd starts in C) is ``other``, so the figures add up to the process's
user + system time, children included (:func:`report`).
"""

from __future__ import annotations

import functools
import os
import resource
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

ENABLED = bool(os.environ.get("GOPACK_PROFILE"))
OTHER = "other"
#: What the process spent before its first step: the interpreter's start, gopack's imports, the recipe.
START = "start"

P = ParamSpec("P")
R = TypeVar("R")

_lock = threading.Lock()
_seconds: dict[str, float] = {}
_local = threading.local()
#: Held around each command while profiling: one at a time, so that RUSAGE_CHILDREN's difference is that command's.
_commands = threading.Lock()


@dataclass
class _Frame:
    name: str
    nested: float = 0.0  # CPU seconds of the steps inside it


def _stack() -> list[_Frame]:
    stack: list[_Frame] | None = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    return stack


def _add(name: str, seconds: float) -> None:
    with _lock:
        _seconds[name] = _seconds.get(name, 0.0) + seconds


def current() -> str:
    """The innermost step of this thread (``other`` outside any)."""
    stack = _stack()
    return stack[-1].name if stack else OTHER


@contextmanager
def step(name: str) -> Iterator[None]:
    """Count this thread's CPU, and the commands it runs, for ``name`` until the block ends."""
    if not ENABLED:
        yield
        return
    if START not in _seconds:
        _add(START, _total())
    stack = _stack()
    start = time.thread_time()
    frame = _Frame(name)
    stack.append(frame)
    try:
        yield
    finally:
        stack.pop()
        spent = time.thread_time() - start
        _add(name, spent - frame.nested)
        if stack:
            stack[-1].nested += spent


def carried(function: Callable[P, R]) -> Callable[P, R]:
    """``function``, counted for the caller's current step in whatever thread runs it (a pool's worker)."""
    if not ENABLED:
        return function
    name = current()

    @functools.wraps(function)
    def within(*args: P.args, **kwargs: P.kwargs) -> R:
        with step(name):
            return function(*args, **kwargs)

    return within


@contextmanager
def command() -> Iterator[None]:
    """Around one command (:mod:`gopack._proc`): its process tree's CPU goes to the current step."""
    if not ENABLED:
        yield
        return
    with _commands:
        before = _children()
        try:
            yield
        finally:
            _add(current(), _children() - before)


def _children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _total() -> float:
    # The process's own clock, as precise as thread_time (os.times counts in 10 ms ticks,
    # which left "other" a few milliseconds below zero), and its children's rusage.
    return time.process_time() + _children()


def report() -> dict[str, float]:
    """CPU seconds by step, ``other`` for the rest; they add up to the process's total so far."""
    total = _total()
    with _lock:
        found = dict(_seconds)
    found[OTHER] = found.get(OTHER, 0.0) + total - sum(found.values())
    return {name: round(seconds, 3) for name, seconds in sorted(found.items(), key=lambda item: -item[1])}
