"""Unit tests of gopack.go.bindings: which Go binding a program uses and the Pythons it compiles against."""

from __future__ import annotations

import doctest

import pytest

from gopack.go import bindings
from gopack.go.bindings import PYTHON3, Binding, GoPackage, detect, python_pkg_config_names, pythons_for_pkg_config

ALL3 = ("3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13")


def program(*deps: GoPackage) -> list[GoPackage]:
    """``go list -deps`` order: dependencies first, the main package last, plus some stdlib noise."""
    return [
        GoPackage(import_path="runtime/cgo", name="cgo"),
        GoPackage(import_path="fmt", name="fmt"),
        *deps,
        GoPackage(import_path="example.com/app", name="main", module="example.com/app", dir="/src/app"),
    ]


def binding_of(*deps: GoPackage) -> Binding:
    found = detect(program(*deps))
    assert found is not None
    return found


def test_doctests() -> None:
    result = doctest.testmod(bindings, verbose=False, report=False)
    assert result.attempted >= 3
    assert result.failed == 0


def test_python3_constant() -> None:
    assert PYTHON3 == ALL3


def test_datadog_go_python3() -> None:
    b = binding_of(
        GoPackage(
            import_path="github.com/DataDog/go-python3",
            module="github.com/DataDog/go-python3",
            module_version="v0.0.0-20211102160307-40adc605f1fe",
            pkg_config=("python3",),
            name="python3",
        )
    )
    assert b.name == "DataDog/go-python3"
    assert b.module == "github.com/DataDog/go-python3"
    assert b.module_version == "v0.0.0-20211102160307-40adc605f1fe"
    assert b.pythons == ("3.7",)
    assert b.pkg_config == ("python3",)
    assert b.supports("3.7")
    assert not b.supports("3.11")
    assert not b.supports("3.8")
    message = b.incompatibility("3.11")
    for part in ("DataDog/go-python3", "3.7", "3.11"):
        assert part in message
    assert b.why in message
    assert "M-Quadra" in b.alternatives and "go.nhat.io/cpy/v3" in b.alternatives


def test_go_python_cpy3() -> None:
    b = binding_of(
        GoPackage(
            import_path="github.com/go-python/cpy3", module="github.com/go-python/cpy3", module_version="v0.2.0", pkg_config=("python-3.7",)
        )
    )
    assert b.name == "go-python/cpy3"
    assert b.pythons == ("3.7",)
    assert b.pkg_config == ("python-3.7",)
    assert b.supports("3.7") and not b.supports("3.9")


@pytest.mark.parametrize(
    ("module", "pythons"),
    [
        ("github.com/M-Quadra/go-python3-submodule/v10", ("3.10",)),
        ("github.com/M-Quadra/go-python3-submodule/v8", ("3.8",)),
        ("github.com/M-Quadra/go-python3-submodule/v11", ("3.11",)),
        ("github.com/M-Quadra/go-python3-submodule", ("3.7",)),
    ],
)
def test_m_quadra_submodule(module: str, pythons: tuple[str, ...]) -> None:
    b = binding_of(GoPackage(import_path=module, module=module, module_version="v10.0.0", pkg_config=("python3-embed",)))
    assert b.name == "M-Quadra/go-python3-submodule"
    assert b.module == module
    assert b.pythons == pythons
    assert b.supports(pythons[0])


def test_m_quadra_v10_rejects_3_11() -> None:
    b = binding_of(
        GoPackage(import_path="github.com/M-Quadra/go-python3-submodule/v10", module="github.com/M-Quadra/go-python3-submodule/v10")
    )
    assert b.pythons == ("3.10",)
    assert not b.supports("3.11")
    message = b.incompatibility("3.11")
    assert "M-Quadra/go-python3-submodule" in message and "3.10" in message and "3.11" in message


@pytest.mark.parametrize(
    ("module", "version", "pythons"),
    [
        ("go.nhat.io/cpy/v3", "v3.12.0", ("3.12",)),
        ("go.nhat.io/cpy/v3", "v3.11.2", ("3.11",)),
        ("go.nhat.io/cpy/v3", "v3.10.0", ("3.10",)),
        ("go.nhat.io/cpy/v3", "", ("3.11", "3.12")),
        ("go.nhat.io/cpy", "(devel)", ("3.11", "3.12")),
    ],
)
def test_nhatthm_cpy(module: str, version: str, pythons: tuple[str, ...]) -> None:
    b = binding_of(GoPackage(import_path=module, module=module, module_version=version, pkg_config=("python3-embed",)))
    assert b.name == "nhatthm/cpy"
    assert b.module_version == version
    assert b.pythons == pythons


def test_nhatthm_cpy_subpackage() -> None:
    """Any package of a binding's module names it, not only the module root."""
    b = binding_of(GoPackage(import_path="go.nhat.io/cpy/v3/internal/api", module="go.nhat.io/cpy/v3", module_version="v3.12.0"))
    assert b.name == "nhatthm/cpy"
    assert b.pythons == ("3.12",)


def test_sbinet_go_python() -> None:
    b = binding_of(
        GoPackage(
            import_path="github.com/sbinet/go-python",
            module="github.com/sbinet/go-python",
            module_version="v0.1.0",
            pkg_config=("python-2.7",),
        )
    )
    assert b.name == "sbinet/go-python"
    assert b.pythons == ("2.7",)
    assert b.supports("2.7")
    assert not b.supports("3.7")
    assert "Python 3" in b.alternatives


