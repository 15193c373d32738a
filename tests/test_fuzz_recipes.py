"""Thousands of mutated recipes: each is refused with a message naming the recipe file,
or loads; a sample of those that load goes through the plan. Never a traceback.

GOPACK_FUZZ_RECIPES sets how many (default 10,000), GOPACK_FUZZ_SEED the seed
(default 17), GOPACK_FUZZ_PLANS how many loadable recipes the plan sees (default 40).
"""

from __future__ import annotations

import collections
import os
import random
import shutil
import traceback
from pathlib import Path

import pytest
from fuzz_recipes import recipes

from gopack import plan
from gopack.errors import GopackError, RecipeError
from gopack.recipe import model as recipe

REPO = Path(__file__).resolve().parent.parent
COUNT = int(os.environ.get("GOPACK_FUZZ_RECIPES", "10000"))
SEED = int(os.environ.get("GOPACK_FUZZ_SEED", "17"))
PLANS = int(os.environ.get("GOPACK_FUZZ_PLANS", "40"))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A copy of examples/ and recipes/, so relative paths resolve; seed name -> its folder."""
    root = tmp_path_factory.mktemp("fuzz")
    for folder in ("examples", "recipes"):
        shutil.copytree(REPO / folder, root / folder, ignore=shutil.ignore_patterns("dist", "__pycache__"))
    found = sorted([*root.glob("examples/*/recipe.yaml"), *root.glob("recipes/*.yaml")])
    assert len(found) >= 5, found
    return {p.relative_to(root).as_posix(): p.parent for p in found}


def test_mutated_recipes_are_refused_cleanly_or_planned(workspace: dict[str, Path], tmp_path: Path) -> None:
    seeds = {name: (folder / Path(name).name).read_text() for name, folder in workspace.items()}
    outcomes: collections.Counter[str] = collections.Counter()
    crashes: list[str] = []
    loadable: list[tuple[str, str, bytes]] = []
    for i, (name, how, raw) in enumerate(recipes(seeds, COUNT, SEED)):
        path = workspace[name] / "fuzz.yaml"
        path.write_bytes(raw)
        try:
            recipe.load(path)
        except RecipeError as err:
            _check_message(err, path, f"#{i} {how}", crashes)
            outcomes["refused by the loader"] += 1
        except Exception:  # noqa: BLE001 - what this test exists to find
            crashes.append(f"#{i} {how} on {name}: {traceback.format_exc(limit=3)}")
        else:
            outcomes["loaded"] += 1
            loadable.append((name, how, raw))
    # The plan runs go list and probes interpreters: a sample of what loaded, not all of it.
    # conda recipes are left out, since creating their environment needs a conda channel.
    candidates = [c for c in loadable if "conda" not in c[0]]
    for name, how, raw in random.Random(SEED).sample(candidates, min(PLANS, len(candidates))):
        path = workspace[name] / "fuzz.yaml"
        path.write_bytes(raw)
        try:
            plan.make(recipe.load(path), cache_dir=tmp_path / "cache")
        except GopackError as err:
            _check_message(err, path, how, crashes, names_file=isinstance(err, RecipeError))
            outcomes[f"refused by the plan ({type(err).__name__})"] += 1
        except Exception:  # noqa: BLE001
            crashes.append(f"plan of {how} on {name}: {traceback.format_exc(limit=3)}")
        else:
            outcomes["planned"] += 1
    print(f"{COUNT} recipes (seed {SEED}): {dict(outcomes)}")
    assert not crashes, f"{len(crashes)} of {COUNT} crashed:\n" + "\n".join(crashes[:10])
    assert outcomes["refused by the loader"] > COUNT // 2, outcomes


def _check_message(err: GopackError, path: Path, what: str, crashes: list[str], *, names_file: bool = True) -> None:
    if names_file and not err.message.startswith(str(path)):
        crashes.append(f"{what}: the message does not name the recipe: {err.message[:300]}")
    lines = err.message.splitlines()
    if len(lines) > 25 or max(map(len, lines)) > 1000:
        crashes.append(f"{what}: a message of {len(lines)} lines, {len(err.message)} characters: {err.message[:300]}")
    if not err.hint and isinstance(err, RecipeError):
        crashes.append(f"{what}: no hint: {err.message[:300]}")
