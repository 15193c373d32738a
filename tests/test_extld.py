"""go build's external linker (gopack.go.extld): Go's trial links are answered from the cache
once the compiler has answered them, every other call reaches the compiler as it was made."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from gopack.go import extld

#: A compiler that logs each call (its arguments in brackets, one per line, then a blank line) and answers
#: as FAKE_ANSWER says: "ok", "refuse" (says the flag is unrecognized) or "fail" (says nothing).
FAKE = """#!/bin/sh
for a; do printf '[%s]\\n' "$a"; done >>"$FAKE_LOG"
echo >>"$FAKE_LOG"
case "$FAKE_ANSWER" in
ok) echo "linked"; exit 0 ;;
refuse) echo "cc: error: unrecognized command-line option '-Qunused-arguments'"; exit 1 ;;
*) echo "cc: fatal: out of space"; exit 1 ;;
esac
"""


@pytest.fixture
def fake(tmp_path: Path) -> Path:
    real = tmp_path / "bin" / "fakecc"
    real.parent.mkdir()
    real.write_text(FAKE)
    real.chmod(0o755)
    return real


@pytest.fixture
def linker(fake: Path, tmp_path: Path) -> tuple[Path, Path]:
    """The script for the fake compiler, and the fake's log."""
    script = extld.write(fake, tmp_path / "cache")
    assert script is not None
    return script, tmp_path / "log"


def _trial(script: Path, tmp: Path, flag: str, answer: str, log: Path) -> subprocess.CompletedProcess[str]:
    """A trial as Go's linker makes it: ``-m64 ... -o <tmp>/a.out <flag> <tmp>/trivial.c``."""
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "trivial.c").write_text("int main() { return 0; }")
    argv = [str(script), "-m64", "-Wl,-rpath,$ORIGIN/../python/lib", "-o", str(tmp / "a.out"), flag, str(tmp / "trivial.c")]
    env = {**os.environ, "FAKE_LOG": str(log), "FAKE_ANSWER": answer}
    return subprocess.run(argv, env=env, capture_output=True, text=True, check=False)


def _calls(log: Path) -> list[list[str]]:
    blocks = log.read_text().split("\n\n") if log.exists() else []
    return [[line[1:-1] for line in block.splitlines()] for block in blocks if block]


def test_a_trial_is_asked_once(tmp_path: Path, linker: tuple[Path, Path]) -> None:
    script, log = linker
    first = _trial(script, tmp_path / "go-link-1", "-no-pie", "ok", log)
    assert (first.returncode, first.stdout) == (0, "linked\n")
    link = tmp_path / "go-link-1"
    assert _calls(log) == [["-m64", "-Wl,-rpath,$ORIGIN/../python/lib", "-o", str(link / "a.out"), "-no-pie", str(link / "trivial.c")]]
    # Another link's temporary folder, the same question: answered without the compiler.
    again = _trial(script, tmp_path / "go-link-2", "-no-pie", "fail", log)
    assert (again.returncode, again.stdout.strip()) == (0, "linked")
    assert len(_calls(log)) == 1
    # Another flag is another question.
    other = _trial(script, tmp_path / "go-link-2", "-Wl,--build-id=0x1234567890abcdef", "ok", log)
    assert other.returncode == 0 and len(_calls(log)) == 2


def test_a_refusal_is_kept_and_a_failure_is_not(tmp_path: Path, linker: tuple[Path, Path]) -> None:
    script, log = linker
    refused = _trial(script, tmp_path / "t1", "-Qunused-arguments", "refuse", log)
    assert refused.returncode == 1 and "unrecognized" in refused.stdout
    again = _trial(script, tmp_path / "t2", "-Qunused-arguments", "ok", log)
    assert again.returncode == 1 and "unrecognized" in again.stdout  # Go reads the same refusal
    assert len(_calls(log)) == 1
    # A failure that says nothing of the flag (a full disk) is asked again next time.
    for n in range(2):
        failed = _trial(script, tmp_path / f"f{n}", "-no-pie", "fail", log)
        assert failed.returncode == 1 and "out of space" in failed.stdout
    assert len(_calls(log)) == 3
    assert _trial(script, tmp_path / "f3", "-no-pie", "ok", log).returncode == 0
    assert len(_calls(log)) == 4


