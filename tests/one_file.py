"""Executables (output.format: exe) made from a small bundle built entry by entry (:mod:`hostile`),
with any launcher: gopack's own, or bytes that only stand in for it."""

from __future__ import annotations

import json
from pathlib import Path

from hostile import Bundle, Item

from gopack.archive import exe


def small_bundle(top: str = "app-1.0", *, script: str = 'echo "OK $*"\n', unique: str = "") -> Bundle:
    """A bundle whose program is a shell script, with a folder, a symlink and a duplicate file.
    ``unique`` goes into the script as a comment: another bundle, extracted to another folder."""
    return (
        Bundle(top)
        .dir("bin")
        .script("bin/app", f"# {unique}\n{script}" if unique else script)
        .dir("python")
        .file("python/data.txt", b"some data\n" * 100)
        .add(Item(f"{top}/python/same.txt", hardlink=f"{top}/python/data.txt"))
        .add(Item(f"{top}/python/link.txt", symlink="data.txt"))
    )


def make(bundle: Bundle, launcher: Path, dest: Path, *, program: str = "bin/app") -> Path:
    """``launcher``, then ``bundle`` as a tar.gz, then the trailer, as gopack bundle writes them."""
    work = dest.parent / f".{dest.name}.parts"
    work.mkdir(parents=True, exist_ok=True)
    payload = bundle.tar(work / "payload.tar.gz")
    manifest = work / "gopack.json"
    manifest.write_bytes(json.dumps(bundle.manifest(), indent=1).encode())
    exe.write(launcher, payload, dest, top=bundle.top, program=program, manifest=manifest)
    return dest
