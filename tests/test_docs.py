"""The recipe reference documents every key of the schema, and every default pruning rule."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from conftest import REPO

from gopack.recipe import model as recipe
from gopack.recipe import prune_rules


def keys(node: dict[str, Any], prefix: str = "") -> Iterator[str]:
    for name, child in node.get("properties", {}).items():
        if "properties" in child:
            yield from keys(child, f"{prefix}{name}.")
        else:
            yield prefix + name


def test_every_recipe_key_is_in_the_reference() -> None:
    reference = (REPO / "docs" / "recipe.md").read_text()
    missing = [k for k in keys(recipe.schema()) if f"`{k}`" not in reference]
    assert missing == []


def test_every_default_pruning_rule_is_in_the_reference() -> None:
    reference = (REPO / "docs" / "recipe.md").read_text()
    assert [r.glob for r in (*prune_rules.DEFAULT_RULES, *prune_rules.DEFAULT_KEEP) if f"`{r.glob}`" not in reference] == []


def test_every_shipped_recipe_loads() -> None:
    shipped = sorted((REPO / "recipes").glob("*.yaml")) + sorted((REPO / "examples").glob("**/recipe.yaml"))
    assert len(shipped) >= 8
    for path in shipped:
        loaded = recipe.load(path)
        assert loaded.python.conda is None or loaded.python.conda.environment_file is None or loaded.python.conda.environment_file.is_file()


def test_the_readme_names_every_recipe_under_recipes() -> None:
    readme = (REPO / "README.md").read_text() + (REPO / "docs" / "recipe.md").read_text()
    conda_recipes = [p.name for p in (REPO / "recipes").glob("*.yaml") if "conda" in p.read_text()]
    assert conda_recipes and all(name in readme for name in conda_recipes)
