"""Would dyld load this bundle: every load command of every image resolved as dyld resolves
it, inside the bundle or to macOS's own libraries, with every file read bounded.

It serves ``verify`` on a stranger's archive and the build's own proof after relocation
(:meth:`gopack.platform.macos.platform.TreeBinaries.check`), so, like
:mod:`gopack.platform.linux.linkage`, it opens nothing outside the bundle, resolves paths
inside it with ``lstat`` only (:func:`gopack.platform.linux.linkage.resolve`), opens only
regular files without following links, and reads only the Mach-O header, its load commands
and (for :func:`check`'s signatures) each page once; a malformed file is a problem naming it.

How dyld resolves (research/macos.md): ``@executable_path`` is the main program's folder;
``@loader_path`` the folder of the image holding the load command; ``@rpath/x`` tries the
LC_RPATHs of that image, then of each image that loaded it, back to the program, each
rpath's ``@loader_path`` relative to the image that owns it. An extension module is loaded
by ``dlopen`` from libpython: its own rpaths, then libpython's, then the program's. Anything
outside the bundle must be macOS's own (``/usr/lib/``, ``/System/Library/``).

Every symbol an image binds (two-level namespace: the ordinal names the library) from a
library of the bundle must be in that library's exports or those of a library it re-exports
(:mod:`.symbols`); what it binds from libSystem must be in zig's stub of it (other macOS
libraries and frameworks are not checked).

The images checked as the program loads them: every ``MH_EXECUTE`` (outside ``python/``
first: the Go program; the tree stage, before there is one, names where it will be and
its rpath), libpython and what it loads, every extension module (``MH_BUNDLE``) as
libpython dlopens it, and every other dylib as one of them would load it.
"""

from __future__ import annotations

import os
import posixpath
import struct
from dataclasses import dataclass, field
from pathlib import Path

from gopack import _fs
from gopack.platform.linux.linkage import resolve, text
from gopack.platform.macos import macho, signature, symbols
from gopack.platform.macos.macho import Image, Malformed

#: Where macOS's own libraries are: a path under these is the system's, never the bundle's.
SYSTEM_PREFIXES = ("/usr/lib/", "/System/Library/")
#: How many problems a check keeps (the rest are counted).
MAX_PROBLEMS = 200
#: The most LC_RPATHs one image may have (real ones: a handful), and the most rpaths an
#: @rpath search tries (the image's and its loaders'): a hostile file cannot make the search quadratic.
MAX_RPATHS = 64
MAX_CHAIN = 256
#: The most imported and exported names kept for the symbol check over a whole bundle (JavaCPP's
#: 3.13 with numpy, scipy, scikit-learn and Pillow: about 75 000); past it, the rest is not checked.
MAX_NAMES = 1_000_000
_IMAGES = (macho.MH_EXECUTE, macho.MH_DYLIB, macho.MH_BUNDLE)


def is_system(path: str) -> bool:
    """A path macOS itself provides (in its shared cache or on disk)."""
    return path.startswith(SYSTEM_PREFIXES) and "/../" not in path and "/./" not in path


@dataclass(frozen=True, kw_only=True)
class Program:
    """The main program dyld starts: where it is (bundle-relative) and its rpaths."""

    path: str
    rpaths: tuple[str, ...]


@dataclass(kw_only=True)
class Found:
    """What the check found in one bundle."""

    images: int = 0
    system: set[str] = field(default_factory=set)  # macOS libraries they load
    machines: set[str] = field(default_factory=set)
    minos: dict[str, str] = field(default_factory=dict)  # image -> its minimum macOS
    problems: list[str] = field(default_factory=list)
    #: (image, load command path) that resolve to nothing in the bundle.
    unresolved: list[tuple[str, str, str]] = field(default_factory=list)  # (image, command, path)


