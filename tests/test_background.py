"""Work that runs beside the build's critical path: stoppable commands and bytecode compiled in the background."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from conftest import require_pyenv

from gopack import _proc
from gopack.errors import BuildError
from gopack.python import bytecode


def test_cancel_stops_every_command_it_started() -> None:
    cancel = _proc.Cancel(grace=5)
    errors: list[BaseException] = []

    def sleep() -> None:
        try:
            _proc.run(["sleep", "60"], what="sleeping", cancel=cancel)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=sleep) for _ in range(3)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while len(cancel._running) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    started = time.monotonic()
    cancel.stop()
    for t in threads:
        t.join(timeout=10)
    assert time.monotonic() - started < 5, "the commands should stop on SIGINT, not run out their time"
    assert len(errors) == 3 and all(isinstance(e, BuildError) and "was stopped" in e.message for e in errors)
    with pytest.raises(BuildError, match="was stopped"):
        _proc.run(["true"], what="after stop", cancel=cancel)  # a command not started yet never starts


def tree(root: Path) -> Path:
    src = root / "lib"
    (src / "pkg").mkdir(parents=True)
    (src / "a.py").write_text("X = {1, 2, 3}\n")
    (src / "pkg" / "__init__.py").write_text("")
    (src / "pkg" / "b.py").write_text("def f():\n    return 'b'\n")
    (src / "skipped").mkdir()
    (src / "skipped" / "c.py").write_text("C = 1\n")
    return src


def test_a_stop_during_an_unbroken_stretch_lands_when_it_ends_and_the_thread_started_there_is_stopped() -> None:
    """A SIGINT while a background thread starts (as gopack's handler raises it: through stop_now)
    is raised once the thread's stop is registered, so unwinding stops it and waits for it."""
    cancel_seen: list[bool] = []
    started = threading.Event()

    def task(cancel: _proc.Cancel) -> None:
        started.set()
        while not cancel.stopped:
            time.sleep(0.01)
        cancel_seen.append(True)

    def handler(signum: int, frame: object) -> None:
        _proc.stop_now(KeyboardInterrupt())

    previous = signal.signal(signal.SIGINT, handler)
    reached = []
    try:
        with pytest.raises(KeyboardInterrupt), contextlib.ExitStack() as stack:
            with _proc.unbroken():
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.05)  # the handler has run by now: it kept the stop
                reached.append("end of the stretch")
                stack.enter_context(_proc.in_background(task, name="test"))
                started.wait(5)
            reached.append("after the stretch")  # never: the stop is raised as the stretch ends
    finally:
        signal.signal(signal.SIGINT, previous)
    assert reached == ["end of the stretch"]
    assert cancel_seen == [True], "the thread must have been stopped and waited for as the stack unwound"
    with _proc.unbroken():
        pass  # nothing is kept from before


def python37() -> Path:
    return require_pyenv("3.7") / "bin" / "python3.7"


def compiler(python: Path, root: Path) -> bytecode.Background:
    return bytecode.Background(python, relative_to=root, version="3.7", keep_sources=False, epoch=315532800)


def test_background_compiling_keeps_the_sources_until_the_block_ends(tmp_path: Path) -> None:
    python = python37()
    src = tree(tmp_path)
    with compiler(python, tmp_path) as compiling:
        compiling.add(src, skip=src / "skipped")
        assert (src / "a.py").exists() and (src / "pkg" / "b.py").exists()  # the block may import them
    assert sorted(p.relative_to(src).as_posix() for p in src.rglob("*") if p.is_file()) == [
        "a.pyc",
        "pkg/__init__.pyc",
        "pkg/b.pyc",
        "skipped/c.py",
    ]
    # The same bytes as compiling in the foreground.
    other = tree(tmp_path / "again")
    bytecode.compile_tree(python, other, relative_to=tmp_path / "again", version="3.7", keep_sources=False, epoch=315532800)
    assert (other / "pkg" / "b.pyc").read_bytes() == (src / "pkg" / "b.pyc").read_bytes()


def test_an_error_in_the_block_stops_compiling_and_keeps_the_sources(tmp_path: Path) -> None:
    python = python37()
    src = tree(tmp_path)
    for i in range(400):  # enough work that it is still compiling when the block fails
        (src / f"m{i}.py").write_text("".join(f"def f{j}(x):\n    return x + {j}\n" for j in range(200)))
    with pytest.raises(RuntimeError, match="edit failed"), compiler(python, tmp_path) as compiling:
        compiling.add(src)
        raise RuntimeError("edit failed")
    assert (src / "a.py").exists() and len(list(src.glob("m*.py"))) == 400
    assert len(list(src.glob("m*.pyc"))) < 400, "the compiling processes should have been stopped"


