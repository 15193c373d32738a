"""Issue 16: ``gopack verify`` (and ``inspect``) on archives made by an attacker.

Each archive is built here entry by entry, with a manifest that matches it, so
what is refused is the hostile part. In every case verify exits with its
failure code (5) and says why in one line, and nothing outside its own
temporary folder changes: two canary folders (one under /tmp, one in the
checkout, outside /tmp) are compared before and after, and verify's TMPDIR is
empty when it is done.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path

import pytest
from conftest import Canaries
from hostile import FAILED, Bundle, Item, error_line, gopack, refused

from gopack.verify import sandbox


def up_to_tmp_path() -> str:
    """From the bundle's top as verify extracts it (TMPDIR/gopack-verify-*/extracted/top) to tmp_path."""
    return "../../../.."


# -- extraction that cannot be tricked ---------------------------------------------------------


def cve_2025_4517_chain(top: str) -> Bundle:
    """Symlinks through folders with 247-character names, so that the resolved path passes
    PATH_MAX and tarfile's data filter (os.path.realpath) stops resolving; then a symlink out
    through the chain, a hard link through it onto the victim and a file written through it."""
    bundle = Bundle(top)
    component, steps, path = "d" * 247, "abcdefghijklmnop", ""
    for step in steps:
        bundle.add(Item(f"{top}/{path}{component}", directory=True, mode=0o755))
        bundle.add(Item(f"{top}/{path}{step}", symlink=component))
        path += component + "/"
    link = "/".join(steps) + "/" + "l" * 254
    bundle.add(Item(f"{top}/{link}", symlink="../" * len(steps)))
    bundle.add(Item(f"{top}/escape", symlink=f"{link}/{up_to_tmp_path()}/canary"))
    bundle.add(Item(f"{top}/flaglink", hardlink=f"{top}/escape/victim"))
    bundle.add(Item(f"{top}/escape/written", data=b"pwned\n"))
    return bundle


def test_the_path_max_symlink_chain_is_refused_before_anything_is_written(canaries: Canaries, tmp_path: Path) -> None:
    archive = cve_2025_4517_chain("chain-1.0").tar(tmp_path / "chain-1.0.tar.gz", in_order=True)
    stderr = refused(archive, canaries)
    assert "unsafe entry refused" in error_line(stderr)
    assert "which is a symlink" in error_line(stderr)


#: The first release of each line with the fix for CVE-2025-4517 (tarfile filters bypass).
FIXED_IN = {(3, 9): 23, (3, 10): 18, (3, 11): 13, (3, 12): 11, (3, 13): 4}


def test_the_chain_really_gets_past_this_pythons_tarfile_filter(tmp_path: Path) -> None:
    """What the test above guards against: on a Python without the fix (3.11.7 here), tarfile's
    own data filter lets this archive write outside. Extracted into a scratch folder only."""
    if sys.version_info[2] >= FIXED_IN.get(sys.version_info[:2], 0):
        pytest.skip(f"this Python ({sys.version.split()[0]}) has the CVE-2025-4517 fix")
    scratch = tmp_path / "scratch"
    (scratch / "canary").mkdir(parents=True)
    (scratch / "canary" / "victim").write_text("original\n")
    dest = scratch / "p" / "q" / "r"  # the top's ../../../.. is scratch, as for verify's extraction folder
    dest.mkdir(parents=True)
    archive = cve_2025_4517_chain("chain-1.0").tar(tmp_path / "chain-1.0.tar.gz", in_order=True)
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    assert (scratch / "canary" / "written").read_text() == "pwned\n"
    assert (scratch / "canary" / "victim").stat().st_nlink == 2  # the hard link went through too


