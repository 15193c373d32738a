"""Issue 12: cgo glue that includes the bundle's packages' headers (numpy's C API), in the
main module and in a dependency module; hard-coded -lpythonX.Y; one numpy."""

from __future__ import annotations

import json
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import DATA, EXAMPLES, require_pyenv
from conftest import gopack_cli as gopack

from gopack import pipeline, plan
from gopack.archive import contents
from gopack.go import headers as cgo_headers
from gopack.pipeline import Bundle
from gopack.python import headers
from gopack.recipe import model as recipe

pytestmark = pytest.mark.integration

NUMPY_INCLUDE = "python/lib/python3.12/site-packages/numpy/_core/include"


def verified(archive: Path, cache: Path) -> str:
    """Runs gopack verify (the glibc-only root among its places); returns the program's output."""
    result = gopack("verify", "--json", "--show-output", str(archive), cache=cache)
    assert result.returncode == 0, result.stderr
    checks = {c["name"]: c["ok"] for c in json.loads(result.stdout)["checks"]}
    assert checks == {
        "files": True,
        "sbom": True,
        "linkage": True,
        "glibc-only root": True,
        "no python, decoys": True,
        "moved, read-only": True,
    }
    return result.stderr


@pytest.fixture(scope="module")
def numpy_glue(build: Callable[[Path], Bundle]) -> Bundle:
    require_pyenv("3.12")
    return build(EXAMPLES / "numpy" / "recipe.yaml")


def test_the_numpy_example_runs_in_the_glibc_only_root(numpy_glue: Bundle, cache_dir: Path) -> None:
    output = verified(numpy_glue.archive, cache_dir)
    assert "[NUMPY] numpy 2.2.6" in output and "[NOCOPY] same memory: true, mean 0.000, sd 1.000" in output


def numpy_in(entry: Path) -> str | None:
    """The numpy version a cached tree holds."""
    packages = json.loads((entry / "meta.json").read_text())["packages"]
    return next((str(p["version"]) for p in packages if p["name"] == "numpy"), None)


def test_the_manifest_and_inspect_name_the_headers_the_go_build_used(numpy_glue: Bundle, cache_dir: Path) -> None:
    (used,) = numpy_glue.manifest["cgo_headers"]
    assert (used["distribution"], used["version"], used["include"], used["headers"]) == (
        "numpy",
        "2.2.6",
        NUMPY_INCLUDE,
        ["numpy/arrayobject.h"],
    )
    # The very files of the numpy that ships: the digest is that of the cached tree's kept headers.
    # (The session's cache holds other trees with a numpy too, the corpus's: this one has numpy 2.2.6.)
    (entry,) = [e for e in (cache_dir / "envs").iterdir() if (e / headers.FOLDER / NUMPY_INCLUDE).is_dir() and numpy_in(e) == "2.2.6"]
    assert used["sha256"] == cgo_headers.digest(entry / headers.FOLDER / NUMPY_INCLUDE)
    assert contents.report(numpy_glue.archive)["cgo_headers"] == [used]  # checked against the inspect schema
    shown = gopack("inspect", str(numpy_glue.archive), cache=cache_dir)
    assert f"headers    numpy 2.2.6: numpy/arrayobject.h from {NUMPY_INCLUDE}" in shown.stdout


def test_headers_are_still_pruned_from_the_bundle(numpy_glue: Bundle) -> None:
    with tarfile.open(numpy_glue.archive) as tar:
        names = tar.getnames()
    assert any(n.endswith("/numpy/_core/_multiarray_umath.cpython-312-x86_64-linux-gnu.so") for n in names)
    assert [n for n in names if n.endswith(".h") or ("/site-packages/" in n and n.endswith(".c"))] == []
    assert not any(f["path"].endswith(".h") for f in numpy_glue.manifest["files"])
    assert any(r["rule"] == "python/lib/python*/site-packages/**/*.h" and r["files"] > 20 for r in numpy_glue.manifest["pruned"])


def test_only_a_program_that_includes_the_trees_headers_waits_for_it(tmp_path: Path) -> None:
    """The plan says so: hello (Python.h only) builds beside the Python stage."""
    require_pyenv("3.7")
    require_pyenv("3.12")
    hello = plan.make(recipe.load(EXAMPLES / "hello" / "recipe.yaml"), cache_dir=tmp_path)
    assert (hello.needs_tree, hello.cgo.missing) == (False, ())
    glue = plan.make(recipe.load(EXAMPLES / "numpy" / "recipe.yaml"), cache_dir=tmp_path)
    assert glue.needs_tree
    assert [(i.header, Path(i.file).name, i.line) for i in glue.cgo.missing] == [("numpy/arrayobject.h", "glue.c", 4)]


def test_glue_in_a_dependency_module_finds_numpys_headers(build: Callable[[Path], Bundle], cache_dir: Path) -> None:
    require_pyenv("3.12")
    built = build(DATA / "numpydep" / "app" / "recipe.yaml")
    assert [h["distribution"] for h in built.manifest["cgo_headers"]] == ["numpy"]
    assert "[SUM] 11.0" in verified(built.archive, cache_dir)


