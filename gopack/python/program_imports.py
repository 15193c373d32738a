"""``prune.imports`` on a staged bundle: the program's roots, a traced smoke run, what goes, a guard.

The roots are the app's own code (every module of ``app/``, and what it may
import), the module names the Go code holds as string constants (what it passes
to ``PyImport_ImportModule`` or a binding's equivalent; a constant ending in a
dot, ``"corpus_snippets." + name``, keeps every module under it), the recipe's
``prune.modules``, and what a run of the smoke command imported and loaded.
That run is traced in the staged bundle before anything goes: a ``.pth`` file
puts a recorder first on ``sys.meta_path`` (every import, in child processes
such as joblib's too), and glibc's ``LD_DEBUG=files`` names every library the
loader initialised, ``dlopen``/ctypes included. :mod:`gopack.python.reach`
then says what goes; this module removes it and installs a guard: a finder
last on ``sys.meta_path`` that turns the import of a left-out module into a
one-line ``ModuleNotFoundError`` naming the module and the recipe key that
keeps it (``importlib.util.find_spec`` still answers None, as for a module
never installed).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gopack import _proc
from gopack.errors import BuildError
from gopack.platform.base import Platform
from gopack.python import bytecode, import_index, reach

log = logging.getLogger(__name__)

GUARD = "_gopack_left_out"
_TRACER = "_gopack_import_trace"
_GO_STRING = re.compile(r'"([A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*\.?)"')
_LD_INIT = re.compile(r"calling init: (/[^\n]+)")
_RECORDER = """\
import os, sys
sys.dont_write_bytecode = True
_out = os.environ.get("GOPACK_IMPORT_TRACE")
if _out:
    class _Recorder(object):
        @staticmethod
        def find_spec(name, path=None, target=None):
            with open("%s.%d" % (_out, os.getpid()), "a") as f:
                f.write(name + "\\n")
            return None
    sys.meta_path.insert(0, _Recorder)
"""
_GUARD = """\
# Written by gopack (prune.imports): the modules left out of this bundle.
import sys

LEFT_OUT = frozenset(%(names)s)


class LeftOut(object):
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name not in LEFT_OUT:
            return None
        caller = sys._getframe(2)  # importlib.util.find_spec asks whether it exists: it does not
        if caller is not None and caller.f_globals.get("__name__") == "importlib.util":
            return None
        raise ModuleNotFoundError(
            "No module named %%r: gopack left it out of this bundle (prune.imports); "
            "keep it with %(key)s: [%%s] in the recipe" %% (name, name), name=name
        )


sys.meta_path.append(LeftOut)
"""


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """What prune.imports did to one bundle, for the manifest."""

    decision: reach.Decision
    sizes: Mapping[str, int]
    owners: Mapping[str, str]  # site-packages-relative path -> distribution
    roots: Mapping[str, str]

    def to_json(self) -> dict[str, Any]:
        """The manifest's ``left_out``: by distribution, the modules and files that went and why."""
        packages: dict[str, dict[str, Any]] = {}
        for rel, why in sorted(self.decision.dropped.items()):
            owner = _owner(self.owners, rel) or rel.split("/", 1)[0]
            package = packages.setdefault(owner, {"distribution": owner, "files": 0, "bytes": 0, "modules": [], "other": []})
            package["files"] += 1
            package["bytes"] += self.sizes.get(rel, 0)
            named = import_index.module_name(rel)
            if named is not None and named[0] in self.decision.left_out:
                if named[0] not in package["modules"]:
                    package["modules"].append(named[0])
            else:
                package["other"].append({"path": rel, "why": why})
        return {
            "key": reach.KEEP_KEY,
            "roots": len(self.roots),
            "kept_modules": len(self.decision.kept),
            "files": len(self.decision.dropped),
            "bytes": sum(self.sizes.get(rel, 0) for rel in self.decision.dropped),
            "packages": sorted(packages.values(), key=lambda p: -int(p["bytes"])),
        }


