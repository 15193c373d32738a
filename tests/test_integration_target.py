"""Issue 13: bundles for older Linux, built against a Debian 11 root and for a chosen glibc floor.

Two Debian 11 (bullseye) minbase roots are made once with debootstrap and cached
(tests/debian_roots.py): one with python3.9, libpython3.9-dev and pkg-config, which
the bundle is built against (--sysroot); one with nothing added, which has no Python
and glibc 2.31, where the bundle runs (chrooted, as gopack's glibc-only root).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
from conftest import DATA, EXAMPLES, extract, require_pyenv
from conftest import gopack_cli as gopack

from gopack import pipeline, plan
from gopack.archive import contents
from gopack.errors import ToolchainError, UsageError
from gopack.pipeline import Bundle
from gopack.platform.linux import analysis
from gopack.recipe import model as recipe
from gopack.verify import sandbox

pytestmark = pytest.mark.integration

RECIPE = DATA / "oldlinux" / "recipe.yaml"
EXPECT = "[OLDLINUX] python 3.9 numpy 1.26.4 det=-5.0 trace=12.0"


def older_or_same(version: str, than: str) -> bool:
    return analysis.version_key(f"GLIBC_{version}") <= analysis.version_key(f"GLIBC_{than}")


@pytest.fixture(scope="module")
def sysroot_bundle(bullseye_python: Path, bundle_dir: Path, cache_dir: Path) -> Iterator[Bundle]:
    mp = pytest.MonkeyPatch()
    mp.setenv("GOPACK_CACHE_DIR", str(cache_dir))
    try:
        yield pipeline.bundle(recipe.load(RECIPE), output_dir=bundle_dir / "sysroot", target=plan.TargetOptions(sysroot=bullseye_python))
    finally:
        mp.undo()


def run_in_root(archive: Path, root: Path, where: Path) -> sandbox.Result:
    bundle = extract(archive, where)
    return sandbox.run_in_glibc_root(["/bundle/bin/oldlinux"], root=root, bundle=bundle, timeout=300)


def test_sysroot_bundle_takes_python_and_libraries_from_the_root(sysroot_bundle: Bundle, bullseye_python: Path) -> None:
    manifest = sysroot_bundle.manifest
    assert re.fullmatch(r"oldlinux-1\.0-cp39-manylinux_2_(\d+)_x86_64\.tar\.gz", sysroot_bundle.archive.name)
    assert older_or_same(manifest["glibc"]["floor"], "2.31"), manifest["glibc"]
    tag = re.fullmatch(r"manylinux_2_(\d+)_x86_64", manifest["platform"])
    assert tag and int(tag.group(1)) <= 31, manifest["platform"]
    assert manifest["python"]["version"].startswith("3.9.")  # Debian 11's own python3.9
    vendored = manifest["vendored"]
    assert {"libssl.so.1.1", "libcrypto.so.1.1", "libexpat.so.1", "libz.so.1"} <= {v["soname"] for v in vendored}
    assert all(Path(v["source"]).is_relative_to(bullseye_python) for v in vendored), [v["source"] for v in vendored]
    # zig linked the Go program for the root's glibc; its own needs stay at or below it.
    assert manifest["go"]["linked_for"] == "x86_64-linux-gnu.2.31"
    assert older_or_same(manifest["go"]["symbol_versions"]["GLIBC"], "2.31")
    # Debian's python reads dist-packages: the bundle's is a link to its site-packages.
    dist = [f for f in manifest["files"] if f["path"] == "python/lib/python3.9/dist-packages"]
    assert dist and dist[0].get("link") == "site-packages", dist


def test_sysroot_bundle_runs_in_a_debian11_root_without_python(sysroot_bundle: Bundle, bullseye_bare: Path, tmp_path: Path) -> None:
    result = run_in_root(sysroot_bundle.archive, bullseye_bare, tmp_path)
    assert result.returncode == 0, result.output
    assert EXPECT in result.output and "libc=glibc-2.31" in result.output, result.output


def test_sysroot_bundle_passes_verify_in_the_glibc_only_root(sysroot_bundle: Bundle) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gopack", "verify", "--json", str(sysroot_bundle.archive)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    checks = {c["name"]: c["ok"] for c in json.loads(result.stdout)["checks"]}
    assert checks["glibc-only root"] and checks["no python, decoys"], checks


def test_target_glibc_below_the_root_links_the_go_program_for_it(
    bullseye_python: Path, bullseye_bare: Path, cache_dir: Path, tmp_path: Path
) -> None:
    """--target-glibc 2.29 under a 2.31 root: zig links the Go program for 2.29 and wheels are resolved for manylinux_2_28."""
    built = gopack(
        "bundle",
        "--json",
        str(RECIPE),
        "--sysroot",
        str(bullseye_python),
        "--target-glibc",
        "2.29",
        "-o",
        str(tmp_path / "out"),
        cache=cache_dir,
    )
    assert built.returncode == 0, built.stderr
    archive = Path(json.loads(built.stdout)["archive"])
    shown = gopack("inspect", "--json", str(archive), cache=cache_dir)
    assert shown.returncode == 0, shown.stderr
    document = json.loads(shown.stdout)
    jsonschema.validate(document, contents.schema())
    assert document["go"]["linked_for"] == "x86_64-linux-gnu.2.29"
    assert older_or_same(document["go"]["symbol_versions"]["GLIBC"], "2.29"), document["go"]
    assert older_or_same(document["glibc"]["floor"], "2.29"), document["glibc"]
    result = run_in_root(archive, bullseye_bare, tmp_path)
    assert result.returncode == 0 and EXPECT in result.output, result.output


def test_target_glibc_below_the_roots_python_fails_before_any_work(bullseye_python: Path, cache_dir: Path, tmp_path: Path) -> None:
    result = gopack(
        "bundle", str(RECIPE), "--sysroot", str(bullseye_python), "--target-glibc", "2.28", "-o", str(tmp_path / "out"), cache=cache_dir
    )
    assert result.returncode == ToolchainError.exit_code, result.stderr
    assert (
        f"the root {bullseye_python} has no CPython 3.9 with a shared libpython and headers that starts on glibc 2.28 (--target-glibc)"
        in result.stderr
    )
    assert re.search(r"libpython3\.9\.so\.1\.0: GLIBC_2\.29 \(.*pow", result.stderr), result.stderr
    assert "conda-forge" in result.stderr and "python-build-standalone" in result.stderr
    assert not (tmp_path / "out").exists()


def test_host_pyenv_37_is_refused_for_glibc_2_31_naming_libpython(cache_dir: Path, tmp_path: Path) -> None:
    require_pyenv("3.7")
    result = gopack(
        "bundle", str(EXAMPLES / "hello" / "recipe.yaml"), "--target-glibc", "2.31", "-o", str(tmp_path / "out"), cache=cache_dir
    )
    assert result.returncode == ToolchainError.exit_code, result.stderr
    assert "no CPython 3.7 with a shared libpython that starts on glibc 2.31 (--target-glibc) was found" in result.stderr
    assert re.search(r"libpython3\.7m\.so\.1\.0: GLIBC_2\.3[2-9] \(", result.stderr), result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_root_without_the_python_version_is_refused(bullseye_bare: Path, cache_dir: Path, tmp_path: Path) -> None:
    result = gopack("bundle", str(RECIPE), "--sysroot", str(bullseye_bare), "-o", str(tmp_path / "out"), cache=cache_dir)
    assert result.returncode == ToolchainError.exit_code, result.stderr
    assert f"the root {bullseye_bare} has no CPython 3.9 with a shared libpython and headers" in result.stderr
    assert "libpython3.9-dev" in result.stderr


def test_the_debian_roots_are_what_the_tests_say(bullseye_python: Path, bullseye_bare: Path) -> None:
    assert (bullseye_python / "usr" / "include" / "python3.9" / "Python.h").is_file()
    assert shutil.which("python3.9", path=str(bullseye_bare / "usr" / "bin")) is None
    assert (bullseye_bare / "etc" / "debian_version").read_text().startswith("11.")


def test_verify_refuses_a_sysroot_for_a_bundle_of_this_machine(sysroot_bundle: Bundle, bullseye_bare: Path) -> None:
    """--sysroot is the glibc another machine's bundle runs with; for this machine's bundle it would be ignored."""
    result = subprocess.run(
        [sys.executable, "-m", "gopack", "verify", "--sysroot", str(bullseye_bare), str(sysroot_bundle.archive)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == UsageError.exit_code, result.stderr
    assert f"--sysroot {bullseye_bare}: the bundle is for EM_X86_64, this machine's own" in result.stderr
