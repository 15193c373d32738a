"""Issue 14: an aarch64 bundle built on this x86_64 machine, proven under qemu-user.

Two arm64 Debian 11 (bullseye) roots are made once with ``debootstrap --foreign``
and cached (tests/debian_roots.py): one with python3.9 and libpython3.9-dev, which
the bundle is built against (--sysroot, --target-arch aarch64); one with nothing
added, no Python and arm64's glibc 2.31, where the bundle runs, chrooted, under
Debian's static qemu-aarch64. The program is the raw-cgo one of the Debian 11
tests (tests/data/oldlinux), which imports numpy from an aarch64 wheel.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jsonschema
import pytest
from conftest import DATA, extract
from conftest import gopack_cli as gopack
from debian_roots import debian_root

from gopack.archive import contents
from gopack.errors import RecipeError, ToolchainError
from gopack.platform import emulation
from gopack.platform.linux import analysis
from gopack.verify import sandbox

pytestmark = pytest.mark.integration

RECIPE = DATA / "oldlinux" / "recipe.yaml"
EXPECT = "[OLDLINUX] python 3.9 numpy 1.26.4 det=-5.0 trace=12.0"


@pytest.fixture(scope="session")
def arm64_roots() -> tuple[Path, Path]:
    """Both arm64 roots, debootstrapped side by side the first time."""
    with ThreadPoolExecutor(2) as pool:
        built = pool.submit(debian_root, "bullseye", ["python3.9", "libpython3.9-dev"], arch="arm64")
        bare = pool.submit(debian_root, "bullseye", arch="arm64")
        return built.result(), bare.result()


@pytest.fixture(scope="session")
def arm64_python(arm64_roots: tuple[Path, Path]) -> Path:
    root = arm64_roots[0]
    assert analysis.elf_machine(root / "usr" / "bin" / "python3.9") == "EM_AARCH64"
    return root


@pytest.fixture(scope="session")
def arm64_bare(arm64_roots: tuple[Path, Path]) -> Path:
    """A clean arm64 Debian 11 root with no Python, and the static qemu that runs its programs."""
    root = arm64_roots[1]
    assert not list((root / "usr" / "bin").glob("python*")) and not list((root / "usr" / "lib").glob("python3*"))
    assert (root / "etc" / "debian_version").read_text().startswith("11.")
    qemu = shutil.which("qemu-aarch64-static")
    if qemu is None:
        pytest.fail("qemu-aarch64-static is missing: `make setup` installs Debian's qemu-user-static")
    inside = root / str(emulation.IN_ROOT).lstrip("/")
    inside.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(qemu, inside)
    (root / "bundle").mkdir(exist_ok=True)
    return root


@pytest.fixture(scope="module")
def cross_bundle(arm64_python: Path, bundle_dir: Path, cache_dir: Path) -> Iterator[Path]:
    built = gopack(
        "bundle",
        "--json",
        str(RECIPE),
        "--sysroot",
        str(arm64_python),
        "--target-arch",
        "aarch64",
        "-o",
        str(bundle_dir / "aarch64"),
        cache=cache_dir,
    )
    assert built.returncode == 0, built.stderr
    yield Path(json.loads(built.stdout)["archive"])


def test_the_bundle_is_for_aarch64_in_every_elf_file(cross_bundle: Path, arm64_python: Path, cache_dir: Path) -> None:
    assert re.fullmatch(r"oldlinux-1\.0-cp39-manylinux_2_(\d+)_aarch64\.tar\.gz", cross_bundle.name), cross_bundle.name
    shown = gopack("inspect", "--json", str(cross_bundle), cache=cache_dir)
    assert shown.returncode == 0, shown.stderr
    document = json.loads(shown.stdout)
    jsonschema.validate(document, contents.schema())
    assert document["go"]["goarch"] == "arm64"
    assert document["go"]["linked_for"] == "aarch64-linux-gnu.2.31"
    assert document["platform"].endswith("_aarch64") and document["python"]["version"].startswith("3.9.")
    # Every ELF file: the Go binary, libpython, the stdlib's modules, numpy's, the vendored libraries.
    assert document["elf"]["machines"] == {"EM_AARCH64": document["elf"]["files"]}, document["elf"]
    assert document["elf"]["files"] > 50
    assert {"libssl.so.1.1", "libcrypto.so.1.1"} <= {v["soname"] for v in document["vendored"]}
    assert all(Path(v["source"]).is_relative_to(arm64_python) for v in document["vendored"])
    text = gopack("inspect", str(cross_bundle), cache=cache_dir)
    assert f"{document['elf']['files']} files, all EM_AARCH64 (aarch64)" in text.stdout, text.stdout


def test_the_bundle_runs_under_qemu_in_an_arm64_debian11_root_without_python(cross_bundle: Path, arm64_bare: Path, tmp_path: Path) -> None:
    bundle = extract(cross_bundle, tmp_path)
    result = sandbox.run_in_glibc_root([str(emulation.IN_ROOT), "/bundle/bin/oldlinux"], root=arm64_bare, bundle=bundle, timeout=600)
    assert result.returncode == 0, result.output
    assert EXPECT in result.output, result.output
    assert "libc=glibc-2.31" in result.output and result.output.rstrip().endswith("aarch64"), result.output


@pytest.mark.parametrize("glibc_from", ["sysroot", "cross packages"])
def test_verify_runs_the_smoke_test_under_qemu_in_all_three_sandboxes(
    cross_bundle: Path, arm64_bare: Path, cache_dir: Path, glibc_from: str
) -> None:
    extra = ["--sysroot", str(arm64_bare)] if glibc_from == "sysroot" else []
    result = gopack("verify", "--json", *extra, str(cross_bundle), cache=cache_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert set(checks) == {"files", "sbom", "linkage", "glibc-only root", "no python, decoys", "moved, read-only"}, checks
    assert all(c["ok"] for c in checks.values()), checks
    prefix = str(arm64_bare) if glibc_from == "sysroot" else "/usr/aarch64-linux-gnu"
    assert f"under qemu-aarch64-static with aarch64's glibc from {prefix}" in checks["moved, read-only"]["detail"]
    assert f"aarch64's glibc, libgcc_s, libstdc++ and loader from {prefix}" in checks["glibc-only root"]["detail"]


def test_verify_says_plainly_what_it_cannot_run(cross_bundle: Path, arm64_python: Path, cache_dir: Path, tmp_path: Path) -> None:
    """A root of the wrong machine as the glibc to run with: the smoke test is not run, and verify fails saying why."""
    x86 = tmp_path / "x86root"
    (x86 / "lib64").mkdir(parents=True)
    shutil.copy2(os.path.realpath("/lib64/ld-linux-x86-64.so.2"), x86 / "lib64" / "ld-linux-x86-64.so.2")
    (x86 / "lib").mkdir()
    result = gopack("verify", "--json", "--sysroot", str(x86), str(cross_bundle), cache=cache_dir)
    assert result.returncode != 0
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert not checks["smoke"]["ok"]
    assert checks["smoke"]["detail"].startswith(f"not run: --sysroot {x86} has no /lib/ld-linux-aarch64.so.1"), checks["smoke"]


def test_a_root_of_another_machine_than_the_target_arch_is_refused_before_any_work(
    arm64_python: Path, cache_dir: Path, tmp_path: Path
) -> None:
    result = gopack(
        "bundle", str(RECIPE), "--sysroot", str(arm64_python), "--target-arch", "x86_64", "-o", str(tmp_path / "o"), cache=cache_dir
    )
    assert result.returncode == ToolchainError.exit_code, result.stderr
    assert (
        f"--sysroot: {arm64_python} is a root for EM_AARCH64 (aarch64), but the bundle is for GOARCH=amd64 (EM_X86_64, --target-arch)"
        in (result.stderr)
    )
    assert "Traceback" not in result.stderr and not (tmp_path / "o").exists()


def test_the_hosts_arch_with_an_arm64_root_and_no_target_arch_is_refused(arm64_python: Path, cache_dir: Path, tmp_path: Path) -> None:
    """Without target.arch, Go's own GOARCH (amd64 here) decides, and the arm64 root does not fit it."""
    result = gopack("bundle", str(RECIPE), "--sysroot", str(arm64_python), "-o", str(tmp_path / "o"), cache=cache_dir)
    assert result.returncode == ToolchainError.exit_code, result.stderr
    assert "is a root for EM_AARCH64 (aarch64), but the bundle is for GOARCH=amd64 (EM_X86_64, GOARCH from go env)" in result.stderr
    assert "target.arch / --target-arch" in result.stderr


