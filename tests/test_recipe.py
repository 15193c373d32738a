"""Unit tests of gopack.recipe.model.load: recipes are written into tmp_path."""

from __future__ import annotations

import dataclasses
import re
import textwrap
from pathlib import Path
from unittest import mock

import pytest
from conftest import cli_state

from gopack import cli, pipeline
from gopack.errors import GopackError, RecipeError
from gopack.recipe import model as recipe
from gopack.recipe.model import GoSpec, OutputSpec, PythonSpec, Recipe, SmokeSpec

MINIMAL = """\
name: hello
version: "0.1.0"
go:
  module: .
python:
  version: "3.7"
"""


def make_project(root: Path) -> Path:
    """A module directory with go.mod and hello.py; returns it."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "go.mod").write_text("module example.com/hello\n\ngo 1.21\n")
    (root / "hello.py").write_text("print('hello')\n")
    return root


def write_recipe(directory: Path, text: str, name: str = "recipe.yaml") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load_error(path: Path) -> RecipeError:
    """Load ``path``, expecting a RecipeError, and check what every RecipeError must be."""
    with pytest.raises(RecipeError) as info:
        recipe.load(path)
    err = info.value
    assert isinstance(err, GopackError)
    assert err.exit_code == 2
    assert type(err).exit_code == 2
    assert err.message.startswith(str(path)), err.message
    assert str(err) == err.message
    return err


def problem_lines(err: RecipeError, path: Path) -> dict[int, list[str]]:
    """The ``  path:LINE: message`` lines of a multi-problem error, by line number."""
    out: dict[int, list[str]] = {}
    for line in err.message.splitlines()[1:]:
        match = re.fullmatch(rf"  {re.escape(str(path))}:(\d+): (.*)", line)
        assert match, f"not a 'path:LINE: message' line: {line!r}"
        out.setdefault(int(match.group(1)), []).append(match.group(2))
    return out


def assert_problem(err: RecipeError, path: Path, line: int, *fragments: str) -> str:
    """Some problem at ``line`` contains every fragment; returns it."""
    assert f"{path}:{line}:" in err.message, err.message
    for message in problem_lines(err, path).get(line, []):
        if all(f in message for f in fragments):
            return message
    raise AssertionError(f"no problem at line {line} with {fragments!r} in:\n{err.message}")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "proj")


# -- valid recipes ---------------------------------------------------------------------------


def test_minimal_recipe_defaults(project: Path) -> None:
    path = write_recipe(project, MINIMAL)
    r = recipe.load(path)
    base = project.resolve()
    assert isinstance(r, Recipe)
    assert r.path == path
    assert r.name == "hello"
    assert r.version == "0.1.0"
    assert r.go == GoSpec(module=base, package=".", binary="hello", tags=(), flags=(), ldflags="", env=())
    assert r.python == PythonSpec(version="3.7", interpreter=None, requirements=(), requirements_file=None, code=(), project=None)
    assert r.python.sources is False  # bytecode only unless the recipe asks for sources
    assert r.smoke == SmokeSpec(command=("bin/hello",), expect=(), timeout=300.0)
    assert r.output == OutputSpec(dir=base / "dist", format="tar.gz")
    assert r.max_glibc is None
    assert isinstance(r.smoke.timeout, float)


def test_go_module_defaults_to_recipe_dir(project: Path) -> None:
    path = write_recipe(project, 'name: hello\nversion: "1"\ngo: {}\npython: {version: "3.7"}\n')
    assert recipe.load(path).go.module == project.resolve()


def test_binary_default_follows_name_and_smoke_follows_binary(project: Path) -> None:
    path = write_recipe(project, MINIMAL.replace("name: hello", "name: my-app"))
    r = recipe.load(path)
    assert r.go.binary == "my-app"
    assert r.smoke.command == ("bin/my-app",)

    path = write_recipe(project, MINIMAL.replace("  module: .", "  module: .\n  binary: prog"))
    r = recipe.load(path)
    assert r.name == "hello"
    assert r.go.binary == "prog"
    assert r.smoke.command == ("bin/prog",)


def test_recipe_is_frozen(project: Path) -> None:
    r = recipe.load(write_recipe(project, MINIMAL))
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.name = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.go.binary = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.python.version = "3.8"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.smoke.timeout = 1.0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.output.dir = Path("/")  # type: ignore[misc]
    for spec in (r, r.go, r.python, r.smoke, r.output):
        assert dataclasses.is_dataclass(spec)
        assert type(spec).__dataclass_params__.frozen  # type: ignore[attr-defined]


def test_full_recipe(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    module = make_project(root / "gosrc")
    (root / "py").mkdir()
    (root / "py" / "pkg").mkdir()
    (root / "py" / "mod.py").write_text("")
    (root / "requirements.txt").write_text("six==1.16.0\n")
    (root / "proj").mkdir()
    (root / "proj" / "pyproject.toml").write_text("[project]\nname='p'\n")
    (root / "fake-python").write_text("#!/bin/sh\n")
    path = write_recipe(
        root,
        """\
        name: app
        version: "2.0.1+local"
        max_glibc: "2.28"
        go:
          module: gosrc
          package: ./cmd/app
          binary: app-bin
          tags: [netgo, "!cgo_off"]
          flags: ["-race", "-v"]
          ldflags: "-s -w"
          env:
            GOPRIVATE: example.com
            GOFLAGS: -mod=mod
        python:
          version: "3.11"
          interpreter: fake-python
          requirements:
            - "numpy>=1.20"
            - "requests[socks] ; python_version >= '3'"
          requirements_file: requirements.txt
          code:
            - py/mod.py
            - py/pkg
          project: proj
        smoke:
          command: [bin/app-bin, --check]
          expect: ["ok", "done"]
          timeout: 12
        output:
          dir: out/archives
          format: tar.gz
        """,
    )
    r = recipe.load(path)
    base = root.resolve()
    assert r.name == "app"
    assert r.version == "2.0.1+local"
    assert r.max_glibc == "2.28"
    assert r.go == GoSpec(
        module=module.resolve(),
        package="./cmd/app",
        binary="app-bin",
        tags=("netgo", "!cgo_off"),
        flags=("-race", "-v"),
        ldflags="-s -w",
        env=(("GOFLAGS", "-mod=mod"), ("GOPRIVATE", "example.com")),
    )
    assert r.python.version == "3.11"
    assert r.python.interpreter is not None and r.python.interpreter.resolve() == base / "fake-python"
    assert r.python.requirements == ("numpy>=1.20", "requests[socks] ; python_version >= '3'")
    assert r.python.requirements_file == base / "requirements.txt"
    assert r.python.code == (base / "py" / "mod.py", base / "py" / "pkg")
    assert r.python.project == base / "proj"
    assert r.smoke == SmokeSpec(command=("bin/app-bin", "--check"), expect=("ok", "done"), timeout=12.0)
    assert isinstance(r.smoke.timeout, float)
    assert r.output == OutputSpec(dir=base / "out" / "archives", format="tar.gz")
    # lines of every key are kept for later messages
    assert r.lines["name"] == 1
    assert r.lines["max_glibc"] == 3
    assert r.lines["go.env.GOFLAGS"] == 13
    assert r.lines["python.version"] == 15
    assert r.lines["python.code[1]"] == 23
    assert r.where("python.version") == f"{path}:15: python.version"
    assert r.where("no.such.key") == f"{path}: no.such.key"


def test_paths_resolved_relative_to_recipe_not_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "somewhere" / "deep"
    make_project(root / "mod")
    (root / "code.py").write_text("")
    path = write_recipe(
        root,
        """\
        name: hello
        version: "1"
        go:
          module: mod
        python:
          version: "3.7"
          code: [code.py]
        output:
          dir: ../out
        """,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "mod").mkdir()  # a decoy with no go.mod: must not be what is looked at
    monkeypatch.chdir(elsewhere)
    r = recipe.load(path)
    base = root.resolve()
    assert r.go.module == base / "mod"
    assert r.python.code == (base / "code.py",)
    assert r.output.dir == (tmp_path / "somewhere" / "out").resolve()

    # a relative recipe path: still relative to the recipe, and the given path is kept
    monkeypatch.chdir(tmp_path)
    rel = Path("somewhere/deep/recipe.yaml")
    r = recipe.load(rel)
    assert r.path == rel
    assert r.go.module == base / "mod"
    assert r.output.dir == (tmp_path / "somewhere" / "out").resolve()


def test_load_accepts_str_path(project: Path) -> None:
    path = write_recipe(project, MINIMAL)
    assert recipe.load(str(path)).name == "hello"  # type: ignore[arg-type]


def test_comments_and_utf8_bom_are_fine(project: Path) -> None:
    path = project / "recipe.yaml"
    path.write_text("\ufeff# a comment\n" + MINIMAL + "# trailing comment\n", encoding="utf-8")
    assert recipe.load(path).name == "hello"


# -- unknown keys ---------------------------------------------------------------------------


def test_unknown_top_level_key_did_you_mean(project: Path) -> None:
    path = write_recipe(project, MINIMAL.replace("name: hello", "nmae: hello"))
    err = load_error(path)
    assert_problem(err, path, 1, "nmae", "unknown key", "did you mean 'name'?")
    assert_problem(err, path, 1, "missing required key 'name'")
    assert err.hint and "docs/recipe.md" in err.hint


def test_unknown_nested_key_did_you_mean(project: Path) -> None:
    path = write_recipe(
        project,
        """\
        name: hello
        version: "0.1.0"
        go:
          module: .
        python:
          verison: "3.7"
        """,
    )
    err = load_error(path)
    assert_problem(err, path, 6, "python.verison: unknown key", "did you mean 'version'?")
    assert_problem(err, path, 5, "python: missing required key 'version'")


@pytest.mark.parametrize(
    ("section", "typo", "meant"),
    [
        ("go", "modul", "module"),
        ("go", "pakage", "package"),
        ("go", "ldflag", "ldflags"),
        ("smoke", "expects", "expect"),
        ("smoke", "timout", "timeout"),
        ("output", "dirr", "dir"),
        ("python", "requirement", "requirements"),
    ],
)
def test_unknown_key_in_each_section(project: Path, section: str, typo: str, meant: str) -> None:
    if section == "go":
        text = MINIMAL.replace("  module: .\n", f"  module: .\n  {typo}: x\n")
    elif section == "python":
        text = MINIMAL.replace('  version: "3.7"\n', f'  version: "3.7"\n  {typo}: x\n')
    else:
        text = MINIMAL + f"{section}:\n  {typo}: x\n"
    lineno = text.splitlines().index(f"  {typo}: x") + 1
    path = write_recipe(project, text)
    err = load_error(path)
    assert_problem(err, path, lineno, f"{section}.{typo}: unknown key", f"did you mean '{meant}'?")
    assert err.message.splitlines()[0] == f"{path}: 1 problem in the recipe:"


def test_unknown_key_with_no_close_match_lists_known_keys(project: Path) -> None:
    path = write_recipe(project, MINIMAL + "zzzzzz: 1\n")
    err = load_error(path)
    message = assert_problem(err, path, 7, "zzzzzz: unknown key")
    assert "known keys here: go, inputs_root, max_glibc, name, output, prune, python, smoke, target, targets, version" in message


# -- wrong types and values ------------------------------------------------------------------


def test_python_version_float(project: Path) -> None:
    path = write_recipe(project, MINIMAL.replace('version: "3.7"', "version: 3.7"))
    err = load_error(path)
    message = assert_problem(err, path, 6, "python.version", "expected a string")
    assert '"3.7"' in message
    assert "write it quoted" in message
    assert err.message.count("\n") == 1  # exactly one problem


def test_top_level_version_int(project: Path) -> None:
    path = write_recipe(project, MINIMAL.replace('version: "0.1.0"', "version: 1"))
    err = load_error(path)
    assert_problem(err, path, 2, "version: expected a string", '"1"')


@pytest.mark.parametrize(
    ("replace", "by", "line", "fragments"),
    [
        ("  module: .", "  module: [a]", 4, ("go.module: expected a string, got a list",)),
        ("name: hello", "name: true", 1, ("name: expected a string, got a boolean",)),
        ("name: hello", "name:", 1, ("name: expected a string, got nothing",)),
        ("name: hello", "name: -bad name", 1, ("name: '-bad name' is not valid",)),
        ('  version: "3.7"', '  version: "3.7.1"', 6, ("python.version: '3.7.1' is not valid",)),
        ("name: hello", "name: hello\nmax_glibc: 2.28", 2, ("max_glibc: expected a string", '"2.28"')),
        ("name: hello", 'name: hello\nmax_glibc: "3.1"', 2, ("max_glibc: '3.1' is not valid",)),
        ("name: hello", 'name: hello\nmax_glbc: "2.28"', 2, ("max_glbc: unknown key", "did you mean 'max_glibc'?")),
        ('python:\n  version: "3.7"\n', "python: 3\n", 5, ("python: expected a mapping, got a number",)),
        ("go:\n  module: .\n", "go: [module]\n", 3, ("go: expected a mapping, got a list",)),
    ],
)
def test_field_errors(project: Path, replace: str, by: str, line: int, fragments: tuple[str, ...]) -> None:
    text = MINIMAL.replace(replace, by)
    assert text != MINIMAL
    path = write_recipe(project, text)
    err = load_error(path)
    assert_problem(err, path, line, *fragments)


def test_smoke_and_output_values(project: Path) -> None:
    path = write_recipe(
        project,
        MINIMAL
        + textwrap.dedent("""\
        smoke:
          command: []
          timeout: 0
          expect: [""]
        output:
          format: tar.bz2
        """),
    )
    err = load_error(path)
    assert_problem(err, path, 8, "smoke.command")
    assert_problem(err, path, 9, "smoke.timeout")
    assert_problem(err, path, 10, "smoke.expect[0]")
    assert_problem(err, path, 12, "output.format: 'tar.bz2' is not one of 'tar.gz', 'tar.zst', 'zip'")


# -- missing required keys -------------------------------------------------------------------


def test_missing_required_top_level_keys(project: Path) -> None:
    path = write_recipe(project, "version: '1'\n")
    err = load_error(path)
    for key in ("name", "go", "python"):
        assert_problem(err, path, 1, f"recipe: missing required key '{key}'")
    assert "missing required key 'version'" not in err.message
    assert err.message.splitlines()[0] == f"{path}: 3 problems in the recipe:"


def test_missing_python_version(project: Path) -> None:
    path = write_recipe(project, 'name: hello\nversion: "1"\ngo: {}\npython:\n  code: [hello.py]\n')
    err = load_error(path)
    assert_problem(err, path, 4, "python: missing required key 'version'")
    assert err.message.splitlines()[0] == f"{path}: 1 problem in the recipe:"


# -- YAML-level problems ---------------------------------------------------------------------


def test_duplicate_top_level_key(project: Path) -> None:
    path = write_recipe(project, MINIMAL + "name: again\n")
    err = load_error(path)
    assert err.message == f"{path}:7: name: key given twice"
    assert err.hint == "keep one of them"


def test_duplicate_nested_key(project: Path) -> None:
    path = write_recipe(project, MINIMAL + '  version: "3.8"\n')
    err = load_error(path)
    assert err.message == f"{path}:7: python.version: key given twice"


def test_invalid_yaml_reports_line(project: Path) -> None:
    path = write_recipe(project, 'name: hello\nversion: "1"\ngo:\n  module: .\n bad: x\npython: {version: "3.7"}\n')
    err = load_error(path)
    assert err.message.startswith(f"{path}:5: not valid YAML: ")
    assert err.hint and "indentation" in err.hint


def test_invalid_yaml_tab_reports_line(project: Path) -> None:
    path = write_recipe(project, "name: hello\ngo:\n\tmodule: .\n")
    err = load_error(path)
    assert err.message.startswith(f"{path}:3: not valid YAML: ")


def test_two_yaml_documents(project: Path) -> None:
    path = write_recipe(project, MINIMAL + "---\nname: other\n")
    err = load_error(path)
    assert re.match(rf"{re.escape(str(path))}:\d+: not valid YAML", err.message)


@pytest.mark.parametrize("text", ["", "\n\n", "   \n", "# only a comment\n", "---\n", "---\n...\n", "~\n", "--- ~\n"])
def test_empty_file(project: Path, text: str) -> None:
    path = project / "recipe.yaml"
    path.write_text(text)
    err = load_error(path)
    assert err.message == f"{path}: the recipe is empty"
    assert err.hint and "examples/hello/recipe.yaml" in err.hint


@pytest.mark.parametrize(
    ("text", "kind"),
    [("- name: hello\n- version: '1'\n", "a list"), ("hello\n", "a string"), ("42\n", "a number"), ("true\n", "a boolean")],
)
def test_top_level_not_a_mapping(project: Path, text: str, kind: str) -> None:
    path = write_recipe(project, text)
    err = load_error(path)
    assert err.message.startswith(f"{path}:1: the recipe must be a mapping")
    assert err.message.endswith(f"not {kind}")


# -- the file itself ---------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    err = load_error(path)
    assert err.message == f"{path}: no such recipe file"
    assert err.hint


def test_directory_given(project: Path) -> None:
    err = load_error(project)
    assert err.message == f"{project}: is a directory, not a recipe file"
    assert err.hint == f"did you mean {project / 'recipe.yaml'}?"


def test_not_utf8(project: Path) -> None:
    path = project / "recipe.yaml"
    path.write_bytes(b"name: h\xe9llo\n")  # latin-1
    err = load_error(path)
    assert err.message.startswith(f"{path}:1: not UTF-8 text")
    assert "byte 7" in err.message
    assert err.hint == "save the recipe as UTF-8"


def test_utf16_file(project: Path) -> None:
    path = project / "recipe.yaml"
    path.write_bytes(MINIMAL.encode("utf-16"))
    err = load_error(path)
    assert err.message.startswith(f"{path}:1: not UTF-8 text")


# -- what the schema cannot say ----------------------------------------------------------------


def test_go_module_without_go_mod(project: Path) -> None:
    (project / "sub").mkdir()
    path = write_recipe(project, MINIMAL.replace("module: .", "module: sub"))
    err = load_error(path)
    message = assert_problem(err, path, 4, "go.module")
    assert "holds no go.mod" in message
    assert str(project / "sub") in message


def test_default_go_module_without_go_mod(tmp_path: Path) -> None:
    path = write_recipe(tmp_path, 'name: hello\nversion: "1"\ngo: {}\npython: {version: "3.7"}\n')
    err = load_error(path)
    assert_problem(err, path, 3, "go.module", "holds no go.mod")


def test_go_module_missing_directory(project: Path) -> None:
    path = write_recipe(project, MINIMAL.replace("module: .", "module: nowhere"))
    err = load_error(path)
    assert_problem(err, path, 4, "go.module: 'nowhere' is not an existing directory")


def test_python_code_missing(project: Path) -> None:
    path = write_recipe(project, MINIMAL + "  code:\n    - hello.py\n    - missing.py\n")
    err = load_error(path)
    message = assert_problem(err, path, 9, "python.code[1]: 'missing.py' is not an existing file or directory")
    assert str(project / "missing.py") in message
    assert "code[0]" not in err.message


@pytest.mark.parametrize(
    ("key", "value", "kind"),
    [("interpreter", "no-python", "file"), ("requirements_file", "req.txt", "file"), ("project", "proj", "directory")],
)
def test_python_paths_missing(project: Path, key: str, value: str, kind: str) -> None:
    path = write_recipe(project, MINIMAL + f"  {key}: {value}\n")
    err = load_error(path)
    assert_problem(err, path, 7, f"python.{key}: {value!r} is not an existing {kind}")


def test_python_project_without_pyproject(project: Path) -> None:
    (project / "proj").mkdir()
    path = write_recipe(project, MINIMAL + "  project: proj\n")
    err = load_error(path)
    assert_problem(err, path, 7, "python.project", "holds no pyproject.toml or setup.py")


def test_invalid_requirement(project: Path) -> None:
    path = write_recipe(project, MINIMAL + '  requirements:\n    - "six==1.16.0"\n    - "foo["\n')
    err = load_error(path)
    message = assert_problem(err, path, 9, "python.requirements[1]: 'foo[' is not a valid requirement")
    assert "\n" not in message


# -- several problems at once -----------------------------------------------------------------


def test_several_schema_problems_each_with_its_line(project: Path) -> None:
    path = write_recipe(
        project,
        """\
        nmae: hello
        version: "0.1.0"
        go:
          module: .
          tags: [ok, "not ok"]
        python:
          version: 3.7
          verison: "3.7"
        smoke:
          timeout: soon
        """,
    )
    err = load_error(path)
    lines = problem_lines(err, path)
    assert err.message.splitlines()[0] == f"{path}: 6 problems in the recipe:"
    assert_problem(err, path, 1, "nmae: unknown key", "did you mean 'name'?")
    assert_problem(err, path, 1, "recipe: missing required key 'name'")
    assert_problem(err, path, 5, "go.tags[1]: 'not ok' is not valid")
    assert_problem(err, path, 7, "python.version: expected a string", '"3.7"')
    assert_problem(err, path, 8, "python.verison: unknown key", "did you mean 'version'?")
    assert_problem(err, path, 10, "smoke.timeout: expected a number")
    # sorted by line
    assert list(lines) == sorted(lines)


def test_several_file_problems_each_with_its_line(project: Path) -> None:
    (project / "empty").mkdir()
    path = write_recipe(
        project,
        """\
        name: hello
        version: "0.1.0"
        go:
          module: empty
        python:
          version: "3.7"
          requirements: ["ok", "not a requirement!"]
          code:
            - gone.py
            - hello.py
            - gone/
        """,
    )
    err = load_error(path)
    assert err.message.splitlines()[0] == f"{path}: 4 problems in the recipe:"
    assert_problem(err, path, 4, "go.module", "holds no go.mod")
    assert_problem(err, path, 7, "python.requirements[1]", "is not a valid requirement")
    assert_problem(err, path, 9, "python.code[0]: 'gone.py'")
    assert_problem(err, path, 11, "python.code[2]: 'gone/'")


def test_file_problems_wait_for_schema_problems(project: Path) -> None:
    """Files are only looked at once the shape is right, so no confusing double reports."""
    path = write_recipe(project, MINIMAL.replace("module: .", "module: nowhere") + "  code: [gone.py]\nbogus: 1\n")
    err = load_error(path)
    assert "bogus: unknown key" in err.message
    assert "nowhere" not in err.message
    assert "gone.py" not in err.message


# -- regressions: inputs that escaped as other exceptions, or were accepted ----------------------
#
# Each of these once crashed load with an exception other than RecipeError, or let a bad
# value through. tests/test_recipe_properties.py generates inputs like them at random.

CONTROL_HINT = "remove control characters and check the file is YAML text"
TAG_HINT = "remove explicit tags (!!int, !!bool, ...) from the recipe"
ALIAS_HINT = "remove the recursive alias"
NESTING_HINT = "a recipe needs only a few levels of nesting"


@pytest.mark.parametrize(
    ("text", "line", "code"),
    [
        ("name: a\x07\n", 1, "0007"),
        (MINIMAL.replace("  module: .", "  module: .\x00"), 4, "0000"),
        (MINIMAL + "# a comment with \x1b[31mcolour\n", 7, "001b"),
        (MINIMAL + "x: \x7f\n", 7, "007f"),
        (MINIMAL + "x: '\x9f'\n", 7, "009f"),
        (MINIMAL + "x: \ufffe\n", 7, "fffe"),
        ("name: \x01\nversion: \x02\n", 1, "0001"),  # the first one is reported
    ],
)
def test_control_character_is_a_recipe_error_on_its_line(project: Path, text: str, line: int, code: str) -> None:
    """Once yaml.reader.ReaderError, raised outside _parse's try."""
    path = project / "recipe.yaml"
    path.write_text(text, encoding="utf-8")
    err = load_error(path)
    expected = f"{path}:{line}: not valid YAML: unacceptable character #x{code}: special characters are not allowed"
    assert err.message.startswith(expected), err.message
    assert err.hint == CONTROL_HINT


