"""Issue 24 item 1: one executable (output.format: exe), run for real.

The launcher is gopack's own, built with this machine's Go. Most tests wrap a small
bundle whose program is a shell script (one_file.py), so that what is tested is the
launcher: where it extracts, the lock, a killed extraction, a damaged folder, the
places it picks, exec. Then the hello example is bundled with --format exe, and the
sklearn example (the session's archive, wrapped the way gopack bundle wraps it) runs
with no Python on the machine, from a read-only file at a path with spaces.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from conftest import EXAMPLES, gopack_cli, open_tar, require_pyenv
from elftools.elf.elffile import ELFFile
from one_file import make, small_bundle

from gopack.archive import exe
from gopack.go import launcher as golauncher
from gopack.go import toolchain
from gopack.pipeline import Bundle as Built
from gopack.recipe import model as recipe
from gopack.verify import sandbox

pytestmark = pytest.mark.integration

LAUNCHER_FAILED = 125
PATH = "/usr/local/bin:/usr/bin:/bin"


@pytest.fixture(scope="module")
def go() -> toolchain.GoToolchain:
    return toolchain.find_go(recipe.load(EXAMPLES / "hello" / "recipe.yaml"))


@pytest.fixture(scope="module")
def launcher(go: toolchain.GoToolchain, cache_dir: Path) -> Path:
    return golauncher.build(go, goarch=go.goarch, cache_dir=cache_dir)


def run(
    program: Path | str, *args: str, env: dict[str, str], input: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``program`` with only ``env`` (and PATH), its launcher saying what it does on stderr."""
    return subprocess.run(
        [str(program), *args],
        env={"PATH": PATH, "GOPACK_EXE_LOG": "1", **env},
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def extracted(stderr: str) -> int:
    return sum("gopack-exe: extracted " in line for line in stderr.splitlines())


def found(stderr: str) -> int:
    return sum("gopack-exe: found " in line for line in stderr.splitlines())


@pytest.fixture
def app(launcher: Path, tmp_path: Path) -> Path:
    """A small executable of its own: its folder's name (the digest) is no other test's, in
    whichever place the launcher finds it."""
    return make(small_bundle(unique=tmp_path.name), launcher, tmp_path / "dist" / "app")


def folders(base: Path) -> list[str]:
    return sorted(p.name for p in base.iterdir()) if base.is_dir() else []


# -- the launcher ------------------------------------------------------------------------------


def test_the_launcher_is_small_static_and_reproducible(go: toolchain.GoToolchain, launcher: Path, tmp_path: Path) -> None:
    """Built again in another cache with an empty Go build cache: the same bytes."""
    size = launcher.stat().st_size
    assert size < 4_000_000, size
    with launcher.open("rb") as f:
        elf = ELFFile(f)
        assert not any(s.header.p_type == "PT_INTERP" for s in elf.iter_segments())  # static: no loader
        assert elf.get_section_by_name(".symtab") is None  # -s
    mp = pytest.MonkeyPatch()
    mp.setenv("GOCACHE", str(tmp_path / "gocache"))
    try:
        again = golauncher.build(go, goarch=go.goarch, cache_dir=tmp_path / "cache")
    finally:
        mp.undo()
    assert again != launcher and again.read_bytes() == launcher.read_bytes()
    print(f"launcher: {size} bytes ({size / 1e6:.2f} MB), sha256 {hashlib.sha256(launcher.read_bytes()).hexdigest()[:16]}")


def test_the_launcher_builds_for_macos_too(go: toolchain.GoToolchain, tmp_path: Path) -> None:
    """Only os_linux.go is Linux's: the same sources build for darwin (os_other.go), so a macOS
    build can follow without another launcher."""
    src = tmp_path / "src"
    src.mkdir()
    for name, text in golauncher.sources().items():
        (src / name).write_bytes(text)
    env = {**os.environ, "CGO_ENABLED": "0", "GOOS": "darwin", "GOARCH": "arm64", "GOFLAGS": "", "GOTOOLCHAIN": "local"}
    result = subprocess.run(
        [str(go.go), "build", "-trimpath", "-o", str(tmp_path / "launcher-darwin"), "."],
        cwd=src,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "launcher-darwin").read_bytes()[:4] == bytes.fromhex("cffaedfe")  # Mach-O, 64-bit


def test_the_program_gets_the_arguments_streams_exit_code_and_signals(launcher: Path, tmp_path: Path) -> None:
    script = 'echo "pid $$"; for a in "$@"; do echo "arg [$a]"; done; read line; echo "in [$line]"; echo "err" >&2; exit 7\n'
    program = make(small_bundle(script=script, unique=tmp_path.name), launcher, tmp_path / "app")
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    proc = subprocess.Popen(
        [program, "a b", "--help", ""],
        env={"PATH": PATH, **env},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = proc.communicate("hello there\n", timeout=60)
    assert proc.returncode == 7
    assert out.splitlines() == [f"pid {proc.pid}", "arg [a b]", "arg [--help]", "arg []", "in [hello there]"]  # exec: the same process
    assert err == "err\n"
    killer = make(small_bundle(script="kill -TERM $$\nsleep 5\n", unique=tmp_path.name), launcher, tmp_path / "killer")
    assert run(killer, env=env).returncode == -signal.SIGTERM


def test_first_run_extracts_later_runs_find_it_even_read_only_moved_and_renamed(app: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    env = {"XDG_CACHE_HOME": str(cache)}
    first = run(app, "one", env=env)
    assert first.returncode == 0 and first.stdout == "OK one\n", first.stderr
    assert extracted(first.stderr) == 1
    (folder,) = [p for p in (cache / "gopack-exe").iterdir() if p.is_dir()]
    assert folder.name.startswith("app-1.0-") and (folder.parent / f"{folder.name}.complete").is_file()
    assert (folder / "bin" / "app").is_file() and os.readlink(folder / "python" / "link.txt") == "data.txt"
    assert (folder / "python" / "data.txt").stat().st_ino == (folder / "python" / "same.txt").stat().st_ino  # the hard link
    moved = tmp_path / "moved here ü 日本" / "renamed app"
    moved.parent.mkdir()
    app.rename(moved)
    moved.chmod(0o555)
    moved.parent.chmod(0o555)
    again = run(moved, "two", env=env)
    assert again.returncode == 0 and again.stdout == "OK two\n", again.stderr
    assert extracted(again.stderr) == 0 and found(again.stderr) == 1
    moved.parent.chmod(0o755)


def test_concurrent_first_runs_extract_once_and_all_run(app: Path, tmp_path: Path) -> None:
    env = {"PATH": PATH, "GOPACK_EXE_LOG": "1", "XDG_CACHE_HOME": str(tmp_path / "cache")}
    procs = [subprocess.Popen([app, str(i)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(4)]
    results = [(p, *p.communicate(timeout=120)) for p in procs]
    assert [(p.returncode, out) for p, out, _ in results] == [(0, f"OK {i}\n") for i in range(4)]
    assert sum(extracted(err) for _, _, err in results) == 1
    assert sum(found(err) for _, _, err in results) == 3  # after waiting for the lock, or after it was done


def test_a_killed_extraction_leaves_nothing_a_later_run_trusts(launcher: Path, tmp_path: Path) -> None:
    big = small_bundle(unique=tmp_path.name).file("python/zeros", bytes(300 << 20))
    program = make(big, launcher, tmp_path / "big")
    cache = tmp_path / "cache"
    base = cache / "gopack-exe"
    proc = subprocess.Popen([program], env={"PATH": PATH, "XDG_CACHE_HOME": str(cache)}, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not any(name.endswith(".tmp") for name in folders(base)):
        assert proc.poll() is None and time.monotonic() < deadline, "the extraction ended before it could be killed"
        time.sleep(0.002)
    time.sleep(0.1)
    proc.kill()
    proc.wait()
    left = folders(base)
    assert [n for n in left if n.endswith(".tmp")] and not [n for n in left if n.endswith(".complete")], left
    assert not [n for n in left if not n.startswith(".") and not n.endswith(".lock")], left  # no folder under its final name
    later = run(program, env={"XDG_CACHE_HOME": str(cache)})
    assert later.returncode == 0 and later.stdout == "OK \n", later.stderr
    assert "left by a run that was stopped" in later.stderr and extracted(later.stderr) == 1
    assert not [n for n in folders(base) if n.endswith(".tmp")]


@pytest.mark.parametrize(
    "damage", ["removed file", "truncated file", "grown file", "file made a folder", "marker removed", "folder removed"]
)
def test_a_damaged_folder_is_found_on_a_warm_start_and_extracted_afresh(damage: str, app: Path, tmp_path: Path) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    assert run(app, env=env).returncode == 0
    base = tmp_path / "cache" / "gopack-exe"
    (folder,) = [p for p in base.iterdir() if p.is_dir()]
    data = folder / "python" / "data.txt"
    if damage == "removed file":
        data.unlink()
    elif damage == "truncated file":
        data.write_bytes(data.read_bytes()[:-1])
    elif damage == "grown file":
        data.write_bytes(data.read_bytes() + b"#")
    elif damage == "file made a folder":
        (folder / "python" / "link.txt").unlink()
        (folder / "python" / "link.txt").mkdir()
    elif damage == "marker removed":
        (base / f"{folder.name}.complete").unlink()
    else:
        shutil.rmtree(folder)
    again = run(app, "x", env=env)
    assert again.returncode == 0 and again.stdout == "OK x\n", again.stderr
    assert extracted(again.stderr) == 1, again.stderr
    assert data.read_bytes() == b"some data\n" * 100


def test_a_same_size_change_is_found_by_the_full_check_and_by_verify(app: Path, tmp_path: Path) -> None:
    """The warm start checks every file's size, not its content: an edit that keeps the size
    passes it; GOPACK_EXE_CHECK=full (every file's sha256) and GOPACK_EXE=verify find it."""
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    assert run(app, env=env).returncode == 0
    (folder,) = [p for p in (tmp_path / "cache" / "gopack-exe").iterdir() if p.is_dir()]
    script = folder / "bin" / "app"
    script.write_text(script.read_text().replace("OK", "KO"))
    assert run(app, env=env).stdout == "KO \n"  # by size only: not seen
    full = run(app, env={**env, "GOPACK_EXE_CHECK": "full"})
    assert full.stdout == "OK \n" and "bin/app: content differs" in full.stderr and extracted(full.stderr) == 1
    script.write_text(script.read_text().replace("OK", "KO"))
    checked = run(app, env={**env, "GOPACK_EXE": "verify"})
    assert checked.returncode == 1 and checked.stdout.startswith(f"damaged {folder}: bin/app: content differs")
    assert not folder.exists()
    assert run(app, env=env).stdout == "OK \n"


def test_list_verify_clean_and_extract_manage_what_was_extracted(app: Path, tmp_path: Path) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    assert run(app, env={**env, "GOPACK_EXE": "list"}).stdout.startswith("nothing extracted")
    assert run(app, env={**env, "GOPACK_EXE": "verify"}).returncode == 1
    made = run(app, env={**env, "GOPACK_EXE": "extract"})
    folder = Path(made.stdout.strip())
    assert made.returncode == 0 and folder.parent == tmp_path / "cache" / "gopack-exe" and (folder / "bin" / "app").is_file()
    listed = run(app, env={**env, "GOPACK_EXE": "list"})
    assert listed.stdout.startswith("* ") and str(folder) in listed.stdout and "complete" in listed.stdout
    checked = run(app, env={**env, "GOPACK_EXE": "verify"})
    assert checked.returncode == 0 and checked.stdout == f"ok {folder}: 4 files match the manifest (sha256)\n"
    cleaned = run(app, env={**env, "GOPACK_EXE": "clean"})
    assert cleaned.stdout == f"removed {folder}\n"
    assert folders(tmp_path / "cache" / "gopack-exe") == []
    wrong = run(app, "--help", env={**env, "GOPACK_EXE": "help"})
    assert wrong.returncode == LAUNCHER_FAILED and wrong.stdout == ""
    assert wrong.stderr.startswith("gopack-exe: GOPACK_EXE=help: unknown; use list, verify, clean or extract")


# -- where it extracts -------------------------------------------------------------------------


def in_namespace(setup: Sequence[str], program: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``program`` in a private mount namespace after ``setup`` (mounts over /tmp and
    /var/tmp, say). The program is copied to a tmpfs of its own first, as /tmp may be covered."""
    script = [
        "set -e",
        "mount --make-rprivate /",
        "mount -t tmpfs -o size=64m gopack-test-bin /mnt",
        f"cp {shlex.quote(str(program))} /mnt/app",
        *setup,
        "exec env -i " + " ".join(shlex.quote(f"{k}={v}") for k, v in {"PATH": PATH, "GOPACK_EXE_LOG": "1", **env}.items()) + " /mnt/app",
    ]
    return subprocess.run(["unshare", "-m", "sh", "-c", "\n".join(script)], capture_output=True, text=True, timeout=120, check=False)


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mount namespaces (noexec /tmp, a read-only HOME) need root")
TMPFS_TMP = [
    "mount -t tmpfs -o size=64m,mode=1777 gopack-test-tmp /tmp",
    "mount -t tmpfs -o size=64m,mode=1777 gopack-test-vartmp /var/tmp",
]


@needs_root
def test_xdg_cache_home_comes_first_then_home(app: Path, tmp_path: Path) -> None:
    home, xdg = tmp_path / "home", tmp_path / "xdg"
    home.mkdir()
    first = run(app, env={"HOME": str(home), "XDG_CACHE_HOME": str(xdg)})
    assert first.returncode == 0 and f"to {xdg}/gopack-exe/app-1.0-" in first.stderr
    second = run(app, env={"HOME": str(home)})
    assert second.returncode == 0 and f"to {home}/.cache/gopack-exe/app-1.0-" in second.stderr


@needs_root
def test_home_unset_or_read_only_and_tmp_noexec_fall_back_to_var_tmp(app: Path, tmp_path: Path) -> None:
    home = "/mnt/home"  # on the namespace's own tmpfs (/tmp, where tmp_path is, gets covered)
    setup = [
        "mount -t tmpfs -o size=64m,mode=1777,noexec gopack-test-tmp /tmp",
        "mount -t tmpfs -o size=64m,mode=1777 gopack-test-vartmp /var/tmp",
        f"mkdir {home}",
        f"mount --bind {home} {home}",
        f"mount -o remount,ro,bind {home}",
    ]
    read_only_home = in_namespace(setup, app, {"HOME": home})
    assert read_only_home.returncode == 0 and read_only_home.stdout == "OK \n", read_only_home.stderr
    assert f"cannot use {home}/.cache/gopack-exe: read-only file system" in read_only_home.stderr
    assert "cannot use /tmp/gopack-exe-0: mounted noexec" in read_only_home.stderr
    assert "extracted 4 files to /var/tmp/gopack-exe-0/app-1.0-" in read_only_home.stderr
    no_home = in_namespace(setup, app, {})
    assert no_home.returncode == 0 and "to /var/tmp/gopack-exe-0/app-1.0-" in no_home.stderr


@needs_root
def test_nowhere_to_extract_is_said_in_one_line_naming_the_variable(app: Path, tmp_path: Path) -> None:
    setup = [
        "mount -t tmpfs -o size=64m,mode=1777,noexec gopack-test-tmp /tmp",
        "mount -t tmpfs -o size=64m,mode=1777,noexec gopack-test-vartmp /var/tmp",
    ]
    result = in_namespace(setup, app, {})
    assert result.returncode == LAUNCHER_FAILED and result.stdout == ""
    (line,) = [line for line in result.stderr.splitlines() if not line.startswith("gopack-exe: cannot use")]
    assert line.startswith(
        "gopack-exe: no folder to extract app-1.0 into (/tmp/gopack-exe-0: mounted noexec; /var/tmp/gopack-exe-0: mounted noexec)"
    )
    assert line.endswith("set GOPACK_EXTRACT_DIR to a folder you can write and execute files in")
    explicit = in_namespace([*setup, "mkdir /tmp/mine"], app, {"GOPACK_EXTRACT_DIR": "/tmp/mine"})
    assert explicit.returncode == LAUNCHER_FAILED
    assert "(GOPACK_EXTRACT_DIR /tmp/mine: mounted noexec)" in explicit.stderr
    chosen = in_namespace([*setup, "mkdir /mnt/mine"], app, {"GOPACK_EXTRACT_DIR": "/mnt/mine"})
    assert chosen.returncode == 0 and chosen.stdout == "OK \n" and "to /mnt/mine/app-1.0-" in chosen.stderr


@needs_root
def test_a_shared_tmp_folder_another_user_made_is_not_used(app: Path, tmp_path: Path) -> None:
    setup = [*TMPFS_TMP, "mkdir -m 700 /tmp/gopack-exe-0", "chown 12345 /tmp/gopack-exe-0"]
    result = in_namespace(setup, app, {})
    assert result.returncode == 0, result.stderr
    assert "cannot use /tmp/gopack-exe-0: not a folder of this user's own" in result.stderr
    assert "to /var/tmp/gopack-exe-0/app-1.0-" in result.stderr


# -- real bundles ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hello_exe(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Path:
    require_pyenv("3.7")
    out = tmp_path_factory.mktemp("hello-exe")
    result = gopack_cli("bundle", "--format", "exe", "--json", "-o", str(out), str(EXAMPLES / "hello" / "recipe.yaml"), cache=cache_dir)
    assert result.returncode == 0, result.stderr
    return Path(json.loads(result.stdout)["archive"])


def test_hello_as_one_executable_is_deterministic_and_holds_the_archive_byte_for_byte(
    hello_exe: Path, build: Callable[[Path], Built], cache_dir: Path, tmp_path: Path
) -> None:
    assert hello_exe.name.startswith("hello-0.1.0-cp37-manylinux_") and os.access(hello_exe, os.X_OK)
    again = gopack_cli("bundle", "--format", "exe", "-o", str(tmp_path), str(EXAMPLES / "hello" / "recipe.yaml"), cache=cache_dir)
    assert again.returncode == 0, again.stderr
    digest = hashlib.sha256(hello_exe.read_bytes()).hexdigest()
    assert hashlib.sha256((tmp_path / hello_exe.name).read_bytes()).hexdigest() == digest
    archive = build(EXAMPLES / "hello" / "recipe.yaml").archive
    with hello_exe.open("rb") as f:
        trailer = exe.read_trailer(f, "x")
    assert trailer is not None and trailer.program == "bin/hello"
    assert hello_exe.read_bytes()[trailer.offset : trailer.offset + trailer.size] == archive.read_bytes()


def test_inspect_and_verify_accept_the_hello_executable(hello_exe: Path, cache_dir: Path) -> None:
    inspected = gopack_cli("inspect", "--json", str(hello_exe), cache=cache_dir)
    assert inspected.returncode == 0, inspected.stderr
    assert json.loads(inspected.stdout)["executable"]["program"] == "hello-0.1.0/bin/hello"
    verified = gopack_cli("verify", "--json", str(hello_exe), cache=cache_dir)
    assert verified.returncode == 0, verified.stderr
    assert all(c["ok"] for c in json.loads(verified.stdout)["checks"])


def test_hello_runs_from_its_folder_whose_python_it_finds(hello_exe: Path, tmp_path: Path) -> None:
    result = run(hello_exe, env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert result.returncode == 0, result.stderr
    (folder,) = [p for p in (tmp_path / "cache" / "gopack-exe").iterdir() if p.is_dir()]
    assert f"from '{folder}/app/hello.pyc'" in result.stdout  # /proc/self/exe led the program to its folder
    assert "[FUNC] res = xwjhaha" in result.stdout


@pytest.fixture(scope="module")
def sklearn_exe(build: Callable[[Path], Built], launcher: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's sklearn archive wrapped as gopack bundle --format exe wraps it (the hello
    test above shows the payload is the archive byte for byte): no second sklearn build."""
    require_pyenv("3.7")
    built = build(EXAMPLES / "sklearn" / "recipe.yaml")
    out = tmp_path_factory.mktemp("sklearn-exe")
    manifest = out / "gopack.json"
    with open_tar(built.archive) as tar:
        for member in tar:
            if member.name == "sklearn-demo-0.1.0/gopack.json":
                manifest.write_bytes(tar.extractfile(member).read())  # type: ignore[union-attr]
                break
    dest = out / built.archive.name.removesuffix(".tar.gz")
    exe.write(launcher, built.archive, dest, top="sklearn-demo-0.1.0", program=built.manifest["go"]["binary"], manifest=manifest)
    return dest


EXPECT = ("[FUNC] res = xwjhaha", "[IMPORT] sklearn version = 1.0.2", "[PREDICT]", "[CV]")


def no_python(program: Path, place: Path, cache: Path) -> tuple[sandbox.Result, float]:
    """``program`` with every Python hidden, ``place`` (its folder) read-only; and how long it took."""
    start = time.monotonic()
    result = sandbox.run_without_python(
        [str(program)], cwd=place, env={"XDG_CACHE_HOME": str(cache), "GOPACK_EXE_LOG": "1"}, read_only=[place], timeout=600
    )
    return result, time.monotonic() - start


def test_sklearn_as_one_executable_runs_with_no_python_read_only_at_a_path_with_spaces_twice(sklearn_exe: Path, tmp_path: Path) -> None:
    place = tmp_path / "one file ü 日本"
    place.mkdir()
    program = place / "sklearn demo"
    shutil.copy(sklearn_exe, program)
    program.chmod(0o555)
    cache = tmp_path / "cache"
    first, first_time = no_python(program, place, cache)
    assert first.returncode == 0, first.output
    assert all(e in first.output for e in EXPECT), first.output
    assert extracted(first.output) == 1
    second, second_time = no_python(program, place, cache)
    assert second.returncode == 0 and all(e in second.output for e in EXPECT), second.output
    assert extracted(second.output) == 0 and found(second.output) == 1
    print(f"sklearn executable ({sklearn_exe.stat().st_size / 1e6:.1f} MB): first run {first_time:.2f} s, second {second_time:.2f} s")
    print(*[line for line in first.output.splitlines() + second.output.splitlines() if line.startswith("gopack-exe:")], sep="\n")


def test_sklearn_concurrent_first_runs_and_a_tampered_cache(sklearn_exe: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    env = {"PATH": PATH, "GOPACK_EXE_LOG": "1", "XDG_CACHE_HOME": str(cache), "HOME": str(tmp_path)}
    procs = [subprocess.Popen([sklearn_exe], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert all(all(e in out for e in EXPECT) for out in outputs), outputs
    assert sum(extracted(out) for out in outputs) == 1 and sum(found(out) for out in outputs) == 1
    (folder,) = [p for p in (cache / "gopack-exe").iterdir() if p.is_dir()]
    model = folder / "app" / "model.pyc"
    model.write_bytes(model.read_bytes() + b"\0")  # tampered: one byte more
    result = run(sklearn_exe, env={"XDG_CACHE_HOME": str(cache), "HOME": str(tmp_path)}, timeout=600)
    assert result.returncode == 0 and all(e in result.stdout for e in EXPECT), result.stdout + result.stderr
    assert "app/model.pyc: changed since it was extracted" in result.stderr and extracted(result.stderr) == 1


def test_the_bundle_is_not_trusted_when_the_payload_is_damaged(app: Path, tmp_path: Path) -> None:
    """A flipped byte in the payload: the launcher refuses it and runs nothing, leaving nothing trusted."""
    data = bytearray(app.read_bytes())
    data[-exe.TRAILER_SIZE - 1] ^= 0x01  # the payload's last byte (gzip's length field)
    app.write_bytes(bytes(data))
    result = run(app, env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert result.returncode == LAUNCHER_FAILED and result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"gopack-exe: cannot extract {app}: ") and line.endswith("; the executable is damaged: copy it again")
    assert [n for n in folders(tmp_path / "cache" / "gopack-exe") if not n.endswith(".lock")] == []
    app.write_bytes(bytes(data[:-100]))  # cut short: no trailer
    cut = run(app, env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert cut.returncode == LAUNCHER_FAILED
    assert (
        cut.stderr
        == f"gopack-exe: {app}: no gopack bundle at its end (the file was cut short or is not a gopack executable); copy the executable again\n"
    )
