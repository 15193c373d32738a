"""Three targets in one run: the host, a Debian 11 root (amd64) and a Debian 11 root of arm64
(built under qemu-user), from one recipe's ``targets:``, into one folder with one SHA256SUMS.

The roots are the Debian 11 tests' (tests/debian_roots.py, cached); the program is their
raw-cgo one, which imports numpy.
"""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import DATA, gopack_cli, require_pyenv
from debian_roots import debian_root

from gopack import sbom

pytestmark = pytest.mark.integration

OLDLINUX = DATA / "oldlinux"


@pytest.fixture(scope="module")
def roots() -> tuple[Path, Path]:
    with ThreadPoolExecutor(2) as pool:
        amd64 = pool.submit(debian_root, "bullseye", ["python3.9", "libpython3.9-dev", "pkg-config"])
        arm64 = pool.submit(debian_root, "bullseye", ["python3.9", "libpython3.9-dev"], arch="arm64")
        return amd64.result(), arm64.result()


def test_three_targets_in_one_run_share_one_checksum_file(roots: tuple[Path, Path], cache_dir: Path, tmp_path: Path) -> None:
    require_pyenv("3.9")
    amd64, arm64 = roots
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        f"name: oldlinux\nversion: '1.0'\ninputs_root: /\ngo:\n  module: {OLDLINUX}\n"
        f"python:\n  version: '3.9'\n  requirements: [numpy==1.26.4]\n  code: [{OLDLINUX / 'oldlinux.py'}]\n"
        f"targets:\n  - name: host\n  - name: debian11\n    sysroot: {amd64}\n  - name: arm64\n    sysroot: {arm64}\n    arch: aarch64\n"
    )
    out = tmp_path / "out"
    built = gopack_cli("bundle", str(recipe), "-o", str(out), cache=cache_dir)
    assert built.returncode == 0, built.stderr
    table = built.stderr[built.stderr.index("target  ") :].splitlines()
    print("\n".join(table))  # with -s: the table the README shows
    assert [line.split()[0] for line in table[:4]] == ["target", "host", "debian11", "arm64"]
    assert "manylinux_2_31_aarch64" in table[3] and "manylinux_2_31_x86_64" in table[2]
    archives = sorted(p.name for p in out.glob("*.tar.gz"))
    assert len(archives) == 3
    checked = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=out, capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert sorted(line.rsplit(": ", 1)[0] for line in checked.stdout.splitlines()) == sorted(
        [*archives, *(a + ".cdx.json" for a in archives)]
    )
    # Each SBOM says which target it is for.
    for name in archives:
        document = json.loads((out / (name + sbom.SUFFIX)).read_bytes())
        properties = {p["name"]: p["value"] for p in document["metadata"]["properties"]}
        assert properties["gopack:platform"] in name
        assert properties["gopack:target.goarch"] == ("arm64" if "aarch64" in name else "amd64")

    # --target picks one; --json reports each target; the Python trees are the run's, cached.
    again = gopack_cli("bundle", str(recipe), "-o", str(out), "--target", "debian11", "--json", cache=cache_dir)
    assert again.returncode == 0, again.stderr
    (only,) = json.loads(again.stdout)["targets"]
    assert only["name"] == "debian11" and only["ok"] and only["report"]["python_tree_cached"]
    assert Path(only["report"]["archive"]).name in archives


def test_a_failing_target_fails_the_run_and_the_others_are_still_reported(cache_dir: Path, tmp_path: Path) -> None:
    """Two targets that would write the same archive: the first is built, the second fails
    before it overwrites it, and the table and the exit code say so."""
    require_pyenv("3.7")
    hello = DATA.parent.parent / "examples" / "hello"
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        f"name: hello\nversion: '0.1.0'\ninputs_root: /\ngo:\n  module: {hello}\npython:\n  version: '3.7'\n  code: [{hello / 'hello.py'}]\n"
        "targets:\n  - name: first\n  - name: again\n"
    )
    out = tmp_path / "out"
    result = gopack_cli("bundle", str(recipe), "-o", str(out), cache=cache_dir)
    assert result.returncode == 6, result.stderr
    table = result.stderr[result.stderr.index("target  ") :].splitlines()
    assert table[1].startswith("first ") and "hello-0.1.0-cp37-" in table[1]
    assert (
        table[2].startswith("again ")
        and "FAILED: hello-0.1.0-cp37-" in table[2]
        and "is also the archive of the target 'first'" in table[2]
    )
    assert "target again:\nerror: " in result.stderr and "hint: give the targets different glibc floors" in result.stderr
    (archive,) = out.glob("*.tar.gz")
    checked = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=out, capture_output=True, text=True, check=False)
    assert checked.returncode == 0 and archive.name in checked.stdout, checked.stdout + checked.stderr