@pytest.mark.parametrize(
    ("text", "where", "error"),
    [
        (MINIMAL.replace("name: hello", "name: !!int x"), ":1: name", "ValueError"),
        (MINIMAL.replace("name: hello", "name: !!float x"), ":1: name", "ValueError"),
        (MINIMAL.replace("name: hello", "name: !!bool x"), ":1: name", "KeyError"),
        (MINIMAL.replace("name: hello", "name: !!timestamp x"), ":1: name", "AttributeError"),
        (MINIMAL.replace('  version: "3.7"', "  version: !!int"), ":6: python.version", "IndexError"),
        ("!!int \n", ":1: recipe", "IndexError"),
    ],
)
def test_explicit_tag_that_cannot_convert(project: Path, text: str, where: str, error: str) -> None:
    """Once ValueError/KeyError/AttributeError/IndexError from PyYAML's constructor,
    and then a message with no line: now the tagged value's line and key."""
    path = write_recipe(project, text)
    err = load_error(path)
    assert err.message.startswith(f"{path}{where}: a value cannot be read as its YAML tag says ({error}: "), err.message
    assert err.hint == TAG_HINT


def test_explicit_tags_that_convert_are_checked_like_any_value(project: Path) -> None:
    path = write_recipe(project, MINIMAL.replace("name: hello", "name: !!int 12").replace('version: "0.1.0"', "version: !!str 1.0"))
    err = load_error(path)
    assert err.message.splitlines()[0] == f"{path}: 1 problem in the recipe:"
    assert_problem(err, path, 1, 'name: expected a string, got a number 12 (write it quoted: "12")')

    path = write_recipe(project, MINIMAL.replace('version: "0.1.0"', "version: !!str 1.0"))
    assert recipe.load(path).version == "1.0"


