"""An OCI image of a bundle, written without a container daemon.

The image layout (a folder: ``oci-layout``, ``index.json``, ``blobs/sha256/...``)
and the same as one tar (with Docker's ``manifest.json`` beside, so that
``docker load`` reads it as ``podman load`` does). Layers, from the bottom:

1. the runtime base (:class:`gopack.platform.base.RuntimeBase`: the loader, glibc,
   gcc's runtime, CA certificates and time zones where the bundle uses them), with
   ``/etc/passwd``, ``/etc/group``, ``/tmp``, the non-root user's home and a record of
   where every file came from (:data:`RECORD`); or, with ``--base``, the layers of
   the user's own image (:mod:`gopack.archive.oci_base`);
2. the Python tree (``python/``): the cached tree's archive segment, compressed once;
3. the application: the Go program, ``app/``, ``gopack.json`` and anything else.

The bundle sits at ``/opt/<name>`` (:func:`bundle_path`), with no version in the
path, so the Python layer of a new release is byte for byte the last one's as long
as its tree is. Every entry has one fixed time (``SOURCE_DATE_EPOCH`` or gopack's),
owner 0 (the user's home: 65532), sorted; gzip members carry no name and no time;
JSON documents are written with sorted keys: the digests are reproducible.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import re
import shutil
import stat
import tarfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gopack import __version__
from gopack._fs import sha256_file
from gopack.archive import write as archive
from gopack.archive.oci_base import Base, Descriptor, platform_of
from gopack.errors import BuildError
from gopack.platform.base import RuntimeBase

MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME = "org.opencontainers.image.ref.name"
#: The non-root user the program runs as (distroless' "nonroot").
NONROOT = 65532
#: The record of the runtime base's files and their sources, in that layer.
RECORD = "usr/share/gopack/runtime-base.json"
#: output.format's name for an image, and its gzip level unless told.
FORMAT = "oci"
DEFAULT_LEVEL = 6
_BLOCK = 4 << 20


def bundle_path(name: str) -> str:
    """Where the bundle sits in the image, without the leading "/"."""
    return f"opt/{name}"


def tag_of(version: str) -> str:
    """``version`` as an image tag (letters, digits, ``_.-``, at most 128, not starting with ``.`` or ``-``).

    >>> tag_of("0.1.0+local"), tag_of("1.0")
    ('0.1.0-local', '1.0')
    """
    return re.sub(r"[^A-Za-z0-9_.-]", "-", version).lstrip(".-")[:128] or "latest"


@dataclass(frozen=True, kw_only=True)
class Layer:
    descriptor: Descriptor
    diff_id: str
    created_by: str


@dataclass(frozen=True, kw_only=True)
class ImageSpec:
    """What the image's config says: the program, where it runs, as whom, its labels."""

    name: str
    version: str
    goarch: str
    program: str  # bundle-relative, e.g. bin/sklearn-demo
    created: int  # seconds since the epoch
    env: tuple[tuple[str, str], ...] = ()

    @property
    def home(self) -> str:
        return "/" + bundle_path(self.name)

    @property
    def created_text(self) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.created))


@dataclass(frozen=True, kw_only=True)
class Image:
    layout: Path
    archive: Path
    #: name:version, the index's ref.name (``oci:LAYOUT:NAME:VERSION`` for skopeo) and Docker's RepoTags.
    tag: str
    manifest: Descriptor
    config: Descriptor
    layers: tuple[Layer, ...]
    #: How many of ``layers`` came from ``--base``.
    base_layers: int = 0

    def report(self) -> dict[str, Any]:
        return {
            "layout": str(self.layout),
            "archive": str(self.archive),
            "tag": self.tag,
            "manifest": self.manifest.digest,
            "config": self.config.digest,
            "layers": [
                {"digest": la.descriptor.digest, "size": la.descriptor.size, "diff_id": la.diff_id, "created_by": la.created_by}
                for la in self.layers
            ],
            "base_layers": self.base_layers,
        }