@dataclass(frozen=True, kw_only=True)
class Read:
    """What the check reads of one image."""

    image: Image
    signature: str | None  # the problem with its signature (None: it holds, or was not asked)
    imports: tuple[symbols.Import, ...] = ()
    exports: frozenset[bytes] = frozenset()
    symbols: str | None = None  # why its symbol tables could not be read


def read(root: Path, rel: str, *, signatures: bool = False, bindings: bool = False) -> Read | None:
    """The image ``root/rel`` (a resolved regular file), None for a file that is not a thin
    Mach-O image; with the problem with its signature when ``signatures``, and what it binds
    and exports when ``bindings``. :class:`Malformed` where it cannot be read or is not what
    dyld reads."""
    with _fs.open_regular(root / rel, Malformed) as opened:
        if opened is None:
            return None
        fd, size = opened

        def pread(offset: int, length: int) -> bytes:
            return os.pread(fd, length, offset)

        kind = macho.kind_of(pread(0, 8))
        if kind is None:
            return None
        if kind == "fat":
            held = ", ".join(macho.ARCH_NAMES.get(s.machine, s.machine) for s in macho.slices(pread, size))
            raise Malformed(f"it is a fat file ({held}); a bundle holds one architecture")
        image = macho.read_image(pread, size)
        if image.filetype not in _IMAGES:
            return None
        bad = signature.problem(pread, image) if signatures else None
        if not bindings:
            return Read(image=image, signature=bad)
        try:
            return Read(image=image, signature=bad, imports=tuple(symbols.imports(pread, image)), exports=symbols.exports(pread, image))
        except (Malformed, struct.error) as exc:
            return Read(image=image, signature=bad, symbols=str(exc))


def macho_files(root: Path) -> list[str]:
    """Bundle-relative paths of the regular files under ``root`` that start as Mach-O files do."""
    return list(_fs.files_starting(root, 8, lambda head: macho.kind_of(head) is not None))