def test_integer_too_long_to_convert(project: Path) -> None:
    """Once ValueError (int() refuses more than 4300 digits). Now a RecipeError, though its
    message blames a YAML tag that is not there."""
    path = write_recipe(project, MINIMAL + "smoke:\n  timeout: " + "9" * 5000 + "\n")
    err = load_error(path)
    assert "4300 digits" in err.message


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("x: &a [*a]\n", "1: x[0]"),
        ("x: &a {b: *a}\n", "1: x.b"),
        ("&r {name: *r}\n", "1: name"),
        (MINIMAL + "  code: &c [hello.py, *c]\n", "7: python.code[1]"),
        (MINIMAL + "smoke:\n  command:\n    - bin/hello\n    - &l\n      - *l\n", "10: smoke.command[1][0]"),
    ],
)
def test_recursive_alias(project: Path, text: str, where: str) -> None:
    """Once RecursionError from recipe._index."""
    path = write_recipe(project, text)
    err = load_error(path)
    assert err.message == f"{path}:{where}: an alias refers to itself"
    assert err.hint == ALIAS_HINT


def test_shared_alias_is_fine(project: Path) -> None:
    """The same node twice is not a cycle."""
    path = write_recipe(project, MINIMAL + "smoke:\n  command: &cmd [bin/hello, --check]\n  expect: *cmd\n")
    r = recipe.load(path)
    assert r.smoke.command == ("bin/hello", "--check")
    assert r.smoke.expect == ("bin/hello", "--check")


