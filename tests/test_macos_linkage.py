"""verify's static dyld check on macOS bundles: what it proves, the problems it names, and
hostile or truncated Mach-O files giving problem lines, never a traceback."""

from __future__ import annotations

import os
import shutil
import struct
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gopack.archive import write as archive
from gopack.platform import platforms
from gopack.platform.linux.platform import LINUX
from gopack.platform.macos import edit, linkage, macho
from gopack.platform.macos.edit import Edits
from gopack.platform.macos.platform import MACOS
from gopack.verify import checks

DYNLOAD = "python/lib/python3.13/lib-dynload"


@pytest.fixture(scope="module")
def small_bundle(tmp_path_factory: pytest.TempPathFactory, cpython_313_arm64_jar: Path) -> Path:
    """libpython and four lib-dynload modules of the arm64 jar, as a bundle's python/ lays them out
    (nothing to relocate: JavaCPP's own rpaths and signatures)."""
    root = tmp_path_factory.mktemp("small") / "bundle"
    (root / DYNLOAD).mkdir(parents=True)
    with zipfile.ZipFile(cpython_313_arm64_jar) as zf:
        for name in zf.namelist():
            base = name.rsplit("/", 1)[-1]
            if base == "libpython3.13.dylib":
                (root / "python/lib" / base).write_bytes(zf.read(name))
            elif "/lib-dynload/" in name and base.split(".")[0] in ("_json", "_struct", "math", "_ctypes"):
                (root / DYNLOAD / base).write_bytes(zf.read(name))
    return root


