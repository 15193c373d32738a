"""The recipe loader refuses what no command line, environment or file name can carry,
inputs that are not plain files and folders, and prune rules that would break every bundle.

Each case once passed the schema and crashed later with a traceback (ENAMETOOLONG,
E2BIG, "embedded null byte", "illegal environment variable name", a copy of /etc).
"""

from __future__ import annotations

import copy
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gopack.errors import RecipeError
from gopack.recipe import limits
from gopack.recipe import model as recipe

MINIMAL = """\
name: hello
version: "0.1.0"
go:
  module: .
python:
  version: "3.7"
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "go.mod").write_text("module example.com/hello\n")
    (root / "hello.py").write_text("print('hi')\n")
    return root


def refused(path: Path) -> RecipeError:
    with pytest.raises(RecipeError) as info:
        recipe.load(path)
    assert info.value.exit_code == 2
    assert len(info.value.message) < 2000, "a message quotes at most a short prefix of a value"
    return info.value


def problem(err: RecipeError, path: Path, line: int, *fragments: str) -> str:
    for message in re.findall(rf"^\s*{re.escape(str(path))}:{line}: (.*)$", err.message, flags=re.MULTILINE):
        if all(f in message for f in fragments):
            return message
    raise AssertionError(f"no problem at line {line} with {fragments!r} in:\n{err.message}")


def write(project: Path, text: str) -> Path:
    path = project / "recipe.yaml"
    path.write_text(text)
    return path


# -- the recipe file itself -----------------------------------------------------------------------


def test_a_fifo_is_refused_without_waiting_for_a_writer(project: Path) -> None:
    path = project / "recipe.yaml"
    os.mkfifo(path)
    assert refused(path).message == f"{path}: is a FIFO, not a recipe file"


def test_a_device_is_refused_without_reading_it() -> None:
    assert refused(Path("/dev/zero")).message == "/dev/zero: is a device, not a recipe file"


def test_an_oversized_recipe_is_refused_before_it_is_parsed(project: Path) -> None:
    path = write(project, MINIMAL + "# " + "x" * limits.MAX_FILE_BYTES + "\n")
    assert "is too large for a recipe (at most 256 KiB)" in refused(path).message


def test_bytes_that_are_not_utf8_are_placed_on_their_line(project: Path) -> None:
    path = project / "recipe.yaml"
    path.write_bytes(MINIMAL.encode() + b"# caf\xe9\n")
    assert refused(path).message.startswith(f"{path}:7: not UTF-8 text")


def test_nesting_too_deep_names_its_line(project: Path) -> None:
    path = write(project, MINIMAL + "extra: " + "[" * 3000 + "]" * 3000 + "\n")
    assert refused(path).message == f"{path}:7: nested too deeply to read"


def test_a_bad_explicit_tag_names_its_line_and_key(project: Path) -> None:
    path = write(project, MINIMAL.replace('version: "3.7"', "version: !!int three"))
    assert refused(path).message.startswith(f"{path}:6: python.version: a value cannot be read as its YAML tag says")


# -- values -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("addition", "line", "fragments"),
    [
        ('  env: {"A=B": x}\n', 5, ("go.env:", "'A=B' cannot be an environment variable's name")),
        ('  flags: ["-v\\n-x"]\n', 5, ("go.flags[0]:", "holds a line break")),
        ('  ldflags: "a\\0b"\n', 5, ("go.ldflags: holds a NUL byte",)),
        ('  package: "./cmd\\0"\n', 5, ("go.package: holds a NUL byte",)),
    ],
)
def test_go_values_that_no_command_can_carry(project: Path, addition: str, line: int, fragments: tuple[str, ...]) -> None:
    path = write(project, MINIMAL.replace("  module: .\n", "  module: .\n" + addition))
    problem(refused(path), path, line, *fragments)


def test_a_huge_value_is_quoted_by_a_short_prefix(project: Path) -> None:
    path = write(project, MINIMAL.replace("  module: .\n", f'  module: .\n  ldflags: "{"x" * 200_000}"\n'))
    message = problem(
        refused(path), path, 5, "go.ldflags: 'xxxx", f"({200_000} characters) is too long (at most {limits.MAX_VALUE} characters)"
    )
    assert len(message) < 200


def test_aliases_that_expand_past_the_argument_limit(project: Path) -> None:
    value = "x" * 4000
    flags = ", ".join(["&s " + value] + ["*s"] * 80)
    path = write(project, MINIMAL.replace("  module: .\n", f"  module: .\n  flags: [{flags}]\n"))
    assert "values add up to 316 KiB after aliases are expanded (at most 256 KiB)" in refused(path).message


def test_name_and_version_too_long_for_the_archive_name(project: Path) -> None:
    path = write(project, MINIMAL.replace("name: hello", f"name: {'n' * 150}").replace('version: "0.1.0"', f'version: "{"1" * 60}"'))
    problem(refused(path), path, 1, "name: with version, 211 bytes is too long for the archive's file name")


# -- inputs ----------------------------------------------------------------------------------------


def test_code_outside_the_recipe_folder_is_refused(project: Path) -> None:
    path = write(project, MINIMAL + "  code: [../../../../../../../etc]\n")
    problem(refused(path), path, 7, "python.code[0]: '../../../../../../../etc' is /etc, outside the recipe's folder", "set inputs_root")


def test_a_device_as_code_is_refused(project: Path) -> None:
    path = write(project, MINIMAL + "  code: [/dev/zero]\n")
    problem(refused(path), path, 7, "python.code[0]: '/dev/zero' is /dev/zero, outside")
    path = write(project, "inputs_root: /\n" + MINIMAL + "  code: [/dev/zero]\n")
    problem(refused(path), path, 8, "python.code[0]: /dev/zero is a device; only regular files and folders can be inputs")


def test_a_fifo_inside_a_code_folder_is_refused(project: Path) -> None:
    (project / "pkg").mkdir()
    (project / "pkg" / "__init__.py").write_text("")
    os.mkfifo(project / "pkg" / "pipe")
    path = write(project, MINIMAL + "  code: [pkg]\n")
    problem(refused(path), path, 7, f"python.code[0]: {project.resolve() / 'pkg' / 'pipe'} inside it is a FIFO")


def test_inputs_root_lets_a_recipe_name_a_sibling_folder(tmp_path: Path) -> None:
    program = tmp_path / "program"
    program.mkdir()
    (program / "go.mod").write_text("module example.com/hello\n")
    (program / "hello.py").write_text("")
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    text = MINIMAL.replace("  module: .", "  module: ../program") + "  code: [../program/hello.py]\n"
    path = write(recipes, text)
    problem(refused(path), path, 4, "go.module: '../program' is", "outside the recipe's folder")
    path = write(recipes, "inputs_root: ..\n" + text)
    loaded = recipe.load(path)
    assert loaded.python.code == ((program / "hello.py").resolve(),)


def test_shipped_recipes_stay_inside_their_inputs_root() -> None:
    shipped = Path(__file__).resolve().parent.parent
    for path in sorted([*shipped.glob("recipes/*.yaml"), *shipped.glob("examples/*/recipe.yaml")]):
        recipe.load(path)


# -- prune rules -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "removes"),
    [
        ("**", "python/lib/libpython3.7m.so.1.0"),
        ("python/lib/*.so*", "python/lib/libpython3.7m.so.1.0"),
        ("python/lib/python*/encodings", "python/lib/python3.7/encodings/__init__.py"),
        ("**/lib-dynload", "python/lib/python3.7/lib-dynload"),
    ],
)
def test_a_prune_rule_that_removes_what_every_bundle_needs(project: Path, rule: str, removes: str) -> None:
    path = write(project, MINIMAL + f"prune:\n  drop: [x.txt, '{rule}']\n")
    problem(refused(path), path, 8, f"prune.drop[1]: {rule!r} removes {removes}", "add a prune.keep rule")


def test_a_keep_rule_makes_a_broad_drop_rule_acceptable(project: Path) -> None:
    path = write(project, MINIMAL + "prune:\n  drop: ['python/lib/python*/encodings']\n  keep: ['**/encodings']\n")
    assert recipe.load(path).prune.drop == ("python/lib/python*/encodings",)


def test_the_interpreter_is_kept_by_default_but_not_without_defaults(project: Path) -> None:
    path = write(project, MINIMAL + "prune:\n  drop: ['python/bin/*', '**/*.pyc']\n")
    recipe.load(path)
    path = write(project, MINIMAL + "prune:\n  defaults: false\n  drop: ['python/bin/*']\n")
    problem(refused(path), path, 9, "prune.drop[0]: 'python/bin/*' removes python/bin/python3.7")


# -- every string that reaches a command, the environment or a file name ---------------------------

BASE: dict[str, Any] = {
    "name": "hello",
    "version": "0.1.0",
    "go": {
        "module": ".",
        "package": ".",
        "binary": "hello",
        "tags": ["netgo"],
        "flags": ["-v"],
        "ldflags": "-X a=b",
        "env": {"GOFLAGS": "-mod=mod"},
    },
    "python": {"version": "3.7", "requirements": ["six"], "code": ["hello.py"]},
    "smoke": {"command": ["bin/hello"], "expect": ["ok"]},
    "output": {"dir": "dist"},
    "prune": {"drop": ["**/*.txt"], "keep": ["**/keep.txt"]},
}


def _string_fields(value: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, str):
        yield at
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _string_fields(item, (*at, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _string_fields(item, (*at, i))


STRING_FIELDS = list(_string_fields(BASE))
hostile = st.one_of(
    st.tuples(st.text(max_size=20), st.text(max_size=20)).map(lambda p: p[0] + "\x00" + p[1]),
    st.integers(limits.MAX_VALUE + 1, 3 * limits.MAX_VALUE).map(lambda n: "v" * n),
    st.integers(limits.NAME_MAX + 1, 1000).map(lambda n: "d" * n),
    st.sampled_from(["a\nb", "-flag\r", "x\n"]),
)


@contextmanager
def project_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="gopack-limits-") as tmp:
        root = Path(tmp)
        (root / "go.mod").write_text("module example.com/hello\n")
        (root / "hello.py").write_text("")
        yield root


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(STRING_FIELDS), hostile)
def test_no_hostile_string_gets_past_the_loader(at: tuple[Any, ...], value: str) -> None:
    """Every string field: a NUL, a huge value, an over-long name or a line break is a
    RecipeError naming file, line and key, never a traceback, never a Recipe."""
    data = copy.deepcopy(BASE)
    target: Any = data
    for step in at[:-1]:
        target = target[step]
    target[at[-1]] = value
    text = yaml.safe_dump(data, allow_unicode=True, width=1 << 20)
    with project_dir() as root:
        path = root / "recipe.yaml"
        path.write_text(text)
        try:
            loaded = recipe.load(path)
        except RecipeError as err:
            assert err.exit_code == 2
            assert re.search(rf"{re.escape(str(path))}:\d+: ", err.message), err.message
            assert len(err.message) < 2000
            return
    # Only values the OS can carry get through: a long name where names are not files, or a
    # line break where the text is only matched against output.
    assert "\x00" not in value and len(value) <= limits.MAX_VALUE, loaded
    assert at[:2] == ("smoke", "expect") or "\n" not in value and "\r" not in value, at
