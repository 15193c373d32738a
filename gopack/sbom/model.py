"""What the SBOM's writer (:mod:`gopack.sbom.cyclonedx`) and its readers share: names, limits, inputs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from gopack.go.buildinfo import BuildInfo
from gopack.platform.base import Origin
from gopack.python.conda import Record

NAME = "sbom.cdx.json"
SUFFIX = ".cdx.json"
#: What an SBOM read from a stranger's archive may weigh (a few hundred components are some 200 kB).
MAX_BYTES = 16 << 20
#: The property naming the bundle file a component is, and the one saying what kind of part it is.
FILE, KIND = "gopack:file", "gopack:kind"


@dataclass(frozen=True, kw_only=True)
class Sources:
    """What the SBOM says that the manifest does not: read from the binary and the build machine."""

    build_info: BuildInfo
    #: Vendored library's host file -> the system package it came from (where known).
    origins: Mapping[str, Origin]
    #: Bundle-relative path -> the Python distribution whose RECORD lists it.
    owners: Mapping[str, str]
    #: The conda packages of a conda recipe's environment (empty otherwise).
    conda: Sequence[Record] = ()
    sysroot: Path | None = None