@pytest.mark.parametrize(
    "variant",
    [
        "hard link through a symlink",
        "hard link to a host file",
        "file through a symlink",
        "symlink climbing out",
        "absolute symlink",
        "dotdot name",
        "device",
        "second top-level folder",
    ],
)
def test_links_and_names_that_leave_are_refused(variant: str, canaries: Canaries, tmp_path: Path) -> None:
    top = "links-1.0"
    bundle = Bundle(top).script("bin/app", "echo OK\n").dir("sub").file("victim", b"mine\n")
    out = f"{up_to_tmp_path()}/canary"
    if variant == "hard link through a symlink":
        bundle.add(Item(f"{top}/sub/s", symlink=".."))  # stays inside by itself: points at the top
        bundle.add(Item(f"{top}/h", hardlink=f"{top}/sub/s/victim"))
    elif variant == "hard link to a host file":
        bundle.add(Item(f"{top}/h", hardlink=str(canaries.folders[0] / "victim")))
    elif variant == "file through a symlink":
        bundle.add(Item(f"{top}/sub/s", symlink=".."))
        bundle.add(Item(f"{top}/sub/s/written", data=b"pwned\n"))
    elif variant == "symlink climbing out":
        bundle.add(Item(f"{top}/sub/out", symlink=f"../{out}"))
    elif variant == "absolute symlink":
        bundle.add(Item(f"{top}/sub/out", symlink=str(canaries.folders[1])))
    elif variant == "dotdot name":
        bundle.add(Item(f"{top}/{out}/written", data=b"pwned\n"))
    elif variant == "device":
        bundle.add(Item(f"{top}/sub/null", kind=tarfile.CHRTYPE))
    else:
        bundle.add(Item("other-1.0/bin/app", data=b"#!/bin/sh\n", mode=0o755))
    stderr = refused(bundle.tar(tmp_path / f"{top}.tar.gz", in_order=True), canaries)
    assert "unsafe entry refused" in error_line(stderr)


@pytest.mark.parametrize(("target", "ok"), [("../lib/x", True), ("./x", True), ("x/../../y", False), ("../../x", False), ("", False)])
def test_a_symlink_stays_inside_by_its_text_alone(target: str, ok: bool, tmp_path: Path) -> None:
    from gopack.archive import unpack
    from gopack.errors import VerifyError

    top = "text-1.0"
    bundle = Bundle(top).script("bin/app", "echo OK\n").add(Item(f"{top}/bin/link", symlink=target))
    archive = bundle.tar(tmp_path / f"{top}.tar.gz")
    if ok:
        assert unpack.scan(archive).manifest["name"] == top
    else:
        with pytest.raises(VerifyError, match="unsafe entry refused"):
            unpack.scan(archive)


# -- limits before work ------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["after the manifest", "before the manifest"])
def test_an_entry_larger_than_the_manifest_says_is_refused_before_it_is_written(where: str, canaries: Canaries, tmp_path: Path) -> None:
    top = "big-1.0"
    name = "zzz/big" if where == "after the manifest" else "app/big"
    size = 1 << 30 if where == "after the manifest" else 64 << 20
    bundle = Bundle(top).script("bin/app", "echo OK\n").file(name, b"")  # listed with 0 bytes
    archive = tmp_path / f"{top}.tar.zst"
    entries = [Item(i.name, data=i.data, size=size, mode=i.mode) if i.name.endswith(name) else i for i in bundle.entries()]
    from hostile import write_tar

    write_tar(archive, entries)
    stderr = refused(archive, canaries)
    assert f"{name}: the archive holds {size} bytes where gopack.json lists 0" in error_line(stderr)


def manifest_variants() -> dict[str, bytes]:
    good = Bundle("m-1.0").script("bin/app", "echo OK\n").manifest()
    variants = {
        "not JSON": b"{ this is not json",
        "a JSON array": b"[1, 2, 3]",
        "not UTF-8": b'{"name": "\xff\xfe"}',
        "huge": b" " * (33 << 20),
        "deeply nested": b"[" * 100_000 + b"]" * 100_000,
    }
    for key in ("files", "smoke", "version"):
        variants[f"missing {key}"] = json.dumps({k: v for k, v in good.items() if k != key}).encode()
    mistyped = json.loads(json.dumps(good))
    mistyped["files"][0]["size"] = "12"
    variants["mistyped files[0].size"] = json.dumps(mistyped).encode()
    return variants


EXPECTED = {
    "not JSON": "is not JSON",
    "a JSON array": "(the whole document): [1, 2, 3] is not of type 'object'",
    "not UTF-8": "is not UTF-8 text",
    "huge": "more than the 33554432 a manifest may have",
    "deeply nested": "gopack.json",
    "missing files": "'files' is a required property",
    "missing smoke": "'smoke' is a required property",
    "missing version": "'version' is a required property",
    "mistyped files[0].size": "files[0].size: '12' is not of type 'integer'",
}


@pytest.mark.parametrize("command", ["verify", "inspect"])
@pytest.mark.parametrize("variant", sorted(EXPECTED))
def test_a_malformed_manifest_is_one_clear_error(variant: str, command: str, canaries: Canaries, tmp_path: Path) -> None:
    bundle = Bundle("m-1.0").script("bin/app", "echo OK\n")
    archive = bundle.tar(tmp_path / "m-1.0.tar.gz", manifest=manifest_variants()[variant])
    line = error_line(refused(archive, canaries, command=command))
    assert "gopack.json" in line and EXPECTED[variant] in line, line


