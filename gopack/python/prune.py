"""Pruning: the rules (:mod:`gopack.recipe.prune_rules`) applied to one tree.

What goes is never copied (:meth:`Pruner.ignore`) or is removed once in place
(:meth:`Pruner.prune`); a folder a drop rule matches stays where code that stays
imports it (:mod:`gopack.python.imports`). Each rule's files and bytes are counted
for the manifest.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gopack.python import imports
from gopack.recipe.prune_rules import glob_regex, matching_rule, prefixes, rule_for

_SITE_FOLDER = re.compile(r"python/lib/python[^/]+/site-packages(?=/)")


@dataclass(frozen=True, kw_only=True)
class Pruned:
    rule: str
    files: int
    bytes: int


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
        return rule_for(rel, drop=self.drop, keep=self.keep)

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
        imported (:mod:`gopack.python.imports`); then the folders that left empty."""
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
        return any(glob_regex(g).fullmatch(rel) for g in self.drop) and matching_rule(rel, self.keep) is None

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
    return next(p for p in prefixes(path) if matching_rule(p, (rule,)) is not None)


def _remove_empty_dirs(root: Path, skip: Path | None = None) -> None:
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        here = Path(dirpath)
        if here != root and (skip is None or not here.is_relative_to(skip)) and not os.listdir(dirpath):
            os.rmdir(dirpath)
