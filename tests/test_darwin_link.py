"""Go programs linked for macOS on Linux (issue 22): the real Go toolchain, zig cc and JavaCPP's
macOS CPython jars, through gopack.go.build.

- examples/sklearn (DataDog/go-python3) links for darwin/amd64 against the 3.7.7 jar's libpython;
- a raw-cgo 3.13 program (tests/data/macos_sklearn: the named bindings stop at 3.12) links for
  darwin/arm64 against the 3.13.5 jar, and one using crypto/x509, net's C resolver and a
  CoreFoundation function of its own C code gets every SDK stub it needs;
- each result loads libpython exactly once (two packages ask pkg-config for it, Go repeats
  CGO_LDFLAGS: zig alone writes one LC_LOAD_DYLIB per -l), has the rpath, the asked minos,
  its frameworks at /System/Library/Frameworks and, on arm64, zig's signature; a second
  link gives the same bytes;
- an arm64 program against the x86_64-only 3.7 libpython fails with both machines named.

The plan is made here from the same real parts (go list, the binding, the jar's tree): these
tests are about the link; the plan's own checks are tests/test_plan_checks.py's.
"""

from __future__ import annotations

import dataclasses
import os
import struct
import subprocess
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import EXAMPLES
from macholib import mach_o  # type: ignore[import-untyped]
from macholib.MachO import MachO  # type: ignore[import-untyped]
from macos_fixtures import CPYTHON_37_X86_64, CPYTHON_313_ARM64, Jar, unpack_jar

from gopack import cache
from gopack.errors import BuildError
from gopack.go import bindings, build, cgoflags, darwin, includes
from gopack.go import toolchain as go_toolchain
from gopack.plan import Plan
from gopack.platform import target as targets
from gopack.python.interpreters import Interpreter
from gopack.recipe import model

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parent / "data"
RPATH = "@executable_path/../python/lib"
#: Mach-O cputype names (macholib's) by GOARCH.
CPU = {"amd64": "x86_64", "arm64": "ARM64"}


@pytest.fixture(autouse=True)
def _cache(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The session's gopack cache (the stubs, the wrapper, zig's cache), not the user's."""
    monkeypatch.setenv("GOPACK_CACHE_DIR", str(cache_dir))


def jar_interpreter(jar: Jar, version: str, abiflags: str, machine: str, where: Path) -> Interpreter:
    prefix = unpack_jar(jar, where)
    short = ".".join(version.split(".")[:2])
    return Interpreter(
        executable=prefix / "bin" / f"python{short}",
        version=version,
        abiflags=abiflags,
        prefix=prefix,
        stdlib=prefix / "lib" / f"python{short}",
        include=prefix / "include" / f"python{short}{abiflags}",
        libpython=prefix / f"libpython{short}{abiflags}.dylib",
        elf_machine=machine,
    )


def darwin_plan(recipe_path: Path, interpreter: Interpreter, *, goarch: str, macos: str | None) -> Plan:
    recipe = model.load(recipe_path)
    target = targets.make_macos(goarch, macos=macos)
    toolchain = dataclasses.replace(go_toolchain.find_go(recipe), goarch=goarch)
    go_env = (("CGO_ENABLED", "1"), ("GOARCH", goarch), ("GOOS", "darwin"))
    packages = go_toolchain.list_packages(recipe, toolchain, dict(go_env))
    binding = bindings.detect(packages)
    assert binding is not None
    return Plan(
        recipe=recipe,
        toolchain=toolchain,
        interpreter=interpreter,
        binding=binding,
        main_package=packages[-1],
        go_env=go_env,
        target=target,
        cgo=includes.CgoScan(libpython=tuple(includes.libpython_flags(packages))),
    )


def link(plan: Plan, where: Path) -> build.GoBinary:
    inputs = cgoflags.prepare(plan, None, cache_dir=cache.directory())
    return build.build(plan, where / "root", where / "work", inputs)


@dataclass(frozen=True, kw_only=True)
class Loaded:
    cputype: str
    dylibs: list[str]
    rpaths: list[str]
    minos: str
    signature: bytes | None


