"""What is inside a bundle: components and their sizes, for the manifest and ``gopack inspect``.

Each file belongs to one component: the Go binary, the interpreter, libpython,
vendored libraries, the stdlib, one site-packages distribution (by its RECORD),
or the app. Sizes are bytes on disk before compression.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from functools import cache
from importlib import metadata, resources
from pathlib import Path, PurePosixPath
from typing import Any

import jsonschema

from gopack.archive import exe, folder, manifest, unpack
from gopack.archive import write as archive
from gopack.errors import UsageError
from gopack.platform import platforms

INSPECT_SCHEMA_VERSION = 1


def distribution_files(site_packages: Path, root: Path) -> dict[str, str]:
    """Bundle-relative path -> the distribution whose RECORD lists it."""
    owner = {}
    base = os.path.relpath(site_packages, root)
    for dist in metadata.distributions(path=[str(site_packages)]):
        name = dist.metadata["Name"]
        for file in dist.files or ():
            # RECORD paths are relative to site-packages ("../../bin/x" for scripts); no link
            # inside the tree leads out of it, so a normalised path is the real one.
            rel = os.path.normpath(os.path.join(base, file))
            if not rel.startswith("../") and rel != "..":
                owner[Path(rel).as_posix()] = name
    return owner


def _field(meta: metadata.PackageMetadata, name: str) -> str | None:
    """A metadata field's first value, or None (``PackageMetadata`` declares no ``get``)."""
    values = meta.get_all(name)
    return str(values[0]) if values else None


def licence(dist: metadata.Distribution) -> str:
    """The licence a distribution declares: License-Expression, License, or its classifiers."""
    meta = dist.metadata
    expression = _field(meta, "License-Expression")
    if expression:
        return str(expression)
    classifiers = [c.rsplit(" :: ", 1)[-1] for c in meta.get_all("Classifier") or () if c.startswith("License ::")]
    text = (_field(meta, "License") or "").strip()
    if text and "\n" not in text and len(text) < 80:
        return text
    return ", ".join(classifiers) or ("see its licence file" if text else "UNKNOWN")


def components(
    files: Iterable[Mapping[str, Any]], *, binary: str, stdlib: str, vendored: Iterable[str], owners: Mapping[str, str]
) -> dict[str, int]:
    vendored = set(vendored)
    sizes: dict[str, int] = {}
    for entry in files:
        path = entry["path"]
        parts = PurePosixPath(path).parts
        if path == binary:
            kind = "go binary"
        elif path.startswith("python/bin/"):
            kind = "interpreter"
        elif len(parts) == 3 and parts[:2] == ("python", "lib") and parts[2] in vendored:
            kind = "vendored libraries"
        elif len(parts) == 3 and parts[:2] == ("python", "lib") and parts[2].startswith("libpython"):
            kind = "libpython"
        elif len(parts) == 3 and parts[:2] == ("python", "lib") and ".so" in parts[2]:
            kind = "environment libraries"  # a conda environment's own libssl, libz, ...
        elif path in owners or _source_of(path) in owners:
            kind = f"site-packages/{owners.get(path) or owners[_source_of(path)]}"
        elif path.startswith(f"{stdlib}/site-packages/"):
            kind = "site-packages/(unowned)"
        elif path.startswith(f"{stdlib}/"):
            kind = "stdlib"
        elif path.startswith("app/"):
            kind = "app"
        else:
            kind = "other"
        sizes[kind] = sizes.get(kind, 0) + int(entry.get("size", 0))
    return dict(sorted(sizes.items(), key=lambda kv: -kv[1]))


def _source_of(path: str) -> str:
    """The source a compiled file was made from (compiled files are not in RECORD).

    >>> _source_of("pkg/__pycache__/mod.cpython-37.pyc"), _source_of("pkg/mod.pyc")
    ('pkg/mod.py', 'pkg/mod.py')
    """
    parent, _, name = path.rpartition("/__pycache__/")
    if parent:
        return f"{parent}/{name.split('.', 1)[0]}.py"
    return path[:-1] if path.endswith(".pyc") else path  # bytecode only: mod.pyc where mod.py was


def load(target: Path) -> tuple[dict[str, Any], int | None, dict[str, str]]:
    """The manifest of an archive, an executable or an extracted bundle directory, the file's size, and
    the machine of each ELF file (by path), as its own header says."""
    if target.is_dir():
        return _load_folder(target)
    if not target.is_file():
        raise UsageError(f"{target}: no such archive or directory")
    listing = unpack.scan(target)
    return listing.manifest, target.stat().st_size, dict(listing.machines)


