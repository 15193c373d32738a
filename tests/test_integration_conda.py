"""conda environments end to end, from a local channel (tests/conda_channel.py) built once per session.

The sklearn example is bundled from an environment py-rattler created in a fresh
prefix (``python.conda.prefix``) and from an environment.yml that gopack creates
itself (``python.conda.environment_file``, with a ``pip:`` section); both must
pass every ``gopack verify`` check, which runs them with no Python on the machine.
Then the errors a user meets, each by its message and exit code.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import conda_channel
import pytest
from conftest import EXAMPLES, open_tar, require_pyenv
from conftest import gopack_cli as gopack

from gopack.archive import unpack
from gopack.python import conda

pytestmark = pytest.mark.integration

SKLEARN = EXAMPLES / "sklearn"
ALL_CHECKS = {"files": True, "sbom": True, "linkage": True, "glibc-only root": True, "no python, decoys": True, "moved, read-only": True}


def write_recipe(directory: Path, conda_block: str, *, code: bool = True, go_module: Path = SKLEARN, extra: str = "") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "recipe.yaml"
    code_lines = f"  code:\n    - {SKLEARN / 'hello.py'}\n    - {SKLEARN / 'model.py'}\n" if code else ""
    path.write_text(
        f'name: sklearn-conda\nversion: "0.1.0"\ninputs_root: /\ngo:\n  module: {go_module}\n  binary: sklearn-demo\npython:\n'
        + textwrap.indent(conda_block, "  ")
        + code_lines
        + extra
        + 'smoke:\n  expect: ["[IMPORT] sklearn version = 1.0.2", "[PREDICT]", "[CV]"]\n'
    )
    return path


@pytest.fixture(scope="session")
def channel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_pyenv("3.7")
    dest = tmp_path_factory.mktemp("conda") / "channel"
    # A child process: py-rattler's indexer may crash while an interpreter shuts down (gopack.python._rattler).
    built = subprocess.run([sys.executable, conda_channel.__file__, str(dest)], capture_output=True, text=True, check=False)
    assert built.returncode == 0, built.stdout + built.stderr
    print(built.stdout)
    return dest


@pytest.fixture(scope="session")
def env_prefix(channel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An environment the way a user has one: created by py-rattler (not by gopack) in a fresh prefix."""
    prefix = tmp_path_factory.mktemp("user-envs") / "sklearn-env"
    conda_channel.solve_and_install(channel, prefix, ("python 3.7.*", "scikit-learn 1.0.2"))
    return prefix


@pytest.fixture(scope="session")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gopack-cache-conda")