def copy(bundle: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "bundle"
    shutil.copytree(bundle, dest)
    return dest


def check(root: Path) -> list[str]:
    return linkage.check(root, program=linkage.Program(path="bin/program", rpaths=("@executable_path/../python/lib",))).problems


def test_the_jars_own_files_pass(small_bundle: Path) -> None:
    found = linkage.check(small_bundle, program=linkage.Program(path="bin/program", rpaths=("@executable_path/../python/lib",)))
    assert found.problems == []
    assert found.images == 5
    assert found.minos["python/lib/libpython3.13.dylib"] == "14.7"
    assert "/usr/lib/libSystem.B.dylib" in found.system


def ctypes_loading(root: Path, library: str) -> Path:
    """The bundle's _ctypes module, edited (and signed again) to load ``library`` instead of its libffi."""
    (module,) = (root / DYNLOAD).glob("_ctypes.*.so")
    data = module.read_bytes()
    (ffi,) = [load.path for load in macho.parse(data).loads if "ffi" in load.path]
    module.write_bytes(edit.edited(data, Edits(changes={ffi: library}), identifier=module.name))
    return module


def test_a_dangling_rpath_reference_names_the_file_and_the_load_command(small_bundle: Path, tmp_path: Path) -> None:
    root = copy(small_bundle, tmp_path)
    module = ctypes_loading(root, "@rpath/libffi.8.dylib")
    assert check(root) == [
        (
            f"{DYNLOAD}/{module.name}: LC_LOAD_DYLIB @rpath/libffi.8.dylib (searched {DYNLOAD}/, python/lib/python3.13/, "
            "python/lib/python3.13/lib/, python/lib/, python/) resolves to nothing in the bundle"
        )
    ]


def test_a_symbol_the_bound_library_does_not_export_is_a_problem(
    small_bundle: Path, tmp_path: Path, cpython_313_arm64_jar: Path, macos_site_313_arm64: Path
) -> None:
    root = copy(small_bundle, tmp_path)
    for name in ("liblzma.5.dylib", "libXau.6.dylib"):
        shutil.copyfile(macos_site_313_arm64 / "PIL/.dylibs" / name, root / "python/lib" / name)
    with zipfile.ZipFile(cpython_313_arm64_jar) as zf:
        (name,) = [n for n in zf.namelist() if "/lib-dynload/_lzma." in n]
        data = zf.read(name)
    module = root / DYNLOAD / name.rsplit("/", 1)[1]
    homebrew = "/opt/homebrew/opt/xz/lib/liblzma.5.dylib"
    module.write_bytes(edit.edited(data, Edits(changes={homebrew: "@loader_path/../../liblzma.5.dylib"}), identifier=module.name))
    assert check(root) == []  # Pillow's liblzma exports every lzma_ symbol _lzma binds
    module.write_bytes(edit.edited(data, Edits(changes={homebrew: "@loader_path/../../libXau.6.dylib"}), identifier=module.name))
    (problem,) = check(root)
    assert problem.startswith(f"{DYNLOAD}/{module.name} binds _lzma_alone_decoder, ")
    assert problem.endswith(" more from python/lib/libXau.6.dylib, which does not export them")
    # libSystem's exports are zig's stub of it: liblzma's symbols are not among them.
    module.write_bytes(edit.edited(data, Edits(changes={homebrew: "/usr/lib/libSystem.B.dylib"}), identifier=module.name))
    twice, problem = check(root)
    assert twice.endswith("loads /usr/lib/libSystem.B.dylib twice (dyld refuses a duplicated library)")
    assert problem.startswith(f"{DYNLOAD}/{module.name} binds _lzma_alone_decoder, ")
    assert problem.endswith(" more from /usr/lib/libSystem.B.dylib, which does not export them")


def test_a_library_loaded_twice_is_a_problem(small_bundle: Path, tmp_path: Path) -> None:
    root = copy(small_bundle, tmp_path)
    module = ctypes_loading(root, "/usr/lib/libSystem.B.dylib")
    assert f"{DYNLOAD}/{module.name} loads /usr/lib/libSystem.B.dylib twice (dyld refuses a duplicated library)" in check(root)


def test_an_absolute_rpath_and_a_library_outside_are_problems(small_bundle: Path, tmp_path: Path) -> None:
    root = copy(small_bundle, tmp_path)
    (module,) = (root / DYNLOAD).glob("_json.*.so")
    data = module.read_bytes()
    module.write_bytes(edit.edited(data, Edits(add_rpaths=("/usr/local/lib",)), identifier=module.name))
    lib = root / "python/lib/libpython3.13.dylib"
    lib.write_bytes(
        edit.edited(
            lib.read_bytes(), Edits(changes={"/usr/lib/libSystem.B.dylib": "/opt/homebrew/lib/libSystem.dylib"}), identifier=lib.name
        )
    )
    problems = check(root)
    assert f"{DYNLOAD}/{module.name} has LC_RPATH /usr/local/lib, outside the bundle" in problems
    assert (
        "python/lib/libpython3.13.dylib: LC_LOAD_DYLIB /opt/homebrew/lib/libSystem.dylib (it names a place outside the bundle) "
        "resolves to nothing in the bundle"
    ) in problems


def test_thousands_of_rpaths_and_rpath_loads_are_checked_in_bounded_work(tmp_path: Path) -> None:
    commands = [struct.pack("<III", macho.LC_RPATH, 32, 12) + f"@loader_path/{i:04d}".encode().ljust(20, b"\0") for i in range(1500)]
    commands += [
        struct.pack("<6I", macho.LC_LOAD_DYLIB, 48, 24, 0, 0, 0) + f"@rpath/lib{i:04d}.dylib".encode().ljust(24, b"\0") for i in range(1500)
    ]
    body = b"".join(commands)
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "libmany.dylib").write_bytes(_header(len(commands), len(body)) + body)
    problems = linkage.check(tmp_path, signatures=False).problems
    assert "lib/libmany.dylib has 1500 LC_RPATHs, more than the 64 checked" in problems
    assert len(problems) == linkage.MAX_PROBLEMS + 1  # each unresolved load named, the rest counted


