"""A thousand damaged copies of a real bundle's archives: ``gopack inspect`` and ``gopack
verify`` answer each with their documented exit code and an error line naming the
archive, or (where the damage left the archive whole) with what it holds. Never a traceback.

The archives are tests/data/small (the hello example, pruned hard so that a thousand
readings stay cheap), built once per session in every format. GOPACK_FUZZ_ARCHIVES
sets how many damaged copies (default 1,000), GOPACK_FUZZ_SEED the seed (default 17).

Then byte flips inside the bundle's own small ELF files, after extraction: the linkage
check, which reads them as root before any sandbox, fails naming the file or passes,
never raises (GOPACK_FUZZ_ELF_FLIPS flips, default 400).
"""

from __future__ import annotations

import collections
import io
import json
import os
import random
import tarfile
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import zstandard
from conftest import DATA, cli_state, require_pyenv
from elftools.elf.elffile import ELFFile

from gopack import cli, pipeline
from gopack.archive import unpack
from gopack.errors import GopackError
from gopack.platform.linux import linkage
from gopack.platform.linux.platform import LINUX
from gopack.recipe import model as recipe
from gopack.verify import checks as verify

COUNT = int(os.environ.get("GOPACK_FUZZ_ARCHIVES", "1000"))
ELF_FLIPS = int(os.environ.get("GOPACK_FUZZ_ELF_FLIPS", "400"))
SEED = int(os.environ.get("GOPACK_FUZZ_SEED", "17"))
FORMATS = ("tar.gz", "tar.zst", "zip")
USER_ERRORS = (5, 6)  # a failed verification; an archive that cannot be used at all


@pytest.fixture(scope="module")
def originals(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    require_pyenv("3.7")
    out = tmp_path_factory.mktemp("small-archives")
    mp = pytest.MonkeyPatch()
    mp.setenv("GOPACK_CACHE_DIR", str(tmp_path_factory.mktemp("small-cache")))
    try:
        small = recipe.load(DATA / "small" / "recipe.yaml")
        return {fmt: pipeline.bundle(small, output_dir=out / fmt, fmt=fmt).archive.read_bytes() for fmt in FORMATS}
    finally:
        mp.undo()


def damaged(originals: dict[str, bytes], count: int, seed: int) -> Iterator[tuple[str, str, bytes]]:
    """(format, what was done, the bytes): byte-level damage anywhere, and archives
    repacked with a manifest that is missing, broken or disagrees with the entries."""
    rng = random.Random(seed)
    for i in range(count):
        fmt = FORMATS[i % len(FORMATS)]
        raw = originals[fmt]
        if i % 10 == 9:
            how, change = rng.choice(_REPACKS)
            yield fmt, how, _repacked(fmt, raw, change)
            continue
        how, damage = rng.choice(_DAMAGE)
        yield fmt, how, damage(rng, raw)


def _truncate(rng: random.Random, raw: bytes) -> bytes:
    return raw[: rng.randrange(len(raw))]


def _head(rng: random.Random, raw: bytes) -> bytes:
    return raw[: rng.randrange(1, 2048)]


def _flip(rng: random.Random, raw: bytes) -> bytes:
    data = bytearray(raw)
    for _ in range(rng.randrange(1, 9)):
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    return bytes(data)


def _flip_near_end(rng: random.Random, raw: bytes) -> bytes:
    """Where zip keeps its directory and gzip/zstd their checksums."""
    data = bytearray(raw)
    data[len(data) - rng.randrange(1, 4096)] ^= 0xFF
    return bytes(data)


def _zero_block(rng: random.Random, raw: bytes) -> bytes:
    size = rng.choice((16, 512, 4096, 65536))
    at = rng.randrange(len(raw))
    return raw[:at] + bytes(min(size, len(raw) - at)) + raw[at + size :]


def _insert(rng: random.Random, raw: bytes) -> bytes:
    at = rng.randrange(len(raw))
    return raw[:at] + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64))) + raw[at:]


def _drop_span(rng: random.Random, raw: bytes) -> bytes:
    at = rng.randrange(len(raw))
    return raw[:at] + raw[at + rng.randrange(1, 100_000) :]


def _append(rng: random.Random, raw: bytes) -> bytes:
    return raw + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 4096)))


def _empty(rng: random.Random, raw: bytes) -> bytes:
    return b""


_DAMAGE: tuple[tuple[str, Callable[[random.Random, bytes], bytes]], ...] = tuple(
    (f.__name__.lstrip("_"), f)
    for f in (_truncate, _truncate, _head, _flip, _flip, _flip, _flip_near_end, _zero_block, _insert, _drop_span, _append, _empty)
)

# -- repacked: the entries as they were, the manifest changed ---------------------------------

Change = Callable[[dict[str, bytes]], dict[str, bytes]]


def _manifest_name(entries: dict[str, bytes]) -> str:
    return next(n for n in entries if n.endswith("/gopack.json") and n.count("/") == 1)


