"""Go's errors reach the user short, with Go's own message first and a hint for a known
binding imported in the wrong case or missing from go.mod (issue 11). The end-to-end
cases run the real `go list` on a real main.go: the tutorial's, which imports
github.com/datadog/go-python3 in lowercase."""

from __future__ import annotations

import doctest
import shutil
from pathlib import Path

import pytest
from conftest import EXAMPLES, cli_state, require_pyenv

from gopack import cli
from gopack.errors import BuildError
from gopack.go import darwin
from gopack.go import errors as goerrors

DATADOG = EXAMPLES / "bindings" / "datadog"
REQUIRE = "require github.com/DataDog/go-python3 v0.0.0-20211102160307-40adc605f1fe\n"


def tutorial(tmp_path: Path, *, import_path: str, go_mod: str) -> Path:
    """The datadog example with main.go importing ``import_path`` and go.mod ``go_mod``; its recipe."""
    for name in ("main.go", "hello.py", "recipe.yaml"):
        shutil.copy(DATADOG / name, tmp_path / name)
    main = tmp_path / "main.go"
    main.write_text(main.read_text().replace('"github.com/DataDog/go-python3"', f'"{import_path}"'))
    (tmp_path / "go.mod").write_text(go_mod)
    if "DataDog" in go_mod:
        shutil.copy(DATADOG / "go.sum", tmp_path / "go.sum")
    return tmp_path / "recipe.yaml"


