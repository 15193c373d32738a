"""gopack's builds: cold, the rebuild in a second checkout, a profiled cold build, and the interleaving with PyInstaller's."""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from _common import GOPACK, BenchError, fresh_dir, run, say
from _load import LoadLog, Series
from _pyinstaller import pyinstaller_build
from _stacks import Stack


def fresh_source(stack: Stack, dest: Path) -> Path:
    """A private copy of the stack's source (in ``dest``, new) whose main.go the rebuild row can edit."""
    src = dest / f"src-{stack.name}"
    shutil.copytree(stack.source, src, ignore=shutil.ignore_patterns("dist", "__pycache__"))
    return src


# --------------------------------------------------------------------------- builds


@dataclass
class GopackBuild:
    seconds: float
    cpu_seconds: float
    archive: Path
    stages: dict[str, float]
    cache: Path  # the GOPACK_CACHE_DIR it built with (and filled)
    #: With GOPACK_PROFILE: CPU seconds by step, children included (the report's ``cpu``).
    cpu_steps: dict[str, float] = field(default_factory=dict)


def gopack_build(stack: Stack, src: Path, cache: Path, out: Path, *, profile: bool = False, recipe: str | None = None) -> GopackBuild:
    """``profile``: with GOPACK_PROFILE, which runs gopack's commands one at a time: its CPU
    seconds by step are right, its wall time is not the build's. ``recipe``: a recipe in
    ``src`` other than the stack's own (its pruned variant)."""
    fresh_dir(out)
    env = {"GOPACK_CACHE_DIR": str(cache), **({"GOPACK_PROFILE": "1"} if profile else {})}
    ran = run([GOPACK, "bundle", src / (recipe or stack.recipe), "-o", out, "--json"], env=env)
    # The archive, not the SBOM (.cdx.json) gopack writes beside it.
    archives = sorted(p for p in out.iterdir() if p.name.startswith(f"{stack.binary}-") and p.name.endswith(".tar.gz"))
    if len(archives) != 1:
        raise BenchError(f"gopack bundle wrote {[p.name for p in archives]} to {out}, expected one archive")
    return GopackBuild(
        ran.seconds, ran.cpu_seconds, archives[0], _report(ran.stdout, "stages"), cache, cpu_steps=_report(ran.stdout, "cpu")
    )


def _report(report: str, key: str) -> dict[str, float]:
    try:
        return dict(json.loads(report).get(key, {}))
    except (ValueError, AttributeError):
        return {}


def touch_go(src: Path, tag: str) -> None:
    """A trivial change to main.go: Go must recompile and relink the program."""
    with (src / "main.go").open("a") as f:
        f.write(f"\n// bench: rebuild {tag}\n")


def settle() -> None:
    """Before a timed build: nothing left for the kernel to write from the steps before it."""
    os.sync()


def runs_dir(work: Path) -> Path:
    """Where every build of this benchmark writes: folders are only ever added here until
    :func:`clear_runs`. Deleting thousands of files just before a build would slow that
    build's file creation: ext4 without a journal (this machine's root) passes over
    inodes freed in the last minute when it allocates new ones (``recently_deleted``)."""
    return work / "runs"


def clear_runs(work: Path) -> None:
    shutil.rmtree(runs_dir(work), ignore_errors=True)


def warm_up_gopack(work: Path, stack: Stack) -> None:
    """One throwaway build so uv's cache holds the wheels and Go's module cache the modules."""
    say(f"{stack.name}: warm-up gopack build (fills uv's cache; not timed)")
    warm_up = runs_dir(work) / f"warm-up-{stack.name}"
    gopack_build(stack, fresh_source(stack, warm_up), warm_up / "cache", warm_up / "out")


@dataclass
class Builds:
    cold: list[GopackBuild] = field(default_factory=list)
    rebuild: list[GopackBuild] = field(default_factory=list)
    profiled: list[GopackBuild] = field(default_factory=list)
    pyinstaller: list[float] = field(default_factory=list)
    pyinstaller_cpu: list[float] = field(default_factory=list)
    pyinstaller_dist: Path | None = None  # the last run's --onedir folder


def measure_builds(work: Path, stack: Stack, venv_python: Path, app: Path, runs: int, load: LoadLog, series: Series) -> Builds:
    """Interleaved: gopack cold (empty cache); gopack's rebuild in a second checkout at another
    path with main.go edited and the cache the cold build filled (if the stack times it); a
    profiled cold build (GOPACK_PROFILE: CPU seconds by step); PyInstaller. A run during which
    other processes were busy is measured again. Each build writes into folders of its own;
    none is deleted before the benchmark ends."""
    builds = Builds()
    attempt = 0

    def one_run() -> tuple[GopackBuild, GopackBuild | None, GopackBuild, float, float, Path]:
        nonlocal attempt
        attempt += 1
        here = runs_dir(work) / f"{stack.name}-{attempt}"
        src = fresh_source(stack, here)
        say(f"{stack.name} build attempt {attempt}: gopack cold")
        settle()
        cold = gopack_build(stack, src, here / "gopack-cache", here / "out-cold")
        line = f"cold {cold.seconds:.1f} s ({cold.cpu_seconds:.1f} CPU s)"
        rebuild = None
        if stack.rebuild:
            second = fresh_source(stack, here / "second checkout")
            touch_go(second, f"{attempt}-{time.time_ns()}")
            say(f"{stack.name} build attempt {attempt}: gopack rebuild in a second checkout")
            settle()
            rebuild = gopack_build(stack, second, here / "gopack-cache", here / "out-rebuild")
            line += f", rebuild {rebuild.seconds:.1f} s"
        say(f"{stack.name} build attempt {attempt}: gopack cold, profiled")
        settle()
        profiled = gopack_build(stack, src, here / "gopack-cache-profiled", here / "out-profiled", profile=True)
        line += f", profiled cold {profiled.cpu_seconds:.1f} CPU s"
        say(f"{stack.name} build attempt {attempt}: pyinstaller")
        settle()
        seconds, cpu, dist = pyinstaller_build(stack, venv_python, app, here / "pyinstaller")
        say(f"  {line}, pyinstaller {seconds:.1f} s ({cpu:.1f} CPU s)")
        return cold, rebuild, profiled, seconds, cpu, dist

    for cold, rebuild, profiled, seconds, cpu, dist in load.repeat(series, f"{stack.name} build run", runs, one_run):
        builds.cold.append(cold)
        builds.profiled.append(profiled)
        if rebuild is not None:
            builds.rebuild.append(rebuild)
        builds.pyinstaller.append(seconds)
        builds.pyinstaller_cpu.append(cpu)
        builds.pyinstaller_dist = dist
    return builds
