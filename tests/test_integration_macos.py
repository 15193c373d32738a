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
from conftest import DATA, EXAMPLES, require_pyenv

from gopack import pipeline, plan
from gopack.pipeline import Bundle
from gopack.python import tree as pytree
from gopack.recipe import model as recipe
from gopack.verify import checks

pytestmark = pytest.mark.integration


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


def _load_commands(archive: Path) -> dict[str, bytes]:
    """Each 64-bit Mach-O file's load commands (the bytes after its header), by name."""
    found = {}
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            f = tar.extractfile(member) if member.isfile() else None
            head = f.read(32) if f is not None else b""
            if f is not None and head[:4] == b"\xcf\xfa\xed\xfe":
                found[member.name] = f.read(int.from_bytes(head[20:24], "little"))
    return found


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


@pytest.mark.parametrize(("which", "arch"), [("sklearn_x86_64", "x86_64"), ("numpy_sklearn_arm64", "arm64")])
def test_macos_bundle_passes_gopack_verify_which_says_the_smoke_test_needs_a_mac(
    which: str, arch: str, request: pytest.FixtureRequest
) -> None:
    bundle, _ = request.getfixturevalue(which)
    results = {c.name: c for c in checks.verify(bundle.archive)}
    assert [c for c in results.values() if not c.ok] == []
    assert list(results) == ["files", "sbom", "linkage", "smoke"]
    assert f"all {arch}" in results["linkage"].detail and "every page hash matches" in results["linkage"].detail
    assert results["smoke"].detail.startswith("not run: a macOS bundle's smoke test needs a Mac")


def test_homebrew_references_of_the_jar_never_ship(numpy_sklearn_arm64: tuple[Bundle, Bundle]) -> None:
    """JavaCPP's 3.13 jar links _lzma and _decimal against Homebrew's libraries: with no folder
    holding them (python.libraries), both modules are left out and listed in the manifest, and no
    load command in the bundle names a path of a build machine."""
    bundle, _ = numpy_sklearn_arm64
    unresolved = {Path(u["path"]).name.split(".")[0]: u["needs"] for u in bundle.manifest["unresolved"]}
    assert unresolved["_lzma"] == "/opt/homebrew/opt/xz/lib/liblzma.5.dylib"
    assert unresolved["_decimal"].startswith("/opt/homebrew/opt/mpdecimal/")
    commands = _load_commands(bundle.archive)
    assert len(commands) > 100
    assert [n for n, c in commands.items() if b"/opt/homebrew" in c or b"/usr/local/" in c or b"/Users/" in c] == []
    assert not any(n.endswith(("_lzma.cpython-313-darwin.so", "_decimal.cpython-313-darwin.so")) for n in commands)


def test_a_library_folder_keeps_the_module_homebrew_broke(
    cpython_313_arm64_jar: Path, macos_site_313_arm64: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """python.libraries naming a Pillow wheel's .dylibs: _lzma stays, with that liblzma vendored
    beside it and its load command made relative to it."""
    require_pyenv("3.13")
    dylibs = macos_site_313_arm64 / "PIL" / ".dylibs"
    assert (dylibs / "liblzma.5.dylib").is_file()
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "go.mod").write_text("module example.com/app\n\ngo 1.22\n")
    (tmp_path / "app" / "recipe.yaml").write_text(
        f'name: lzma\nversion: "1"\ngo:\n  module: .\npython:\n  version: "3.13"\n  home: {cpython_313_arm64_jar}\n  libraries: [{dylibs}]\n'
        "target:\n  os: macos\n  arch: arm64\n"
    )
    monkeypatch.setenv("GOPACK_CACHE_DIR", str(tmp_path / "cache"))
    the_recipe = recipe.load(tmp_path / "app" / "recipe.yaml")
    target = plan.make_target(the_recipe, plan.go_toolchain.find_go(the_recipe), plan.TargetOptions())
    interpreter = plan.home_interpreter(the_recipe, cpython_313_arm64_jar, "python.home", tmp_path / "cache")
    tree = pytree.get(the_recipe, interpreter, target, cache_dir=tmp_path / "cache")
    files = {f["path"] for f in tree.meta["files"]}
    assert "python/lib/python3.13/lib-dynload/_lzma.cpython-313-darwin.so" in files
    assert [u for u in tree.meta["unresolved"] if "_lzma" in u["path"]] == []
    vendored = [v for v in tree.meta["vendored"] if "liblzma" in json.dumps(v)]
    assert len(vendored) == 1, tree.meta["vendored"]
    module = (tree.entry.python / "lib/python3.13/lib-dynload/_lzma.cpython-313-darwin.so").read_bytes()
    assert b"/opt/homebrew" not in module[:65536]
