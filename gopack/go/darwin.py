"""Go for darwin, linked on Linux by zig cc: what the link needs that no macOS SDK gives here.

zig links Mach-O for ``<arch>-macos.<V>`` and ships libSystem's text stub, but no other
library or framework of Apple's SDK. Every other library the program links (``-framework
CoreFoundation`` of runtime/cgo and crypto/x509, ``-lresolv`` of net, a binding's own
``-framework``) gets a ``.tbd`` text stub made here from what is linked, not from a fixed
list:

- which: the ``-framework X`` and ``-lX`` flags of every package ``go list -deps`` reports
  (``#cgo LDFLAGS``), of CGO_LDFLAGS and of the standard library's ``//go:cgo_ldflag``
  directives; a ``-lX`` found in a folder the flags name (``-L``), libpython's included, is
  that file, not a stub. What pkg-config answers is not read: gopack answers the Python
  names itself (libpython only); another package's ``.pc`` naming a framework is not seen.
- the symbols each exports: zig refuses an undefined symbol that no library on the line
  exports, and binds each one to the library that does (two-level namespace, the
  library's ordinal). Go's own references name their library (``//go:cgo_import_dynamic
  CFRelease CFRelease "/System/.../CoreFoundation"``); a symbol C code asks for that no
  directive names is reported by zig's link, given to the one stub library the program's
  own packages link, and the link run once more; with several, zig's error stands
  (:func:`with_symbols`).
- the install name: the directive's path where Go names one (``/usr/lib/libresolv.9.dylib``),
  else ``/System/Library/Frameworks/X.framework/Versions/A/X`` and ``/usr/lib/libX.dylib``
  (the SDK's link name; the SDK's own stub would give the versioned name, ``libz.1.dylib``:
  that the unversioned one loads from macOS's dyld cache is for a Mac to show).

The link line: ``-Wl,-rpath,@executable_path/../python/lib`` (the bundle's libpython,
``@rpath/libpythonX.Y.dylib``), ``-Wl,-headerpad_max_install_names`` (room for later
load command edits: without it zig leaves 8 bytes) and, in the C compiler's wrapper,
each ``-lX`` once: zig writes one LC_LOAD_DYLIB per ``-lpythonX.Y`` on the line, Go
repeats CGO_LDFLAGS and several packages ask pkg-config for the same Python, and dyld
refuses an image built with SDK 15.0 or newer (zig stamps 15.5) that loads a library twice.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from gopack import _fs, _proc
from gopack.errors import ToolchainError
from gopack.go.bindings import GoPackage
from gopack.platform.macos import macho
from gopack.platform.target import Target

RPATH = "@executable_path/../python/lib"
#: Libraries zig answers itself: its libSystem stub (-lSystem's parts, the names Unix code links)
#: and its own libc++ (-lc++, -lstdc++: linked in, nothing to load).
_ZIG_ANSWERS = frozenset({"System", "c", "m", "pthread", "dl", "dbm", "info", "poll", "proc", "rpcsvc", "util", "c++", "stdc++"})
_FRAMEWORKS = "/System/Library/Frameworks"
#: //go:cgo_ldflag "-framework" and //go:cgo_import_dynamic local remote "library"
_CGO_LDFLAG = re.compile(r'^//go:cgo_ldflag "(?P<flag>[^"]+)"', re.MULTILINE)
_IMPORT_DYNAMIC = re.compile(r'^//go:cgo_import_dynamic \S+ (?P<symbol>[^\s"]+) "(?P<library>/[^"]+)"', re.MULTILINE)
#: zig's "error: undefined symbol: _CFRelease"
_UNDEFINED = re.compile(r"^error: undefined symbol: (?P<symbol>\S+)$", re.MULTILINE)
#: zig's arch names in a tbd's targets, by GOARCH.
_TBD_ARCH = {"amd64": "x86_64", "arm64": "arm64"}


@dataclass(frozen=True, kw_only=True)
class SdkLibrary:
    """One library of Apple's SDK the program links, as its text stub says."""

    name: str  # "CoreFoundation", "resolv"
    framework: bool
    install_name: str
    symbols: frozenset[str]
    #: The packages whose flags link it ("CGO_LDFLAGS" for the environment's and the recipe's).
    packages: tuple[str, ...] = ()
    #: Whether a package outside the standard library (or CGO_LDFLAGS) links it: only such code
    #: can ask for a symbol no directive names.
    by_program: bool = False

    @property
    def stub(self) -> str:
        """The stub's path under the stubs folder, where zig looks for -framework NAME or -lNAME."""
        return f"{self.name}.framework/{self.name}.tbd" if self.framework else f"lib{self.name}.tbd"


