"""The PyInstaller side: a venv of the stack's Python with PyInstaller, the equivalent Python program, its build."""

from __future__ import annotations

import glob
import shutil
from pathlib import Path
from typing import Any

from _common import UV, BenchError, comparable, run, say
from _stacks import Stack


def find_python(stack: Stack) -> Path:
    found = glob.glob(stack.python_glob)
    if not found:
        raise BenchError(
            f"no CPython {stack.python} found ({stack.python_glob} matches nothing): the {stack.name} stack's PyInstaller "
            f"baseline needs it. Install one with `PYTHON_CONFIGURE_OPTS=--enable-shared pyenv install {stack.python}`."
        )
    return max((Path(p) for p in found), key=lambda p: int(p.parts[-3].rsplit(".", 1)[1]))


def ensure_venv(work: Path, stack: Stack, python: Path) -> Path:
    """A venv of ``python`` with the stack's pins (and requirements file); rebuilt only when they change.
    The requirements go in with uv (gopack's own, whose cache the warm-up build filled)."""
    venv = work / f"py{stack.python.replace('.', '')}-venv"
    stamp = venv / "bench-pins.txt"
    want = "\n".join([str(python), *stack.pins]) + "\n"
    if stack.requirements is not None:
        want += "uv pip install --compile-bytecode\n" + stack.requirements.read_text()
    if not (stamp.exists() and stamp.read_text() == want):
        say(f"creating the Python {stack.python} venv in {venv} ({' '.join(stack.pins)})")
        shutil.rmtree(venv, ignore_errors=True)
        run([python, "-m", "venv", venv])
        if stack.requirements is None:
            run([venv / "bin" / "python", "-m", "pip", "install", "--disable-pip-version-check", *stack.pins])
        else:
            # --compile-bytecode as pip does: the baseline runs from a read-only venv, where
            # Python cannot write the .pyc files it would otherwise compile on every start.
            run([UV, "pip", "install", "--compile-bytecode", "--python", venv / "bin" / "python", *stack.pins, "-r", stack.requirements])
        stamp.write_text(want)
    return venv / "bin" / f"python{stack.python}"


def write_pyapp(work: Path, stack: Stack) -> Path:
    """The equivalent Python program: app.py plus the stack's own Python files, copied."""
    app = work / f"pyapp-{stack.name}"
    app.mkdir(parents=True, exist_ok=True)
    for name in stack.app_files:
        src = stack.source / name
        if src.is_dir():
            shutil.rmtree(app / name, ignore_errors=True)
            shutil.copytree(src, app / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, app / name)
    if not (app / "app.py").exists() or (app / "app.py").read_text() != stack.app_py:
        (app / "app.py").write_text(stack.app_py)
    return app


def pyinstaller_build(stack: Stack, venv_python: Path, app: Path, into: Path) -> tuple[float, float, Path]:
    """Build ``app`` with its work and dist folders in ``into`` (new, empty); return the
    wall seconds, the CPU seconds and the --onedir folder."""
    pyinstaller = venv_python.parent / "pyinstaller"
    argv: list[str | Path] = [
        pyinstaller,
        "--onedir",
        "--noconfirm",
        "--clean",
        "--name",
        stack.app_name,
        "--workpath",
        into / "build",
        "--distpath",
        into / "dist",
        *stack.pyinstaller_args,
        "app.py",
    ]
    ran = run(argv, cwd=app)
    return ran.seconds, ran.cpu_seconds, into / "dist" / stack.app_name


def check_pyinstaller_app(stack: Stack, dist: Path, reference: str) -> dict[str, Any]:
    """Does PyInstaller's bundle run and print what the plain program prints? (sanity, not timed)"""
    try:
        ran = run([dist / stack.app_name], cwd=dist, check=False, timeout=900)
    except BenchError as exc:
        return {"ok": False, "error": str(exc)}
    same = ran.returncode == 0 and comparable(ran.stdout) == comparable(reference)
    return {"ok": same, "returncode": ran.returncode, "output": ran.stdout, "stderr_tail": ran.stderr[-2000:]}