def test_another_arch_without_a_root_is_refused_naming_debootstrap(cache_dir: Path, tmp_path: Path) -> None:
    result = gopack("bundle", str(RECIPE), "--target-arch", "arm64", "-o", str(tmp_path / "o"), cache=cache_dir)
    assert result.returncode == ToolchainError.exit_code, result.stderr
    assert "--target-arch: the bundle is for GOARCH=arm64 (EM_AARCH64), but this machine is EM_X86_64" in result.stderr
    assert "debootstrap --arch=arm64 --foreign" in result.stderr and not (tmp_path / "o").exists()


def test_target_arch_and_go_env_goarch_must_agree(tmp_path: Path, cache_dir: Path) -> None:
    for name in ("go.mod", "main.go", "oldlinux.py"):
        shutil.copy2(RECIPE.parent / name, tmp_path / name)
    text = RECIPE.read_text().replace("  package: .\n", "  package: .\n  env:\n    GOARCH: amd64\n")
    (tmp_path / "recipe.yaml").write_text(text + "target:\n  arch: aarch64\n")
    result = gopack("bundle", str(tmp_path / "recipe.yaml"), "-o", str(tmp_path / "o"), cache=cache_dir)
    assert result.returncode == RecipeError.exit_code, result.stderr
    assert re.search(
        r"recipe\.yaml:\d+: go\.env\.GOARCH: GOARCH is amd64, but target\.arch asks for aarch64 \(GOARCH=arm64\)", result.stderr
    ), result.stderr


