"""Plan: everything that can fail is checked here, before anything is installed or built.

Finds Go, the interpreter for ``python.version`` and the cgo binding the program
uses (``go list -deps``), then checks that they fit together: the binding
compiles against that Python, libpython is shared, its ELF machine is GOARCH's.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

from gopack import _proc, cache
from gopack.errors import RecipeError, ToolchainError
from gopack.go import bindings, includes
from gopack.go import toolchain as go_toolchain
from gopack.go.bindings import Binding, GoPackage
from gopack.go.toolchain import GoToolchain
from gopack.platform import platforms
from gopack.platform import target as targets
from gopack.platform.macos import macho
from gopack.platform.target import GOARCH_MACHINES, Target
from gopack.python import conda, home, interpreters
from gopack.python.interpreters import Interpreter
from gopack.recipe import placeholders
from gopack.recipe.model import Recipe

#: A Mach-O machine -> the architecture's name on a Mac, for messages.
ARCH_OF_MACHO = {machine: targets.ARCH_OF_MACHINE[machine] for machine, _ in targets.MACOS_ARCHES.values()}

__all__ = ["GOARCH_MACHINES", "GoToolchain", "Plan", "make"]


@dataclass(frozen=True, kw_only=True)
class Plan:
    recipe: Recipe
    toolchain: GoToolchain
    interpreter: Interpreter
    binding: Binding
    main_package: GoPackage
    #: The recipe's go.env with GOFLAGS etc.; used for every go command.
    go_env: tuple[tuple[str, str], ...]
    #: Which machine and root the bundle is for: every stage that looks for files or runs programs reads it.
    target: Target
    #: Where the Python side comes from when the recipe sets python.conda.
    environment: conda.Environment | None = None
    #: What the program's own cgo code asks of the Python side (headers, -lpythonX.Y).
    cgo: includes.CgoScan = field(default_factory=includes.CgoScan)
    #: The Go build needs the Python tree: its headers, or a placeholder naming it.
    needs_tree: bool = False
    #: A package has C++ (or SWIG C++) files: Go links the program with CXX.
    cxx_link: bool = False


@dataclass(frozen=True, kw_only=True)
class TargetOptions:
    """The command line's --sysroot, --target-arch, --target-os, --target-macos and --target-glibc (or --max-glibc),
    over the recipe's target section; --python-home over python.home."""

    sysroot: Path | None = None
    glibc: str | None = None
    glibc_flag: str = "--target-glibc"
    arch: str | None = None
    system: str | None = None
    macos: str | None = None
    python_home: Path | None = None


def make(recipe: Recipe, *, cache_dir: Path | None = None, options: TargetOptions = TargetOptions()) -> Plan:
    toolchain = go_toolchain.find_go(recipe)
    target = make_target(recipe, toolchain, options)
    # Go builds for the target's machine (GOARCH=arm64 from an amd64 machine, say): every go command is told so.
    toolchain = dataclasses.replace(toolchain, goarch=target.goarch)
    # GOOS only for another system than Linux: a Linux build's environment stays as it was.
    goos = {"GOOS": target.goos} if target.goos != "linux" else {}
    go_env = tuple(sorted({"CGO_ENABLED": "1", **dict(recipe.go.env), "GOARCH": target.goarch, **goos}.items()))
    # go list and the interpreter's probe are two commands apart: they run at the same time
    # (a rebuild waits for both), and an interpreter's error is still the one said first.
    with _proc.in_background(lambda cancel: go_toolchain.list_packages(recipe, toolchain, dict(go_env)), name="go-list") as listing:
        interpreter, environment = _interpreter(recipe, toolchain, target, options, cache_dir)
        packages = listing.result()
    main_package = next((p for p in packages if p.dir and Path(p.dir).resolve() == go_toolchain.package_dir(recipe)), packages[-1])
    if main_package.name != "main":
        raise RecipeError(
            f"{recipe.where('go.package')}: {main_package.import_path} is package {main_package.name!r}, not a main package",
            hint="point go.package at the directory of the program's package main",
        )
    check_libpython_flags(recipe, interpreter, packages)
    binding = bindings.detect(packages)
    if binding is None:
        raise ToolchainError(
            f"{main_package.import_path} does not use CPython: no package it imports asks pkg-config for a Python",
            hint="import a binding such as github.com/DataDog/go-python3, or add '#cgo pkg-config: python3-embed' to your cgo code",
        )
    if not binding.supports(interpreter.short_version):
        if environment is not None:
            spec = recipe.python.conda
            assert spec is not None
            raise ToolchainError(
                f"{recipe.where(spec.key)}: the environment {environment.prefix} has Python {interpreter.version}; "
                + binding.incompatibility(interpreter.short_version),
                hint=f"make the environment with python={binding.pythons[-1]} (in environment.yml: - python={binding.pythons[-1]}), or use {binding.alternatives}",
            )
        raise ToolchainError(
            f"{recipe.where('python.version')}: {binding.incompatibility(interpreter.short_version)}",
            hint=f'set python.version: "{binding.pythons[-1]}" in {recipe.path}, or use {binding.alternatives}',
        )
    cgo = scan_cgo(recipe, toolchain, interpreter, packages, dict(go_env))
    # The strip that reads the target's files (another machine's needs its own binutils); a Mac's
    # files are not stripped (gopack.platform.macos ships them as built).
    if recipe.output.strip and target.system == "linux":
        name, package = target.tool("strip")
        _proc.which(name, hint=f"install {package} (apt-get install {package}), or set output.strip: false in {recipe.path}")
    tree_placeholders = [p for _, p in placeholders.in_values(_go_values(recipe)) if p.needs_tree]
    return Plan(
        recipe=recipe,
        toolchain=toolchain,
        interpreter=interpreter,
        binding=binding,
        main_package=main_package,
        go_env=go_env,
        target=target,
        environment=environment,
        cgo=cgo,
        needs_tree=bool(cgo.missing or tree_placeholders),
        cxx_link=any(p.cxx_files or p.swig_cxx_files for p in packages),
    )


