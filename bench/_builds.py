"""gopack's builds: cold, rebuild, and the interleaving with PyInstaller's."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from _common import BINARY, EXAMPLE, GOPACK, BenchError, fresh_dir, run, say
from _pyinstaller import pyinstaller_build


def fresh_example(work: Path) -> Path:
    """A private copy of examples/sklearn whose main.go the rebuild row can edit."""
    src = work / "src-sklearn"
    shutil.rmtree(src, ignore_errors=True)
    shutil.copytree(EXAMPLE, src, ignore=shutil.ignore_patterns("dist", "__pycache__"))
    return src


# --------------------------------------------------------------------------- builds


@dataclass
class GopackBuild:
    seconds: float
    archive: Path
    stages: dict[str, float]


def gopack_build(src: Path, cache: Path, out: Path) -> GopackBuild:
    fresh_dir(out)
    ran = run([GOPACK, "bundle", src / "recipe.yaml", "-o", out, "--json"], env={"GOPACK_CACHE_DIR": str(cache)})
    archives = sorted(p for p in out.iterdir() if p.name.startswith(f"{BINARY}-"))
    if len(archives) != 1:
        raise BenchError(f"gopack bundle wrote {[p.name for p in archives]} to {out}, expected one archive")
    return GopackBuild(ran.seconds, archives[0], _stages(ran.stdout))


def _stages(report: str) -> dict[str, float]:
    try:
        return dict(json.loads(report).get("stages", {}))
    except (ValueError, AttributeError):
        return {}


def touch_go(src: Path, tag: str) -> None:
    """A trivial change to main.go: Go must recompile and relink the program."""
    with (src / "main.go").open("a") as f:
        f.write(f"\n// bench: rebuild {tag}\n")


def warm_up_gopack(work: Path) -> None:
    """One throwaway build so uv's cache holds the wheels and Go's module cache the modules."""
    say("warm-up gopack build (fills uv's cache; not timed)")
    cache = Path(tempfile.mkdtemp(prefix="warmup-cache-", dir=work))
    try:
        gopack_build(fresh_example(work), cache, work / "out-warmup")
    finally:
        shutil.rmtree(cache, ignore_errors=True)


@dataclass
class Builds:
    cold: list[GopackBuild] = field(default_factory=list)
    rebuild: list[GopackBuild] = field(default_factory=list)
    pyinstaller: list[float] = field(default_factory=list)


def measure_builds(work: Path, venv_python: Path, app: Path, runs: int) -> Builds:
    """Interleaved: gopack cold (empty cache), gopack rebuild (main.go edited), PyInstaller."""
    builds = Builds()
    for i in range(runs):
        src = fresh_example(work)
        cache = Path(tempfile.mkdtemp(prefix="gopack-cache-", dir=work))
        try:
            say(f"build run {i + 1}/{runs}: gopack cold")
            builds.cold.append(gopack_build(src, cache, work / "out-cold"))
            touch_go(src, f"{i}-{time.time_ns()}")
            say(f"build run {i + 1}/{runs}: gopack rebuild")
            builds.rebuild.append(gopack_build(src, cache, work / "out-rebuild"))
        finally:
            shutil.rmtree(cache, ignore_errors=True)
        say(f"build run {i + 1}/{runs}: pyinstaller")
        builds.pyinstaller.append(pyinstaller_build(venv_python, app))
        say(f"  cold {builds.cold[-1].seconds:.1f} s, rebuild {builds.rebuild[-1].seconds:.1f} s, pyinstaller {builds.pyinstaller[-1]:.1f} s")
    return builds
