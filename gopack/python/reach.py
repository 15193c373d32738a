"""Which files of site-packages the program can reach (``prune.imports``), and why each other one goes.

Pure: it reads the index made with the tree (:mod:`gopack.python.import_index`),
the names the program starts from and the needs of the native files, and
returns what goes with a reason each; the pipeline removes the files.

- Modules: those the roots name (the app's own imports, the names the Go code
  passes to the C API, ``prune.modules``, what a traced smoke run imported),
  then everything they may import, their parent packages, and what the known
  packages import by names built at run time (``import_rules.json``, as
  PyInstaller's hooks say). A module nothing reaches goes: its ``.pyc``, ``.py``,
  ``.pyi`` and extension module.
- Native libraries: one that a kept native file needs (DT_NEEDED, by file name,
  through other libraries) stays; one that only left-out files need goes. One
  that no file needs (loaded with ctypes: lightgbm's, xgboost's) is data.
- Data (any other file): it goes with the package that holds it, when no
  module of that package's folder, or below it, is kept (``sklearn/datasets/data``
  goes unless ``sklearn.datasets.data`` is imported); a folder holding no module
  at all (``matplotlib/mpl-data``) belongs to the package above it.

``*.dist-info`` folders and files at the top of site-packages that are not
modules (``.pth`` files) always stay.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import PurePosixPath
from typing import Any

from gopack.python.import_index import module_name

#: The recipe key a run that hits a left-out module is told to use.
KEEP_KEY = "prune.modules"


@dataclass(frozen=True, kw_only=True)
class Roots:
    """Where following imports starts: module name -> why it is a root, and prefixes
    (``corpus_snippets.``) every module under which is a root."""

    names: Mapping[str, str]
    prefixes: Mapping[str, str]


@dataclass(frozen=True, kw_only=True)
class Decision:
    #: site-packages-relative path -> why it goes
    dropped: dict[str, str]
    #: module -> why it stays
    kept: dict[str, str]
    #: modules every file of which goes (the run-time guard names them)
    left_out: frozenset[str]


def rules() -> dict[str, list[str]]:
    """module -> what it imports by names built at run time (``x.*``: x and every module under it)."""
    return {k: list(v["imports"]) for k, v in _rules_file()["rules"].items()}


def standard_library_imports() -> dict[str, str]:
    """Installed modules the standard library imports by name (which is not read): module -> why."""
    return {k: str(v) for k, v in _rules_file()["standard_library"].items()}


def _rules_file() -> dict[str, Any]:
    return dict(json.loads(resources.files("gopack.python").joinpath("import_rules.json").read_text("utf-8")))


def reach(index: Mapping[str, Any], roots: Roots, known_rules: Mapping[str, list[str]]) -> dict[str, str]:
    """Every module of ``index`` reached from ``roots``, with why (the first reason found)."""
    modules: Mapping[str, Any] = index["modules"]
    ordered = sorted(modules)
    kept: dict[str, str] = {}
    queue: list[tuple[str, str]] = [(n, why) for n, why in roots.names.items()]
    for prefix, why in roots.prefixes.items():
        queue += [(m, why) for m in _under(ordered, prefix)]

    def reached(name: str, why: str) -> None:
        queue.append((name, why))

    seen: set[str] = set()
    while queue:
        name, why = queue.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        for i in range(1, len(parts)):
            parent = ".".join(parts[:i])
            if parent in modules and parent not in seen:
                reached(parent, f"parent of {name}")
        for item in known_rules.get(name, ()):
            if item.endswith(".*"):
                base = item[:-2]
                reached(base, f"{name} imports it by name at run time (gopack's import rules)")
                for m in _under(ordered, base + "."):
                    reached(m, f"{name} imports {item} by name at run time (gopack's import rules)")
            else:
                reached(item, f"{name} imports it by name at run time (gopack's import rules)")
        if name not in modules:
            continue
        kept[name] = why
        entry = modules[name]
        # Empty packages below a kept one hold data that importlib.resources opens by a name
        # built at run time (tzdata.zoneinfo.Europe, sklearn.datasets.data): they stay with it.
        for m in _under(ordered, name + "."):
            if modules[m].get("empty") and m not in seen and "." not in m[len(name) + 1 :]:
                reached(m, f"an empty package of {name}: data read by name")
        for imported in entry["imports"]:
            if imported not in seen:
                reached(imported, f"{name} imports it")
        for prefix in entry["prefixes"]:
            for m in _under(ordered, prefix):
                if m not in seen:
                    reached(m, f"{name} imports {prefix}... by a name built at run time")
    return kept


def decide(
    index: Mapping[str, Any],
    kept: Mapping[str, str],
    files: Iterable[str],
    needed: Callable[[str], tuple[str, ...] | None],
    *,
    outside_needs: Iterable[str] = (),
    loaded: Iterable[str] = (),
) -> Decision:
    """What goes of ``files`` (site-packages-relative paths of the final tree) once ``kept`` are
    the modules that stay. ``needed(rel)``: the DT_NEEDED names of a native file, None for a
    file that is not one; ``outside_needs``: the names native files outside site-packages need;
    ``loaded``: native files a traced run loaded. The files of one library (``libx.so``,
    ``libx.so.1``, ``libx.so.1.2``: links or copies) stay or go together."""
    outside_needs = set(outside_needs)
    files = sorted(files)
    extension_files = {f for entry in index["modules"].values() for f in entry["files"] if f.endswith(".so")}
    module_of: dict[str, str] = {}
    native: dict[str, tuple[str, ...]] = {}
    for rel in files:
        if _always_stays(rel):
            continue
        found = module_name(rel)
        is_module = found is not None and (not rel.endswith(".so") or rel in extension_files)
        needs = needed(rel) if _maybe_native(rel) else None
        if needs is not None:
            native[rel] = needs
        if is_module and found is not None:
            module_of[rel] = found[0]
    family: dict[str, list[str]] = {}
    for rel in native:
        family.setdefault(_library(rel), []).append(rel)
    by_name: dict[str, list[str]] = {}
    for rel in native:
        by_name.setdefault(PurePosixPath(rel).name, []).extend(family[_library(rel)])
    needed_by_any = {n for needs in native.values() for n in needs} | outside_needs

    def is_needed(rel: str) -> bool:
        return any(PurePosixPath(f).name in needed_by_any for f in family[_library(rel)])

    # Folders that hold a module (or below), and those that hold a kept one.
    has_module: set[str] = set()
    has_kept: set[str] = set()
    for rel, module in module_of.items():
        for folder in _folders(rel):
            has_module.add(folder)
            if module in kept:
                has_kept.add(folder)

    def data_stays(rel: str) -> bool:
        owner = next((f for f in reversed(_folders(rel)) if f in has_module), None)
        return owner is None or owner in has_kept

    # Native files that stay: kept extension modules, libraries no file needs (ctypes) in a
    # kept package, libraries native files outside site-packages need; then what they need.
    stays = {rel for rel in native if (rel in module_of and module_of[rel] in kept)}
    stays |= {rel for rel in native if rel not in module_of and not is_needed(rel) and data_stays(rel)}
    stays |= {rel for name in outside_needs for rel in by_name.get(name, ())}
    stays |= {f for rel in loaded if rel in native for f in family[_library(rel)]}
    queue = list(stays)
    while queue:
        for name in native[queue.pop()]:
            for rel in by_name.get(name, ()):
                if rel not in stays:
                    stays.add(rel)
                    queue.append(rel)
    needers: dict[str, list[str]] = {}
    for rel, needs in native.items():
        for name in needs:
            needers.setdefault(name, []).append(rel)

    dropped: dict[str, str] = {}
    for rel in files:
        if _always_stays(rel):
            continue
        if rel in module_of:
            module = module_of[rel]
            if module not in kept and rel not in stays:
                dropped[rel] = f"module {module}: nothing the program imports reaches it"
        elif rel in native and is_needed(rel):
            if rel not in stays:
                users = sorted({u for f in family[_library(rel)] for u in needers.get(PurePosixPath(f).name, ())})
                dropped[rel] = f"library needed only by left-out files ({', '.join(users[:3])}{' ...' if len(users) > 3 else ''})"
        elif not data_stays(rel):
            owner = next(f for f in reversed(_folders(rel)) if f in has_module)
            dropped[rel] = f"data of {owner.replace('/', '.')}, no module of which is kept"
    gone_modules = {module_of[rel] for rel in dropped if rel in module_of}
    staying_modules = {module_of[rel] for rel in module_of if rel not in dropped}
    return Decision(dropped=dropped, kept=dict(kept), left_out=frozenset(gone_modules - staying_modules))


def _always_stays(rel: str) -> bool:
    """dist-info (importlib.metadata reads it) and the files at the top that are not modules (.pth)."""
    first = rel.split("/", 1)[0]
    return first.endswith((".dist-info", ".egg-info")) or ("/" not in rel and module_name(rel) is None)


def _library(rel: str) -> str:
    """The library a native file is one name of.

    >>> _library("pyarrow/libarrow_python.so.2600.1.0"), _library("a.libs/libz-1a2b.so.1")
    ('pyarrow/libarrow_python.so', 'a.libs/libz-1a2b.so')
    """
    folder, _, name = rel.rpartition("/")
    return f"{folder}/{name[: name.index('.so') + 3]}" if ".so" in name else rel


def _maybe_native(rel: str) -> bool:
    name = PurePosixPath(rel).name
    return name.endswith(".so") or ".so." in name


def _folders(rel: str) -> list[str]:
    """The folders of ``rel``, outermost first, site-packages itself not included.

    >>> _folders("a/b/c.py")
    ['a', 'a/b']
    """
    parts = rel.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _under(ordered: list[str], prefix: str) -> list[str]:
    """The names of the sorted ``ordered`` that start with ``prefix``."""
    at = bisect.bisect_left(ordered, prefix)
    found = []
    while at < len(ordered) and ordered[at].startswith(prefix):
        found.append(ordered[at])
        at += 1
    return found