def write_image(
    root: Path,
    dest: Path,
    *,
    spec: ImageSpec,
    python: frozenset[str],
    links: Mapping[str, str],
    level: int,
    segment: archive.Segment | None,
    runtime: RuntimeBase | None = None,
    base: Base | None = None,
) -> Image:
    """The image of the bundle staged at ``root`` as a layout at ``dest`` and a tar at
    ``dest`` + ``.tar``, each written under a temporary name and renamed into place.
    ``python``: the paths of the Python tree's layer (the rest is the application's);
    ``segment``: those paths' tar entries, compressed once."""
    top = bundle_path(spec.name)
    tar_dest = dest.with_name(dest.name + ".tar")
    dest.parent.mkdir(parents=True, exist_ok=True)
    archive.remove_abandoned(dest)
    archive.remove_abandoned(tar_dest)
    archive.remove_abandoned(dest.with_name(dest.name + "-old"))
    work = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    shutil.rmtree(work, ignore_errors=True)
    (work / "blobs" / "sha256").mkdir(parents=True)
    held = os.open(work, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(held, fcntl.LOCK_EX)  # until it is renamed: a later run's remove_abandoned leaves it alone
        layers = list(_copy_base(base, work)) if base is not None else []
        if runtime is not None:
            entries = runtime_entries(runtime)
            files = sum(1 for e in entries if e.kind == "file")
            layers.append(
                _layer(work, lambda p: archive.write_entries(p, entries, level=level), f"gopack {__version__}: runtime base, {files} files")
            )
        rest = _with_folders([rel for rel in archive.walk(root) if rel.as_posix() not in python], python)
        tree = [] if segment is not None else [rel for rel in archive.walk(root) if rel.as_posix() in python]
        layers.append(
            _layer(
                work,
                lambda p: archive.write_layer(root, top, p, entries=tree, level=level, links=links, segment=segment),
                f"gopack {__version__}: the Python tree, /{top}/python",
            )
        )
        layers.append(
            _layer(
                work,
                lambda p: archive.write_layer(root, top, p, entries=rest, level=level, links=links),
                f"gopack {__version__}: the application, /{top}/{spec.program}",
            )
        )
        config = _blob(work, config_document(spec, layers, base=base), MEDIA_CONFIG)
        manifest_doc: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": MEDIA_MANIFEST,
            "config": config.to_json(),
            "layers": [la.descriptor.to_json() for la in layers],
            "annotations": manifest_annotations(spec, base),
        }
        manifest = _blob(work, manifest_doc, MEDIA_MANIFEST)
        tag = f"{docker_name(spec.name)}:{tag_of(spec.version)}"
        index = {
            "schemaVersion": 2,
            "mediaType": MEDIA_INDEX,
            "manifests": [{**manifest.to_json(), "platform": platform_of(spec.goarch), "annotations": {REF_NAME: tag}}],
        }
        _json(work / "index.json", index)
        _json(work / "oci-layout", {"imageLayoutVersion": "1.0.0"})
        docker = [
            {
                "Config": f"blobs/sha256/{config.hex}",
                "RepoTags": [tag],
                "Layers": [f"blobs/sha256/{la.descriptor.hex}" for la in layers],
            }
        ]
        _write_tar(work, tar_dest, docker)
        _replace_folder(work, dest)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    finally:
        os.close(held)
    return Image(
        layout=dest,
        archive=tar_dest,
        tag=tag,
        manifest=manifest,
        config=config,
        layers=tuple(layers),
        base_layers=len(base.layers) if base is not None else 0,
    )


def docker_name(name: str) -> str:
    """``name`` as a repository name Docker takes (lower case, ``[a-z0-9._-]``).

    >>> docker_name("SkLearn Demo")
    'sklearn-demo'
    """
    return re.sub(r"[^a-z0-9._-]", "-", name.lower()).strip(".-_") or "gopack"


