"""Issue 12 (pure parts, with the real C compiler where a search path is asked): placeholders,
reading #include and -lpythonX.Y from cgo code, keeping and matching the tree's headers."""

from __future__ import annotations

import doctest
import os
import re
import shutil
from pathlib import Path

import pytest

from gopack import plan
from gopack.errors import BuildError, RecipeError, ToolchainError
from gopack.go import bindings, includes
from gopack.go import headers as cgo_headers
from gopack.go.bindings import GoPackage
from gopack.go.includes import Include
from gopack.python import headers
from gopack.recipe import model as recipe
from gopack.recipe import placeholders


@pytest.mark.parametrize("module", [placeholders, includes, headers, cgo_headers])
def test_doctests(module: object) -> None:
    result = doctest.testmod(module, verbose=False, report=False)  # type: ignore[arg-type]
    assert result.attempted > 0 and result.failed == 0


# -- placeholders ---------------------------------------------------------------------------


def test_placeholders_are_found_and_shell_and_cgo_variables_are_left_alone() -> None:
    found = placeholders.find("-I{python.include} -L{python.lib} -I{python.site_packages}/x -I{include:numpy} ${SRCDIR} $ORIGIN")
    assert [p.text for p in found] == ["{python.include}", "{python.lib}", "{python.site_packages}", "{include:numpy}"]
    assert [p.needs_tree for p in found] == [False, False, True, True]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{python.libs}", "unknown placeholder {python.libs}; did you mean {python.lib}?"),
        ("{numpy}", "unknown placeholder {numpy}; known: {python.include}, {python.lib}, {python.site_packages}, {include:MODULE}"),
        ("{include}", "{include} needs a module name, as in {include:numpy}"),
        ("{python.include:x}", "unknown placeholder {python.include:x}"),
    ],
)
def test_unknown_placeholders_are_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        placeholders.find(text)


def test_substitute_replaces_only_what_the_resolver_answers() -> None:
    value = placeholders.substitute("-I{python.include} -I{include:numpy}", lambda p: "/inc" if p.name == "python.include" else None)
    assert value == "-I/inc -I{include:numpy}"


def write_recipe(tmp_path: Path, go: str) -> Path:
    (tmp_path / "go.mod").write_text("module x\n\ngo 1.21\n")
    path = tmp_path / "recipe.yaml"
    path.write_text(f'name: x\nversion: "1"\ngo:\n{go}python:\n  version: "3.12"\n')
    return path


@pytest.mark.parametrize(
    ("go", "line", "key"),
    [
        ("  env:\n    CGO_CFLAGS: -I{numpy.include}\n", 5, "go.env.CGO_CFLAGS"),
        ("  flags:\n    - -x\n    - -gcflags={python.inc}\n", 6, "go.flags[1]"),
        ("  ldflags: -X main.dir={site_packages}\n", 4, "go.ldflags"),
    ],
)
def test_an_unknown_placeholder_in_a_recipe_names_file_line_and_key(tmp_path: Path, go: str, line: int, key: str) -> None:
    path = write_recipe(tmp_path, go)
    with pytest.raises(RecipeError) as caught:
        recipe.load(path)
    assert f"{path}:{line}: {key}: unknown placeholder" in caught.value.message


def test_known_placeholders_load(tmp_path: Path) -> None:
    path = write_recipe(
        tmp_path,
        "  env:\n    CGO_CPPFLAGS: -I{include:numpy} -I{python.site_packages}/pyarrow/include\n  ldflags: -X main.x={python.lib}\n",
    )
    loaded = recipe.load(path)
    assert dict(loaded.go.env)["CGO_CPPFLAGS"].startswith("-I{include:numpy}")


# -- reading cgo code -----------------------------------------------------------------------


def package(tmp_path: Path, files: dict[str, str], **kw: object) -> GoPackage:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return GoPackage(
        import_path="example.com/p",
        dir=str(tmp_path),
        cgo_files=tuple(n for n in files if n.endswith(".go")),
        c_files=tuple(n for n in files if n.endswith(".c")),
        h_files=tuple(n for n in files if n.endswith(".h")),
        **kw,  # type: ignore[arg-type]
    )