def bundle_ok(recipe_path: Path, out: Path, cache: Path) -> dict[str, object]:
    result = gopack("bundle", "--json", "--output-dir", str(out), str(recipe_path), cache=cache)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def verify_ok(archive_path: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    result = gopack("verify", "--json", "--show-output", str(archive_path), cache=cache)
    assert result.returncode == 0, result.stdout + result.stderr
    assert {c["name"]: c["ok"] for c in json.loads(result.stdout)["checks"]} == ALL_CHECKS
    assert "[CV]" in result.stderr and "[PREDICT]" in result.stderr
    return result


def test_bundle_from_an_existing_prefix_runs_without_python(env_prefix: Path, tmp_path: Path, cache: Path) -> None:
    report = bundle_ok(write_recipe(tmp_path, f"conda:\n  prefix: {env_prefix}\n"), tmp_path / "dist", cache)
    built = Path(str(report["archive"]))
    verify_ok(built, cache)
    manifest = unpack.scan(built).manifest
    assert manifest["installer"] == "conda-pack"
    assert manifest["python"]["version"] == "3.7.16"
    packages = {p["name"]: p["version"] for p in manifest["packages"]}
    assert packages["python"] == "3.7.16" and packages["scikit-learn"] == "1.0.2" and packages["openssl"]
    # The environment's own libssl, libz, ... are used, not vendored from the host.
    vendored = {v["name"] for v in manifest["vendored"]}
    assert not any(v.startswith(("libssl", "libcrypto", "libz", "libffi", "libsqlite3")) for v in vendored), vendored
    files = {f["path"] for f in manifest["files"]}
    assert "python/lib/libssl.so.3" in files and "python/lib/libz.so.1" in files
    assert manifest["components"]["environment libraries"] > 3_000_000
    assert not any(f.startswith(("python/conda-meta/", "python/include/")) for f in files)
    assert {f for f in files if f.startswith("python/bin/")} >= {"python/bin/python3.7"}
    # No build path: not the environment's prefix, not the channel's build prefix.
    text = _archive_text(built)
    assert str(env_prefix) not in text and conda_channel.PLACEHOLDER not in text


def _archive_text(path: Path) -> str:
    """Every small text-like member of the archive, joined (to look for leaked paths)."""
    chunks = []
    with open_tar(path) as tar:
        for member in tar:
            if (
                member.isfile()
                and member.size < 2_000_000
                and member.name.endswith((".py", ".json", ".txt", ".pth", ".cfg", "Makefile", ".pc"))
            ):
                handle = tar.extractfile(member)
                assert handle is not None
                chunks.append(handle.read().decode("utf-8", "replace"))
    return "\n".join(chunks)


def test_bundle_from_an_environment_file_with_a_pip_section(channel: Path, tmp_path: Path, cache: Path) -> None:
    environment = tmp_path / "environment.yml"
    environment.write_text(
        f"name: sk\nchannels:\n  - {channel}\ndependencies:\n  - python=3.7\n  - scikit-learn=1.0.2\n  - pip:\n    - six==1.16.0\n"
    )
    recipe_path = write_recipe(tmp_path, "conda:\n  environment_file: environment.yml\n")
    report = bundle_ok(recipe_path, tmp_path / "dist", cache)
    built = Path(str(report["archive"]))
    verify_ok(built, cache)
    packages = {p["name"]: p["version"] for p in unpack.scan(built).manifest["packages"]}
    assert packages["scikit-learn"] == "1.0.2" and packages["six"] == "1.16.0"
    # The second time the environment and the Python tree come from the cache.
    again = bundle_ok(recipe_path, tmp_path / "dist2", cache)
    assert again["python_tree_cached"] is True
    assert Path(str(again["archive"])).read_bytes() == built.read_bytes()
    # The created environment is the cache's to list and prune.
    listed = json.loads(gopack("cache", "list", "--json", cache=cache).stdout)
    (created,) = listed["conda_environments"]
    assert Path(created["path"]).is_relative_to(cache / "conda") and created["size"] > 100_000_000
    pruned = json.loads(gopack("cache", "prune", "--json", cache=cache).stdout)
    assert pruned["removed_conda_environments"] == [created["path"]] and not Path(created["path"]).exists()


# -- errors ------------------------------------------------------------------------------------


def bundle_fails(recipe_path: Path, cache: Path, code: int, *fragments: str) -> str:
    out = recipe_path.parent / "dist"
    result = gopack("bundle", "--output-dir", str(out), str(recipe_path), cache=cache)
    assert result.returncode == code, (result.returncode, result.stderr)
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists() or not any(out.iterdir()), "a failed bundle left an output"
    return result.stderr


def test_an_environment_that_does_not_exist(tmp_path: Path, cache: Path) -> None:
    recipe_path = write_recipe(tmp_path, "conda:\n  prefix: no-such-env\n")
    bundle_fails(
        recipe_path, cache, 2, f"{recipe_path}:9: python.conda.prefix: the conda environment {tmp_path / 'no-such-env'} does not exist"
    )


def test_a_folder_that_is_not_a_conda_environment(tmp_path: Path, cache: Path) -> None:
    python = require_pyenv("3.7")
    recipe_path = write_recipe(tmp_path, f"conda:\n  prefix: {python}\n")
    stderr = bundle_fails(recipe_path, cache, 2, f"python.conda.prefix: {python} is not a conda environment (it has no conda-meta/ folder)")
    assert "use python.interpreter" in stderr


def test_an_environment_whose_python_the_binding_cannot_compile_against(env_prefix: Path, tmp_path: Path, cache: Path) -> None:
    module = tmp_path / "go312"
    module.mkdir()
    (module / "go.mod").write_text("module example.com/go312\n\ngo 1.21\n")
    (module / "main.go").write_text(
        'package main\n\n// #cgo pkg-config: python-3.12-embed\n// #include <Python.h>\nimport "C"\n\nfunc main() { C.Py_Initialize() }\n'
    )
    recipe_path = write_recipe(tmp_path, f"conda:\n  prefix: {env_prefix}\n", code=False, go_module=module)
    bundle_fails(
        recipe_path, cache, 3, f"the environment {env_prefix} has Python 3.7.16", "compiles only against Python 3.12", "python=3.12"
    )


def test_python_version_must_agree_with_the_environment(env_prefix: Path, tmp_path: Path, cache: Path) -> None:
    recipe_path = write_recipe(tmp_path, f'version: "3.8"\nconda:\n  prefix: {env_prefix}\n')
    bundle_fails(recipe_path, cache, 3, f"python.version: the conda environment {env_prefix} has Python 3.7.16, but python.version is 3.8")


def test_an_environment_without_a_shared_libpython(env_prefix: Path, tmp_path: Path, cache: Path) -> None:
    broken = tmp_path / "env-without-libpython"
    shutil.copytree(env_prefix, broken, symlinks=True)
    for library in (broken / "lib").glob("libpython3*.so*"):
        library.unlink()
    recipe_path = write_recipe(tmp_path, f"conda:\n  prefix: {broken}\n")
    bundle_fails(
        recipe_path,
        cache,
        3,
        f"python.conda.prefix: the conda environment {broken} has no shared libpython in lib/",
        "install a python package that ships",
    )


def test_an_environment_pip_damaged_is_refused_by_conda_pack(env_prefix: Path, tmp_path: Path, cache: Path) -> None:
    damaged = tmp_path / "env-pip-damaged"
    shutil.copytree(env_prefix, damaged, symlinks=True)
    # What `pip uninstall threadpoolctl` does to a conda-managed package.
    from gopack.python.env import find_uv

    subprocess.run(
        [str(find_uv()), "pip", "uninstall", "--python", str(damaged / "bin" / "python"), "--break-system-packages", "threadpoolctl"],
        check=True,
        capture_output=True,
    )
    recipe_path = write_recipe(tmp_path, f"conda:\n  prefix: {damaged}\n")
    bundle_fails(
        recipe_path,
        cache,
        4,
        f"python.conda.prefix: conda-pack refuses the environment {damaged}",
        "threadpoolctl",
        "repair the environment",
    )


def test_a_channel_that_cannot_be_reached(tmp_path: Path, cache: Path) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "environment.yml").write_text(f"channels: [http://127.0.0.1:{port}/nothing]\ndependencies: [python=3.7]\n")
    recipe_path = write_recipe(tmp_path, "conda:\n  environment_file: environment.yml\n")
    bundle_fails(
        recipe_path,
        cache,
        4,
        f"{tmp_path / 'environment.yml'}: a channel cannot be reached: http://127.0.0.1:{port}/nothing",
        "check the channel names",
    )


