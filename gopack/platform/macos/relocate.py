"""delocate's job on a macOS tree, from Linux: every library inside, every file signed.

:func:`thin` runs as each part of the tree lands: a fat file becomes its slice for the
target (a bundle holds one architecture; a fat file without it is an error naming it).
:func:`plan` then reads the whole tree and decides, before anything is written:

- a load command naming a library outside the bundle that macOS does not provide
  (Homebrew's ``/opt/homebrew/opt/xz/lib/liblzma.5.dylib``, ``/usr/local/opt/...``) is
  pointed at a file of that name inside the tree (a wheel's ``.dylibs``: Pillow's
  liblzma serves ``_lzma``), else at a copy of one from the folders the recipe names
  (vendored into ``python/lib``), as ``@loader_path/<relative path>``;
- an extension module needing a library found nowhere is dropped with a warning and
  listed (``_decimal`` falls back to ``_pydecimal``); any other file is an error;
- LC_RPATHs that are absolute (``/Users/runner/...``, ``/usr/local/lib``: a hijack path) or
  climb out of the bundle are deleted;
- a dylib's absolute install name (``/DLC/numpy/.dylibs/x.dylib``) becomes ``@rpath/x.dylib``.

:func:`apply` writes each edited file once, then signs it ad hoc; a file whose signature
does not hold or that has none is signed too, so every image in the tree carries a valid
signature. Everything is a function of the bytes: two runs give identical files.
"""

from __future__ import annotations

import hashlib
import logging
import os
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gopack.errors import BuildError
from gopack.platform.base import Vendored
from gopack.platform.macos import edit, linkage, macho, signature
from gopack.platform.macos.edit import Edits
from gopack.platform.macos.macho import Image, Malformed

log = logging.getLogger(__name__)
#: Where vendored libraries go, beside libpython (the program's rpath names it).
LIBDIR = "python/lib"
#: The Go program as the tree stage sees it before it exists: where it will be, and the rpath
#: it is linked with (gopack.go.build sets the same).
PROGRAM = linkage.Program(path="bin/program", rpaths=("@executable_path/../python/lib",))


@dataclass(frozen=True, kw_only=True)
class Relocated:
    """What relocation found and did (:class:`gopack.platform.base.Relocation`)."""

    vendored: tuple[Vendored, ...] = ()
    host_libraries: tuple[str, ...] = ()
    #: file -> "macOS" -> {its minimum macOS}
    requirements: dict[str, dict[str, frozenset[str]]] = field(default_factory=dict)
    #: (extension module, the library it needed) of each module dropped because nothing provides it.
    unresolved: tuple[tuple[str, str], ...] = ()
    edited: int = 0


def _name(path: Path | str) -> str:
    return posixpath.basename(os.fspath(path))


def read(path: Path) -> tuple[bytes, Image] | None:
    """A file of gopack's own tree read whole, and its image; None if it is not a thin Mach-O image."""
    data = path.read_bytes()
    if macho.kind_of(data[:8]) != "thin":
        return None
    image = macho.parse(data)
    return (data, image) if image.filetype in (macho.MH_EXECUTE, macho.MH_DYLIB, macho.MH_BUNDLE) else None


def signed(data: bytes, image: Image) -> bool:
    """``image`` (all of ``data``) carries a signature whose every page hash matches."""
    return signature.problem(lambda offset, size: data[offset : offset + size], image) is None


def thin(root: Path, files: Sequence[str], *, machine: str) -> None:
    """Each fat file of ``files`` (bundle-relative) replaced by its slice for ``machine``."""
    for rel in files:
        path = root / rel
        data = path.read_bytes()
        if macho.kind_of(data[:8]) != "fat":
            continue
        try:
            thinned = edit.thin(data, machine)
        except Malformed as exc:
            raise BuildError(f"{rel}: {exc}", hint="install a wheel built for the target's architecture (or universal2)") from None
        write(path, thinned)
        log.info("%s: thinned to %s (%d of %d bytes)", rel, macho.ARCH_NAMES.get(machine, machine), len(thinned), len(data))


