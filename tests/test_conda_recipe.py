"""Unit tests of the conda side of a recipe: python.conda in the recipe, and environment.yml reading."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from test_recipe import assert_problem, load_error, make_project, write_recipe

from gopack.errors import RecipeError
from gopack.python import conda
from gopack.recipe import model as recipe

HEAD = """\
name: hello
version: "0.1.0"
go:
  module: .
python:
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = make_project(tmp_path / "proj")
    (root / "environment.yml").write_text("channels: [conda-forge]\ndependencies: [python=3.7]\n")
    return root


@pytest.mark.parametrize(
    ("key", "value"),
    [
        # A prefix is relative to the recipe; whether it exists is the plan's business (its own message).
        ("prefix", lambda project: (project / "env").resolve()),
        ("name", lambda project: "sk"),
        ("environment_file", lambda project: (project / "environment.yml").resolve()),
    ],
)
def test_one_conda_source_loads_without_python_version(project: Path, key: str, value: Callable[[Path], object]) -> None:
    written = {"prefix": "env", "name": "sk", "environment_file": "environment.yml"}[key]
    loaded = recipe.load(write_recipe(project, HEAD + f"  conda:\n    {key}: {written}\n"))
    spec = loaded.python.conda
    assert spec is not None and loaded.python.version is None
    assert getattr(spec, key) == value(project)
    assert [k for k in ("prefix", "name", "environment_file") if getattr(spec, k) is not None] == [key]
    assert loaded.where(spec.key) == f"{project / 'recipe.yaml'}:7: python.conda.{key}"


def test_conda_with_a_python_version_keeps_it(project: Path) -> None:
    loaded = recipe.load(write_recipe(project, HEAD + '  version: "3.7"\n  conda:\n    name: sk\n'))
    assert loaded.python.version == "3.7"


@pytest.mark.parametrize("body", ["  conda: {}\n", "  conda:\n    name: sk\n    prefix: env\n"])
def test_conda_needs_exactly_one_source(project: Path, body: str) -> None:
    path = write_recipe(project, HEAD + body)
    err = load_error(path)
    assert_problem(err, path, 6, "python.conda: set exactly one of prefix, name, environment_file")


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("requirements", "[six]", "list the packages in the environment"),
        ("requirements_file", "environment.yml", "list the packages in the environment"),
        ("interpreter", "environment.yml", "the environment's own python is used"),
    ],
)
def test_conda_excludes_the_other_python_sources(project: Path, key: str, value: str, fragment: str) -> None:
    path = write_recipe(project, HEAD + "  conda:\n    name: sk\n" + f"  {key}: {value}\n")
    err = load_error(path)
    assert_problem(err, path, 8, f"python.{key}: cannot be combined with python.conda (one Python source per recipe)", fragment)


def test_without_conda_python_version_is_required(project: Path) -> None:
    path = write_recipe(project, HEAD + "  code: [hello.py]\n")
    err = load_error(path)
    assert_problem(err, path, 5, "python: missing required key 'version' (or set python.conda")


def test_a_missing_environment_file_is_named(project: Path) -> None:
    path = write_recipe(project, HEAD + "  conda:\n    environment_file: nope.yml\n")
    err = load_error(path)
    assert_problem(err, path, 7, "python.conda.environment_file: 'nope.yml' is not an existing file")


def test_a_name_with_a_slash_is_refused(project: Path) -> None:
    path = write_recipe(project, HEAD + "  conda:\n    name: envs/sk\n")
    err = load_error(path)
    assert_problem(err, path, 7, "python.conda.name")


# -- environment.yml ----------------------------------------------------------------------------


def read(tmp_path: Path, text: str) -> conda.EnvironmentFile:
    path = tmp_path / "environment.yml"
    path.write_text(text)
    return conda.read_environment_file(path)


def test_environment_file_specs_pip_and_local_channels(tmp_path: Path) -> None:
    env = read(
        tmp_path,
        "name: sk\nchannels:\n  - ./channel\n  - conda-forge\n  - https://example.org/ch\n"
        "dependencies:\n  - python=3.7\n  - scikit-learn 1.0.2\n  - pip:\n    - six==1.16.0\n",
    )
    assert env.channels == ((tmp_path / "channel").resolve().as_uri(), "conda-forge", "https://example.org/ch")
    assert env.dependencies == ("python=3.7", "scikit-learn 1.0.2")
    assert env.pip == ("six==1.16.0",)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("channels: [c]\ndependencies: [numpy]\n", "dependencies: name python (e.g. python=3.7)"),
        ("dependencies: [python=3.7]\n", "channels: must be a non-empty list"),
        ("channels: [c]\ndependencies:\n  - python=3.7\n  - {conda: [x]}\n", "each item is a package spec"),
        ("- just\n- a list\n", "an environment file is a mapping"),
        ("channels: [c]\ndependencies: [python=3.7\n", ":3: not valid YAML"),
    ],
)
def test_bad_environment_files_are_named(tmp_path: Path, text: str, fragment: str) -> None:
    with pytest.raises(RecipeError) as info:
        read(tmp_path, text)
    assert info.value.message.startswith(str(tmp_path / "environment.yml"))
    assert fragment in info.value.message, info.value.message
    assert info.value.hint


@pytest.mark.parametrize(
    ("spec", "name"),
    [
        ("python=3.7", "python"),
        ("conda-forge::Python >=3.7", "python"),
        ("scikit-learn 1.0.2", "scikit-learn"),
        ("numpy<2", "numpy"),
        ("pkg[build=x]", "pkg"),
    ],
)
def test_spec_names(spec: str, name: str) -> None:
    assert conda._spec_name(spec) == name
