"""Stripping: drop debug sections and local symbols from libraries, safely.

Stripping a file that patchelf has edited can break it (seen with scipy:
"ELF load command address/offset not page-aligned"): strip lays a file out
again by its sections, and the segments patchelf appended begin with bytes no
section holds, so they come out misaligned. A wheel's repair tool (auditwheel)
edits extension modules this way, and so do wheels' own build scripts (numba's
``omppool`` names ``libgomp.so.1.0.0``): nothing in a file's name says so. So
gopack strips before its own patchelf edits, never touches the libraries in a
wheel's ``*.libs`` folder, keeps the original of every file it strips, and
dlopens every stripped file with the bundle's own interpreter
(:func:`load_failures`). A file that no longer loads gets its original back:

- if the original does not load on its own either (it needs a library no wheel
  ships, such as numba's ``tbbpool`` without ``tbb``), dlopen cannot judge it:
  it ships as the wheel had it;
- otherwise the original is blanked: the bytes of its debug sections and symbol
  table, which no segment loads, are zeroed in place and the sections marked
  SHT_NOBITS. Nothing moves, so it loads as before (checked again), its size on
  disk is unchanged, and the zeros cost next to nothing in the archive (6.8 MB
  less for scipy 1.7's 17 repaired modules). If even that does not load, it
  ships as the wheel had it.

Every file shipped unstripped is listed with the reason (the manifest's
``stripped.restored``, shown by ``gopack inspect``).

The load check survives what it loads: a library may crash the process that
dlopens it (a static constructor, or a destructor at exit: matplotlib 3.11's
``ft2font`` frees pybind11 objects after the interpreter has gone, which kills
an interpreter that dlopened it without importing it, at random with address
space layout, stripped or not). The checker reports each file as it goes and
leaves with ``os._exit`` once all are reported; a batch that dies anyway is
split: the file it was loading is checked alone in a process of its own and the
rest go on in another, so a crash is pinned on one file, which the error names.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile

from gopack import _proc
from gopack.errors import BuildError
from gopack.platform import target as targets
from gopack.platform.linux.analysis import ElfInfo, is_debug, sections_of_type
from gopack.platform.target import Target

_BATCH = 200
log = logging.getLogger(__name__)


def strippable(root: Path, info: ElfInfo) -> bool:
    if any(part.endswith(".libs") for part in Path(info.path).parts):
        return False
    if info.debug is not None:
        return info.debug  # noted when its dynamic section was read
    try:
        with (root / info.path).open("rb") as f:
            # .symtab is SHT_SYMTAB and debug sections SHT_PROGBITS: only those are made.
            return any(is_debug(s) for s in sections_of_type(ELFFile(f), "SHT_SYMTAB", "SHT_PROGBITS"))
    except (OSError, ELFError):
        return False


def strip(
    root: Path, files: Iterable[ElfInfo], *, backup: Path, tool: tuple[str, str] = ("strip", "binutils")
) -> tuple[dict[str, int], dict[str, Path]]:
    """Strip what has debug sections; return each stripped path's size before, and
    the originals kept (in ``backup``), one per stripped file. ``tool``: the strip that
    reads the target's machine, and the Debian package that has it (:meth:`Target.tool`)."""
    chosen = [f for f in files if strippable(root, f)]
    if not chosen:
        return {}, {}
    name, package = tool
    program = _proc.which(name, hint=f"install {package} (apt-get install {package}), or set output.strip: false")
    kept: dict[str, Path] = {}
    for info in chosen:
        # strip writes into the file it is given (a hard link would change too): a copy.
        copy = backup / info.path
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / info.path, copy)
        kept[info.path] = copy
    before = {f.path: (root / f.path).stat().st_size for f in chosen}
    _proc.in_parallel(
        lambda batch: _proc.run([program, "--strip-unneeded", *(root / p for p in batch)], what=name),
        _proc.split(list(before), most=_BATCH),
    )
    return before, kept