@pytest.mark.parametrize(
    "text",
    [
        "x: " + "[" * 1500 + "]" * 1500 + "\n",
        "x: " + "{a: " * 20_000 + "1" + "}" * 20_000 + "\n",
        "x:\n  " + "- " * 20_000 + "1\n",
        MINIMAL + "  code: [" + "{a: " * 20_000 + "1" + "}" * 20_000 + "]\n",
    ],
    ids=["flow-list", "flow-map", "block", "under-python.code"],
)
def test_very_deep_nesting(project: Path, text: str) -> None:
    """Once RecursionError from PyYAML's composer."""
    path = write_recipe(project, text)
    err = load_error(path)
    assert re.fullmatch(rf"{re.escape(str(path))}:[0-9]+: nested too deeply to read", err.message), err.message
    assert err.hint == NESTING_HINT


def test_moderately_deep_nesting_is_an_ordinary_problem(project: Path) -> None:
    path = write_recipe(project, MINIMAL + "  code: [" + "[" * 100 + "]" * 100 + "]\n")
    err = load_error(path)
    assert_problem(err, path, 7, "python.code[0]: expected a string, got a list")


@pytest.mark.parametrize(
    ("text", "line", "where", "key"),
    [
        (MINIMAL.replace("  module: .", "  module: .\n  env: {1: a}"), 5, "go.env", "1"),
        (MINIMAL.replace("  module: .", "  module: .\n  env: {true: a}"), 5, "go.env", "true"),
        (MINIMAL.replace("  module: .", "  module: .\n  env: {1: a, B: b}"), 5, "go.env", "1"),  # once TypeError in sorted()
        (MINIMAL.replace("  module: .", "  module: .\n  env:\n    B: b\n    null: a"), 7, "go.env", "null"),  # ditto
        (MINIMAL + "1: x\n", 7, "recipe", "1"),
        (MINIMAL + "yes: x\n", 7, "recipe", "yes"),  # YAML 1.1 reads yes as true
        (MINIMAL + "  3.7: x\n", 7, "python", "3.7"),
        (MINIMAL + "x:\n  y:\n    - {2: z}\n", 9, "x.y[0]", "2"),
    ],
)
def test_key_that_is_not_text(project: Path, text: str, line: int, where: str, key: str) -> None:
    """Once accepted (go.env: {1: a}), a TypeError, or reported as a list index ``[1]``."""
    path = write_recipe(project, text)
    err = load_error(path)
    assert err.message == f"{path}:{line}: {where}: the key {key!r} is not text"
    assert err.hint == f'quote it: "{key}"'


