"""Unit tests of the pure checks in gopack.plan and of interpreter discovery (gopack.python.interpreters.find)."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest
from conftest import PYENV

from gopack import plan
from gopack.errors import GopackError, ToolchainError
from gopack.plan import GOARCH_MACHINES, GoToolchain, check_machine
from gopack.platform.target import make as make_target
from gopack.python import interpreters
from gopack.python.interpreters import Interpreter, Rejected
from gopack.recipe import model as recipe

HOST = make_target("amd64", sysroot=None, glibc=None)

PY37_ROOT = PYENV / "3.7.16"
PY37 = PY37_ROOT / "bin" / "python3.7"


def fake_interpreter(elf_machine: str = "EM_X86_64") -> Interpreter:
    prefix = Path("/opt/fake-python")
    return Interpreter(
        executable=prefix / "bin" / "python3.11",
        version="3.11.7",
        abiflags="",
        prefix=prefix,
        stdlib=prefix / "lib" / "python3.11",
        include=prefix / "include" / "python3.11",
        libpython=prefix / "lib" / "libpython3.11.so.1.0",
        elf_machine=elf_machine,
    )


def fake_go(goarch: str = "amd64") -> GoToolchain:
    return GoToolchain(go=Path("/opt/fake-go/bin/go"), version="go1.22.0", goos="linux", goarch=goarch)


# -- check_machine ---------------------------------------------------------------------------


@pytest.mark.parametrize(("goarch", "machine"), sorted(GOARCH_MACHINES.items()))
def test_check_machine_matching_passes(goarch: str, machine: str) -> None:
    assert check_machine(fake_interpreter(machine), fake_go(goarch)) is None


def test_check_machine_mismatch_names_both() -> None:
    interpreter = fake_interpreter("EM_AARCH64")
    with pytest.raises(ToolchainError) as info:
        check_machine(interpreter, fake_go("amd64"))
    err = info.value
    assert isinstance(err, GopackError)
    assert err.exit_code == 3
    assert "EM_AARCH64" in err.message
    assert "GOARCH=amd64" in err.message
    assert "EM_X86_64" in err.message  # what amd64 needs
    assert str(interpreter.libpython) in err.message
    assert err.hint and "architecture" in err.hint


def test_check_machine_other_direction() -> None:
    with pytest.raises(ToolchainError) as info:
        check_machine(fake_interpreter("EM_X86_64"), fake_go("arm64"))
    assert "EM_X86_64" in info.value.message
    assert "GOARCH=arm64" in info.value.message
    assert "EM_AARCH64" in info.value.message
    assert info.value.exit_code == 3


def test_check_machine_unknown_goarch() -> None:
    with pytest.raises(ToolchainError) as info:
        check_machine(fake_interpreter("EM_X86_64"), fake_go("mips64"))
    assert "GOARCH=mips64" in info.value.message
    assert "unknown machine" in info.value.message
    assert "EM_X86_64" in info.value.message


def test_interpreter_derived_names() -> None:
    i = fake_interpreter()
    assert i.short_version == "3.11"
    assert i.tag == "cp311"
    assert i.abi == "cp311"
    assert i.soname == "libpython3.11.so.1.0"
    assert i.link_name == "python3.11"
    assert i.program == "python3.11"


# -- interpreters.find with real candidates -----------------------------------------------------


def require_py37() -> Path:
    """pyenv's 3.7.16; its absence is a failure of the test machine, not a reason to skip."""
    if not PY37.is_file():
        pytest.fail(
            f"{PY37} is missing: these tests need pyenv's CPython 3.7.16 built with --enable-shared "
            "(PYTHON_CONFIGURE_OPTS=--enable-shared pyenv install 3.7.16)",
            pytrace=False,
        )
    return PY37


def only_rejection(version: str, candidate: Path) -> Rejected:
    found, rejected = interpreters.find(version, [candidate])
    assert found is None
    assert len(rejected) == 1
    assert rejected[0].path == candidate
    return rejected[0]


def test_find_rejects_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-python"
    r = only_rejection("3.7", missing)
    assert r.reason.startswith("cannot run")
    assert "No such file" in r.reason


def test_find_rejects_bin_sh() -> None:
    r = only_rejection("3.7", Path("/bin/sh"))
    assert r.reason.startswith("exits with ") or "not CPython" in r.reason, r.reason


@pytest.fixture
def venv_python(tmp_path: Path) -> Path:
    """A virtual environment's python, made by pyenv's 3.7 (copied, not linked: find() skips
    a candidate whose real path it has seen; no pip: it is not used)."""
    subprocess.run([require_py37(), "-m", "venv", "--without-pip", "--copies", tmp_path / "venv"], check=True)
    return tmp_path / "venv" / "bin" / "python"


def test_find_rejects_virtual_environment(venv_python: Path) -> None:
    r = only_rejection("3.7", venv_python)
    assert r.reason.startswith("is a virtual environment"), r.reason
    assert "base:" in r.reason


def test_find_accepts_pyenv_37() -> None:
    py37 = require_py37()
    found, rejected = interpreters.find("3.7", [py37])
    assert rejected == []
    assert found is not None
    assert found.version == "3.7.16"
    assert found.short_version == "3.7"
    assert found.abiflags == "m"
    assert found.abi == "cp37m"
    assert found.prefix == PY37_ROOT
    assert found.libpython.is_file()
    assert found.libpython.name.startswith("libpython3.7m.so")
    assert (found.include / "Python.h").is_file()
    assert found.elf_machine.startswith("EM_")


