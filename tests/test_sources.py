"""Which sources ship beside the bytecode (pure logic, and the recipe key)."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest
from conftest import require_pyenv

from gopack.errors import RecipeError
from gopack.python import bytecode, imports, sources
from gopack.recipe import model as recipe

RECIPE = 'name: hello\nversion: "1"\ngo: {{}}\npython:\n  version: "3.12"\n  sources: {value}\n'


def load(tmp_path: Path, value: str) -> recipe.Recipe:
    (tmp_path / "go.mod").write_text("module example.com/hello\n\ngo 1.21\n")
    path = tmp_path / "recipe.yaml"
    path.write_text(RECIPE.format(value=value))
    return recipe.load(path)


def test_doctests() -> None:
    for module in (sources, imports):
        result = doctest.testmod(module, verbose=False, report=False)
        assert result.attempted > 0 and result.failed == 0, module.__name__


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("false", False), ("[numba, 'torch*']", ("numba", "torch*")), ("[]", False)],
)
def test_python_sources_is_a_boolean_or_names_and_globs(tmp_path: Path, value: str, expected: object) -> None:
    assert load(tmp_path, value).python.sources == expected


def test_python_sources_refuses_what_is_no_distribution_name(tmp_path: Path) -> None:
    with pytest.raises(RecipeError) as info:
        load(tmp_path, "['numba/x']")
    assert "recipe.yaml:6" in info.value.message and "python.sources" in info.value.message


def distribution(site: Path, name: str, version: str, files: list[str]) -> None:
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "RECORD").write_text("".join(f"{f},,\n" for f in files))
    for f in files:
        (site / f).parent.mkdir(parents=True, exist_ok=True)
        (site / f).write_text("x = 1\n")


@pytest.mark.parametrize(
    ("setting", "kept", "app"),
    [
        (False, {"opencv-python-headless"}, False),  # a known rule, whatever the recipe says
        (("Six",), {"opencv-python-headless", "six"}, False),
        (True, {"opencv-python-headless", "six", "torchlike"}, True),
    ],
)
def test_known_distributions_and_named_ones_keep_their_sources(
    tmp_path: Path, setting: bool | tuple[str, ...], kept: set[str], app: bool
) -> None:
    root = tmp_path
    site = root / "python/lib/python3.12/site-packages"
    distribution(site, "opencv-python-headless", "5.0", ["cv2/__init__.py", "cv2/config.py", "cv2/data/x.xml"])
    distribution(site, "six", "1.17", ["six.py"])
    distribution(site, "torchlike", "1.0", ["torchlike/__init__.py"])
    owners = {
        f"python/lib/python3.12/site-packages/{p}": n
        for n, ps in [
            ("opencv-python-headless", ["cv2/__init__.py", "cv2/config.py", "cv2/data/x.xml"]),
            ("six", ["six.py"]),
            ("torchlike", ["torchlike/__init__.py"]),
        ]
        for p in ps
    }
    decision = sources.decide(setting, site, owners)
    expected = kept
    assert {k.distribution for k in decision.kept} == expected
    assert decision.app is app
    keep = decision.keep(root)
    assert keep(site / "cv2/config.py") and keep(site / "cv2/__init__.py")
    assert keep(site / "six.py") is ("six" in expected)
    why = {k.distribution: k.why for k in decision.kept}
    assert "config.py" in why["opencv-python-headless"]
    assert {k.distribution: k.files for k in decision.kept}["opencv-python-headless"] == 2  # .py files only


def test_kept_sources_get_cached_bytecode_and_the_rest_the_sourceless_layout(tmp_path: Path) -> None:
    folder = tmp_path / "site"
    (folder / "keep").mkdir(parents=True)
    (folder / "keep/config.py").write_text("A = 1\n")
    (folder / "drop.py").write_text("B = 2\n")
    python = require_pyenv("3.7") / "bin" / "python3.7"
    with bytecode.Background(python, relative_to=tmp_path, version="3.7", keep_sources=False, epoch=315532800) as compiling:
        compiling.add(folder, keep=lambda source: source.parent.name == "keep")
    assert (folder / "keep/config.py").exists() and list((folder / "keep/__pycache__").glob("config.*.pyc"))
    assert not (folder / "drop.py").exists() and (folder / "drop.pyc").exists()