def _interpreter(
    recipe: Recipe, toolchain: GoToolchain, target: Target, options: TargetOptions, cache_dir: Path | None
) -> tuple[Interpreter, conda.Environment | None]:
    """The recipe's interpreter (and its conda environment), checked against the target before any work."""
    environment = None
    if recipe.python.conda is not None and target.sysroot is not None:
        raise RecipeError(
            f"{recipe.where(recipe.python.conda.key)}: a conda environment cannot be combined with a sysroot ({target.sysroot}): both supply the Python",
            hint="drop the sysroot (a conda-forge environment starts on glibc 2.17; set target.glibc for the Go program), or drop python.conda",
        )
    tree = options.python_home or recipe.python.home
    if recipe.python.conda is not None:
        environment = conda.resolve(recipe, cache_dir=cache_dir or cache.directory())
        interpreter = conda_interpreter(recipe, environment)
    elif tree is not None:
        interpreter = home_interpreter(recipe, tree, "--python-home" if options.python_home else recipe.where("python.home"), cache_dir)
    elif target.system == "macos":
        raise RecipeError(
            f"{recipe.where('python')}: a macOS bundle ({target.where_system}) needs a macOS interpreter tree, and python.home is not set",
            hint="set python.home (or --python-home) to a CPython install for the Mac: a folder, or an archive such as JavaCPP's "
            "org.bytedeco:cpython jar (mvn dependency:get -Dartifact=org.bytedeco:cpython:3.13.5-1.5.12:jar:macosx-arm64)",
        )
    else:
        interpreter = find_interpreter(recipe, target)
    check_machine(interpreter, toolchain, target)
    check_prune_imports(recipe, interpreter, target)
    # Before any work: a tree whose libpython needs a newer macOS than target.macos cannot make the bundle.
    check_minimum_macos(target, interpreter)
    if interpreter.compiler is not None and recipe.python.project is not None:
        raise ToolchainError(
            f"{recipe.where('python.project')}: building a local project needs its interpreter to run pypa/build, "
            f"and the tree's Python ({interpreter.prefix}) cannot run on this machine",
            hint="build the project's wheel for the target beforehand and list the wheel file in python.requirements",
        )
    if target.sysroot is not None and recipe.python.project is not None:
        raise ToolchainError(
            f"{recipe.where('python.project')}: building a local project needs its interpreter to run pypa/build, "
            f"which gopack does not do for a root file system ({target.sysroot})",
            hint="build the project's wheel for the target beforehand and list the wheel file in python.requirements",
        )
    # Before any work: an interpreter whose own files need a newer glibc cannot make a bundle for the floor.
    targets.check_files(target, [interpreter.libpython, interpreter.executable], what=f"the interpreter {interpreter.executable}")
    return interpreter, environment


def _go_values(recipe: Recipe) -> list[tuple[str, str]]:
    """(recipe key, text) of the go values that may hold placeholders."""
    go = recipe.go
    return [*((f"go.env.{k}", v) for k, v in go.env), *((f"go.flags[{i}]", f) for i, f in enumerate(go.flags)), ("go.ldflags", go.ldflags)]


