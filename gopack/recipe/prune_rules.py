"""The prune rules a recipe speaks: globs over bundle paths, gopack's defaults, and which rule removes a path.

A rule is a glob over bundle-relative paths (``*`` within one component,
``**`` across components). A file goes when it or one of its folders matches a
drop rule and no keep rule matches it or one of its folders. Recipes extend the
defaults with ``prune.drop``/``prune.keep`` or turn them off with
``prune.defaults: false``. ``*.dist-info`` folders are never pruned: without
them importlib.metadata cannot see the packages (a rule may still drop a whole
distribution, dist-info included, as the pip/setuptools/wheel rule does).

Pure: the recipe's checks read it (a rule that removes what every bundle needs
is refused where it is written); :mod:`gopack.python.prune` applies it to a tree.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

STDLIB = "python/lib/python*"
SITE = f"{STDLIB}/site-packages"


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


def rules(*, defaults: bool, drop: Iterable[str], keep: Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The drop and keep globs in force."""
    dropped = tuple(r.glob for r in DEFAULT_RULES) if defaults else ()
    kept = tuple(r.glob for r in DEFAULT_KEEP) if defaults else ()
    return dropped + tuple(drop), kept + tuple(keep)


@cache
def glob_regex(glob: str) -> re.Pattern[str]:
    """A bundle glob as a regex: ``**/`` any folders, ``*`` within one name.

    >>> bool(glob_regex("python/lib/python*/**/tests").fullmatch("python/lib/python3.7/json/tests"))
    True
    >>> bool(glob_regex("**/__pycache__").fullmatch("__pycache__"))
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
    found = [i for i in map(_Matcher.of(globs).first, prefixes(path)) if i is not None]
    return globs[min(found)] if found else None


class _Matcher:
    """Which of a tuple of globs first matches a path: one regex, an alternative per glob
    in order (the first alternative that matches wins), and a memo per path, since the
    files of one folder share its prefixes."""

    def __init__(self, globs: tuple[str, ...]) -> None:
        self.pattern = re.compile("|".join(f"(?P<g{i}>{glob_regex(g).pattern})" for i, g in enumerate(globs))) if globs else None
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


def prefixes(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def rule_for(rel: str, *, drop: tuple[str, ...], keep: tuple[str, ...]) -> str | None:
    """The drop rule that removes the bundle path ``rel``, or None if it stays."""
    rule = matching_rule(rel, drop)
    if rule is None or matching_rule(rel, keep) is not None or in_dist_info(rel, rule):
        return None
    return rule


def in_dist_info(rel: str, rule: str) -> bool:
    """dist-info is kept unless the rule names that dist-info itself (a whole distribution goes)."""
    return matching_rule(rel, (NEVER,)) is not None and ".dist-info" not in rule