def test_quoted_keys_are_text(project: Path) -> None:
    path = write_recipe(project, MINIMAL.replace("  module: .", "  module: .\n  env: {\"1\": a, 'true': b}"))
    assert recipe.load(path).go.env == (("1", "a"), ("true", "b"))


@pytest.mark.parametrize(
    ("replace", "by", "line", "field", "value"),
    [
        ("name: hello", 'name: "hello\\n"', 1, "name", "hello\n"),
        ("name: hello", "name: |\n  hello", 1, "name", "hello\n"),  # a block scalar keeps its final newline
        ('version: "0.1.0"', 'version: "0.1.0\\n"', 2, "version", "0.1.0\n"),
        ('  version: "3.7"', '  version: "3.7\\n"', 6, "python.version", "3.7\n"),
        ("  module: .", '  module: .\n  binary: "hello\\n"', 5, "go.binary", "hello\n"),
        ("  module: .", '  module: .\n  tags: [netgo, "embed\\n"]', 5, "go.tags[1]", "embed\n"),
        ("name: hello", 'name: hello\nmax_glibc: "2.28\\n"', 2, "max_glibc", "2.28\n"),
    ],
)
def test_trailing_newline_does_not_match_a_pattern(project: Path, replace: str, by: str, line: int, field: str, value: str) -> None:
    """Once accepted: ``$`` in the schema's patterns matched before a final newline."""
    path = write_recipe(project, MINIMAL.replace(replace, by))
    err = load_error(path)
    assert err.message.splitlines()[0] == f"{path}: 1 problem in the recipe:"
    assert_problem(err, path, line, f"{field}: {value!r} is not valid")