def linked(packages: Iterable[GoPackage], *, extra_flags: Sequence[str] = (), search: Sequence[Path] = ()) -> tuple[SdkLibrary, ...]:
    """The SDK libraries ``packages`` link (``go list -deps`` of the program, for darwin) with
    ``extra_flags`` (CGO_LDFLAGS); a ``-lX`` found in ``search`` or a ``-L`` folder is not one."""
    wanted: dict[tuple[str, bool], list[str]] = {}
    programs: set[tuple[str, bool]] = set()
    symbols: dict[str, set[str]] = {}
    folders = [*search]
    for package in packages:
        flags = list(package.cgo_ldflags)
        for name in package.go_files if package.standard else ():
            text = _read(Path(package.dir) / name)
            flags += _CGO_LDFLAG.findall(text)
            for match in _IMPORT_DYNAMIC.finditer(text):
                symbols.setdefault(match.group("library"), set()).add("_" + match.group("symbol"))
        for key in libraries_of(flags, folders):
            wanted.setdefault(key, []).append(package.import_path)
            if not package.standard:
                programs.add(key)
    for key in libraries_of(list(extra_flags), folders):
        wanted.setdefault(key, []).append("CGO_LDFLAGS")
        programs.add(key)
    found: list[SdkLibrary] = []
    for (name, framework), by in sorted(wanted.items()):
        if not framework and (name in _ZIG_ANSWERS or any(_library_in(Path(f), name) for f in folders)):
            continue
        install = _install_name(name, framework, symbols)
        found.append(
            SdkLibrary(
                name=name,
                framework=framework,
                install_name=install,
                symbols=frozenset(symbols.get(install, ())),
                packages=tuple(by),
                by_program=(name, framework) in programs,
            )
        )
    return tuple(found)


def libraries_of(flags: Sequence[str], folders: list[Path]) -> list[tuple[str, bool]]:
    """(name, is a framework) of each library ``flags`` link; their -L folders are added to ``folders``.

    >>> libraries_of(["-framework", "CoreFoundation", "-lresolv", "-Wl,-framework,Security", "-L/x"], folders := [])
    [('CoreFoundation', True), ('resolv', False), ('Security', True)]
    >>> folders
    [PosixPath('/x')]
    """
    found: list[tuple[str, bool]] = []
    words = iter(flags)
    for flag in words:
        if flag == "-framework":
            name = next(words, "")
            if name:
                found.append((name, True))
        elif flag.startswith("-Wl,-framework,"):
            found.append((flag.split(",", 2)[2], True))
        elif flag.startswith("-l") and len(flag) > 2:
            found.append((flag[2:], False))
        elif flag.startswith("-L") and len(flag) > 2:
            folders.append(Path(flag[2:]))
    return found


def _install_name(name: str, framework: bool, symbols: dict[str, set[str]]) -> str:
    """The path dyld loads the library from: the one Go's directives name, else the SDK's usual one."""
    if framework:
        named = [p for p in symbols if p.startswith(f"{_FRAMEWORKS}/{name}.framework/")]
        return named[0] if named else f"{_FRAMEWORKS}/{name}.framework/Versions/A/{name}"
    named = [p for p in symbols if re.fullmatch(rf"/usr/lib/lib{re.escape(name)}(\.[\d.]+)?\.dylib", p)]
    return named[0] if named else f"/usr/lib/lib{name}.dylib"


def _library_in(folder: Path, name: str) -> bool:
    return any((folder / f"lib{name}{suffix}").exists() for suffix in (".dylib", ".tbd", ".a"))


def _read(path: Path) -> str:
    try:
        return path.read_text("utf-8", errors="replace")
    except OSError:
        return ""


def stub_text(library: SdkLibrary, *, goarch: str) -> str:
    """The tapi-tbd v4 text stub of ``library`` for GOARCH's macOS."""
    target = f"{_TBD_ARCH[goarch]}-macos"
    symbols = ", ".join(f"'{s}'" for s in sorted(library.symbols))
    exports = f"exports:\n  - targets:         [ {target} ]\n    symbols:         [ {symbols} ]\n" if library.symbols else ""
    return (
        "--- !tapi-tbd\n"
        "tbd-version:     4\n"
        f"targets:         [ {target} ]\n"
        f"install-name:    '{library.install_name}'\n"
        "current-version: 1\n"
        f"{exports}"
        "...\n"
    )