@pytest.mark.parametrize("command", ["verify", "inspect"])
def test_a_truncated_archive_is_one_clear_error(command: str, canaries: Canaries, tmp_path: Path) -> None:
    bundle = Bundle("cut-1.0").script("bin/app", "echo OK\n").file("data/noise", os.urandom(1 << 20))
    whole = bundle.tar(tmp_path / "whole.tar.gz")
    cut = tmp_path / "cut-1.0.tar.gz"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    assert "damaged or truncated" in error_line(refused(cut, canaries, command=command))


# -- the smoke command stays inside --------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "why"),
    [
        ("../../../../../../bin/sh", "climbs out of the bundle"),
        ("/bin/sh", "is an absolute path"),
        ("bin/data", "is not executable"),
        ("bin/missing", "names nothing in the archive"),
        ("bin/up/bin/up/bin/app", None),  # through symlinks that stay inside: accepted
    ],
)
def test_the_smoke_command_must_name_an_executable_inside(first: str, why: str | None, canaries: Canaries, tmp_path: Path) -> None:
    top = "cmd-1.0"
    bundle = Bundle(top).script("bin/app", "echo OK\n").file("bin/data", b"#!/bin/sh\necho OK\n")
    bundle.add(Item(f"{top}/bin/up", symlink=".."))
    bundle.smoke = {"command": [first, "-c", f"echo pwned > {canaries.folders[1]}/victim; echo OK"], "expect": ["OK"], "timeout": 60}
    archive = bundle.tar(tmp_path / f"{top}.tar.gz")
    if why is None:
        from gopack.archive import unpack

        assert unpack.scan(archive).manifest["smoke"]["command"][0] == first
        return
    line = error_line(refused(archive, canaries))
    assert f"smoke.command[0] {first!r} {why}" in line, line


# -- the sandbox for untrusted code ----------------------------------------------------------------


def confined(archive: Path, canaries: Canaries, *, expect_ok: bool = False) -> str:
    """Run verify to the smoke test; check the canaries; return stderr."""
    before = canaries.snapshot()
    result = gopack("verify", "--show-output", str(archive), tmpdir=canaries.tmpdir)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == (0 if expect_ok else FAILED), result.stderr
    assert canaries.snapshot() == before
    assert list(canaries.tmpdir.iterdir()) == []
    return result.stderr


def failures(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("FAIL ")]


pytestmark_sandbox = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox needs root")


@pytestmark_sandbox
def test_a_program_that_writes_outside_changes_nothing(canaries: Canaries, tmp_path: Path) -> None:
    writes = "".join(f'echo pwned > "{d}/victim" && echo WROTE; echo new > "{d}/new" && echo WROTE\n' for d in canaries.folders)
    writes += 'echo pwned > "$0" && echo WROTE\necho mine > /tmp/x && echo TMP-OK\n'
    bundle = Bundle("writer-1.0").script("bin/app", writes)
    bundle.smoke = {"command": ["bin/app"], "expect": ["WROTE"], "timeout": 60}
    stderr = confined(bundle.tar(tmp_path / "writer-1.0.tar.gz"), canaries)
    assert [line.split(":")[0] for line in failures(stderr)] == ["FAIL glibc-only root", "FAIL no python, decoys", "FAIL moved, read-only"]
    assert all("output lacks 'WROTE'" in line for line in failures(stderr))
    assert stderr.count("TMP-OK") == 3  # a private /tmp is writable


@pytestmark_sandbox
def test_a_program_cannot_reach_the_network(canaries: Canaries, tmp_path: Path) -> None:
    source = tmp_path / "connect.c"
    source.write_text(
        "#include <arpa/inet.h>\n#include <stdio.h>\n#include <stdlib.h>\n#include <sys/socket.h>\n"
        "int main(int argc, char **argv) {\n"
        "  int s = socket(AF_INET, SOCK_STREAM, 0);\n"
        "  struct sockaddr_in a = {0};\n"
        "  a.sin_family = AF_INET; a.sin_port = htons(atoi(argv[1])); a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);\n"
        '  if (connect(s, (struct sockaddr *)&a, sizeof a) == 0) { puts("CONNECTED"); return 0; }\n'
        '  perror("connect"); return 1;\n}\n'
    )
    subprocess.run(["gcc", "-O2", "-o", str(tmp_path / "connect"), str(source)], check=True)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        bundle = Bundle("net-1.0").file("bin/app", (tmp_path / "connect").read_bytes(), executable=True)
        bundle.smoke = {"command": ["bin/app", str(port)], "expect": ["CONNECTED"], "timeout": 60}
        stderr = confined(bundle.tar(tmp_path / "net-1.0.tar.gz"), canaries)
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected, in any of the three runs
    assert len(failures(stderr)) == 3
    # 127.0.0.1 is the sandbox's own loopback: nothing listens there, the host's listener is out of reach.
    assert stderr.count("connect: Connection refused") == 3


