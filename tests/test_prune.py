"""The pruning rules (pure logic on a tree made here)."""

from __future__ import annotations

import shutil
from pathlib import Path

from gopack.python import prune
from gopack.recipe import prune_rules


def make(root: Path, *paths: str) -> None:
    for rel in paths:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x" * 10)


def test_default_rules_drop_what_never_runs_and_keep_dist_info(tmp_path: Path) -> None:
    site = "python/lib/python3.7/site-packages"
    make(
        tmp_path,
        "python/lib/python3.7/os.py",
        "python/lib/python3.7/test/test_os.py",
        "python/lib/python3.7/json/tests/test_x.py",
        "python/lib/python3.7/tkinter/__init__.py",
        "python/lib/python3.7/config-3.7m-x86_64-linux-gnu/libpython3.7m.a",
        f"{site}/numpy/core/tests/test_a.py",
        f"{site}/numpy/core/multiarray.py",
        f"{site}/numpy/core/include/numpy/x.h",
        f"{site}/numpy-1.21.6.dist-info/METADATA",
        f"{site}/numpy-1.21.6.dist-info/tests/keep.txt",
        f"{site}/pip/__init__.py",
        f"{site}/pip-23.0.dist-info/METADATA",
        f"{site}/bin/f2py",
        f"{site}/scipy/x/__pycache__/y.cpython-37.pyc",
    )
    drop, keep = prune_rules.rules(defaults=True, drop=(), keep=())
    pruned = prune.prune(tmp_path, drop=drop, keep=keep)
    left = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert left == [
        "python/lib/python3.7/os.py",
        f"{site}/numpy-1.21.6.dist-info/METADATA",
        f"{site}/numpy-1.21.6.dist-info/tests/keep.txt",
        f"{site}/numpy/core/multiarray.py",
    ]
    assert sum(p.files for p in pruned) == 10 and sum(p.bytes for p in pruned) == 100
    assert not (tmp_path / site / "pip").exists(), "emptied folders go too"


def test_recipe_keep_wins_and_drop_extends(tmp_path: Path) -> None:
    make(tmp_path, "python/lib/python3.7/tkinter/__init__.py", "python/lib/python3.7/csv.py", "app/data/big.bin")
    drop, keep = prune_rules.rules(defaults=True, drop=("app/data/**",), keep=("python/lib/python*/tkinter",))
    prune.prune(tmp_path, drop=drop, keep=keep)
    assert (tmp_path / "python/lib/python3.7/tkinter/__init__.py").exists()
    assert not (tmp_path / "app/data/big.bin").exists()
    assert (tmp_path / "python/lib/python3.7/csv.py").exists()


def test_no_defaults_prunes_nothing(tmp_path: Path) -> None:
    make(tmp_path, "python/lib/python3.7/test/test_os.py")
    drop, keep = prune_rules.rules(defaults=False, drop=(), keep=())
    assert prune.prune(tmp_path, drop=drop, keep=keep) == []
    assert (tmp_path / "python/lib/python3.7/test/test_os.py").exists()


def test_pruning_while_copying_leaves_and_counts_what_pruning_after_does(tmp_path: Path) -> None:
    """The stdlib is pruned as it is copied (what goes is never copied): same tree, same report."""
    stdlib = [
        "os.py",
        "test/test_os.py",
        "test/support/__init__.py",
        "test/__pycache__/x.cpython-37.pyc",
        "json/__init__.py",
        "json/tests/test_x.py",
        "tkinter/__init__.py",
        "tkinter/ttk.py",
        "config-3.7m-x86_64-linux-gnu/libpython3.7m.a",
        "config-3.7m-x86_64-linux-gnu/Makefile",
        "lib2to3/fixes/fix_print.py",
        "site-packages/README.txt",
        "__pycache__/os.cpython-37.pyc",
    ]
    source = tmp_path / "source"
    make(source, *stdlib)
    drop, keep = prune_rules.rules(defaults=True, drop=(), keep=("python/lib/python*/test/support",))
    never = frozenset({"__pycache__", "site-packages"})

    after = tmp_path / "after"
    shutil.copytree(source, after / "python/lib/python3.7", ignore=shutil.ignore_patterns(*never))
    expected = prune.prune(after, drop=drop, keep=keep)

    during = tmp_path / "during"
    pruner = prune.Pruner(drop=drop, keep=keep)
    shutil.copytree(source, during / "python/lib/python3.7", ignore=pruner.ignore(source, "python/lib/python3.7", never=never))

    def files(root: Path) -> list[str]:
        return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))

    assert files(during) == files(after)
    assert "python/lib/python3.7/test/support/__init__.py" in files(during)  # a keep rule inside a dropped folder
    assert "python/lib/python3.7/lib2to3" not in files(during)  # a folder all of whose files go is not made
    assert sorted(map(vars, pruner.pruned()), key=str) == sorted(map(vars, expected), key=str)


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def test_a_dropped_folder_that_code_which_stays_imports_at_import_time_stays_whole(tmp_path: Path) -> None:
    """astropy/__init__.py runs ``from .tests.runner import TestRunner``; older packages
    ``import pkg_resources``, which loads its vendored packages by names built at run
    time. A folder a rule drops stays whole once code that stays imports anything in it
    when it is imported; imports inside functions (test helpers) do not count."""
    site = "python/lib/python3.12/site-packages"
    write(
        tmp_path,
        {
            f"{site}/astro/__init__.py": "import os\ntry:\n    from .tests.runner import TestRunner\nexcept ImportError:\n    pass\n",
            f"{site}/astro/tests/__init__.py": "",
            f"{site}/astro/tests/runner.py": "from . import helper\n",
            f"{site}/astro/tests/helper.py": "X = 1\n",
            f"{site}/astro/tests/data/table.csv": "a,b\n",
            f"{site}/old/__init__.py": "import pkg_resources\n",
            f"{site}/pkg_resources/__init__.py": "import importlib\nimportlib.import_module('pkg_resources._vendor.' + 'jaraco')\n",
            f"{site}/pkg_resources/_vendor/jaraco/__init__.py": "",
            f"{site}/lazy/__init__.py": "def test():\n    from lazy.tests import everything\n",
            f"{site}/lazy/tests/everything.py": "",
        },
    )
    drop, keep = prune_rules.rules(defaults=True, drop=(), keep=())
    pruner = prune.Pruner(drop=drop, keep=keep)
    pruner.prune(tmp_path, under=tmp_path / site)
    left = {p.relative_to(tmp_path / site).as_posix() for p in (tmp_path / site).rglob("*") if p.is_file()}
    assert left == {
        "astro/__init__.py",
        "astro/tests/__init__.py",
        "astro/tests/runner.py",
        "astro/tests/helper.py",
        "astro/tests/data/table.csv",
        "old/__init__.py",
        "pkg_resources/__init__.py",
        "pkg_resources/_vendor/jaraco/__init__.py",
        "lazy/__init__.py",
    }
    assert "/tests would drop it, but astro/__init__.py:3 imports astro.tests" in pruner.rescued[f"{site}/astro/tests/runner.py"]
    assert pruner.rescued[f"{site}/astro/tests/data/table.csv"].endswith(f"(from {site}/astro/tests, which stays whole)")
    assert "old/__init__.py:1 imports pkg_resources" in pruner.rescued[f"{site}/pkg_resources/_vendor/jaraco/__init__.py"]
    counted = {p.rule: p.files for p in pruner.pruned()}
    assert counted == {"python/lib/python*/**/tests": 1}  # lazy's everything.py: imported in a function only
