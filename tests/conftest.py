"""Shared fixtures: real bundles built once per session with the real toolchain."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import zstandard
from debian_roots import debian_root

from gopack import _proc, pipeline
from gopack.pipeline import Bundle
from gopack.recipe import model as recipe

#: The macOS material (JavaCPP's jars, macOS wheels) as session fixtures any test may ask for.
pytest_plugins = ("macos_fixtures",)

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
DATA = Path(__file__).resolve().parent / "data"
#: pyenv's interpreters: $PYENV_ROOT/versions, else ~/.pyenv/versions (pyenv's own default).
PYENV = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
#: A path with a space and non-ASCII characters, where bundles are extracted.
ODD_NAME = "run here ünï 日本"


def gopack_cli(*args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    """``python -m gopack ARGS`` from the repository, with ``cache`` as its cache."""
    env = {**os.environ, "GOPACK_CACHE_DIR": str(cache)}
    return subprocess.run([sys.executable, "-m", "gopack", *args], cwd=REPO, env=env, capture_output=True, text=True, check=False)


def require_pyenv(version: str) -> Path:
    """The pyenv CPython ``version``'s directory; a loud failure if it is missing."""
    found = sorted(PYENV.glob(f"{version}.*"))
    if not found:
        pytest.fail(f"pyenv CPython {version} is missing under {PYENV}: the test needs it (install it with --enable-shared)")
    return found[-1]


@pytest.fixture(scope="session")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bundles")


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gopack-cache")


@pytest.fixture(scope="session")
def build(bundle_dir: Path, cache_dir: Path) -> Callable[[Path], Bundle]:
    """Bundle a recipe once per session (keyed by path)."""
    built: dict[Path, Bundle] = {}

    def _build(recipe_path: Path) -> Bundle:
        if recipe_path not in built:
            mp = pytest.MonkeyPatch()
            mp.setenv("GOPACK_CACHE_DIR", str(cache_dir))
            try:
                built[recipe_path] = pipeline.bundle(recipe.load(recipe_path), output_dir=bundle_dir)
            finally:
                mp.undo()
        return built[recipe_path]

    return _build


def extract(archive: Path, where: Path) -> Path:
    """Extract into ``where/<ODD_NAME>``; return the bundle root."""
    dest = where / ODD_NAME
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    (root,) = dest.iterdir()
    return root


@contextlib.contextmanager
def cli_state() -> Iterator[None]:
    """cli.main configures the root logger and _proc; put them back afterwards."""
    root = logging.getLogger()
    handlers, level, stream = root.handlers[:], root.level, _proc.stream_output
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        _proc.stream_output = stream


@contextlib.contextmanager
def open_tar(path: Path) -> Iterator[tarfile.TarFile]:
    """A gopack tar archive (gzip or zstd: several frames) opened for reading, trusted: our own output."""
    if path.name.endswith(".tar.zst"):
        with (
            path.open("rb") as raw,
            zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True) as stream,
            tarfile.open(fileobj=stream, mode="r|") as tar,
        ):
            yield tar
    else:
        with tarfile.open(path, "r:*") as tar:
            yield tar


@dataclass(frozen=True)
class Canaries:
    folders: tuple[Path, ...]
    tmpdir: Path  # verify's TMPDIR

    def snapshot(self) -> dict[str, object]:
        seen: dict[str, object] = {}
        for folder in self.folders:
            for path in sorted(folder.rglob("*")):
                seen[str(path)] = os.readlink(path) if path.is_symlink() else path.read_bytes() if path.is_file() else "dir"
        return seen


@pytest.fixture
def canaries(tmp_path: Path) -> Iterator[Canaries]:
    in_tmp = tmp_path / "canary"
    in_checkout = REPO / f".canary-{uuid.uuid4().hex[:12]}"  # outside /tmp: the host's own file system
    try:
        for folder in (in_tmp, in_checkout):
            folder.mkdir()
            (folder / "victim").write_text("original\n")
        tmpdir = tmp_path / "verify-tmp"
        tmpdir.mkdir()
        yield Canaries(folders=(in_tmp, in_checkout), tmpdir=tmpdir)
    finally:
        shutil.rmtree(in_checkout, ignore_errors=True)


# -- Debian 11 roots (tests/debian_roots.py), for the tests that build for or run in one --


@pytest.fixture(scope="session")
def bullseye_roots() -> tuple[Path, Path]:
    """Both roots, debootstrapped side by side the first time (each mostly waits on the mirror)."""
    with ThreadPoolExecutor(2) as pool:
        built = pool.submit(debian_root, "bullseye", ["python3.9", "libpython3.9-dev", "pkg-config"])
        bare = pool.submit(debian_root, "bullseye")
        return built.result(), bare.result()


@pytest.fixture(scope="session")
def bullseye_python(bullseye_roots: tuple[Path, Path]) -> Path:
    """The root the bundle is built against."""
    return bullseye_roots[0]


@pytest.fixture(scope="session")
def bullseye_bare(bullseye_roots: tuple[Path, Path]) -> Path:
    """A clean Debian 11 root with no Python, where bundles run."""
    root = bullseye_roots[1]
    assert not list((root / "usr" / "bin").glob("python*")) and not list((root / "usr" / "lib").glob("python3*"))
    (root / "bundle").mkdir(exist_ok=True)  # where sandbox.run_in_glibc_root mounts the bundle
    return root
