"""The macOS side of the plan, on the real JavaCPP jars: the target (target.os, target.arch,
target.macos), the interpreter read from a tree (python.home, never run), uv resolving macOS
wheels and refusing what only an sdist has, and the arm64-program/x86_64-libpython refusal."""

from __future__ import annotations

import shutil
import tarfile
import textwrap
from pathlib import Path

import pytest
from conftest import DATA, EXAMPLES, require_pyenv
from macos_fixtures import CPYTHON_37_X86_64, CPYTHON_313_ARM64, unpack_jar

from gopack import pipeline, plan
from gopack.errors import BuildError, RecipeError, ToolchainError, UsageError
from gopack.platform import target as targets
from gopack.python import env, home
from gopack.recipe import model as recipe


def test_a_mac_target_names_its_machine_triple_and_platform() -> None:
    arm = targets.make_macos("arm64", macos="14.0")
    assert (arm.system, arm.goos, arm.machine, arm.arch_name) == ("macos", "darwin", "MACHO_ARM64", "arm64")
    assert arm.zig_triple == "aarch64-macos.14.0"
    assert arm.python_platform == "aarch64-apple-darwin"
    assert arm.uv_env() == {"MACOSX_DEPLOYMENT_TARGET": "14.0"}
    assert arm.uv_args(Path("unused"), "3.13.5")[-4:] == ["--python-platform", "aarch64-apple-darwin", "--only-binary", ":all:"]
    assert arm.launch("prog") == ["prog"] and arm.sysroot is None and arm.emulator is None
    intel = targets.make_macos("amd64", macos=None)
    assert (intel.machine, intel.zig_triple, intel.python_platform) == ("MACHO_X86_64", "x86_64-macos.12.0", "x86_64-apple-darwin")
    assert intel.uv_env() == {}
    assert intel.identity() != arm.identity()


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"macos": "14"}, "not a macOS version"),
        ({"macos": "11.0"}, "older than 12.0"),
        ({"glibc": "2.28"}, "glibc 2.28 is for a Linux target"),
        ({"sysroot": Path("/")}, "root file system is for a Linux target"),
    ],
)
def test_a_mac_target_refuses_what_is_not_for_a_mac(kwargs: dict[str, object], words: str) -> None:
    args: dict[str, object] = {"sysroot": None, "glibc": None, "system": "macos", **kwargs}
    with pytest.raises(RecipeError, match=words):
        targets.make("arm64", **args)  # type: ignore[arg-type]


def test_target_macos_without_target_os_macos_is_refused() -> None:
    with pytest.raises(RecipeError, match="is for a macOS target, but target.os is linux") as caught:
        targets.make("amd64", sysroot=None, glibc=None, macos="14.0")
    assert caught.value.hint == "add target.os: macos"


def test_the_313_arm64_jar_is_read_from_its_files(cpython_313_arm64_jar: Path, tmp_path: Path) -> None:
    require_pyenv("3.13")
    interpreter = home.interpreter(cpython_313_arm64_jar, where="python.home", cache_dir=tmp_path)
    assert (interpreter.version, interpreter.abiflags, interpreter.abi) == ("3.13.5", "", "cp313")
    assert interpreter.libpython.name == "libpython3.13.dylib" and interpreter.link_name == "python3.13"
    assert interpreter.elf_machine == "MACHO_ARM64"
    assert interpreter.prefix.as_posix().endswith(CPYTHON_313_ARM64.prefix)
    assert (interpreter.stdlib / "lib-dynload").is_dir() and (interpreter.include / "Python.h").is_file()
    # The jar's python3.13 cannot run here: a pyenv 3.13 compiles the bytecode.
    assert interpreter.compiler is not None and interpreter.compiler.name == "python3.13"
    assert interpreter.bytecode_python == interpreter.compiler
    # Unpacked once: a second read takes the same folder from the cache.
    assert home.interpreter(cpython_313_arm64_jar, where="python.home", cache_dir=tmp_path).prefix == interpreter.prefix
    assert len(list((tmp_path / "homes").iterdir())) == 1


