"""ELF analysis of a bundle tree: what every file needs and where it resolves.

Pure reading, no edits (those are :mod:`gopack.platform.linux.patch`). Dependency trees come
from auditwheel's ``lddtree`` with search paths set the way ld.so sets them for
a bundle: the file's own DT_RPATH/DT_RUNPATH with ``$ORIGIN`` expanded, and,
for objects without DT_RUNPATH, the DT_RPATH of the executables that load them
(the Go binary and ``python3.X`` both carry ``$ORIGIN/../python/lib``), then
the system's ld.so.conf paths. The build machine's ``LD_LIBRARY_PATH`` is never
consulted. What a host must provide comes from auditwheel's manylinux policy,
narrowed to the glibc and gcc runtime libraries (see :data:`HOST_LIBRARIES`).
"""

from __future__ import annotations

import array
import os
import re
import struct
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from auditwheel import lddtree
from auditwheel.architecture import Architecture
from auditwheel.lddtree import LIBPYTHON_RE, DynamicExecutable, Platform, ldd, load_ld_paths
from auditwheel.libc import Libc
from auditwheel.policy import WheelPolicies
from elftools.common.exceptions import ELFError
from elftools.common.utils import struct_parse
from elftools.elf.dynamic import DynamicSection, DynamicTag
from elftools.elf.elffile import ELFFile
from elftools.elf.enums import ENUM_E_MACHINE
from elftools.elf.gnuversions import GNUVerNeedSection, GNUVerSymSection
from elftools.elf.sections import Section, SymbolTableSection
from elftools.elf.segments import InterpSegment

from gopack.errors import ToolchainError

#: Libraries a bundle may take from its host: those of auditwheel's manylinux
#: whitelist that glibc and gcc's runtime provide. The policy also lists libz,
#: libexpat, X11, GL and glib, which a minimal host (a container with glibc
#: only) lacks: gopack vendors those.
HOST_LIBRARIES = frozenset(
    {
        "libc.so.6",
        "libm.so.6",
        "libdl.so.2",
        "libpthread.so.0",
        "librt.so.1",
        "libutil.so.1",
        "libresolv.so.2",
        "libanl.so.1",
        "libmvec.so.1",
        "libgcc_s.so.1",
        "libstdc++.so.6",
    }
)
LOADER = re.compile(r"^(ld-linux.*|ld64\.so\.[12])$")
_SYMBOL_FAMILIES = ("GLIBC", "GLIBCXX", "CXXABI", "GCC")
#: .gnu.version values pyelftools names (VER_NDX_LOCAL, _GLOBAL, _LORESERVE, _ELIMINATE): never a needed version.
_RESERVED_VERSION_INDICES = frozenset({0, 1, 0xFF00, 0xFF01})
#: e_machine -> its name (EM_X86_64, EM_AARCH64, ...), as pyelftools names it.
_MACHINE_NAMES = {number: name for name, number in ENUM_E_MACHINE.items() if name.startswith("EM_")}
_MACHINE_ARCH = {"EM_X86_64": Architecture.x86_64, "EM_AARCH64": Architecture.aarch64, "EM_386": Architecture.i686}


def _read_once(read: Callable[[ELFFile], Platform]) -> Callable[[ELFFile], Platform]:
    """``read`` (lddtree's platform of an open ELF file) done once per version of a file.

    lddtree reads the platform of a library each time a tree reaches it, twice (to choose
    it, then to follow it), and pyelftools makes every section of the file for that (the
    x86-64 ISA level is in a note). A bundle has dozens of trees that reach libopenblas:
    this was a fifth of the ELF analysis. The platform is a property of the file's bytes,
    so a file is known by its device, inode, size and modification time; an edited file
    is read again.
    """
    seen: dict[tuple[int, int, int, int], Platform] = {}

    def platform(elf: ELFFile) -> Platform:
        try:
            st = os.fstat(elf.stream.fileno())
        except (AttributeError, OSError, ValueError):  # not a file on disk
            return read(elf)
        version = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        if version not in seen:
            seen[version] = read(elf)
        return seen[version]

    return platform


# auditwheel is pinned (pyproject.toml): ldd() and find_lib() call this module-level name.
lddtree._get_platform = _read_once(lddtree._get_platform)  # type: ignore[assignment]  # a module function replaced by a wrapper of the same signature


