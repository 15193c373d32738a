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
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from gopack import _proc, cache
from gopack.errors import BuildError
from gopack.go import cgoflags
from gopack.go import errors as goerrors
from gopack.go.cgoflags import GoInputs
from gopack.go.toolchain import BuildPlan
from gopack.platform.linux.analysis import elf_info
from gopack.python.interpreters import Interpreter

RPATH = "$ORIGIN/../python/lib"
_HOME_NAME = "zz_gopack_home"
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
    pc_dir = work / "pkgconfig"
    write_pkg_config(interpreter, pc_dir, extra_names=plan.binding.pkg_config)
    overlay = write_overlay(plan, work / "overlay")
    out = root / "bin" / plan.recipe.go.binary
    out.parent.mkdir(parents=True, exist_ok=True)
    go_env = {**dict(plan.go_env), **dict(inputs.env)}
    # The target's C compiler (zig cc for an older glibc or a root) and what it adds to the C flags.
    compiler, target_cflags = plan.target.cgo_env(cache_dir=cache.directory())
    env = {
        **compiler,
        **go_env,
        "PKG_CONFIG_PATH": os.pathsep.join(p for p in (str(pc_dir), os.environ.get("PKG_CONFIG_PATH", "")) if p),
        "CGO_LDFLAGS": _flags(go_env, "CGO_LDFLAGS", "", *inputs.link_flags, f"-Wl,-rpath,{RPATH}", "-Wl,--disable-new-dtags"),
        "CGO_CFLAGS": _flags(go_env, "CGO_CFLAGS", "-O2 -g", f"-DGOPACK_PYTHON={cgoflags.interpreter_key(interpreter)}", target_cflags),
    }
    if inputs.cppflags:
        # The tree's include folders, after the recipe's own; the define keys Go's cache to their contents.
        env["CGO_CPPFLAGS"] = _flags(go_env, "CGO_CPPFLAGS", "", *inputs.cppflags, f"-DGOPACK_HEADERS={inputs.headers_key}")
    recipe = plan.recipe
    argv: list[str | os.PathLike[str]] = [plan.toolchain.go, "build", "-trimpath", "-buildvcs=false", "-overlay", overlay]
    if recipe.go.tags:
        argv.append("-tags=" + ",".join(recipe.go.tags))
    # -buildid= makes the binary reproducible; -s -w drop the symbol table and DWARF.
    ldflags = " ".join(p for p in (inputs.ldflags, "-s -w" if recipe.output.strip else "", "-buildid=") if p)
    argv += [f"-ldflags={ldflags}", *inputs.flags, "-o", out, recipe.go.package]
    hint = f"run with -v to see the compiler's output; the program is in {recipe.go.module}"
    if inputs.unanswered:
        named = "; ".join(f"{i.where} includes {i.header}" for i in inputs.unanswered[:5])
        hint = (
            f"{named}: no folder of the compiler, the recipe or the Python tree holds it; if a Python package "
            f"ships it, add that package to python.requirements ({hint})"
        )
    try:
        _proc.run(argv, what="go build", env=env, cwd=recipe.go.module, cancel=cancel, stderr_only=True, hint=hint)
    except BuildError as exc:
        raise goerrors.rewrite(exc, module_dir=recipe.go.module) from None
    binary = inspect(out)
    if interpreter.soname not in binary.needed:
        raise BuildError(
            f"the built program does not link {interpreter.soname} (it needs: {', '.join(binary.needed)})",
            hint="a stale Go build cache can do this: run `go clean -cache` and retry",
        )
    return binary


def inspect(path: Path) -> GoBinary:
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
    header = f'#define GOPACK_INTERPRETER "{plan.interpreter.program}"\n#define GOPACK_BIN_DEPTH 1\n' + cgo.joinpath(
        "gopack_home.h"
    ).read_text("utf-8")
    go_file = (
        "// Added by gopack at build time: points the embedded CPython at the bundle.\n\n"
        f"package main\n\n// #cgo pkg-config: {_HOME_PKG_CONFIG}\n"
        "// #cgo CFLAGS: -Wno-deprecated-declarations\n"
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
