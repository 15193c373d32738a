"""Pruning: documented rules remove what an embedded program never runs.

A rule is a glob over bundle-relative paths (``*`` within one component,
``**`` across components). A file goes when it or one of its folders matches a
drop rule and no keep rule matches it or one of its folders. Recipes extend the
defaults with ``prune.drop``/``prune.keep`` or turn them off with
``prune.defaults: false``. ``*.dist-info`` folders are never pruned: without
them importlib.metadata cannot see the packages (a rule may still drop a whole
distribution, dist-info included, as the pip/setuptools/wheel rule does).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from gopack import imports

STDLIB = "python/lib/python*"
SITE = f"{STDLIB}/site-packages"
_SITE_FOLDER = re.compile(r"python/lib/python[^/]+/site-packages(?=/)")


@dataclass(frozen=True, kw_only=True)
class Rule:
    glob: str
    why: str


DEFAULT_RULES: tuple[Rule, ...] = (
    Rule(glob=f"{STDLIB}/test", why="the stdlib's own test suite"),
    Rule(glob=f"{STDLIB}/**/tests", why="test folders inside stdlib packages"),
    Rule(glob=f"{STDLIB}/**/test", why="test folders inside stdlib packages"),
    Rule(glob=f"{SITE}/**/tests", why="test folders of installed packages"),
    Rule(glob="**/__pycache__", why="bytecode carried over from the source; gopack compiles its own"),
    Rule(glob="**/*.pyc", why="bytecode carried over from the source; gopack compiles its own"),
    Rule(glob=f"{STDLIB}/config-*/*.a", why="the static libpython, never linked at run time"),
    Rule(glob=f"{STDLIB}/ensurepip", why="pip bootstrapper"),
    Rule(glob=f"{STDLIB}/idlelib", why="the IDLE editor"),
    Rule(glob=f"{STDLIB}/tkinter", why="Tk GUI (needs X11 libraries a server lacks)"),
    Rule(glob=f"{STDLIB}/lib-dynload/_tkinter*", why="Tk GUI (needs X11 libraries a server lacks)"),
    Rule(glob=f"{STDLIB}/turtle.py", why="Tk GUI (needs X11 libraries a server lacks)"),
    Rule(glob=f"{STDLIB}/turtledemo", why="Tk GUI demos"),
    Rule(glob=f"{STDLIB}/lib2to3", why="the Python 2 to 3 converter"),
    Rule(glob=f"{STDLIB}/distutils/command/*.exe", why="Windows installer stubs"),
    Rule(glob=f"{SITE}/pip", why="installers are not needed at run time"),
    Rule(glob=f"{SITE}/pip-*.dist-info", why="installers are not needed at run time"),
    Rule(glob=f"{SITE}/setuptools", why="installers are not needed at run time"),
    Rule(glob=f"{SITE}/setuptools-*.dist-info", why="installers are not needed at run time"),
    Rule(glob=f"{SITE}/pkg_resources", why="installers are not needed at run time"),
    Rule(glob=f"{SITE}/_distutils_hack", why="installers are not needed at run time"),
    Rule(glob=f"{SITE}/distutils-precedence.pth", why="installers are not needed at run time"),
    Rule(glob=f"{SITE}/wheel", why="installers are not needed at run time"),
    Rule(glob=f"{SITE}/wheel-*.dist-info", why="installers are not needed at run time"),
    Rule(glob=f"{SITE}/bin", why="console scripts installers write; they name the build machine's interpreter"),
    Rule(glob=f"{SITE}/**/*.dist-info/direct_url.json", why="names the build machine's paths"),
    Rule(glob="python/include", why="C headers"),
    Rule(glob=f"{SITE}/**/*.h", why="C headers"),
    Rule(glob=f"{SITE}/**/*.pxd", why="Cython declarations, used only to compile"),
    Rule(glob=f"{SITE}/**/*.pyx", why="Cython sources of modules shipped compiled"),
    Rule(glob=f"{SITE}/**/*.c", why="C sources of modules shipped compiled"),
    Rule(glob=f"{SITE}/**/*.cpp", why="C++ sources of modules shipped compiled"),
    # What conda environments (python.conda) carry besides Python.
    Rule(glob="python/conda-meta", why="conda's records of the environment; the manifest lists its packages"),
    Rule(glob="python/bin/*", why="programs and scripts other than the interpreter (conda's openssl, sqlite3, xz; console scripts)"),
    Rule(glob="python/lib/*.a", why="static libraries, never loaded at run time"),
    Rule(glob="python/lib/pkgconfig", why="build metadata"),
    Rule(glob="python/lib/cmake", why="build metadata"),
    Rule(glob="python/compiler_compat", why="conda's linker shim for compiling extensions"),
    Rule(glob="python/share/man", why="manual pages and documentation"),
    Rule(glob="python/share/doc", why="manual pages and documentation"),
    Rule(glob="python/share/info", why="manual pages and documentation"),
    Rule(glob="python/man", why="manual pages and documentation"),
    Rule(glob="python/ssl/misc", why="OpenSSL's helper scripts (perl)"),
    Rule(glob="python/CACHEDIR.TAG", why="py-rattler's marker in the environments it creates"),
)
#: Kept whatever the drop rules say, unless prune.defaults is false.
DEFAULT_KEEP: tuple[Rule, ...] = (
    Rule(glob="python/bin/python*", why="the interpreter: gopack's home mechanism names it, joblib and multiprocessing start it"),
)
NEVER = "**/*.dist-info"


@dataclass(frozen=True, kw_only=True)
class Pruned:
    rule: str
    files: int
    bytes: int


def rules(*, defaults: bool, drop: Iterable[str], keep: Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The drop and keep globs in force."""
    dropped = tuple(r.glob for r in DEFAULT_RULES) if defaults else ()
    kept = tuple(r.glob for r in DEFAULT_KEEP) if defaults else ()
    return dropped + tuple(drop), kept + tuple(keep)


