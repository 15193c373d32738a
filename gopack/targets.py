"""Several targets in one run: a recipe's ``targets:`` planned together, then built one after another.

Every target is planned first and the problems of all of them are reported together, before
anything is built; a target whose build fails does not stop the others, and each result says
what became of it (the command line prints them as one table).
"""

from __future__ import annotations

import difflib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from gopack import cache, pipeline, plan
from gopack.errors import GopackError, UsageError
from gopack.pipeline import Bundle
from gopack.recipe.model import NamedTarget, Recipe

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class TargetResult:
    """One of a recipe's ``targets`` after a run: its bundle, or why it failed."""

    name: str
    seconds: float
    bundle: Bundle | None = None
    error: GopackError | None = None


def bundle_targets(
    recipe: Recipe,
    names: Sequence[str] = (),
    *,
    output_dir: Path | None = None,
    fmt: str | None = None,
    level: int | None = None,
    progress: Callable[[str, float | None], None] = lambda s, t: None,
) -> list[TargetResult]:
    """Build the recipe's ``targets`` (those in ``names``, else all), one after another.

    Every target is planned first and the problems of all of them are reported together,
    before anything is built. A target whose build fails does not stop the others: each
    result says what became of it. The Go module cache, the Python trees (per target) and
    the folder's SHA256SUMS are shared as in separate runs."""
    chosen = pick_targets(recipe, names)
    variants = [(t.name, recipe.for_target(t)) for t in chosen]
    cache_dir = cache.directory()
    plans: dict[str, plan.Plan] = {}
    problems: list[tuple[str, GopackError]] = []
    for name, variant in variants:
        try:
            with pipeline.Stages(_prefixed(progress, name))("plan"):
                plans[name] = plan.make(variant, cache_dir=cache_dir)
        except GopackError as exc:
            problems.append((name, exc))
    if problems:
        first = problems[0][1]
        raise type(first)(
            f"{len(problems)} of {len(variants)} targets cannot be built ({', '.join(name for name, _ in problems)}); nothing was built",
            hint="fix each target's problem, or leave it out with --target NAME for the others",
            details="\n".join(f"{name}: {exc.message}" + (f"\n  hint: {exc.hint}" if exc.hint else "") for name, exc in problems),
        )
    results: list[TargetResult] = []
    taken: dict[Path, str] = {}
    for name, variant in variants:
        start = time.monotonic()
        try:
            built = pipeline.bundle(
                variant, output_dir=output_dir, fmt=fmt, level=level, premade=plans[name], taken=taken, progress=_prefixed(progress, name)
            )
        except GopackError as exc:
            results.append(TargetResult(name=name, seconds=time.monotonic() - start, error=exc))
            log.error("target %s failed: %s", name, exc.message)
            continue
        taken[built.archive] = name
        results.append(TargetResult(name=name, seconds=time.monotonic() - start, bundle=built))
    return results


def _prefixed(progress: Callable[[str, float | None], None], name: str) -> Callable[[str, float | None], None]:
    """``progress`` with each stage named after its target: "arm64: python"."""
    return lambda stage, seconds: progress(f"{name}: {stage}", seconds)


def pick_targets(recipe: Recipe, names: Sequence[str]) -> list[NamedTarget]:
    """The recipe's targets that ``names`` picks (all of them when it names none), in the recipe's order."""
    if not recipe.targets:
        raise UsageError(
            f"--target {' '.join(names)}: {recipe.path} lists no targets",
            hint="list them under targets: in the recipe, or leave --target out",
        )
    known = [t.name for t in recipe.targets]
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            raise UsageError(
                f"--target {name}: {recipe.path} has no target of that name",
                hint=f"did you mean {close[0]!r}?" if close else f"its targets are {', '.join(known)}",
            )
    return [t for t in recipe.targets if not names or t.name in names]