def test_a_package_that_cannot_be_resolved(channel: Path, tmp_path: Path, cache: Path) -> None:
    (tmp_path / "environment.yml").write_text(f"channels: [{channel}]\ndependencies: [python=3.7, scikit-learn=9.9]\n")
    recipe_path = write_recipe(tmp_path, "conda:\n  environment_file: environment.yml\n")
    bundle_fails(recipe_path, cache, 4, f"{tmp_path / 'environment.yml'}: the dependencies cannot be resolved", "scikit-learn")


def test_an_environment_name_needs_a_conda_on_path(tmp_path: Path, cache: Path) -> None:
    recipe_path = write_recipe(tmp_path, "conda:\n  name: sk\n")
    result = subprocess.run(
        [sys.executable, "-m", "gopack", "bundle", str(recipe_path)],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": str(Path(shutil.which("go") or "go").parent), "GOPACK_CACHE_DIR": str(cache), "HOME": str(tmp_path)},
    )
    assert result.returncode == 3, result.stderr
    assert "python.conda.name: looking up the environment 'sk' needs conda, mamba or micromamba" in result.stderr
    assert "set python.conda.prefix" in result.stderr


def test_conda_env_state_changes_when_pip_changes_the_environment(env_prefix: Path, tmp_path: Path) -> None:
    copy = tmp_path / "env"
    shutil.copytree(env_prefix, copy, symlinks=True)
    before = conda.state(copy)
    (copy / "lib" / "python3.7" / "site-packages" / "extra.py").write_text("x = 1\n")
    assert conda.state(copy) != before