@pytest.mark.parametrize("version", ["3.7", "3.13"])
def test_the_interpreters_own_stdlib_bytecode_is_reused_where_it_matches(tmp_path: Path, version: str) -> None:
    """A copied stdlib module whose bytes match the interpreter's own pyc gets that code, renamed to
    the bundle's path; one that was changed after copying is compiled from what it now says."""
    home = require_pyenv(version)
    python = home / "bin" / f"python{version}"
    stdlib = home / "lib" / f"python{version}"
    root = tmp_path / "bundle"
    copied = root / "python" / "lib" / f"python{version}"
    copied.mkdir(parents=True)

    def compiled() -> dict[str, bytes]:
        """Copy the three modules (compiled pycs from an earlier call go), edit one, compile."""
        for name in ("os.py", "colorsys.py", "this.py"):
            (copied / f"{name}c").unlink(missing_ok=True)
            shutil.copy2(stdlib / name, copied / name)
        with (copied / "this.py").open("a") as f:
            f.write("\nEDITED_AFTER_COPYING = True\n")  # its size no longer matches the interpreter's pyc
        with bytecode.Background(python, relative_to=root, version=version, keep_sources=False, epoch=315532800) as compiling:
            compiling.add(copied, origin=stdlib)
        return {p.name: p.read_bytes() for p in copied.glob("*.pyc")}

    first = compiled()
    assert sorted(first) == ["colorsys.pyc", "os.pyc", "this.pyc"] and not list(copied.glob("*.py"))
    probe = r"""
import importlib.util, json, marshal, sys
out = {}
for path in sys.argv[1:]:
    data = open(path, "rb").read()
    code = marshal.loads(data[16:])
    names = [code.co_filename] + [c.co_filename for c in code.co_consts if isinstance(c, type(code))]
    out[path.rsplit("/", 1)[1]] = {"flags": int.from_bytes(data[4:8], "little"), "files": sorted(set(names)),
                                   "names": sorted(code.co_names)}
print(json.dumps(out))
"""
    seen = json.loads(
        subprocess.run(
            [python, "-S", "-c", probe, *(str(copied / n) for n in sorted(first))], check=True, capture_output=True, text=True
        ).stdout
    )
    prefix = f"python/lib/python{version}"
    for name in first:
        assert seen[name]["flags"] == 1, f"{name}: an unchecked-hash pyc, as compiling writes"
        assert seen[name]["files"] == [f"{prefix}/{name[:-1]}"], f"{name} names {seen[name]['files']}, not its bundle path"
    assert "EDITED_AFTER_COPYING" in seen["this.pyc"]["names"], "the edited copy must be compiled, not given the stale pyc"
    # The hash in the header is that of the source that shipped (what an unchecked pyc records).
    source_hash = subprocess.run(
        [
            python,
            "-S",
            "-c",
            "import importlib.util, sys; print(importlib.util.source_hash(open(sys.argv[1], 'rb').read()).hex())",
            stdlib / "os.py",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert first["os.pyc"][8:16].hex() == source_hash
    # Reused or compiled, the same inputs give the same bytes.
    assert compiled() == first


def test_only_a_pyc_whose_header_matches_the_copied_source_is_reused(tmp_path: Path) -> None:
    """The origin's pycs here hold other code than their sources, so what ships shows which was used:
    a timestamp pyc with the copy's time and size, and a hash pyc with its hash, are reused; a pyc of
    another size, or of another interpreter's magic number, is not."""
    python = python37()
    origin, root = tmp_path / "origin", tmp_path / "bundle"
    copied = root / "lib"
    (origin / "__pycache__").mkdir(parents=True)
    copied.mkdir(parents=True)
    for name in ("stamped", "hashed", "resized", "foreign"):
        (origin / f"{name}.py").write_text(f"SOURCE_{name.upper()} = 1\n")
        shutil.copy2(origin / f"{name}.py", copied / f"{name}.py")
    make = r"""
import importlib.util, os, py_compile, sys
origin = sys.argv[1]
for name in ("stamped", "hashed", "resized", "foreign"):
    source = os.path.join(origin, name + ".py")
    other = os.path.join(origin, name + "-other.py")
    with open(other, "w") as f:
        f.write("FROM_THE_PYC = 1\n")
    mode = py_compile.PycInvalidationMode.CHECKED_HASH if name == "hashed" else py_compile.PycInvalidationMode.TIMESTAMP
    cfile = importlib.util.cache_from_source(source)
    py_compile.compile(other, cfile=cfile, doraise=True, invalidation_mode=mode)
    os.unlink(other)
    data = bytearray(open(cfile, "rb").read())
    st = os.stat(source)
    if name == "hashed":
        data[8:16] = importlib.util.source_hash(open(source, "rb").read())
    else:
        data[8:12] = int(st.st_mtime).to_bytes(4, "little")
        data[12:16] = (st.st_size + (1 if name == "resized" else 0)).to_bytes(4, "little")
    if name == "foreign":
        data[0:2] = (int.from_bytes(data[0:2], "little") + 1).to_bytes(2, "little")
    open(cfile, "wb").write(bytes(data))
"""
    subprocess.run([python, "-S", "-c", make, origin], check=True)
    with compiler(python, root) as compiling:
        compiling.add(copied, origin=origin)
    names = json.loads(
        subprocess.run(
            [python, "-S", "-c", "import json, marshal, sys; print(json.dumps({p: marshal.loads(open(p, 'rb').read()[16:]).co_names for p in sys.argv[1:]}))",
             *(str(p) for p in sorted(copied.glob("*.pyc")))],
            check=True, capture_output=True, text=True,
        ).stdout
    )  # fmt: skip
    shipped = {Path(p).stem: tuple(n) for p, n in names.items()}
    assert shipped == {
        "stamped": ("FROM_THE_PYC",),
        "hashed": ("FROM_THE_PYC",),
        "resized": ("SOURCE_RESIZED",),
        "foreign": ("SOURCE_FOREIGN",),
    }
