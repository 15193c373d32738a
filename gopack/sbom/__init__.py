"""The bundle's software bill of materials: CycloneDX 1.6 JSON, made with cyclonedx-python-lib.

Written at the bundle's root (:data:`NAME`, listed in ``gopack.json`` like any file)
and beside the archive (``<archive name>.cdx.json``), the same bytes. It says, in the
form scanners and auditors read:

- the application (the recipe's name and version), with the platform tag, the glibc
  floor and the target as properties;
- the Go main module and every module compiled into the binary (its build info,
  :mod:`gopack.go.buildinfo`), ``pkg:golang/...``, and the Go toolchain whose
  standard library it holds (``pkg:golang/stdlib@1.26.8``, as scanners name it);
- CPython (``pkg:generic/cpython@3.7.16``, or the conda package);
- every Python distribution (``pkg:pypi/...``, or ``pkg:conda/...``), its licence;
- every vendored native library: its soname, the sha256 of the file in the bundle, the
  host file it was copied from and, where the package manager knows that file, the
  system package (``pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=amd64``);
- which of them needs which vendored library (the manifest's ``needed_by``).

A component that is one file of the bundle names it (property ``gopack:file``) and
carries its sha256: ``gopack verify`` checks those against the manifest.

Same inputs, same bytes: the time is the archive's (``SOURCE_DATE_EPOCH``), the serial
number a UUID derived from the rest of the document.

Writing and validating one need cyclonedx-python-lib, which takes some 80 ms to import:
that lives in :mod:`gopack.sbom.cyclonedx`, imported the first time :func:`document` or
:func:`validate` runs, or earlier by :func:`prepare`, for a caller with time to spare (a
rebuild, while its Go build runs). Reading one (:func:`parse`, :func:`file_hashes`,
:func:`counts`) needs only json. :mod:`gopack.sbom.model` holds what both sides share.

May import: :mod:`gopack.go` (build info), :mod:`gopack.python` (conda records),
:mod:`gopack.platform` (origins) and the helpers; nothing that builds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from gopack.sbom.model import FILE, KIND, MAX_BYTES, NAME, SUFFIX, Sources

__all__ = ["FILE", "KIND", "MAX_BYTES", "NAME", "SUFFIX", "Sources", "counts", "document", "file_hashes", "parse", "prepare", "validate"]


def prepare() -> None:
    """Import what :func:`document` and :func:`validate` need, now rather than when they run."""
    import gopack.sbom.cyclonedx  # noqa: F401  # on demand: see the module's text


def document(manifest: Mapping[str, Any], files: Sequence[Mapping[str, Any]], sources: Sources, *, epoch: int) -> bytes:
    """The SBOM of a bundle whose manifest (without its file list) is ``manifest`` and whose
    files (each with its sha256) are ``files``."""
    from gopack.sbom import cyclonedx  # on demand: see the module's text

    return cyclonedx.document(manifest, files, sources, epoch=epoch)


def validate(data: bytes) -> str | None:
    """Why ``data`` is not a CycloneDX 1.6 JSON document, or None when it is."""
    from gopack.sbom import cyclonedx  # on demand: see the module's text

    return cyclonedx.validate(data)


def file_hashes(sbom: Mapping[str, Any]) -> dict[str, str]:
    """Bundle file -> the sha256 the SBOM gives it, for each component that is one file."""
    found = {}
    for component in _all(sbom):
        properties = {p.get("name"): p.get("value") for p in component.get("properties", ()) if isinstance(p, dict)}
        path = properties.get(FILE)
        digests = [h.get("content") for h in component.get("hashes", ()) if isinstance(h, dict) and h.get("alg") == "SHA-256"]
        if isinstance(path, str):
            found[path] = str(digests[0]) if digests else ""
    return found


def _all(sbom: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    metadata = sbom.get("metadata") or {}
    top = [metadata["component"]] if isinstance(metadata.get("component"), dict) else []
    found: list[Mapping[str, Any]] = []
    todo = top + [c for c in sbom.get("components", ()) if isinstance(c, dict)]
    while todo:
        component = todo.pop()
        found.append(component)
        todo += [c for c in component.get("components", ()) if isinstance(c, dict)]
    return found


def counts(sbom: Mapping[str, Any]) -> dict[str, int]:
    """How many components of each kind (``gopack:kind``) the SBOM lists."""
    kinds: dict[str, int] = {}
    for component in _all(sbom):
        kind = next((p.get("value") for p in component.get("properties", ()) if p.get("name") == KIND), "other")
        kinds[str(kind)] = kinds.get(str(kind), 0) + 1
    return dict(sorted(kinds.items()))


def parse(data: bytes) -> dict[str, Any]:
    """An SBOM's JSON; ValueError when it is not."""
    return dict(json.loads(data.decode("utf-8")))