def check_libpython_flags(recipe: Recipe, interpreter: Interpreter, packages: list[GoPackage]) -> None:
    """``#cgo LDFLAGS: -lpythonX.Y`` must name the Python the recipe embeds."""
    for flag in includes.libpython_flags(packages):
        if flag.version != interpreter.short_version:
            where = f"{flag.file}:{flag.line}" if flag.file else flag.package
            raise ToolchainError(
                f"{where}: #cgo LDFLAGS asks for {flag.flag} (Python {flag.version}), but {recipe.where('python.version')} "
                f"is {interpreter.short_version}",
                hint=f"use '#cgo pkg-config: python3-embed' (any Python 3), or -lpython{interpreter.short_version}, "
                f'or set python.version: "{flag.version}" in {recipe.path}',
            )


def scan_cgo(
    recipe: Recipe, toolchain: GoToolchain, interpreter: Interpreter, packages: list[GoPackage], env: dict[str, str]
) -> includes.CgoScan:
    """Which includes of the program's cgo code only the Python tree may answer."""
    own = [p for p in packages if not p.standard and (p.cgo_files or p.c_files or p.cxx_files)]
    if not own:
        return includes.CgoScan(libpython=tuple(includes.libpython_flags(packages)))
    flags = ["-I", str(interpreter.include)]
    for name in ("CGO_CPPFLAGS", "CGO_CFLAGS", "CGO_CXXFLAGS"):
        value = env.get(name, os.environ.get(name, ""))
        resolved = placeholders.substitute(value, lambda p: interpreters.placeholder_value(interpreter, p))
        # A folder only the tree gives is not there yet: what it would answer counts as missing.
        flags += includes.search_flags([w for w in includes.split_flags(resolved) if not placeholders.find(w)])
    others = sorted({n for p in own for n in p.pkg_config} - set(bindings.python_pkg_config_names(n for p in own for n in p.pkg_config)))
    if others:
        try:
            cflags = _proc.run(["pkg-config", "--cflags", *others], what="pkg-config --cflags", env=env, error=ToolchainError)
            flags += includes.search_flags(includes.split_flags(cflags))
        except ToolchainError:
            pass  # go build reports a pkg-config name it cannot resolve, in its own words
    missing = includes.missing(own, cc=toolchain.cc, cxx=toolchain.cxx, flags=flags, env=env)
    return includes.CgoScan(missing=tuple(missing), libpython=tuple(includes.libpython_flags(packages)))


def make_target(recipe: Recipe, toolchain: GoToolchain, options: TargetOptions) -> Target:
    """The target from the command line's options, else the recipe's target section (and its older max_glibc)."""
    spec = recipe.target
    if spec.glibc is not None and recipe.max_glibc is not None and spec.glibc != recipe.max_glibc:
        raise RecipeError(
            f"{recipe.where('target.glibc')}: target.glibc is {spec.glibc} but max_glibc is {recipe.max_glibc}",
            hint="max_glibc is the older name of target.glibc: keep one of them",
        )
    glibc: str | None
    if options.glibc is not None:
        glibc, where_glibc = options.glibc, options.glibc_flag
    elif spec.glibc is not None:
        glibc, where_glibc = spec.glibc, recipe.where("target.glibc")
    else:
        glibc, where_glibc = recipe.max_glibc, recipe.where("max_glibc")
    sysroot, where_sysroot = (
        (options.sysroot, "--sysroot") if options.sysroot is not None else (spec.sysroot, recipe.where("target.sysroot"))
    )
    goarch, where_arch = target_goarch(recipe, toolchain, options)
    system, where_system = (
        (options.system, "--target-os") if options.system is not None else (spec.os or "linux", recipe.where("target.os"))
    )
    macos, where_macos = (options.macos, "--target-macos") if options.macos is not None else (spec.macos, recipe.where("target.macos"))
    return targets.make(
        goarch, sysroot=sysroot, glibc=glibc, where_sysroot=where_sysroot, where_glibc=where_glibc, where_arch=where_arch,
        system=system, where_system=where_system, macos=macos, where_macos=where_macos,
    )  # fmt: skip


