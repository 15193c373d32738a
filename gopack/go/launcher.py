"""The launcher of a one-file executable (``output.format: exe``), built from ``gopack/launcher``.

A static Go program (``CGO_ENABLED=0``), built with the Go toolchain the plan
found, for the target's GOARCH, with ``-trimpath -buildvcs=false`` and
``-ldflags=-s -w -buildid=``: the same sources and Go version give the same
bytes. The built launcher is kept in gopack's cache under a key of its
sources, the Go version and the machine, so it is built once; it is made in
the cache's tmp/ and renamed into place.
"""

from __future__ import annotations

import hashlib
import os
from importlib import resources
from pathlib import Path

from gopack import _proc, cache
from gopack.errors import BuildError
from gopack.go.toolchain import GoToolchain

#: The files of gopack/launcher that make the program.
_SOURCES = ("go.mod", "main.go", "extract.go", "places.go", "trailer.go", "os_linux.go", "os_other.go")
_LDFLAGS = "-s -w -buildid="
#: Raised when how the launcher is built changes in a way its sources do not show.
_RECIPE = 1


def sources() -> dict[str, bytes]:
    """The launcher's sources by file name, as gopack ships them."""
    folder = resources.files("gopack").joinpath("launcher")
    return {name: folder.joinpath(name).read_bytes() for name in _SOURCES}


def key(toolchain: GoToolchain, goarch: str) -> str:
    """What decides the launcher's bytes: its sources, the Go version and GOARCH."""
    digest = hashlib.sha256(f"launcher {_RECIPE} {toolchain.version} linux/{goarch} {_LDFLAGS}\n".encode())
    for name, text in sources().items():
        digest.update(f"{name} {len(text)}\n".encode() + text)
    return digest.hexdigest()


def build(toolchain: GoToolchain, *, goarch: str, cache_dir: Path) -> Path:
    """The launcher for ``goarch`` (from the cache, else built now)."""
    dest = cache_dir / "launchers" / key(toolchain, goarch)[:32] / "gopack-launcher"
    if dest.is_file():
        return dest
    with cache.staging(cache_dir, "launcher-", what=f"the one-file launcher for {goarch}") as work:
        src = work / "src"
        src.mkdir()
        for name, text in sources().items():
            (src / name).write_bytes(text)
        out = work / "gopack-launcher"
        env = {
            "CGO_ENABLED": "0",
            "GOOS": "linux",
            "GOARCH": goarch,
            # Nothing of the user's Go settings: the launcher has no dependencies and one way to be built.
            "GOFLAGS": "",
            "GOEXPERIMENT": "",
            "GOTOOLCHAIN": "local",
            "GOWORK": "off",
            "GO111MODULE": "on",
        }
        _proc.run(
            [toolchain.go, "build", "-trimpath", "-buildvcs=false", f"-ldflags={_LDFLAGS}", "-o", out, "."],
            what="go build (the one-file launcher)",
            env=env,
            cwd=src,
            hint=f"gopack builds its launcher with {toolchain.go} ({toolchain.version}); run with -v to see Go's output",
        )
        if not out.is_file():
            raise BuildError(f"go build wrote no launcher at {out}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(out, dest)
    return dest
