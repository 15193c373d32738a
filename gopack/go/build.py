"""go build with cgo pointed at the chosen interpreter.

- Generated pkg-config files make every name a binding may ask for
  (python3, python3-embed, python-3.X, python-3.X-embed, python-3.Xm, python-2.7)
  resolve to the chosen interpreter and link its libpython (3.8+'s own
  python3.pc does not link it).
- Go's build cache is kept apart per interpreter: Go reuses cgo output across
  a PKG_CONFIG_PATH change (golang/go#24544), but it does hash CGO_CFLAGS into
  every cgo action, so a define naming the interpreter build
  (``-DGOPACK_PYTHON=<key>``) gives each interpreter its own cgo entries while
  the standard library stays shared with the user's warm cache.
- The home-finding C constructor (``gopack/cgo``) is added to the main package
  with ``go build -overlay``; the user's tree is never written to.
- RPATH ``$ORIGIN/../python/lib`` is set at link time (DT_RPATH, which
  LD_LIBRARY_PATH cannot override); patchelf never touches the Go binary.
- For macOS (``Target.system``), GOOS=darwin and zig cc for ``Target.zig_triple``,
  with the SDK stubs, the rpath ``@executable_path/../python/lib``, header room and
  each library loaded once (:mod:`gopack.go.darwin`); ``-w`` always.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from gopack import _proc, cache
from gopack.errors import BuildError
from gopack.go import cgoflags, darwin, extld, includes
from gopack.go import errors as goerrors
from gopack.go import toolchain as go_toolchain
from gopack.go.cgoflags import GoInputs
from gopack.go.toolchain import BuildPlan
from gopack.platform.linux.analysis import elf_info
from gopack.python.interpreters import Interpreter

RPATH = "$ORIGIN/../python/lib"
_HOME_NAME = "zz_gopack_home"
#: The bundle's folder the program is built into.
BIN = "bin"
_HOME_PKG_CONFIG = "gopack-python"


@dataclass(frozen=True, kw_only=True)
class GoBinary:
    path: Path
    needed: tuple[str, ...]
    rpath: str


def build(plan: BuildPlan, root: Path, work: Path, inputs: GoInputs, *, cancel: _proc.Cancel | None = None) -> GoBinary:
    """``inputs``: the recipe's go values with placeholders resolved and what the cgo code
    needs of the Python tree (:mod:`gopack.go.cgoflags`)."""
    interpreter = plan.interpreter
    macos = plan.target.system == "macos"
    pc_dir = work / "pkgconfig"
    write_pkg_config(interpreter, pc_dir, extra_names=plan.binding.pkg_config)
    overlay = write_overlay(plan, work / "overlay")
    out = root / BIN / plan.recipe.go.binary
    out.parent.mkdir(parents=True, exist_ok=True)
    go_env = {**dict(plan.go_env), **dict(inputs.env)}
    # The target's C compiler (zig cc for an older glibc, a root or a Mac) and what it adds to the C flags.
    compiler, target_cflags = plan.target.cgo_env(cache_dir=cache.directory())
    # Where the program finds libpython: the bundle's python/lib, set at link time.
    linking: tuple[str, ...] = (f"-Wl,-rpath,{RPATH}", "-Wl,--disable-new-dtags")
    if macos:
        compiler = {**compiler, **darwin.compiler(plan.target, cache.directory() / "darwin-cc")}
        linking = ()
    env = {
        **compiler,
        **go_env,
        "PKG_CONFIG_PATH": os.pathsep.join(p for p in (str(pc_dir), os.environ.get("PKG_CONFIG_PATH", "")) if p),
        "CGO_LDFLAGS": _flags(go_env, "CGO_LDFLAGS", "", *inputs.link_flags, *linking),
        "CGO_CFLAGS": _flags(go_env, "CGO_CFLAGS", "-O2 -g", f"-DGOPACK_PYTHON={cgoflags.interpreter_key(interpreter)}", target_cflags),
    }
    if macos:
        env["GOOS"] = "darwin"  # the rpath, header room and SDK stubs join CGO_LDFLAGS in _build_darwin
    if inputs.cppflags:
        # The tree's include folders, after the recipe's own; the define keys Go's cache to their contents.
        env["CGO_CPPFLAGS"] = _flags(go_env, "CGO_CPPFLAGS", "", *inputs.cppflags, f"-DGOPACK_HEADERS={inputs.headers_key}")
    recipe = plan.recipe
    argv: list[str | os.PathLike[str]] = [plan.toolchain.go, "build", "-trimpath", "-buildvcs=false", "-overlay", overlay]
    if recipe.go.tags:
        argv.append("-tags=" + ",".join(recipe.go.tags))
    # -buildid= makes the binary reproducible; -s -w drop the symbol table and DWARF. For darwin -w
    # always: with DWARF, Go's link runs dsymutil and strip, which Linux has not for Mach-O.
    # -compressdwarf=false with -w: there is no DWARF to compress, and Go's linker would still try
    # the C linker with --compress-debug-sections first (a trial link of its own, on every build).
    strip = "-s -w -compressdwarf=false" if recipe.output.strip else "-w" if macos else ""
    # Go's trial links answered from the cache (not for a Mac: its link is gopack's own wrapper).
    linker = (
        ""
        if macos
        else extld.flag(extld.compiler(env, plan.toolchain.cc), ldflags=inputs.ldflags, cxx=plan.cxx_link, cache_dir=cache.directory())
    )
    ldflags = " ".join(p for p in (inputs.ldflags, strip, "-buildid=", linker) if p)
    argv += [f"-ldflags={ldflags}", *inputs.flags, "-o", out, recipe.go.package]
    hint = f"run with -v to see the compiler's output; the program is in {recipe.go.module}"
    if inputs.unanswered:
        named = "; ".join(f"{i.where} includes {i.header}" for i in inputs.unanswered[:5])
        hint = (
            f"{named}: no folder of the compiler, the recipe or the Python tree holds it; if a Python package "
            f"ships it, add that package to python.requirements ({hint})"
        )
    if macos:
        _build_darwin(plan, argv, env, overlay=overlay, cancel=cancel, hint=hint)
    else:
        _go_build(plan, argv, env, cancel=cancel, hint=hint)
    binary = inspect(out, macos=macos)
    linked = [n for n in binary.needed if Path(n).name == interpreter.soname]
    if not linked:
        raise BuildError(
            f"the built program does not link {interpreter.soname} (it needs: {', '.join(binary.needed)})",
            hint="a stale Go build cache can do this: run `go clean -cache` and retry",
        )
    if len(linked) > 1:
        raise BuildError(
            f"the built program loads {interpreter.soname} {len(linked)} times, which dyld refuses",
            hint="report this to gopack with the recipe: its link line names libpython more than once",
        )
    return binary


def _go_build(plan: BuildPlan, argv: list[str | os.PathLike[str]], env: dict[str, str], *, cancel: _proc.Cancel | None, hint: str) -> None:
    try:
        _proc.run(argv, what="go build", env=env, cwd=plan.recipe.go.module, cancel=cancel, stderr_only=True, hint=hint)
    except BuildError as exc:
        raise goerrors.rewrite(exc, module_dir=plan.recipe.go.module) from None


def _build_darwin(
    plan: BuildPlan,
    argv: list[str | os.PathLike[str]],
    env: dict[str, str],
    *,
    overlay: Path,
    cancel: _proc.Cancel | None,
    hint: str,
) -> None:
    """go build for darwin: the SDK stubs made from what the program links (``go list -deps``
    for darwin, the home file included), on the link line; once more if zig finds symbols of
    the program's own C code that only its one framework can export."""
    recipe = plan.recipe
    packages = go_toolchain.list_packages(recipe, plan.toolchain, env, overlay=overlay)
    extra = includes.split_flags(env["CGO_LDFLAGS"])
    libraries = darwin.linked(packages, extra_flags=extra, search=[plan.interpreter.libpython.parent])
    ldflags = env["CGO_LDFLAGS"]
    for attempt in range(2):
        stubs = darwin.write_stubs(libraries, cache.directory() / "darwin-stubs", goarch=plan.target.goarch)
        env["CGO_LDFLAGS"] = " ".join(p for p in (ldflags, *darwin.link_flags(stubs)) if p)
        try:
            _proc.run(argv, what="go build", env=env, cwd=recipe.go.module, cancel=cancel, stderr_only=True, hint=hint)
            return
        except BuildError as exc:
            more = darwin.with_symbols(libraries, darwin.undefined_symbols(exc.details or "")) if attempt == 0 else None
            if more is None:
                raise goerrors.rewrite(exc, module_dir=recipe.go.module, goarch=plan.target.goarch) from None
            libraries = more


