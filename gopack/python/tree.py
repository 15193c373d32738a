"""The Python tree of a bundle (``python/``): made once per set of inputs, then cached.

Making it: a relocatable prefix with the requirements installed
(:mod:`gopack.python.env`), pruned, stripped (before any patchelf edit, every
stripped file checked to load), relocated (vendored libraries, ``$ORIGIN``
search paths), checked to load again, and the bytecode compiled. A rebuild whose Python side did not
change hard-links the cached tree into place and reuses what was learnt about
it (packages, vendored libraries, symbol versions, file hashes).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from gopack import _cputime, _fs, _proc, cache
from gopack._fs import link_or_copy
from gopack.archive import contents
from gopack.archive import write as archive
from gopack.errors import BuildError
from gopack.platform import platforms
from gopack.platform.target import Target
from gopack.python import bytecode, conda, headers, import_index, prune, sources
from gopack.python import env as pythonenv
from gopack.python.interpreters import Interpreter
from gopack.recipe import prune_rules
from gopack.recipe.model import Recipe

#: The entry's derived folder holding site-packages with its headers put back.
SITE_PACKAGES_VIEW = "site-packages-with-headers"


@dataclass(frozen=True, kw_only=True)
class PythonTree:
    entry: cache.Entry
    cached: bool

    @property
    def meta(self) -> Mapping[str, Any]:
        return self.entry.meta

    @property
    def requirements(self) -> dict[str, dict[str, frozenset[str]]]:
        return {f: {v: frozenset(s) for v, s in versions.items()} for f, versions in self.meta["requirements"].items()}

    @property
    def headers(self) -> Path:
        """The headers the tree installed, kept at their bundle-relative paths (:mod:`gopack.python.headers`)."""
        return self.entry.path / headers.FOLDER

    @property
    def imports_index(self) -> Path:
        """What each module of site-packages may import (made with prune.imports)."""
        return self.entry.path / import_index.INDEX

    @property
    def site_packages(self) -> str:
        """Bundle-relative: python/lib/python3.X/site-packages."""
        (found,) = {f["path"].split("/site-packages/")[0] + "/site-packages" for f in self.meta["files"] if "/site-packages/" in f["path"]}
        return str(found)

    def site_packages_view(self) -> Path:
        """The tree's site-packages with the headers pruning dropped put back (hard links),
        made once per entry in its ``derived/``, for ``{python.site_packages}``."""

        def make(folder: Path) -> dict[str, Any]:
            view = folder / "site-packages"
            shutil.copytree(self.entry.path / self.site_packages, view, symlinks=True, copy_function=link_or_copy)
            kept = self.headers / self.site_packages
            if kept.is_dir():
                # Files the tree kept (prune rules the recipe turned off) are there already.
                shutil.copytree(kept, view, symlinks=True, copy_function=_link_if_missing, dirs_exist_ok=True)
            return {"site_packages": self.site_packages}

        folder, _ = cache.derived(self.entry, SITE_PACKAGES_VIEW, make)
        return folder / "site-packages"

    def get_include(self, module: str) -> Path:
        """``module.get_include()`` of the tree's own copy, in the kept headers (raises BuildError)."""
        python = self.entry.python / "bin" / self.meta["program"]
        out = _proc.run(
            [python, "-I", "-c", f"import sys, {module} as m; sys.stdout.write(str(m.get_include()))"],
            what=f"{module}.get_include() with the bundle's Python",
            hint=f"{{include:{module}}} needs a module of the bundle that has get_include() (numpy, pybind11, pyarrow do)",
        ).strip()
        try:
            rel = Path(out).resolve().relative_to(self.entry.path.resolve())
        except ValueError:
            raise BuildError(f"{module}.get_include() names {out}, outside the bundle's Python tree") from None
        folder = self.headers / rel
        if not folder.is_dir():
            raise BuildError(f"{module}.get_include() names {rel.as_posix()}, where the bundle's Python tree installed no headers")
        return folder

    def link_into(self, root: Path) -> None:
        """Hard-link the cached tree to ``root/python`` (a copy across file systems)."""
        shutil.copytree(self.entry.python, root / "python", symlinks=True, copy_function=link_or_copy)

    @cached_property
    def names(self) -> frozenset[str]:
        """Every path (folders too) the tree holds, relative to the bundle root."""
        return frozenset({"python", *(f"python/{rel.as_posix()}" for rel in archive.walk(self.entry.python))})

    def segment(self, want: Segment) -> archive.Segment:
        """The tree's entries of a tar archive, compressed once per top folder, format and
        level and kept in the cache entry (see :mod:`gopack.archive.write`)."""
        folder, meta = cache.derived(self.entry, want.name, lambda tmp: want.write(self.entry.path, self.meta["files"], tmp))
        return archive.Segment(path=folder / want.data, tar_bytes=int(meta["tar_bytes"]), subtree="python", names=self.names)


