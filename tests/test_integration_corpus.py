"""Issue 11: the package corpus (tests/corpus) bundled with default settings, run where
only glibc exists, read-only, at a non-ASCII path under a LANG the root has no locale
files for; every snippet must pass.

One bundle per Python: 3.12 with every distribution, 3.7 with those that have 3.7
wheels. Which snippets must pass comes from the pinned requirements, so a package
the bundle lost fails the test instead of being skipped by the driver.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest
from conftest import ODD_NAME, REPO, extract, require_pyenv
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from gopack.archive import contents
from gopack.pipeline import Bundle
from gopack.platform.linux import analysis
from gopack.verify import checks as verify
from gopack.verify import sandbox

pytestmark = pytest.mark.integration

CORPUS = REPO / "tests" / "corpus"
VERSIONS = ("3.12", "3.7")


def snippets() -> dict[str, tuple[tuple[str, ...], str]]:
    spec = importlib.util.spec_from_file_location("corpus_snippets", CORPUS / "corpus_snippets" / "__init__.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return dict(module.SNIPPETS)


def pinned(version: str) -> set[str]:
    lines = (CORPUS / f"requirements-{version}.txt").read_text().splitlines()
    return {canonicalize_name(Requirement(line).name) for line in lines if line.strip() and not line.startswith("#")}


def expected(version: str) -> set[str]:
    """The snippets whose distribution the requirements pin."""
    names = pinned(version)
    return {s for s, (dists, _) in snippets().items() if names & {canonicalize_name(d) for d in dists}}


@pytest.fixture(scope="module", params=VERSIONS)
def corpus(request: pytest.FixtureRequest, build: Callable[[Path], Bundle]) -> tuple[str, Bundle]:
    version = str(request.param)
    require_pyenv(version)
    return version, build(CORPUS / f"recipe-{version}.yaml")


def test_the_corpus_is_at_least_30_distributions_pinned_for_each_python() -> None:
    assert len(expected("3.12")) >= 30 and len(expected("3.7")) >= 30
    seventeen = {"numpy", "pandas", "pyarrow", "scipy", "scikit-learn", "lightgbm", "xgboost-cpu", "onnxruntime", "opencv-python-headless",
                 "matplotlib", "pillow", "lxml", "cryptography", "pydantic", "orjson", "psycopg2-binary", "shapely"}  # fmt: skip
    assert seventeen <= pinned("3.12")


def test_every_snippet_passes_where_only_glibc_exists(corpus: tuple[str, Bundle], tmp_path: Path) -> None:
    version, bundle = corpus
    root = extract(bundle.archive, tmp_path)
    glibc = tmp_path / "glibc-root"
    sandbox.make_glibc_root(glibc, sorted(analysis.HOST_LIBRARIES))
    # At a path with a space and non-ASCII characters, under a LANG the root has no locale files for.
    at = f"/{ODD_NAME}/{root.name}"
    result = sandbox.run_in_glibc_root([f"{at}/bin/corpus"], root=glibc, bundle=root, at=at, env={"LANG": "C.UTF-8"}, timeout=1800)
    passed = set(re.findall(r"^PASS (\w+):", result.output, re.MULTILINE))
    failed = set(re.findall(r"^FAIL (\w+)", result.output, re.MULTILINE))
    assert (failed, passed) == (set(), expected(version)), result.output[-8000:]
    assert result.returncode == 0, result.output[-3000:]


def test_what_default_settings_kept_and_why_is_in_the_manifest_and_inspect(build: Callable[[Path], Bundle]) -> None:
    """On the 3.12 bundle (built once for the session), which carries the cases: numba's tbbpool,
    matplotlib 3.11's ft2font, cv2's config files, astropy's imported tests."""
    require_pyenv("3.12")
    bundle = build(CORPUS / "recipe-3.12.yaml")
    manifest = bundle.manifest
    site = "python/lib/python3.12/site-packages"
    # cv2 reads its config.py files as data: its sources ship; the app's and the rest do not.
    kept = {k["distribution"]: k for k in manifest["sources"]["distributions"]}
    assert (
        "opencv-python-headless" in kept
        and set(kept) <= {"opencv-python-headless", "astropy"}
        and "config.py" in kept["opencv-python-headless"]["why"]
    )
    names = {f["path"] for f in manifest["files"]}
    assert f"{site}/cv2/config.py" in names and f"{site}/numpy/__init__.py" not in names and f"{site}/numpy/__init__.pyc" in names
    # astropy imports astropy.tests.runner when it is imported: the tests rule leaves it.
    unpruned = {u["path"]: u["why"] for u in manifest["unpruned"]}
    assert "astropy/__init__.py" in unpruned[f"{site}/astropy/tests/runner.py"]
    assert not any("/scipy/linalg/tests/" in p for p in names)  # what nothing imports still goes
    # numba's tbbpool needs libtbb.so.12, which no wheel here has: shipped as the wheel had it, and said so.
    tbbpool = next(p for p in names if "numba/np/ufunc/tbbpool" in p)
    assert {"path": tbbpool, "needs": "libtbb.so.12"} in manifest["unresolved"]
    restored = {r["path"]: r["why"] for r in manifest["stripped"]["restored"]}
    assert "even as the wheel shipped it" in restored[tbbpool]
    # matplotlib's ft2font crashes a process that dlopens it without importing it, at exit; it is judged and stripped.
    assert not any("ft2font" in p for p in restored) and manifest["stripped"]["files"] > 300
    result = subprocess.run(
        [sys.executable, "-m", "gopack", "inspect", "--json", str(bundle.archive)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    jsonschema.validate(document, contents.schema())
    assert document["sources"] == manifest["sources"] and document["unpruned"] == manifest["unpruned"]
    text = subprocess.run(
        [sys.executable, "-m", "gopack", "inspect", str(bundle.archive)], capture_output=True, text=True, check=True
    ).stdout
    assert "sources    kept beside the bytecode for" in text and "opencv-python-headless (" in text
    assert "unstripped 1 files" in text and "tbbpool" in text and "astropy/tests/runner.py" in text


def test_the_corpus_bundle_passes_verify(corpus: tuple[str, Bundle]) -> None:
    """Every check verify makes of a stranger's archive (the bounded linkage reader, the SBOM, the
    three confined runs with their keyring, overlays and ptys of their own) holds for the corpus."""
    _, bundle = corpus
    found = verify.verify(bundle.archive)
    assert [c.name for c in found if not c.ok] == [], "\n".join(f"{c.name}: {c.detail}\n{c.output[-3000:]}" for c in found if not c.ok)
    assert [c.name for c in found] == ["files", "sbom", "linkage", "glibc-only root", "no python, decoys", "moved, read-only"]