def bundle_fails(recipe: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    with cli_state():
        code = cli.main(["bundle", str(recipe), "--output-dir", str(recipe.parent / "dist")])
    err = capsys.readouterr().err
    assert code == 3, err
    assert not (recipe.parent / "dist").exists()
    lines = [line for line in err.splitlines() if line != "plan ..."]
    assert len(lines) <= 6, err
    assert not any('"import_path"' in line for line in lines), err
    return lines


def test_the_tutorials_lowercase_import(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    require_pyenv("3.7")
    recipe = tutorial(tmp_path, import_path="github.com/datadog/go-python3", go_mod="module example.com/tutorial\n\ngo 1.21\n")
    lines = bundle_fails(recipe, capsys)
    assert lines[0] == f"error: go list . (in {tmp_path}) failed (exit code 1)"
    assert lines[1] == "  | main.go:13:2: no required module provides package github.com/datadog/go-python3; to add it:"
    hint = lines[-1]
    assert hint.startswith("hint: github.com/datadog/go-python3 is the binding github.com/DataDog/go-python3 spelled in another case")
    assert f'import "github.com/DataDog/go-python3" in {tmp_path}/main.go:13' in hint
    assert f"`go get github.com/DataDog/go-python3` in {tmp_path}" in hint


def test_lowercase_import_with_the_module_already_required(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    require_pyenv("3.7")
    recipe = tutorial(tmp_path, import_path="github.com/datadog/go-python3", go_mod=f"module example.com/tutorial\n\ngo 1.21\n\n{REQUIRE}")
    hint = bundle_fails(recipe, capsys)[-1]
    assert f'import "github.com/DataDog/go-python3" in {tmp_path}/main.go:13' in hint
    assert "go get" not in hint  # go.mod has it: fixing the import is all


def test_binding_missing_from_go_mod(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    require_pyenv("3.7")
    recipe = tutorial(tmp_path, import_path="github.com/DataDog/go-python3", go_mod="module example.com/tutorial\n\ngo 1.21\n")
    lines = bundle_fails(recipe, capsys)
    assert (
        lines[-1]
        == f"hint: go.mod does not require the binding github.com/DataDog/go-python3: run `go get github.com/DataDog/go-python3` in {tmp_path}"
    )


def test_lowercase_module_in_go_mod(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    require_pyenv("3.7")
    go_mod = "module example.com/tutorial\n\ngo 1.21\n\n" + REQUIRE.replace("DataDog", "datadog")
    recipe = tutorial(tmp_path, import_path="github.com/datadog/go-python3", go_mod=go_mod)
    hint = bundle_fails(recipe, capsys)[-1]
    assert "github.com/datadog/go-python3 is the binding github.com/DataDog/go-python3 spelled in another case" in hint
    assert "write github.com/DataDog/go-python3 in go.mod and in the imports" in hint


# -- the pure parts ---------------------------------------------------------------------------


def test_shorten_keeps_the_first_lines_and_counts_the_rest() -> None:
    output = "\n".join(f"./main.go:{n}:2: undefined: x{n}" for n in range(1, 31))
    short = goerrors.shorten(output).splitlines()
    assert len(short) == goerrors.SHOWN_LINES + 1
    assert short[0] == "./main.go:1:2: undefined: x1"
    assert short[-1] == "... and 20 more lines (run with -v to see all of it)"


@pytest.mark.parametrize(
    ("path", "module"),
    [
        ("github.com/DataDog/go-python3", "github.com/DataDog/go-python3"),
        ("GITHUB.COM/DATADOG/GO-PYTHON3", "github.com/DataDog/go-python3"),
        ("github.com/go-python/CPY3", "github.com/go-python/cpy3"),
        ("go.nhat.io/CPY/v3", "go.nhat.io/cpy/v3"),
        ("github.com/Sbinet/go-python", "github.com/sbinet/go-python"),
        ("github.com/datadog/go-python3-fork", None),
        ("github.com/example/python", None),
    ],
)
def test_binding_module(path: str, module: str | None) -> None:
    assert goerrors.binding_module(path) == module


def test_an_error_about_another_package_keeps_gos_message_and_hint(tmp_path: Path) -> None:
    stderr = "main.go:5:2: no required module provides package github.com/example/nothing; to add it:\n\tgo get github.com/example/nothing"
    error = goerrors.rewrite(BuildError("go build failed (exit code 1)", hint="as before", details=stderr), module_dir=tmp_path)
    assert isinstance(error, BuildError)
    assert error.hint == "as before" and error.details == stderr


def test_a_bad_goflags_is_blamed_on_go_env(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Go fails on $GOFLAGS before it reads the package: the hint names go.env, not only the package keys."""
    require_pyenv("3.7")
    recipe = tutorial(tmp_path, import_path="github.com/DataDog/go-python3", go_mod=(DATADOG / "go.mod").read_text())
    recipe.write_text(recipe.read_text().replace("go:\n", 'go:\n  env: {GOFLAGS: "-notaflag"}\n', 1))
    lines = bundle_fails(recipe, capsys)
    assert lines[1] == "  | go: parsing $GOFLAGS: unknown flag -notaflag"
    assert lines[-1].startswith(f"hint: check go.module, go.package and go.env.GOFLAGS in {recipe}")


#: zig's words when a darwin link meets a library of another machine (seen linking GOARCH=arm64
#: against JavaCPP's x86_64 libpython3.7m; tests/test_darwin_link.py runs the real link).
ZIG_WRONG_ARCH = """\
# example.com/demo
/usr/local/go/pkg/tool/linux_amd64/link: running zig-cc failed: exit status 1
error: invalid cpu architecture: x86_64
    note: while parsing /cache/homes/abc/libpython3.7m.dylib
"""


@pytest.mark.parametrize(("goarch", "ours", "theirs"), [("arm64", "arm64", "x86_64"), ("amd64", "x86_64", "arm64")])
def test_a_library_of_another_mac_names_both_machines(tmp_path: Path, goarch: str, ours: str, theirs: str) -> None:
    stderr = ZIG_WRONG_ARCH.replace("architecture: x86_64", f"architecture: {theirs}")
    error = goerrors.rewrite(BuildError("go build failed (exit code 1)", details=stderr), module_dir=tmp_path, goarch=goarch)
    assert isinstance(error, BuildError)
    assert error.message == (
        f"the program is built for {ours} (GOARCH={goarch}), but /cache/homes/abc/libpython3.7m.dylib is for {theirs} only: "
        "the link cannot mix them"
    )
    assert error.hint is not None and f"target.arch: {theirs}" in error.hint and f"an {ours} build of the interpreter" in error.hint
    assert ("Rosetta 2" in error.hint) == (theirs == "x86_64")
    assert error.details is not None and "invalid cpu architecture" in error.details


def test_a_linux_build_keeps_gos_message(tmp_path: Path) -> None:
    """The wrong-architecture reading is for a darwin link (goarch given) only."""
    error = goerrors.rewrite(BuildError("go build failed (exit code 1)", hint="as before", details=ZIG_WRONG_ARCH), module_dir=tmp_path)
    assert error.message == "go build failed (exit code 1)" and error.hint == "as before"


def test_doctests() -> None:
    for module in (goerrors, darwin):
        result = doctest.testmod(module, verbose=False, report=False)
        assert result.attempted > 0 and result.failed == 0, module