def inspect(path: Path, *, macos: bool = False) -> GoBinary:
    if macos:
        links = darwin.program_links(path)
        if links is None:
            raise BuildError(f"go build wrote {path}, which is not a Mach-O program", hint="cgo must be on (CGO_ENABLED=1)")
        return GoBinary(path=path, needed=links.needed, rpath=":".join(links.rpaths))
    info = elf_info(path.parent, path.name)
    if info is None:
        raise BuildError(f"go build wrote {path}, which is not a dynamically linked program", hint="cgo must be on (CGO_ENABLED=1)")
    return GoBinary(path=path, needed=info.needed, rpath=":".join(info.rpath or info.runpath))


def _flags(go_env: dict[str, str], name: str, default: str, *extra: str) -> str:
    """The recipe's (else the environment's, else Go's default) value of ``name`` with ``extra`` appended."""
    return " ".join(p for p in (go_env.get(name, os.environ.get(name, default)), *extra) if p)


def pkg_config_names(interpreter: Interpreter) -> list[str]:
    v = interpreter.short_version
    if v.startswith("2."):
        return ["python2", f"python-{v}", _HOME_PKG_CONFIG]
    names = ["python3", "python3-embed", f"python-{v}", f"python-{v}-embed", _HOME_PKG_CONFIG]
    if interpreter.abiflags:
        names += [f"python-{v}{interpreter.abiflags}", f"python-{v}{interpreter.abiflags}-embed"]
    return names