def read_macho(path: Path) -> Loaded:
    """The program's machine, LC_LOAD_DYLIBs, LC_RPATHs, LC_BUILD_VERSION minos and signature magic."""
    macho = MachO(os.fspath(path))
    assert len(macho.headers) == 1
    header = macho.headers[0]
    dylibs, rpaths, minos, signature = [], [], "", None
    for load, command, data in header.commands:
        if load.cmd in (mach_o.LC_LOAD_DYLIB, mach_o.LC_LOAD_WEAK_DYLIB):
            dylibs.append(data.split(b"\0")[0].decode())
        elif load.cmd == mach_o.LC_RPATH:
            rpaths.append(data.split(b"\0")[0].decode())
        elif load.cmd == mach_o.LC_BUILD_VERSION:
            minos = f"{command.minos >> 16}.{(command.minos >> 8) & 0xFF}"
        elif load.cmd == mach_o.LC_CODE_SIGNATURE:
            with path.open("rb") as f:
                f.seek(command.dataoff)
                signature = f.read(4)
    return Loaded(
        cputype=mach_o.CPU_TYPE_NAMES.get(header.header.cputype, "?"), dylibs=dylibs, rpaths=rpaths, minos=minos, signature=signature
    )


def check_program(loaded: Loaded, *, goarch: str, libpython: str, minos: str) -> None:
    assert loaded.cputype == CPU[goarch]
    assert loaded.dylibs.count(f"@rpath/{libpython}") == 1, loaded.dylibs
    assert len(set(loaded.dylibs)) == len(loaded.dylibs), loaded.dylibs
    assert loaded.rpaths == [RPATH]
    assert loaded.minos == minos
    others = [d for d in loaded.dylibs if not d.startswith("@rpath/")]
    assert all(d.startswith(("/usr/lib/", "/System/Library/Frameworks/")) for d in others), others
    assert "/usr/lib/libSystem.B.dylib" in others


def test_sklearn_example_links_for_macos_x86_64(tmp_path: Path) -> None:
    interpreter = jar_interpreter(CPYTHON_37_X86_64, "3.7.7", "m", "MACHO_X86_64", tmp_path / "jar")
    plan = darwin_plan(EXAMPLES / "sklearn" / "recipe.yaml", interpreter, goarch="amd64", macos=None)
    assert plan.binding.name == "DataDog/go-python3"
    binary = link(plan, tmp_path)
    loaded = read_macho(binary.path)
    check_program(loaded, goarch="amd64", libpython="libpython3.7m.dylib", minos="12.0")
    assert binary.rpath == RPATH
    # zig signs arm64 output only: the x86_64 program is unsigned until the platform signs it.
    assert loaded.signature is None


def test_313_program_links_for_macos_arm64(tmp_path: Path) -> None:
    interpreter = jar_interpreter(CPYTHON_313_ARM64, "3.13.5", "", "MACHO_ARM64", tmp_path / "jar")
    plan = darwin_plan(DATA / "macos_sklearn" / "recipe.yaml", interpreter, goarch="arm64", macos="14.7")
    binary = link(plan, tmp_path)
    loaded = read_macho(binary.path)
    check_program(loaded, goarch="arm64", libpython="libpython3.13.dylib", minos="14.7")
    # runtime/cgo links CoreFoundation on arm64: from gopack's stub, at the framework's real path.
    assert "/System/Library/Frameworks/CoreFoundation.framework/Versions/A/CoreFoundation" in loaded.dylibs
    assert loaded.signature == struct.pack(">I", 0xFADE0CC0)  # zig's ad-hoc signature's SuperBlob
    # Linked again elsewhere (another work folder, the stubs and the compiler's wrapper reused): the same bytes.
    again = link(plan, tmp_path / "again")
    assert again.path.read_bytes() == binary.path.read_bytes()


NET_AND_X509 = """\
package main

/*
#cgo pkg-config: python3-embed
#cgo LDFLAGS: -framework CoreFoundation
#include <Python.h>
extern double CFAbsoluteTimeGetCurrent(void);
static double now(void) { return CFAbsoluteTimeGetCurrent(); }
*/
import "C"

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
)

func main() {
	C.Py_Initialize()
	fmt.Println(C.GoString(C.Py_GetVersion()), float64(C.now()) > 0)
	r := &net.Resolver{PreferGo: false}
	_, _ = r.LookupHost(context.Background(), "localhost")
	_, err := (&x509.Certificate{}).Verify(x509.VerifyOptions{})
	fmt.Println(err != nil)
}
"""


