"""Every Python and every binding: each cell is bundled with the real toolchain and
passes the whole of ``gopack verify`` (manifest, linkage, glibc-only root, no
Python with decoys, moved read-only). Cells carry no third-party packages so the
matrix stays cheap."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import DATA, EXAMPLES, extract, require_pyenv

from gopack.pipeline import Bundle
from gopack.verify import checks as verify

pytestmark = pytest.mark.integration

PYTHONS = ["3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13"]


def assert_verified(archive: Path) -> str:
    checks = verify.verify(archive)
    failed = [f"{c.name}: {c.detail}\n{c.output}" for c in checks if not c.ok]
    assert not failed, "\n".join(failed)
    assert [c.name for c in checks] == ["files", "sbom", "linkage", "glibc-only root", "no python, decoys", "moved, read-only"]
    return next(c for c in checks if c.name == "glibc-only root").output


@pytest.mark.parametrize("version", PYTHONS)
def test_raw_cgo_with_every_python(version: str, build: Callable[[Path], Bundle], tmp_path_factory: pytest.TempPathFactory) -> None:
    require_pyenv(version)
    probe = DATA / "probe"
    recipe = tmp_path_factory.mktemp(f"probe-{version}") / "recipe.yaml"
    recipe.write_text(
        # The recipe lives in a temporary folder and names the checkout's probe: inputs_root lets it.
        f'inputs_root: /\nname: probe{version.replace(".", "")}\nversion: "1.0"\n'
        f"go:\n  module: {json.dumps(str(probe))}\n"
        f'python:\n  version: "{version}"\n  code:\n    - {json.dumps(str(probe / "probe.py"))}\n'
        f'smoke:\n  expect:\n    - \'"version": "{version}"\'\n'
    )
    bundle = build(recipe)
    tag = "cp" + version.replace(".", "")
    assert f"-{tag}-manylinux_" in bundle.archive.name
    output = assert_verified(bundle.archive)
    seen = json.loads(next(line for line in output.splitlines() if line.startswith("PROBE "))[6:])
    assert seen["executable"] == f"/bundle/python/bin/python{version}"
    assert seen["prefix"] == "/bundle/python"
    assert seen["child"][0] == "/bundle/python"
    # On this host, with every variable CPython's path search reads naming the host's own Python
    # (3.11+ read PYTHONEXECUTABLE and __PYVENV_LAUNCHER__ even under -E): the bundle's is used.
    root = extract(bundle.archive, tmp_path_factory.mktemp(f"run-{version}"))
    out = run_with_host_python_named(root, bundle)
    seen = json.loads(next(line for line in out.splitlines() if line.startswith("PROBE "))[6:])
    assert (seen["executable"], seen["prefix"], seen["child"]) == (
        f"{root}/python/bin/python{version}",
        f"{root}/python",
        [f"{root}/python", None, None],
    )


#: The host's Python where each variable CPython's path search reads can name it.
HOST_PYTHON = {
    "PYTHONEXECUTABLE": "/usr/bin/python3",
    "__PYVENV_LAUNCHER__": "/usr/bin/python3",
    "PYTHONHOME": "/usr",
    "PYTHONPATH": "/usr/lib/python3/dist-packages",
    "PYTHONPLATLIBDIR": "lib64",
}


def run_with_host_python_named(root: Path, bundle: Bundle) -> str:
    command = bundle.manifest["smoke"]["command"]
    env = {**os.environ, **HOST_PYTHON}
    result = subprocess.run([str(root / command[0]), *command[1:]], env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


BINDINGS = {
    "datadog": ("3.7", "DataDog/go-python3"),
    "cpy3": ("3.7", "go-python/cpy3"),
    "nhatcpy": ("3.12", "nhatthm/cpy"),
}


@pytest.mark.parametrize("example", sorted(BINDINGS))
def test_every_known_binding(example: str, build: Callable[[Path], Bundle]) -> None:
    version, binding = BINDINGS[example]
    require_pyenv(version)
    bundle = build(EXAMPLES / "bindings" / example / "recipe.yaml")
    assert bundle.manifest["binding"]["name"] == binding
    output = assert_verified(bundle.archive)
    assert "[FUNC] res = xwjhaha" in output and f"[VERSION] {version}" in output


def test_goroutines_with_sbinet_go_python_on_27(build: Callable[[Path], Bundle], tmp_path: Path) -> None:
    require_pyenv("2.7")
    bundle = build(EXAMPLES / "goroutines" / "recipe.yaml")
    assert bundle.manifest["binding"]["name"] == "sbinet/go-python"
    assert bundle.archive.name.startswith("goroutines-0.1.0-cp27-")
    output = assert_verified(bundle.archive)
    assert "[GOROUTINE 1] res = xwjhaha" in output and "[GOROUTINE 2]" in output and "[VERSION] 2.7" in output
    out = run_with_host_python_named(extract(bundle.archive, tmp_path), bundle)
    assert "[GOROUTINE 1] res = xwjhaha" in out and "[VERSION] 2.7" in out
