"""Issue 25: prune.imports on programs we did not write. A subset of the package corpus (the
packages whose run-time imports gopack's rules name, and a few that import by names built at
run time) is bundled with ``prune.imports: true`` and every snippet runs where only glibc
exists; the pruned bundle is smaller, says what it left out, and a left-out module fails in one
line naming the recipe key that keeps it.

A subset, not the whole corpus: the 75 distributions take several minutes to bundle on a
shared 2-core machine, twice (with and without the option).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import ODD_NAME, REPO, extract, require_pyenv
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from gopack.pipeline import Bundle
from gopack.platform.linux import analysis
from gopack.verify import sandbox

pytestmark = pytest.mark.integration

CORPUS = REPO / "tests" / "corpus"
#: Every distribution these need is pinned in the corpus's requirements; the list is closed under them.
SUBSET = ("annotated-types", "astropy", "astropy-iers-data", "cloudpickle", "contourpy", "cycler", "flatbuffers", "fonttools",
          "joblib", "kiwisolver", "matplotlib", "narwhals", "numpy", "onnxruntime", "opencv-python-headless", "packaging",
          "pandas", "pillow", "protobuf", "pyarrow", "pydantic", "pydantic-core", "pyerfa", "pyparsing", "python-dateutil",
          "pyyaml", "scikit-learn", "scipy", "sqlalchemy", "threadpoolctl", "typing-extensions", "typing-inspection", "tzdata")  # fmt: skip


def _project(where: Path, *, imports: bool) -> Path:
    """The corpus program with the subset's pins, as a recipe folder of its own."""
    where.mkdir(parents=True)
    for name in ("main.go", "go.mod"):
        shutil.copy2(CORPUS / name, where / name)
    shutil.copytree(CORPUS / "corpus_snippets", where / "corpus_snippets")
    wanted = {canonicalize_name(n) for n in SUBSET}
    lines = [line for line in (CORPUS / "requirements-3.12.txt").read_text().splitlines() if line and not line.startswith("#")]
    (where / "requirements.txt").write_text("".join(f"{line}\n" for line in lines if canonicalize_name(Requirement(line).name) in wanted))
    prune = "prune:\n  imports: true\n" if imports else ""
    (where / "recipe.yaml").write_text(
        'name: corpus-subset\nversion: "1.0.0"\ngo:\n  binary: corpus\npython:\n  version: "3.12"\n'
        "  requirements_file: requirements.txt\n  code: [corpus_snippets]\n"
        f"smoke:\n  expect: [', 0 failed']\n  timeout: 900\n{prune}"
    )
    return where / "recipe.yaml"


def _expected() -> set[str]:
    sys.path.insert(0, str(CORPUS))
    try:
        from corpus_snippets import SNIPPETS
    finally:
        sys.path.remove(str(CORPUS))
    wanted = {canonicalize_name(n) for n in SUBSET}
    return {s for s, (dists, _) in SNIPPETS.items() if wanted & {canonicalize_name(d) for d in dists}}


@pytest.fixture(scope="module")
def pruned(build: Callable[[Path], Bundle], tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    require_pyenv("3.12")
    return build(_project(tmp_path_factory.mktemp("subset") / "on", imports=True))


def test_every_snippet_of_the_subset_passes_where_only_glibc_exists(pruned: Bundle, tmp_path: Path) -> None:
    root = extract(pruned.archive, tmp_path)
    glibc = tmp_path / "glibc-root"
    sandbox.make_glibc_root(glibc, sorted(analysis.HOST_LIBRARIES))
    at = f"/{ODD_NAME}/{root.name}"
    result = sandbox.run_in_glibc_root([f"{at}/bin/corpus"], root=glibc, bundle=root, at=at, env={"LANG": "C.UTF-8"}, timeout=1800)
    passed = set(re.findall(r"^PASS (\w+):", result.output, re.MULTILINE))
    failed = set(re.findall(r"^FAIL (\w+)", result.output, re.MULTILINE))
    assert (failed, passed) == (set(), _expected()), result.output[-8000:]
    assert result.returncode == 0, result.output[-3000:]


def test_the_pruned_bundle_says_what_it_left_out_and_a_left_out_module_fails_in_one_line(pruned: Bundle, tmp_path: Path) -> None:
    left_out = pruned.manifest["left_out"]
    assert left_out["key"] == "prune.modules" and left_out["files"] > 0 and left_out["bytes"] > 10_000_000
    by_package = {p["distribution"]: p for p in left_out["packages"]}
    # pyarrow's Flight RPC: nothing the snippets import reaches it; its library goes with its module.
    arrow = by_package["pyarrow"]
    assert "pyarrow._flight" in arrow["modules"]
    assert any(o["path"].startswith("pyarrow/libarrow_flight.so") and "left-out files" in o["why"] for o in arrow["other"])
    names = {f["path"] for f in pruned.manifest["files"]}
    site = "python/lib/python3.12/site-packages"
    assert f"{site}/pyarrow/_flight.cpython-312-x86_64-linux-gnu.so" not in names
    assert f"{site}/matplotlib/backends/backend_agg.pyc" in names  # matplotlib.use("Agg") names it at run time
    # The guard ships compiled like every module: a read-only bundle would compile its source at every start.
    assert f"{site}/_gopack_left_out.pyc" in names and f"{site}/_gopack_left_out.py" not in names
    text = subprocess.run(
        [sys.executable, "-m", "gopack", "inspect", str(pruned.archive)], capture_output=True, text=True, check=True
    ).stdout
    assert "left out " in text and "pyarrow: " in text
    root = extract(pruned.archive, tmp_path)
    run = subprocess.run(
        [root / "python" / "bin" / "python3.12", "-c", "import pyarrow.flight"], capture_output=True, text=True, check=False
    )
    assert run.returncode == 1
    assert run.stderr.strip().splitlines()[-1] == (
        "ModuleNotFoundError: No module named 'pyarrow.flight': gopack left it out of this bundle (prune.imports); "
        "keep it with prune.modules: [pyarrow.flight] in the recipe"
    )
