"""What a CPython installation is: version, ABI, libpython, paths, ELF machine.

An :class:`Interpreter` is probed by running the interpreter itself once with a
script that works from Python 2.7 to 3.13. Discovery lists every candidate it
rejects and why, so a "no interpreter" error tells the user what was tried.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile

from gopack.errors import ToolchainError
from gopack.platform.linux import analysis
from gopack.platform.target import Target, above_floor
from gopack.recipe import placeholders

_PROBE = r"""
import json, platform, site, sys, sysconfig
v = sysconfig.get_config_var
print(json.dumps(dict(
    implementation=platform.python_implementation(),
    version="%d.%d.%d" % sys.version_info[:3],
    abiflags=getattr(sys, "abiflags", ""),
    prefix=sys.prefix,
    base_prefix=getattr(sys, "base_prefix", getattr(sys, "real_prefix", sys.prefix)),
    executable=sys.executable,
    stdlib=sysconfig.get_path("stdlib"),
    include=sysconfig.get_path("include"),
    libdir=v("LIBDIR"),
    instsoname=v("INSTSONAME"),
    ldlibrary=v("LDLIBRARY"),
    enable_shared=v("Py_ENABLE_SHARED"),
    site=getattr(site, "getsitepackages", lambda: [])(),
)))
"""


@dataclass(frozen=True, kw_only=True)
class Interpreter:
    """A CPython installation with a shared libpython that a Go program can link."""

    executable: Path
    version: str  # "3.7.16"
    abiflags: str  # "m" on 3.7, "" from 3.8
    prefix: Path
    stdlib: Path
    include: Path
    libpython: Path  # the file named by the SONAME, e.g. lib/libpython3.7m.so.1.0
    elf_machine: str  # pyelftools e_machine, e.g. "EM_X86_64"
    #: The folder of the stdlib the interpreter's site module adds to sys.path: Debian's
    #: python3.X reads lib/python3.X/dist-packages, not site-packages.
    site_dir: str = "site-packages"
    #: A CPython of the same X.Y on this machine that compiles the bundle's bytecode, when this
    #: interpreter cannot run here (a macOS tree, :mod:`gopack.python.home`); None: it compiles its own.
    compiler: Path | None = None
    #: The folder or archive it was read from (python.home), for messages; None: found and probed.
    tree: Path | None = None

    @property
    def libpython_where(self) -> str:
        """libpython for messages: its path, or its name in the tree it came from."""
        return f"{self.libpython.name} in {self.tree}" if self.tree is not None else str(self.libpython)

    @property
    def short_version(self) -> str:
        return ".".join(self.version.split(".")[:2])

    @property
    def tag(self) -> str:
        """The wheel-style Python tag: cp37."""
        return "cp" + self.short_version.replace(".", "")

    @property
    def abi(self) -> str:
        """The wheel-style ABI tag: cp37m, cp311."""
        return self.tag + self.abiflags

    @property
    def soname(self) -> str:
        return self.libpython.name

    @property
    def link_name(self) -> str:
        """What follows -l to link libpython: python3.7m (from libpython3.7m.so.1.0 or libpython3.7m.dylib)."""
        return re.sub(r"^lib(.*?)(\.so.*|\.dylib)$", r"\1", self.libpython.name)

    @property
    def bytecode_python(self) -> Path:
        """What compiles the bundle's bytecode: the interpreter, or the one of this machine that stands in for it."""
        return self.compiler or self.executable

    @property
    def program(self) -> str:
        """The interpreter's versioned executable name: python3.7."""
        return f"python{self.short_version}"


@dataclass(frozen=True, kw_only=True)
class Rejected:
    path: Path
    reason: str


def probe(executable: Path, *, shared_in_prefix: bool = False, target: Target | None = None) -> Interpreter:
    """Run ``executable`` once and describe it; raise ToolchainError saying why it is unusable.

    ``shared_in_prefix``: take any ``lib/libpythonX.Y*.so*`` of the prefix as the
    shared libpython, whatever ``Py_ENABLE_SHARED`` says. conda-forge's python
    links its own executable statically but ships the shared library beside it.
    ``target``: the machine and root the interpreter belongs to (the host when None).
    It is run as the target runs it; the paths it reports are read as the target's,
    and its libpython is looked for in LIBDIR, then in the target's library path
    (Debian puts it in the multiarch directory, not in LIBDIR).
    """
    argv = target.launch(executable) if target is not None else [str(executable)]
    inside = target.inside if target is not None else Path
    real = target.real if target is not None else Path.resolve
    try:
        proc = subprocess.run([*argv, "-c", _PROBE], capture_output=True, text=True, timeout=60, check=False)
    except OSError as exc:
        raise ToolchainError(f"cannot run: {exc.strerror}") from None
    except subprocess.TimeoutExpired:
        raise ToolchainError("did not answer within 60 s") from None
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise ToolchainError(f"exits with {proc.returncode}: {last}")
    try:
        info = json.loads(proc.stdout)
        implementation = info["implementation"]
    except (ValueError, KeyError, TypeError):
        raise ToolchainError("does not answer like a Python interpreter") from None
    if implementation != "CPython":
        raise ToolchainError(f"is {info['implementation']}, not CPython")
    if info["prefix"] != info["base_prefix"]:
        raise ToolchainError(f"is a virtual environment (base: {info['base_prefix']})")
    if shared_in_prefix:
        libpython = _shared_libpython(Path(info["prefix"]) / "lib", info["version"], info["abiflags"])
    elif not info["enable_shared"]:
        raise ToolchainError("has no shared libpython (built without --enable-shared)")
    else:
        name = info["instsoname"] or info["ldlibrary"] or ""
        libpython = inside(info["libdir"] or "/") / name
        dirs = target.ld_paths if target is not None and target.sysroot is not None else ()
        libpython = next((Path(d) / name for d in (str(libpython.parent), *dirs) if name and (Path(d) / name).is_file()), libpython)
        if not libpython.is_file():
            raise ToolchainError(f"its shared libpython {libpython} does not exist")
    include = inside(info["include"])
    if not (include / "Python.h").is_file():
        raise ToolchainError(f"has no headers ({include}/Python.h is missing)")
    return Interpreter(
        executable=Path(info["executable"] or executable).resolve(),
        version=info["version"],
        abiflags=info["abiflags"],
        prefix=Path(info["prefix"]),
        stdlib=Path(info["stdlib"]),
        include=include,
        libpython=real(libpython),
        elf_machine=analysis.elf_machine(libpython),
        site_dir=_site_dir(info.get("site") or [], info["stdlib"]),
    )


