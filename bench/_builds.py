"""gopack's builds: cold, rebuild, and the interleaving with PyInstaller's."""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from _common import GOPACK, BenchError, fresh_dir, run, say
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


def gopack_build(stack: Stack, src: Path, cache: Path, out: Path) -> GopackBuild:
    fresh_dir(out)
    ran = run([GOPACK, "bundle", src / stack.recipe, "-o", out, "--json"], env={"GOPACK_CACHE_DIR": str(cache)})
    # The archive, not the SBOM (.cdx.json) gopack writes beside it.
    archives = sorted(p for p in out.iterdir() if p.name.startswith(f"{stack.binary}-") and p.name.endswith(".tar.gz"))
    if len(archives) != 1:
        raise BenchError(f"gopack bundle wrote {[p.name for p in archives]} to {out}, expected one archive")
    return GopackBuild(ran.seconds, ran.cpu_seconds, archives[0], _stages(ran.stdout))


def _stages(report: str) -> dict[str, float]:
    try:
        return dict(json.loads(report).get("stages", {}))
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
    pyinstaller: list[float] = field(default_factory=list)
    pyinstaller_cpu: list[float] = field(default_factory=list)
    pyinstaller_dist: Path | None = None  # the last run's --onedir folder


def measure_builds(work: Path, stack: Stack, venv_python: Path, app: Path, runs: int) -> Builds:
    """Interleaved: gopack cold (empty cache), gopack rebuild (main.go edited; if the stack
    times it), PyInstaller. Each build writes into folders of its own; none is deleted
    before the benchmark ends."""
    builds = Builds()
    for i in range(runs):
        here = runs_dir(work) / f"{stack.name}-{i + 1}"
        src = fresh_source(stack, here)
        say(f"{stack.name} build run {i + 1}/{runs}: gopack cold")
        settle()
        builds.cold.append(gopack_build(stack, src, here / "gopack-cache", here / "out-cold"))
        line = f"cold {builds.cold[-1].seconds:.1f} s ({builds.cold[-1].cpu_seconds:.1f} CPU s)"
        if stack.rebuild:
            touch_go(src, f"{i}-{time.time_ns()}")
            say(f"{stack.name} build run {i + 1}/{runs}: gopack rebuild")
            settle()
            builds.rebuild.append(gopack_build(stack, src, here / "gopack-cache", here / "out-rebuild"))
            line += f", rebuild {builds.rebuild[-1].seconds:.1f} s"
        say(f"{stack.name} build run {i + 1}/{runs}: pyinstaller")
        settle()
        seconds, cpu, builds.pyinstaller_dist = pyinstaller_build(stack, venv_python, app, here / "pyinstaller")
        builds.pyinstaller.append(seconds)
        builds.pyinstaller_cpu.append(cpu)
        say(f"  {line}, pyinstaller {seconds:.1f} s ({cpu:.1f} CPU s)")
    return builds
