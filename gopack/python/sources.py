"""Which ``.py`` sources ship beside the bytecode.

A bundle ships bytecode only by default (``python.sources: false``): a
``module.pyc`` where ``module.py`` was, which is smaller and starts as fast.
Some distributions need their sources at run time, and bytecode only breaks
them: cv2's loader reads its ``config.py`` files as data, torch.jit and
triton's JIT compile functions from ``inspect.getsource``. gopack keeps the
sources of every distribution that :data:`RULES` names (as PyInstaller's hooks
do with ``module_collection_mode = "py"``), whatever the recipe says, and those
the recipe names in ``python.sources`` (names or globs). A rule whose package
compiles the code it is given from its source (``app: True``) keeps the app's
sources too.

A scan of every distribution's code for ``inspect.getsource`` or ``.py`` file
names was tried on the corpus: it flags pandas, scikit-learn, SQLAlchemy and a
dozen more for error-message helpers, docs tooling or test utilities that never
run in a bundle (half the site-packages would ship twice), and it cannot see a
name built at run time. Known rules are precise; a package they miss is kept
with ``python.sources: [name]``, and the corpus test is where a new one shows up.
``.pyi`` stubs are never removed (lazy_loader's ``attach_stub`` reads them), nor
any other file that is not ``.py``.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.utils import canonicalize_name


@dataclass(frozen=True, kw_only=True)
class Rule:
    distribution: str  # canonical name
    why: str
    app: bool = False  # it compiles the code it is given from source: the app's sources stay too
    files: tuple[str, ...] = ()  # globs of the files (relative to site-packages) that stay; () for all its .py files


_OPENCV = "cv2's loader reads its config.py and config-3.X.py files as data (ImportError: OpenCV loader: missing configuration file)"
_TORCH_JIT = "torch.jit.script compiles functions from their source (inspect.getsource), its own included"

RULES: tuple[Rule, ...] = (
    Rule(distribution="opencv-python", why=_OPENCV),
    Rule(distribution="opencv-python-headless", why=_OPENCV),
    Rule(distribution="opencv-contrib-python", why=_OPENCV),
    Rule(distribution="opencv-contrib-python-headless", why=_OPENCV),
    Rule(distribution="torch", why=_TORCH_JIT, app=True),
    Rule(distribution="torchvision", why=_TORCH_JIT),
    Rule(distribution="torchaudio", why=_TORCH_JIT),
    Rule(distribution="triton", why="triton.jit parses each kernel's source (inspect.getsource)", app=True),
    Rule(
        distribution="astropy",
        why="astropy.utils.parsing opens its generated PLY tables (*_parsetab.py, *_lextab.py) as files (astropy 4: 'did not parse as unit')",
        files=("*_parsetab.py", "*_lextab.py"),
    ),
)
_BY_NAME = {r.distribution: r for r in RULES}


@dataclass(frozen=True, kw_only=True)
class Kept:
    """A distribution whose sources ship, and why."""

    distribution: str
    why: str
    files: int
    app: bool

    def to_json(self) -> dict[str, object]:
        return {"distribution": self.distribution, "why": self.why, "files": self.files}


@dataclass(frozen=True, kw_only=True)
class Decision:
    kept: tuple[Kept, ...]
    paths: frozenset[str]  # bundle-relative .py files that stay
    app: bool  # the app's sources stay
    everything: bool  # python.sources: true

    def keep(self, root: Path) -> Callable[[Path], bool]:
        """For :meth:`gopack.python.bytecode.Background.add`: does this source stay?"""
        return lambda source: self.everything or source.relative_to(root).as_posix() in self.paths

    def to_json(self) -> dict[str, object]:
        return {"distributions": [k.to_json() for k in self.kept], "app": self.app}


def matches(setting: bool | tuple[str, ...], distribution: str) -> str | None:
    """The glob of ``python.sources`` that names ``distribution`` (canonical names
    compared), "true" when it is true, else None.

    >>> matches(("Torch*", "opencv_python"), "opencv-python"), matches(("torch*",), "torchvision"), matches(False, "x")
    ('opencv_python', 'torch*', None)
    """
    if setting is True:
        return "true"
    if not setting:
        return None
    name = canonicalize_name(distribution)
    for glob in setting:
        if fnmatch.fnmatchcase(name, re.sub(r"[-_.]+", "-", glob).lower()):
            return glob
    return None


def decide(setting: bool | tuple[str, ...], site_packages: Path, owners: Mapping[str, str]) -> Decision:
    """Which distributions installed in ``site_packages`` keep their sources; ``owners``
    maps bundle paths to their distribution (:func:`gopack.archive.contents.distribution_files`)."""
    chosen: dict[str, tuple[str, bool]] = {}
    only: dict[str, tuple[str, ...]] = {}  # distribution -> the globs its rule keeps
    for dist in metadata.distributions(path=[str(site_packages)]):
        name = dist.metadata["Name"]
        rule = _BY_NAME.get(canonicalize_name(name))
        glob = matches(setting, name)
        if glob is not None:
            chosen[name] = ("python.sources: true" if glob == "true" else f"python.sources names it ({glob})", False)
            if rule is not None and not rule.files:
                chosen[name] = (rule.why, rule.app)
        elif rule is not None:
            chosen[name] = (rule.why, rule.app)
            only[name] = rule.files
    paths = {
        p: owner
        for p, owner in owners.items()
        if owner in chosen
        and p.endswith(".py")
        and (not only.get(owner) or any(fnmatch.fnmatchcase(p.rpartition("/")[2], g) for g in only[owner]))
    }
    kept = tuple(
        Kept(distribution=name, why=why, app=app, files=sum(1 for owner in paths.values() if owner == name))
        for name, (why, app) in sorted(chosen.items(), key=lambda kv: kv[0].lower())
    )
    return Decision(kept=kept, paths=frozenset(paths), app=setting is True or any(k.app for k in kept), everything=setting is True)


def describe(kept: Iterable[Mapping[str, object]]) -> list[str]:
    """Lines for ``gopack inspect``."""
    return [f"    {k['distribution']} ({k['files']} files): {k['why']}" for k in kept]