def target_goarch(recipe: Recipe, toolchain: GoToolchain, options: TargetOptions) -> tuple[str, str]:
    """The GOARCH the bundle is built for, and where it was chosen: --target-arch, else
    target.arch, else Go's own (go.env's GOARCH, the environment's, or the machine's)."""
    own = dict(recipe.go.env).get("GOARCH")
    if options.arch is not None:
        chosen, where, named = options.arch, "--target-arch", "--target-arch"
    elif recipe.target.arch is not None:
        chosen, where, named = recipe.target.arch, recipe.where("target.arch"), "target.arch"
    else:
        return toolchain.goarch, recipe.where("go.env.GOARCH") if own else "GOARCH from go env"
    goarch = targets.goarch_of(chosen, where=where)
    if own is not None and own != goarch:
        raise RecipeError(
            f"{recipe.where('go.env.GOARCH')}: GOARCH is {own}, but {named} asks for {chosen} (GOARCH={goarch})",
            hint="drop GOARCH from go.env: the target's architecture sets it",
        )
    return goarch, where


def conda_interpreter(recipe: Recipe, environment: conda.Environment) -> Interpreter:
    """The environment's own CPython, with the shared libpython it ships."""
    spec = recipe.python.conda
    assert spec is not None
    where = recipe.where(spec.key)
    python = environment.prefix / "bin" / "python"
    if not python.exists():
        raise ToolchainError(
            f"{where}: the conda environment {environment.prefix} has no Python (no bin/python)",
            hint="add one: conda install -p PREFIX python=3.7 (or - python=3.7 in environment.yml)",
        )
    # Before running it: a python that links libpython dynamically would only fail to start.
    shared, static = interpreters.libpythons(environment.prefix / "lib")
    if not shared:
        raise ToolchainError(
            f"{where}: the conda environment {environment.prefix} has no shared libpython in lib/"
            + (f" (only the static {', '.join(static)})" if static else ""),
            hint=_CONDA_LIBPYTHON_HINT,
        )
    try:
        interpreter = interpreters.probe(python, shared_in_prefix=True)
    except ToolchainError as exc:
        raise ToolchainError(
            f"{where}: the environment's python ({python}) {exc.message}",
            hint=_CONDA_LIBPYTHON_HINT,
        ) from None
    version = recipe.python.version
    if version is not None and interpreter.short_version != version:
        raise ToolchainError(
            f"{recipe.where('python.version')}: the conda environment {environment.prefix} has Python {interpreter.version}, but python.version is {version}",
            hint="make them agree, or leave python.version out: with python.conda the environment decides",
        )
    return interpreter


def find_interpreter(recipe: Recipe, target: Target) -> Interpreter:
    """python.interpreter, else the newest CPython ``python.version`` the target's search finds:
    on the host pyenv's versions then PATH; in a root its PATH (/usr/local/bin, /usr/bin, /bin)."""
    version = recipe.python.version
    assert version is not None  # the schema requires it without python.conda
    if recipe.python.interpreter is not None:
        where = recipe.where("python.interpreter")
        # In a root, an absolute python.interpreter names a file of the root.
        executable = target.inside(recipe.python.interpreter)
        if target.sysroot is not None and not executable.exists():
            raise ToolchainError(
                f"{where}: {recipe.python.interpreter} does not exist in the root {target.sysroot}",
                hint="name the interpreter as the root sees it, e.g. /usr/bin/python3.9",
            )
        try:
            interpreter = interpreters.probe(executable, target=target)
        except ToolchainError as exc:
            raise ToolchainError(
                f"{where}: {recipe.python.interpreter} {exc.message}",
                hint="point python.interpreter at a CPython built with --enable-shared (pyenv: PYTHON_CONFIGURE_OPTS=--enable-shared)",
            ) from None
        if interpreter.short_version != version:
            raise ToolchainError(
                f"{where}: {recipe.python.interpreter} is Python {interpreter.version}, but python.version is {version}",
                hint="make python.version and python.interpreter agree",
            )
        return interpreter
    search = interpreters.candidates(version, search_path=target.search_path(), pyenv=target.sysroot is None)
    found, rejected = interpreters.find(version, search, target=target)
    if found is None:
        tried = "".join(f"\n  {r.path}: {r.reason}" for r in rejected) or (
            "\n  (no pythonX.Y in pyenv versions, on PATH or managed by uv)"
            if target.sysroot is None
            else f"\n  (no python{version} in {target.search_path()})"
        )
        # Discovery passes over an interpreter that cannot start on the floor: say so, and where low-floor ones come from.
        floor = f" that starts on glibc {target.floor} ({target.where_glibc})" if target.floor else ""
        too_new = any(r.reason.startswith("needs a glibc newer") for r in rejected)
        if target.sysroot is not None:
            raise ToolchainError(
                f"{recipe.where('python.version')}: the root {target.sysroot} has no CPython {version} with a shared libpython and headers{floor}; candidates:{tried}",
                hint=targets.LOW_FLOOR_HINT
                if too_new
                else f"install it in the root (Debian: python{version} and libpython{version}-dev), or set python.interpreter to one the root has",
            )
        raise ToolchainError(
            f"{recipe.where('python.version')}: no CPython {version} with a shared libpython{floor} was found; candidates:{tried}",
            hint=targets.LOW_FLOOR_HINT
            if too_new
            else f"install one (pyenv: PYTHON_CONFIGURE_OPTS=--enable-shared pyenv install {version}) or set python.interpreter",
        )
    return found


