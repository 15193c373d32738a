"""Issue 3: vendored libraries, glibc floor and tag, inspect, verify in a glibc-only root."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest
from conftest import EXAMPLES, require_pyenv

import gopack as gopack_package
from gopack.archive import contents
from gopack.errors import BuildError
from gopack.pipeline import Bundle
from gopack.platform.linux import analysis, relocate
from gopack.verify import sandbox

pytestmark = pytest.mark.integration


def gopack(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gopack", *args], capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def sklearn(build: Callable[[Path], Bundle]) -> Bundle:
    require_pyenv("3.7")
    return build(EXAMPLES / "sklearn" / "recipe.yaml")


def test_archive_name_carries_the_manylinux_tag_of_the_floor(sklearn: Bundle) -> None:
    match = re.fullmatch(r"sklearn-demo-0\.1\.0-cp37-manylinux_(\d+)_(\d+)_x86_64\.tar\.gz", sklearn.archive.name)
    assert match, sklearn.archive.name
    floor = sklearn.manifest["glibc"]["floor"]
    assert floor == f"{match.group(1)}.{match.group(2)}"


def test_host_libraries_are_only_glibc_and_the_gcc_runtime(sklearn: Bundle) -> None:
    assert set(sklearn.manifest["host_libraries"]) <= analysis.HOST_LIBRARIES
    vendored = {v["soname"] for v in sklearn.manifest["vendored"]}
    # The ones the research found missing in a glibc-only root, including scipy's libgfortran's libz.
    assert {"libz.so.1", "libssl.so.3", "libcrypto.so.3", "liblzma.so.5", "libbz2.so.1.0", "libsqlite3.so.0", "libffi.so.8"} & vendored >= {
        "libz.so.1",
        "libssl.so.3",
        "libcrypto.so.3",
        "liblzma.so.5",
        "libbz2.so.1.0",
        "libsqlite3.so.0",
    }
    libz = next(v for v in sklearn.manifest["vendored"] if v["soname"] == "libz.so.1")
    assert re.fullmatch(r"libz-[0-9a-f]{8}\.so\.1", libz["name"])
    assert any("scipy.libs/libgfortran" in n for n in libz["needed_by"])
    # Wheels' own vendored libraries are left where they were.
    names = {f["path"] for f in sklearn.manifest["files"]}
    assert any(p.startswith("python/lib/python3.7/site-packages/numpy.libs/libopenblasp") for p in names)


def test_repaired_scipy_modules_strip_broke_are_blanked_not_shipped_with_debug_sections(sklearn: Bundle) -> None:
    """scipy 1.7's auditwheel-repaired modules no longer load once stripped; their debug
    sections are zeroed in place instead (the smoke test and verify load them)."""
    stripped = sklearn.manifest["stripped"]
    assert stripped["blanked"]["files"] >= 10 and stripped["blanked"]["bytes"] > 20_000_000
    assert stripped["restored"] == []


def test_inspect_json_reports_the_floor_and_matches_its_schema(sklearn: Bundle) -> None:
    result = gopack("inspect", "--json", str(sklearn.archive))
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    jsonschema.validate(document, contents.schema())
    assert document["glibc"]["floor"] == sklearn.manifest["glibc"]["floor"]
    assert document["platform"].startswith("manylinux_")
    components = document["size"]["components"]
    assert {"stdlib", "go binary", "libpython", "vendored libraries", "site-packages/scipy", "site-packages/scikit-learn"} <= set(
        components
    )
    assert sum(components.values()) == document["size"]["total"]
    assert components.get("site-packages/(unowned)", 0) < components["site-packages/joblib"]  # bytecode is counted with its package
    licences = {p["name"]: p["license"] for p in document["packages"]}
    assert all(licences.values()) and "BSD" in licences["numpy"]


def test_inspect_reads_an_extracted_directory_too(sklearn: Bundle, tmp_path: Path) -> None:
    with tarfile.open(sklearn.archive) as tar:
        tar.extractall(tmp_path, filter="data")
    result = gopack("inspect", str(tmp_path / "sklearn-demo-0.1.0"))
    assert result.returncode == 0, result.stderr
    assert "manylinux_" in result.stdout and "scikit-learn 1.0.2" in result.stdout


def test_verify_passes_the_sklearn_bundle_in_all_three_places(sklearn: Bundle) -> None:
    result = gopack("verify", "--json", "--show-output", str(sklearn.archive))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    names = {c["name"]: c["ok"] for c in report["checks"]}
    assert names == {
        "files": True,
        "sbom": True,
        "linkage": True,
        "glibc-only root": True,
        "no python, decoys": True,
        "moved, read-only": True,
    }
    assert "[CV]" in result.stderr and "[PREDICT]" in result.stderr


def test_the_glibc_only_root_really_has_nothing_else(tmp_path: Path) -> None:
    placed = sandbox.make_glibc_root(tmp_path / "root", sorted(analysis.HOST_LIBRARIES))
    every = sorted(str(p.relative_to(tmp_path / "root")) for p in (tmp_path / "root").rglob("*") if p.is_file())
    assert every == sorted([p.lstrip("/") for p in placed] + ["bin/sh"] + [f"dev/{d}" for d in ("null", "random", "urandom", "zero")])
    result = sandbox.run_in_glibc_root(
        ["/bin/sh", "-c", "echo in-root; for f in /lib/x86_64-linux-gnu/* /usr/lib/*; do echo $f; done"],
        root=tmp_path / "root",
        bundle=tmp_path,
        timeout=60,
    )
    assert result.returncode == 0 and "in-root" in result.output
    assert "libz" not in result.output and "libssl" not in result.output


def _rewrite(archive: Path, dest: Path, change: Callable[[tarfile.TarInfo, bytes | None], tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(archive) as src, tarfile.open(dest, "w:gz") as out:
        for member in src:
            data = src.extractfile(member).read() if member.isfile() else None  # type: ignore[union-attr]
            member, data = change(member, data)
            out.addfile(member, io.BytesIO(data) if data is not None else None)
    return dest


def test_verify_refuses_a_tampered_copy_naming_the_file(build: Callable[[Path], Bundle], tmp_path: Path) -> None:
    hello = build(EXAMPLES / "hello" / "recipe.yaml").archive

    def tamper(member: tarfile.TarInfo, data: bytes | None) -> tuple[tarfile.TarInfo, bytes | None]:
        if member.name.endswith("app/hello.pyc") and data is not None:
            data = data.replace(b"haha", b"hehe")
            member.size = len(data)
        return member, data

    bad = _rewrite(hello, tmp_path / hello.name, tamper)
    result = gopack("verify", str(bad))
    assert result.returncode == 5
    assert "app/hello.pyc: content differs from the manifest" in result.stderr


@pytest.mark.parametrize("kind", ["absolute", "dotdot", "symlink-out", "device"])
def test_verify_refuses_unsafe_entries(build: Callable[[Path], Bundle], tmp_path: Path, kind: str) -> None:
    hello = build(EXAMPLES / "hello" / "recipe.yaml").archive
    added = False

    def evil(member: tarfile.TarInfo, data: bytes | None) -> tuple[tarfile.TarInfo, bytes | None]:
        nonlocal added
        if added or not member.name.endswith("app/hello.pyc"):
            return member, data
        added = True
        if kind == "absolute":
            member.name = "/tmp/gopack-evil"
        elif kind == "dotdot":
            member.name = "hello-0.1.0/../../gopack-evil"
        elif kind == "symlink-out":
            member.type, member.linkname, member.size, data = tarfile.SYMTYPE, "/etc/passwd", 0, None
        else:
            member.type, member.size, data = tarfile.CHRTYPE, 0, None
        return member, data

    bad = _rewrite(hello, tmp_path / hello.name, evil)
    result = gopack("verify", str(bad))
    assert result.returncode == 5, result.stderr
    assert "unsafe entry refused" in result.stderr or "expected one top-level directory" in result.stderr
    assert not Path("/tmp/gopack-evil").exists()


def test_max_glibc_refuses_an_interpreter_too_new_before_any_work(tmp_path: Path) -> None:
    """--max-glibc is the older name of --target-glibc: the host's pyenv 3.7 needs glibc 2.34+,
    so the plan refuses it, naming each file and symbol, before anything is built."""
    require_pyenv("3.7")
    result = gopack("bundle", str(EXAMPLES / "hello" / "recipe.yaml"), "--output-dir", str(tmp_path), "--max-glibc", "2.17")
    assert result.returncode == 3, result.stderr
    assert "no CPython 3.7 with a shared libpython that starts on glibc 2.17 (--max-glibc) was found" in result.stderr
    assert re.search(r"bin/python3\.7: GLIBC_2\.\d+ \(.*__libc_start_main", result.stderr)
    assert re.search(r"libpython3\.7m\.so\.1\.0: GLIBC_2\.\d+ \(", result.stderr)
    assert "sysroot" in result.stderr and "conda-forge" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_floor_gate_names_each_file_and_symbol_above_it() -> None:
    """What relocate.floor says when a file of the finished tree (a wheel's module, a vendored
    library) needs more than the floor: the files, versions and symbols, and the hint."""
    requirements = {
        "python/lib/python3.9/site-packages/x/_x.so": {"GLIBC_2.2.5": frozenset({"free"}), "GLIBC_2.34": frozenset({"pthread_create"})},
        "bin/app": {"GLIBC_2.17": frozenset({"memcpy"})},
    }
    with pytest.raises(BuildError) as info:
        relocate.floor(requirements, machine="EM_X86_64", max_glibc="2.28", where_max="--target-glibc")
    message = info.value.message
    assert message.startswith("--target-glibc: the bundle needs glibc 2.34, newer than 2.28")
    assert "python/lib/python3.9/site-packages/x/_x.so: GLIBC_2.34 (pthread_create)" in message and "bin/app" not in message
    assert info.value.hint and "sysroot" in info.value.hint
    assert relocate.floor(requirements, machine="EM_X86_64", max_glibc="2.34", where_max="--target-glibc").tag == "manylinux_2_34_x86_64"


def test_verify_without_a_sandbox_says_so(build: Callable[[Path], Bundle]) -> None:
    """Run as an unprivileged user: no mount namespace can be made, and verify refuses."""
    hello = build(EXAMPLES / "hello" / "recipe.yaml").archive
    shared = Path(tempfile.mkdtemp(prefix="gopack-unprivileged-"))  # pytest's own tmp root is private to root
    try:
        shared.chmod(0o755)
        copy = shared / hello.name
        shutil.copy(hello, copy)
        copy.chmod(0o644)
        # gopack's own code and dependencies, importable by any user.
        site = next(Path(sys.prefix).glob("lib/python3*/site-packages"))
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{Path(gopack_package.__file__).parent.parent}:{site}"}
        python = shutil.which("python3", path="/usr/bin") or sys.executable
        runner = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", python, "-m", "gopack", "verify", str(copy)]
        result = subprocess.run(runner, capture_output=True, text=True, check=False, env=env, cwd=shared)
        assert result.returncode == 5, result.stdout + result.stderr
        assert "cannot make the sandboxes" in result.stderr and "--allow-unsandboxed" in result.stderr
        assert "Traceback" not in result.stderr
    finally:
        shutil.rmtree(shared)
