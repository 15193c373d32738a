"""python.home for a Linux target: pyenv's 3.7 prefix, packed as a .tar.gz the way
python-build-standalone ships its install_only archives, is read from its files (not
probed) and bundles examples/hello, which gopack verify runs where no Python exists."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest
from conftest import EXAMPLES, require_pyenv

from gopack import pipeline, plan
from gopack.recipe import model as recipe
from gopack.verify import checks

pytestmark = pytest.mark.integration


def test_a_linux_tree_archive_bundles_and_verifies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    prefix = require_pyenv("3.7")
    archive = tmp_path / "cpython-3.7-install_only.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(prefix, arcname="python")
    monkeypatch.setenv("GOPACK_CACHE_DIR", str(tmp_path / "cache"))
    bundle = pipeline.bundle(
        recipe.load(EXAMPLES / "hello" / "recipe.yaml"), output_dir=tmp_path / "dist", target=plan.TargetOptions(python_home=archive)
    )
    assert bundle.manifest["python"]["version"] == prefix.name
    assert bundle.archive.name.startswith("hello-0.1.0-cp37-manylinux_")
    results = checks.verify(bundle.archive)
    assert [c.name for c in results if not c.ok] == []
    assert len(results) == 6  # files, sbom, linkage and the three smoke runs
