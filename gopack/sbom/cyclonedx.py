"""The SBOM written with cyclonedx-python-lib (what :mod:`gopack.sbom` says it holds);
imported only when an SBOM is written or validated."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from functools import cache
from pathlib import PurePosixPath
from typing import Any

from cyclonedx.contrib.license.factories import LicenseFactory
from cyclonedx.model import HashAlgorithm, HashType, Property
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.license import DisjunctiveLicense, LicenseExpression
from cyclonedx.output.json import JsonV1Dot6
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL
from packaging.utils import canonicalize_name

from gopack import __version__
from gopack.go.buildinfo import Module
from gopack.platform.base import Origin
from gopack.python.conda import Record
from gopack.sbom.model import FILE, KIND, Sources

#: Its serial number is uuid5 of this namespace and the document's sha256.
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://gopack.dev/sbom")
_NO_LICENCE = frozenset({"", "UNKNOWN", "see its licence file"})


def document(manifest: Mapping[str, Any], files: Sequence[Mapping[str, Any]], sources: Sources, *, epoch: int) -> bytes:
    """The SBOM of a bundle whose manifest (without its file list) is ``manifest`` and whose
    files (each with its sha256) are ``files``."""
    sha = {str(f["path"]): str(f["sha256"]) for f in files if "sha256" in f}
    app = Component(
        type=ComponentType.APPLICATION,
        name=manifest["name"],
        version=manifest["version"],
        bom_ref="application",
        purl=PackageURL(type="generic", name=manifest["name"], version=manifest["version"]),
        properties=_properties({KIND: "application"}),
    )
    bom = Bom(
        metadata=BomMetaData(
            component=app,
            timestamp=datetime.fromtimestamp(epoch, tz=timezone.utc),
            properties=_properties(_target(manifest, sources)),
        )
    )
    bom.metadata.tools.components.add(Component(type=ComponentType.APPLICATION, name="gopack", version=__version__, bom_ref="tool:gopack"))

    binary = manifest["go"]["binary"]
    program = _go_module(sources.build_info.main, main=True, file=binary, sha256=sha.get(binary))
    stdlib = _go_stdlib(sources.build_info.go_version)
    modules = [_go_module(m) for m in sources.build_info.deps]
    conda: dict[str, Record] = {canonicalize_name(r.name): r for r in sources.conda}
    python = _cpython(manifest["python"], conda.get("python"))
    distributions: dict[str, Component] = {
        canonicalize_name(p["name"]): _distribution(p, conda.get(canonicalize_name(p["name"])))
        for p in manifest["packages"]
        if not (conda and canonicalize_name(p["name"]) == "python")
    }
    native = {v["name"]: _native(v, _bundled(v["name"], sha), sha, sources.origins.get(v["source"])) for v in manifest["vendored"]}
    for component in [program, stdlib, *modules, python, *distributions.values(), *native.values()]:
        bom.components.add(component)

    # Who needs what: the manifest records, for each vendored library, the files (or the other
    # vendored libraries, by soname) that need it.
    needs: dict[Component, set[Component]] = {c: set() for c in [app, program, python, *distributions.values(), *native.values()]}
    needs[app] |= {program, python, *distributions.values()}
    needs[program] |= {stdlib, *modules}
    by_soname: dict[str, list[Component]] = {}
    for vendored in manifest["vendored"]:
        by_soname.setdefault(vendored["soname"], []).append(native[vendored["name"]])
    for vendored in manifest["vendored"]:
        for user in vendored["needed_by"]:
            for needer in _needers(
                user, binary=binary, program=program, by_soname=by_soname, owners=sources.owners, dists=distributions, python=python
            ):
                if needer is not native[vendored["name"]]:
                    needs[needer].add(native[vendored["name"]])
    for component, wanted in needs.items():
        bom.register_dependency(component, sorted(wanted, key=lambda c: str(c.bom_ref)))
    for component in [stdlib, *modules]:
        bom.register_dependency(component, [])

    bom.serial_number = uuid.UUID(int=0)
    draft = JsonV1Dot6(bom).output_as_string(indent=1)
    serial = uuid.uuid5(_NAMESPACE, hashlib.sha256(draft.encode()).hexdigest())
    # The serial number into the draft's text: what writing the document again would give (half
    # of this function's time), as the zero serial number is the one place it says that.
    zero = f'"urn:uuid:{uuid.UUID(int=0)}"'
    if draft.count(zero) == 1:
        return (draft.replace(zero, f'"urn:uuid:{serial}"') + "\n").encode()
    bom.serial_number = serial
    return (JsonV1Dot6(bom).output_as_string(indent=1) + "\n").encode()


def _target(manifest: Mapping[str, Any], sources: Sources) -> dict[str, str]:
    go = manifest["go"]
    return {
        "gopack:platform": manifest["platform"],
        "gopack:glibc.floor": manifest["glibc"]["floor"] or "",
        "gopack:target.goos": go["goos"],
        "gopack:target.goarch": go["goarch"],
        "gopack:target.sysroot": str(sources.sysroot or ""),
        "gopack:target.linked_for": go.get("linked_for") or "",
        "gopack:python.tag": manifest["python"]["tag"],
        "gopack:python.abi": manifest["python"]["abi"],
        "gopack:installer": manifest["installer"],
    }


def _properties(values: Mapping[str, str]) -> list[Property]:
    return [Property(name=k, value=v) for k, v in values.items() if v]


def _hashes(sha256: str | None) -> list[HashType]:
    return [HashType(alg=HashAlgorithm.SHA_256, content=sha256)] if sha256 else []


def _go_module(module: Module, *, main: bool = False, file: str | None = None, sha256: str | None = None) -> Component:
    built = module.replaced_by or module
    versioned = built.version not in ("", "(devel)") and not built.path.startswith((".", "/"))
    properties = {KIND: "go main module" if main else "go module", "gopack:go.sum": built.sum}
    if module.replaced_by is not None:
        properties["gopack:go.replaces"] = f"{module.path} {module.version}".strip()
    if file is not None:
        properties[FILE] = file
    return Component(
        type=ComponentType.APPLICATION if main else ComponentType.LIBRARY,
        name=built.path,
        version=built.version or None,
        bom_ref=f"golang:{built.path}@{built.version}",
        purl=_golang(built.path, built.version if versioned else None) if not built.path.startswith((".", "/")) else None,
        hashes=_hashes(sha256),
        properties=_properties(properties),
    )


def _golang(path: str, version: str | None) -> PackageURL:
    """``pkg:golang/github.com/DataDog/go-python3@v0.0.0-...``: the last element is the name."""
    namespace, _, name = path.rpartition("/")
    return PackageURL(type="golang", namespace=namespace or None, name=name, version=version)


def _go_stdlib(go_version: str) -> Component:
    version = go_version.removeprefix("go")
    return Component(
        type=ComponentType.LIBRARY,
        name="stdlib",
        version=version,
        description=f"the Go toolchain {go_version} and the standard library it compiled into the program",
        bom_ref=f"golang:stdlib@{version}",
        purl=PackageURL(type="golang", name="stdlib", version=version),
        properties=_properties({KIND: "go toolchain"}),
    )


def _cpython(python: Mapping[str, Any], conda: Record | None) -> Component:
    properties = {KIND: "cpython", "gopack:libpython": python["libpython"], "gopack:executable": python["executable"]}
    if conda is not None:
        return Component(
            type=ComponentType.LIBRARY,
            name="python",
            version=conda.version,
            description="CPython, from the conda environment",
            bom_ref="cpython",
            purl=_conda_purl(conda),
            hashes=_hashes(conda.sha256),
            licenses=_licences(conda.license),
            properties=_properties(properties),
        )
    return Component(
        type=ComponentType.LIBRARY,
        name="cpython",
        version=python["version"],
        description="CPython: the interpreter, libpython and the standard library",
        bom_ref="cpython",
        purl=PackageURL(type="generic", name="cpython", version=python["version"]),
        licenses=_licences("PSF-2.0"),
        properties=_properties(properties),
    )


def _conda_purl(record: Record) -> PackageURL:
    qualifiers = {k: v for k, v in (("build", record.build), ("channel", record.channel), ("subdir", record.subdir)) if v}
    return PackageURL(type="conda", name=record.name, version=record.version, qualifiers=qualifiers or None)


def _distribution(package: Mapping[str, Any], conda: Record | None) -> Component:
    name = canonicalize_name(package["name"])
    purl = _conda_purl(conda) if conda is not None else PackageURL(type="pypi", name=name, version=package["version"])
    return Component(
        type=ComponentType.LIBRARY,
        name=package["name"],
        version=package["version"],
        bom_ref=purl.to_string(),
        purl=purl,
        hashes=_hashes(conda.sha256 if conda is not None else None),
        licenses=_licences(package["license"]),
        properties=_properties({KIND: "conda package" if conda is not None else "python distribution"}),
    )


def _licences(text: str) -> list[LicenseExpression | DisjunctiveLicense]:
    """An SPDX id or expression where the text is one, else the licence by the name the metadata gives."""
    return [] if text.strip() in _NO_LICENCE else [_licence_factory().make_from_string(text.strip())]


@cache
def _licence_factory() -> LicenseFactory:
    return LicenseFactory()


def _bundled(name: str, sha: Mapping[str, str]) -> str:
    """Where a vendored library (by its file name) sits in the bundle: ``python/lib/<name>``, or
    the first file of that name elsewhere."""
    if f"python/lib/{name}" in sha:
        return f"python/lib/{name}"
    return next((p for p in sorted(sha) if PurePosixPath(p).name == name), f"python/lib/{name}")


def _native(vendored: Mapping[str, Any], path: str, sha: Mapping[str, str], origin: Origin | None) -> Component:
    properties = {
        KIND: "native library",
        FILE: path,
        "gopack:soname": vendored["soname"],
        "gopack:source": vendored["source"],
        "gopack:source.sha256": vendored["sha256"],
    }
    purl = None
    if origin is not None:
        qualifiers = {"arch": origin.arch, **({"distro": origin.distro} if origin.distro else {})}
        purl = PackageURL(type=origin.manager, namespace=origin.namespace, name=origin.name, version=origin.version, qualifiers=qualifiers)
        properties["gopack:package"] = f"{origin.name} {origin.version} ({origin.namespace})"
    return Component(
        type=ComponentType.LIBRARY,
        name=vendored["soname"],
        version=origin.version if origin is not None else None,
        description=f"copied from {vendored['source']}" + (f", of the {origin.namespace} package {origin.name}" if origin else ""),
        bom_ref=f"native:{path}",
        purl=purl,
        hashes=_hashes(sha.get(path)),
        properties=_properties(properties),
    )


def _needers(
    user: str,
    *,
    binary: str,
    program: Component,
    by_soname: Mapping[str, list[Component]],
    owners: Mapping[str, str],
    dists: Mapping[str, Component],
    python: Component,
) -> Iterable[Component]:
    """The components a file of ``needed_by`` belongs to: the Go program, another vendored library
    (by soname), the distribution that installed it, or CPython (the rest of python/)."""
    if user == binary:
        return [program]
    if "/" not in user:
        return by_soname.get(user, [])
    owner = owners.get(user)
    if owner is not None and canonicalize_name(owner) in dists:
        return [dists[canonicalize_name(owner)]]
    if user.startswith("python/"):
        return [python]
    return []


def validate(data: bytes) -> str | None:
    """Why ``data`` is not a CycloneDX 1.6 JSON document, or None when it is."""
    problem = _validator().validate_str(data.decode("utf-8", "replace"))
    return None if problem is None else str(problem)


@cache
def _validator() -> JsonStrictValidator:
    return JsonStrictValidator(SchemaVersion.V1_6)