@cache
def _regex(glob: str) -> re.Pattern[str]:
    """A bundle glob as a regex: ``**/`` any folders, ``*`` within one name.

    >>> bool(_regex("python/lib/python*/**/tests").fullmatch("python/lib/python3.7/json/tests"))
    True
    >>> bool(_regex("**/__pycache__").fullmatch("__pycache__"))
    True
    """
    out = []
    i = 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out.append("(?:[^/]+/)*")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif glob[i] == "*":
            out.append("[^/]*")
            i += 1
        elif glob[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(glob[i]))
            i += 1
    return re.compile("".join(out))


def matching_rule(path: str, globs: Iterable[str]) -> str | None:
    """The first glob matching ``path`` or one of its folders."""
    globs = tuple(globs)
    found = [i for i in map(_Matcher.of(globs).first, _prefixes(path)) if i is not None]
    return globs[min(found)] if found else None


class _Matcher:
    """Which of a tuple of globs first matches a path: one regex, an alternative per glob
    in order (the first alternative that matches wins), and a memo per path, since the
    files of one folder share its prefixes."""

    def __init__(self, globs: tuple[str, ...]) -> None:
        self.pattern = re.compile("|".join(f"(?P<g{i}>{_regex(g).pattern})" for i, g in enumerate(globs))) if globs else None
        self.memo: dict[str, int | None] = {}

    @staticmethod
    @cache
    def of(globs: tuple[str, ...]) -> _Matcher:
        return _Matcher(globs)

    def first(self, path: str) -> int | None:
        if path not in self.memo:
            m = self.pattern.fullmatch(path) if self.pattern is not None else None
            self.memo[path] = int(m.lastgroup[1:]) if m is not None and m.lastgroup else None
        return self.memo[path]


