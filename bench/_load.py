"""Was the machine quiet? The load average before and after each measured series, and the
CPU time that processes other than the benchmark's took during it."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from _common import BenchError, children_cpu, say

_TICKS = os.sysconf("SC_CLK_TCK")
T = TypeVar("T")


def loadavg() -> tuple[float, float, float]:
    one, five, fifteen = Path("/proc/loadavg").read_text().split()[:3]
    return float(one), float(five), float(fifteen)


def busy_cpu_seconds() -> float:
    """CPU seconds the whole machine has spent busy since boot (every CPU; /proc/stat's
    user, nice, system, irq, softirq and steal; not idle or iowait)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / _TICKS


def wait_for_quiet(limit: float, patience: float) -> None:
    """Wait (at most ``patience`` seconds) until the 1-minute load average is at most ``limit``."""
    deadline = time.monotonic() + patience
    first = True
    while (one := loadavg()[0]) > limit and time.monotonic() < deadline:
        if first:
            say(f"1-minute load average {one:.2f} > {limit}: waiting for the machine to quiet down (at most {patience:.0f} s)")
            first = False
        time.sleep(5)


@dataclass
class Series:
    """One measured series (a stack's builds, its start-ups, the compressors)."""

    name: str
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)
    seconds: float = 0.0
    ours_cpu_seconds: float = 0.0  # the benchmark's children
    others_cpu_seconds: float = 0.0  # everything else the machine ran meanwhile (kernel threads included)
    discarded: list[str] = field(default_factory=list)  # runs measured while others were busy, and why
    _start: tuple[float, float, float] = field(default=(0.0, 0.0, 0.0), repr=False)

    @property
    def others_cores(self) -> float:
        """How many CPUs, on average, other work took during the series."""
        return self.others_cpu_seconds / self.seconds if self.seconds else 0.0


class LoadLog:
    """Records every series; says why the results must not be written when the machine was busy.

    The 1-minute load average after a series counts the benchmark's own builds (two busy
    cores give about 2), so it is recorded, not judged; what is judged is the load average
    before each series and before each timed run, and the CPU time that other processes
    took during each run (a run where they took too much is measured again)."""

    def __init__(self, max_load: float, max_others_cores: float, patience: float, retries: int) -> None:
        self.max_load = max_load
        self.max_others_cores = max_others_cores
        self.patience = patience
        self.retries = retries
        self.series: list[Series] = []

    def start(self, name: str) -> Series:
        wait_for_quiet(self.max_load, self.patience)
        series = Series(name, loadavg())
        series._start = (time.monotonic(), busy_cpu_seconds(), children_cpu())
        self.series.append(series)
        say(f"{name}: load average before {_fmt(series.load_before)}")
        return series

    def stop(self, series: Series) -> None:
        wall0, busy0, ours0 = series._start
        series.seconds = time.monotonic() - wall0
        series.ours_cpu_seconds = children_cpu() - ours0
        series.others_cpu_seconds = max(0.0, busy_cpu_seconds() - busy0 - series.ours_cpu_seconds)
        series.load_after = loadavg()
        say(f"{series.name}: load average after {_fmt(series.load_after)}; other processes took {series.others_cores:.2f} CPUs on average")

    def repeat(self, series: Series, label: str, runs: int, measure: Callable[[], T]) -> list[T]:
        """``runs`` results of ``measure``, each taken while the machine was quiet: a run during
        which other processes took more than the threshold is discarded and measured again
        (at most ``retries`` times in all), after waiting for the load average to fall."""
        kept: list[T] = []
        while len(kept) < runs:
            wait_for_quiet(self.max_load, self.patience)
            load = loadavg()[0]
            wall0, busy0, ours0 = time.monotonic(), busy_cpu_seconds(), children_cpu()
            result = measure()
            seconds = time.monotonic() - wall0
            others = max(0.0, busy_cpu_seconds() - busy0 - (children_cpu() - ours0)) / seconds
            name = f"{label} {len(kept) + 1}/{runs}"
            if others <= self.max_others_cores and load <= self.max_load:
                kept.append(result)
                continue
            why = f"{name}: load average {load:.2f} before it, other processes took {others:.2f} CPUs during its {seconds:.0f} s"
            series.discarded.append(why)
            say(f"discarded {why} (thresholds {self.max_load}, {self.max_others_cores}); measuring it again")
            if len(series.discarded) > self.retries:
                raise BenchError(f"the machine stayed busy: {len(series.discarded)} runs of {series.name} discarded, the last {why}")
        return kept

    def busy(self) -> list[str]:
        """Why the machine was too busy for these numbers to stand (empty if it was quiet)."""
        reasons = []
        for s in self.series:
            if s.load_before[0] > self.max_load:
                reasons.append(f"{s.name}: 1-minute load average {s.load_before[0]:.2f} before it (threshold {self.max_load})")
        # Each timed run inside a series was kept only if others were quiet during it (repeat).
        return reasons

    def as_json(self) -> list[dict[str, object]]:
        return [
            {
                "series": s.name,
                "loadavg_before": s.load_before,
                "loadavg_after": s.load_after,
                "seconds": round(s.seconds, 1),
                "bench_cpu_seconds": round(s.ours_cpu_seconds, 1),
                "others_cpu_seconds": round(s.others_cpu_seconds, 1),
                "others_cores": round(s.others_cores, 3),
                "discarded_runs": s.discarded,
            }
            for s in self.series
        ]


def _fmt(load: tuple[float, float, float]) -> str:
    return " ".join(f"{v:.2f}" for v in load)
