"""Issue 26: what reading a stranger's archive may cost, and that verify reads what tar reads.

Every archive is real, built here header by header where tarfile would not write
it. Each case is refused with exit 5 and one error line, before the cost is paid:
no time quadratic in a header, no memory the size of a declared record, nothing
written into TMPDIR, and no byte after the end marker that GNU tar would extract.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import pytest
from conftest import REPO, Canaries
from hostile import (
    Bundle,
    Item,
    compress,
    error_line,
    pax_records,
    refused,
    sha256_of_zeros,
    tar_header,
    tar_members,
    tar_record,
    write_tar,
    zeros,
)

from gopack.archive import limits, unpack
from gopack.errors import VerifyError

#: ``gopack inspect`` that reports its own peak memory on its last line of stderr.
_MEASURED = (
    "import resource, sys\n"
    "from gopack import cli\n"
    "code = cli.main(sys.argv[1:])\n"
    "print(f'peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}', file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def inspect_in_child(archive: Path, *, timeout: float) -> tuple[int, str, int]:
    """``gopack inspect`` in a process of its own: exit code, stderr and peak memory (bytes)."""
    try:
        result = subprocess.run(
            [sys.executable, "-c", _MEASURED, "inspect", str(archive)],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"gopack inspect {archive.name} still ran after {timeout} s")
    *lines, peak = result.stderr.splitlines()
    return result.returncode, "\n".join(lines), int(peak.split()[1]) * 1024


def app(top: str) -> Bundle:
    return Bundle(top).script("bin/app", "echo OK\n")


# -- 3: a PAX header costs linear time whatever Python runs gopack -------------------------------


def pax_digits(tmp_path: Path, digits: int) -> Path:
    """A PAX record whose length is ``digits`` digits long (CVE-2024-6232: tarfile's parser is
    quadratic in them; 100,000 take 18.5 s on 3.11.7), before an otherwise good bundle."""
    bundle = app("pax-1.0")
    entries = bundle.entries()
    record = b"1" * digits + b" path=pax-1.0/x\n"
    return compress(tmp_path / "pax-1.0.tar.gz", [tar_record(tarfile.XHDTYPE, record), tar_members(entries), bytes(1024)])


def test_a_pax_record_with_many_digits_is_refused_at_once(tmp_path: Path) -> None:
    archive = pax_digits(tmp_path, 60_000)  # inside the header cap: parsed, linearly
    start = time.monotonic()
    with pytest.raises(VerifyError, match="a PAX record without a length"):
        unpack.scan(archive)
    assert time.monotonic() - start < 2  # tarfile on 3.11.7: about 6.5 s


def test_a_pax_header_of_a_million_digits_is_refused_from_its_header(tmp_path: Path) -> None:
    archive = pax_digits(tmp_path, 1_000_000)  # tarfile on 3.11.7: hours
    code, err, _ = inspect_in_child(archive, timeout=30)
    assert code == 5, err
    assert f"declares 1000016 bytes, more than the {limits.MAX_PAX_HEADER} gopack reads" in error_line(err)


# -- 4: memory, disk and counts, capped before they are spent ---------------------------------


@pytest.mark.parametrize(("kind", "what"), [(tarfile.GNUTYPE_LONGNAME, "a GNU long name"), (tarfile.XHDTYPE, "a PAX extended header")])
def test_a_huge_record_is_refused_before_it_is_read(kind: bytes, what: str, tmp_path: Path) -> None:
    """256 MiB of record (256 KB compressed): tarfile read it whole, three copies of it."""
    size = 256 << 20
    archive = compress(tmp_path / "long-1.0.tar.zst", [tar_header("././@LongLink", kind=kind, size=size), *zeros(size)])
    assert archive.stat().st_size < 1 << 20
    code, err, peak = inspect_in_child(archive, timeout=60)
    assert code == 5, err
    assert f"{what} at byte 0 declares {size} bytes" in error_line(err)
    assert peak < 200 << 20, f"inspect peaked at {peak >> 20} MiB"


def zeros_bundle(top: str, name: str, size: int) -> tuple[Bundle, dict[str, object]]:
    """A bundle holding ``size`` zero bytes at ``name``, and a manifest that lists them truly."""
    bundle = app(top).file(name, b"")
    document = bundle.manifest()
    files = document["files"]
    assert isinstance(files, list)
    for entry in files:
        if entry["path"] == name:
            entry["size"], entry["sha256"] = size, sha256_of_zeros(size)
    return bundle, document


@pytest.mark.parametrize("name", ["python/zeros", "app/zeros"])  # after the manifest, and before it
def test_an_honest_compression_bomb_is_refused_before_it_is_written(name: str, canaries: Canaries, tmp_path: Path) -> None:
    size = 256 << 20  # zstd makes it some 10 KB; the cap for such an archive is 128 MiB
    bundle, document = zeros_bundle("bomb-1.0", name, size)
    archive = tmp_path / "bomb-1.0.tar.zst"
    entries = bundle.entries(json.dumps(document).encode())
    write_tar(archive, [Item(i.name, data=i.data, size=size, mode=i.mode) if i.name.endswith(name) else i for i in entries])
    assert archive.stat().st_size < 1 << 20
    line = error_line(refused(archive, canaries))  # and nothing is left in TMPDIR
    assert f"more than {limits.EXPANSION_FLOOR >> 20} MiB" in line, line


def overlapping_zip(dest: Path) -> Path:
    """A zip whose outer entry's stored data are a whole inner entry, which its directory lists
    too: both read back right, and share their bytes (the "quoted overlap" of zip bombs)."""
    top = "overlap-1.0"
    inner_name, inner_data = f"{top}/app/inner", b"A" * 100_000
    scratch = io.BytesIO()
    with zipfile.ZipFile(scratch, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(inner_name, inner_data)
        inner = zf.getinfo(inner_name)
    record = scratch.getvalue()[: 30 + len(inner_name.encode()) + len(inner.extra) + inner.compress_size]
    bundle = app(top).file("app/inner", inner_data).file("app/outer", record)
    with zipfile.ZipFile(dest, "w") as zf:
        for item in bundle.entries():
            if item.name.endswith("app/inner"):
                continue
            info = zipfile.ZipInfo(item.name + ("/" if item.directory else ""))
            info.external_attr = item.mode << 16
            zf.writestr(info, item.data or b"", compress_type=zipfile.ZIP_STORED)
        outer = zf.getinfo(f"{top}/app/outer")
        inner.header_offset = outer.header_offset + 30 + len(outer.filename.encode()) + len(outer.extra)
        zf.filelist.append(inner)
        zf.NameToInfo[inner_name] = inner
    with zipfile.ZipFile(dest) as zf:  # both entries read back whole and right
        assert zf.read(inner_name) == inner_data and zf.read(f"{top}/app/outer") == record
    return dest


@pytest.mark.parametrize("command", ["verify", "inspect"])
def test_zip_entries_that_share_data_are_refused(command: str, canaries: Canaries, tmp_path: Path) -> None:
    archive = overlapping_zip(tmp_path / "overlap-1.0.zip")
    if shutil.which("unzip"):
        assert subprocess.run(["unzip", "-tqq", str(archive)], capture_output=True, check=False).returncode != 0
    line = error_line(refused(archive, canaries, command=command))
    assert "overlap-1.0/app/outer' overlaps 'overlap-1.0/app/inner'" in line, line


def test_a_zip_directory_past_the_entry_cap_is_refused_before_it_is_read(canaries: Canaries, tmp_path: Path) -> None:
    archive = app("many-1.0").zip(tmp_path / "many-1.0.zip")
    data = bytearray(archive.read_bytes())
    end = data.rfind(b"PK\x05\x06")
    struct.pack_into("<2H", data, end + 8, 65_000, 65_000)  # 65,000 entries: within a plain end record
    struct.pack_into("<L", data, end + 12, 80 << 20)  # and a directory of 80 MiB
    archive.write_bytes(bytes(data))
    line = error_line(refused(archive, canaries, command="inspect"))
    assert f"the zip's directory is {80 << 20} bytes, more than the {limits.MAX_ZIP_DIRECTORY} gopack reads" in line, line


def test_folders_count_against_the_entry_cap(canaries: Canaries, tmp_path: Path) -> None:
    """Folders before the manifest, which nothing could yet be checked against: counted as they come."""
    top = "folders-1.0"
    bundle = app(top)
    # Names of random hex, so that the headers do not compress past the unpacking cap first.
    heads = b"".join(tar_header(f"{top}/app/{os.urandom(24).hex()}/", kind=tarfile.DIRTYPE, mode=0o755) for _ in range(limits.MAX_ENTRIES))
    rest = tar_members(bundle.entries())
    archive = compress(tmp_path / f"{top}.tar.gz", [rest[:512], heads, rest[512:], bytes(1024)])  # after the top folder
    line = error_line(refused(archive, canaries, command="inspect"))
    assert f"more than {limits.MAX_ENTRIES} entries" in line, line


# -- 6: verify reads the archive GNU tar reads, to its true end ------------------------------


@pytest.mark.parametrize("after", ["a damaged header", "a lone zero block", "the end marker", "junk"])
def test_nothing_but_zeros_may_follow_the_end(after: str, canaries: Canaries, tmp_path: Path) -> None:
    top = "tail-1.0"
    good = tar_members(app(top).entries())
    evil = tar_members([Item(f"{top}/bin/app", data=b"#!/bin/sh\necho pwned\n", mode=0o755), Item(f"{top}/unlisted", data=b"x")])
    if after == "a damaged header":
        broken = bytearray(evil[:512])
        broken[148:156] = b"0000000\x00"  # a wrong checksum
        tail = bytes(broken) + evil[512:]
    elif after == "a lone zero block":
        tail = bytes(512) + evil
    elif after == "the end marker":
        tail = bytes(1024) + evil
    else:
        tail = bytes(1024) + b"not zero"
    archive = compress(tmp_path / f"{top}.tar.gz", [good, tail, bytes(1024)])
    if after != "junk" and shutil.which("tar"):
        # What verify must not pass over: GNU tar skips a damaged header to the next one by
        # itself, and reads past zero blocks with -i (--ignore-zeros, for joined archives).
        out = tmp_path / "gnu-tar"
        out.mkdir()
        flags = "-xzf" if after == "a damaged header" else "-xizf"
        subprocess.run(["tar", flags, str(archive), "-C", str(out)], capture_output=True, check=False)
        assert (out / top / "unlisted").exists()
    line = error_line(refused(archive, canaries))
    expected = "checksum is wrong" if after == "a damaged header" else "data follow the end of the tar archive"
    assert expected in line, line


def test_a_stream_without_the_end_marker_is_truncated(canaries: Canaries, tmp_path: Path) -> None:
    archive = compress(tmp_path / "cut-1.0.tar.gz", tar_members(app("cut-1.0").entries()))
    assert "without the end-of-archive marker" in error_line(refused(archive, canaries, command="inspect"))


def test_a_normal_archive_may_end_with_a_record_of_zeros(tmp_path: Path) -> None:
    archive = compress(tmp_path / "pad-1.0.tar.gz", [tar_members(app("pad-1.0").entries()), bytes(20 * 512 * 3)])
    assert unpack.scan(archive).top == "pad-1.0"


def test_a_pax_sparse_file_is_called_sparse(canaries: Canaries, tmp_path: Path) -> None:
    top = "sparse-1.0"
    bundle = app(top)
    pax = pax_records({"GNU.sparse.size": "0", "GNU.sparse.map": "0,0"})  # the 0.1 format: tarfile said "tar type b'0'"
    members = tar_members(bundle.entries())
    archive = compress(
        tmp_path / f"{top}.tar.gz", [members, tar_record(tarfile.XHDTYPE, pax), tar_header(f"{top}/bin/holes", size=0), bytes(1024)]
    )
    line = error_line(refused(archive, canaries, command="inspect"))
    assert "'sparse-1.0/bin/holes' is a sparse file (PAX GNU.sparse)" in line, line