def test_sdk_stubs_follow_what_is_linked(tmp_path: Path) -> None:
    """crypto/x509 binds CoreFoundation and Security symbols (named by the standard library's
    cgo_import_dynamic directives), the program's own C code CFAbsoluteTimeGetCurrent, which no
    directive names (zig reports it, the stub of the one framework the program's package links
    gets it), and Go links libresolv: each stub exports what the link needs, and the program
    loads each library once, at its macOS path."""
    program = tmp_path / "program"
    program.mkdir()
    (program / "main.go").write_text(NET_AND_X509)
    (program / "go.mod").write_text("module example.com/sdk\n\ngo 1.21\n")
    (program / "recipe.yaml").write_text(
        textwrap.dedent("""\
            name: sdk
            version: "0.1.0"
            go:
              binary: sdk
            python:
              version: "3.13"
            """)
    )
    interpreter = jar_interpreter(CPYTHON_313_ARM64, "3.13.5", "", "MACHO_ARM64", tmp_path / "jar")
    plan = darwin_plan(program / "recipe.yaml", interpreter, goarch="arm64", macos=None)
    binary = link(plan, tmp_path)
    # The program's folder is read, never written (zig would leave -.o there from Go's compiler probe).
    assert sorted(p.name for p in program.iterdir()) == ["go.mod", "main.go", "recipe.yaml"]
    loaded = read_macho(binary.path)
    check_program(loaded, goarch="arm64", libpython="libpython3.13.dylib", minos="12.0")
    frameworks = "/System/Library/Frameworks"
    for dylib in (
        f"{frameworks}/CoreFoundation.framework/Versions/A/CoreFoundation",
        f"{frameworks}/Security.framework/Versions/A/Security",
        "/usr/lib/libresolv.9.dylib",
    ):
        assert dylib in loaded.dylibs
    symbols = subprocess.run(["llvm-nm-14", "-m", binary.path], capture_output=True, text=True, check=True).stdout
    assert "_CFAbsoluteTimeGetCurrent (from CoreFoundation)" in symbols
    assert "_SecTrustEvaluateWithError (from Security)" in symbols


def test_arm64_program_against_x86_64_libpython_names_both(tmp_path: Path) -> None:
    """The plan refuses this pairing first; built anyway, zig's link error is made plain."""
    interpreter = jar_interpreter(CPYTHON_37_X86_64, "3.7.7", "m", "MACHO_X86_64", tmp_path / "jar")
    plan = darwin_plan(EXAMPLES / "sklearn" / "recipe.yaml", interpreter, goarch="arm64", macos=None)
    with pytest.raises(BuildError) as caught:
        link(plan, tmp_path)
    error = caught.value
    assert "built for arm64 (GOARCH=arm64)" in error.message
    assert "libpython3.7m.dylib is for x86_64 only" in error.message
    assert error.hint is not None
    for way_out in ("target.arch: x86_64", "Rosetta 2", "an arm64 build of the interpreter"):
        assert way_out in error.hint