def _edit_manifest(edit: Callable[[dict[str, object]], object]) -> Change:
    def change(entries: dict[str, bytes]) -> dict[str, bytes]:
        name = _manifest_name(entries)
        document = json.loads(entries[name])
        result = edit(document)
        entries[name] = json.dumps(document if result is None else result).encode()
        return entries

    return change


def _set(key: str, value: object) -> Callable[[dict[str, object]], object]:
    def edit(document: dict[str, object]) -> None:
        document[key] = value

    return edit


def _first_file(edit: Callable[[dict[str, object]], None]) -> Callable[[dict[str, object]], object]:
    def apply(document: dict[str, object]) -> None:
        files = document["files"]
        assert isinstance(files, list)
        edit(next(f for f in files if "sha256" in f))

    return apply


def _without_manifest(entries: dict[str, bytes]) -> dict[str, bytes]:
    del entries[_manifest_name(entries)]
    return entries


def _manifest_bytes(data: bytes) -> Change:
    def change(entries: dict[str, bytes]) -> dict[str, bytes]:
        entries[_manifest_name(entries)] = data
        return entries

    return change


def _extra_file(entries: dict[str, bytes]) -> dict[str, bytes]:
    top = _manifest_name(entries).split("/")[0]
    entries[f"{top}/bin/unlisted"] = b"#!/bin/sh\necho not in the manifest\n"
    return entries


def _drop_a_file(entries: dict[str, bytes]) -> dict[str, bytes]:
    victim = next(n for n, d in entries.items() if d and not n.endswith("gopack.json"))
    del entries[victim]
    return entries


def _pop_key(key: str) -> Callable[[dict[str, object]], object]:
    def edit(document: dict[str, object]) -> None:
        document.pop(key, None)

    return edit


def _wrong_sha(entry: dict[str, object]) -> None:
    entry["sha256"] = "0" * 64


def _wrong_size(entry: dict[str, object]) -> None:
    entry["size"] = int(str(entry["size"])) + 1


def _drop_files(document: dict[str, object]) -> None:
    files = document["files"]
    assert isinstance(files, list)
    document["files"] = files[1:]


_REPACKS: tuple[tuple[str, Change], ...] = (
    ("manifest missing", _without_manifest),
    ("manifest not JSON", _manifest_bytes(b"{not json")),
    ("manifest a JSON array", _manifest_bytes(b"[]")),
    ("manifest not UTF-8", _manifest_bytes(b'{"name": "\xff"}')),
    ("manifest empty", _manifest_bytes(b"")),
    ("manifest without files", _edit_manifest(_pop_key("files"))),
    ("manifest without smoke", _edit_manifest(_pop_key("smoke"))),
    ("manifest without version", _edit_manifest(_pop_key("version"))),
    ("manifest files a string", _edit_manifest(_set("files", "all of them"))),
    ("manifest lists a wrong sha256", _edit_manifest(_first_file(_wrong_sha))),
    ("manifest lists a wrong size", _edit_manifest(_first_file(_wrong_size))),
    ("manifest leaves a file out", _edit_manifest(_drop_files)),
    ("an entry the manifest does not list", _extra_file),
    ("an entry the manifest lists is missing", _drop_a_file),
)


def _repacked(fmt: str, raw: bytes, change: Change) -> bytes:
    """The archive's regular files (links as they were dropped), changed, written again."""
    entries: dict[str, bytes] = {}
    if fmt == "zip":
        with zipfile.ZipFile(io.BytesIO(raw)) as zf:
            entries = {i.filename: zf.read(i) for i in zf.infolist() if not i.is_dir()}
    else:
        stream: io.BufferedIOBase | io.BytesIO = io.BytesIO(raw)
        if fmt == "tar.zst":
            stream = io.BytesIO(zstandard.ZstdDecompressor().stream_reader(io.BytesIO(raw), read_across_frames=True).read())
        with tarfile.open(fileobj=stream, mode="r:*") as tar:
            for member in tar:
                if member.isfile():
                    data = tar.extractfile(member)
                    assert data is not None
                    entries[member.name] = data.read()
    entries = change(entries)
    out = io.BytesIO()
    if fmt == "zip":
        with zipfile.ZipFile(out, "w") as zf:
            for name, data in entries.items():
                zf.writestr(name, data)
        return out.getvalue()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    plain = out.getvalue()
    if fmt == "tar.zst":
        return zstandard.ZstdCompressor().compress(plain)
    import gzip

    return gzip.compress(plain, mtime=0)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    with cli_state():
        code = cli.main(list(argv))
    return code, capsys.readouterr().err


def test_damaged_archives_get_one_clear_error(originals: dict[str, bytes], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outcomes: collections.Counter[str] = collections.Counter()
    problems: list[str] = []
    for i, (fmt, how, data) in enumerate(damaged(originals, COUNT, SEED)):
        path = tmp_path / f"small-0.1.0-cp37-manylinux_2_17_x86_64.{fmt}"
        path.write_bytes(data)
        what = f"#{i} {fmt} {how}"
        code, err = run(capsys, "inspect", "-q", str(path))
        problems += _judge(what, "inspect", code, err, path)
        if code != 0:
            vcode, verr = run(capsys, "verify", "-q", str(path))
            problems += _judge(what, "verify", vcode, verr, path)
            if vcode == 0:
                problems.append(f"{what}: inspect refused it but verify passed it")
            outcomes[f"refused ({fmt})"] += 1
        else:
            # The damage left an archive that reads whole and matches its manifest (a flip in a
            # gzip header's free fields, say): verify's own reading and checks must agree,
            # without running the smoke test a thousand times.
            problems += _static_verify(what, path, tmp_path / f"x{i}")
            outcomes[f"read whole ({fmt})"] += 1
    print(f"{COUNT} damaged archives (seed {SEED}): {dict(outcomes)}")
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:15])