LONG_NAME = "a" * 300  # longer than NAME_MAX
LONG_PATH = "ab/" * 2000  # longer than PATH_MAX


@pytest.mark.parametrize("value", [LONG_NAME, LONG_PATH], ids=["long-name", "long-path"])
@pytest.mark.parametrize(
    ("key", "line", "field", "kind"),
    [
        ("code", 7, "python.code[0]", "file or directory"),
        ("interpreter", 7, "python.interpreter", "file"),
        ("requirements_file", 7, "python.requirements_file", "file"),
        ("project", 7, "python.project", "directory"),
        ("module", 4, "go.module", "directory"),
    ],
)
def test_very_long_path_is_an_ordinary_problem(project: Path, value: str, key: str, line: int, field: str, kind: str) -> None:
    """Once OSError (ENAMETOOLONG) from Path.is_dir."""
    if key == "module":
        text = MINIMAL.replace("module: .", f"module: {value}")
    elif key == "code":
        text = MINIMAL + f"  code: [{value}]\n"
    else:
        text = MINIMAL + f"  {key}: {value}\n"
    path = write_recipe(project, text)
    err = load_error(path)
    assert err.message.splitlines()[0] == f"{path}: 1 problem in the recipe:"
    if value == LONG_NAME:
        assert_problem(err, path, line, f"{field}: {value[:10]!r}"[:-1], "has a name of 300 bytes; a file name holds at most 255")
    else:
        assert_problem(err, path, line, f"{field}: {value[:10]!r}"[:-1], "(6000 characters) is too long (at most 4096 characters)")