def go_strings(module: Path) -> tuple[set[str], set[str]]:
    """(names, prefixes): the string constants of the Go program's own sources that look like a
    module name (``"corpus_snippets"``), and those ending in a dot (``"corpus_snippets."``)."""
    names: set[str] = set()
    prefixes: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(module):
        dirnames[:] = sorted(d for d in dirnames if d not in ("testdata", ".git") and not d.startswith("_"))
        for name in filenames:
            if name.endswith(".go") and not name.endswith("_test.go"):
                text = Path(dirpath, name).read_text("utf-8", errors="replace")
                for found in _GO_STRING.findall(text):
                    (prefixes if found.endswith(".") else names).add(found)
    return names, prefixes


def roots(
    site_index: Mapping[str, Any],
    app_index: Mapping[str, Any],
    *,
    go: tuple[set[str], set[str]],
    modules: Iterable[str],
    traced: Iterable[str],
) -> reach.Roots:
    """Where following imports starts, each with why."""
    names: dict[str, str] = {}
    prefixes: dict[str, str] = {}
    for module, entry in app_index["modules"].items():
        for imported in entry["imports"]:
            names.setdefault(imported, f"the app's {module} imports it")
        for prefix in entry["prefixes"]:
            prefixes.setdefault(prefix, f"the app's {module} imports {prefix}... by a name built at run time")
    go_names, go_prefixes = go
    for name in sorted(go_names):
        if name in site_index["modules"]:
            names.setdefault(name, "the Go code names it")
    for prefix in sorted(go_prefixes):
        prefixes.setdefault(prefix, f"the Go code imports {prefix}... by a name built at run time")
    for name in modules:
        names[name] = f"the recipe's {reach.KEEP_KEY}"
        prefixes[name + "."] = f"the recipe's {reach.KEEP_KEY} ({name})"
    for name in traced:
        names.setdefault(name, "the traced smoke run imported it")
    for name, why in reach.standard_library_imports().items():
        if name in site_index["modules"]:
            names.setdefault(name, why)
    return reach.Roots(names=names, prefixes=prefixes)


def trace(root: Path, site: str, command: tuple[str, ...], *, timeout: float, scratch: Path) -> tuple[set[str], set[str]]:
    """Run the smoke command in the staged bundle ``root`` with the import and library trace on:
    (modules imported, bundle-relative files the loader initialised)."""
    before = set(_all_paths(root))
    (root / site / f"{_TRACER}.py").write_text(_RECORDER, "utf-8")
    (root / site / f"{_TRACER}.pth").write_text(f"import {_TRACER}\n", "utf-8")
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        _proc.run(
            [root / command[0], *command[1:]],
            what="the smoke command, traced for prune.imports",
            env={"GOPACK_IMPORT_TRACE": str(scratch / "imports"), "LD_DEBUG": "files", "LD_DEBUG_OUTPUT": str(scratch / "ld")},
            cwd=root,
            timeout=timeout,
            hint="prune.imports keeps what a run of the smoke command imports: the command must pass in the bundle first "
            "(or turn prune.imports off)",
        )
    finally:
        # What the run wrote into the bundle (the recorder, bytecode caches) is not part of it.
        for path in sorted(set(_all_paths(root)) - before, key=lambda p: -len(p.parts)):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
    imported: set[str] = set()
    loaded: set[str] = set()
    real_root = os.path.realpath(root)
    for record in sorted(scratch.iterdir()):
        text = record.read_text("utf-8", errors="replace")
        if record.name.startswith("imports."):
            imported.update(line for line in text.splitlines() if line)
        elif record.name.startswith("ld."):
            for path in _LD_INIT.findall(text):
                full = os.path.realpath(path.strip())
                if full.startswith(real_root + os.sep):
                    loaded.add(os.path.relpath(full, real_root))
    return imported, loaded


