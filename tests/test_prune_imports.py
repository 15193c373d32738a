"""prune.imports' pure parts: what a source names, how far imports reach, what goes and why."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gopack.errors import RecipeError
from gopack.python import import_index, program_imports, reach
from gopack.recipe import model


def write(root: Path, files: dict[str, str | bytes]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(textwrap.dedent(text))


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A small site-packages: a package importing at module level, in a function, by a
    resources name and by a built name; an extension naming a module in its C strings."""
    root = tmp_path / "site-packages"
    write(
        root,
        {
            "pkg/__init__.py": "from . import core, _speedups\nfrom .sub import (a,\n    b)\n",
            "pkg/core.py": "import os\ndef later():\n    import pkg.lazy\nDATA = 'pkg.data'\n",
            "pkg/lazy.py": "import importlib\ndef backend(n):\n    return importlib.import_module(f'pkg.backends.be_{n}')\n",
            "pkg/backends/__init__.py": "",
            "pkg/backends/be_one.py": "",
            "pkg/backends/be_two.py": "",
            "pkg/sub/__init__.py": "",
            "pkg/sub/a.py": "",
            "pkg/sub/b.py": "",
            "pkg/data/__init__.py": "",
            "pkg/data/table.csv": "1,2\n",
            "pkg/unused/__init__.py": "import other\n",
            "pkg/unused/thing.txt": "x",
            "pkg/_speedups.cpython-312-x86_64-linux-gnu.so": b"\x7fELF junk\x00PyInit__speedups\x00pkg.sub.a\x00",
            "pkg/mpl-data/style.txt": "kept with pkg",
            "pkg/zones/__init__.py": "",
            "pkg/zones/Europe/__init__.py": "\n",
            "pkg/zones/Europe/Berlin": "TZif",
            "other/__init__.py": "",
            "other/lib_ctypes.so": b"\x7fELF no module here",
            "alone.py": "",
            "dist-1.0.dist-info/RECORD": "",
            "extra.pth": "import alone\n",
        },
    )
    return root


def test_the_index_reads_every_import_statement_strings_and_c_strings(site: Path) -> None:
    modules = import_index.scan(site)["modules"]
    assert modules["pkg"]["imports"] == ["pkg._speedups", "pkg.core", "pkg.sub", "pkg.sub.a", "pkg.sub.b"]
    assert modules["pkg.core"]["imports"] == ["pkg.data", "pkg.lazy"]  # the function's import, the resources name
    assert modules["pkg.lazy"]["prefixes"] == ["pkg.backends.be_"]
    assert modules["pkg._speedups"]["imports"] == ["pkg.sub.a"]
    assert "other.lib_ctypes" not in modules  # no PyInit_: a library, not a module


def test_imports_reach_what_the_roots_import_and_nothing_else(site: Path) -> None:
    index = import_index.scan(site)
    roots = reach.Roots(names={"pkg": "the app imports it"}, prefixes={})
    kept = reach.reach(index, roots, {})
    assert set(kept) == {"pkg", "pkg._speedups", "pkg.core", "pkg.sub", "pkg.sub.a", "pkg.sub.b", "pkg.data", "pkg.lazy", "pkg.backends",
                         "pkg.backends.be_one", "pkg.backends.be_two", "pkg.zones", "pkg.zones.Europe"}  # fmt: skip
    assert kept["pkg.lazy"] == "pkg.core imports it"
    assert kept["pkg.zones.Europe"] == "an empty package of pkg.zones: data read by name"  # as zoneinfo opens tzdata's
    # A known package's rule adds what it imports by name; x.* is x and everything under it.
    kept = reach.reach(index, roots, {"pkg.sub": ["pkg.unused.*"]})
    assert "pkg.unused" in kept and "other" in kept and "gopack's import rules" in kept["pkg.unused"]


def test_what_goes_and_why(site: Path) -> None:
    index = import_index.scan(site)
    kept = reach.reach(index, reach.Roots(names={"pkg": "root"}, prefixes={}), {})
    files = [p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file()]
    needs = {"pkg/_speedups.cpython-312-x86_64-linux-gnu.so": (), "other/lib_ctypes.so": ()}
    decision = reach.decide(index, kept, files, lambda rel: needs.get(rel))
    assert set(decision.dropped) == {
        "pkg/unused/__init__.py",
        "pkg/unused/thing.txt",
        "other/__init__.py",
        "other/lib_ctypes.so",
        "alone.py",
    }
    assert decision.dropped["pkg/unused/thing.txt"] == "data of pkg.unused, no module of which is kept"
    assert decision.left_out == {"pkg.unused", "other", "alone"}
    # The extension that stays keeps what it imports; .pth files and dist-info always stay.
    assert "pkg/_speedups.cpython-312-x86_64-linux-gnu.so" not in decision.dropped and "extra.pth" not in decision.dropped


