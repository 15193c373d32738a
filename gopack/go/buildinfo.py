"""What a Go binary says it was built from: its build info (``go version -m``), read for the SBOM.

The Go linker records the main module, every module whose packages were compiled
in (with the go.sum hash of each), replacements, and the toolchain's version. That
is the record of what is inside the binary; go.mod lists more (test-only and
unused requirements). ``go version -m`` reads it from a binary of any machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gopack import _proc
from gopack.errors import BuildError


@dataclass(frozen=True, kw_only=True)
class Module:
    path: str
    version: str  # "(devel)" for the main module built from its folder
    sum: str = ""  # go.sum's "h1:..." hash; empty for the main module
    #: The module that replaced this one (a ``replace`` directive), if any: what was compiled in.
    replaced_by: Module | None = None


@dataclass(frozen=True, kw_only=True)
class BuildInfo:
    go_version: str  # "go1.26.8"
    path: str  # the main package's import path
    main: Module
    deps: tuple[Module, ...]
    settings: tuple[tuple[str, str], ...]  # build -> (key, value): CGO_ENABLED, GOARCH, -trimpath ...


def read(go: Path, binary: Path) -> BuildInfo:
    """The build info of ``binary``, as ``go`` reads it."""
    text = _proc.run(
        [go, "version", "-m", binary],
        what="go version -m (the Go program's build info, for the SBOM)",
        hint="the binary was built by gopack's go build a moment ago; run `go version -m` on it to see why it cannot be read",
    )
    return parse(text, where=str(binary))


def parse(text: str, *, where: str) -> BuildInfo:
    """``go version -m``'s output, read.

    >>> info = parse(
    ...     "bin/x: go1.26.8\\n\\tpath\\texample.com/x\\n\\tmod\\texample.com/x\\t(devel)\\t\\n"
    ...     "\\tdep\\tgithub.com/a/b\\tv1.2.3\\th1:abc=\\n\\tdep\\tgolang.org/y\\tv0.1.0\\th1:def=\\n"
    ...     "\\t=>\\t../y\\t(devel)\\t\\n\\tbuild\\tCGO_ENABLED=1\\n",
    ...     where="bin/x",
    ... )
    >>> info.go_version, info.main.path, [d.path for d in info.deps], info.deps[1].replaced_by.path, info.settings
    ('go1.26.8', 'example.com/x', ['github.com/a/b', 'golang.org/y'], '../y', (('CGO_ENABLED', '1'),))
    """
    lines = text.splitlines()
    if not lines or ": go" not in lines[0]:
        raise BuildError(f"{where}: `go version -m` printed no Go version", details=text[:2000])
    go_version = lines[0].rsplit(": ", 1)[1].strip()
    path, main, deps, settings = "", None, [], []
    for line in lines[1:]:
        fields = line.strip("\n").split("\t")[1:]
        if not fields:
            continue
        kind, rest = fields[0], fields[1:]
        if kind == "path" and rest:
            path = rest[0]
        elif kind == "mod" and rest:
            main = _module(rest)
        elif kind == "dep" and rest:
            deps.append(_module(rest))
        elif kind == "=>" and rest and deps:
            last = deps.pop()
            deps.append(Module(path=last.path, version=last.version, sum=last.sum, replaced_by=_module(rest)))
        elif kind == "build" and rest:
            key, _, value = rest[0].partition("=")
            settings.append((key, value))
    if main is None:
        raise BuildError(
            f"{where}: the Go program carries no module information",
            hint="build it in module mode (a go.mod beside the program; GO111MODULE not off)",
        )
    return BuildInfo(go_version=go_version, path=path, main=main, deps=tuple(deps), settings=tuple(settings))


def _module(fields: list[str]) -> Module:
    return Module(path=fields[0], version=fields[1] if len(fields) > 1 else "", sum=fields[2] if len(fields) > 2 else "")