def write(path: Path, data: bytes) -> None:
    """Replace ``path`` (uv hard-links files from its cache: never write through the link)."""
    mode = path.stat().st_mode
    tmp = path.with_name(path.name + ".gopack-tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _outside(path: str, rel: str) -> bool:
    """An rpath that leaves the bundle: absolute, or climbing above its root."""
    if not path.startswith("@"):
        return True
    for token in ("@loader_path", "@executable_path"):
        if path == token or path.startswith(token + "/"):
            base = posixpath.dirname(rel) if token == "@loader_path" else posixpath.dirname(PROGRAM.path)
            inside = posixpath.normpath(posixpath.join(base, path[len(token) :].lstrip("/")))
            return inside == ".." or inside.startswith("../")
    return True


def _loader_path(rel: str, lib: str) -> str:
    return "@loader_path/" + posixpath.relpath(lib, posixpath.dirname(rel) or ".")


def _find(name: str, folders: Sequence[Path]) -> Path | None:
    """The first file called ``name`` in the recipe's folders (searched in order, each sorted)."""
    for folder in folders:
        for found in sorted(folder.rglob(name)):
            if found.is_file():
                return found
    return None


def apply(root: Path, files: Sequence[str], *, machine: str, libraries: Sequence[Path] = ()) -> Relocated:
    """delocate's edits over the Mach-O ``files`` of ``root`` (see the module's doc); a library
    vendored from ``libraries`` is thinned to ``machine`` like the tree's own files."""
    images: dict[str, tuple[bytes, Image]] = {}
    for rel in sorted(set(files)):
        try:
            found = read(root / rel)
        except Malformed as exc:
            raise BuildError(f"{rel}: not a Mach-O file gopack can read: {exc}") from None
        if found is not None:
            images[rel] = found
    by_name: dict[str, str] = {}
    for rel, (_, image) in sorted(images.items()):
        if image.filetype == macho.MH_DYLIB:
            by_name.setdefault(_name(rel), rel)
    vendored: dict[str, Vendored] = {}
    dropped: list[tuple[str, str]] = []
    fatal: list[str] = []
    edits: dict[str, Edits] = {}
    for rel, (_, image) in sorted(images.items()):
        changes: dict[str, str] = {}
        for load in image.loads:
            if load.path.startswith("@") or linkage.is_system(load.path):
                continue
            name = _name(load.path)
            lib = by_name.get(name)
            if lib is None and (source := _find(name, libraries)) is not None:
                lib = f"{LIBDIR}/{name}"
                data = source.read_bytes()
                digest = hashlib.sha256(data).hexdigest()
                before = vendored.get(name)
                vendored[name] = Vendored(
                    soname=load.path, name=name, source=source, sha256=digest, needed_by=(*(before.needed_by if before else ()), rel)
                )
            if lib is not None:
                changes[load.path] = _loader_path(rel, lib)
            elif image.filetype == macho.MH_BUNDLE and not load.weak:
                dropped.append((rel, load.path))
            elif not load.weak:
                fatal.append(f"  {rel} needs {load.path}")
        rpaths = frozenset(p for p in image.rpaths if _outside(p, rel))
        ident = f"@rpath/{_name(rel)}" if image.id is not None and not image.id.startswith("@") else None
        edits[rel] = Edits(id=ident, changes=changes, delete_rpaths=rpaths)
    if fatal:
        raise BuildError(
            "libraries these files need are neither macOS's own nor in the bundle nor in the folders the recipe names:\n"
            + "\n".join(fatal),
            hint="name a folder holding them in python.libraries (or install a wheel that vendors them), or prune the files that need them",
        )
    for rel, needs in dropped:
        log.warning(
            "%s needs %s, which neither macOS, the bundle nor the recipe's folders provide: the module is left out "
            "(listed in the manifest's unresolved); name a folder holding that library in python.libraries to keep it",
            rel,
            needs,
        )
    gone = {rel for rel, _ in dropped}
    for rel in sorted(gone):
        (root / rel).unlink()
    for item in vendored.values():
        dest = root / LIBDIR / item.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            data = edit.thin(item.source.read_bytes(), machine)
            image = macho.parse(data)
        except Malformed as exc:
            raise BuildError(f"{item.source} (for {', '.join(item.needed_by)}): {exc}") from None
        dest.write_bytes(data)
        images[f"{LIBDIR}/{item.name}"] = (data, image)
        edits[f"{LIBDIR}/{item.name}"] = Edits(
            id=f"@rpath/{item.name}", delete_rpaths=frozenset(p for p in image.rpaths if _outside(p, f"{LIBDIR}/{item.name}"))
        )
    written = 0
    for rel, (data, image) in sorted(images.items()):
        if rel in gone:
            continue
        change = edits.get(rel, Edits())
        if not change and signed(data, image):
            continue
        try:
            write(root / rel, edit.edited(data, change, identifier=_name(rel)))
        except Malformed as exc:
            raise BuildError(f"{rel}: cannot be edited: {exc}") from None
        written += 1
    return Relocated(
        vendored=tuple(vendored[n] for n in sorted(vendored)),
        unresolved=tuple(sorted(dropped)),
        edited=written,
    )


def check(root: Path, applied: Relocated, *, program: linkage.Program | None = PROGRAM, machine: str) -> Relocated:
    """The proof of :func:`apply` (it only reads): every image loads as dyld would load it, is
    signed and of ``machine``; and each image's minimum macOS."""
    found = linkage.check(root, program=program, signatures=True)
    problems = list(found.problems)
    problems += [f"it holds {m} images; the target is {machine}" for m in sorted(found.machines - {machine})]
    if problems:
        raise BuildError("after relocation, the bundle would not load on macOS:\n  " + "\n  ".join(problems[:40]))
    return Relocated(
        vendored=applied.vendored,
        unresolved=applied.unresolved,
        edited=applied.edited,
        host_libraries=tuple(sorted(found.system)),
        requirements={rel: {"macOS": frozenset({minos})} for rel, minos in sorted(found.minos.items())},
    )