class _Bundle:
    def __init__(self, root: Path, program: Program | None, signatures: bool) -> None:
        self.root, self.signatures = root, signatures
        self.images: dict[str, Image] = {}
        self.facts: dict[str, Read] = {}
        #: image -> load command index -> the bundle file it loaded
        self.bound: dict[str, dict[int, str]] = {}
        self.exports: dict[str, frozenset[bytes]] = {}  # what each library exports, re-exports included
        self.resolved: dict[str, str | None] = {}
        self.found = Found()
        budget = MAX_NAMES
        for rel in macho_files(root):
            try:
                got = read(root, rel, signatures=signatures, bindings=budget > 0)
            except Malformed as exc:
                self.found.problems.append(f"{text(os.fsencode(rel))} is not a Mach-O file dyld can read: {exc}")
                continue
            if got is None:
                continue
            image, bad = got.image, got.signature
            if budget > 0:
                budget -= len(got.imports) + len(got.exports)
                if budget <= 0:
                    self.found.problems.append(
                        f"the symbol tables pass {MAX_NAMES} names at {text(os.fsencode(rel))}: the rest are not checked"
                    )
            self.images[rel] = image
            self.facts[rel] = got
            if got.symbols is not None:
                self.found.problems.append(f"{text(os.fsencode(rel))}: its symbol tables cannot be read: {got.symbols}")
            self.found.machines.add(image.machine)
            if image.minos is not None:
                self.found.minos[rel] = image.minos
            if bad is not None:
                self.found.problems.append(f"{text(os.fsencode(rel))}: the signature does not hold: {bad}")
        self.found.images = len(self.images)
        executables = [r for r, i in self.images.items() if i.filetype == macho.MH_EXECUTE]
        main = program or next(
            (Program(path=r, rpaths=self.images[r].rpaths) for r in sorted(executables, key=lambda r: r.startswith("python/"))), None
        )
        self.program = main or Program(path="bin/program", rpaths=())
        self.libpython = next((r for r in sorted(self.images) if posixpath.basename(r).startswith("libpython")), None)

    def expand(self, path: str, owner: str, program: str) -> str | None:
        """A path with @executable_path/@loader_path made bundle-relative; None for one outside the bundle."""
        for token, folder in (("@executable_path", posixpath.dirname(program)), ("@loader_path", posixpath.dirname(owner))):
            if path == token or path.startswith(token + "/"):
                inside = posixpath.normpath(posixpath.join(folder, path[len(token) :].lstrip("/")))
                return None if inside == ".." or inside.startswith(("../", "/")) else inside
        return None

    def locate(self, path: str, owner: str, chain: list[tuple[str, str]], program: str) -> tuple[str | None, str]:
        """(the bundle file ``path`` loads from ``owner``, or None; what was searched)."""
        if path.startswith("@rpath/"):
            tried = []
            for rp_owner, rpath in chain[:MAX_CHAIN]:
                folder = self.expand(rpath, rp_owner, program)
                if folder is None:
                    continue
                if folder not in tried:
                    tried.append(folder)
                found = self.resolve(posixpath.join(folder, path[len("@rpath/") :]))
                if found is not None and found in self.images:
                    return found, ""
            return None, f"searched {', '.join(t + '/' if t != '.' else './' for t in tried) or 'no rpath'}"
        inside = self.expand(path, owner, program)
        if inside is None:
            return None, "it names a place outside the bundle"
        found = self.resolve(inside)
        return (found if found in self.images else None), ""

    def resolve(self, rel: str) -> str | None:
        """:func:`resolve` inside the bundle, each path once."""
        if rel not in self.resolved:
            self.resolved[rel] = resolve(self.root, rel)
        return self.resolved[rel]

    def command_problems(self, rel: str, image: Image) -> None:
        """Rpaths that leave the bundle; a library loaded twice or an rpath given twice, which dyld
        refuses in images built with SDK 15.0 (libraries) or 15.4 (rpaths) and later."""
        paths = [load.path for load in image.loads]
        for twice in sorted({p for p in paths if paths.count(p) > 1}):
            self.found.problems.append(
                f"{text(os.fsencode(rel))} loads {text(os.fsencode(twice))} twice (dyld refuses a duplicated library)"
            )
        if len(image.rpaths) > MAX_RPATHS:
            self.found.problems.append(f"{text(os.fsencode(rel))} has {len(image.rpaths)} LC_RPATHs, more than the {MAX_RPATHS} checked")
        for twice in sorted({r for r in image.rpaths if image.rpaths.count(r) > 1}):
            self.found.problems.append(f"{text(os.fsencode(rel))} has LC_RPATH {text(os.fsencode(twice))} twice (dyld refuses it)")
        for rpath in image.rpaths:
            if not rpath.startswith(("@loader_path", "@executable_path")):
                self.found.problems.append(f"{text(os.fsencode(rel))} has LC_RPATH {text(os.fsencode(rpath))}, outside the bundle")
            elif self.expand(rpath, rel, self.program.path) is None:
                self.found.problems.append(
                    f"{text(os.fsencode(rel))} has LC_RPATH {text(os.fsencode(rpath))}, which climbs out of the bundle"
                )

    def walk(self, top: str, chain: list[tuple[str, str]], done: set[str], program: str | None = None) -> None:
        """``top`` and what it loads, each with the rpaths of its loaders (``chain``, nearest first);
        ``program``: the executable that starts it (the bundle's program unless said)."""
        main = program or self.program.path
        queue = [(top, chain)]
        while queue:
            rel, inherited = queue.pop(0)
            if rel in done:
                continue
            done.add(rel)
            image = self.images[rel]
            own = [(rel, r) for r in image.rpaths[:MAX_RPATHS]] + inherited
            for index, load in enumerate(image.loads):
                if is_system(load.path):
                    self.found.system.add(load.path)
                    continue
                lib, searched = self.locate(load.path, rel, own, main)
                if lib is None:
                    if not load.weak:
                        self.found.unresolved.append((rel, load.kind, load.path + (f" ({searched})" if searched else "")))
                    continue
                self.bound.setdefault(rel, {}).setdefault(index, lib)
                queue.append((lib, own))

    def exported(self, lib: str, depth: int = 0) -> frozenset[bytes]:
        """What ``lib`` exports, with what the libraries it re-exports export (at most 8 deep)."""
        if lib not in self.exports:
            names = self.facts[lib].exports
            if depth < 8:
                for index, load in enumerate(self.images[lib].loads):
                    again = self.bound.get(lib, {}).get(index)
                    if load.kind == "LC_REEXPORT_DYLIB" and again is not None:
                        names = names | self.exported(again, depth + 1)
            self.exports[lib] = names
        return self.exports[lib]

    def bindings(self) -> None:
        """Every symbol an image binds from a library of the bundle is one that library exports."""
        for rel, got in sorted(self.facts.items()):
            missing: dict[str, list[str]] = {}
            system = symbols.system_exports(got.image.machine)
            loads = got.image.loads
            for imp in got.imports:
                if imp.weak or not 1 <= imp.ordinal <= len(loads):
                    continue
                lib = self.bound.get(rel, {}).get(imp.ordinal - 1)
                if lib is not None and imp.name not in self.exported(lib):
                    missing.setdefault(lib, []).append(text(imp.name))
                elif loads[imp.ordinal - 1].path == symbols.LIBSYSTEM and system is not None and imp.name not in system:
                    missing.setdefault(symbols.LIBSYSTEM, []).append(text(imp.name))
            for lib, names in sorted(missing.items()):
                shown = ", ".join(sorted(set(names))[:5]) + (f" and {len(set(names)) - 5} more" if len(set(names)) > 5 else "")
                self.found.problems.append(
                    f"{text(os.fsencode(rel))} binds {shown} from {text(os.fsencode(lib))}, which does not export them"
                )