def test_lpython37_links_the_bundles_libpython37m(build: Callable[[Path], Bundle], cache_dir: Path) -> None:
    require_pyenv("3.7")
    built = build(DATA / "linkflag" / "recipe.yaml")
    assert built.manifest["cgo_headers"] == []
    assert "[LINKED] 3.7" in verified(built.archive, cache_dir)


def test_lpython_for_another_version_is_refused_before_building(tmp_path: Path) -> None:
    require_pyenv("3.12")
    program = tmp_path / "linkflag"
    shutil.copytree(DATA / "linkflag", program)
    (program / "recipe.yaml").write_text((program / "recipe.yaml").read_text().replace('version: "3.7"', 'version: "3.12"'))
    result = gopack("bundle", str(program / "recipe.yaml"), "-o", str(tmp_path / "out"), cache=tmp_path / "cache")
    assert result.returncode == 3, result.stderr
    assert f"{program / 'main.go'}:6: #cgo LDFLAGS asks for -lpython3.7 (Python 3.7)" in result.stderr
    assert "python.version is 3.12" in result.stderr and "Traceback" not in result.stderr
    assert "python ..." not in result.stderr and not (tmp_path / "out").exists()


def test_another_numpy_gives_the_go_build_its_own_headers(
    numpy_glue: Bundle, cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """numpy 1.26 keeps its headers elsewhere (numpy/core/include) and refuses code compiled
    against numpy 2's: this bundle runs only if Go rebuilt the glue against the numpy it ships."""
    example = tmp_path / "numpy1"
    shutil.copytree(EXAMPLES / "numpy", example)
    text = (example / "recipe.yaml").read_text().replace("numpy==2.2.6", "numpy==1.26.4").replace("numpy 2.2.6", "numpy 1.26.4")
    (example / "recipe.yaml").write_text(text)
    monkeypatch.setenv("GOPACK_CACHE_DIR", str(cache_dir))
    built = pipeline.bundle(recipe.load(example / "recipe.yaml"), output_dir=tmp_path / "out")
    (used,) = built.manifest["cgo_headers"]
    assert (used["version"], used["include"]) == ("1.26.4", "python/lib/python3.12/site-packages/numpy/core/include")
    assert used["sha256"] != numpy_glue.manifest["cgo_headers"][0]["sha256"]
    assert "[NUMPY] numpy 1.26.4" in verified(built.archive, cache_dir)


@pytest.mark.parametrize(
    "cppflags",
    ["-I{include:numpy}", "-I{python.site_packages}/numpy/_core/include"],
)
def test_placeholders_name_the_trees_folders_and_the_manifest_records_them(
    numpy_glue: Bundle, cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cppflags: str
) -> None:
    example = tmp_path / "named"
    shutil.copytree(EXAMPLES / "numpy", example)
    text = (
        (example / "recipe.yaml")
        .read_text()
        .replace("  binary: numpy-glue\n", f'  binary: numpy-glue\n  env:\n    CGO_CPPFLAGS: "{cppflags}"\n')
    )
    (example / "recipe.yaml").write_text(text)
    monkeypatch.setenv("GOPACK_CACHE_DIR", str(cache_dir))
    the_recipe = recipe.load(example / "recipe.yaml")
    assert dict(the_recipe.go.env)["CGO_CPPFLAGS"] == cppflags
    built = pipeline.bundle(the_recipe, output_dir=tmp_path / "out")
    assert built.cached_python
    assert built.manifest["cgo_headers"] == numpy_glue.manifest["cgo_headers"]
    assert "[NOCOPY] same memory: true" in verified(built.archive, cache_dir)


def test_a_header_no_package_ships_fails_the_go_build_saying_what_to_add(tmp_path: Path) -> None:
    require_pyenv("3.7")
    module = tmp_path / "absent"
    module.mkdir()
    (module / "go.mod").write_text("module example.com/absent\n\ngo 1.21\n")
    (module / "main.go").write_text(
        'package main\n\n// #cgo pkg-config: python3-embed\n// #include <Python.h>\n// #include <nosuchpkg/api.h>\nimport "C"\n\nfunc main() { C.Py_InitializeEx(0) }\n'
    )
    (module / "recipe.yaml").write_text('name: absent\nversion: "1"\npython:\n  version: "3.7"\ngo:\n  module: .\n')
    result = gopack("bundle", str(module / "recipe.yaml"), "-o", str(tmp_path / "out"), cache=tmp_path / "cache")
    assert result.returncode == 4, result.stderr
    assert "nosuchpkg/api.h" in result.stderr and "Traceback" not in result.stderr
    assert (
        f"{module / 'main.go'}:5 includes nosuchpkg/api.h: no folder of the compiler, the recipe or the Python tree holds it"
        in result.stderr
    )
    assert "add that package to python.requirements" in result.stderr
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_the_archive_is_byte_identical_from_another_cache(numpy_glue: Bundle, tmp_path: Path) -> None:
    """The Go build's -I folder is in the cache; nothing of that path may reach the archive."""
    other = tmp_path / "another cache"
    result = gopack("bundle", str(EXAMPLES / "numpy" / "recipe.yaml"), "-o", str(tmp_path / "out"), "--json", cache=other)
    assert result.returncode == 0, result.stderr
    assert Path(json.loads(result.stdout)["archive"]).read_bytes() == numpy_glue.archive.read_bytes()
