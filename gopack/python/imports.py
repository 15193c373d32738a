"""What installed code imports when it is imported: so that pruning never removes it.

The prune rules drop folders such as ``tests`` and installers such as
``pkg_resources``; some packages import exactly those at import time
(``astropy/__init__.py`` runs ``from .tests.runner import TestRunner``; older
packages ``import pkg_resources``). Before a site-packages folder is pruned,
:func:`rescued` reads the import statements of the code that stays, and of
what that brings back, and names the files to be dropped that such an import
would load. Only statements that run when the module is imported count: those
outside function bodies (a ``try:`` or ``if`` around them counts; an import in a
function runs only if it is called, as a test helper's would).

Files are read as text and parsed only where a line imports one of the dropped
modules' names, so a site-packages of 20,000 files takes about a second.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import PurePosixPath

_IMPORT_LINE = re.compile(r"^[ \t]*(?:from|import)[ \t][^\n]*", re.MULTILINE)
_WORD = re.compile(r"\w+")


def module_of(rel: str) -> str | None:
    """The module a file under site-packages is (``a/b/__init__.py`` -> ``a.b``), or None.

    >>> module_of("astropy/tests/runner.py"), module_of("a/__init__.py"), module_of("a/_x.cpython-312-x86_64-linux-gnu.so")
    ('astropy.tests.runner', 'a', 'a._x')
    >>> module_of("a/data.csv") is None, module_of("a-1.0.dist-info/RECORD") is None
    (True, True)
    """
    path = PurePosixPath(rel)
    if not (path.suffix == ".py" or path.suffix == ".so"):
        return None
    stem = path.name.split(".", 1)[0]
    parts = [*path.parent.parts, stem] if stem != "__init__" else list(path.parent.parts)
    if not parts or not all(p.isidentifier() for p in parts):
        return None
    return ".".join(parts)


def imports_at_import_time(source: str, module: str, *, is_package: bool) -> Iterator[tuple[str, int]]:
    """(module name, line) of every module the code of ``module`` imports when it is
    imported: parent packages included, ``from x import y`` also as ``x.y``.

    >>> sorted(set(imports_at_import_time("from .tests.runner import T\\ndef f():\\n    import pytest\\n", "astro", is_package=True)))
    [('astro', 1), ('astro.tests', 1), ('astro.tests.runner', 1), ('astro.tests.runner.T', 1)]
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return
    package = module if is_package else module.rpartition(".")[0]
    for node in _run_at_import(tree.body):
        for name in named_by(node, package):
            parts = name.split(".")
            for i in range(1, len(parts) + 1):
                yield ".".join(parts[:i]), node.lineno


def named_by(node: ast.AST, package: str) -> list[str]:
    """The modules an import statement of a module in ``package`` names: ``import a.b`` a.b;
    ``from .x import y`` package.x and package.x.y (y may be a submodule); nothing for any other
    node, or for a relative import that climbs above the top package.

    >>> named_by(ast.parse("from ..b import c, d").body[0], "p.q")
    ['p.b', 'p.b.c', 'p.b.d']
    """
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:
        parts = package.split(".") if package else []
        if node.level - 1 > len(parts):
            return []
        anchor = parts[: len(parts) - (node.level - 1)]
        base = ".".join([*anchor, base] if base else anchor)
    return [base, *(f"{base}.{a.name}" for a in node.names if a.name != "*")] if base else []


def _run_at_import(body: Iterable[ast.stmt]) -> Iterator[ast.stmt]:
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        yield node
        for field in ("body", "orelse", "finalbody", "handlers"):
            inner = getattr(node, field, None)
            if isinstance(inner, list):
                for child in inner:  # statements, or a try's handlers, which hold statements
                    yield from _run_at_import(child.body if isinstance(child, ast.ExceptHandler) else [child])


def rescued(site_packages: str, dropped: Iterable[str], kept: Iterable[str], read: Mapping[str, str] | None = None) -> dict[str, str]:
    """The files of ``dropped`` (paths relative to ``site_packages``) that the code in
    ``kept`` imports at import time, directly or through other rescued files, each with
    the import that needs it ("pkg/__init__.py:182 imports pkg.tests.runner").
    ``read`` (for tests) stands in for the files' text."""
    by_module: dict[str, list[str]] = {}
    for rel in dropped:
        name = module_of(rel)
        if name is not None:
            by_module.setdefault(name, []).append(rel)
    if not by_module:
        return {}
    kept = list(kept)
    staying = {m for rel in kept if (m := module_of(rel)) is not None}
    # Code that stays reaches a dropped module only by naming where its path leaves what
    # stays (``tests`` in ``from .tests.runner import T``); rescued code is read whole.
    words = set()
    for name in by_module:
        parts = name.split(".")
        words.add(parts[next((i for i in range(len(parts)) if ".".join(parts[: i + 1]) not in staying), len(parts) - 1)])

    def mentions(source: str) -> bool:
        return any(not words.isdisjoint(_WORD.findall(line)) for line in _IMPORT_LINE.findall(source))

    def text(rel: str) -> str:
        if read is not None:
            return read.get(rel, "")
        try:
            with open(os.path.join(site_packages, rel), encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    found: dict[str, str] = {}
    queue = [rel for rel in kept if rel.endswith(".py")]
    while queue:
        rel = queue.pop()
        source = text(rel)
        if rel not in found and not mentions(source):
            continue
        module = module_of(rel)
        if module is None:
            continue
        for name, line in imports_at_import_time(source, module, is_package=rel.endswith("/__init__.py")):
            for target in by_module.get(name, ()):
                if target not in found:
                    found[target] = f"{rel}:{line} imports {name}"
                    queue.append(target)
    return dict(sorted(found.items()))