@pytestmark_sandbox
def test_a_program_can_serve_and_query_itself_on_its_own_loopback(canaries: Canaries, tmp_path: Path) -> None:
    """A Go service's smoke test may start its server and call it: the sandbox's loopback is up."""
    source = tmp_path / "self.c"
    source.write_text(
        "#include <arpa/inet.h>\n#include <stdio.h>\n#include <sys/socket.h>\n#include <unistd.h>\n"
        "int main(void) {\n"
        "  int l = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM, 0);\n"
        "  struct sockaddr_in a = {0}; socklen_t n = sizeof a;\n"
        "  a.sin_family = AF_INET; a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);\n"
        '  if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 1) || getsockname(l, (struct sockaddr *)&a, &n)) { perror("listen"); return 1; }\n'
        '  if (connect(c, (struct sockaddr *)&a, sizeof a)) { perror("connect"); return 1; }\n'
        '  int s = accept(l, 0, 0); write(c, "ping", 4); char b[5] = {0}; read(s, b, 4);\n'
        '  printf("SERVED %s\\n", b); return 0;\n}\n'
    )
    subprocess.run(["gcc", "-O2", "-o", str(tmp_path / "self"), str(source)], check=True)
    bundle = Bundle("self-1.0").file("bin/app", (tmp_path / "self").read_bytes(), executable=True)
    bundle.smoke = {"command": ["bin/app"], "expect": ["SERVED ping"], "timeout": 60}
    stderr = confined(bundle.tar(tmp_path / "self-1.0.tar.gz"), canaries, expect_ok=True)
    assert failures(stderr) == []