@dataclass(frozen=True, kw_only=True)
class Segment:
    """Settings of a tree's archive segment: the archive's top folder, format and level."""

    top: str
    fmt: str
    level: int

    @property
    def settings(self) -> list[Any]:
        return [self.top, self.fmt, self.level, archive.epoch()]

    @property
    def name(self) -> str:
        """Its folder in the entry's ``derived/``."""
        return "segment-" + hashlib.sha256(json.dumps(self.settings).encode()).hexdigest()[:32]

    @property
    def data(self) -> str:
        return f"python.{self.fmt}"

    def write(self, entry: Path, files: list[dict[str, Any]], folder: Path) -> dict[str, Any]:
        """Compress ``entry/python`` (whose manifest entries are ``files``) into ``folder``; return its metadata."""
        links = archive.duplicates(list(files), self.fmt)
        tar_bytes = archive.write_segment(entry, "python", self.top, folder / self.data, fmt=self.fmt, level=self.level, links=links)
        return {"settings": self.settings, "tar_bytes": tar_bytes}


def inputs(recipe: Recipe, interpreter: Interpreter, target: Target) -> dict[str, Any]:
    """What, besides the interpreter, decides the tree: the cache key's inputs."""
    py = recipe.python
    drop, keep = prune_rules.rules(defaults=recipe.prune.defaults, drop=recipe.prune.drop, keep=recipe.prune.keep)
    return {
        # A conda environment is identified by its files: pip or conda may change it in place.
        "conda": conda.state(interpreter.prefix) if py.conda else None,
        "requirements": list(py.requirements),
        "requirements_file": _fs.sha256_file(py.requirements_file) if py.requirements_file else None,
        "project": cache.tree_digest(py.project) if py.project else None,
        "prune": [list(drop), list(keep)],
        # The import index (prune.imports) is read from the sources, which only the making sees.
        **({"import_index": import_index.VERSION} if recipe.prune.imports else {}),
        "strip": recipe.output.strip,
        "sources": py.sources,
        "epoch": archive.epoch(),
        # The root its libraries are vendored from and the platform its wheels are resolved for.
        "target": target.identity(),
        # Where missing libraries are looked for by name, and what they hold (a library replaced there makes a new tree).
        **({"libraries": [[str(p), cache.files_state(p)] for p in py.libraries]} if py.libraries else {}),
    }


def key(recipe: Recipe, interpreter: Interpreter, target: Target) -> str:
    """The cache key of the tree this recipe asks for."""
    stat = interpreter.libpython.stat()
    identity = [
        str(interpreter.executable),
        interpreter.version,
        interpreter.abi,
        str(interpreter.libpython),
        stat.st_size,
        stat.st_mtime_ns,
    ]
    return cache.key({"interpreter": identity, **inputs(recipe, interpreter, target)})


def get(recipe: Recipe, interpreter: Interpreter, target: Target, *, cache_dir: Path, segment: Segment | None = None) -> PythonTree:
    """The cached tree, made if missing; a tree made now comes with ``segment`` made too."""
    entry, cached = cache.get_or_make(
        key(recipe, interpreter, target), lambda tmp: make(recipe, interpreter, target, tmp, segment=segment), cache_dir
    )
    return PythonTree(entry=entry, cached=cached)


