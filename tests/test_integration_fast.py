"""Issue 4: byte-identical rebuilds, the cache, formats, interruptions and concurrency."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import EXAMPLES, REPO, require_pyenv

from gopack.archive import unpack

pytestmark = pytest.mark.integration


def gopack(*args: str, cache: Path, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GOPACK_CACHE_DIR": str(cache)}
    return subprocess.run([sys.executable, "-m", "gopack", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)


def checkout(where: Path) -> Path:
    """A copy of the repository's examples at another path, as another checkout would be."""
    shutil.copytree(EXAMPLES, where / "examples", ignore=shutil.ignore_patterns("dist"))
    return where / "examples"


def test_sklearn_rebuilds_are_byte_identical_across_checkouts_and_caches(tmp_path: Path) -> None:
    require_pyenv("3.7")
    one, two = checkout(tmp_path / "checkout one"), checkout(tmp_path / "elsewhere" / "checkout two")
    cold_a = gopack("bundle", str(one / "sklearn" / "recipe.yaml"), "-o", str(tmp_path / "a"), "--json", cache=tmp_path / "cache-a")
    assert cold_a.returncode == 0, cold_a.stderr
    cold_b = gopack("bundle", str(two / "sklearn" / "recipe.yaml"), "-o", str(tmp_path / "b"), "--json", cache=tmp_path / "cache-b")
    assert cold_b.returncode == 0, cold_b.stderr
    warm = gopack("bundle", str(two / "sklearn" / "recipe.yaml"), "-o", str(tmp_path / "c"), "--json", cache=tmp_path / "cache-a")
    assert warm.returncode == 0, warm.stderr
    reports = [json.loads(r.stdout) for r in (cold_a, cold_b, warm)]
    assert [r["python_tree_cached"] for r in reports] == [False, False, True]
    archives = [Path(r["archive"]).read_bytes() for r in reports]
    assert archives[0] == archives[1] == archives[2]
    manifest = json.dumps(unpack.scan(Path(reports[0]["archive"])).manifest)
    assert str(tmp_path) not in manifest and "checkout" not in manifest and "/tmp/" not in manifest


def test_the_segment_made_with_a_new_tree_equals_one_made_for_a_cached_tree(tmp_path: Path) -> None:
    """A cold build compresses the tree's part of the archive while it checks the tree; a
    build from a cached tree in a format not made before compresses it afterwards."""
    require_pyenv("3.7")
    recipe = str(EXAMPLES / "hello" / "recipe.yaml")
    first = gopack("bundle", recipe, "-o", str(tmp_path / "zst"), "--format", "tar.zst", "--json", cache=tmp_path / "cache-a")
    later = gopack("bundle", recipe, "-o", str(tmp_path / "gz-later"), "--json", cache=tmp_path / "cache-a")
    cold = gopack("bundle", recipe, "-o", str(tmp_path / "gz-cold"), "--json", cache=tmp_path / "cache-b")
    for built in (first, later, cold):
        assert built.returncode == 0, built.stderr
    reports = [json.loads(r.stdout) for r in (first, later, cold)]
    assert [r["python_tree_cached"] for r in reports] == [False, True, False]
    assert Path(reports[1]["archive"]).read_bytes() == Path(reports[2]["archive"]).read_bytes()
    segments = sorted(p.name for p in (tmp_path / "cache-a" / "envs").glob("*/derived/segment-*"))
    assert len(segments) == 2  # tar.zst with the tree, tar.gz later


@pytest.mark.parametrize("fmt", ["tar.zst", "zip"])
def test_other_formats_pass_verify(fmt: str, tmp_path: Path) -> None:
    require_pyenv("3.7")
    built = gopack(
        "bundle", str(EXAMPLES / "hello" / "recipe.yaml"), "-o", str(tmp_path), "--format", fmt, "--json", cache=tmp_path / "cache"
    )
    assert built.returncode == 0, built.stderr
    archive = Path(json.loads(built.stdout)["archive"])
    assert archive.name.endswith("." + fmt)
    checked = gopack("verify", "--json", str(archive), cache=tmp_path / "cache")
    assert checked.returncode == 0, checked.stderr
    assert all(c["ok"] for c in json.loads(checked.stdout)["checks"])


def test_cache_list_and_prune(tmp_path: Path) -> None:
    require_pyenv("3.7")
    cache = tmp_path / "cache"
    assert gopack("bundle", str(EXAMPLES / "hello" / "recipe.yaml"), "-o", str(tmp_path), "-q", cache=cache).returncode == 0
    listed = json.loads(gopack("cache", "list", "--json", cache=cache).stdout)
    assert len(listed["entries"]) == 1 and listed["entries"][0]["size"] > 1_000_000
    assert gopack("cache", "prune", "--older-than", "1", cache=cache).returncode == 0
    assert len(json.loads(gopack("cache", "list", "--json", cache=cache).stdout)["entries"]) == 1
    pruned = json.loads(gopack("cache", "prune", "--json", cache=cache).stdout)
    assert len(pruned["removed"]) == 1
    assert json.loads(gopack("cache", "list", "--json", cache=cache).stdout)["entries"] == []