def _prefixes(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


class Pruner:
    """Applies the rules to one tree and counts what they removed: while it is copied
    (what goes is never copied, see :meth:`ignore`) and once files are in place
    (:meth:`prune`)."""

    def __init__(self, *, drop: tuple[str, ...], keep: tuple[str, ...]) -> None:
        self.drop, self.keep = drop, keep
        self.counts: dict[str, list[int]] = {}
        #: bundle path -> why a drop rule did not remove it (code that stays imports it)
        self.rescued: dict[str, str] = {}

    def rule_for(self, rel: str) -> str | None:
        """The drop rule that removes the bundle path ``rel``, or None if it stays."""
        rule = matching_rule(rel, self.drop)
        if rule is None or matching_rule(rel, self.keep) is not None or _in_dist_info(rel, rule):
            return None
        return rule

    def ignore(self, source: Path, dest: str, *, never: frozenset[str] = frozenset()) -> Callable[[str, list[str]], set[str]]:
        """An ``ignore`` for :func:`shutil.copytree` from ``source`` to the bundle path ``dest``:
        files a rule drops are counted and left out, and so are folders all of whose
        files go. Names in ``never`` are left out wherever they are, and not counted."""

        def ignore(directory: str, names: list[str]) -> set[str]:
            skipped = {n for n in names if n in never}
            for name in names:
                if name in skipped:
                    continue
                full = os.path.join(directory, name)
                rel = f"{dest}/{Path(full).relative_to(source).as_posix()}"
                files = self._files(full, rel, never) if os.path.isdir(full) and not os.path.islink(full) else [(full, rel)]
                rules = [self.rule_for(r) for _, r in files]
                if files and all(rules):
                    for (path, _), rule in zip(files, rules):
                        self._count(rule, os.lstat(path).st_size)  # type: ignore[arg-type]
                    skipped.add(name)
            return skipped

        return ignore

    @staticmethod
    def _files(folder: str, rel: str, never: frozenset[str]) -> list[tuple[str, str]]:
        """(file, bundle path) of everything under ``folder``, outside names in ``never``."""
        found = []
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = [d for d in dirnames if d not in never]
            sub = Path(dirpath).relative_to(folder).as_posix()
            found += [(os.path.join(dirpath, n), f"{rel}/{n}" if sub == "." else f"{rel}/{sub}/{n}") for n in filenames if n not in never]
        return found

    def prune(self, root: Path, *, under: Path | None = None, skip: Path | None = None) -> None:
        """Remove the files under ``under`` (default: all of ``root``), but not under
        ``skip``, that a rule drops, except what code that stays imports when it is
        imported (:mod:`gopack.imports`); then the folders that left empty."""
        top = under or root
        doomed: dict[str, str] = {}
        stays: list[str] = []
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = [d for d in dirnames if skip is None or Path(dirpath, d) != skip]
            for name in filenames:
                rel = Path(dirpath, name).relative_to(root).as_posix()
                rule = self.rule_for(rel)
                if rule is not None:
                    doomed[rel] = rule
                else:
                    stays.append(rel)
        for rel in self._imported(root, doomed, stays):
            del doomed[rel]
        for rel, rule in doomed.items():
            self._count(rule, os.lstat(root / rel).st_size)
            os.unlink(root / rel)
        _remove_empty_dirs(top, skip)

    def _imported(self, root: Path, doomed: dict[str, str], stays: list[str]) -> dict[str, str]:
        """Of ``doomed``, what the code in ``stays`` imports at import time, per site-packages
        folder. The folder a rule matched stays whole once anything in it is imported: its
        modules may import each other by names built at run time (pkg_resources loads its
        vendored packages so), which no reading of import statements sees."""
        found: dict[str, str] = {}
        for site in sorted({m.group(0) for rel in doomed if (m := _SITE_FOLDER.match(rel))}):
            inside = len(site) + 1
            staying = [rel[inside:] for rel in stays if rel.startswith(site + "/")]
            while True:
                rest = [rel[inside:] for rel in doomed if rel.startswith(site + "/") and rel not in found]
                why = imports.rescued(str(root / site), rest, staying)
                if not why:
                    break
                for rel, reason in why.items():
                    path = f"{site}/{rel}"
                    folder = _matched(path, doomed[path])
                    for other in [p for p in doomed if p == folder or p.startswith(folder + "/")]:
                        # A rule that names the file itself (*.c, *.h, stray *.pyc) still drops it:
                        # the folder stays whole as code, not as sources and headers.
                        if other not in found and (other == path or not self._names_itself(other)):
                            found[other] = f"{doomed[other]} would drop it, but {reason}" + (
                                "" if other == path else f" (from {folder}, which stays whole)"
                            )
                            staying.append(other[inside:])
        self.rescued.update(found)
        return found

    def _names_itself(self, rel: str) -> bool:
        """A drop rule matches ``rel`` itself, not only one of its folders."""
        return any(_regex(g).fullmatch(rel) for g in self.drop) and matching_rule(rel, self.keep) is None

    def pruned(self) -> list[Pruned]:
        return [Pruned(rule=r, files=c[0], bytes=c[1]) for r, c in self.counts.items()]

    def _count(self, rule: str, size: int) -> None:
        tally = self.counts.setdefault(rule, [0, 0])
        tally[0] += 1
        tally[1] += size


def prune(root: Path, *, drop: tuple[str, ...], keep: tuple[str, ...]) -> list[Pruned]:
    """Remove matching files under ``root``; return per-rule counts and bytes saved."""
    pruner = Pruner(drop=drop, keep=keep)
    pruner.prune(root)
    return pruner.pruned()


def _matched(path: str, rule: str) -> str:
    """The folder (or the file) of ``path`` that ``rule`` matched.

    >>> _matched("python/lib/python3.7/site-packages/a/tests/b/c.py", "python/lib/python*/**/tests")
    'python/lib/python3.7/site-packages/a/tests'
    """
    return next(p for p in _prefixes(path) if matching_rule(p, (rule,)) is not None)


def _in_dist_info(rel: str, rule: str) -> bool:
    """dist-info is kept unless the rule names that dist-info itself (a whole distribution goes)."""
    return matching_rule(rel, (NEVER,)) is not None and ".dist-info" not in rule


def _remove_empty_dirs(root: Path, skip: Path | None = None) -> None:
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        here = Path(dirpath)
        if here != root and (skip is None or not here.is_relative_to(skip)) and not os.listdir(dirpath):
            os.rmdir(dirpath)