def test_wrapper_passes_each_library_once(tmp_path: Path) -> None:
    """zig cc's wrapper keeps the first of each repeated -lNAME and every other argument as it is,
    and answers Go's -### probe itself (for a macOS target zig leaves an empty -.o in the package's folder)."""
    echo = tmp_path / "zig"
    echo.write_text('#!/bin/sh\n[ "$1" = version ] && echo 0.15.2 && exit\nfor a do printf "%s\\n" "$a"; done\n')
    echo.chmod(0o755)
    target = dataclasses.replace(targets.make_macos("arm64", macos=None), zig=echo)
    cc = darwin.compiler(target, tmp_path / "cc")["CC"]
    args = ["-L/a b", "-lpython3.13", "-o", "out put", "-lresolv", "-lpython3.13", "-framework", "CoreFoundation", "-lresolv"]
    done = subprocess.run([cc, *args], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines() == [
        "cc",
        "-target",
        "aarch64-macos.12.0",
        "-L/a b",
        "-lpython3.13",
        "-o",
        "out put",
        "-lresolv",
        "-framework",
        "CoreFoundation",
    ]
    # Go's compiler probe, run in the package's folder: answered, nothing compiled there.
    probe = subprocess.run([cc, "-###", "-x", "c", "-c", "-"], capture_output=True, text=True, check=True, cwd=tmp_path, input="")
    assert probe.stdout == "zig cc version 0.15.2 (for aarch64-macos.12.0, through gopack)\n"
    assert not (tmp_path / "-.o").exists()


def test_gopack_home_compiles_for_macos(tmp_path: Path) -> None:
    """gopack_home.h (no sys/auxv.h on a Mac) compiles with zig for both Macs, warnings as errors,
    after the Mac's Python.h."""
    header = (Path(build.__file__).parent.parent / "cgo" / "gopack_home.h").read_text()
    for jar, version, abiflags, machine, goarch in (
        (CPYTHON_313_ARM64, "3.13.5", "", "MACHO_ARM64", "arm64"),
        (CPYTHON_37_X86_64, "3.7.7", "m", "MACHO_X86_64", "amd64"),
    ):
        interpreter = jar_interpreter(jar, version, abiflags, machine, tmp_path / goarch)
        source = tmp_path / f"home-{goarch}.c"
        # After Python.h too: its declarations and the header's must agree (tests/test_home_header.py on Linux).
        source.write_text(f"#include <Python.h>\n{build.home_defines(interpreter)}{header}")
        target = targets.make_macos(goarch, macos=None)
        env = {**os.environ, "ZIG_GLOBAL_CACHE_DIR": str(cache.directory() / "zig"), "ZIG_LOCAL_CACHE_DIR": str(cache.directory() / "zig")}
        argv = [str(target.zig), "cc", "-target", str(target.zig_triple), "-Wall", "-Werror", "-Wno-deprecated-declarations"]
        argv += [f"-I{interpreter.include}", "-c", str(source), "-o", str(tmp_path / f"home-{goarch}.o")]
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr


def test_stubs_are_made_for_what_is_linked_only(tmp_path: Path) -> None:
    """go list -deps for darwin: the program's -framework and -l flags and the standard library's
    directives give the stubs; zig's own libraries, libpython and a -l found in a -L folder do not."""
    program = tmp_path / "program"
    own = tmp_path / "own libs"
    own.mkdir(parents=True)
    (own / "libmine.dylib").write_bytes(b"")
    program.mkdir()
    (program / "go.mod").write_text("module example.com/flags\n\ngo 1.21\n")
    (program / "main.go").write_text(
        'package main\n\n// #cgo LDFLAGS: -framework IOKit -lz -lc++ -lpthread -lmine -lpython3.13\nimport "C"\n\n'
        'import "crypto/x509"\n\nfunc main() { _, _ = x509.SystemCertPool() }\n'
    )
    (program / "recipe.yaml").write_text('name: flags\nversion: "1"\ngo:\n  binary: flags\npython:\n  version: "3.13"\n')
    recipe = model.load(program / "recipe.yaml")
    toolchain = dataclasses.replace(go_toolchain.find_go(recipe), goarch="arm64")
    packages = go_toolchain.list_packages(recipe, toolchain, {"CGO_ENABLED": "1", "GOARCH": "arm64", "GOOS": "darwin"})
    libpython = tmp_path / "python"
    libpython.mkdir()
    (libpython / "libpython3.13.dylib").write_bytes(b"")
    found = {lib.stub: lib for lib in darwin.linked(packages, extra_flags=[f"-L{own}"], search=[libpython])}
    assert sorted(found) == [
        "CoreFoundation.framework/CoreFoundation.tbd",
        "IOKit.framework/IOKit.tbd",
        "Security.framework/Security.tbd",
        "libresolv.tbd",
        "libz.tbd",
    ]
    assert found["libresolv.tbd"].install_name == "/usr/lib/libresolv.9.dylib"
    assert found["libz.tbd"].install_name == "/usr/lib/libz.dylib"
    assert found["IOKit.framework/IOKit.tbd"].install_name == "/System/Library/Frameworks/IOKit.framework/Versions/A/IOKit"
    assert found["IOKit.framework/IOKit.tbd"].by_program and not found["Security.framework/Security.tbd"].by_program
    assert {"_CFRelease", "_SecTrustEvaluateWithError"} <= found["CoreFoundation.framework/CoreFoundation.tbd"].symbols | found[
        "Security.framework/Security.tbd"
    ].symbols
    text = darwin.stub_text(found["Security.framework/Security.tbd"], goarch="arm64")
    assert text.startswith("--- !tapi-tbd\ntbd-version:     4\ntargets:         [ arm64-macos ]\n")
    assert "install-name:    '/System/Library/Frameworks/Security.framework/Versions/A/Security'" in text
    assert "'_SecTrustEvaluateWithError'" in text
