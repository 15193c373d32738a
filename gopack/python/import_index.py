"""What each module of a site-packages names, read once while its sources are there (``prune.imports``).

The index is made when the tree is made (and cached with it): the bundle ships
bytecode only, so the sources it is read from are gone by the time a program's
imports are followed (:mod:`gopack.python.reach`). For every module it records
the module names it may import, read statically and generously, as
PyInstaller's modulegraph does, so that what runs is never missed:

- every ``import`` and ``from ... import`` statement, in function bodies too
  (an import there runs when the function is called); relative ones resolved;
- string constants that are a module name (``DATA_MODULE = "sklearn.datasets.data"``
  for ``importlib.resources``, ``import_module("scipy.sparse")``), and prefixes a
  name is built from at run time (``"sqlalchemy.dialects.%s"``,
  ``f"matplotlib.backends.backend_{name}"``: every module under them);
- for an ``__init__.pyi`` stub (lazy_loader, which scikit-image uses, imports
  what its stub names), the stub's imports, as the package's;
- for an extension module (a native file exporting ``PyInit_<name>``), the module
  names among its C strings (Cython and pybind11 import by such names).

Statements are found by a regular expression and only they are parsed (a
site-packages of 200 MB of sources would take a minute to parse whole). Names
are kept only where they name a module of the tree, so the index stays small.
"""

from __future__ import annotations

import ast
import bisect
import json
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from gopack.python import imports

INDEX = "imports.json"
VERSION = 1

_STATEMENT = re.compile(
    r"^[ \t]*(?:from[ \t]+[\w.]+[ \t]+import[ \t]*(?:\([^)]*\)|[^\n]*(?:\\\n[^\n]*)*)|import[ \t]+[\w.][^\n]*(?:\\\n[^\n]*)*)",
    re.MULTILINE,
)
#: A quoted name and what ends it: its quote (a constant, or a prefix when "+" follows),
#: or the start of a format ("pkg.%s", f"pkg.backend_{name}", "pkg.{}".format(name)).
_STRING = re.compile(r"""['"]([A-Za-z_][\w.]*)(['"%{])([ \t]*\+)?""")
#: A C string that looks like a module name (a NUL on each side: packed in .rodata).
_C_NAME = re.compile(rb"\x00([A-Za-z_][\w.]{1,200})(?=\x00)")
_SUFFIXES = (".py", ".pyi", ".so")


def module_name(rel: str) -> tuple[str, bool] | None:
    """(module, is a package) of a file under site-packages or app/, or None: ``a/b/__init__.py``
    -> ``("a.b", True)``; ``a/_x.cpython-312-x86_64-linux-gnu.so``, ``a/x.pyc``,
    ``a/__pycache__/x.cpython-312.pyc`` -> ``a._x``, ``a.x``.

    >>> module_name("a/b/__init__.pyc"), module_name("a/__pycache__/x.cpython-37.pyc"), module_name("a/_x.abi3.so")
    (('a.b', True), ('a.x', False), ('a._x', False))
    >>> module_name("a/data.csv") is None, module_name("a-1.0.dist-info/RECORD") is None, module_name("libz.so.1") is None
    (True, True, True)
    """
    path = PurePosixPath(rel)
    if path.suffix not in (*_SUFFIXES, ".pyc"):
        return None
    parent = list(path.parent.parts)
    if parent and parent[-1] == "__pycache__":
        parent = parent[:-1]
    stem = path.name.split(".", 1)[0]
    package = stem == "__init__"
    parts = parent if package else [*parent, stem]
    if not parts or not all(p.isidentifier() for p in parts):
        return None
    return ".".join(parts), package


def statements(source: str, module: str, *, is_package: bool) -> Iterator[str]:
    """Every module name an import statement of ``source`` (the code of ``module``) names,
    wherever it stands; ``from x import y`` also as ``x.y``, parents not included.

    >>> sorted(statements("from .b import (c,\\n  d)\\ndef f():\\n    import e.f as g\\n", "a.m", is_package=False))
    ['a.b', 'a.b.c', 'a.b.d', 'e.f']
    """
    package = module if is_package else module.rpartition(".")[0]
    for match in _STATEMENT.finditer(source):
        try:
            tree = ast.parse(match.group(0).strip().replace("\\\n", " "))
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            yield from imports.named_by(node, package)


