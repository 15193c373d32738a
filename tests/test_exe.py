"""Issue 24 item 1: ``gopack inspect`` and ``gopack verify`` read a one-file executable as they
read an archive: the trailer is found, the embedded tar.gz goes through the same safe
reader and caps, and the trailer's digests are checked. The launcher here is bytes that
only stand in for it (the real one runs in test_integration_exe.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from conftest import REPO
from hostile import Item
from one_file import make, small_bundle

from gopack.archive import contents, exe, unpack
from gopack.errors import VerifyError

FAILED = 5
FAKE_LAUNCHER = b"\x7fELF not really a launcher\n" * 100


@pytest.fixture
def launcher(tmp_path: Path) -> Path:
    path = tmp_path / "launcher"
    path.write_bytes(FAKE_LAUNCHER)
    return path


def gopack(*args: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TMPDIR": str(tmp)}
    return subprocess.run([sys.executable, "-m", "gopack", *args], capture_output=True, text=True, check=False, env=env, cwd=REPO)


def test_the_trailer_reads_back_what_was_written() -> None:
    trailer = exe.Trailer(offset=4096, size=10, payload_sha256="1" * 64, manifest_sha256="2" * 64, top="a" * 256, program="b/" + "c" * 510)
    packed = trailer.pack()
    assert len(packed) == exe.TRAILER_SIZE and packed.startswith(exe.MAGIC) and packed.endswith(exe.MAGIC)
    assert exe.parse(packed, 4096 + 10 + exe.TRAILER_SIZE, "x") == trailer
    with pytest.raises(VerifyError, match="does not match its length"):
        exe.parse(packed, 4096 + 11 + exe.TRAILER_SIZE, "x")


def test_an_executable_is_the_launcher_then_the_archive_byte_for_byte(launcher: Path, tmp_path: Path) -> None:
    bundle = small_bundle()
    made = make(bundle, launcher, tmp_path / "app")
    archive = (tmp_path / ".app.parts" / "payload.tar.gz").read_bytes()  # what make() packed
    data = made.read_bytes()
    assert data == FAKE_LAUNCHER + archive + data[-exe.TRAILER_SIZE :]
    assert os.access(made, os.X_OK)
    with made.open("rb") as f:
        trailer = exe.read_trailer(f, "x")
    assert trailer is not None and (trailer.offset, trailer.size, trailer.top, trailer.program) == (
        len(FAKE_LAUNCHER),
        len(archive),
        "app-1.0",
        "bin/app",
    )


def test_inspect_reads_an_executable_and_says_what_it_holds(launcher: Path, tmp_path: Path) -> None:
    made = make(small_bundle(), launcher, tmp_path / "app")
    document = contents.report(made)
    jsonschema.validate(document, contents.schema())
    assert document["executable"] == {
        "launcher_size": len(FAKE_LAUNCHER),
        "payload_size": made.stat().st_size - len(FAKE_LAUNCHER) - exe.TRAILER_SIZE,
        "program": "app-1.0/bin/app",
    }
    assert document["archive_size"] == made.stat().st_size
    result = gopack("inspect", str(made), tmp=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "executable" in result.stdout and "runs app-1.0/bin/app" in result.stdout


def test_an_archive_has_no_executable_section(tmp_path: Path) -> None:
    archive = small_bundle().tar(tmp_path / "app-1.0.tar.gz")
    assert "executable" not in contents.report(archive)


def test_verify_checks_an_executable_and_runs_its_smoke_test(launcher: Path, tmp_path: Path) -> None:
    made = make(small_bundle(script="echo OK\n"), launcher, tmp_path / "app")
    result = gopack("verify", "--json", str(made), tmp=tmp_path / "tmp")
    assert result.returncode == 0, result.stderr
    assert all(c["ok"] for c in json.loads(result.stdout)["checks"])


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_changed_byte_in_the_payload_is_refused(launcher: Path, tmp_path: Path) -> None:
    made = make(small_bundle(), launcher, tmp_path / "app")
    # The last byte of the payload: the gzip trailer's length field, which gzip itself may not check.
    _flip(made, made.stat().st_size - exe.TRAILER_SIZE - 1)
    result = gopack("verify", str(made), tmp=tmp_path)
    assert result.returncode == FAILED
    assert "Traceback" not in result.stderr
    assert "damaged" in result.stderr or "altered" in result.stderr


def test_a_payload_whose_manifest_is_not_the_trailers_is_refused(launcher: Path, tmp_path: Path) -> None:
    bundle = small_bundle()
    made = make(bundle, launcher, tmp_path / "app")
    other = make(small_bundle(script="echo other\n"), launcher, tmp_path / "other")
    # The first executable's trailer after the second one's payload, lengths adjusted.
    with other.open("rb") as f:
        theirs = exe.read_trailer(f, "x")
    with made.open("rb") as f:
        ours = exe.read_trailer(f, "x")
    assert theirs is not None and ours is not None
    payload = other.read_bytes()[theirs.offset : theirs.offset + theirs.size]
    forged = exe.Trailer(
        offset=len(FAKE_LAUNCHER),
        size=len(payload),
        payload_sha256=theirs.payload_sha256,
        manifest_sha256=ours.manifest_sha256,
        top=ours.top,
        program=ours.program,
    )
    made.write_bytes(FAKE_LAUNCHER + payload + forged.pack())
    with pytest.raises(VerifyError, match="gopack.json is not the one its trailer names"):
        unpack.scan(made)


def test_a_cut_short_executable_is_one_clear_error(launcher: Path, tmp_path: Path) -> None:
    made = make(small_bundle(), launcher, tmp_path / "app")
    made.write_bytes(made.read_bytes()[:-10])
    result = gopack("verify", str(made), tmp=tmp_path)
    assert result.returncode == 6  # no trailer left, and no archive's name
    assert "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert line == f"error: {made}: not a gopack archive name (expected .tar.gz, .tar.zst or .zip) and no executable's trailer at its end"


def test_the_readers_caps_hold_inside_an_executable(launcher: Path, tmp_path: Path) -> None:
    """An entry larger than the manifest lists is refused inside an executable as inside an archive."""
    bundle = small_bundle()
    bundle.file("zzz/big", b"")  # listed with 0 bytes
    payload = tmp_path / "payload.tar.gz"
    entries = [Item(i.name, data=i.data, size=64 << 20, mode=i.mode) if i.name.endswith("zzz/big") else i for i in bundle.entries()]
    from hostile import write_tar

    write_tar(payload, entries)
    manifest = tmp_path / "gopack.json"
    manifest.write_bytes(json.dumps(bundle.manifest(), indent=1).encode())
    made = tmp_path / "app"
    exe.write(launcher, payload, made, top=bundle.top, program="bin/app", manifest=manifest)
    with pytest.raises(VerifyError, match="zzz/big: the archive holds 67108864 bytes where gopack.json lists 0"):
        unpack.scan(made)
