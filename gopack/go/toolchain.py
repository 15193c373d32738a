"""The Go toolchain: which ``go``, for which OS and machine, and what ``go list`` says of the program.

Also :class:`BuildPlan`, what the Go build reads of the plan: the plan is made
above this package (it checks the Go side and the Python side together), so the
build names the fields it needs instead of importing the plan.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from gopack import _proc
from gopack.errors import ToolchainError
from gopack.go import errors as goerrors
from gopack.go import includes
from gopack.go.bindings import Binding, GoPackage
from gopack.platform.target import Target
from gopack.python.interpreters import Interpreter
from gopack.recipe.model import Recipe


@dataclass(frozen=True, kw_only=True)
class GoToolchain:
    go: Path
    version: str  # "go1.26.8"
    goos: str
    goarch: str
    #: go env CC and CXX, split into words.
    cc: tuple[str, ...] = ("gcc",)
    cxx: tuple[str, ...] = ("g++",)


class BuildPlan(Protocol):
    """What the Go build reads of the plan (:class:`gopack.plan.Plan` is one)."""

    @property
    def recipe(self) -> Recipe: ...
    @property
    def toolchain(self) -> GoToolchain: ...
    @property
    def interpreter(self) -> Interpreter: ...
    @property
    def binding(self) -> Binding: ...
    @property
    def main_package(self) -> GoPackage: ...
    @property
    def go_env(self) -> tuple[tuple[str, str], ...]: ...
    @property
    def target(self) -> Target: ...
    @property
    def cgo(self) -> includes.CgoScan: ...
    @property
    def cxx_link(self) -> bool: ...


def find_go(recipe: Recipe) -> GoToolchain:
    go = _proc.which("go", hint="install Go 1.21 or newer and put it on PATH (https://go.dev/dl)")
    out = _proc.run(
        [go, "env", "-json", "GOVERSION", "GOOS", "GOARCH", "CC", "CXX"],
        what="go env",
        env=dict(recipe.go.env),
        error=ToolchainError,
        hint="check that your Go installation works: go version",
    )
    info = json.loads(out)
    if info["GOOS"] != "linux":
        raise ToolchainError(
            f"GOOS is {info['GOOS']}; gopack bundles for linux on this platform",
            hint="unset GOOS (cross-compiling turns cgo off)",
        )
    return GoToolchain(
        go=go,
        version=info["GOVERSION"],
        goos=info["GOOS"],
        goarch=info["GOARCH"],
        cc=tuple(includes.split_flags(info.get("CC") or "gcc")),
        cxx=tuple(includes.split_flags(info.get("CXX") or "g++")),
    )


def _strings(go_field: str) -> str:
    return f'[{{{{range $i, $n := .{go_field}}}}}{{{{if $i}}}}, {{{{end}}}}{{{{printf "%q" $n}}}}{{{{end}}}}]'


#: go list's fields of each package, and the GoPackage field each fills.
_LISTS = {
    "pkg_config": "CgoPkgConfig",
    "cgo_files": "CgoFiles",
    "c_files": "CFiles",
    "cxx_files": "CXXFiles",
    "swig_cxx_files": "SwigCXXFiles",
    "h_files": "HFiles",
    "cgo_cflags": "CgoCFLAGS",
    "cgo_cppflags": "CgoCPPFLAGS",
    "cgo_cxxflags": "CgoCXXFLAGS",
    "cgo_ldflags": "CgoLDFLAGS",
    "go_files": "GoFiles",
}
_LIST_FORMAT = (
    '{"import_path": {{printf "%q" .ImportPath}}, "name": {{printf "%q" .Name}}, "dir": {{printf "%q" .Dir}}, '
    '"module": {{with .Module}}{{printf "%q" .Path}}{{else}}""{{end}}, '
    '"module_version": {{with .Module}}{{printf "%q" .Version}}{{else}}""{{end}}, '
    '"standard": {{.Standard}}, ' + ", ".join(f'"{key}": {_strings(go_field)}' for key, go_field in _LISTS.items()) + "}"
)


def list_packages(recipe: Recipe, toolchain: GoToolchain, env: dict[str, str], *, overlay: Path | None = None) -> list[GoPackage]:
    """``go list -deps`` of the program's package: every package, its module and pkg-config names
    (``overlay``: with the files gopack adds at build time)."""
    argv: list[str | os.PathLike[str]] = [toolchain.go, "list", "-deps", "-f", _LIST_FORMAT]
    if overlay is not None:
        argv += ["-overlay", overlay]
    if recipe.go.tags:
        argv.append("-tags=" + ",".join(recipe.go.tags))
    argv.append(recipe.go.package)
    try:
        out = _proc.run(
            argv,
            what=f"go list {recipe.go.package} (in {recipe.go.module})",
            env=env,
            cwd=recipe.go.module,
            error=ToolchainError,
            hint=f"check {_go_keys(recipe)} in {recipe.path}, and that `go build` works in {recipe.go.module}",
            stderr_only=True,
        )
    except ToolchainError as exc:
        raise goerrors.rewrite(exc, module_dir=recipe.go.module) from None
    return [GoPackage(**{**row, **{key: tuple(row[key]) for key in _LISTS}}) for row in map(json.loads, out.splitlines()) if row]


def _go_keys(recipe: Recipe) -> str:
    """The recipe keys a failing go command may be failing on: go.env's too, where set
    (a bad GOFLAGS fails go list before it reads the package)."""
    keys = ["go.module", "go.package", *(f"go.env.{name}" for name, _ in recipe.go.env)]
    return ", ".join(keys[:-1]) + " and " + keys[-1]


def package_dir(recipe: Recipe) -> Path:
    return (recipe.go.module / recipe.go.package).resolve()