_CONDA_LIBPYTHON_HINT = (
    "a Go program links libpython: install a python package that ships lib/libpythonX.Y.so (conda-forge's and defaults' do)"
)


def home_interpreter(recipe: Recipe, tree: Path, where: str, cache_dir: Path | None) -> Interpreter:
    """The interpreter of a tree (python.home / --python-home), read from its files; its version must be python.version's."""
    interpreter = home.interpreter(tree, where=where, cache_dir=cache_dir or cache.directory())
    version = recipe.python.version
    if version is not None and interpreter.short_version != version:
        raise ToolchainError(
            f"{where}: {tree} holds Python {interpreter.version}, but {recipe.where('python.version')} is {version}",
            hint="make python.version and the tree agree",
        )
    return interpreter


def check_minimum_macos(target: Target, interpreter: Interpreter) -> None:
    """With target.macos: libpython's own minimum macOS (LC_BUILD_VERSION's minos) must be at most it."""
    if target.system != "macos" or target.macos is None:
        return
    try:
        minos = macho.parse(interpreter.libpython.read_bytes()).minos
    except (OSError, macho.Malformed):
        return  # the tree's relocation reads every file again and names what it cannot
    if minos is not None and _macos_key(minos) > _macos_key(target.macos):
        raise ToolchainError(
            f"{target.where_macos}: the bundle must start on macOS {target.macos}, but {interpreter.libpython_where} needs macOS {minos}",
            hint=f"raise target.macos to {minos}, or take an interpreter built for macOS {target.macos} or older (python.home)",
        )


def _macos_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def check_prune_imports(recipe: Recipe, interpreter: Interpreter, target: Target) -> None:
    """prune.imports traces the smoke command at build time with import hooks: it needs Python 3
    and a target whose programs this machine runs natively."""
    if not recipe.prune.imports:
        return
    if interpreter.short_version.startswith("2."):
        raise RecipeError(
            f"{recipe.where('prune.imports')}: pruning by imports needs Python 3 (its trace and its guard are import hooks 2.7 lacks)",
            hint=f"turn prune.imports off in {recipe.path} for a Python 2.7 bundle",
        )
    elsewhere = platforms.of(target).smoke_elsewhere()
    if target.foreign or elsewhere is not None:
        raise RecipeError(
            f"{recipe.where('prune.imports')}: pruning by imports runs the smoke command at build time, "
            f"which this machine cannot do for {target.machine}" + (f" ({elsewhere})" if elsewhere else ""),
            hint=f"turn prune.imports off in {recipe.path} for this target (prune.drop removes files by pattern), or build on a machine of the target's",
        )


def check_machine(interpreter: Interpreter, toolchain: GoToolchain, target: Target | None = None) -> None:
    """libpython must be built for the machine Go builds for (a Mac's: the Mach-O machine of the target's arch)."""
    expected = target.machine if target is not None else GOARCH_MACHINES.get(toolchain.goarch)
    if target is not None and target.system == "macos" and expected != interpreter.elf_machine:
        mine = ARCH_OF_MACHO.get(interpreter.elf_machine, interpreter.elf_machine)
        raise ToolchainError(
            f"{target.where_arch}: the bundle is for macOS {target.arch_name} (GOARCH={toolchain.goarch}), but {interpreter.libpython_where} "
            f"is built for {mine} only ({interpreter.elf_machine}): an {target.arch_name} program cannot load an {mine} libpython",
            hint=f"build for {mine} instead (target.arch: {mine}, or --target-arch {mine})"
            + (", which Apple silicon Macs run under Rosetta 2" if mine == "x86_64" else "")
            + f", or take an interpreter built for {target.arch_name} (python.home)"
            + (": JavaCPP's org.bytedeco:cpython:3.13.5-1.5.12:jar:macosx-arm64, say" if target.goarch == "arm64" else ""),
        )
    if expected != interpreter.elf_machine:
        raise ToolchainError(
            f"{interpreter.libpython} is built for {interpreter.elf_machine}, but Go builds for GOARCH={toolchain.goarch} ({expected or 'unknown machine'})",
            hint="use a Go toolchain and a Python of the same architecture (cross-compiling turns cgo off)",
        )