def test_a_library_only_left_out_files_need_goes_with_all_its_names(tmp_path: Path) -> None:
    index = {"modules": {"a": {"files": ["a/__init__.py"], "imports": [], "prefixes": []},
                         "a._x": {"files": ["a/_x.so"], "imports": [], "prefixes": []},
                         "a._y": {"files": ["a/_y.so"], "imports": [], "prefixes": []}}}  # fmt: skip
    files = ["a/__init__.py", "a/_x.so", "a/_y.so", "a/libflight.so", "a/libflight.so.26", "a/libcore.so.26"]
    needs = {"a/_x.so": ("libcore.so.26",), "a/_y.so": ("libflight.so.26",), "a/libflight.so": ("libcore.so.26",),
             "a/libflight.so.26": ("libcore.so.26",), "a/libcore.so.26": ()}  # fmt: skip
    decision = reach.decide(index, {"a": "root", "a._x": "root"}, files, lambda rel: needs.get(rel))
    assert set(decision.dropped) == {"a/_y.so", "a/libflight.so", "a/libflight.so.26"}
    assert "library needed only by left-out files (a/_y.so)" == decision.dropped["a/libflight.so.26"]
    # What a traced run loaded stays, with what it needs.
    decision = reach.decide(index, {"a": "root", "a._x": "root"}, files, lambda rel: needs.get(rel), loaded=["a/libflight.so.26"])
    assert set(decision.dropped) == {"a/_y.so"}


def test_the_go_code_names_modules_and_prefixes(tmp_path: Path) -> None:
    write(tmp_path, {
        "main.go": 'package main\n// C.PyImport_ImportModule\nfunc f() { importModule("corpus_snippets"); importModule("corpus_snippets." + n); x := "not a module!" }\n',
        "main_test.go": 'package main\nvar t = "testonly"\n',
    })  # fmt: skip
    names, prefixes = program_imports.go_strings(tmp_path)
    assert "corpus_snippets" in names and prefixes == {"corpus_snippets."} and "testonly" not in names


def test_the_guard_names_the_module_and_the_recipe_key(tmp_path: Path) -> None:
    """The finder the pruned bundle installs, run by this interpreter: a one-line error naming the
    module and prune.modules; find_spec still answers None; optional imports still see ImportError."""
    (tmp_path / "_gopack_left_out.py").write_text(program_imports._GUARD % {"names": ["gone", "gone.sub"], "key": reach.KEEP_KEY})
    code = textwrap.dedent("""
        import importlib.util, _gopack_left_out
        assert importlib.util.find_spec("gone") is None
        try:
            import gone.sub
        except ImportError as exc:
            print(type(exc).__name__, exc.name, exc)
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert out.strip() == (
        "ModuleNotFoundError gone No module named 'gone': gopack left it out of this bundle (prune.imports); "
        "keep it with prune.modules: [gone] in the recipe"
    )


def test_every_rule_is_a_list_of_module_names() -> None:
    rules = reach.rules()
    assert {"numpy", "scipy", "pandas", "sklearn", "matplotlib", "pyarrow", "onnxruntime", "cv2"} <= set(rules)
    for module, imports in rules.items():
        assert all(i.removesuffix(".*").replace(".", "_").isidentifier() for i in [module, *imports]), module


def test_the_recipe_reads_prune_imports_and_refuses_a_bad_module_name(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text("module example.com/a\n\ngo 1.21\n")
    base = 'name: a\nversion: "1"\ngo:\n  module: .\npython:\n  version: "3.12"\nprune:\n  imports: true\n'
    (tmp_path / "recipe.yaml").write_text(base + "  modules: [scipy.io, matplotlib.backends.backend_pdf]\n")
    loaded = model.load(tmp_path / "recipe.yaml")
    assert loaded.prune.imports and loaded.prune.modules == ("scipy.io", "matplotlib.backends.backend_pdf")
    (tmp_path / "recipe.yaml").write_text(base + "  modules: ['scipy/io']\n")
    with pytest.raises(RecipeError, match="prune.modules"):
        model.load(tmp_path / "recipe.yaml")
