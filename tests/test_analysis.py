"""ELF analysis: lddtree's platform of a file is read once per version of the file."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

from auditwheel import lddtree
from elftools.elf.elffile import ELFFile

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