def _site_dir(found: list[str], stdlib: str) -> str:
    """site-packages if the interpreter reads it in its stdlib folder, else the folder there that it does read."""
    names = [os.path.basename(p) for p in found if os.path.dirname(os.path.normpath(p)) == os.path.normpath(stdlib)]
    return "site-packages" if "site-packages" in names or not names else names[0]


def libpythons(libdir: Path, stem: str = "libpython") -> tuple[list[Path], list[str]]:
    """The shared libraries (``stem*.so*``) in ``libdir``, and the names of the static ones (``stem*.a``)."""
    return sorted(libdir.glob(f"{stem}*.so*")), sorted(p.name for p in libdir.glob(f"{stem}*.a"))


def _shared_libpython(libdir: Path, version: str, abiflags: str) -> Path:
    """The shared libpython in ``libdir``: the file its SONAME names, e.g. libpython3.7m.so.1.0."""
    short = ".".join(version.split(".")[:2])
    found, static = libpythons(libdir, f"libpython{short}{abiflags}")
    if not found:
        what = f"only the static {', '.join(static)}" if static else "no libpython at all"
        raise ToolchainError(f"has no shared libpython: {libdir} holds {what}")
    for candidate in found:
        try:
            with candidate.open("rb") as f:
                dynamic = ELFFile(f).get_section_by_name(".dynamic")
                tags = dynamic.iter_tags("DT_SONAME") if isinstance(dynamic, DynamicSection) else iter(())
                soname = next((analysis.tag_text(t) for t in tags), None)
        except (OSError, ELFError):
            continue
        if soname and (libdir / soname).is_file():
            return libdir / soname
    return found[0]


def candidates(version: str, *, search_path: str | None = None, pyenv_root: Path | None = None, pyenv: bool = True) -> Iterator[Path]:
    """Executables that may be CPython ``version``: pyenv versions first (newest patch), then PATH,
    then the Pythons uv manages (python-build-standalone builds, e.g. from ``uv python install``).
    ``pyenv``: False for a root file system's search (its PATH only)."""
    root = pyenv_root or Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    versions = root / "versions"
    found: list[tuple[tuple[int, ...], Path]] = []
    if pyenv and versions.is_dir():
        for entry in versions.iterdir():
            match = re.fullmatch(re.escape(version) + r"\.(\d+)", entry.name)
            if match and (entry / "bin" / f"python{version}").exists():
                found.append(((int(match.group(1)),), entry / "bin" / f"python{version}"))
    for _, path in sorted(found, reverse=True):
        yield path
    seen: set[str] = set()
    for name in (f"python{version}", f"python{version.split('.')[0]}"):
        hit = shutil.which(name, path=search_path)
        if hit and hit not in seen:
            seen.add(hit)
            yield Path(hit)
    if pyenv:
        managed = _uv_managed(version)
        if managed is not None:
            yield managed


def _uv_managed(version: str) -> Path | None:
    """``uv python find --managed-python``: a uv-managed CPython ``version``, never downloaded."""
    try:
        from uv import find_uv_bin
    except ImportError:
        return None
    try:
        found = subprocess.run(
            [find_uv_bin(), "python", "find", "--managed-python", "--no-python-downloads", version],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    path = found.stdout.strip()
    return Path(path) if found.returncode == 0 and path else None


def find(version: str, candidates: Iterable[Path], *, target: Target | None = None) -> tuple[Interpreter | None, list[Rejected]]:
    """The first candidate that is a CPython ``version`` with a shared libpython (run as ``target`` runs it)."""
    rejected: list[Rejected] = []
    seen: set[Path] = set()
    for path in candidates:
        real = path.resolve()
        if real in seen:
            continue
        seen.add(real)
        try:
            interpreter = probe(path, target=target)
        except ToolchainError as exc:
            rejected.append(Rejected(path=path, reason=exc.message))
            continue
        if interpreter.short_version != version:
            rejected.append(Rejected(path=path, reason=f"is Python {interpreter.version}, not {version}"))
            continue
        newer = above_floor(target, [interpreter.libpython, interpreter.executable]) if target is not None else []
        if newer:
            rejected.append(
                Rejected(path=path, reason=f"needs a glibc newer than {target.floor if target else ''}:\n  " + "\n  ".join(newer))
            )
            continue
        return interpreter, rejected
    return None, rejected


def placeholder_value(interpreter: Interpreter, placeholder: placeholders.Placeholder) -> str | None:
    """The value of a placeholder known without the Python tree, else None."""
    if placeholder.name == "python.include":
        return str(interpreter.include)
    if placeholder.name == "python.lib":
        return str(interpreter.libpython.parent)
    return None