def test_find_rejects_pyenv_37_for_38() -> None:
    py37 = require_py37()
    r = only_rejection("3.8", py37)
    assert r.reason == "is Python 3.7.16, not 3.8"


def test_find_keeps_going_and_lists_every_rejection(tmp_path: Path, venv_python: Path) -> None:
    py37 = require_py37()
    missing = tmp_path / "python3.7"
    found, rejected = interpreters.find("3.7", [missing, Path("/bin/sh"), venv_python, py37, Path("/bin/sh")])
    assert found is not None and found.version == "3.7.16"
    assert [r.path for r in rejected] == [missing, Path("/bin/sh"), venv_python]
    assert rejected[0].reason.startswith("cannot run")
    assert rejected[2].reason.startswith("is a virtual environment")


def test_find_skips_duplicates_by_real_path() -> None:
    py37 = require_py37()
    found, rejected = interpreters.find("3.8", [py37, py37, py37.parent / ".." / "bin" / "python3.7"])
    assert found is None
    assert len(rejected) == 1


def test_find_with_no_candidates() -> None:
    assert interpreters.find("3.7", []) == (None, [])


# -- executables that run but are not Python (regression: json.JSONDecodeError escaped probe) ------

NOT_PYTHON = "does not answer like a Python interpreter"


@pytest.mark.parametrize("executable", [Path("/bin/true"), Path("/bin/echo")])
def test_probe_refuses_non_python(executable: Path) -> None:
    with pytest.raises(ToolchainError) as info:
        interpreters.probe(executable)
    assert info.value.message == NOT_PYTHON
    assert info.value.exit_code == 3


@pytest.mark.parametrize("executable", [Path("/bin/true"), Path("/bin/echo")])
def test_find_rejects_non_python(executable: Path) -> None:
    r = only_rejection("3.7", executable)
    assert r.reason == NOT_PYTHON


def test_find_keeps_going_past_non_python() -> None:
    py37 = require_py37()
    found, rejected = interpreters.find("3.7", [Path("/bin/true"), Path("/bin/echo"), py37])
    assert found is not None and found.version == "3.7.16"
    assert rejected == [Rejected(path=Path("/bin/true"), reason=NOT_PYTHON), Rejected(path=Path("/bin/echo"), reason=NOT_PYTHON)]


def recipe_with_interpreter(tmp_path: Path, interpreter: str | None) -> Path:
    (tmp_path / "go.mod").write_text("module example.com/hello\n\ngo 1.21\n")
    lines = ["name: hello", 'version: "0.1.0"', "go:", "  module: .", "python:", '  version: "3.7"']
    if interpreter is not None:
        lines.append(f"  interpreter: {interpreter}")
    (tmp_path / "go.mod").write_text("module example.com/a\n\ngo 1.21\n")
    path = tmp_path / "recipe.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_recipe_interpreter_bin_true(tmp_path: Path) -> None:
    path = recipe_with_interpreter(tmp_path, "/bin/true")
    with pytest.raises(ToolchainError) as info:
        plan.find_interpreter(recipe.load(path), HOST)
    err = info.value
    assert err.exit_code == 3
    assert err.message == f"{path}:7: python.interpreter: /bin/true {NOT_PYTHON}"
    assert err.hint and "python.interpreter" in err.hint and "--enable-shared" in err.hint


def test_discovered_non_python_is_listed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without python.interpreter, a pythonX.Y that is not Python is one of the rejected candidates."""
    path = recipe_with_interpreter(tmp_path, None)
    monkeypatch.setattr(interpreters, "candidates", lambda version, **kw: iter([Path("/bin/true")]))
    with pytest.raises(ToolchainError) as info:
        plan.find_interpreter(recipe.load(path), HOST)
    err = info.value
    assert err.exit_code == 3
    assert err.message.startswith(f"{path}:6: python.version: no CPython 3.7 with a shared libpython was found; candidates:")
    assert err.message.splitlines()[1:] == [f"  /bin/true: {NOT_PYTHON}"]


# -- prune.imports needs a traced run of the smoke command at build time ---------------------


def _pruning_recipe(tmp_path: Path) -> recipe.Recipe:
    (tmp_path / "go.mod").write_text("module example.com/a\n\ngo 1.21\n")
    path = tmp_path / "recipe.yaml"
    path.write_text('name: a\nversion: "1"\ngo:\n  module: .\npython:\n  version: "3.11"\nprune:\n  imports: true\n')
    return recipe.load(path)


def test_prune_imports_is_planned_for_a_host_python_3(tmp_path: Path) -> None:
    assert plan.check_prune_imports(_pruning_recipe(tmp_path), fake_interpreter(), HOST) is None


def test_prune_imports_is_refused_in_the_plan_for_python_27(tmp_path: Path) -> None:
    old = dataclasses.replace(fake_interpreter(), version="2.7.18")
    with pytest.raises(GopackError) as info:
        plan.check_prune_imports(_pruning_recipe(tmp_path), old, HOST)
    assert "recipe.yaml:8: prune.imports" in info.value.message and "Python 3" in info.value.message
    assert "turn prune.imports off" in (info.value.hint or "")


def test_prune_imports_is_refused_in_the_plan_where_the_smoke_test_cannot_run(tmp_path: Path) -> None:
    mac = make_target("arm64", sysroot=None, glibc=None, system="macos", macos="14.0")
    with pytest.raises(GopackError) as info:
        plan.check_prune_imports(_pruning_recipe(tmp_path), fake_interpreter(), mac)
    assert "runs the smoke command at build time" in info.value.message and "needs a Mac" in info.value.message
