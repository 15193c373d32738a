"""What gopack adds to the Go build besides the interpreter: the recipe's placeholders
resolved, include folders of the Python tree for the headers the cgo code includes,
and a library folder for ``#cgo LDFLAGS: -lpythonX.Y``.

Made in the Go build's thread: at once when the plan says the build does not need
the Python tree, else once the tree is made (``Plan.needs_tree``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import canonicalize_name

from gopack.errors import BuildError
from gopack.go import headers, includes
from gopack.go.headers import HeaderSource
from gopack.go.includes import Include
from gopack.go.toolchain import BuildPlan
from gopack.python import interpreters
from gopack.python import tree as pytree
from gopack.python.interpreters import Interpreter
from gopack.python.tree import PythonTree
from gopack.recipe import placeholders


@dataclass(frozen=True, kw_only=True)
class GoInputs:
    #: The recipe's go.env, go.flags and go.ldflags with placeholders replaced.
    env: tuple[tuple[str, str], ...]
    flags: tuple[str, ...]
    ldflags: str
    #: Appended to CGO_CPPFLAGS: -I for each include folder of the tree the cgo code uses.
    cppflags: tuple[str, ...] = ()
    #: Appended to CGO_LDFLAGS: -L for -lpythonX.Y.
    link_flags: tuple[str, ...] = ()
    headers: tuple[HeaderSource, ...] = field(default=())
    #: Includes nothing answered; the compiler will name them, gopack adds what to do.
    unanswered: tuple[Include, ...] = ()

    @property
    def headers_key(self) -> str:
        """Identifies the headers used: Go's cache does not hash headers outside the package,
        so a define carrying this key rebuilds the cgo code when they change."""
        text = "|".join(f"{h.distribution}={h.version}:{h.sha256}" for h in self.headers)
        return hashlib.sha256(text.encode()).hexdigest()[:16] if self.headers else ""


def prepare(the_plan: BuildPlan, tree: PythonTree | None, *, cache_dir: Path) -> GoInputs:
    recipe = the_plan.recipe
    interpreter = the_plan.interpreter

    def value(key: str, text: str) -> str:
        def resolve(p: placeholders.Placeholder) -> str:
            known = interpreters.placeholder_value(interpreter, p)
            if known is not None:
                return known
            if tree is None:  # the plan says no placeholder needs the tree when there is none
                raise BuildError(f"{recipe.where(key)}: {p.text} needs the Python tree, which is not made yet")
            if p.name == "python.site_packages":
                return str(tree.site_packages_view())
            try:
                return str(tree.get_include(p.argument))
            except BuildError as exc:
                raise BuildError(f"{recipe.where(key)}: {p.text}: {exc.message}", hint=exc.hint, details=exc.details) from None

        # go.flags items are whole arguments; env values and -ldflags are split by Go.
        return (placeholders.substitute if key.startswith("go.flags[") else placeholders.substitute_flags)(text, resolve)

    go = recipe.go
    env = tuple((k, value(f"go.env.{k}", v)) for k, v in go.env)
    flags = tuple(value(f"go.flags[{i}]", f) for i, f in enumerate(go.flags))
    ldflags = value("go.ldflags", go.ldflags)
    sources: list[HeaderSource] = []
    unanswered: list[Include] = []
    if tree is not None and the_plan.cgo.missing:
        versions = {_canonical(p["name"]): p["version"] for p in tree.meta["packages"]}
        chosen = _recipe_folders(list(the_plan.cgo.missing), dict(env))
        wanted = [i for i in the_plan.cgo.missing if i.header not in chosen]
        sources, unanswered = headers.sources(wanted, headers=tree.headers, owners=tree.meta["owners"], versions=versions)
        # Folders of the tree the recipe named itself ({include:numpy}) are recorded too.
        by_folder: dict[str, list[str]] = {}
        for header, folder in chosen.items():
            rel = _in_tree(tree, folder)
            if rel is not None:
                by_folder.setdefault(rel, []).append(header)
        recorded = [
            headers.source(f, h, headers=tree.headers, owners=tree.meta["owners"], versions=versions) for f, h in sorted(by_folder.items())
        ]
        sources = sorted([*sources, *recorded], key=lambda s: s.include)
    cppflags = tuple(placeholders.quote(f"-I{tree.headers / s.include}") for s in sources) if tree is not None else ()
    return GoInputs(
        env=env,
        flags=flags,
        ldflags=ldflags,
        cppflags=cppflags,
        link_flags=_libpython_folder(the_plan, cache_dir),
        headers=tuple(sources),
        unanswered=tuple(unanswered),
    )


def _recipe_folders(wanted: list[Include], env: dict[str, str]) -> dict[str, str]:
    """include -> the first of the recipe's own -I folders (placeholders resolved) that holds
    it: the recipe chose those, gopack does not look for them again."""
    folders = [
        f
        for name in ("CGO_CPPFLAGS", "CGO_CFLAGS", "CGO_CXXFLAGS")
        for f in includes.search_folders(includes.split_flags(env.get(name, "")))
    ]
    chosen: dict[str, str] = {}
    for include in wanted:
        folder = next((f for f in folders if os.path.exists(os.path.join(f, include.header))), None)
        if folder is not None:
            chosen.setdefault(include.header, folder)
    return chosen


def _in_tree(tree: PythonTree, folder: str) -> str | None:
    """``folder`` as a bundle-relative path if it is one of the tree's kept header folders
    (directly, or through the {python.site_packages} view), else None."""
    path = Path(folder).resolve()
    with contextlib.suppress(ValueError):
        return path.relative_to(tree.headers.resolve()).as_posix()
    view = tree.entry.path / "derived" / pytree.SITE_PACKAGES_VIEW / "site-packages"
    with contextlib.suppress(ValueError):
        rel = path.relative_to(view.resolve())
        return tree.site_packages if rel == Path() else f"{tree.site_packages}/{rel.as_posix()}"
    return None


def _libpython_folder(the_plan: BuildPlan, cache_dir: Path) -> tuple[str, ...]:
    """-L of a folder where each -lpythonX.Y the cgo code asks for finds the interpreter's
    libpython (3.7's is libpython3.7m: -lpython3.7 gets a link of that name; a Mac's is a .dylib)."""
    flags = the_plan.cgo.libpython
    if not flags:
        return ()
    interpreter = the_plan.interpreter
    suffix = ".dylib" if interpreter.libpython.name.endswith(".dylib") else ".so"
    names = sorted({f"lib{f.flag[2:]}{suffix}" for f in flags})
    if all((interpreter.libpython.parent / n).exists() for n in names):
        return (placeholders.quote(f"-L{interpreter.libpython.parent}"),)
    folder = cache_dir / "link" / interpreter_key(interpreter)
    for name in names:
        link = folder / name
        if not link.exists():
            folder.mkdir(parents=True, exist_ok=True)
            tmp = folder / f".{name}.{os.getpid()}"
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(interpreter.libpython)
            os.replace(tmp, link)
    return (placeholders.quote(f"-L{folder}"),)


def _canonical(name: str) -> str:
    return str(canonicalize_name(name))


def interpreter_key(interpreter: Interpreter) -> str:
    """Identifies an interpreter build: Go's cgo cache must not cross it."""
    stat = interpreter.libpython.stat()
    ident = f"{interpreter.libpython}|{interpreter.version}|{stat.st_size}|{stat.st_mtime_ns}"
    return f"{interpreter.tag}_{hashlib.sha256(ident.encode()).hexdigest()[:12]}"
