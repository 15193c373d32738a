"""The stacks the benchmark builds: each is a Go program gopack bundles and the equivalent
Python program PyInstaller freezes, with the interpreter and the pins of the PyInstaller side."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from _common import REPO

PYENV_VERSIONS = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"


@dataclass(frozen=True, kw_only=True)
class Stack:
    name: str  # what --stack calls it
    title: str  # the heading of its table
    source: Path  # the folder gopack bundles (copied for every build)
    recipe: str  # the recipe's file name in source
    binary: str  # the Go program's name: gopack's archive starts with it
    python: str  # the pyenv version (MAJOR.MINOR) of the PyInstaller side and the baseline
    pins: tuple[str, ...]  # installed into that venv, PyInstaller first
    requirements: Path | None  # installed into it too (the Go side's requirements file)
    app_py: str  # the equivalent Python program
    app_files: tuple[str, ...]  # files or folders of source copied next to app.py
    app_name: str  # PyInstaller's --name
    pyinstaller_args: tuple[str, ...]  # more PyInstaller options
    startup_label: str  # what the startup row times
    rebuild: bool  # time the rebuild in a second checkout, main.go edited, too
    size_target: str  # gopack / PyInstaller, both repacked with tar -czf
    cold_wall_target: str  # "" where the wall time is information only
    cold_cpu_target: str
    compression: bool  # time the compressors on this bundle too
    # Build it once more with `prune.imports: true` (its recipe plus `prune: {imports: true}`): the
    # pruned archive's size against PyInstaller's (this target), the floor of pruning, its verify.
    pruned_size: bool = False
    pruned_size_target: str = ""
    notes: tuple[str, ...] = ()  # printed under the stack's table

    @property
    def site_packages(self) -> str:
        """Where the bundle keeps the installed distributions."""
        return f"python/lib/python{self.python}/site-packages"

    @property
    def python_glob(self) -> str:
        return str(PYENV_VERSIONS / f"{self.python}.*" / "bin" / f"python{self.python}")


# Both programs: loky (scikit-learn's n_jobs) starts its workers as
# `sys.executable -m MODULE ...` and its resource tracker as `sys.executable [flags] -c CODE`;
# a frozen program must do that itself, or every worker runs main() again.
_FROZEN_SHIM = '''

def act_as_python_when_frozen():
    """PyInstaller only: run `-m MODULE` and `-c CODE` as python would. Nothing happens when not frozen."""
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
    sys.exit(main())
'''

# The sklearn example's main.go, as a plain Python program: the same imports in
# the same order, the same lines printed, the same predict and n_jobs=2 CV.
SKLEARN_APP_PY = (
    '''\
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
'''
    + _FROZEN_SHIM
)

# tests/corpus/main.go, as a plain Python program: it asks corpus_snippets which
# snippets have their package installed, imports each in turn, calls run(tmp) in a
# fresh temporary folder and prints the same lines, flushed as Go prints them.
CORPUS_APP_PY = (
    '''\
"""tests/corpus/main.go as a plain Python program (written by bench/run.py)."""
import importlib
import multiprocessing
import shutil
import sys
import tempfile
import traceback


def main():
    import corpus_snippets
    names = corpus_snippets.installed().split()
    failed = 0
    for name in names:
        print("RUN %s" % name, flush=True)
        tmp = tempfile.mkdtemp(prefix="corpus-" + name + "-")
        try:
            result = importlib.import_module("corpus_snippets." + name).run(tmp)
            print("PASS %s: %s" % (name, result), flush=True)
        except Exception:
            traceback.print_exc()
            print("FAIL %s" % name, flush=True)
            failed += 1
        shutil.rmtree(tmp, ignore_errors=True)
    print("corpus: %d passed, %d failed" % (len(names) - failed, failed), flush=True)
    return 1 if failed else 0
'''
    + _FROZEN_SHIM
)

SKLEARN = Stack(
    name="sklearn",
    title="examples/sklearn (Python 3.7, scikit-learn 1.0.2)",
    source=REPO / "examples" / "sklearn",
    recipe="recipe.yaml",
    binary="sklearn-demo",
    python="3.7",
    # PyInstaller 5.13.2 is the last release that supports Python 3.7 (6.0 dropped it).
    pins=("pyinstaller==5.13.2", "scikit-learn==1.0.2"),
    requirements=None,
    app_py=SKLEARN_APP_PY,
    app_files=("hello.py", "model.py"),
    app_name="sklearn-app",
    pyinstaller_args=(),
    startup_label="time to first prediction (whole run, read-only bundle)",
    rebuild=True,
    size_target="<= 0.8",
    cold_wall_target="<= 0.6",
    cold_cpu_target="<= 0.6",
    compression=True,
)

# What PyInstaller must be told for the corpus program to pass: the snippets are imported
# by name at run time (--collect-submodules runs in a subprocess that cannot see them:
# name each), and five packages need files or modules that its analysis and hooks miss
# (lightgbm's VERSION.txt, matplotlib's SVG backend, skimage's and statsmodels' data
# files, xgboost's libxgboost.so).
CORPUS_PYINSTALLER_ARGS = (
    *(
        a
        for p in sorted((REPO / "tests" / "corpus" / "corpus_snippets").glob("*_.py"))
        for a in ("--hidden-import", f"corpus_snippets.{p.stem}")
    ),
    *("--collect-all", "lightgbm"),
    *("--hidden-import", "matplotlib.backends.backend_svg"),
    *("--collect-data", "skimage"),
    *("--collect-data", "statsmodels"),
    *("--collect-all", "xgboost"),
)

CORPUS = Stack(
    name="corpus",
    title="tests/corpus on Python 3.12 (75 distributions, 32 snippets)",
    source=REPO / "tests" / "corpus",
    recipe="recipe-3.12.yaml",
    binary="corpus",
    python="3.12",
    # The newest PyInstaller (and its hooks) when this was written; 6.x supports 3.12.
    pins=("pyinstaller==6.22.3", "pyinstaller-hooks-contrib==2026.9"),
    requirements=REPO / "tests" / "corpus" / "requirements-3.12.txt",
    app_py=CORPUS_APP_PY,
    app_files=("corpus_snippets",),
    app_name="corpus-app",
    pyinstaller_args=CORPUS_PYINSTALLER_ARGS,
    startup_label="time to first output (`RUN astropy_`, read-only bundle)",
    rebuild=True,
    size_target="<= 1.0",  # without pruning by imports (issue 25)
    cold_wall_target="",
    cold_cpu_target="<= 1.0",
    compression=False,
    pruned_size=True,
    pruned_size_target="<= 0.8",  # with prune.imports (issue 25)
    notes=(
        (
            "The pruned rows: the same program built once more, not timed, with `prune.imports: true` and the cache the "
            "last cold build filled (the size does not depend on it). The floor is that pruned bundle minus every file "
            "of its site-packages that a run of the program (all 32 snippets, read-only, under `strace -f`) did not open: "
            "what no pruning can beat, since it must keep at least what the snippets run. The code-only floor deletes only "
            "the modules and native libraries that run did not open, as pruning by imports decides on those and keeps a "
            "package's data while any of its modules stays: what pruning by imports alone can reach at best."
        ),
        (
            "PyInstaller's bundle is built with the "
            "options bench/README.md lists, without which five snippets fail in it; results.json says whether it passed."
        ),
    ),
)


STACKS = {s.name: s for s in (SKLEARN, CORPUS)}