def strings(source: str) -> tuple[set[str], set[str]]:
    """(string constants that look like a module name, prefixes names are built from). A
    prefix that leaves the whole of a top-level package open (``"numpy." + name``, mostly
    attribute paths in messages) is not one.

    >>> constants, prefixes = strings("M = 'a.b'\\nimport_module('x.y.%s' % n)\\nf'p.backend_{n}'\\n'q.' + n\\n")
    >>> sorted(constants), sorted(prefixes)
    (['a.b'], ['p.backend_', 'x.y.'])
    """
    constants, prefixes = set(), set()
    for name, end, plus in _STRING.findall(source):
        if end in "%{" or plus:
            head, _, tail = name.rpartition(".")
            if head and (tail or "." in head):  # not a whole top-level package ("numpy." + name)
                prefixes.add(name)
        else:
            constants.add(name)
    return constants, prefixes


def c_strings(data: bytes) -> set[str]:
    """The C strings of a native file that look like a module name.

    >>> sorted(c_strings(b"\\x00numpy._core._exceptions\\x00x y\\x00scipy\\x00"))
    ['numpy._core._exceptions', 'scipy']
    """
    return {m.decode() for m in _C_NAME.findall(data)}


def scan(folder: Path, *, beside: Iterable[str] = ()) -> dict[str, Any]:
    """The index of ``folder`` (a site-packages, or the app's code): for every module its file
    (or files: a package's ``__init__.py`` and ``__init__.pyi``), the module names it may
    import that are modules of ``folder`` or ``beside`` (the app's: site-packages'),
    prefixes that name some of them, and whether it is an empty package (``empty``: one
    that holds data for ``importlib.resources``, as tzdata's zone folders do)."""
    found: dict[str, list[str]] = {}
    empty: set[str] = set()
    names: dict[str, set[str]] = {}
    prefixes: dict[str, set[str]] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__" and not d.endswith((".dist-info", ".egg-info")))
        for filename in sorted(filenames):
            rel = Path(dirpath, filename).relative_to(folder).as_posix()
            named = module_name(rel)
            if named is None or rel.endswith(".pyc"):
                continue
            module, is_package = named
            full = Path(dirpath, filename)
            if filename.endswith(".so"):
                data = full.read_bytes()
                if b"PyInit_" + filename.split(".", 1)[0].encode() not in data:
                    continue  # a library loaded by ctypes or needed by an extension, not a module
                wanted, built, text = c_strings(data), set[str](), "-"
            else:
                text = full.read_text("utf-8", errors="replace")
                wanted = set(statements(text, module, is_package=is_package))
                constants, built = strings(text)
                wanted |= constants
            if filename == "__init__.py" and not text.strip():
                empty.add(module)
            found.setdefault(module, []).append(rel)
            names.setdefault(module, set()).update(wanted)
            prefixes.setdefault(module, set()).update(built)
    known = set(found) | set(beside) | {".".join(m.split(".")[:i]) for m in found for i in range(1, m.count(".") + 1)}
    ordered = sorted(known)
    return {
        "version": VERSION,
        "modules": {
            module: {
                "files": files,
                "imports": sorted(n for n in names[module] if n in known and n != module),
                "prefixes": sorted(p for p in prefixes[module] if _names_some(ordered, p)),
                **({"empty": True} if module in empty else {}),
            }
            for module, files in sorted(found.items())
        },
    }


def _names_some(ordered: list[str], prefix: str) -> bool:
    """Some name of the sorted ``ordered`` starts with ``prefix``."""
    at = bisect.bisect_left(ordered, prefix)
    return at < len(ordered) and ordered[at].startswith(prefix)


def write(folder: Path, dest: Path) -> None:
    """Scan ``folder`` and write its index to ``dest``."""
    dest.write_text(json.dumps(scan(folder), sort_keys=True, separators=(",", ":")), "utf-8")


def read(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text("utf-8")))
