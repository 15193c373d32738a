"""Bundle the real examples with the real Go toolchain and CPython, then run them
where no Python exists: a private mount namespace hides every Python on the
machine and the environment is cleared."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import DATA, EXAMPLES, ODD_NAME, PYENV, REPO, extract, require_pyenv

from gopack.pipeline import Bundle
from gopack.verify import sandbox
from gopack.verify.checks import DECOYS

pytestmark = pytest.mark.integration


def run_hidden(
    argv: list[str], *, cwd: Path = Path("/"), env: dict[str, str] | None = None, read_only: tuple[Path, ...] = ()
) -> sandbox.Result:
    return sandbox.run_without_python(argv, cwd=cwd, env=env, read_only=read_only, timeout=600)


def test_the_sandbox_really_hides_python() -> None:
    require_pyenv("3.7")
    result = run_hidden(
        [
            "/bin/sh",
            "-c",
            f"for p in python python3 python3.7 python3.11 pip; do command -v $p; done; ls -A {shlex.quote(str(PYENV.parent))}; echo END",
        ]
    )
    assert result.returncode == 0, result.output
    assert result.output.strip() == "END", f"a Python is still visible in the sandbox:\n{result.output}"


def test_archive_name_and_manifest(build: Callable[[Path], Bundle]) -> None:
    require_pyenv("3.7")
    bundle = build(EXAMPLES / "hello" / "recipe.yaml")
    assert re.fullmatch(r"hello-0\.1\.0-cp37-manylinux_2_\d+_x86_64\.tar\.gz", bundle.archive.name), bundle.archive.name
    with tarfile.open(bundle.archive) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("hello-0.1.0/gopack.json"))  # type: ignore[arg-type]
    assert names == sorted(names)
    assert all(n == "hello-0.1.0" or n.startswith("hello-0.1.0/") for n in names)
    assert manifest["python"]["version"].startswith("3.7.")
    assert manifest["python"]["abi"] == "cp37m"
    assert manifest["binding"]["name"] == "cgo" and manifest["binding"]["pkg_config"] == ["python3-embed"]
    assert manifest["go"]["version"].startswith("go1.")
    listed = {f["path"] for f in manifest["files"]}
    assert {
        "bin/hello",
        "python/bin/python3.7",
        "python/lib/libpython3.7m.so.1.0",
        "app/hello.pyc",
        "python/lib/python3.7/os.pyc",
    } <= listed
    assert not {"app/hello.py", "python/lib/python3.7/os.py"} & listed  # python.sources defaults to false
    assert not [p for p in listed if "__pycache__" in p]  # nothing gopack ran wrote bytecode caches into the tree
    assert not any(p.startswith("python/lib/python3.7/site-packages/") and "pip" in p.split("/")[4:5] for p in listed)
    for entry in manifest["files"]:
        if "sha256" in entry:
            assert len(entry["sha256"]) == 64 and entry["size"] >= 0


def test_hello_runs_without_python(build: Callable[[Path], Bundle], tmp_path: Path) -> None:
    require_pyenv("3.7")
    root = extract(build(EXAMPLES / "hello" / "recipe.yaml").archive, tmp_path)
    result = run_hidden([str(root / "bin" / "hello")], env=DECOYS)
    assert result.returncode == 0, result.output
    assert "[VARS] a = 10" in result.output
    assert "[FUNC] res = xwjhaha" in result.output
    assert "[MODULE] repr(hello) = <module 'hello' from" in result.output


def test_sklearn_runs_without_python(build: Callable[[Path], Bundle], tmp_path: Path) -> None:
    require_pyenv("3.7")
    bundle = build(EXAMPLES / "sklearn" / "recipe.yaml")
    packages = {p["name"].lower(): p["version"] for p in bundle.manifest["packages"]}
    assert packages["scikit-learn"] == "1.0.2"
    assert bundle.manifest["binding"]["name"] == "DataDog/go-python3"
    root = extract(bundle.archive, tmp_path)
    result = run_hidden([str(root / "bin" / "sklearn-demo")], env=DECOYS)
    assert result.returncode == 0, result.output
    assert "[FUNC] res = xwjhaha" in result.output
    assert "[IMPORT] sklearn version = 1.0.2" in result.output
    assert "[PREDICT] [0 1 0 1]" in result.output


@pytest.fixture(scope="module")
def probe_root(build: Callable[[Path], Bundle], tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_pyenv("3.7")
    return extract(build(DATA / "probe" / "recipe.yaml").archive, tmp_path_factory.mktemp("probe"))


def probe(result: sandbox.Result) -> dict[str, object]:
    assert result.returncode == 0, result.output
    line = next(line for line in result.output.splitlines() if line.startswith("PROBE "))
    return dict(json.loads(line[len("PROBE ") :]))


def test_it_finds_its_home_through_a_symlink_read_only_from_anywhere(probe_root: Path, tmp_path: Path) -> None:
    link = tmp_path / "elsewhere" / "probe"
    link.parent.mkdir()
    link.symlink_to(probe_root / "bin" / "probe")
    decoy_bin = tmp_path / "decoy-bin"
    decoy_bin.mkdir()
    fake = decoy_bin / "python3"
    fake.write_text("#!/bin/sh\necho FAKE PYTHON; exit 3\n")
    fake.chmod(0o755)
    env = {**DECOYS, "PATH": f"{decoy_bin}:{sandbox.SAFE_PATH}"}
    seen = probe(run_hidden([str(link)], cwd=tmp_path, env=env, read_only=(probe_root,)))
    prefix = str(probe_root / "python")
    assert seen["version"] == "3.7"
    assert ODD_NAME.encode("utf-8").decode("ascii", "surrogateescape") in str(seen["prefix"]) or ODD_NAME in str(seen["prefix"])
    assert os.fsencode(str(seen["executable"])) == os.fsencode(prefix + "/bin/python3.7")
    assert os.fsencode(str(seen["prefix"])) == os.fsencode(prefix)
    assert os.fsencode(str(seen["encodings"])).startswith(os.fsencode(prefix + "/lib/python3.7/encodings/"))
    assert seen["pythonhome"] is None and seen["pythonpath"] is None
    assert seen["flags"] == {"ignore_environment": 1, "no_user_site": 1}
    child_prefix, child_home, child_path = seen["child"]  # type: ignore[misc]
    assert os.fsencode(child_prefix) == os.fsencode(prefix)
    assert child_home is None and child_path is None
    assert not any("decoy" in str(p) for p in seen["path"])  # type: ignore[union-attr]


def test_host_python_on_path_changes_nothing(probe_root: Path) -> None:
    """Without the sandbox, the machine's own python3 and a PYTHONHOME are right there."""
    env = {**os.environ, "PYTHONHOME": sys.base_prefix, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    out = subprocess.run([str(probe_root / "bin" / "probe")], env=env, capture_output=True, text=True, check=False)
    seen = probe(sandbox.Result(returncode=out.returncode, output=out.stdout + out.stderr))
    assert os.fsencode(str(seen["prefix"])) == os.fsencode(str(probe_root / "python"))


def gopack(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gopack", *args], cwd=cwd, capture_output=True, text=True, check=False)


def test_datadog_binding_with_python_311_is_refused_before_building(tmp_path: Path) -> None:
    require_pyenv("3.11")
    source = (EXAMPLES / "sklearn" / "recipe.yaml").read_text()
    changed = source.replace('version: "3.7"', 'version: "3.11"')
    assert changed != source
    recipe_path = EXAMPLES / "sklearn" / "recipe-311.test.yaml"
    recipe_path.write_text(changed)
    out = tmp_path / "out"
    try:
        result = gopack("bundle", str(recipe_path), "--output-dir", str(out))
    finally:
        recipe_path.unlink()
    assert result.returncode == 3, result.stderr
    assert "DataDog/go-python3" in result.stderr
    assert "compiles only against Python 3.7" in result.stderr and "asks for 3.11" in result.stderr
    assert "hint:" in result.stderr and "Traceback" not in result.stderr
    assert "python ..." not in result.stderr, "it must fail in the plan, before installing anything"
    assert not out.exists()


def test_a_failing_build_leaves_no_archive(tmp_path: Path) -> None:
    require_pyenv("3.7")
    module = tmp_path / "broken"
    module.mkdir()
    (module / "go.mod").write_text("module example.com/broken\n\ngo 1.21\n")
    (module / "main.go").write_text(
        'package main\n\n// #cgo pkg-config: python3-embed\n// #include <Python.h>\nimport "C"\n\nfunc main() { C.Py_InitializeEx(0); undefinedName() }\n'
    )
    (module / "recipe.yaml").write_text('name: broken\nversion: "1"\npython:\n  version: "3.7"\ngo:\n  module: .\n')
    out = tmp_path / "out"
    out.mkdir()
    result = gopack("bundle", str(module / "recipe.yaml"), "--output-dir", str(out))
    assert result.returncode == 4, result.stderr
    assert "go build failed" in result.stderr and "undefinedName" in result.stderr
    # Said as soon as Go fails (it builds beside the Python stage), and once more at the end.
    assert result.stderr.count("the Python tree is finished first, so that the next run reuses it") == 1
    assert list(out.iterdir()) == []


def test_bundle_json_report_is_alone_on_stdout(tmp_path: Path) -> None:
    require_pyenv("3.7")
    env = {**os.environ, "GOPACK_CACHE_DIR": str(tmp_path / "cache")}
    result = subprocess.run(
        [sys.executable, "-m", "gopack", "bundle", str(EXAMPLES / "hello" / "recipe.yaml"), "--output-dir", str(tmp_path), "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["schema_version"] == 1
    assert Path(report["archive"]).is_file() and report["size"] == Path(report["archive"]).stat().st_size
    assert set(report["stages"]) == {"plan", "python", "app", "go build", "relocate", "manifest", "archive"}
    assert report["python"]["tag"] == "cp37" and report["binding"]["name"] == "cgo"
    assert "go build done in" in result.stderr
