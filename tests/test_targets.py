"""Several targets in one recipe: the recipe's targets, --target, the plan check of all of them
up front and the table at the end, without building anything."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import EXAMPLES, gopack_cli

from gopack import cli, targets
from gopack.errors import BuildError, RecipeError, UsageError
from gopack.recipe import model as recipe

HELLO = EXAMPLES / "hello"


def write(tmp_path: Path, targets: str, extra: str = "") -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(
        f'name: hello\nversion: "0.1.0"\ninputs_root: /\ngo:\n  module: {HELLO}\npython:\n  version: "3.7"\n  code: [{HELLO / "hello.py"}]\n'
        + extra
        + targets
    )
    return path


def test_targets_load_and_each_becomes_the_target_section(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    path = write(
        tmp_path,
        f"targets:\n  - name: host\n  - name: old\n    glibc: '2.28'\n  - name: arm\n    sysroot: {tmp_path / 'root'}\n    arch: arm64\n",
    )
    loaded = recipe.load(path)
    assert [t.name for t in loaded.targets] == ["host", "old", "arm"]
    old = loaded.for_target(loaded.targets[1])
    assert old.target == recipe.TargetSpec(glibc="2.28") and old.targets == ()
    assert old.where("target.glibc") == f"{path}:12: target.glibc"  # the entry's own line
    arm = loaded.for_target(loaded.targets[2]).target
    assert arm.sysroot == tmp_path / "root" and arm.arch == "arm64"


@pytest.mark.parametrize(
    ("targets", "message"),
    [
        ("targets:\n  - name: a\n  - name: a\n", "targets[1].name: 'a' is also targets[0]'s name"),
        ("target:\n  glibc: '2.28'\ntargets:\n  - name: a\n", "target: cannot be combined with targets"),
        ("max_glibc: '2.28'\ntargets:\n  - name: a\n", "max_glibc: cannot be combined with targets"),
        ("targets:\n  - name: 'two words'\n", "targets[0].name: 'two words' is not valid"),
        ("targets:\n  - glibc: '2.28'\n", "targets[0]: missing required key 'name'"),
        ("targets:\n  - name: a\n    sysroot: nowhere\n", "targets[0].sysroot: 'nowhere' is not an existing directory"),
        ("targets:\n  - name: a\n    glibcc: '2.28'\n", "targets[0].glibcc: unknown key; did you mean 'glibc'?"),
        ("targets: []\n", "targets: "),
    ],
)
def test_targets_problems_are_refused_with_their_line(tmp_path: Path, targets: str, message: str) -> None:
    with pytest.raises(RecipeError) as caught:
        recipe.load(write(tmp_path, targets))
    assert message in caught.value.message, caught.value.message


def test_target_names_are_picked_with_a_did_you_mean(tmp_path: Path) -> None:
    loaded = recipe.load(write(tmp_path, "targets:\n  - name: debian11\n  - name: arm64\n"))
    assert [t.name for t in targets.pick_targets(loaded, ["arm64"])] == ["arm64"]
    assert [t.name for t in targets.pick_targets(loaded, [])] == ["debian11", "arm64"]
    with pytest.raises(UsageError, match="--target debian12: .* has no target of that name") as caught:
        targets.pick_targets(loaded, ["debian12"])
    assert caught.value.hint == "did you mean 'debian11'?"
    with pytest.raises(UsageError, match="lists no targets"):
        targets.pick_targets(recipe.load(HELLO / "recipe.yaml"), ["arm64"])


def test_every_targets_plan_problem_is_reported_together_before_any_work(tmp_path: Path) -> None:
    """Two roots that hold no Debian: both named in one error, and nothing was written."""
    for name in ("empty1", "empty2"):
        (tmp_path / name).mkdir()
    path = write(
        tmp_path,
        f"targets:\n  - name: one\n    sysroot: {tmp_path / 'empty1'}\n  - name: two\n    sysroot: {tmp_path / 'empty2'}\n",
    )
    out = tmp_path / "out"
    result = gopack_cli("bundle", str(path), "-o", str(out), cache=tmp_path / "cache")
    assert result.returncode in (2, 3), result.stderr
    assert "2 of 2 targets cannot be built" in result.stderr and "one: " in result.stderr and "two: " in result.stderr
    assert str(tmp_path / "empty1") in result.stderr and str(tmp_path / "empty2") in result.stderr
    assert "Traceback" not in result.stderr and not out.exists()
    mixed = gopack_cli("bundle", str(path), "--target-glibc", "2.28", cache=tmp_path / "cache")
    assert mixed.returncode == 6 and "--target-glibc: " in mixed.stderr and "lists targets" in mixed.stderr


def test_the_table_says_what_became_of_each_target() -> None:
    failed = targets.TargetResult(name="arm64", seconds=3.25, error=BuildError("go build failed\nmore"))
    lines = cli.target_table([failed])
    assert lines[0].split() == ["target", "archive", "size", "floor", "/", "tag", "time"]
    assert lines[1].startswith("arm64   FAILED: go build failed") and lines[1].endswith("3.2 s")
