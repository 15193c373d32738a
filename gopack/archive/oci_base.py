"""A user's own base image (``--base``): an OCI image layout read as a stranger's bytes.

The layout's ``index.json`` (nested indexes followed, at most :data:`MAX_DEPTH`
deep) names the manifest for the bundle's platform; that manifest and its config
are read, each checked against its digest; the layers are not read here, only
found (a regular file of the size the manifest says; their digests are checked as
they are copied into the new image). Every JSON document is capped at
:data:`MAX_JSON` bytes and the layers at :data:`MAX_LAYERS`, before they are read.
"""

from __future__ import annotations

import hashlib
import json
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gopack.errors import UsageError

MAX_JSON = 4 << 20
MAX_LAYERS = 256
MAX_DEPTH = 4
_DIGEST = re.compile(r"sha256:([0-9a-f]{64})")
_INDEXES = ("application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json")
_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
#: Layer media types a base may have, and the OCI name each has in our manifest (the bytes are the same).
LAYER_TYPES = {
    "application/vnd.oci.image.layer.v1.tar": "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar.gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
}
_HINT = "give an OCI image layout, e.g. made by `skopeo copy docker://debian:12-slim oci:DIR:12-slim`"


@dataclass(frozen=True, kw_only=True)
class Descriptor:
    media_type: str
    digest: str  # sha256:<hex>
    size: int

    @property
    def hex(self) -> str:
        return self.digest.partition(":")[2]

    def to_json(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


@dataclass(frozen=True, kw_only=True)
class BaseLayer:
    descriptor: Descriptor
    diff_id: str
    source: Path
    created_by: str


@dataclass(frozen=True, kw_only=True)
class Base:
    path: Path
    #: The tag it was chosen by, if any ("DIR:TAG", or the index's ref.name).
    name: str | None
    manifest: Descriptor
    layers: tuple[BaseLayer, ...]
    config: dict[str, Any]

    def history(self) -> list[dict[str, Any]]:
        """The base config's history, or one entry per layer when it has none that fits."""
        found = [h for h in self.config.get("history") or [] if isinstance(h, dict)]
        if sum(1 for h in found if not h.get("empty_layer")) == len(self.layers):
            return found
        return [{"created_by": layer.created_by} for layer in self.layers]


def platform_of(goarch: str) -> dict[str, str]:
    """The OCI platform of a bundle for GOARCH (arm64 is v8).

    >>> platform_of("arm64")
    {'architecture': 'arm64', 'os': 'linux', 'variant': 'v8'}
    """
    return {"architecture": goarch, "os": "linux", **({"variant": "v8"} if goarch == "arm64" else {})}


def split(value: str) -> tuple[Path, str | None]:
    """``DIR`` or ``DIR:TAG`` (as skopeo's ``oci:`` names one; the tag may hold ``:``,
    ``name:1.0``) -> the folder and the tag: the first folder that exists before a ``:``."""
    path = Path(value)
    if path.exists() or ":" not in value:
        return path, None
    at = [i for i, c in enumerate(value) if c == ":"]
    folder = next((i for i in at if Path(value[:i]).is_dir()), at[0])
    return Path(value[:folder]), value[folder + 1 :]


def read(value: str, *, goarch: str) -> Base:
    """The base image at ``value`` (``DIR`` or ``DIR:TAG``) for GOARCH's platform, checked."""
    path, tag = split(value)
    where = f"--base {value}"
    if not (path / "oci-layout").is_file() or not (path / "index.json").is_file():
        raise UsageError(f"{where}: not an OCI image layout (no oci-layout or index.json in {path})", hint=_HINT)
    layout = _load(path / "index.json", where)
    if not isinstance(layout, dict) or layout.get("schemaVersion") != 2:
        raise UsageError(f"{where}: index.json is not an OCI image index (schemaVersion 2)", hint=_HINT)
    want = platform_of(goarch)
    manifest_desc, name = _choose(path, layout, tag=tag, want=want, where=where, depth=0)
    manifest = _json_blob(path, manifest_desc, where)
    if manifest.get("mediaType", _MANIFEST) != _MANIFEST or not isinstance(manifest.get("config"), dict):
        raise UsageError(f"{where}: {manifest_desc.digest} is not an OCI image manifest", hint=_HINT)
    config_desc = _descriptor(manifest["config"], where)
    config = _json_blob(path, config_desc, where)
    arch, os_name = config.get("architecture"), config.get("os")
    if (arch, os_name) != (want["architecture"], want["os"]):
        raise UsageError(
            f"{where}: the base image is for {os_name}/{arch}, the bundle for linux/{goarch}",
            hint="use a base image of the bundle's platform (skopeo copy --override-arch ...)",
        )
    descriptors = manifest.get("layers") or []
    diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
    if not isinstance(descriptors, list) or len(descriptors) > MAX_LAYERS:
        raise UsageError(f"{where}: the base image has more than {MAX_LAYERS} layers, or no list of them")
    if not isinstance(diff_ids, list) or len(diff_ids) != len(descriptors):
        raise UsageError(f"{where}: the base image's config names {len(diff_ids)} diff_ids for {len(descriptors)} layers")
    layers = []
    for i, (raw, diff_id) in enumerate(zip(descriptors, diff_ids)):
        desc = _descriptor(raw, where)
        if desc.media_type not in LAYER_TYPES:
            raise UsageError(f"{where}: layer {i} has the media type {desc.media_type[:80]!r}, which gopack does not copy")
        if not isinstance(diff_id, str) or not _DIGEST.fullmatch(diff_id):
            raise UsageError(f"{where}: layer {i}'s diff_id is not a sha256 digest")
        source = _blob_file(path, desc, where)
        desc = Descriptor(media_type=LAYER_TYPES[desc.media_type], digest=desc.digest, size=desc.size)
        layers.append(BaseLayer(descriptor=desc, diff_id=diff_id, source=source, created_by=f"base layer {i} of {name or path.name}"))
    return Base(path=path, name=name, manifest=manifest_desc, layers=tuple(layers), config=config)


def _choose(
    path: Path, index: dict[str, Any], *, tag: str | None, want: dict[str, str], where: str, depth: int
) -> tuple[Descriptor, str | None]:
    """The manifest of ``index`` for ``want``'s platform (and ``tag``, at the top)."""
    entries = index.get("manifests")
    if not isinstance(entries, list) or not entries:
        raise UsageError(f"{where}: the image index lists no manifests", hint=_HINT)
    if tag is not None and depth == 0:
        entries = [
            e for e in entries if isinstance(e, dict) and (e.get("annotations") or {}).get("org.opencontainers.image.ref.name") == tag
        ]
        if not entries:
            raise UsageError(f"{where}: the layout has no image tagged {tag[:80]!r}")
    fitting = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        platform = entry.get("platform")
        if isinstance(platform, dict) and (platform.get("architecture"), platform.get("os")) != (want["architecture"], want["os"]):
            continue
        fitting.append(entry)
    if not fitting:
        raise UsageError(f"{where}: the layout has no image for linux/{want['architecture']}", hint="copy the base for that platform")
    names = {(e.get("annotations") or {}).get("org.opencontainers.image.ref.name") for e in fitting}
    if len(fitting) > 1 and len(names) > 1:
        shown = ", ".join(sorted(str(n)[:40] for n in names))
        raise UsageError(f"{where}: the layout holds several images ({shown})", hint="name one: --base DIR:TAG")
    entry = fitting[0]
    desc = _descriptor(entry, where)
    name = tag or (entry.get("annotations") or {}).get("org.opencontainers.image.ref.name")
    if desc.media_type in _INDEXES:
        if depth >= MAX_DEPTH:
            raise UsageError(f"{where}: image indexes nested more than {MAX_DEPTH} deep")
        inner, _ = _choose(path, _json_blob(path, desc, where), tag=None, want=want, where=where, depth=depth + 1)
        return inner, name if isinstance(name, str) else None
    return desc, name if isinstance(name, str) else None


def _descriptor(raw: Any, where: str) -> Descriptor:
    if not isinstance(raw, dict):
        raise UsageError(f"{where}: a descriptor is not an object")
    digest, size, media_type = raw.get("digest"), raw.get("size"), raw.get("mediaType")
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise UsageError(f"{where}: a descriptor's digest is not sha256:<64 hex digits>")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise UsageError(f"{where}: {digest}'s size is not a whole number")
    return Descriptor(media_type=str(media_type or ""), digest=digest, size=size)


def _blob_file(path: Path, desc: Descriptor, where: str) -> Path:
    blob = path / "blobs" / "sha256" / desc.hex
    try:
        info = blob.lstat()
    except OSError:
        raise UsageError(f"{where}: the layout lacks the blob {desc.digest}", hint="copy the base again (skopeo copy)") from None
    if not stat.S_ISREG(info.st_mode) or info.st_size != desc.size:
        raise UsageError(f"{where}: the blob {desc.digest} is not a file of {desc.size} bytes", hint="copy the base again (skopeo copy)")
    return blob


def _json_blob(path: Path, desc: Descriptor, where: str) -> dict[str, Any]:
    if desc.size > MAX_JSON:
        raise UsageError(f"{where}: {desc.digest} is {desc.size} bytes, more than a manifest or config may be ({MAX_JSON})")
    data = _blob_file(path, desc, where).read_bytes()
    if hashlib.sha256(data).hexdigest() != desc.hex:
        raise UsageError(f"{where}: the blob {desc.digest} does not match its digest", hint="copy the base again (skopeo copy)")
    document = _parse(data, f"{where}: {desc.digest}")
    if not isinstance(document, dict):
        raise UsageError(f"{where}: {desc.digest} is not a JSON object")
    return document


def _load(file: Path, where: str) -> Any:
    if file.lstat().st_size > MAX_JSON or not file.is_file():
        raise UsageError(f"{where}: {file.name} is not a file of at most {MAX_JSON} bytes")
    return _parse(file.read_bytes(), f"{where}: {file.name}")


def _parse(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        raise UsageError(f"{what} is not valid JSON") from None