@dataclass(frozen=True, kw_only=True)
class ElfInfo:
    """One dynamic ELF file in the bundle."""

    path: str  # relative to the bundle root
    needed: tuple[str, ...]
    rpath: tuple[str, ...]  # as written, e.g. ("$ORIGIN/../lib",)
    runpath: tuple[str, ...]
    soname: str | None
    abi: tuple[str, int, bool, str]  # OS ABI, class, little-endian, machine: what decides if a library may load it
    loader: bool  # has a PT_INTERP (an executable)
    #: Symbol version (GLIBC_2.34, GLIBCXX_3.4.11, ...) -> the undefined symbols needing it. Strip,
    #: blanking and patchelf's edits leave .gnu.version_r and .dynsym alone: read once
    #: (empty when read with ``versions=False``).
    versions: Mapping[str, frozenset[str]]
    #: Has what strip removes (.symtab, .debug* sections); None when read with ``versions=False``.
    debug: bool | None = None


@dataclass(frozen=True, kw_only=True)
class External:
    """A library that resolves outside the bundle and is not a host library."""

    soname: str
    source: Path  # the host file it resolved to
    needed_by: tuple[str, ...]  # bundle files (relative) or sonames of other externals


@dataclass(frozen=True, kw_only=True)
class Analysis:
    files: tuple[ElfInfo, ...]
    externals: tuple[External, ...]
    unresolved: tuple[tuple[str, str], ...]  # (needed by, soname)
    host_libraries: tuple[str, ...]  # host libraries some file needs
    absolute_paths: tuple[tuple[str, str], ...]  # (file, search path entry not under $ORIGIN)