def _judge(what: str, command: str, code: int, err: str, path: Path) -> list[str]:
    if "Traceback" in err or code not in (0, *USER_ERRORS):
        return [f"{what}: {command} exited {code}: {err[-800:]}"]
    if code == 0:
        return []
    first = err.strip().splitlines()[0] if err.strip() else ""
    if not first.startswith("error: ") or str(path) not in first:
        return [f"{what}: {command}'s error does not name the archive on its first line: {err[:400]!r}"]
    if len(err.strip().splitlines()) > 16:  # the line, a few lines of detail, the hint
        return [f"{what}: {command} printed {len(err.splitlines())} lines: {err[:400]!r}"]
    return []


def _static_verify(what: str, path: Path, dest: Path) -> list[str]:
    try:
        with unpack.opened(path) as arc:
            listing = arc.scan()
            root = arc.extract(listing, dest)
        checks = [verify.check_files(root, json.loads((root / "gopack.json").read_text()))]
    except GopackError as exc:
        return [f"{what}: inspect read it whole but verify's reading refused it: {exc.message[:300]}"]
    return [f"{what}: inspect passed it but {c.name}: {c.detail[:300]}" for c in checks if not c.ok]


def test_byte_flipped_elf_files_fail_the_linkage_check_naming_them(originals: dict[str, bytes], tmp_path: Path) -> None:
    archive = tmp_path / "small-0.1.0-cp37-manylinux_2_17_x86_64.tar.gz"
    archive.write_bytes(originals["tar.gz"])
    with unpack.opened(archive) as arc:
        root = arc.extract(arc.scan(), tmp_path / "x")
    assert verify.check_linkage(root, LINUX).ok
    # The interpreter and the smallest extension modules: small enough that a flip lands in
    # the headers, the dynamic segment or its strings often; nothing else in the bundle loads them.
    elf = [rel for rel in linkage.elf_files(root) if "/lib-dynload/" in rel or rel.startswith("python/bin/")]
    victims = sorted(elf, key=lambda rel: (root / rel).stat().st_size)[:4]
    assert victims and all((root / v).stat().st_size < 256 << 10 for v in victims), victims
    regions = {root / v: _elf_regions(root / v) for v in victims}
    rng = random.Random(SEED)
    outcomes: collections.Counter[str] = collections.Counter()
    problems: list[str] = []
    for i in range(ELF_FLIPS):
        victim = root / victims[i % len(victims)]
        original = victim.read_bytes()
        data = bytearray(original)
        for _ in range(rng.randrange(1, 5)):
            start, size = rng.choice(regions[victim])
            data[start + rng.randrange(size)] ^= 1 << rng.randrange(8)
        victim.chmod(0o644)
        victim.write_bytes(bytes(data))
        started = time.monotonic()
        try:
            check = verify.check_linkage(root, LINUX)
        except Exception as exc:  # noqa: BLE001  # what the test is looking for
            problems.append(f"#{i} {victims[i % len(victims)]}: {type(exc).__name__}: {str(exc)[:200]}")
            outcomes["raised"] += 1
            continue
        finally:
            victim.write_bytes(original)
        if time.monotonic() - started > 10:
            problems.append(f"#{i}: the check took {time.monotonic() - started:.0f} s")
        if not check.ok and victim.relative_to(root).as_posix() not in check.detail:
            problems.append(f"#{i}: failed without naming {victim.relative_to(root)}: {check.detail[:300]}")
        outcomes["passed" if check.ok else "failed naming the file"] += 1
    print(f"{ELF_FLIPS} flipped ELF files (seed {SEED}, {', '.join(victims)}): {dict(outcomes)}")
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:15])


def _elf_regions(path: Path) -> list[tuple[int, int]]:
    """(offset, size) of what the loader reads of a file, as pyelftools finds it in the intact
    file: the ELF header and program headers, the dynamic segment, its strings; and the whole file."""
    with path.open("rb") as f:
        elf = ELFFile(f)
        regions = [(0, elf.header["e_phoff"] + elf.num_segments() * elf.header["e_phentsize"]), (0, path.stat().st_size)]
        for segment in elf.iter_segments():
            if segment["p_type"] == "PT_DYNAMIC":
                regions.append((segment["p_offset"], segment["p_filesz"]))
        dynstr = elf.get_section_by_name(".dynstr")
        if dynstr is not None:
            regions.append((dynstr["sh_offset"], dynstr["sh_size"]))
    return [(start, size) for start, size in regions if size > 0]
