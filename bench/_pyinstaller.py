"""The PyInstaller side: a Python 3.7 venv with PyInstaller, the equivalent Python program, its build."""

from __future__ import annotations

import glob
import os
import shutil
from pathlib import Path
from typing import Any

from _common import APP_NAME, EXAMPLE, BenchError, comparable, run, say

PYTHON37_GLOB = str(Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions" / "3.7.*" / "bin" / "python3.7")
# PyInstaller 5.13.2 is the last release that supports Python 3.7 (6.0 dropped it).
PINS = ("pyinstaller==5.13.2", "scikit-learn==1.0.2")


# The sklearn example's main.go, as a plain Python program: the same imports in
# the same order, the same lines printed, the same predict and n_jobs=2 CV.
APP_PY = '''\
"""examples/sklearn/main.go as a plain Python program (written by bench/run.py)."""
import multiprocessing
import sys


def main():
    import hello
    print("[MODULE] repr(hello) = %r" % (hello,))
    print("[VARS] a = %s" % (hello.a,))
    print("[FUNC] res = %s" % (hello.SayHello("xwj"),))
    import sklearn
    print("[IMPORT] sklearn version = %s" % (sklearn.__version__,))
    import model
    print("[PREDICT] %s" % (model.predict(),))
    print("[CV] %s" % (model.cv_scores(),))


def act_as_python_when_frozen():
    """PyInstaller only: loky starts its workers as `sys.executable -m MODULE ...` and its
    resource tracker as `sys.executable [flags] -c CODE`; a frozen program must do that
    itself, or every worker runs main() again. Nothing happens when not frozen."""
    if not getattr(sys, "frozen", False):
        return
    args = sys.argv[1:]
    while args and args[0] not in ("-m", "-c") and args[0].startswith("-"):
        args = args[2:] if args[0] in ("-W", "-X") else args[1:]
    if len(args) >= 2 and args[0] == "-c":
        sys.argv = ["-c", *args[2:]]
        exec(compile(args[1], "<string>", "exec"), {"__name__": "__main__"})
        sys.exit(0)
    if len(args) >= 2 and args[0] == "-m":
        import runpy
        sys.argv = [args[1], *args[2:]]
        runpy.run_module(args[1], run_name="__main__", alter_sys=True)
        sys.exit(0)


if __name__ == "__main__":
    act_as_python_when_frozen()
    multiprocessing.freeze_support()  # a no-op unless frozen
    main()
'''


def find_python37() -> Path:
    found = glob.glob(PYTHON37_GLOB)
    if not found:
        raise BenchError(
            f"no CPython 3.7 found ({PYTHON37_GLOB} matches nothing): the sklearn example and the PyInstaller "
            "baseline need it. Install one with `pyenv install 3.7.16` (PYTHON_CONFIGURE_OPTS=--enable-shared)."
        )
    return max((Path(p) for p in found), key=lambda p: int(p.parts[-3].rsplit(".", 1)[1]))


def ensure_venv(work: Path, python37: Path) -> Path:
    """A 3.7 venv with PyInstaller and scikit-learn (pinned); rebuilt only when the pins change."""
    venv = work / "py37-venv"
    stamp = venv / "bench-pins.txt"
    want = "\n".join([str(python37), *PINS]) + "\n"
    if not (stamp.exists() and stamp.read_text() == want):
        say(f"creating the Python 3.7 venv in {venv} ({' '.join(PINS)})")
        shutil.rmtree(venv, ignore_errors=True)
        run([python37, "-m", "venv", venv])
        run([venv / "bin" / "python", "-m", "pip", "install", "--disable-pip-version-check", *PINS])
        stamp.write_text(want)
    return venv / "bin" / "python3.7"


def write_pyapp(work: Path) -> Path:
    """The equivalent Python program: app.py plus the example's own hello.py and model.py."""
    app = work / "pyapp"
    app.mkdir(parents=True, exist_ok=True)
    for name in ("hello.py", "model.py"):
        shutil.copy2(EXAMPLE / name, app / name)
    if not (app / "app.py").exists() or (app / "app.py").read_text() != APP_PY:
        (app / "app.py").write_text(APP_PY)
    return app


def pyinstaller_build(venv_python: Path, app: Path, into: Path) -> tuple[float, Path]:
    """Build ``app`` with its work and dist folders in ``into`` (new, empty); return the
    seconds and the --onedir folder."""
    pyinstaller = venv_python.parent / "pyinstaller"
    argv: list[str | Path] = [
        pyinstaller,
        "--onedir",
        "--noconfirm",
        "--clean",
        "--name",
        APP_NAME,
        "--workpath",
        into / "build",
        "--distpath",
        into / "dist",
        "app.py",
    ]
    ran = run(argv, cwd=app)
    return ran.seconds, into / "dist" / APP_NAME


def check_pyinstaller_app(dist: Path, reference: str) -> dict[str, Any]:
    """Does PyInstaller's bundle run and print what the plain program prints? (sanity, not timed)"""
    try:
        ran = run([dist / APP_NAME], cwd=dist, check=False, timeout=180)
    except BenchError as exc:
        return {"ok": False, "error": str(exc)}
    same = ran.returncode == 0 and comparable(ran.stdout) == comparable(reference)
    return {"ok": same, "returncode": ran.returncode, "output": ran.stdout, "stderr_tail": ran.stderr[-2000:]}