def is_elf(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def elf_info(root: Path, rel: str, *, versions: bool = True) -> ElfInfo | None:
    """The dynamic section of ``root/rel``, and its symbol versions unless told not to;
    None for static or non-loadable files."""
    try:
        with (root / rel).open("rb") as f:
            elf = ELFFile(f)
            if elf.header["e_type"] not in ("ET_DYN", "ET_EXEC"):
                return None
            # The full read also notes the sections strip removes, in the same pass over the headers.
            wanted = ("SHT_GNU_verneed", "SHT_GNU_versym", "SHT_DYNSYM", "SHT_SYMTAB", "SHT_PROGBITS") if versions else ()
            sections, debug = _sections(elf, "SHT_DYNAMIC", *wanted)
            dynamic = sections.get("SHT_DYNAMIC")
            if not isinstance(dynamic, DynamicSection):
                return None
            needed: list[str] = []
            rpath: tuple[str, ...] = ()
            runpath: tuple[str, ...] = ()
            soname: str | None = None
            for tag in dynamic.iter_tags():
                kind = tag.entry.d_tag
                if kind == "DT_NEEDED":
                    needed.append(tag_text(tag))
                elif kind == "DT_RPATH":
                    rpath = tuple(p for p in tag_text(tag).split(":") if p)
                elif kind == "DT_RUNPATH":
                    runpath = tuple(p for p in tag_text(tag).split(":") if p)
                elif kind == "DT_SONAME":
                    soname = tag_text(tag)
            abi = (elf.header["e_ident"]["EI_OSABI"], elf.elfclass, elf.little_endian, elf.header["e_machine"])
            loader = any(
                struct_parse(elf.structs.Elf_Phdr, elf.stream, stream_pos=elf.header["e_phoff"] + i * elf.header["e_phentsize"])["p_type"]
                == "PT_INTERP"
                for i in range(elf.num_segments())
            )
            found = {v: frozenset(s) for v, s in _versioned_symbols(elf, sections).items() if v.partition("_")[0] in _SYMBOL_FAMILIES}
    except (OSError, ELFError):
        return None
    return ElfInfo(
        path=rel,
        needed=tuple(needed),
        rpath=rpath,
        runpath=runpath,
        soname=soname,
        abi=abi,
        loader=loader,
        versions=found,
        debug=debug if versions else None,
    )


def elf_machine(path: Path) -> str:
    """The ELF machine of ``path`` (EM_X86_64, EM_AARCH64, ...)."""
    try:
        with path.open("rb") as f:
            return str(ELFFile(f).header["e_machine"])
    except (OSError, ELFError) as exc:
        raise ToolchainError(f"{path} is not a readable ELF file: {exc}") from None


def elf_interpreter(path: Path) -> str | None:
    """The ELF interpreter (PT_INTERP) ``path`` names; None for a static program or a library."""
    with path.open("rb") as f:
        for segment in ELFFile(f).iter_segments():
            if segment["p_type"] == "PT_INTERP" and isinstance(segment, InterpSegment):
                return str(segment.get_interp_name())
    return None


def header_machine(head: bytes) -> str | None:
    """The ELF machine an ELF header names (the first bytes of a file); None for a file that is not ELF."""
    if len(head) < 20 or head[:4] != b"\x7fELF" or head[5] not in (1, 2):
        return None
    number = int.from_bytes(head[18:20], "little" if head[5] == 1 else "big")
    return _MACHINE_NAMES.get(number, f"EM_{number}")


def tag_text(tag: DynamicTag) -> str:
    """The string of a DT_NEEDED, DT_RPATH, DT_RUNPATH or DT_SONAME tag. pyelftools sets it
    with setattr, as an attribute named after the tag (``tag.soname``), which no type checker sees."""
    return str(getattr(tag, tag.entry.d_tag[3:].lower()))


def _sections(elf: ELFFile, *types: str) -> tuple[dict[str, Section], bool]:
    """The first section of each of ``types`` (SHT_DYNAMIC, ...), by type; and whether any is one
    strip removes (a symbol table, a debug section)."""
    found: dict[str, Section] = {}
    debug = False
    for section in sections_of_type(elf, *types):
        found.setdefault(section["sh_type"], section)
        debug = debug or is_debug(section)
    return found, debug


def is_debug(section: Section) -> bool:
    """A section ``strip --strip-unneeded`` removes: the symbol table, debug information."""
    return section.name == ".symtab" or (section["sh_type"] == "SHT_PROGBITS" and section.name.startswith(".debug"))


def sections_of_type(elf: ELFFile, *types: str) -> Iterator[Section]:
    """The sections of ``types``, in order.

    Only those sections are made: ``get_section_by_name`` and ``iter_sections``
    make every section, GNU hash tables included, which costs most of the time
    when reading a few hundred libraries.
    """
    for i in range(elf.num_sections()):
        try:
            yield elf.get_section(i, type=types)  # reads the header; makes the section only if of a type asked for
        except ELFError:
            continue


def elf_files(root: Path, *, under: Path | None = None, skip: Path | None = None) -> list[ElfInfo]:
    """The dynamic ELF files under ``root`` (or under ``under`` in it, never under ``skip``),
    paths relative to ``root``, in :func:`walk_order`."""
    found = []
    for dirpath, dirnames, filenames in os.walk(under or root):
        dirnames[:] = sorted(d for d in dirnames if skip is None or Path(dirpath, d) != skip)
        for name in sorted(filenames):
            full = Path(dirpath) / name
            if full.is_symlink() or not is_elf(full):
                continue
            info = elf_info(root, full.relative_to(root).as_posix())
            if info is not None:
                found.append(info)
    return found


def walk_order(path: str) -> list[tuple[int, str]]:
    """The order :func:`elf_files` lists files in, as a sort key: by folder, a folder's own
    files (sorted) before its subfolders (sorted)."""
    *folders, name = path.split("/")
    return [*((1, f) for f in folders), (0, name)]


@dataclass(frozen=True, kw_only=True)
class FileFacts:
    """What the dependency tree of one bundle file shows; :func:`combine` joins them."""

    info: ElfInfo
    externals: Mapping[str, tuple[Path, frozenset[str]]]  # soname -> (host file, needers)
    unresolved: frozenset[tuple[str, str]]
    in_context: frozenset[tuple[str, str]]  # (bundle library, soname) this tree resolves inside
    host: frozenset[str]
    absolute: frozenset[tuple[str, str]]
    reaches: frozenset[str]  # the bundle files (relative paths) its tree loads


def analyse(
    root: Path,
    *,
    executable_rpath: Iterable[Path],
    allowed: frozenset[str] = HOST_LIBRARIES,
    only: frozenset[str] | None = None,
) -> Analysis:
    """Resolve every DT_NEEDED of every ELF under ``root`` (or of the files in ``only``)
    as ld.so would at run time.

    ``executable_rpath``: absolute directories the loading executables' DT_RPATH
    contributes to objects without DT_RUNPATH.
    """
    return combine(facts(root, executable_rpath=executable_rpath, allowed=allowed, only=only).values())


def facts(
    root: Path,
    *,
    executable_rpath: Iterable[Path],
    allowed: frozenset[str] = HOST_LIBRARIES,
    only: Iterable[str] | None = None,
    files: Sequence[ElfInfo] | None = None,
    known: Mapping[str, FileFacts] | None = None,
    ld_paths: Sequence[str] | None = None,
) -> dict[str, FileFacts]:
    """:class:`FileFacts` of every ELF under ``root`` (or of the files in ``only``), by path.
    ``files``: :func:`elf_files` of ``root``, if the caller has it; ``known``: facts of some
    of them the caller found already. ``ld_paths``: the directories the target's ld.so
    searches (a root's, see :mod:`gopack.platform.target`); the host's ld.so.conf when None.

    Host libraries are not followed: lddtree is told to leave them out of the
    trees, which makes it several times faster (it would otherwise parse libc,
    libm and libstdc++ again for every file). What the bundle takes from the
    host is then the host libraries its files and the libraries they load name
    in DT_NEEDED; what those need in turn comes with them.
    """
    root = root.resolve()
    inherited = [str(p) for p in executable_rpath]
    if only is not None:
        files = [info for info in (elf_info(root, rel) for rel in sorted(only)) if info is not None]
    elif files is None:
        files = elf_files(root)
    system = list(ld_paths) if ld_paths is not None else load_ld_paths(Libc.GLIBC)["conf"]
    exclude = frozenset({*allowed, "ld-linux*", "ld64.so.*"})
    needed: dict[Path, tuple[str, ...]] = {}
    trees: dict[tuple[object, ...], DynamicExecutable] = {}
    known = known or {}
    return {
        info.path: known.get(info.path) or _file_facts(root, info, inherited, system, allowed, exclude, needed, trees) for info in files
    }


def _file_facts(
    root: Path,
    info: ElfInfo,
    inherited: list[str],
    system: list[str],
    allowed: frozenset[str],
    exclude: frozenset[str],
    needed: dict[Path, tuple[str, ...]],
    trees: dict[tuple[object, ...], DynamicExecutable],
) -> FileFacts:
    absolute = {(info.path, e) for e in info.rpath + info.runpath if not e.startswith(("$ORIGIN", "${ORIGIN}"))}
    host = {s for s in info.needed if s in allowed}
    if all(s in host or LOADER.match(s) or (LIBPYTHON_RE.match(s) and _in_bundle_libpython(root, s)) for s in info.needed):
        # Needs only what lddtree would leave out or skip (most extension modules): its tree is empty.
        empty: frozenset[tuple[str, str]] = frozenset()
        return FileFacts(
            info=info,
            externals={},
            unresolved=empty,
            in_context=empty,
            host=frozenset(host),
            absolute=frozenset(absolute),
            reaches=frozenset(),
        )
    # lddtree reads of a file its DT_NEEDED, the folders its DT_RPATH and DT_RUNPATH name (with
    # $ORIGIN, its own folder, expanded), its ELF ABI and PT_INTERP, nothing else: files that
    # agree on those have the same tree. scipy's modules are in a dozen folders, and
    # $ORIGIN/../../scipy.libs from one is $ORIGIN/../../../scipy.libs from another.
    where = str(root / info.path)
    searched = tuple(tuple(lddtree.parse_ld_paths(":".join(paths), path=where)) for paths in (info.rpath, info.runpath))
    same_tree = (*searched, bool(info.runpath), info.needed, info.abi, info.loader)
    if same_tree not in trees:
        trees[same_tree] = _tree(root / info.path, [] if info.runpath else inherited, system, exclude)
    tree = trees[same_tree]
    parents = _parents(tree)
    externals: dict[str, tuple[Path, frozenset[str]]] = {}
    unresolved: set[tuple[str, str]] = set()
    reaches = set()
    for soname, lib in tree.libraries.items():
        if LOADER.match(soname) or (LIBPYTHON_RE.match(soname) and _in_bundle_libpython(root, soname)):
            continue
        needers = {_needer(tree, info.path, p, root) for p in parents.get(soname, {None})}
        if lib.realpath is None:
            unresolved.update((n, soname) for n in needers)
            continue
        host.update(s for s in _needed(lib.realpath, needed) if s in allowed)
        if _inside(lib.realpath, root):
            reaches.add(lib.realpath.resolve().relative_to(root).as_posix())
        else:
            externals[soname] = (lib.realpath, frozenset(needers))
    return FileFacts(
        info=info,
        externals=externals,
        unresolved=frozenset(unresolved),
        in_context=frozenset(_resolved_inside(tree, root)),
        host=frozenset(host),
        absolute=frozenset(absolute),
        reaches=frozenset(reaches),
    )


def combine(all_facts: Iterable[FileFacts]) -> Analysis:
    """One :class:`Analysis` from the facts of each file (in :func:`elf_files` order:
    an external library found by two files is taken from where the first found it)."""
    all_facts = list(all_facts)
    externals: dict[str, tuple[Path, set[str]]] = {}
    for f in all_facts:
        for soname, (source, needers) in sorted(f.externals.items()):
            externals.setdefault(soname, (source, set()))[1].update(needers)
    unresolved = {u for f in all_facts for u in f.unresolved}
    in_context = {c for f in all_facts for c in f.in_context}
    return Analysis(
        files=tuple(f.info for f in all_facts),
        externals=tuple(External(soname=s, source=src, needed_by=tuple(sorted(by))) for s, (src, by) in sorted(externals.items())),
        # A library wheels vendored (numpy.libs/libgfortran) may find its own
        # needs only because the module loading it already loaded them: what
        # resolves in some loading tree is resolved.
        unresolved=tuple(sorted(unresolved - in_context)),
        host_libraries=tuple(sorted({h for f in all_facts for h in f.host})),
        absolute_paths=tuple(sorted({a for f in all_facts for a in f.absolute})),
    )


def _needed(path: Path, seen: dict[Path, tuple[str, ...]]) -> tuple[str, ...]:
    """DT_NEEDED of ``path`` in full (lddtree's lists leave the excluded host libraries out)."""
    if path not in seen:
        info = elf_info(path.parent, path.name, versions=False)
        seen[path] = info.needed if info is not None else ()
    return seen[path]


def _tree(path: Path, inherited: list[str], system: list[str], exclude: frozenset[str]) -> DynamicExecutable:
    # A fresh ldpaths dict per file: ldd() writes the loader's directory into it.
    return ldd(path, ldpaths={"conf": list(system), "env": [], "interp": [], "rpath": list(inherited), "runpath": []}, exclude=exclude)


def _parents(tree: DynamicExecutable) -> dict[str, set[str | None]]:
    """soname -> who needs it: None for the analysed file itself, else another soname."""
    parents: dict[str, set[str | None]] = {}
    for soname in tree.needed:
        parents.setdefault(soname, set()).add(None)
    for name, lib in tree.libraries.items():
        for soname in lib.needed:
            parents.setdefault(soname, set()).add(name)
    return parents


def _resolved_inside(tree: DynamicExecutable, root: Path) -> set[tuple[str, str]]:
    """(bundle library, soname) pairs this tree resolves to a file inside the bundle."""
    found = set()
    for lib in tree.libraries.values():
        if lib.realpath is None or not _inside(lib.realpath, root):
            continue
        rel = lib.realpath.resolve().relative_to(root).as_posix()
        for soname in lib.needed:
            dep = tree.libraries.get(soname)
            if dep is not None and dep.realpath is not None and _inside(dep.realpath, root):
                found.add((rel, soname))
    return found


def _needer(tree: DynamicExecutable, analysed: str, parent: str | None, root: Path) -> str:
    """Who needs a library: the analysed file, another bundle file (relative path),
    or an external library (its soname)."""
    if parent is None:
        return analysed
    realpath = tree.libraries[parent].realpath
    if realpath is not None and _inside(realpath, root):
        return realpath.resolve().relative_to(root).as_posix()
    return parent


def _inside(path: Path, root: Path) -> bool:
    return path.resolve().is_relative_to(root)


def _in_bundle_libpython(root: Path, soname: str) -> bool:
    return (root / "python" / "lib" / soname).is_file()


# -- symbol versions, the glibc floor and the platform tag ---------------------------------


def _versioned_symbols(elf: ELFFile, sections: Mapping[str, Section]) -> dict[str, set[str]]:
    """Version name -> the undefined symbols that require it (GLIBC_2.14 -> {memcpy})."""
    verneed, versym, dynsym = sections.get("SHT_GNU_verneed"), sections.get("SHT_GNU_versym"), sections.get("SHT_DYNSYM")
    if not isinstance(verneed, GNUVerNeedSection):
        return {}
    names = {}
    for _, auxiliaries in verneed.iter_versions():
        for aux in auxiliaries:
            names[aux.entry["vna_other"]] = aux.name
    found: dict[str, set[str]] = {name: set() for name in names.values()}
    if isinstance(versym, GNUVerSymSection) and isinstance(dynsym, SymbolTableSection):
        # .gnu.version is one 16-bit index per dynamic symbol. Reading it as an
        # array and parsing only the symbols whose index names a needed version
        # gives what parsing every entry would, many times faster (libopenblas
        # exports thousands of symbols and imports a few dozen).
        indices = array.array("H", versym.data())
        if elf.little_endian != (sys.byteorder == "little"):
            indices.byteswap()
        wanted = {n for n in names if n not in _RESERVED_VERSION_INDICES}
        for i, name in _undefined(elf, dynsym, [i for i, index in enumerate(indices) if index in wanted]):
            found[names[indices[i]]].add(name)
    return found


#: Elf32_Sym and Elf64_Sym (st_name first; st_shndx the fourth and sixth field).
_SYMBOL_LAYOUT = {32: ("IIIBBH", 5), 64: ("IBBHQQ", 3)}


def _undefined(elf: ELFFile, dynsym: SymbolTableSection, positions: Iterable[int]) -> Iterator[tuple[int, str]]:
    """(position, name) of the undefined symbols among ``positions`` of ``dynsym``.

    The entries are unpacked with :mod:`struct` from the section pyelftools found; its
    ``get_symbol`` parses each through construct, which was a third of reading a library
    (libscipy_openblas needs a few hundred). pyelftools does it for a table whose entry size
    is not the standard one."""
    layout, shndx = _SYMBOL_LAYOUT[elf.elfclass]
    entry = struct.Struct(("<" if elf.little_endian else ">") + layout)
    if dynsym["sh_entsize"] != entry.size:
        for i in positions:
            symbol = dynsym.get_symbol(i)
            if symbol.entry["st_shndx"] == "SHN_UNDEF":
                yield i, symbol.name
        return
    data, names = dynsym.data(), dynsym.stringtable
    for i in positions:
        if (i + 1) * entry.size > len(data):  # .gnu.version longer than .dynsym: a broken or hostile file
            raise ELFError(f"symbol {i} is past the end of .dynsym ({len(data)} bytes)")
        fields = entry.unpack_from(data, i * entry.size)
        if fields[shndx] == 0:  # SHN_UNDEF
            yield i, names.get_string(fields[0])


def version_key(version: str) -> tuple[int, ...]:
    """``GLIBC_2.17`` -> (2, 17); non-numeric parts sort first."""
    return tuple(int(p) for p in re.findall(r"\d+", version.partition("_")[2]))


@dataclass(frozen=True, kw_only=True)
class Floor:
    """The newest symbol version of each family any file needs, and the tag that allows it."""

    highest: Mapping[str, str]  # family -> e.g. "2.34"
    tag: str  # manylinux_2_34_x86_64, or linux_x86_64
    requirements: Mapping[str, Mapping[str, frozenset[str]]]  # file -> version -> symbols


def symbol_requirements(files: Iterable[ElfInfo]) -> dict[str, dict[str, frozenset[str]]]:
    """file -> symbol version (GLIBC_2.34, GLIBCXX_3.4.11, ...) -> symbols needing it."""
    return {info.path: dict(info.versions) for info in files if info.versions}


def floor_of(requirements: Mapping[str, Mapping[str, frozenset[str]]], machine: str) -> Floor:
    """The newest version of each family, and the manylinux tag auditwheel's policy gives them."""
    highest: dict[str, str] = {}
    for versions in requirements.values():
        for version in versions:
            family = version.partition("_")[0]
            if family not in highest or version_key(version) > version_key(f"{family}_{highest[family]}"):
                highest[family] = version.partition("_")[2]
    policy = _policies(machine).versioned_symbols_policy({f: set(v) for f, v in requirements.items()})
    return Floor(highest=dict(sorted(highest.items())), tag=policy.name, requirements=requirements)


def too_new(floor: Floor, max_glibc: str) -> list[tuple[str, str, frozenset[str]]]:
    """(file, version, symbols) for every GLIBC_ requirement newer than ``max_glibc``."""
    limit = version_key(f"GLIBC_{max_glibc}")
    return [
        (path, version, symbols)
        for path, versions in sorted(floor.requirements.items())
        for version, symbols in sorted(versions.items())
        if version.startswith("GLIBC_") and version_key(version) > limit
    ]


def _policies(machine: str) -> WheelPolicies:
    arch = _MACHINE_ARCH.get(machine)
    if arch is None:
        raise ValueError(f"no manylinux policy for ELF machine {machine}")
    return WheelPolicies(libc=Libc.GLIBC, arch=arch)