def path_without(names: set[str], farm: Path) -> str:
    """A PATH of links to every program on this PATH but ``names``."""
    farm.mkdir()
    for directory in os.environ["PATH"].split(os.pathsep):
        if not os.path.isdir(directory):
            continue
        for entry in os.scandir(directory):
            link = farm / entry.name
            if entry.name not in names and not link.exists() and os.access(entry.path, os.X_OK):
                link.symlink_to(entry.path)
    return str(farm)


@pytest.mark.parametrize(
    ("hidden", "says"),
    [
        (
            {"qemu-aarch64", "qemu-aarch64-static"},
            "and qemu-aarch64 is not on PATH\nhint: install Debian's qemu-user (apt-get install qemu-user)",
        ),
        ({"aarch64-linux-gnu-strip"}, "aarch64-linux-gnu-strip was not found on PATH\nhint: install binutils-aarch64-linux-gnu"),
    ],
)
def test_a_missing_cross_tool_is_named_with_its_debian_package_before_any_work(
    arm64_python: Path, cache_dir: Path, tmp_path: Path, hidden: set[str], says: str
) -> None:
    env = {**os.environ, "GOPACK_CACHE_DIR": str(cache_dir), "PATH": path_without(hidden, tmp_path / "bin")}
    argv = [sys.executable, "-m", "gopack", "bundle", str(RECIPE), "--sysroot", str(arm64_python), "--target-arch", "aarch64"]
    result = subprocess.run([*argv, "-o", str(tmp_path / "o")], capture_output=True, text=True, check=False, env=env)
    assert result.returncode == ToolchainError.exit_code, result.stderr
    assert says in result.stderr, result.stderr
    assert "python ..." not in result.stderr and not (tmp_path / "o").exists()