GO_FILE = """package p

// #cgo pkg-config: python3
// #cgo LDFLAGS: -lm -lpython3.12
/*
#include <stdio.h>
#include "local.h"
#include <numpy/arrayobject.h>
*/
import "C"
"""


def test_includes_are_read_from_cgo_preambles_c_and_header_files(tmp_path: Path) -> None:
    found = includes.includes(
        package(tmp_path, {"p.go": GO_FILE, "local.h": "#include <pybind11/pybind11.h>\n", "glue.c": '  #  include "other.h"\n'})
    )
    assert {(i.header, i.quoted, Path(i.file).name, i.line) for i in found} == {
        ("stdio.h", False, "p.go", 6),
        ("local.h", True, "p.go", 7),
        ("numpy/arrayobject.h", False, "p.go", 8),
        ("pybind11/pybind11.h", False, "local.h", 1),
        ("other.h", True, "glue.c", 1),
    }


def test_the_compiler_says_which_includes_only_the_tree_can_answer(tmp_path: Path) -> None:
    """Real gcc: the system's stdio.h, the package's own local.h and a -I folder of the
    package's #cgo CFLAGS are found; numpy's header is not."""
    (tmp_path / "inc" / "vendored").mkdir(parents=True)
    (tmp_path / "inc" / "vendored" / "v.h").write_text("")
    text = GO_FILE.replace("*/", '#include <vendored/v.h>\n#include "missing_quoted.h"\n*/')
    pkg = package(tmp_path, {"p.go": text, "local.h": ""}, cgo_cflags=("-I" + str(tmp_path / "inc"), "-O2"))
    missing = includes.missing([pkg], cc=("gcc",), cxx=("g++",), flags=[], env={})
    assert sorted(i.header for i in missing) == ["missing_quoted.h", "numpy/arrayobject.h"]
    # The recipe's own -I folders count too.
    (tmp_path / "np" / "numpy").mkdir(parents=True)
    (tmp_path / "np" / "numpy" / "arrayobject.h").write_text("")
    missing = includes.missing([pkg], cc=("gcc",), cxx=("g++",), flags=["-I", str(tmp_path / "np")], env={})
    assert [i.header for i in missing] == ["missing_quoted.h"]


def test_standard_library_packages_are_not_read(tmp_path: Path) -> None:
    pkg = package(tmp_path, {"p.go": GO_FILE}, standard=True)
    assert includes.missing([pkg], cc=("gcc",), cxx=("g++",), flags=[], env={}) == []
    assert includes.libpython_flags([pkg]) == []


def test_libpython_flags_name_their_file_and_line(tmp_path: Path) -> None:
    pkg = package(tmp_path, {"p.go": GO_FILE}, cgo_ldflags=("-lm", "-lpython3.12"))
    (flag,) = includes.libpython_flags([pkg])
    assert (flag.flag, flag.version, Path(flag.file).name, flag.line) == ("-lpython3.12", "3.12", "p.go", 4)


def test_a_program_that_only_links_libpython_is_raw_cgo_of_that_version() -> None:
    pkg = GoPackage(import_path="example.com/app", name="main", module="example.com/app", cgo_ldflags=("-lpython3.7",))
    binding = bindings.detect([GoPackage(import_path="runtime/cgo", standard=True), pkg])
    assert binding is not None and binding.pythons == ("3.7",) and binding.pkg_config == ()


def test_a_libpython_flag_for_another_version_fails_the_plan_naming_the_file(tmp_path: Path) -> None:
    from test_plan_checks import fake_interpreter  # Python 3.11

    pkg = package(tmp_path, {"p.go": GO_FILE}, cgo_ldflags=("-lpython3.12",))
    path = write_recipe(tmp_path, "  package: .\n")
    with pytest.raises(ToolchainError) as caught:
        plan.check_libpython_flags(recipe.load(path), fake_interpreter(), [pkg])
    message = caught.value.message
    assert f"{tmp_path / 'p.go'}:4: #cgo LDFLAGS asks for -lpython3.12 (Python 3.12)" in message and "python.version is 3.11" in message