def check(root: Path, *, program: Program | None = None, signatures: bool = True) -> Found:
    """Every image under ``root`` resolved as dyld would; ``program``: the main program when the
    bundle holds none yet (the tree stage)."""
    bundle = _Bundle(root, program, signatures)
    for rel, image in bundle.images.items():
        bundle.command_problems(rel, image)
    program_chain = [(bundle.program.path, r) for r in bundle.program.rpaths]
    done: set[str] = set()
    if bundle.program.path in bundle.images:
        bundle.walk(bundle.program.path, [], done)
    python_chain = program_chain
    if bundle.libpython is not None:
        python_chain = [(bundle.libpython, r) for r in bundle.images[bundle.libpython].rpaths] + program_chain
        bundle.walk(bundle.libpython, program_chain, done)
    for rel, image in sorted(bundle.images.items()):
        if image.filetype == macho.MH_BUNDLE:
            bundle.walk(rel, python_chain, done)
    for rel, image in sorted(bundle.images.items()):
        if image.filetype == macho.MH_EXECUTE and rel not in done:
            bundle.walk(rel, [], done, program=rel)
    for rel in sorted(set(bundle.images) - done):
        bundle.walk(rel, python_chain, done)
    bundle.bindings()
    for rel, command, path in bundle.found.unresolved:
        bundle.found.problems.append(f"{text(os.fsencode(rel))}: {command} {text(os.fsencode(path))} resolves to nothing in the bundle")
    if len(bundle.found.machines) > 1:
        bundle.found.problems.append(f"it mixes architectures: {', '.join(sorted(bundle.found.machines))} (a bundle holds one)")
    unique = list(dict.fromkeys(bundle.found.problems))
    if len(unique) > MAX_PROBLEMS:
        unique = [*unique[:MAX_PROBLEMS], f"and {len(unique) - MAX_PROBLEMS} more"]
    bundle.found.problems = unique
    return bundle.found