def write_pkg_config(interpreter: Interpreter, directory: Path, *, extra_names: tuple[str, ...] = ()) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    text = (
        f"Name: Python\n"
        f"Description: CPython {interpreter.version} chosen by gopack (embedding: links libpython)\n"
        f"Version: {interpreter.short_version}\n"
        f"Cflags: -I{interpreter.include}\n"
        f"Libs: -L{interpreter.libpython.parent} -l{interpreter.link_name}\n"
    )
    for name in sorted({*pkg_config_names(interpreter), *extra_names}):
        (directory / f"{name}.pc").write_text(text)


def home_defines(interpreter: Interpreter) -> str:
    """The lines gopack_home.h expects above it."""
    major = interpreter.short_version.partition(".")[0]
    return f'#define GOPACK_INTERPRETER "{interpreter.program}"\n#define GOPACK_BIN_DEPTH 1\n#define GOPACK_PY_MAJOR {major}\n'


def write_overlay(plan: BuildPlan, directory: Path) -> Path:
    """Files added to the main package at build time, and the -overlay JSON naming them."""
    package_dir = Path(plan.main_package.dir)
    taken = [n for n in (f"{_HOME_NAME}.go", f"{_HOME_NAME}.h") if (package_dir / n).exists()]
    if taken:
        raise BuildError(
            f"{package_dir} already has {', '.join(taken)}; gopack adds files of that name at build time", hint="rename your file"
        )
    directory.mkdir(parents=True, exist_ok=True)
    cgo = resources.files("gopack").joinpath("cgo")
    header = home_defines(plan.interpreter) + cgo.joinpath("gopack_home.h").read_text("utf-8")
    go_file = (
        "// Added by gopack at build time: points the embedded CPython at the bundle.\n\n"
        f"package main\n\n// #cgo pkg-config: {_HOME_PKG_CONFIG}\n"
        f'// #include "{_HOME_NAME}.h"\nimport "C"\n'
    )
    (directory / f"{_HOME_NAME}.h").write_text(header)
    (directory / f"{_HOME_NAME}.go").write_text(go_file)
    overlay = directory / "overlay.json"
    overlay.write_text(
        json.dumps(
            {"Replace": {str(package_dir / f"{_HOME_NAME}.{ext}"): str(directory / f"{_HOME_NAME}.{ext}") for ext in ("go", "h")}}, indent=2
        )
    )
    return overlay