def config_document(spec: ImageSpec, layers: Sequence[Layer], *, base: Base | None) -> dict[str, Any]:
    """The image config: platform, program, user, labels, the layers' diff_ids and history.
    On a base, its settings stay (environment, ports, volumes, ...) but for the program,
    the user, the working folder and PATH, which the bundle's ``bin/`` leads."""
    inherited: dict[str, Any] = dict(base.config.get("config") or {}) if base is not None else {}
    inherited.pop("Cmd", None)
    env = dict(_split_env(inherited.get("Env") or []))
    path = env.get("PATH", "/usr/local/bin:/usr/bin:/bin")
    env["PATH"] = f"{spec.home}/bin:{path}"
    env.update(spec.env)
    labels = {
        **(inherited.get("Labels") or {}),
        "org.opencontainers.image.title": spec.name,
        "org.opencontainers.image.version": spec.version,
        "org.opencontainers.image.created": spec.created_text,
    }
    ours = layers[len(base.layers) :] if base is not None else layers
    history = base.history() if base is not None else []
    history += [{"created": spec.created_text, "created_by": la.created_by} for la in ours]
    return {
        "created": spec.created_text,
        **platform_of(spec.goarch),
        "config": {
            **inherited,
            "User": f"{NONROOT}:{NONROOT}",
            "Env": [f"{k}={v}" for k, v in env.items()],
            "Entrypoint": [f"{spec.home}/{spec.program}"],
            "WorkingDir": spec.home,
            "Labels": labels,
        },
        "rootfs": {"type": "layers", "diff_ids": [la.diff_id for la in layers]},
        "history": history,
    }


def manifest_annotations(spec: ImageSpec, base: Base | None) -> dict[str, str]:
    found = {
        "org.opencontainers.image.title": spec.name,
        "org.opencontainers.image.version": spec.version,
        "org.opencontainers.image.created": spec.created_text,
    }
    if base is not None:
        found["org.opencontainers.image.base.digest"] = base.manifest.digest
        if base.name:
            found["org.opencontainers.image.base.name"] = base.name
    return found


def runtime_entries(runtime: RuntimeBase) -> list[archive.LayerEntry]:
    """The runtime base layer's entries: its files, the folders that hold them, the
    non-root user (passwd, group, home), /tmp and the record of sources."""
    entries = [
        archive.LayerEntry(path=f.path, kind="symlink", mode=0o777, link=f.link)
        if f.link is not None
        else archive.LayerEntry(path=f.path, kind="file", mode=archive.normal_mode(f.source.stat().st_mode), source=f.source)
        for f in runtime.files
    ]
    record = {"schema_version": 1, "gopack_version": __version__, **runtime.record}
    entries += [
        archive.LayerEntry(path="etc/passwd", kind="file", mode=0o644, data=_PASSWD.encode()),
        archive.LayerEntry(path="etc/group", kind="file", mode=0o644, data=_GROUP.encode()),
        archive.LayerEntry(path="tmp", kind="dir", mode=0o1777),
        archive.LayerEntry(path="home/nonroot", kind="dir", mode=0o700, owner=NONROOT),
        archive.LayerEntry(path=RECORD, kind="file", mode=0o644, data=(json.dumps(record, indent=1, sort_keys=True) + "\n").encode()),
    ]
    named = {e.path for e in entries}
    folders = {str(p) for e in entries for p in Path(e.path).parents if str(p) != "."} - named
    return entries + [archive.LayerEntry(path=f, kind="dir") for f in sorted(folders)]


_PASSWD = f"root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:{NONROOT}:{NONROOT}:nonroot:/home/nonroot:/sbin/nologin\n"
_GROUP = f"root:x:0:\nnonroot:x:{NONROOT}:\n"


def _split_env(env: Sequence[str]) -> list[tuple[str, str]]:
    return [(k, v) for k, _, v in (str(item).partition("=") for item in env)]