def make(recipe: Recipe, interpreter: Interpreter, target: Target, root: Path, *, segment: Segment | None = None) -> dict[str, Any]:
    """Fill ``root/python`` (and ``root/derived/`` with ``segment``); return the metadata
    the cache keeps beside it."""
    drop, keep = prune_rules.rules(defaults=recipe.prune.defaults, drop=recipe.prune.drop, keep=recipe.prune.keep)
    pruner = prune.Pruner(drop=drop, keep=keep)
    python = root / "python" / "bin" / interpreter.program
    stdlib = root / "python" / "lib" / f"python{interpreter.short_version}"
    # Bytecode compiles beside everything else (.py files and ELF files are apart), by the
    # interpreter the tree is copied from, which no strip or patchelf edit here touches (or,
    # for a tree that cannot run here, a CPython of the same X.Y that can).
    compiling = bytecode.Background(
        interpreter.bytecode_python,
        relative_to=root,
        version=interpreter.short_version,
        keep_sources=recipe.python.sources is True,
        epoch=archive.epoch(),
        target=target,
    )
    keeping = _Sources(recipe.python.sources, root)
    # root is made by cache.staging in the cache's tmp/; the originals go beside it, locked the same way.
    originals = cache.staging(root.parent.parent, "strip-originals-", what="originals of stripped files, kept while the load check runs")
    with compiling, originals as backup:
        binaries = platforms.of(target).tree_binaries(
            root, python, backup=backup, strip=recipe.output.strip, target=target, libraries=recipe.python.libraries
        )
        if recipe.python.conda is not None:
            installer = "conda-pack"
            conda.pack(interpreter.prefix, root / "python", where=recipe.where(recipe.python.conda.key))
            pythonenv.add_app_path(root, interpreter)
            headers.keep(root, [stdlib / "site-packages", root / "python" / "include"])
            pruner.prune(root)
            _index_imports(recipe, stdlib / "site-packages", root)
            compiling.add(stdlib, keep=keeping.keep(stdlib / "site-packages"))
            binaries.add()
        else:
            with pythonenv.building_prefix(recipe, interpreter, target, root, pruner, compiling, keep=keeping.keep) as installing:
                binaries.add(skip=stdlib / "site-packages")  # the interpreter's own files, while the requirements install
            installer = installing.result()
            _index_imports(recipe, stdlib / "site-packages", root)  # the sources go when the compiling ends
            binaries.add(under=stdlib / "site-packages")
        binaries.relocate()
    # Every file is final now (the bytecode is compiled and its sources gone): the archive
    # segment compresses while the checks, which only read, prove the relocation.
    with _cputime.step("file hashes"):
        manifest_files = [f for f in archive.manifest_files(root) if f["path"].startswith("python/")]  # not the kept headers/

    def compress(cancel: _proc.Cancel) -> None:
        if segment is not None:
            with _cputime.step("compression"):
                cache.derive_new(root, segment.name, lambda folder: segment.write(root, manifest_files, folder))

    with _proc.in_background(compress, name="segment"):
        relocated = binaries.check()
    return {
        "program": interpreter.program,
        "installer": installer,
        "packages": [vars(p) for p in _packages(recipe, interpreter, stdlib / "site-packages")],
        "owners": contents.distribution_files(stdlib / "site-packages", root),
        "pruned": [vars(p) for p in sorted(pruner.pruned(), key=lambda p: -p.bytes)],
        "unpruned": [{"path": p, "why": why} for p, why in sorted(pruner.rescued.items())],
        "sources": keeping.decision.to_json() if keeping.decision else {"distributions": [], "app": recipe.python.sources is True},
        "stripped": binaries.stripped(),
        "vendored": [v.to_json() for v in relocated.vendored],
        "host_libraries": list(relocated.host_libraries),
        "unresolved": [{"path": n, "needs": s} for n, s in relocated.unresolved],
        "requirements": {f: {v: sorted(s) for v, s in versions.items()} for f, versions in relocated.requirements.items()},
        "files": manifest_files,
    }


def _index_imports(recipe: Recipe, site_packages: Path, root: Path) -> None:
    """With prune.imports, what each module of site-packages may import, kept beside the tree."""
    if recipe.prune.imports:
        import_index.write(site_packages, root / import_index.INDEX)


class _Sources:
    """Which sources stay (:mod:`gopack.python.sources`), decided once the distributions are installed."""

    def __init__(self, setting: bool | tuple[str, ...], root: Path) -> None:
        self.setting, self.root = setting, root
        self.decision: sources.Decision | None = None

    def keep(self, site_packages: Path) -> Callable[[Path], bool]:
        self.decision = sources.decide(self.setting, site_packages, contents.distribution_files(site_packages, self.root))
        return self.decision.keep(self.root)


def _packages(recipe: Recipe, interpreter: Interpreter, site_packages: Path) -> list[pythonenv.Package]:
    """What was installed: conda's records (which read the environment, the bundle's copy drops
    them) and the distributions in site-packages that conda did not install."""
    pip = pythonenv.installed_packages(site_packages)
    if recipe.python.conda is None:
        return list(pip)
    managed = conda.packages(interpreter.prefix)
    names = {canonicalize_name(p.name) for p in managed}
    found = managed + [p for p in pip if canonicalize_name(p.name) not in names]
    return sorted(found, key=lambda p: p.name.lower())


def _link_if_missing(source: str, dest: str) -> None:
    if not os.path.lexists(dest):
        link_or_copy(source, dest)