def write_stubs(libraries: Sequence[SdkLibrary], directory: Path, *, goarch: str) -> Path:
    """The stubs of ``libraries`` in a folder under ``directory`` named by their content (Go's
    cache hashes CGO_LDFLAGS: the same stubs keep the same flags); the folder."""
    texts = {lib.stub: stub_text(lib, goarch=goarch) for lib in libraries}
    key = hashlib.sha256("\0".join(f"{k}\0{v}" for k, v in sorted(texts.items())).encode()).hexdigest()[:16]
    folder = directory / key
    for stub, text in texts.items():
        _fs.write_once(folder / stub, text)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def link_flags(stubs: Path) -> tuple[str, ...]:
    """What CGO_LDFLAGS adds for darwin: the stubs' folder for -framework and -l, the bundle's rpath, header room."""
    return (f"-F{stubs}", f"-L{stubs}", f"-Wl,-rpath,{RPATH}", "-Wl,-headerpad_max_install_names")


def undefined_symbols(zig_output: str) -> list[str]:
    """The symbols zig's link found no library exporting.

    >>> undefined_symbols("error: undefined symbol: _CFRelease\\n    note: referenced by x.o\\n")
    ['_CFRelease']
    """
    return _UNDEFINED.findall(zig_output)


def with_symbols(libraries: Sequence[SdkLibrary], missing: Sequence[str]) -> tuple[SdkLibrary, ...] | None:
    """``libraries`` with ``missing`` (zig's undefined symbols) added to the one stub library
    the program's own packages link (the standard library's symbols are all named by its
    directives); None when that is not one library, so the link's own error stands."""
    own = [lib for lib in libraries if lib.by_program]
    if not missing or len(own) != 1:
        return None
    return tuple(dataclasses.replace(lib, symbols=lib.symbols | set(missing)) if lib is own[0] else lib for lib in libraries)


#: The C compiler's wrapper: zig cc with each -lX once (see the module's docstring), and
#: Go's compiler probe (``CC -### -x c -c -``, run in the package's folder) answered with a
#: version line: for a macOS target zig prints the command and also leaves an empty ``-.o``
#: there, in the user's tree.
_WRAPPER = """\
#!/bin/sh
# Added by gopack: zig cc for {triple}, each -lNAME passed once (zig writes one
# LC_LOAD_DYLIB per -l on the line; dyld refuses a library loaded twice).
seen=' '
for arg do
  shift
  case $arg in
    -l*) case $seen in *" $arg "*) continue ;; esac; seen="$seen$arg " ;;
    '-###') echo 'zig {tool} version {version} (for {triple}, through gopack)'; exit 0 ;;
  esac
  set -- "$@" "$arg"
done
exec {zig} {tool} -target {triple} "$@"
"""


def compiler(target: Target, directory: Path) -> dict[str, str]:
    """CC and CXX for cgo: zig for the target's macOS, through the wrapper, in a folder
    named by its content (CC is part of Go's cache key)."""
    assert target.zig is not None and target.zig_triple is not None
    version = _proc.run([target.zig, "version"], what="zig version", error=ToolchainError).strip()
    env = {}
    for name, tool in (("CC", "cc"), ("CXX", "c++")):
        text = _WRAPPER.format(triple=target.zig_triple, zig=target.zig, tool=tool, version=version)
        path = directory / hashlib.sha256(text.encode()).hexdigest()[:16] / f"zig-{tool}"
        _fs.write_once(path, text, executable=True)
        env[name] = str(path)
    return env


@dataclass(frozen=True, kw_only=True)
class ProgramLinks:
    """What a built Mach-O program loads: its libraries in load-command order, its LC_RPATHs."""

    needed: tuple[str, ...]
    rpaths: tuple[str, ...]


def program_links(path: Path) -> ProgramLinks | None:
    """``path``'s libraries and rpaths (the macOS platform's reader); None if it is not a thin Mach-O image."""
    try:
        data = path.read_bytes()
        if macho.kind_of(data[:8]) != "thin":
            return None
        image = macho.parse(data)
    except (OSError, macho.Malformed):
        return None
    return ProgramLinks(needed=tuple(load.path for load in image.loads), rpaths=image.rpaths)