def test_a_kept_answer_to_other_arguments_is_not_used(tmp_path: Path, linker: tuple[Path, Path]) -> None:
    """Answers are filed by a CRC of the arguments and checked against them in full."""
    script, log = linker
    _trial(script, tmp_path / "t1", "-no-pie", "ok", log)
    (args,) = (script.parent / "answers").glob("*.args")
    args.write_text(args.read_text().replace("-no-pie", "-nopie"))
    assert _trial(script, tmp_path / "t2", "-no-pie", "ok", log).returncode == 0
    assert len(_calls(log)) == 2


def test_other_calls_reach_the_compiler_unchanged(tmp_path: Path, linker: tuple[Path, Path]) -> None:
    script, log = linker
    argv = ["-o", "/tmp/go-build 1/exe/a.out", "-Wl,-rpath,$ORIGIN/../python/lib", 'it\'s "quoted"', "", "/tmp/x/_cgo_main.o"]
    env = {**os.environ, "FAKE_LOG": str(log), "FAKE_ANSWER": "fail"}
    done = subprocess.run([str(script), *argv], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 1 and "out of space" in done.stdout
    assert _calls(log) == [argv]
    assert not list((script.parent / "answers").iterdir())


def test_the_real_compiler_through_it(tmp_path: Path) -> None:
    """gcc itself: a trial answered once, and a program linked through the script runs."""
    script = extld.write(Path(shutil.which("gcc") or "gcc"), tmp_path / "cache")
    assert script is not None
    for n in range(2):
        link = tmp_path / f"go-link-{n}"
        link.mkdir()
        (link / "trivial.c").write_text("int main() { return 0; }")
        done = subprocess.run(
            [str(script), "-m64", "-o", str(link / "a.out"), "-no-pie", str(link / "trivial.c")],
            check=False,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert (link / "a.out").exists() == (n == 0)  # the second was answered, not linked
    assert len(list((script.parent / "answers").glob("*.rc"))) == 1
    source = tmp_path / "hello.c"
    source.write_text('#include <stdio.h>\nint main(void) { puts("hello through gopack"); return 0; }\n')
    subprocess.run([str(script), "-o", str(tmp_path / "hello"), str(source)], check=True)
    assert subprocess.run([str(tmp_path / "hello")], capture_output=True, text=True, check=True).stdout == "hello through gopack\n"


def test_where_go_keeps_its_own_trials(tmp_path: Path, fake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    assert extld.flag(("fakecc",), ldflags="-X main.v=1", cxx=False, cache_dir=cache).startswith("-extld=")
    assert extld.flag(("fakecc",), ldflags="", cxx=True, cache_dir=cache) == ""  # Go links with CXX
    assert extld.flag(("zig", "cc", "-target", "x86_64-linux-gnu.2.17"), ldflags="", cxx=False, cache_dir=cache) == ""
    assert extld.flag(("fakecc",), ldflags="-extld=clang", cxx=False, cache_dir=cache) == ""  # the recipe's own
    assert extld.flag(("no-such-cc",), ldflags="", cxx=False, cache_dir=cache) == ""
    assert extld.flag(("fakecc",), ldflags="", cxx=False, cache_dir=tmp_path / "a cache") == ""  # one word of -ldflags
    assert extld.compiler({"CC": "zig cc -target x"}, ("gcc",)) == ("zig", "cc", "-target", "x")
    assert extld.compiler({}, ("clang",)) == ("clang",)


def test_an_answer_that_cannot_be_kept_is_still_given(tmp_path: Path, linker: tuple[Path, Path]) -> None:
    """The cache cleaned while a build runs: the compiler's answer, nothing else in the output."""
    script, log = linker
    (script.parent / "answers").rmdir()
    done = _trial(script, tmp_path / "t1", "-no-pie", "ok", log)
    assert (done.returncode, done.stdout, done.stderr) == (0, "linked\n", "")
    assert _trial(script, tmp_path / "t2", "-no-pie", "ok", log).returncode == 0
    assert len(_calls(log)) == 2