def test_very_long_output_dir_is_refused_before_any_work(project: Path) -> None:
    """output.dir need not exist yet, but no file system can hold a folder name this long."""
    path = write_recipe(project, MINIMAL + f"output:\n  dir: {LONG_NAME}\n")
    assert_problem(load_error(path), path, 8, "output.dir:", "has a name of 300 bytes")


def test_nul_in_a_checked_path_is_an_ordinary_problem(project: Path) -> None:
    path = write_recipe(project, MINIMAL + '  code: ["a\\0b"]\n')
    err = load_error(path)
    assert_problem(err, path, 7, "python.code[0]: holds a NUL byte")


def test_nul_in_output_dir(project: Path) -> None:
    path = write_recipe(project, MINIMAL + 'output:\n  dir: "a\\0b"\n')
    err = load_error(path)
    assert_problem(err, path, 8, "output.dir: holds a NUL byte")


@pytest.mark.parametrize(
    ("replace", "by", "line", "field", "written"),
    [
        ('  version: "3.7"', "  version: 3.10", 6, "python.version", "3.10"),
        ('  version: "3.7"', "  version: 3.70", 6, "python.version", "3.70"),
        ('version: "0.1.0"', "version: 1.0", 2, "version", "1.0"),
        ("name: hello", "name: hello\nmax_glibc: 2.30", 2, "max_glibc", "2.30"),
        ("name: hello", "name: 0x1F", 1, "name", "0x1F"),
        ("name: hello", "name: 1_000", 1, "name", "1_000"),
        ("name: hello", "name: 1.0e+3", 1, "name", "1.0e+3"),
        ("name: hello", "name: .inf", 1, "name", ".inf"),
    ],
)
def test_quote_hint_shows_the_number_as_written(project: Path, replace: str, by: str, line: int, field: str, written: str) -> None:
    """Once the number as Python prints it: python.version: 3.10 hinted "3.1"."""
    path = write_recipe(project, MINIMAL.replace(replace, by))
    err = load_error(path)
    message = assert_problem(err, path, line, f"{field}: expected a string, got a number", f'(write it quoted: "{written}")')
    assert message.endswith(f'(write it quoted: "{written}")')
    if written == "3.10":
        assert '"3.1"' not in err.message


@pytest.mark.parametrize(("value", "seconds"), [("86400", 86400.0), ("86400.0", 86400.0), ("0.5", 0.5)])
def test_smoke_timeout_up_to_a_day(project: Path, value: str, seconds: float) -> None:
    path = write_recipe(project, MINIMAL + f"smoke:\n  timeout: {value}\n")
    assert recipe.load(path).smoke.timeout == seconds


