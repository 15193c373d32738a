"""macOS test material made on Linux: JavaCPP's CPython jars (from Maven Central, with mvn)
and macOS wheels (from PyPI, with uv), for the macOS platform's tests and the macOS builds.

The jars. JavaCPP publishes CPython built for macOS as ``org.bytedeco:cpython`` jars: a
whole install (bin/, include/, lib/libpython3.X.dylib, lib/python3.X/...) under
``org/bytedeco/cpython/<classifier>/``. Two are used: 3.13.5 for arm64 (1.5.12) and 3.7.7
for x86_64 (1.5.3). ``javacpp_jar`` returns a jar's path in the local Maven repository,
fetching it with ``mvn dependency:get`` when it is not there yet (Debian's ``maven``,
installed by ``make setup``). The local repository is Maven's default,
``~/.m2/repository``, or the folder ``-Dmaven.repo.local=DIR`` in ``$MAVEN_OPTS`` names (the
one override honoured here: a settings.xml ``<localRepository>`` is not read; put the same
folder in MAVEN_OPTS if you use one). A jar's path there is the standard Maven layout:
``GROUP/ARTIFACT/VERSION/ARTIFACT-VERSION-CLASSIFIER.jar`` with the group's dots as folders.

The wheels. ``macos_wheels`` installs pinned requirements for a macOS platform into a folder
with ``uv pip install --target DIR --python-platform TRIPLE --python-version X.Y
--only-binary :all: --no-deps`` (every dependency is pinned in the lists below, so the
set never drifts); uv's own cache makes a second install quick. The session fixtures give
one folder each: the 3.13 arm64 site (numpy, scikit-learn, scipy, Pillow: Pillow's
``.dylibs`` carries a liblzma), the 3.7 x86_64 site of examples/sklearn, and a universal2
(fat: x86_64 + arm64) wheel, charset-normalizer, which ships nothing else for 3.13.

``zig_program`` links a small C program against a bundle's libpython for macOS, as gopack links
Go programs, where a program is needed and Go is not the point.

Nothing here runs a macOS file: everything is read as bytes.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import filelock
import pytest

from gopack.python.env import find_uv


@dataclass(frozen=True)
class Jar:
    """A JavaCPP CPython jar: its Maven version and classifier."""

    version: str
    classifier: str
    group: str = "org.bytedeco"
    artifact: str = "cpython"

    @property
    def coordinates(self) -> str:
        return f"{self.group}:{self.artifact}:{self.version}:jar:{self.classifier}"

    @property
    def prefix(self) -> str:
        """The folder inside the jar that holds the install (bin/, include/, lib/)."""
        return f"{self.group.replace('.', '/')}/{self.artifact}/{self.classifier}"


#: CPython 3.13.5 for macOS arm64 (floor 11.0 in its files).
CPYTHON_313_ARM64 = Jar("3.13.5-1.5.12", "macosx-arm64")
#: CPython 3.7.7 for macOS x86_64 (examples/sklearn's interpreter on macOS).
CPYTHON_37_X86_64 = Jar("3.7.7-1.5.3", "macosx-x86_64")

#: The 3.13 arm64 site: numpy, scikit-learn and scipy (OpenBLAS, libgfortran, libomp in
#: their .dylibs), Pillow (liblzma and a dozen more in PIL/.dylibs) and their dependencies.
SITE_313_ARM64 = (
    "numpy==2.5.5",
    "scipy==1.18.1",
    "scikit-learn==1.9.1",
    "joblib==1.6.0",
    "threadpoolctl==3.8.0",
    "narwhals==2.29.0",
    "pillow==13.0.0",
)
#: examples/sklearn's packages for 3.7 on macOS x86_64.
SITE_37_X86_64 = (
    "scikit-learn==1.0.2",
    "numpy==1.21.6",
    "scipy==1.7.3",
    "joblib==1.3.2",
    "threadpoolctl==3.1.0",
)
#: A wheel that is universal2 only (every extension module fat: x86_64 and arm64).
FAT_313 = ("charset-normalizer==3.5.3",)


def maven_repository() -> Path:
    """The local Maven repository: ``-Dmaven.repo.local`` from $MAVEN_OPTS, else ~/.m2/repository."""
    for word in shlex.split(os.environ.get("MAVEN_OPTS", "")):
        if word.startswith("-Dmaven.repo.local="):
            return Path(word.partition("=")[2]).expanduser()
    return Path.home() / ".m2" / "repository"


def javacpp_jar(jar: Jar) -> Path:
    """``jar``'s path in the local Maven repository, fetched with mvn if missing; a loud failure without mvn."""
    path = maven_repository().joinpath(
        *jar.group.split("."), jar.artifact, jar.version, f"{jar.artifact}-{jar.version}-{jar.classifier}.jar"
    )
    if path.is_file():
        return path
    mvn = shutil.which("mvn")
    if mvn is None:
        pytest.fail(f"mvn is missing and {path} is not there: `make setup` installs Maven (apt-get install maven)")
    path.parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(path.parent / ".gopack-tests.lock"):
        if not path.is_file():
            done = subprocess.run(
                [mvn, "-q", "-B", "dependency:get", f"-Dartifact={jar.coordinates}", "-Dtransitive=false"],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0 or not path.is_file():
                pytest.fail(f"mvn could not fetch {jar.coordinates} into {path}:\n{done.stdout}{done.stderr}")
    return path


def unpack_jar(jar: Jar, dest: Path) -> Path:
    """The jar's install unpacked under ``dest``; returns its root (the folder holding libpython and lib/)."""
    with zipfile.ZipFile(javacpp_jar(jar)) as zf:
        zf.extractall(dest)
    return dest / jar.prefix


def macos_wheels(dest: Path, requirements: Sequence[str], *, python_platform: str, python_version: str) -> Path:
    """``requirements`` (every one pinned, dependencies listed too) installed for a macOS platform into ``dest``."""
    uv = find_uv()
    if uv is None:
        pytest.fail("uv is missing: `make setup` installs it (a pinned dependency of gopack)")
    done = subprocess.run(
        [
            str(uv),
            "pip",
            "install",
            "--quiet",
            "--target",
            str(dest),
            "--python-platform",
            python_platform,
            "--python-version",
            python_version,
            "--only-binary",
            ":all:",
            "--no-deps",
            *requirements,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"uv could not install {' '.join(requirements)} for {python_platform}:\n{done.stderr}")
    return dest


@pytest.fixture(scope="session")
def cpython_313_arm64_jar() -> Path:
    return javacpp_jar(CPYTHON_313_ARM64)


@pytest.fixture(scope="session")
def cpython_37_x86_64_jar() -> Path:
    return javacpp_jar(CPYTHON_37_X86_64)


@pytest.fixture(scope="session")
def macos_site_313_arm64(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return macos_wheels(
        tmp_path_factory.mktemp("site-313-arm64"), SITE_313_ARM64, python_platform="aarch64-apple-darwin", python_version="3.13"
    )


@pytest.fixture(scope="session")
def macos_site_37_x86_64(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return macos_wheels(
        tmp_path_factory.mktemp("site-37-x86_64"), SITE_37_X86_64, python_platform="x86_64-apple-darwin", python_version="3.7"
    )


@pytest.fixture(scope="session")
def macos_fat_site_313(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return macos_wheels(tmp_path_factory.mktemp("site-313-fat"), FAT_313, python_platform="aarch64-apple-darwin", python_version="3.13")


def zig_program(out: Path, *, libpython: Path, arch: str, macos: str) -> Path:
    """A small C program calling ``libpython`` (a bundle's python/lib/libpython3.X.dylib), linked
    for macOS by zig as gopack links Go programs: ``-rpath @executable_path/../python/lib`` and
    header room; ``arch``: aarch64 or x86_64. Stands in for the Go program where Go is not the point."""
    source = out.with_suffix(".c")
    source.write_text("extern int Py_IsInitialized(void);\nint main(void) { return Py_IsInitialized(); }\n")
    lib = libpython.name.removeprefix("lib").removesuffix(".dylib")
    cmd = [sys.executable, "-m", "ziglang", "cc", "-target", f"{arch}-macos.{macos}", "-o", str(out), str(source)]
    cmd += [f"-L{libpython.parent}", f"-l{lib}", "-Wl,-rpath,@executable_path/../python/lib", "-Wl,-headerpad_max_install_names"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.fail(f"zig could not link {out.name}:\n{done.stderr}")
    source.unlink()
    return out