def _with_folders(rels: list[Path], elsewhere: frozenset[str]) -> list[Path]:
    """``rels`` with the folders that hold them and are in another layer (``elsewhere``), sorted as the walk is."""
    folders = {p for rel in rels for p in rel.parents if p != Path() and p.as_posix() in elsewhere}
    return sorted({*rels, *folders}, key=lambda p: p.as_posix())


def _layer(work: Path, write: Callable[[Path], None], created_by: str) -> Layer:
    """A layer written by ``write`` into the layout at ``work``, named by its digest."""
    part = work / "blobs" / "sha256" / ".layer.tmp"
    write(part)
    digest = sha256_file(part)
    descriptor = Descriptor(media_type=MEDIA_LAYER, digest=f"sha256:{digest}", size=part.stat().st_size)
    diff_id = f"sha256:{archive.gunzip_sha256(part)}"
    os.replace(part, work / "blobs" / "sha256" / digest)
    return Layer(descriptor=descriptor, diff_id=diff_id, created_by=created_by)


def _copy_base(base: Base, work: Path) -> list[Layer]:
    """The base's layers in the new layout: hard links where the file system allows, else
    copies; each checked against its digest as it is read (a stranger's bytes)."""
    layers = []
    for layer in base.layers:
        dest = work / "blobs" / "sha256" / layer.descriptor.hex
        part = dest.with_name(".base.tmp")
        try:
            os.link(layer.source, part)
        except OSError:
            shutil.copyfile(layer.source, part)
        if sha256_file(part) != layer.descriptor.hex or part.stat().st_size != layer.descriptor.size:
            raise BuildError(
                f"the base image's layer {layer.descriptor.digest} does not match its digest or size", hint="copy the base again"
            )
        os.replace(part, dest)
        layers.append(Layer(descriptor=layer.descriptor, diff_id=layer.diff_id, created_by=layer.created_by))
    return layers


def _canonical(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def _blob(work: Path, document: Mapping[str, Any], media_type: str) -> Descriptor:
    data = _canonical(document)
    digest = hashlib.sha256(data).hexdigest()
    (work / "blobs" / "sha256" / digest).write_bytes(data)
    return Descriptor(media_type=media_type, digest=f"sha256:{digest}", size=len(data))


def _json(path: Path, document: Mapping[str, Any]) -> None:
    path.write_bytes(_canonical(document))


def _write_tar(work: Path, dest: Path, docker: list[dict[str, Any]]) -> None:
    """The layout as one uncompressed tar (sorted, fixed time, owner 0) with Docker's manifest.json."""
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    mtime = archive.epoch()
    manifest = json.dumps(docker, sort_keys=True, separators=(",", ":")).encode()
    try:
        with tmp.open("wb") as raw, tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
            fcntl.flock(raw.fileno(), fcntl.LOCK_EX)  # held while it is written: see remove_abandoned
            items = [(rel.as_posix(), work / rel) for rel in archive.walk(work)]
            for name, full in sorted([*items, ("manifest.json", None)], key=lambda i: i[0]):
                info = tarfile.TarInfo(name)
                info.mtime, info.uid, info.gid, info.uname, info.gname = mtime, 0, 0, "", ""
                if full is None:
                    info.size, info.mode = len(manifest), 0o644
                    tar.addfile(info, io.BytesIO(manifest))
                elif stat.S_ISDIR(full.lstat().st_mode):
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
                else:
                    info.size, info.mode = full.stat().st_size, 0o644
                    with full.open("rb") as f:
                        tar.addfile(info, f)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _replace_folder(work: Path, dest: Path) -> None:
    """``work`` renamed to ``dest``; a folder already there is moved aside first, then removed."""
    old = dest.with_name(f".{dest.name}-old.{os.getpid()}.tmp")  # see write_image's remove_abandoned
    if dest.exists() or dest.is_symlink():
        if not dest.is_dir() or dest.is_symlink():
            raise BuildError(
                f"{dest} is in the way of the image layout and is not a folder", hint="remove it, or choose another --output-dir"
            )
        os.replace(dest, old)
    os.replace(work, dest)
    shutil.rmtree(old, ignore_errors=True)