def test_the_37_x86_64_jar_has_the_m_abi(cpython_37_x86_64_jar: Path, tmp_path: Path) -> None:
    require_pyenv("3.7")
    interpreter = home.interpreter(cpython_37_x86_64_jar, where="python.home", cache_dir=tmp_path)
    assert (interpreter.version, interpreter.abi, interpreter.link_name) == ("3.7.7", "cp37m", "python3.7m")
    assert interpreter.elf_machine == "MACHO_X86_64"


def test_a_folder_and_a_tar_of_the_same_tree_read_alike(tmp_path: Path) -> None:
    require_pyenv("3.7")
    prefix = unpack_jar(CPYTHON_37_X86_64, tmp_path / "unpacked")
    from_folder = home.interpreter(tmp_path / "unpacked", where="python.home", cache_dir=tmp_path / "cache")
    assert from_folder.prefix == prefix and from_folder.version == "3.7.7"
    archive = tmp_path / "cpython.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(prefix, arcname="python")
    from_tar = home.interpreter(archive, where="python.home", cache_dir=tmp_path / "cache")
    assert (from_tar.version, from_tar.abi, from_tar.libpython.name) == ("3.7.7", "cp37m", "libpython3.7m.dylib")


def test_a_tree_without_python_or_libpython_is_refused_by_name(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(RecipeError, match="holds no CPython install"):
        home.interpreter(tmp_path / "empty", where="recipe.yaml:7: python.home", cache_dir=tmp_path)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(RecipeError, match="not an archive gopack unpacks"):
        home.interpreter(tmp_path / "notes.txt", where="python.home", cache_dir=tmp_path)
    prefix = unpack_jar(CPYTHON_37_X86_64, tmp_path / "nolib")
    (prefix / "libpython3.7m.dylib").unlink()
    with pytest.raises(ToolchainError, match="has no shared libpython"):
        home.interpreter(prefix, where="python.home", cache_dir=tmp_path)


def _recipe(folder: Path, text: str) -> recipe.Recipe:
    shutil.copytree(EXAMPLES / "sklearn", folder, dirs_exist_ok=True)
    (folder / "recipe.yaml").write_text("go:\n  module: .\n" + textwrap.dedent(text))
    return recipe.load(folder / "recipe.yaml")


def test_an_arm64_program_with_an_x86_64_libpython_is_refused_in_the_plan(cpython_37_x86_64_jar: Path, tmp_path: Path) -> None:
    require_pyenv("3.7")
    the_recipe = recipe.load(EXAMPLES / "sklearn" / "recipe.yaml")
    options = plan.TargetOptions(system="macos", arch="arm64", python_home=cpython_37_x86_64_jar)
    with pytest.raises(ToolchainError) as caught:
        plan.make(the_recipe, cache_dir=tmp_path, options=options)
    text = f"{caught.value.message}\n{caught.value.hint}"
    assert "--target-arch" in text and f"libpython3.7m.dylib in {cpython_37_x86_64_jar} is built for x86_64 only" in text
    assert "an arm64 program cannot load an x86_64 libpython" in text
    for way_out in ("target.arch: x86_64", "Rosetta 2", "an interpreter built for arm64"):
        assert way_out in text


def test_a_macos_target_without_python_home_is_refused(tmp_path: Path) -> None:
    the_recipe = _recipe(tmp_path / "app", 'name: a\nversion: "1"\npython:\n  version: "3.7"\ntarget:\n  os: macos\n  arch: x86_64\n')
    with pytest.raises(RecipeError, match="python.home is not set"):
        plan.make(the_recipe, cache_dir=tmp_path)


def test_python_home_and_python_interpreter_are_one_too_many(tmp_path: Path) -> None:
    (tmp_path / "py").write_text("")
    with pytest.raises(RecipeError, match="python.home: cannot be combined with python.interpreter"):
        _recipe(tmp_path / "app", 'name: a\nversion: "1"\npython:\n  version: "3.7"\n  interpreter: ../py\n  home: ../py\n')


def test_the_recipe_reads_the_mac_keys(tmp_path: Path) -> None:
    (tmp_path / "tree").mkdir()
    the_recipe = _recipe(
        tmp_path / "app",
        'name: a\nversion: "1"\npython:\n  version: "3.13"\n  home: ../tree\ntarget:\n  os: macos\n  arch: arm64\n  macos: "14.0"\n',
    )
    assert (the_recipe.target.os, the_recipe.target.arch, the_recipe.target.macos) == ("macos", "arm64", "14.0")
    assert the_recipe.python.home == (tmp_path / "tree").resolve()
    with pytest.raises(RecipeError, match="target.macos"):
        _recipe(tmp_path / "bad", 'name: a\nversion: "1"\npython:\n  version: "3.13"\ntarget:\n  os: macos\n  macos: "14"\n')


def test_uv_installs_macos_wheels_and_refuses_an_sdist_by_name(cpython_313_arm64_jar: Path, tmp_path: Path) -> None:
    require_pyenv("3.13")
    interpreter = home.interpreter(cpython_313_arm64_jar, where="python.home", cache_dir=tmp_path / "cache")
    target = targets.make_macos("arm64", macos="14.0")
    good = _recipe(tmp_path / "good", 'name: a\nversion: "1"\npython:\n  version: "3.13"\n  requirements: ["numpy==2.3.1"]\n')
    assert env.install_requirements(good, interpreter, target, tmp_path / "site") == "uv"
    modules = list((tmp_path / "site" / "numpy" / "_core").glob("_multiarray_umath*.so"))
    assert [m.name for m in modules] == ["_multiarray_umath.cpython-313-darwin.so"]
    assert modules[0].read_bytes()[:4] == b"\xcf\xfa\xed\xfe"  # a 64-bit Mach-O, not an ELF file
    sdist = _recipe(tmp_path / "sdist", 'name: a\nversion: "1"\npython:\n  version: "3.13"\n  requirements: ["docopt==0.6.2"]\n')
    with pytest.raises(BuildError) as caught:
        env.install_requirements(sdist, interpreter, target, tmp_path / "site2")
    assert caught.value.message.startswith("docopt: no wheel for aarch64-apple-darwin (Python 3.13.5, macOS 14.0)")
    assert "built on a Mac" in caught.value.message and ".whl" in (caught.value.hint or "")


def test_target_macos_below_what_the_trees_libpython_needs_is_refused_before_any_work(cpython_313_arm64_jar: Path, tmp_path: Path) -> None:
    require_pyenv("3.13")
    the_recipe = recipe.load(DATA / "macos_sklearn" / "recipe.yaml")
    options = plan.TargetOptions(macos="14.0", python_home=cpython_313_arm64_jar)
    with pytest.raises(ToolchainError) as caught:
        plan.make(the_recipe, cache_dir=tmp_path, options=options)
    assert caught.value.message == (
        f"--target-macos: the bundle must start on macOS 14.0, but libpython3.13.dylib in {cpython_313_arm64_jar} needs macOS 14.7"
    )
    assert "raise target.macos to 14.7" in (caught.value.hint or "")


@pytest.mark.parametrize("fmt", ["exe", "oci"])
def test_the_linux_only_formats_are_refused_for_a_macos_bundle(fmt: str, cpython_313_arm64_jar: Path, tmp_path: Path) -> None:
    require_pyenv("3.13")
    options = plan.TargetOptions(python_home=cpython_313_arm64_jar)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("GOPACK_CACHE_DIR", str(tmp_path / "cache"))
        with pytest.raises(UsageError, match=f"output format {fmt}: .* Linux's, but the bundle is for darwin") as caught:
            pipeline.bundle(recipe.load(DATA / "macos_sklearn" / "recipe.yaml"), output_dir=tmp_path, target=options, fmt=fmt)
    assert "tar.gz" in (caught.value.hint or "")
    assert list(tmp_path.glob("*.tar.gz")) == [] and not (tmp_path / "cache" / "envs").exists()