@pytest.mark.parametrize(("value", "shown"), [("86400.5", "86400.5"), ("86401", "86401"), (".inf", "inf"), ("1.0e+300", "1e+300")])
def test_smoke_timeout_over_a_day(project: Path, value: str, shown: str) -> None:
    path = write_recipe(project, MINIMAL + f"smoke:\n  timeout: {value}\n")
    err = load_error(path)
    assert err.message.splitlines()[0] == f"{path}: 1 problem in the recipe:"
    assert_problem(err, path, 8, f"smoke.timeout: {shown} is greater than the maximum of 86400")


def test_smoke_timeout_1e300_is_text_in_yaml(project: Path) -> None:
    """YAML 1.1 reads an exponent without a dot as text."""
    path = write_recipe(project, MINIMAL + "smoke:\n  timeout: 1e300\n")
    err = load_error(path)
    assert_problem(err, path, 8, "smoke.timeout: expected a number, got a string '1e300'")


# -- the same through ``gopack bundle`` ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "first_line", "hint"),
    [
        ("name: a\x07\n", ":1: not valid YAML: unacceptable character #x0007", CONTROL_HINT),
        ("name: !!int x\n", ":1: name: a value cannot be read as its YAML tag says (ValueError: ", TAG_HINT),
        ("x: &a [*a]\n", ":1: x[0]: an alias refers to itself", ALIAS_HINT),
        ("x: " + "{a: " * 20_000 + "1" + "}" * 20_000 + "\n", ":1: nested too deeply to read", NESTING_HINT),
        (MINIMAL.replace("  module: .", "  module: .\n  env: {1: a, B: b}"), ":5: go.env: the key '1' is not text", 'quote it: "1"'),
        (MINIMAL + "1: x\n", ":7: recipe: the key '1' is not text", 'quote it: "1"'),
        ("---\n", ": the recipe is empty", "start from examples/hello/recipe.yaml; keys are in docs/recipe.md"),
    ],
)
def test_cli_bundle_refuses_with_exit_2(project: Path, capsys: pytest.CaptureFixture[str], text: str, first_line: str, hint: str) -> None:
    path = project / "recipe.yaml"
    path.write_text(text, encoding="utf-8")
    out = project / "out"
    with cli_state(), mock.patch.object(pipeline, "bundle", side_effect=AssertionError("bundle must not run for a bad recipe")):
        rc = cli.main(["bundle", str(path), "--output-dir", str(out)])
    captured = capsys.readouterr()
    assert rc == 2, captured.err
    assert "Traceback" not in captured.err
    assert captured.out == ""
    assert captured.err.startswith(f"error: {path}{first_line}"), captured.err
    assert captured.err.splitlines()[-1] == f"hint: {hint}"
    assert not out.exists()


@pytest.mark.parametrize(
    ("text", "first_line"),
    [
        (MINIMAL.replace("name: hello", 'name: "hello\\n"'), ": 1 problem in the recipe:\n  {path}:1: name: 'hello\\n' is not valid"),
        (MINIMAL + "  code: [" + LONG_NAME + "]\n", ": 1 problem in the recipe:\n  {path}:7: python.code[0]: "),
        (
            MINIMAL.replace('  version: "3.7"', "  version: 3.10"),
            ': 1 problem in the recipe:\n  {path}:6: python.version: expected a string, got a number 3.1 (write it quoted: "3.10")',
        ),
        (
            MINIMAL + "smoke:\n  timeout: .inf\n",
            ": 1 problem in the recipe:\n  {path}:8: smoke.timeout: inf is greater than the maximum of 86400",
        ),
    ],
)
def test_cli_bundle_refuses_field_problems_with_exit_2(
    project: Path, capsys: pytest.CaptureFixture[str], text: str, first_line: str
) -> None:
    path = write_recipe(project, text)
    out = project / "out"
    with cli_state(), mock.patch.object(pipeline, "bundle", side_effect=AssertionError("bundle must not run for a bad recipe")):
        rc = cli.main(["bundle", str(path), "--output-dir", str(out)])
    captured = capsys.readouterr()
    assert rc == 2, captured.err
    assert "Traceback" not in captured.err
    assert captured.err.startswith(f"error: {path}" + first_line.format(path=path)), captured.err
    assert captured.err.splitlines()[-1] == "hint: every key is described in docs/recipe.md"
    assert not out.exists()


def test_aliases_inside_aliases_stop_at_a_budget_instead_of_expanding(project: Path) -> None:
    # Seven levels of ten aliases would be 10 million values ("billion laughs").
    levels = ['laugh0: &l0 ["ha"]'] + [f"laugh{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 8)]
    text = "x:\n" + "".join(f"  {line}\n" for line in levels) + MINIMAL
    path = write_recipe(project, text)
    err = load_error(path)
    assert "the recipe expands to more than 20000 values" in err.message
    assert err.hint and "aliases" in err.hint


@pytest.mark.parametrize(
    "argv", [["-q", "--json", "bundle", "r.yaml"], ["bundle", "-q", "--json", "r.yaml"], ["-q", "bundle", "--json", "r.yaml"]]
)
def test_common_flags_count_before_and_after_the_command(argv: list[str]) -> None:
    args = cli._parser().parse_args(argv)
    assert (args.quiet, args.json, args.verbose) == (True, True, False)
