"""``gopack push``: an image layout gopack wrote, copied to a registry by skopeo.

skopeo (Debian's ``skopeo``) does the registry's protocol: it asks which blobs the
registry has and uploads only the others, so a release whose Python layer is the
last one's uploads its application layer and config. The destination's tag is the
image's version (the layout's ``ref.name`` is ``NAME:VERSION``) unless given.
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from gopack import _proc
from gopack.errors import BuildError, UsageError

MAX_INDEX = 1 << 20
_SKOPEO_HINT = "install Debian's skopeo (apt-get install skopeo)"


@dataclass(frozen=True, kw_only=True)
class Pushed:
    source: str
    destination: str
    digest: str


def destination(ref: str, version: str) -> str:
    """``HOST/REPO[:TAG]`` (``docker://`` optional) as skopeo's destination, tagged ``version`` when it has no tag.

    >>> destination("localhost:5000/team/app", "1.0"), destination("docker://ghcr.io/me/app:edge", "1.0")
    ('docker://localhost:5000/team/app:1.0', 'docker://ghcr.io/me/app:edge')
    """
    name = ref.removeprefix("docker://")
    if "://" in name or not re.fullmatch(r"[A-Za-z0-9._:/@+-]{1,512}", name) or "/" not in name:
        raise UsageError(
            f"{ref[:80]!r} is not a registry reference", hint="write it as HOST/REPO[:TAG], e.g. registry.example.com/team/app"
        )
    last = name.rsplit("/", 1)[1]
    return f"docker://{name}" if ":" in last or "@" in last else f"docker://{name}:{version}"


def image_tag(layout: Path) -> str:
    """The ``NAME:VERSION`` of the one image in a layout gopack wrote."""
    index = layout / "index.json"
    if not (layout / "oci-layout").is_file() or not index.is_file() or index.stat().st_size > MAX_INDEX:
        raise UsageError(f"{layout} is not an image layout gopack wrote", hint="give the .oci folder `gopack bundle --format oci` wrote")
    try:
        names = [(m.get("annotations") or {}).get("org.opencontainers.image.ref.name") for m in json.loads(index.read_bytes())["manifests"]]
    except (ValueError, KeyError, TypeError, AttributeError):
        raise UsageError(f"{layout}/index.json is not an image index") from None
    if len(names) != 1 or not isinstance(names[0], str) or ":" not in names[0]:
        raise UsageError(f"{layout} does not hold exactly one image tagged NAME:VERSION", hint="push it with skopeo copy oci:DIR:TAG ...")
    return names[0]


def push(layout: Path, ref: str, *, tls_verify: bool = True) -> Pushed:
    """Copy the layout's image to ``ref`` with skopeo; the pushed manifest's digest."""
    tag = image_tag(layout)
    dest = destination(ref, tag.rpartition(":")[2])
    skopeo = _proc.which("skopeo", hint=_SKOPEO_HINT)
    source = f"oci:{layout.absolute()}:{tag}"
    with tempfile.TemporaryDirectory(prefix="gopack-push-") as tmp:
        digestfile = Path(tmp) / "digest"
        argv: list[str | Path] = [
            skopeo,
            "copy",
            "--digestfile",
            digestfile,
            *([] if tls_verify else ["--dest-tls-verify=false"]),
            source,
            dest,
        ]
        _proc.run(
            argv,
            what=f"skopeo copy to {dest}",
            error=BuildError,
            hint="check the registry's address and your login (skopeo login HOST); a registry without TLS needs --insecure",
        )
        digest = digestfile.read_text().strip()
    return Pushed(source=source, destination=dest, digest=digest)
