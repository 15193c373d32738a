"""Work that runs beside the build's critical path: stoppable commands and bytecode compiled in the background."""

from __future__ import annotations

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
