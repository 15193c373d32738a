"""delocate's job from Linux on real material: JavaCPP's CPython trees with macOS wheels from
PyPI, laid out as a bundle's python/ folder, relocated by the macOS platform and proven by the
same static dyld check verify runs."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from macos_fixtures import CPYTHON_37_X86_64, CPYTHON_313_ARM64, Jar, macos_wheels, unpack_jar, zig_program

from gopack.errors import BuildError
from gopack.platform import platforms
from gopack.platform.macos import edit, linkage, macho
from gopack.platform.macos.edit import Edits
from gopack.platform.macos.platform import MACOS
from gopack.platform.macos.relocate import PROGRAM, Relocated
from gopack.platform.target import Target


def bundle_tree(tmp: Path, jar: Jar, version: str, site: Path | None) -> Path:
    """``tmp/bundle``: the jar's libpython in python/lib, its stdlib and lib-dynload beside it,
    ``site`` as site-packages (copied: uv hard-links its cache)."""
    unpacked = unpack_jar(jar, tmp / "jar")
    root = tmp / "bundle"
    lib = root / "python" / "lib"
    lib.mkdir(parents=True)
    (libpython,) = unpacked.glob("libpython*.dylib")
    shutil.copyfile(libpython, lib / libpython.name)
    shutil.copytree(unpacked / "lib" / f"python{version}", lib / f"python{version}", ignore=shutil.ignore_patterns("config-*", "test"))
    shutil.rmtree(lib / f"python{version}" / "site-packages", ignore_errors=True)
    if site is not None:
        shutil.copytree(site, lib / f"python{version}" / "site-packages")
    else:
        (lib / f"python{version}" / "site-packages").mkdir()
    return root


def relocate(root: Path, version: str, goarch: str, libraries: tuple[Path, ...] = ()) -> Relocated:
    target = Target(goarch=goarch, system="macos", libc="", ld_paths=())
    site = root / "python" / "lib" / f"python{version}" / "site-packages"
    binaries = platforms.PLATFORMS["macos"].tree_binaries(root, root, backup=root, strip=True, target=target, libraries=libraries)
    binaries.add(skip=site)
    binaries.add(under=site)
    binaries.relocate()
    relocated = binaries.check()
    assert isinstance(relocated, Relocated)
    return relocated


def digests(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def arm64(tmp_path_factory: pytest.TempPathFactory, macos_site_313_arm64: Path, cpython_313_arm64_jar: Path) -> tuple[Path, Relocated]:
    root = bundle_tree(tmp_path_factory.mktemp("arm64"), CPYTHON_313_ARM64, "3.13", macos_site_313_arm64)
    return root, relocate(root, "3.13", "arm64")


def test_arm64_tree_loads_as_dyld_would_and_every_file_is_signed(arm64: tuple[Path, Relocated]) -> None:
    root, _ = arm64
    found = linkage.check(root, program=PROGRAM, signatures=True)
    assert found.problems == []
    assert found.machines == {"MACHO_ARM64"}
    assert found.images > 250
    assert all(p.startswith(linkage.SYSTEM_PREFIXES) for p in found.system)


def test_homebrew_liblzma_is_taken_from_pillow_and_libmpdec_drops_decimal(arm64: tuple[Path, Relocated]) -> None:
    root, relocated = arm64
    dynload = root / "python/lib/python3.13/lib-dynload"
    (lzma,) = dynload.glob("_lzma.*.so")
    loads = [load.path for load in macho.parse(lzma.read_bytes()).loads]
    assert loads[0] == "@loader_path/../site-packages/PIL/.dylibs/liblzma.5.dylib"
    assert not list(dynload.glob("_decimal.*.so"))
    assert relocated.unresolved == (
        ("python/lib/python3.13/lib-dynload/_decimal.cpython-313-darwin.so", "/opt/homebrew/opt/mpdecimal/lib/libmpdec.4.dylib"),
    )


def test_no_absolute_rpath_or_install_name_is_left(arm64: tuple[Path, Relocated]) -> None:
    root, _ = arm64
    left = []
    for rel in linkage.macho_files(root):
        image = macho.parse((root / rel).read_bytes())
        left += [(rel, r) for r in image.rpaths if not r.startswith("@")]
        if image.id is not None and not image.id.startswith("@rpath/"):
            left.append((rel, image.id))
    assert left == []


def test_floor_and_tag_come_from_the_newest_file(arm64: tuple[Path, Relocated]) -> None:
    _, relocated = arm64
    target = Target(goarch="arm64", system="macos", libc="", ld_paths=())
    floor = MACOS.floor(relocated.requirements, machine="MACHO_ARM64", target=target)
    assert (floor.tag, dict(floor.highest)) == ("macosx_14_0_arm64", {"macOS": "14.7"})
    assert relocated.requirements["python/lib/libpython3.13.dylib"] == {"macOS": frozenset({"14.7"})}


def test_with_a_program_the_bundle_passes_verifys_static_check(arm64: tuple[Path, Relocated]) -> None:
    root, relocated = arm64
    target = Target(goarch="arm64", system="macos", libc="", ld_paths=())
    (root / "bin").mkdir()
    try:
        zig_program(root / "bin" / "prog", libpython=root / "python/lib/libpython3.13.dylib", arch="aarch64", macos="14.0")
        signed = (root / "bin/prog").read_bytes()
        linked = MACOS.relocate_program(root, "bin/prog", target=target)
        assert (root / "bin/prog").read_bytes() == signed  # zig signed it already: left as it is
        floor = MACOS.floor({**relocated.requirements, **linked.requirements}, machine="MACHO_ARM64", target=target)
        checked = MACOS.linkage(root, accepted=frozenset(), tag=floor.tag)
        assert checked.problems == ()
        assert "all arm64, signed (every page hash matches), oldest macOS 14.7" in checked.summary
    finally:
        shutil.rmtree(root / "bin")


def test_a_floor_above_target_macos_names_the_files(arm64: tuple[Path, Relocated]) -> None:
    _, relocated = arm64
    # Target.macos is the recipe's target.macos (the plan's part): a stand-in with the two fields the floor reads.
    target = SimpleNamespace(goarch="arm64", macos="14.0", where_macos="recipe.yaml:4: target.macos")
    with pytest.raises(BuildError, match=r"recipe.yaml:4: target.macos: the bundle needs macOS 14.7, newer than 14.0") as caught:
        MACOS.floor(relocated.requirements, machine="MACHO_ARM64", target=target)  # type: ignore[arg-type]
    assert "python/lib/libpython3.13.dylib: macOS 14.7" in str(caught.value)


def test_two_runs_give_identical_bytes(tmp_path: Path, arm64: tuple[Path, Relocated], macos_site_313_arm64: Path) -> None:
    first, _ = arm64
    again = bundle_tree(tmp_path, CPYTHON_313_ARM64, "3.13", macos_site_313_arm64)
    relocate(again, "3.13", "arm64")
    assert digests(again) == digests(first)


def test_x86_64_tree_thins_fat_libraries_signs_every_file_and_vendors_from_a_named_folder(
    tmp_path: Path, macos_site_37_x86_64: Path, cpython_37_x86_64_jar: Path
) -> None:
    pillow = macos_wheels(tmp_path / "pillow", ["pillow==9.5.0"], python_platform="x86_64-apple-darwin", python_version="3.7")
    root = bundle_tree(tmp_path, CPYTHON_37_X86_64, "3.7", macos_site_37_x86_64)
    assert macho.machine_of((root / "python/lib/python3.7/site-packages/sklearn/.dylibs/libomp.dylib").read_bytes()[:8]) == macho.FAT
    relocated = relocate(root, "3.7", "amd64", libraries=(pillow / "PIL" / ".dylibs",))
    assert macho.machine_of((root / "python/lib/python3.7/site-packages/sklearn/.dylibs/libomp.dylib").read_bytes()[:8]) == "MACHO_X86_64"
    found = linkage.check(root, program=PROGRAM, signatures=True)
    assert found.problems == []
    assert [(v.name, v.soname) for v in relocated.vendored] == [("liblzma.5.dylib", "/usr/local/opt/xz/lib/liblzma.5.dylib")]
    (lzma,) = (root / "python/lib/python3.7/lib-dynload").glob("_lzma.*.so")
    assert macho.parse(lzma.read_bytes()).loads[0].path == "@loader_path/../../liblzma.5.dylib"
    assert relocated.unresolved == (
        ("python/lib/python3.7/lib-dynload/_gdbm.cpython-37m-darwin.so", "/usr/local/opt/gdbm/lib/libgdbm.5.dylib"),
    )
    target = Target(goarch="amd64", system="macos", libc="", ld_paths=())
    assert MACOS.floor(relocated.requirements, machine="MACHO_X86_64", target=target).tag == "macosx_10_13_x86_64"
    # The program: unsigned as zig leaves x86_64 output, signed by relocate_program; Go's own 12.0 sets the floor.
    (root / "bin").mkdir()
    program = zig_program(root / "bin" / "prog", libpython=root / "python/lib/libpython3.7m.dylib", arch="x86_64", macos="10.13")
    assert macho.parse(program.read_bytes()).signature is None
    linked = MACOS.relocate_program(root, "bin/prog", target=target)
    assert linked.requirements == {"bin/prog": {"macOS": frozenset({"12.0"})}}
    floor = MACOS.floor({**relocated.requirements, **linked.requirements}, machine="MACHO_X86_64", target=target)
    assert floor.tag == "macosx_12_0_x86_64"
    checked = MACOS.linkage(root, accepted=frozenset(), tag=floor.tag)
    assert checked.problems == ()
    assert checked.summary.startswith(f"{found.images + 1} Mach-O images, all x86_64, signed (every page hash matches), oldest macOS 10.13")


def test_a_library_that_is_nowhere_fails_the_build_naming_it(tmp_path: Path, macos_site_313_arm64: Path) -> None:
    root = tmp_path / "bundle"
    dylibs = root / "python/lib/python3.13/site-packages/PIL/.dylibs"
    dylibs.mkdir(parents=True)
    # Pillow's libtiff alone, pointed at Homebrew's liblzma: a library (not a module) needing what nothing provides.
    tiff = (macos_site_313_arm64 / "PIL/.dylibs/libtiff.6.dylib").read_bytes()
    moved = edit.rewrite(tiff, Edits(changes={"@loader_path/liblzma.5.dylib": "/opt/homebrew/lib/liblzma.5.dylib"}))
    (dylibs / "libtiff.6.dylib").write_bytes(moved)
    with pytest.raises(BuildError, match=r"PIL/.dylibs/libtiff.6.dylib needs /opt/homebrew/lib/liblzma.5.dylib"):
        relocate(root, "3.13", "arm64")