@contextlib.contextmanager
def _bundle_folder(target: Path) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """The bundle in ``target`` or in one folder inside it, opened: its folder's descriptor, its
    name for messages, and its manifest. Nothing outside it is opened, no link followed, only
    regular files read (see :mod:`gopack.archive.folder`)."""
    try:
        fd = os.open(target, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise UsageError(f"{target}: cannot read: {exc.strerror}") from None
    try:
        for sub in ["", *folder.bundle_folders(fd)]:
            root_fd = fd if not sub else os.open(sub, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            try:
                where = str(target / sub) if sub else str(target)
                data = folder.read_inside(root_fd, archive.MANIFEST, manifest.MAX_BYTES + 1, where)
                if data is not None:
                    yield root_fd, where, manifest.parse(data, where)
                    return
            finally:
                if root_fd != fd:
                    os.close(root_fd)
    finally:
        os.close(fd)
    raise UsageError(
        f"{target}: holds no {archive.MANIFEST}; it is not a gopack bundle", hint="pass an archive or the directory it was extracted to"
    )


def _load_folder(target: Path) -> tuple[dict[str, Any], None, dict[str, str]]:
    with _bundle_folder(target) as (root_fd, where, document):
        return document, None, _machines(root_fd, document, where)


def bundled_file(target: Path, name: str, *, max_bytes: int) -> bytes | None:
    """The bytes of the file ``name`` (bundle-relative) that the manifest of an archive, or of an
    extracted bundle directory, lists; None when it lists no such file. An archive is read through
    every check of :func:`gopack.archive.unpack.scan` (the bytes match the manifest's sha256); a
    directory through :mod:`gopack.archive.folder`, inside the bundle only."""
    if target.is_dir():
        with _bundle_folder(target) as (root_fd, where, document):
            if not any(f["path"] == name and "sha256" in f for f in document["files"]):
                return None
            data = folder.read_inside(root_fd, name, max_bytes + 1, f"{where}: {manifest.NAME}: files")
        if data is not None and len(data) > max_bytes:
            raise UsageError(f"{where}/{name}: more than the {max_bytes} bytes it may have")
        return data
    if not target.is_file():
        raise UsageError(f"{target}: no such archive or directory")
    return unpack.scan(target, keep={name: max_bytes}).kept.get(name)


def executable(target: Path) -> dict[str, Any] | None:
    """What an executable holds besides its bundle (inspect's ``executable``); None for anything else."""
    if not target.is_file():
        return None
    with target.open("rb") as f:
        trailer = exe.read_trailer(f, str(target))
    if trailer is None:
        return None
    return {"launcher_size": trailer.offset, "payload_size": trailer.size, "program": f"{trailer.top}/{trailer.program}"}


def _machines(root_fd: int, document: dict[str, Any], where: str) -> dict[str, str]:
    """The machine of each regular file the manifest lists that is ELF, read from the file."""
    found = {}
    for entry in document.get("files", []):
        if "link" in entry:
            continue
        head = folder.read_inside(root_fd, entry["path"], 64, f"{where}: {manifest.NAME}: files")
        machine = platforms.machine_of(head) if head is not None else None
        if machine is not None:
            found[entry["path"]] = machine
    return found


def report(target: Path) -> dict[str, Any]:
    """The versioned document ``gopack inspect --json`` prints."""
    manifest, archive_size, machines = load(target)
    files = manifest.get("files", [])
    document = {
        "schema_version": INSPECT_SCHEMA_VERSION,
        "source": str(target),
        "archive_size": archive_size,
        "name": manifest["name"],
        "version": manifest["version"],
        "gopack_version": manifest["gopack_version"],
        "python": manifest["python"],
        "binding": manifest["binding"],
        "go": {k: manifest["go"][k] for k in ("version", "goarch", "binary", "symbol_versions", "linked_for") if k in manifest["go"]},
        "cgo_headers": manifest.get("cgo_headers", []),
        "platform": manifest["platform"],
        "elf": {"files": len(machines), "machines": dict(sorted(Counter(machines.values()).items()))},
        "glibc": manifest["glibc"],
        "host_libraries": manifest["host_libraries"],
        "packages": manifest["packages"],
        "vendored": [{k: v[k] for k in ("name", "soname", "source", "needed_by")} for v in manifest["vendored"]],
        "size": {"files": len(files), "total": sum(int(f.get("size", 0)) for f in files), "components": manifest["components"]},
        "savings": {
            "pruned": {
                "files": sum(r["files"] for r in manifest["pruned"]),
                "bytes": sum(r["bytes"] for r in manifest["pruned"]),
                "rules": manifest["pruned"],
            },
            "stripped": manifest["stripped"],
            "deduplicated": manifest["deduplicated"],
        },
    }
    one_file = executable(target)
    if one_file is not None:
        document["executable"] = one_file
    for optional in ("sources", "unresolved", "unpruned", "left_out"):  # manifests of older gopack versions lack them
        if optional in manifest:
            document[optional] = manifest[optional]
    _validator().validate(document)
    return document


@cache
def _validator() -> jsonschema.Draft202012Validator:
    """Made once: ``jsonschema.validate`` checks the schema itself on every call (0.1 s)."""
    return jsonschema.Draft202012Validator(schema())


def schema() -> dict[str, Any]:
    text = resources.files("gopack").joinpath("schemas/inspect.schema.json").read_text("utf-8")
    return dict(json.loads(text))
