"""Ad-hoc signatures and load-command edits on real Mach-O files: zig's own output, JavaCPP's
jars, macOS wheels. Checked against what zig and LLVM's install_name_tool write."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from macos_fixtures import CPYTHON_37_X86_64, CPYTHON_313_ARM64

from gopack.platform.macos import edit, macho, signature
from gopack.platform.macos.edit import Edits
from gopack.platform.macos.macho import Malformed


def zig_link(tmp_path: Path, arch: str, *, shared: bool, headerpad: bool = False) -> Path:
    """A small program or dylib linked by zig for macOS ``arch`` (aarch64, x86_64); ``headerpad``:
    with room for load commands, as gopack links Go programs."""
    source = tmp_path / "f.c"
    source.write_text("int f(void) { return 3; }\nint main(void) { return f(); }\n")
    out = tmp_path / (f"libf-{arch}.dylib" if shared else f"prog-{arch}")
    cmd = [
        sys.executable,
        "-m",
        "ziglang",
        "cc",
        "-target",
        f"{arch}-macos.12.0",
        *(["-shared"] if shared else []),
        *(["-Wl,-headerpad_max_install_names"] if headerpad else []),
        "-o",
        str(out),
        str(source),
    ]
    subprocess.run(cmd, check=True, capture_output=True)
    return out


def problem(data: bytes) -> str | None:
    return signature.problem(lambda offset, size: data[offset : offset + size], macho.parse(data))


def jar_member(jar: Path, suffix: str) -> bytes:
    with zipfile.ZipFile(jar) as zf:
        (name,) = [n for n in zf.namelist() if n.endswith(suffix)]
        return zf.read(name)


@pytest.mark.parametrize("shared", [False, True], ids=["program", "dylib"])
def test_signing_zigs_arm64_output_again_gives_its_bytes(tmp_path: Path, shared: bool) -> None:
    linked = zig_link(tmp_path, "aarch64", shared=shared).read_bytes()
    assert problem(linked) is None
    assert signature.sign(linked, zig_link(tmp_path, "aarch64", shared=shared).name) == linked


def test_an_unsigned_x86_64_file_gets_a_signature_that_holds(tmp_path: Path) -> None:
    linked = zig_link(tmp_path, "x86_64", shared=False, headerpad=True).read_bytes()
    assert problem(linked) == "it is not signed (macOS on arm64 refuses to map it)"
    signed = signature.sign(linked, "prog")
    assert problem(signed) is None
    assert macho.parse(signed).signature is not None
    assert signature.sign(signed, "prog") == signed  # a second signing changes nothing


def test_the_checker_accepts_what_llvm_install_name_tool_signs(cpython_313_arm64_jar: Path, tmp_path: Path) -> None:
    tool = shutil.which("llvm-install-name-tool-14")
    if tool is None:
        pytest.fail("llvm-install-name-tool-14 is missing: `make setup` installs llvm-14")
    lib = tmp_path / "libpython3.13.dylib"
    lib.write_bytes(jar_member(cpython_313_arm64_jar, "/libpython3.13.dylib"))
    subprocess.run([tool, "-delete_rpath", "@loader_path/../", str(lib)], check=True)
    assert problem(lib.read_bytes()) is None  # LLVM's layout (4 KiB pages, padded blobs) checks too


def test_every_file_of_the_arm64_jar_and_a_wheel_is_signed_and_holds(cpython_313_arm64_jar: Path, macos_site_313_arm64: Path) -> None:
    with zipfile.ZipFile(cpython_313_arm64_jar) as zf:
        datas = {n: zf.read(n) for n in zf.namelist() if n.endswith((".so", ".dylib"))}
    datas |= {str(p): p.read_bytes() for p in sorted((macos_site_313_arm64 / "sklearn").rglob("*.so"))}
    assert len(datas) > 100
    assert {n: problem(d) for n, d in datas.items() if macho.kind_of(d[:8]) == "thin" and problem(d) is not None} == {}


def test_a_tampered_page_fails_naming_it(cpython_313_arm64_jar: Path) -> None:
    data = bytearray(jar_member(cpython_313_arm64_jar, "/libpython3.13.dylib"))
    data[81920 + 100] ^= 0xFF  # JavaCPP's files are signed by codesign, in 4 KiB pages
    assert problem(bytes(data)) == "page 20 (bytes 81920 to 86016) does not match its signature's hash"


def test_edits_keep_the_file_readable_by_llvm_and_signed(macos_site_313_arm64: Path, tmp_path: Path) -> None:
    (module,) = (macos_site_313_arm64 / "PIL").glob("_imaging.*.so")
    data = module.read_bytes()
    image = macho.parse(data)
    first = image.loads[0].path
    out = edit.edited(
        data,
        Edits(changes={first: "@loader_path/elsewhere/" + first.rsplit("/", 1)[1]}, add_rpaths=("@loader_path/../x",)),
        identifier=module.name,
    )
    assert problem(out) is None
    again = macho.parse(out)
    assert again.loads[0].path.startswith("@loader_path/elsewhere/")
    assert again.rpaths == ("@loader_path/../x",)
    written = tmp_path / module.name
    written.write_bytes(out)
    otool = shutil.which("llvm-otool-14")
    if otool is None:
        pytest.fail("llvm-otool-14 is missing: `make setup` installs llvm-14")
    listing = subprocess.run([otool, "-L", str(written)], capture_output=True, text=True, check=True).stdout
    assert "@loader_path/elsewhere/" in listing
    deleted = edit.edited(out, Edits(delete_rpaths=frozenset({"@loader_path/../x"})), identifier=module.name)
    assert macho.parse(deleted).rpaths == ()
    assert problem(deleted) is None


def test_an_edit_without_room_is_refused(tmp_path: Path) -> None:
    linked = zig_link(tmp_path, "aarch64", shared=True).read_bytes()  # zig leaves no header room without -headerpad
    with pytest.raises(Malformed, match="headerpad_max_install_names"):
        edit.rewrite(linked, Edits(add_rpaths=("@loader_path/a/rather/long/folder/name/that/does/not/fit",)))


def test_a_fat_file_is_thinned_to_the_asked_slice(cpython_37_x86_64_jar: Path, macos_site_37_x86_64: Path) -> None:
    fat = (macos_site_37_x86_64 / "sklearn" / ".dylibs" / "libomp.dylib").read_bytes()
    assert macho.machine_of(fat[:8]) == macho.FAT
    thin = edit.thin(fat, "MACHO_X86_64")
    assert macho.machine_of(thin[:8]) == "MACHO_X86_64"
    assert macho.parse(thin).id is not None
    with pytest.raises(Malformed, match="without arm64"):
        edit.thin(fat, "MACHO_ARM64")
    assert jar_member(cpython_37_x86_64_jar, "/libpython3.7m.dylib")[:4] == bytes.fromhex("cffaedfe")
    assert CPYTHON_37_X86_64.classifier == "macosx-x86_64" and CPYTHON_313_ARM64.classifier == "macosx-arm64"


def test_a_universal2_module_thins_to_either_architecture_with_its_signature_whole(macos_fat_site_313: Path) -> None:
    modules = sorted((macos_fat_site_313 / "charset_normalizer").glob("*.so"))
    assert modules
    for module in modules:
        fat = module.read_bytes()
        assert macho.machine_of(fat[:8]) == macho.FAT
        for machine in ("MACHO_ARM64", "MACHO_X86_64"):
            thin = edit.thin(fat, machine)
            assert macho.parse(thin).machine == machine
            assert problem(thin) is None  # each slice carries its own signature