def test_known_binding_pkg_config_only_from_its_module() -> None:
    b = binding_of(
        GoPackage(import_path="example.com/other", module="example.com/other", pkg_config=("libfoo", "python-3.9-embed")),
        GoPackage(import_path="github.com/DataDog/go-python3", module="github.com/DataDog/go-python3", pkg_config=("python3", "libbar")),
    )
    assert b.name == "DataDog/go-python3"
    assert b.pkg_config == ("python3",)


def test_similar_module_names_are_not_known_bindings() -> None:
    # a fork or a module that merely starts with a known name is raw cgo, decided by its pkg-config
    for module in ("github.com/DataDog/go-python3-fork", "github.com/someone/go-python3", "go.nhat.io/cpyx"):
        b = binding_of(GoPackage(import_path=module, module=module, pkg_config=("python-3.11-embed",)))
        assert b.name == "cgo", module
        assert b.pythons == ("3.11",)


def test_raw_cgo_python3_embed() -> None:
    b = binding_of(GoPackage(import_path="example.com/app/py", module="example.com/app", pkg_config=("python3-embed",)))
    assert b.name == "cgo"
    assert b.module == "example.com/app"
    assert b.pythons == ALL3
    assert b.pkg_config == ("python3-embed",)
    assert all(b.supports(v) for v in ALL3)
    assert not b.supports("2.7")
    assert "python3-embed" in b.why


def test_raw_cgo_pinned_version() -> None:
    b = binding_of(GoPackage(import_path="example.com/app/py", module="example.com/app", pkg_config=("python-3.11-embed",)))
    assert b.name == "cgo"
    assert b.pythons == ("3.11",)
    assert b.supports("3.11")
    assert not b.supports("3.12")
    message = b.incompatibility("3.12")
    assert "3.11" in message and "3.12" in message and "python-3.11-embed" in message


def test_raw_cgo_in_main_package_without_module() -> None:
    b = detect([GoPackage(import_path="command-line-arguments", name="main", pkg_config=("python3",))])
    assert b is not None
    assert b.module == "command-line-arguments"
    assert b.pythons == ALL3


def test_raw_cgo_names_intersect() -> None:
    b = binding_of(
        GoPackage(import_path="example.com/a", module="example.com/a", pkg_config=("python3",)),
        GoPackage(import_path="example.com/b", module="example.com/b", pkg_config=("python-3.9",)),
    )
    assert b.pythons == ("3.9",)
    assert b.pkg_config == ("python-3.9", "python3")


def test_raw_cgo_conflicting_names_support_nothing() -> None:
    b = binding_of(GoPackage(import_path="example.com/a", module="example.com/a", pkg_config=("python-3.8", "python-3.11-embed")))
    assert b.pythons == ()
    assert not any(b.supports(v) for v in (*ALL3, "2.7"))


def test_raw_cgo_python2() -> None:
    b = binding_of(GoPackage(import_path="example.com/a", module="example.com/a", pkg_config=("python2",)))
    assert b.pythons == ("2.7",)


def test_incompatibility_of_a_wide_range_is_a_range() -> None:
    b = binding_of(GoPackage(import_path="example.com/a", module="example.com/a", pkg_config=("python3-embed",)))
    assert "3.7 to 3.13" in b.incompatibility("2.7")


def test_no_python_pkg_config_gives_none() -> None:
    assert detect([]) is None
    assert detect(program()) is None
    assert detect(program(GoPackage(import_path="example.com/gl", module="example.com/gl", pkg_config=("libfoo", "gl", "x11")))) is None


@pytest.mark.parametrize(
    "name",
    [
        "libfoo",
        "python",
        "python4",
        "python-3",
        "python-3.x",
        "pythonista",
        "python3-config",
        "libpython3.11",
        "python-3.11-embedded",
        " python3",
    ],
)
def test_non_python_pkg_config_names_ignored(name: str) -> None:
    assert pythons_for_pkg_config(name) == ()
    assert python_pkg_config_names([name]) == ()
    assert detect(program(GoPackage(import_path="example.com/x", module="example.com/x", pkg_config=(name,)))) is None


def test_libfoo_beside_python_is_ignored() -> None:
    b = binding_of(GoPackage(import_path="example.com/x", module="example.com/x", pkg_config=("libfoo", "python-3.10-embed")))
    assert b.pkg_config == ("python-3.10-embed",)
    assert b.pythons == ("3.10",)
    assert "libfoo" not in b.why


@pytest.mark.parametrize(
    ("name", "pythons"),
    [
        ("python3", ALL3),
        ("python3-embed", ALL3),
        ("python2", ("2.7",)),
        ("python-2.7", ("2.7",)),
        ("python-3.7", ("3.7",)),
        ("python-3.7m", ("3.7",)),
        ("python-3.7m-embed", ("3.7",)),
        ("python-3.11-embed", ("3.11",)),
        ("python-3.13", ("3.13",)),
        ("python-3.8d", ("3.8",)),
        ("python-3.8dm-embed", ("3.8",)),
    ],
)
def test_pythons_for_pkg_config(name: str, pythons: tuple[str, ...]) -> None:
    assert pythons_for_pkg_config(name) == pythons


def test_python_pkg_config_names_sorted_and_deduplicated() -> None:
    assert python_pkg_config_names(["python3", "libfoo", "python-3.7", "python3"]) == ("python-3.7", "python3")


def test_binding_is_frozen() -> None:
    b = binding_of(GoPackage(import_path="example.com/x", module="example.com/x", pkg_config=("python3",)))
    with pytest.raises(AttributeError):
        b.pythons = ()  # type: ignore[misc]
