"""The shape of gopack/: no module imports itself back through others, every folder says what it holds.

The layers themselves (a lower layer never imports a higher one) are import-linter's
contract in pyproject.toml, checked by ``make lint``.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import grimp

import gopack


def test_no_module_imports_itself_back() -> None:
    graph = grimp.build_graph("gopack", include_external_packages=False)
    circles = []
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back is not None:
                circles.append(" -> ".join((importer, *back)))
    assert circles == []


def test_every_folder_says_what_it_holds_and_may_import() -> None:
    folders = [m.name for m in pkgutil.walk_packages(gopack.__path__, "gopack.") if m.ispkg]
    assert {
        "gopack.recipe",
        "gopack.python",
        "gopack.go",
        "gopack.platform",
        "gopack.platform.linux",
        "gopack.platform.macos",
        "gopack.archive",
        "gopack.verify",
    } <= set(folders)
    for name in folders:
        doc = ast.get_docstring(ast.parse(Path(importlib.import_module(name).__file__ or "").read_text("utf-8")))
        assert doc and "May import" in doc, name
