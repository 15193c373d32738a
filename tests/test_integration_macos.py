"""macOS bundles built on Linux, the proof of issue 22: (a) examples/sklearn (DataDog/go-python3,
Python 3.7, scikit-learn 1.0.2) for macOS x86_64 against JavaCPP's 3.7.7 jar, and (b) a 3.13
program with numpy and scikit-learn for macOS arm64 against the 3.13.5 jar.

Each is built twice, the second time with an empty cache (nothing reused: the Python tree, the
bytecode, the Go build are all made again), and must come out byte-identical; carry the
``macosx_*`` tag of its machine in its name and its manifest; hold no ELF file; and pass
``gopack verify``'s static checks (the files, the SBOM, the linkage as dyld would resolve it).
Nothing of the bundles runs here: that needs a Mac (.github/workflows, README "Shipping to macOS").
"""

from __future__ import annotations

import hashlib
import json
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import DATA, EXAMPLES, extract, require_pyenv
from macos_fixtures import cpython_37_x86_64_jar, cpython_313_arm64_jar

from gopack import pipeline, plan
from gopack.pipeline import Bundle
from gopack.platform import platforms
from gopack.recipe import model as recipe
from gopack.verify import checks

pytestmark = pytest.mark.integration

__all__ = ["cpython_37_x86_64_jar", "cpython_313_arm64_jar"]  # fixtures, used by name

_ELF = b"\x7fELF"
_TAG = re.compile(r"macosx_(\d+)_(\d+)_(x86_64|arm64)")


def _twice(recipe_path: Path, options: plan.TargetOptions, where: Path) -> tuple[Bundle, Bundle]:
    """The bundle built with one cache, then again with another, empty one."""
    built = []
    for n in (1, 2):
        with pytest.MonkeyPatch.context() as env:
            env.setenv("GOPACK_CACHE_DIR", str(where / f"cache-{n}"))
            built.append(pipeline.bundle(recipe.load(recipe_path), output_dir=where / f"dist-{n}", target=options))
    return built[0], built[1]


@pytest.fixture(scope="module")
def sklearn_x86_64(tmp_path_factory: pytest.TempPathFactory, cpython_37_x86_64_jar: Path) -> Iterator[tuple[Bundle, Bundle]]:
    require_pyenv("3.7")  # compiles the bytecode: the jar's python3.7 cannot run here
    options = plan.TargetOptions(system="macos", arch="x86_64", python_home=cpython_37_x86_64_jar)
    yield _twice(EXAMPLES / "sklearn" / "recipe.yaml", options, tmp_path_factory.mktemp("macos-x86_64"))


@pytest.fixture(scope="module")
def numpy_sklearn_arm64(tmp_path_factory: pytest.TempPathFactory, cpython_313_arm64_jar: Path) -> Iterator[tuple[Bundle, Bundle]]:
    require_pyenv("3.13")
    options = plan.TargetOptions(python_home=cpython_313_arm64_jar)  # the recipe says target.os: macos, target.arch: arm64
    yield _twice(DATA / "macos_sklearn" / "recipe.yaml", options, tmp_path_factory.mktemp("macos-arm64"))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _elf_files(archive: Path) -> list[str]:
    with tarfile.open(archive) as tar:
        return [
            m.name for m in tar.getmembers() if m.isfile() and (f := tar.extractfile(m)) is not None and f.read(4) == _ELF
        ]  # fmt: skip


def _static_checks(archive: Path, where: Path) -> list[checks.Check]:
    """What ``gopack verify`` checks without running anything: the files against the manifest,
    the SBOM, and the linkage through the platform the manifest's tag names."""
    root = extract(archive, where)
    manifest = json.loads((root / "gopack.json").read_text("utf-8"))
    platform = platforms.of_tag(manifest["platform"])
    assert platform is not None and platform.name == "macos", manifest["platform"]
    accepted = frozenset((u["path"], u["needs"]) for u in manifest.get("unresolved", ()))
    return [
        checks.check_files(root, manifest),
        checks.check_sbom(root, manifest),
        checks.check_linkage(root, platform, accepted=accepted),
    ]


@pytest.mark.parametrize(
    ("which", "arch", "python", "oldest"),
    [("sklearn_x86_64", "x86_64", "cp37", (12, 0)), ("numpy_sklearn_arm64", "arm64", "cp313", (14, 0))],
)
def test_macos_bundle_carries_its_tag_and_is_byte_identical(
    which: str, arch: str, python: str, oldest: tuple[int, int], request: pytest.FixtureRequest
) -> None:
    first, second = request.getfixturevalue(which)
    match = _TAG.search(first.archive.name)
    assert match is not None, first.archive.name
    assert match.group(3) == arch
    # Go's own 12.0 at least; the 3.13.5 jar's libpython needs 14.7.
    assert (int(match.group(1)), int(match.group(2))) >= oldest
    assert f"-{python}-{match.group(0)}." in first.archive.name
    assert first.manifest["platform"] == match.group(0)
    assert second.archive.name == first.archive.name
    assert _sha256(second.archive) == _sha256(first.archive), "two builds from empty caches differ"


@pytest.mark.parametrize("which", ["sklearn_x86_64", "numpy_sklearn_arm64"])
def test_macos_bundle_holds_no_elf_file_and_the_layout(which: str, request: pytest.FixtureRequest) -> None:
    bundle, _ = request.getfixturevalue(which)
    assert _elf_files(bundle.archive) == []
    short = bundle.manifest["python"]["version"].rsplit(".", 1)[0]
    with tarfile.open(bundle.archive) as tar:
        names = set(tar.getnames())
    top = bundle.archive.name.split(f"-cp{short.replace('.', '')}-")[0]
    assert any(re.fullmatch(rf"{re.escape(top)}/python/lib/libpython{re.escape(short)}m?\.dylib", n) for n in names)
    assert f"{top}/python/lib/python{short}/lib-dynload" in names
    assert any(n.startswith(f"{top}/python/lib/python{short}/site-packages/sklearn/") for n in names)


@pytest.mark.parametrize("which", ["sklearn_x86_64", "numpy_sklearn_arm64"])
def test_macos_bundle_passes_the_static_checks_of_verify(which: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    bundle, _ = request.getfixturevalue(which)
    results = _static_checks(bundle.archive, tmp_path)
    assert [c for c in results if not c.ok] == []
    assert {c.name for c in results} >= {"linkage"}