# -- the tree's headers ---------------------------------------------------------------------

SITE = "python/lib/python3.12/site-packages"


def tree_with_headers(root: Path) -> None:
    files = {
        f"{SITE}/numpy/_core/include/numpy/arrayobject.h": "/* numpy */",
        f"{SITE}/numpy/_core/include/numpy/__multiarray_api.c": "/* api */",
        f"{SITE}/numpy/_core/_multiarray_umath.so": "ELF",
        f"{SITE}/numpy/__init__.py": "",
        f"{SITE}/include/pybind11/pybind11.h": "/* pybind11-global */",
        f"{SITE}/other/include/pybind11/pybind11.h": "/* another copy */",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def test_keep_links_every_header_and_nothing_else(tmp_path: Path) -> None:
    tree_with_headers(tmp_path)
    assert headers.keep(tmp_path, [tmp_path / SITE, tmp_path / "python" / "include"]) == 4
    kept = headers.kept_files(tmp_path / headers.FOLDER)
    assert kept == sorted(
        [
            f"{SITE}/include/pybind11/pybind11.h",
            f"{SITE}/numpy/_core/include/numpy/__multiarray_api.c",
            f"{SITE}/numpy/_core/include/numpy/arrayobject.h",
            f"{SITE}/other/include/pybind11/pybind11.h",
        ]
    )
    # Hard links: pruning the tree's copy leaves the kept one.
    original = tmp_path / SITE / "numpy/_core/include/numpy/arrayobject.h"
    assert os.stat(original).st_ino == os.stat(tmp_path / headers.FOLDER / SITE / "numpy/_core/include/numpy/arrayobject.h").st_ino


def test_sources_name_the_folder_and_the_distribution_that_ships_it(tmp_path: Path) -> None:
    tree_with_headers(tmp_path)
    headers.keep(tmp_path, [tmp_path / SITE])
    wanted = [
        Include(header="numpy/arrayobject.h", quoted=False, file="glue.c", line=4),
        Include(header="zlib.h", quoted=False, file="glue.c", line=5),
    ]
    owners = {f"{SITE}/numpy/_core/include/numpy/arrayobject.h": "numpy"}
    found, unanswered = cgo_headers.sources(wanted, headers=tmp_path / headers.FOLDER, owners=owners, versions={"numpy": "2.2.6"})
    (source,) = found
    assert (source.distribution, source.version, source.include, source.headers) == (
        "numpy",
        "2.2.6",
        f"{SITE}/numpy/_core/include",
        ("numpy/arrayobject.h",),
    )
    assert source.sha256 == cgo_headers.digest(tmp_path / headers.FOLDER / SITE / "numpy/_core/include")
    assert [i.header for i in unanswered] == ["zlib.h"]
    # Another file changes the digest: the Go build's cache key follows the headers' contents.
    (tmp_path / headers.FOLDER / SITE / "numpy/_core/include/numpy/extra.h").write_text("")
    again, _ = cgo_headers.sources(wanted, headers=tmp_path / headers.FOLDER, owners=owners, versions={"numpy": "2.2.6"})
    assert again[0].sha256 != source.sha256


def test_a_header_two_folders_ship_is_an_error_naming_both(tmp_path: Path) -> None:
    tree_with_headers(tmp_path)
    headers.keep(tmp_path, [tmp_path / SITE])
    wanted = [Include(header="pybind11/pybind11.h", quoted=False, file="/src/glue.cc", line=2)]
    with pytest.raises(BuildError) as caught:
        cgo_headers.sources(wanted, headers=tmp_path / headers.FOLDER, owners={}, versions={})
    assert caught.value.message.startswith("/src/glue.cc:2: #include <pybind11/pybind11.h> is shipped by more than one include folder")
    assert f"{SITE}/include" in caught.value.message and f"{SITE}/other/include" in caught.value.message
    assert "{include:MODULE}" in (caught.value.hint or "")


def test_gcc_is_there() -> None:
    assert shutil.which("gcc"), "the tests of include search need gcc (cgo needs it too)"