def test_past_the_names_cap_the_symbol_check_stops_and_says_so(small_bundle: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(linkage, "MAX_NAMES", 100)
    (problem,) = check(small_bundle)
    assert problem.startswith("the symbol tables pass 100 names at ")
    assert problem.endswith(": the rest are not checked")


def test_a_tampered_page_fails_the_signature_check(small_bundle: Path, tmp_path: Path) -> None:
    root = copy(small_bundle, tmp_path)
    lib = root / "python/lib/libpython3.13.dylib"
    data = bytearray(lib.read_bytes())
    data[4096 * 3 + 7] ^= 1
    lib.write_bytes(bytes(data))
    assert check(root) == [
        "python/lib/libpython3.13.dylib: the signature does not hold: page 3 (bytes 12288 to 16384) does not match its signature's hash"
    ]


def test_a_fat_file_and_a_mix_of_architectures_are_problems(small_bundle: Path, tmp_path: Path, macos_site_37_x86_64: Path) -> None:
    root = copy(small_bundle, tmp_path)
    shutil.copyfile(macos_site_37_x86_64 / "sklearn/.dylibs/libomp.dylib", root / "python/lib/libomp.dylib")
    problems = check(root)
    assert (
        "python/lib/libomp.dylib is not a Mach-O file dyld can read: it is a fat file (i386, x86_64); a bundle holds one architecture"
        in problems
    )
    thin = edit.thin((root / "python/lib/libomp.dylib").read_bytes(), "MACHO_X86_64")
    (root / "python/lib/libomp.dylib").write_bytes(thin)
    assert "it mixes architectures: MACHO_ARM64, MACHO_X86_64 (a bundle holds one)" in check(root)


def test_the_platform_summary_checks_the_tag(small_bundle: Path) -> None:
    good = MACOS.linkage(small_bundle, accepted=frozenset(), tag="macosx_14_0_arm64")
    assert good.problems == ()
    assert good.summary.startswith("5 Mach-O images, all arm64, signed (every page hash matches), oldest macOS 14.7; ")
    low = MACOS.linkage(small_bundle, accepted=frozenset(), tag="macosx_13_0_arm64")
    assert "python/lib/libpython3.13.dylib needs macOS 14.7, above the archive's tag macosx_13_0_arm64" in low.problems
    assert (
        "its images are MACHO_ARM64, its tag says macosx_14_0_x86_64"
        in MACOS.linkage(small_bundle, accepted=frozenset(), tag="macosx_14_0_x86_64").problems
    )


def test_verify_reports_the_smoke_test_as_needing_a_mac_from_the_platform(small_bundle: Path) -> None:
    assert platforms.of_tag("macosx_14_0_arm64") is MACOS
    assert MACOS.smoke_elsewhere() == "not run: a macOS bundle's smoke test needs a Mac (the static checks above are what Linux can prove)"
    assert LINUX.smoke_elsewhere() is None
    assert checks.check_linkage(small_bundle, MACOS, tag="macosx_14_0_arm64").ok
    # verify's checks after extraction, for a macOS manifest: the static ones, then the one line.
    manifest = {
        "files": archive.manifest_files(small_bundle),
        "platform": "macosx_14_0_arm64",
        "smoke": {"command": ["bin/program"], "expect": ["ok"], "timeout": 60},
        "vendored": [],
        "go": {"binary": "bin/program"},
    }
    done = checks._check(small_bundle, manifest, small_bundle, None, None, MACOS, 60.0, MACOS.smoke_elsewhere())
    assert [(c.name, c.ok) for c in done] == [("files", True), ("sbom", True), ("linkage", True), ("smoke", True)]
    assert done[-1].detail.startswith("not run: a macOS bundle's smoke test needs a Mac")


# Hostile and broken files: each gives a problem line naming it.


def _header(ncmds: int, sizeofcmds: int) -> bytes:
    return struct.pack("<7II", macho.MH_MAGIC_64, 0x0100000C, 0, macho.MH_DYLIB, ncmds, sizeofcmds, 0, 0)


HOSTILE = {
    "short": b"\xcf\xfa\xed\xfe" + b"\0" * 12,
    "huge-commands": _header(1, 1 << 30) + b"\0" * 64,
    "many-commands": _header(1 << 20, 64) + b"\0" * 64,
    "zero-cmdsize": _header(1, 16) + struct.pack("<II", macho.LC_RPATH, 0) + b"\0" * 8,
    "name-outside": _header(1, 24) + struct.pack("<IIIIII", macho.LC_LOAD_DYLIB, 24, 4000, 0, 0, 0),
    "unended-name": _header(1, 32) + struct.pack("<III", macho.LC_RPATH, 32, 12) + b"A" * 20,
    "segment-past-end": _header(1, 72)
    + struct.pack("<II16sQQQQIIII", macho.LC_SEGMENT_64, 72, b"__TEXT", 0, 1 << 40, 0, 1 << 40, 5, 5, 0, 0),
    "signature-past-end": _header(1, 16) + struct.pack("<IIII", macho.LC_CODE_SIGNATURE, 16, 1 << 31, 1 << 20),
    "fat-many": struct.pack(">II", macho.FAT_MAGIC, 15) + b"\0" * 40,
    "fat-outside": struct.pack(">IIIIIII", macho.FAT_MAGIC, 1, 0x0100000C, 0, 1 << 30, 1 << 20, 14),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_file_is_a_problem_line(tmp_path: Path, name: str) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "libevil.dylib").write_bytes(HOSTILE[name])
    problems = linkage.check(tmp_path).problems
    assert len(problems) == 1
    assert problems[0].startswith("lib/libevil.dylib is not a Mach-O file dyld can read: ")


def test_a_truncated_library_is_a_problem_line_at_every_length(small_bundle: Path, tmp_path: Path) -> None:
    (module,) = (small_bundle / DYNLOAD).glob("_struct.*.so")
    data = module.read_bytes()
    (tmp_path / "lib").mkdir()
    victim = tmp_path / "lib" / "libcut.dylib"
    for length in (*range(8, 256, 24), *range(256, 4096, 300), len(data) // 2, len(data) - 1):
        victim.write_bytes(data[:length])
        problems = linkage.check(tmp_path).problems
        assert len(problems) == 1 and problems[0].startswith("lib/libcut.dylib"), (length, problems)


def test_a_link_out_of_the_bundle_and_a_fifo_are_not_followed(small_bundle: Path, tmp_path: Path) -> None:
    root = copy(small_bundle, tmp_path)
    (root / "python/lib/libout.dylib").symlink_to(small_bundle / "python/lib/libpython3.13.dylib")
    os.mkfifo(root / "python/lib/libfifo.dylib")
    assert linkage.check(root, program=linkage.Program(path="bin/p", rpaths=("@executable_path/../python/lib",))).images == 5


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flips=st.lists(st.tuples(st.integers(0, 4095), st.integers(1, 255)), min_size=1, max_size=8))
def test_random_damage_to_the_headers_never_raises(small_bundle: Path, tmp_path: Path, flips: list[tuple[int, int]]) -> None:
    (module,) = (small_bundle / DYNLOAD).glob("_json.*.so")
    data = bytearray(module.read_bytes())
    for at, mask in flips:
        data[at] ^= mask
    (tmp_path / "lib").mkdir(exist_ok=True)
    (tmp_path / "lib" / "libdamaged.dylib").write_bytes(bytes(data))
    found = linkage.check(tmp_path)
    assert all(isinstance(p, str) for p in found.problems)
    if bytes(data) != module.read_bytes():  # every byte of the first page is signed: a change is a problem
        assert found.problems or found.images == 0  # (or the file is no Mach-O image any more: data, not loaded)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_damage_to_the_symbol_tables_never_raises(small_bundle: Path, tmp_path: Path, data: st.DataObject) -> None:
    (module,) = (small_bundle / DYNLOAD).glob("_ctypes.*.so")
    raw = bytearray(module.read_bytes())
    linkedit = macho.parse(bytes(raw)).segment("__LINKEDIT")
    assert linkedit is not None
    for _ in range(data.draw(st.integers(1, 16))):
        raw[data.draw(st.integers(linkedit.fileoff, len(raw) - 1))] ^= data.draw(st.integers(1, 255))
    (tmp_path / "lib").mkdir(exist_ok=True)
    (tmp_path / "lib" / "libdamaged.dylib").write_bytes(bytes(raw))
    found = linkage.check(tmp_path)
    assert all(isinstance(p, str) for p in found.problems)
    signed_up_to = macho.parse(module.read_bytes()).signature
    assert signed_up_to is not None
    if raw[: signed_up_to[0]] != module.read_bytes()[: signed_up_to[0]]:  # a signed byte changed
        assert found.problems and found.images == 1