def prune(
    root: Path,
    site: str,
    *,
    site_index: Mapping[str, Any],
    app_index: Mapping[str, Any],
    go: tuple[set[str], set[str]],
    modules: Iterable[str],
    command: tuple[str, ...],
    timeout: float,
    scratch: Path,
    platform: Platform,
    owners: Mapping[str, str],
    python: Path,
    version: str,
) -> Outcome:
    """Trace the smoke run, decide, remove what goes from ``root`` and install the guard
    (compiled by ``python``, the bundle's interpreter of ``version``, like every other module)."""
    traced, loaded = trace(root, site, command, timeout=timeout, scratch=scratch)
    the_roots = roots(site_index, app_index, go=go, modules=modules, traced=traced)
    kept = reach.reach(site_index, the_roots, reach.rules())
    top = root / site
    files = [Path(d, n).relative_to(top).as_posix() for d, _, names in os.walk(top) for n in names]
    outside = [
        Path(d, n).relative_to(root).as_posix()
        for d, _, names in os.walk(root)
        for n in names
        if not Path(d, n).is_relative_to(top) and not os.path.islink(os.path.join(d, n))
    ]
    outside_needs = {need for rel in outside for need in platform.needed(root, rel) or ()}
    prefix = site + "/"
    decision = reach.decide(
        site_index,
        kept,
        files,
        lambda rel: platform.needed(top, rel),
        outside_needs=outside_needs,
        loaded=[rel[len(prefix) :] for rel in loaded if rel.startswith(prefix)],
    )
    sizes = {rel: os.lstat(top / rel).st_size for rel in decision.dropped}
    for rel in decision.dropped:
        os.unlink(top / rel)
    _remove_empty(top)
    if decision.left_out:
        # Compiled apart (the rest of site-packages is compiled already), named by its place in the bundle.
        staged = scratch / "guard"
        (staged / site).mkdir(parents=True)
        (staged / site / f"{GUARD}.py").write_text(_GUARD % {"names": sorted(decision.left_out), "key": reach.KEEP_KEY}, "utf-8")
        bytecode.compile_tree(python, staged, relative_to=staged, version=version, keep_sources=False, epoch=0)
        shutil.move(staged / site / f"{GUARD}.pyc", top / f"{GUARD}.pyc")
        (top / f"{GUARD}.pth").write_text(f"import {GUARD}\n", "utf-8")
    log.info("prune.imports left out %d files (%.1f MB)", len(decision.dropped), sum(sizes.values()) / 1e6)
    site_owners = {p[len(prefix) :]: d for p, d in owners.items() if p.startswith(prefix)}
    return Outcome(decision=decision, sizes=sizes, owners=site_owners, roots=dict(the_roots.names))


def index_app(app: Path, site_index: Mapping[str, Any]) -> dict[str, Any]:
    """The app's own modules with what they may import of site-packages; every one of them is a root."""
    found = import_index.scan(app, beside=site_index["modules"])
    for module in list(found["modules"]):
        found["modules"][module]["imports"].append(module)
    return found


def read_index(path: Path) -> dict[str, Any]:
    """The tree's import index; a tree made without prune.imports has none."""
    if not path.is_file():
        raise BuildError(f"the cached Python tree has no import index ({path.name})", hint="run `gopack cache prune` and build again")
    return dict(json.loads(path.read_text("utf-8")))


def _all_paths(root: Path) -> list[Path]:
    return [Path(d, n) for d, dirs, files in os.walk(root) for n in [*dirs, *files]]


def _owner(owners: Mapping[str, str], rel: str) -> str | None:
    """The distribution of a file; RECORD lists a module's source, the bundle holds its bytecode."""
    return owners.get(rel) or (owners.get(rel[:-1]) if rel.endswith(".pyc") else None)


def _remove_empty(top: Path) -> None:
    for dirpath, _, _ in sorted(os.walk(top, topdown=False), key=lambda w: -len(w[0])):
        if Path(dirpath) != top and not os.listdir(dirpath):
            os.rmdir(dirpath)