def leftovers(marker: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker.encode() in (entry / "cmdline").read_bytes():
                found.append(entry.name)
        except OSError:
            pass  # gone meanwhile
    return found


@pytestmark_sandbox
def test_a_fork_bomb_is_bounded_and_killed(canaries: Canaries, tmp_path: Path) -> None:
    marker = f"gopack-bomb-{uuid.uuid4().hex}"
    # The bomb's own shells may give up once forks fail; the loop keeps the run alive
    # (without forking) so the timeout, not the bomb, ends it.
    bundle = Bundle("bomb-1.0").script("bin/app", "bomb() { bomb & bomb & wait; }\nbomb &\nwhile :; do :; done\n")
    bundle.smoke = {"command": ["bin/app", marker], "expect": ["never printed"], "timeout": 3}
    stderr = confined(bundle.tar(tmp_path / "bomb-1.0.tar.gz"), canaries)
    assert len(failures(stderr)) == 3, stderr
    assert stderr.count("every process it started was killed") == 3, stderr
    assert leftovers(marker) == []


@pytestmark_sandbox
def test_what_the_smoke_test_leaves_running_is_killed(canaries: Canaries, tmp_path: Path) -> None:
    marker = f"gopack-daemon-{uuid.uuid4().hex}"
    bundle = Bundle("daemon-1.0").script("bin/app", 'sh -c "while :; do :; done" "$1" &\necho OK\n')
    bundle.smoke = {"command": ["bin/app", marker], "expect": ["OK"], "timeout": 60}
    confined(bundle.tar(tmp_path / "daemon-1.0.tar.gz"), canaries, expect_ok=True)
    assert leftovers(marker) == []


@pytestmark_sandbox
def test_the_smoke_test_runs_as_a_uid_of_its_own_with_limits(canaries: Canaries, tmp_path: Path) -> None:
    # Only the shell's own read and echo: the glibc-only root has no cat.
    report = (
        'for f in /proc/self/status /proc/self/limits /proc/self/cgroup; do while read -r line; do echo "$line"; done < $f; done\necho OK\n'
    )
    bundle = Bundle("who-1.0").script("bin/app", report)
    stderr = confined(bundle.tar(tmp_path / "who-1.0.tar.gz"), canaries, expect_ok=True)
    assert stderr.count("NoNewPrivs:\t1") == 3
    assert stderr.count("CapEff:\t0000000000000000") == 3
    processes = sandbox.Limits(timeout=1).processes
    assert len(re.findall(rf"Max processes +{processes} +{processes} ", stderr)) == 3
    uids = re.findall(r"Uid:\t(\d+)\t", stderr)
    assert len(uids) == 3 and "0" not in uids and len(set(uids)) == 3  # a uid of its own for each run
    # Memory in all: a cgroup of its own where this machine lets one be made, and the report says which.
    if "no memory cgroup could be made" not in stderr:
        assert len(set(re.findall(r"gopack-smoke-\d+", stderr))) == 3
        assert stderr.count("8 GiB of memory in all") == 3


@pytestmark_sandbox
def test_a_zip_made_with_writestr_passes(canaries: Canaries, tmp_path: Path) -> None:
    bundle = Bundle("zipped-1.0").script("bin/app", "echo OK\n").file("data/readme.txt", b"plain permission bits\n")
    stderr = confined(bundle.zip(tmp_path / "zipped-1.0.zip"), canaries, expect_ok=True)
    assert "ok   files: 2 files match the manifest" in stderr


def test_extraction_stops_at_the_listed_size_while_streaming(tmp_path: Path) -> None:
    """A member whose data run past its size (a zip's lying sizes, say): the block that would
    pass the cap is refused before it is written. A fake member: this is the writer alone."""
    import io

    from gopack.archive import unpack
    from gopack.archive.entries import FILE, Entry, Listing, Member

    bundle = Bundle("cap-1.0").script("bin/app", "echo OK\n")
    archive = bundle.tar(tmp_path / "cap-1.0.tar.gz")
    with unpack.opened(archive) as arc:
        listing = arc.scan()
    entry = Entry(name="data", kind=FILE, size=10)
    listing = Listing(top=listing.top, manifest=listing.manifest, manifest_bytes=listing.manifest_bytes, entries=(), cap=10)
    (tmp_path / "out").mkdir()
    top = os.open(tmp_path / "out", os.O_RDONLY | os.O_DIRECTORY)
    writer = unpack._Writer(top, listing, "test")
    member = Member(
        raw_name="cap-1.0/data", kind=FILE, type_name="a file", size=10, mode=0o644, link="", read=lambda: io.BytesIO(b"x" * (5 << 20))
    )
    try:
        with pytest.raises(unpack.Refused, match="holds more than the 10 bytes"):
            writer.create(entry, member)
    finally:
        writer.close()
    assert (tmp_path / "out" / "data").stat().st_size == 0  # the first block was already too long


def test_an_archive_that_changes_between_the_two_readings_is_refused(tmp_path: Path) -> None:
    from gopack.archive import unpack

    first = Bundle("same-1.0").script("bin/app", "echo OK\n").tar(tmp_path / "same-1.0.tar.gz")
    with unpack.opened(first) as arc:
        listing = arc.scan()
    (tmp_path / "other").mkdir()
    other = (
        Bundle("same-1.0").script("bin/app", "echo OK\n").script("bin/extra", "echo extra\n").tar(tmp_path / "other" / "same-1.0.tar.gz")
    )
    with unpack.opened(other) as arc, pytest.raises(unpack.Refused, match="changed while it was read"):
        arc.extract(listing, tmp_path / "dest")


@pytestmark_sandbox
def test_memory_is_bounded(tmp_path: Path) -> None:
    """Processes growing a string to 256 MiB each, under a 64 MiB limit: none gets there.
    (The sandbox alone, with a small limit, so that the test does not take gigabytes.)"""
    from pathlib import PurePosixPath

    bundle = tmp_path / "bundle"
    (bundle / "bin").mkdir(parents=True)
    grow = 'grow() { x=aaaaaaaaaaaaaaaa; while [ ${#x} -lt 268435456 ]; do x="$x$x"; done; echo GREW; }\n'
    (bundle / "bin" / "app").write_text("#!/bin/sh\n" + grow + "grow & grow & grow & wait\necho DONE\n")
    (bundle / "bin" / "app").chmod(0o755)
    at = sandbox.PRIVATE_TMP / "b"
    limits = sandbox.Limits(timeout=120, memory=64 << 20)
    result = sandbox.run_confined([str(at / "bin" / "app")], bundle=bundle, at=at, cwd=PurePosixPath("/"), limits=limits)
    if "no memory cgroup could be made" in result.confinement:
        pytest.skip("no memory cgroup can be made on this machine; only RLIMIT_AS bounds memory")
    assert "64 MiB of memory in all" in result.confinement
    assert "DONE" in result.output and "GREW" not in result.output, result.output