_LOAD_CHECK = r"""
import ctypes, json, os, sys
mode = getattr(ctypes, "RTLD_LOCAL", 0)
for path in json.load(sys.stdin):
    try:
        ctypes.CDLL(path, mode=mode)
        why = ""
    except OSError as exc:
        why = str(exc).replace(path + ": ", "") or "dlopen failed"
    sys.stdout.write(json.dumps([path, why]) + "\n")
    sys.stdout.flush()
# Leave without the exit handlers: destructors of libraries whose module was never
# initialised may crash, and every answer is written.
os._exit(0)
"""
#: Seconds one batch of the load check may take; one that takes longer is split like a crash.
LOAD_TIMEOUT = 300.0
#: Files a checking process takes before the check is spread over more processes (one per CPU at
#: most). A process costs about 0.05 CPU s before its first file (the interpreter, ctypes, the
#: libraries the first modules load, such as openblas) and little per file after that: the sklearn
#: example's ten checking processes of 8 to 86 files each took 0.03-0.07 CPU s each.
LOAD_PER_PROCESS = 200


def load_failures(python: Path, paths: Iterable[Path], *, target: Target | None = None) -> dict[Path, str]:
    """The paths (``.so`` files) that do not dlopen in the bundle's interpreter (module
    init is not run), each with why: dlopen's message, or how the process loading it
    alone died. Batches of up to :data:`LOAD_PER_PROCESS` files run in parallel; a batch
    that dies is split (see the module's doc)."""
    wanted = [p for p in paths if p.name.endswith(".so") or ".so." in p.name]
    if not wanted:
        return {}
    parts = min(os.cpu_count() or 1, -(-len(wanted) // LOAD_PER_PROCESS))
    found = _proc.in_parallel(lambda part: _load_batch(python, part, target), _proc.split(wanted, parts))
    return {path: why for part in found for path, why in part.items()}


def _load_batch(python: Path, paths: list[Path], target: Target | None) -> dict[Path, str]:
    failed: dict[Path, str] = {}
    pending = paths
    while pending:
        ran = pending
        run = _proc.attempt(
            [*targets.launch(target, python), "-E", "-s", "-B", "-c", _LOAD_CHECK],
            input=json.dumps([os.fspath(p) for p in ran]),
            timeout=LOAD_TIMEOUT,
        )
        answered = _answers(run.stdout)
        failed.update({p: answered[p] for p in ran if answered.get(p)})
        rest = [p for p in ran if p not in answered]
        if not rest:
            break
        # The process died loading rest[0] (or the library before it left it a trap).
        suspect, pending = rest[0], rest[1:]
        if len(ran) == 1:
            failed[suspect] = f"the process loading it alone ended with {run.ended}{_last_line(run.stderr)}"
        else:
            failed.update(_load_batch(python, [suspect], target))
    return failed


def _answers(stdout: str) -> dict[Path, str]:
    """The checker's per-file answers (an unfinished last line is no answer)."""
    answers: dict[Path, str] = {}
    for line in stdout.splitlines():
        try:
            path, why = json.loads(line)
        except ValueError:
            continue
        answers[Path(path)] = str(why)
    return answers


def _last_line(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return f" ({lines[-1].strip()[:300]})" if lines else ""


@dataclass(frozen=True, kw_only=True)
class Checked:
    """What :func:`check_stripped` had to undo."""

    restored: dict[str, str] = field(default_factory=dict)  # shipped as the wheel had them: path -> why
    blanked: dict[str, int] = field(default_factory=dict)  # originals put back, then blanked: path -> bytes zeroed


def check_stripped(python: Path, root: Path, stripped: Iterable[str], kept: dict[str, Path], *, target: Target | None = None) -> Checked:
    """Every stripped file must load; one that does not gets its original back: as it
    was if the original does not load on its own either, else blanked (see the module's
    doc) if that loads, else as it was. Returns what was put back and why."""
    failed = {_rel(p, root): why for p, why in load_failures(python, [root / p for p in stripped], target=target).items()}
    if not failed:
        return Checked()
    for path in failed:
        shutil.copy2(kept[path], root / path)
    shipped = {_rel(p, root): why for p, why in load_failures(python, [root / p for p in failed], target=target).items()}
    restored = {
        p: f"does not load on its own even as the wheel shipped it ({why}); dlopen cannot judge a stripped copy"
        for p, why in shipped.items()
    }
    zeroed = {p: n for p in failed if p not in shipped and (n := blank_debug(root / p))}
    restored |= {
        p: f"stripped, it no longer loads ({failed[p]}); it has no debug sections to zero instead"
        for p in failed
        if p not in shipped and p not in zeroed
    }
    broken = {_rel(p, root): why for p, why in load_failures(python, [root / p for p in zeroed], target=target).items()}
    for path, why in broken.items():
        shutil.copy2(kept[path], root / path)
        del zeroed[path]
        restored[path] = f"stripped, it no longer loads ({failed[path]}); with its debug sections zeroed neither ({why})"
    for path, why in sorted(restored.items()):
        log.info("%s ships unstripped: %s", path, why)
    return Checked(restored=dict(sorted(restored.items())), blanked=zeroed)


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def still_load(python: Path, root: Path, stripped: Iterable[str], *, target: Target | None = None) -> None:
    """After gopack's patchelf edits, every stripped file must still load (nothing is put back now)."""
    failed = load_failures(python, [root / p for p in stripped], target=target)
    if failed:
        raise BuildError(
            "stripped libraries no longer load after relocation:\n  "
            + "\n  ".join(f"{_rel(p, root)}: {why}" for p, why in sorted(failed.items())),
            hint="set output.strip: false in the recipe and report this",
        )


_BLANKED = (".symtab", ".strtab")
_SHT_NOBITS = 8


def blank_debug(path: Path) -> int:
    """Zero, in place, the debug sections and symbol table of ``path`` and mark them
    SHT_NOBITS; return the bytes zeroed. Only bytes that belong to no segment, no
    header table and no other section are touched; a section another kept section
    links to stays."""
    with path.open("r+b") as f:
        elf = ELFFile(f)
        sections = list(elf.iter_sections())
        chosen = {
            i
            for i, s in enumerate(sections)
            if (s.name.startswith(".debug") or s.name in _BLANKED)
            and not s["sh_flags"] & SH_FLAGS.SHF_ALLOC
            and s["sh_type"] != "SHT_NOBITS"
            and i != elf["e_shstrndx"]
        }
        while True:  # keep what a kept section links to (.strtab of a kept .symtab, say)
            linked = {s["sh_link"] for i, s in enumerate(sections) if i not in chosen}
            if not chosen & linked:
                break
            chosen -= linked
        taken = [(seg["p_offset"], seg["p_offset"] + seg["p_filesz"]) for seg in elf.iter_segments()]
        taken += [(elf["e_phoff"], elf["e_phoff"] + elf["e_phnum"] * elf["e_phentsize"])]
        taken += [(elf["e_shoff"], elf["e_shoff"] + elf["e_shnum"] * elf["e_shentsize"]), (0, elf["e_ehsize"])]
        taken += [_extent(s) for i, s in enumerate(sections) if i not in chosen and s["sh_type"] != "SHT_NOBITS"]
        chosen = {i for i in chosen if not any(_overlap(_extent(sections[i]), t) for t in taken)}
        word = "<I" if elf.little_endian else ">I"
        header_at, header_size = elf["e_shoff"], elf["e_shentsize"]
        total = 0
        for i in sorted(chosen):
            start, end = _extent(sections[i])
            f.seek(start)
            f.write(bytes(end - start))
            f.seek(header_at + i * header_size + 4)  # sh_type follows the 4-byte sh_name
            f.write(struct.pack(word, _SHT_NOBITS))
            total += end - start
    return total


def _extent(section: object) -> tuple[int, int]:
    offset, size = section["sh_offset"], section["sh_size"]  # type: ignore[index]
    return int(offset), int(offset) + int(size)


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]
