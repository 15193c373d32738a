"""Known Go bindings to CPython and the Python versions they compile against.

Facts come from ../shared/research/embedding.md §1 and the bindings' sources.
Detection reads ``go list -deps`` output (pure parsing here; running go lives in
:mod:`gopack.plan`): the module that provides a package names the binding, and
the pkg-config names its cgo lines ask for name the Python it links.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

#: Any Python 3 minor version gopack can target.
PYTHON3 = tuple(f"3.{minor}" for minor in range(7, 14))


@dataclass(frozen=True, kw_only=True)
class GoPackage:
    """One line of ``go list -deps``: a package, its module and its cgo pkg-config names."""

    import_path: str
    module: str = ""
    module_version: str = ""
    pkg_config: tuple[str, ...] = ()
    name: str = ""
    dir: str = ""
    #: What gopack reads of the package's cgo code (gopack.go.includes).
    standard: bool = False
    cgo_files: tuple[str, ...] = ()
    c_files: tuple[str, ...] = ()
    cxx_files: tuple[str, ...] = ()
    #: C++ files of SWIG: with them or cxx_files, Go links the program with CXX.
    swig_cxx_files: tuple[str, ...] = ()
    h_files: tuple[str, ...] = ()
    cgo_cflags: tuple[str, ...] = ()
    cgo_cppflags: tuple[str, ...] = ()
    cgo_cxxflags: tuple[str, ...] = ()
    cgo_ldflags: tuple[str, ...] = ()
    #: The package's Go files (a darwin link reads the standard library's //go:cgo_ldflag directives).
    go_files: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Binding:
    """The Go package that gives the program CPython, and what it needs."""

    name: str
    module: str
    module_version: str
    pythons: tuple[str, ...]
    pkg_config: tuple[str, ...]
    why: str
    alternatives: str = ""

    def supports(self, version: str) -> bool:
        return version in self.pythons

    def incompatibility(self, version: str) -> str:
        """The sentence explaining why ``version`` will not compile with this binding."""
        wanted = " or ".join(self.pythons) if len(self.pythons) < 4 else f"{self.pythons[0]} to {self.pythons[-1]}"
        return f"{self.name} compiles only against Python {wanted} ({self.why}); the recipe asks for {version}"


@dataclass(frozen=True, kw_only=True)
class _Known:
    name: str
    #: The module path as the module spells it, without a major version suffix.
    module_path: str
    module: re.Pattern[str]
    why: str
    alternatives: str

    def pythons(self, module: str, version: str) -> tuple[str, ...]:
        if self.name == "M-Quadra/go-python3-submodule":
            major = re.search(r"/v(\d+)$", module)
            return (f"3.{major.group(1)}",) if major else ("3.7",)
        if self.name == "nhatthm/cpy":
            minor = re.match(r"v3\.(\d+)\.", version)
            return (f"3.{minor.group(1)}",) if minor else ("3.11", "3.12")
        if self.name == "sbinet/go-python":
            return ("2.7",)
        return ("3.7",)


_NEWER = "github.com/M-Quadra/go-python3-submodule/v11 (3.11) or go.nhat.io/cpy/v3 (3.11, 3.12)"
KNOWN: tuple[_Known, ...] = (
    _Known(
        name="DataDog/go-python3",
        module_path="github.com/DataDog/go-python3",
        module=re.compile(r"^github\.com/DataDog/go-python3$"),
        why="3.8 removed PyEval_ReInitThreads, 3.9 the *_ClearFreeList functions it wraps",
        alternatives=_NEWER,
    ),
    _Known(
        name="go-python/cpy3",
        module_path="github.com/go-python/cpy3",
        module=re.compile(r"^github\.com/go-python/cpy3$"),
        why="it wraps the 3.7 C API, including functions removed in 3.8 and 3.9",
        alternatives=_NEWER,
    ),
    _Known(
        name="M-Quadra/go-python3-submodule",
        module_path="github.com/M-Quadra/go-python3-submodule",
        module=re.compile(r"^github\.com/M-Quadra/go-python3-submodule(/v\d+)?$"),
        why="each major version vN wraps the C API of Python 3.N",
        alternatives="the module major version matching your Python (v8 for 3.8 ... v11 for 3.11)",
    ),
    _Known(
        name="nhatthm/cpy",
        module_path="go.nhat.io/cpy",
        module=re.compile(r"^go\.nhat\.io/cpy(/v\d+)?$"),
        why="its module version v3.X.* follows the Python 3.X C API",
        alternatives="the go.nhat.io/cpy/v3 release line v3.X matching your Python",
    ),
    _Known(
        name="sbinet/go-python",
        module_path="github.com/sbinet/go-python",
        module=re.compile(r"^github\.com/sbinet/go-python$"),
        why="it wraps the Python 2 C API",
        alternatives="a Python 3 binding such as go.nhat.io/cpy/v3",
    ),
)

_PC_NAME = re.compile(r"^python(?:(?P<major>[23])|-(?P<version>[23]\.\d+))(?:m|d|dm)?(?:-embed)?$")


def python_pkg_config_names(names: Iterable[str]) -> tuple[str, ...]:
    """The pkg-config names that ask for a Python (``python3``, ``python-3.7-embed``...)."""
    return tuple(sorted({n for n in names if _PC_NAME.match(n)}))


def pythons_for_pkg_config(name: str) -> tuple[str, ...]:
    """Which Python versions a pkg-config name can resolve to.

    >>> pythons_for_pkg_config("python-3.11-embed")
    ('3.11',)
    >>> pythons_for_pkg_config("python-2.7")
    ('2.7',)
    >>> pythons_for_pkg_config("python3-embed")[0]
    '3.7'
    """
    match = _PC_NAME.match(name)
    if match is None:
        return ()
    if match.group("version"):
        return (match.group("version"),)
    return ("2.7",) if match.group("major") == "2" else PYTHON3


LIBPYTHON_FLAG = re.compile(r"^-lpython(?P<version>[23]\.\d+)(?:m|d|dm)?$")


def libpython_versions(ldflags: Iterable[str]) -> tuple[str, ...]:
    """The Python versions ``-lpythonX.Y`` flags link.

    >>> libpython_versions(["-lm", "-lpython3.7m", "-lpython3.12"])
    ('3.12', '3.7')
    """
    return tuple(sorted({m.group("version") for m in map(LIBPYTHON_FLAG.match, ldflags) if m}))


def detect(packages: Iterable[GoPackage]) -> Binding | None:
    """The binding the program uses, or None when no package asks for Python.

    A known binding module wins; otherwise the packages whose cgo lines name a
    Python pkg-config module are raw cgo, and the names decide the versions.
    """
    packages = list(packages)
    for package in packages:
        for known in KNOWN:
            if package.module and known.module.match(package.module):
                names = python_pkg_config_names(n for p in packages if p.module == package.module for n in p.pkg_config)
                return Binding(
                    name=known.name,
                    module=package.module,
                    module_version=package.module_version,
                    pythons=known.pythons(package.module, package.module_version),
                    pkg_config=names,
                    why=known.why,
                    alternatives=known.alternatives,
                )
    raw = [p for p in packages if python_pkg_config_names(p.pkg_config) or (not p.standard and libpython_versions(p.cgo_ldflags))]
    if not raw:
        return None
    names = python_pkg_config_names(n for p in raw for n in p.pkg_config)
    allowed = set(PYTHON3) | {"2.7"}
    for name in names:
        allowed &= set(pythons_for_pkg_config(name))
    linked = sorted({v for p in raw for v in libpython_versions(p.cgo_ldflags)})
    if not names:
        # Only -lpythonX.Y: the plan checks the version against python.version, naming the file.
        return Binding(
            name="cgo",
            module=raw[0].module or raw[0].import_path,
            module_version=raw[0].module_version,
            pythons=tuple(linked),
            pkg_config=(),
            why=f"its cgo lines link {', '.join(f'-lpython{v}' for v in linked)}",
            alternatives="'#cgo pkg-config: python3-embed' to build against any 3.x",
        )
    return Binding(
        name="cgo",
        module=raw[0].module or raw[0].import_path,
        module_version=raw[0].module_version,
        pythons=tuple(sorted(allowed, key=lambda v: tuple(map(int, v.split("."))))),
        pkg_config=names,
        why=f"its cgo lines ask pkg-config for {', '.join(names)}",
        alternatives="a pkg-config name without a version (python3-embed) to build against any 3.x",
    )
