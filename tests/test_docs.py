"""The recipe reference documents every key of the schema, and every default pruning rule."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from conftest import REPO
from gopack import prune, recipe


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
    assert [r.glob for r in (*prune.DEFAULT_RULES, *prune.DEFAULT_KEEP) if f"`{r.glob}`" not in reference] == []
