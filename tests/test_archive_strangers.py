"""Issue 26 item 9: a stranger's manifests and folders, as ``verify`` and ``inspect`` read them.

- ``inspect`` and ``verify`` accept and refuse the same manifests: what the schema
  lets through, inspect can report.
- ``inspect DIR`` opens nothing outside the folder, follows no link, reads only
  regular files; the expect strings are bounded; interrupts and a full disk are
  called what they are.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, Canaries
from hostile import FAILED, app, error_line, gopack, refused, with_manifest

from gopack.archive import contents, manifest

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox (and a tmpfs) need root")


# -- 9: the same manifests for inspect and verify ------------------------------------------------

ODD_MANIFESTS = {
    "python.version": (("python", "version"), "3.11"),
    "python.tag": (("python", "tag"), "py3"),
    "platform": (("platform",), "any"),
    "glibc.floor": (("glibc", "floor"), "latest"),
    "go.version": (("go", "version"), "devel"),
}


@pytest.mark.parametrize("command", ["inspect", "verify"])
@pytest.mark.parametrize("field", sorted(ODD_MANIFESTS))
def test_inspect_and_verify_refuse_the_same_manifests(field: str, command: str, canaries: Canaries, tmp_path: Path) -> None:
    keys, value = ODD_MANIFESTS[field]

    def edit(document: dict[str, Any]) -> None:
        node = document
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value

    archive = with_manifest(app("odd-1.0"), tmp_path / "odd-1.0.tar.gz", edit)
    line = error_line(refused(archive, canaries, command=command))
    assert f"does not match the manifest schema: {field}: {value!r} does not match" in line, line


COPIED = ("name", "version", "gopack_version", "python", "binding", "go", "cgo_headers", "platform", "glibc")
COPIED += ("host_libraries", "packages", "vendored", "sources", "unresolved", "unpruned")
MAPPED = {("size", "components"): "components", ("savings", "stripped"): "stripped", ("savings", "deduplicated"): "deduplicated"}


def stricter(inspect: dict[str, Any], manifest: dict[str, Any], at: str) -> list[str]:
    """Where the inspect schema refuses what the manifest schema lets through."""
    found = []
    for keyword in ("pattern", "minimum", "maximum", "enum", "const", "maxLength", "minLength", "maxItems"):
        if keyword in inspect and manifest.get(keyword) != inspect[keyword]:
            found.append(f"{at}: {keyword} {inspect[keyword]!r}, the manifest {manifest.get(keyword)!r}")
    if not set(inspect.get("required", [])) <= set(manifest.get("required", [])):
        found.append(f"{at}: requires {sorted(set(inspect['required']) - set(manifest.get('required', [])))}")
    if inspect.get("additionalProperties") is False and manifest.get("additionalProperties") is not False:
        found.append(f"{at}: allows no other properties")
    for key, sub in inspect.get("properties", {}).items():
        if key in manifest.get("properties", {}):
            found += stricter(sub, manifest["properties"][key], f"{at}.{key}")
    for keyword in ("items", "additionalProperties"):
        if isinstance(inspect.get(keyword), dict) and isinstance(manifest.get(keyword), dict):
            found += stricter(inspect[keyword], manifest[keyword], f"{at}.{keyword}")
    return found


def test_the_inspect_schema_is_no_stricter_than_the_manifests_on_what_it_copies() -> None:
    ours, theirs = contents.schema()["properties"], manifest.schema()["properties"]
    found = [problem for key in COPIED for problem in stricter(ours[key], theirs[key], key)]
    for (outer, inner), key in MAPPED.items():
        found += stricter(ours[outer]["properties"][inner], theirs[key], f"{outer}.{inner}")
    assert found == []


def test_expect_strings_are_bounded(canaries: Canaries, tmp_path: Path) -> None:
    """1,000 strings against 4 MiB of output took 15 s outside any time limit; now at most 64."""
    bundle = app("many-1.0")
    bundle.smoke = {"command": ["bin/app"], "expect": [f"string {i}" for i in range(65)], "timeout": 60}
    archive = bundle.tar(tmp_path / "many-1.0.tar.gz")
    for command in ("inspect", "verify"):
        assert "smoke.expect: [" in error_line(refused(archive, canaries, command=command))
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        "name: many\nversion: '1'\ngo: {module: .}\npython: {version: '3.11'}\nsmoke:\n  expect: ["
        + ", ".join(f"s{i}" for i in range(65))
        + "]\n"
    )
    result = gopack("bundle", str(recipe), tmpdir=tmp_path)
    assert result.returncode == 2 and "smoke.expect" in result.stderr, result.stderr


# -- 9: inspect DIR stays inside the folder ------------------------------------------------------


def extracted(tmp_path: Path, edit: Any) -> Path:
    """A bundle folder as tar would leave it, with its manifest changed by ``edit``."""
    bundle = app("dir-1.0").file("bin/data", b"plain data\n")
    root = tmp_path / "dir-1.0"
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "app").write_text("#!/bin/sh\necho OK\n")
    (root / "bin" / "data").write_text("plain data\n")
    document = bundle.manifest()
    edit(document, root)
    (root / "gopack.json").write_text(json.dumps(document))
    return root


def listing(*paths: str) -> Any:
    def edit(document: dict[str, Any], root: Path) -> None:
        document["files"] += [{"path": p, "size": 1, "sha256": "0" * 64, "mode": 0o755} for p in paths]

    return edit


@pytest.mark.parametrize(("path", "why"), [("/bin/ls", "is an absolute path"), ("../../../usr/bin/gcc", "has a '..' part")])
def test_inspect_dir_refuses_a_manifest_naming_paths_outside(path: str, why: str, tmp_path: Path) -> None:
    root = extracted(tmp_path, listing(path))
    result = gopack("inspect", str(root), tmpdir=tmp_path)
    assert result.returncode == FAILED, result.stderr
    assert why in error_line(result.stderr)


def test_inspect_dir_follows_no_link_and_opens_only_regular_files(tmp_path: Path) -> None:
    def edit(document: dict[str, Any], root: Path) -> None:
        os.symlink("/dev/stdin", root / "bin" / "stdin")
        os.mkfifo(root / "bin" / "fifo")
        os.symlink("/usr/bin", root / "hostbin")
        listing("bin/stdin", "bin/fifo", "hostbin/ls")(document, root)

    root = extracted(tmp_path, edit)
    start = time.monotonic()
    # stdin a pipe nobody writes to: reading /dev/stdin would wait for ever
    proc = subprocess.Popen(
        [sys.executable, "-m", "gopack", "inspect", "--json", str(root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert json.loads(out)["elf"]["files"] == 0  # /usr/bin/ls through hostbin/ was not read
    assert time.monotonic() - start < 30


# -- messages: a full disk, an interrupt ----------------------------------------------------------


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Any:
    place = tmp_path / "small"
    place.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(place)], check=False).returncode:
        pytest.skip("needs root to mount a 1 MiB tmpfs")
    try:
        yield place
    finally:
        subprocess.run(["umount", "-l", str(place)], check=False)


@pytest.mark.parametrize("shape", ["one large file", "many small files"])
def test_a_full_disk_is_called_a_full_disk(shape: str, small_tmpfs: Path, tmp_path: Path) -> None:
    bundle = app("full-1.0")
    if shape == "one large file":
        bundle.file("data/big", os.urandom(2 << 20))
    else:
        for i in range(400):  # 400 bytes, but a page of tmpfs each
            bundle.file(f"data/{i:03d}", b"x")
    result = gopack("verify", str(bundle.tar(tmp_path / "full-1.0.tar.gz")), tmpdir=small_tmpfs)
    assert result.returncode == FAILED, result.stderr
    line = error_line(result.stderr)
    expected = "extracting it needs" if shape == "one large file" else "the disk is full: cannot write"
    assert expected in line and str(small_tmpfs) in line, line
    assert "was not made by gopack or was altered" not in result.stderr
    assert "set TMPDIR" in result.stderr
    assert list(small_tmpfs.iterdir()) == []


@needs_root
def test_an_interrupted_verify_says_so(tmp_path: Path) -> None:
    bundle = app("slow-1.0", "sleep 60\necho OK\n")
    archive = bundle.tar(tmp_path / "slow-1.0.tar.gz")
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gopack", "verify", str(archive)],
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "TMPDIR": str(tmpdir)},
    )
    try:
        deadline = time.monotonic() + 60
        while not list(tmpdir.glob("gopack-verify-*/extracted/slow-1.0/bin/app")) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1)  # into the smoke test
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "no archive was written" not in err and "verify did not finish" in err, err
    assert "Traceback" not in err
    assert list(tmpdir.iterdir()) == []
