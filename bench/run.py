#!/usr/bin/env python3
"""Benchmark gopack on examples/sklearn against PyInstaller, CPython, pigz and zstd.

Run with the project's venv:  .venv/bin/python bench/run.py [--runs N] [--work-dir DIR]

Everything it builds lives in the work directory (default /tmp/gopack-bench);
the results go to bench/results.md and bench/results.json. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import glob
import json
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
EXAMPLE = REPO / "examples" / "sklearn"
GOPACK = REPO / ".venv" / "bin" / "gopack"
GOPACK_PYTHON = REPO / ".venv" / "bin" / "python"
PYTHON37_GLOB = "/root/.pyenv/versions/3.7.*/bin/python3.7"
# PyInstaller 5.13.2 is the last release that supports Python 3.7 (6.0 dropped it).
PINS = ("pyinstaller==5.13.2", "scikit-learn==1.0.2")
APP_NAME = "sklearn-app"
BINARY = "sklearn-demo"
MB = 1e6

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


class BenchError(Exception):
    """A benchmark step could not run; the message says which step and why."""


# --------------------------------------------------------------------------- processes


@dataclass(frozen=True)
class Ran:
    argv: list[str]
    returncode: int
    seconds: float
    stdout: str
    stderr: str


def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    stdout: Path | None = None,
    check: bool = True,
    timeout: float | None = 3600,
) -> Ran:
    """Run a whole process and time it with perf_counter (stdout to a file if given)."""
    args = [os.fspath(a) for a in argv]
    # No PYTHON* variables (PYTHONDONTWRITEBYTECODE would keep the .pyc cache cold).
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    full_env.update(env or {})
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(stdout.open("wb")) if stdout else subprocess.PIPE
        try:
            start = time.perf_counter()
            # Its own process group, so a timeout ends the children it started too.
            proc = subprocess.Popen(args, cwd=cwd, env=full_env, stdout=out, stderr=subprocess.PIPE, start_new_session=True)
            try:
                out_bytes, err_bytes = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
                raise BenchError(f"{shlex.join(args)} did not finish within {timeout} s (killed its process group)") from None
            seconds = time.perf_counter() - start
        except FileNotFoundError as exc:
            raise BenchError(f"cannot run {args[0]}: {exc.strerror}") from None
    ran = Ran(args, proc.returncode, seconds, _text(out_bytes), _text(err_bytes))
    if check and ran.returncode != 0:
        output = (ran.stdout + "\n" + ran.stderr).strip()[-4000:]
        raise BenchError(f"{shlex.join(args)} failed (exit code {ran.returncode}):\n{output}")
    return ran


def _text(data: bytes | None) -> str:
    return data.decode("utf-8", "replace") if data else ""


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def fresh_dir(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


# --------------------------------------------------------------------------- setup


def ensure_packages() -> None:
    """apt-get install pigz and zstd if missing (apt-get update only then)."""
    missing = [name for name in ("pigz", "zstd") if shutil.which(name) is None]
    if not missing:
        return
    if shutil.which("apt-get") is None:
        raise BenchError(f"{', '.join(missing)} missing and there is no apt-get; install them by hand")
    say(f"installing {' '.join(missing)} with apt-get")
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update"], env=env)
    run(["apt-get", "install", "-y", *missing], env=env)


def check_host() -> None:
    if os.geteuid() != 0:
        raise BenchError("run as root: the read-only startup row mounts the bundle read-only in a private mount namespace (unshare -m)")
    for tool in ("go", "tar", "unshare", "mount"):
        if shutil.which(tool) is None:
            raise BenchError(f"{tool} is not on PATH")
    if not GOPACK.exists():
        raise BenchError(f"{GOPACK} is missing; run `make setup` in {REPO} first")


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


def fresh_example(work: Path) -> Path:
    """A private copy of examples/sklearn whose main.go the rebuild row can edit."""
    src = work / "src-sklearn"
    shutil.rmtree(src, ignore_errors=True)
    shutil.copytree(EXAMPLE, src, ignore=shutil.ignore_patterns("dist", "__pycache__"))
    return src


# --------------------------------------------------------------------------- builds


@dataclass
class GopackBuild:
    seconds: float
    archive: Path
    stages: dict[str, float]


def gopack_build(src: Path, cache: Path, out: Path) -> GopackBuild:
    fresh_dir(out)
    ran = run([GOPACK, "bundle", src / "recipe.yaml", "-o", out, "--json"], env={"GOPACK_CACHE_DIR": str(cache)})
    archives = sorted(p for p in out.iterdir() if p.name.startswith(f"{BINARY}-"))
    if len(archives) != 1:
        raise BenchError(f"gopack bundle wrote {[p.name for p in archives]} to {out}, expected one archive")
    return GopackBuild(ran.seconds, archives[0], _stages(ran.stdout))


def _stages(report: str) -> dict[str, float]:
    try:
        return dict(json.loads(report).get("stages", {}))
    except (ValueError, AttributeError):
        return {}


def touch_go(src: Path, tag: str) -> None:
    """A trivial change to main.go: Go must recompile and relink the program."""
    with (src / "main.go").open("a") as f:
        f.write(f"\n// bench: rebuild {tag}\n")


def pyinstaller_build(venv_python: Path, app: Path) -> float:
    for leftover in ("build", "dist"):
        shutil.rmtree(app / leftover, ignore_errors=True)
    pyinstaller = venv_python.parent / "pyinstaller"
    ran = run([pyinstaller, "--onedir", "--noconfirm", "--clean", "--name", APP_NAME, "app.py"], cwd=app)
    return ran.seconds


def warm_up_gopack(work: Path) -> None:
    """One throwaway build so uv's cache holds the wheels and Go's module cache the modules."""
    say("warm-up gopack build (fills uv's cache; not timed)")
    cache = Path(tempfile.mkdtemp(prefix="warmup-cache-", dir=work))
    try:
        gopack_build(fresh_example(work), cache, work / "out-warmup")
    finally:
        shutil.rmtree(cache, ignore_errors=True)


@dataclass
class Builds:
    cold: list[GopackBuild] = field(default_factory=list)
    rebuild: list[GopackBuild] = field(default_factory=list)
    pyinstaller: list[float] = field(default_factory=list)


def measure_builds(work: Path, venv_python: Path, app: Path, runs: int) -> Builds:
    """Interleaved: gopack cold (empty cache), gopack rebuild (main.go edited), PyInstaller."""
    builds = Builds()
    for i in range(runs):
        src = fresh_example(work)
        cache = Path(tempfile.mkdtemp(prefix="gopack-cache-", dir=work))
        try:
            say(f"build run {i + 1}/{runs}: gopack cold")
            builds.cold.append(gopack_build(src, cache, work / "out-cold"))
            touch_go(src, f"{i}-{time.time_ns()}")
            say(f"build run {i + 1}/{runs}: gopack rebuild")
            builds.rebuild.append(gopack_build(src, cache, work / "out-rebuild"))
        finally:
            shutil.rmtree(cache, ignore_errors=True)
        say(f"build run {i + 1}/{runs}: pyinstaller")
        builds.pyinstaller.append(pyinstaller_build(venv_python, app))
        say(f"  cold {builds.cold[-1].seconds:.1f} s, rebuild {builds.rebuild[-1].seconds:.1f} s, pyinstaller {builds.pyinstaller[-1]:.1f} s")
    return builds


# --------------------------------------------------------------------------- sizes


def extract(archive: Path, dest: Path) -> Path:
    """Extract gopack's archive; return the bundle directory (its one top folder)."""
    fresh_dir(dest)
    run(["tar", "-xf", archive, "-C", dest])
    tops = list(dest.iterdir())
    if len(tops) != 1 or not tops[0].is_dir():
        raise BenchError(f"{archive} should hold one top folder, it holds {[p.name for p in tops]}")
    return tops[0]


def tree_bytes(root: Path) -> int:
    return sum(p.lstat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def tar_czf(directory: Path, dest: Path) -> int:
    dest.parent.mkdir(parents=True, exist_ok=True)
    run(["tar", "-czf", dest, "-C", directory.parent, directory.name])
    return dest.stat().st_size


def measure_sizes(work: Path, archive: Path, bundle: Path, app: Path) -> dict[str, int]:
    dist = app / "dist" / APP_NAME
    return {
        "gopack_archive": archive.stat().st_size,
        "gopack_tar_czf": tar_czf(bundle, work / "sizes" / "gopack.tar.gz"),
        "pyinstaller_tar_czf": tar_czf(dist, work / "sizes" / "pyinstaller.tar.gz"),
        "gopack_tree": tree_bytes(bundle),
        "pyinstaller_tree": tree_bytes(dist),
    }


# --------------------------------------------------------------------------- startup

_READ_ONLY = 'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" "$1" && shift && exec "$@"'


def read_only_argv(bundle: Path, *command: str | Path) -> list[str | Path]:
    """Run command with the bundle directory mounted read-only in a private mount namespace."""
    return ["unshare", "-m", "sh", "-c", _READ_ONLY, "sh", bundle, *command]


def check_read_only(bundle: Path) -> None:
    probe = run(read_only_argv(bundle, "touch", bundle / ".bench-write-probe"), check=False)
    if probe.returncode == 0:
        (bundle / ".bench-write-probe").unlink(missing_ok=True)
        raise BenchError(f"could not mount {bundle} read-only: a write inside it succeeded")


def comparable(stdout: str) -> list[str]:
    """The program's lines, minus [MODULE] (it names hello.py's path, which differs)."""
    return [line for line in stdout.splitlines() if not line.startswith("[MODULE]")]


def measure_startup(work: Path, bundle: Path, venv_python: Path, app: Path, runs: int) -> dict[str, Any]:
    """Interleaved A B A B: the read-only bundle vs python3.7 app.py, after one untimed run of each."""
    cwd = fresh_dir(work / "run-cwd")
    gopack_argv = read_only_argv(bundle, bundle / "bin" / BINARY)
    python_argv = [venv_python, app / "app.py"]
    check_read_only(bundle)
    say("startup warm-up (python: bytecode cache; both: page cache)")
    first_gopack, first_python = run(gopack_argv, cwd=cwd), run(python_argv, cwd=cwd)
    same = comparable(first_gopack.stdout) == comparable(first_python.stdout)
    times: dict[str, list[float]] = {"gopack": [], "python": []}
    for i in range(runs):
        times["gopack"].append(run(gopack_argv, cwd=cwd).seconds)
        times["python"].append(run(python_argv, cwd=cwd).seconds)
        say(f"startup run {i + 1}/{runs}: gopack {times['gopack'][-1]:.2f} s, python {times['python'][-1]:.2f} s")
    return {
        "runs": times,
        "median": {k: median(v) for k, v in times.items()},
        "same_output": same,
        "gopack_output": first_gopack.stdout,
        "python_output": first_python.stdout,
    }


def check_pyinstaller_app(app: Path, reference: str) -> dict[str, Any]:
    """Does PyInstaller's bundle run and print what the plain program prints? (sanity, not timed)"""
    try:
        ran = run([app / "dist" / APP_NAME / APP_NAME], cwd=app, check=False, timeout=180)
    except BenchError as exc:
        return {"ok": False, "error": str(exc)}
    same = ran.returncode == 0 and comparable(ran.stdout) == comparable(reference)
    return {"ok": same, "returncode": ran.returncode, "output": ran.stdout, "stderr_tail": ran.stderr[-2000:]}


# --------------------------------------------------------------------------- compression


@dataclass(frozen=True)
class Compressor:
    name: str
    argv: list[str | Path]
    dest: Path
    to_stdout: bool  # the tool writes to stdout (we redirect it to dest)
    decompress: str  # tool that checks the output round-trips


def gopack_compress_argv(src: Path, dst: Path, fmt: str, level: int) -> list[str | Path]:
    code = (
        "from gopack.archive import compress_file; from pathlib import Path; "
        f"compress_file(Path({str(src)!r}), Path({str(dst)!r}), fmt={fmt!r}, level={level})"
    )
    return [GOPACK_PYTHON, "-c", code]


def gopack_compressor_missing() -> str | None:
    """None if gopack.archive.compress_file imports, else why not."""
    ran = run([GOPACK_PYTHON, "-c", "from gopack.archive import compress_file"], check=False)
    if ran.returncode == 0:
        return None
    lines = ran.stderr.strip().splitlines()
    return lines[-1] if lines else f"exit code {ran.returncode}"


def compressors(out: Path, src: Path) -> dict[str, Compressor]:
    return {
        "pigz": Compressor("pigz", ["pigz", "-6", "-p", "2", "-c", src], out / "pigz.tar.gz", True, "pigz"),
        "gopack_gz": Compressor("gopack_gz", gopack_compress_argv(src, out / "gopack.tar.gz", "tar.gz", 6), out / "gopack.tar.gz", False, "pigz"),
        "zstd": Compressor("zstd", ["zstd", "-T0", "-3", "-c", src], out / "zstd.tar.zst", True, "zstd"),
        "gopack_zst": Compressor("gopack_zst", gopack_compress_argv(src, out / "gopack.tar.zst", "tar.zst", 3), out / "gopack.tar.zst", False, "zstd"),
    }


def round_trips(c: Compressor, src: Path) -> bool:
    check = run(["sh", "-c", '"$1" -dc "$2" | cmp -s - "$3"', "sh", c.decompress, c.dest, src], check=False)
    return check.returncode == 0


def measure_compression(work: Path, bundle: Path, runs: int) -> dict[str, Any]:
    """One uncompressed tar of the bundle, compressed by each tool in turn (interleaved)."""
    out = fresh_dir(work / "compress")
    src = out / "bundle.tar"
    run(["tar", "-cf", src, "-C", bundle.parent, bundle.name])
    missing = gopack_compressor_missing()
    chosen = {k: c for k, c in compressors(out, src).items() if missing is None or not k.startswith("gopack")}
    times: dict[str, list[float]] = {k: [] for k in chosen}
    errors: dict[str, str] = {}
    for i in range(runs):
        for key, c in chosen.items():
            if key in errors:
                continue
            c.dest.unlink(missing_ok=True)
            ran = run(c.argv, stdout=c.dest if c.to_stdout else None, check=False)
            if ran.returncode != 0:
                errors[key] = f"exit code {ran.returncode}: {ran.stderr.strip()[-500:]}"
                continue
            times[key].append(ran.seconds)
        say("compression run {}/{}: {}".format(i + 1, runs, ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items() if v)))
    results: dict[str, Any] = {}
    for key, c in chosen.items():
        if key in errors:
            results[key] = {"error": errors[key]}
            continue
        seconds = median(times[key])
        results[key] = {
            "runs": times[key],
            "median_s": seconds,
            "mb_per_s": src.stat().st_size / MB / seconds,
            "output_bytes": c.dest.stat().st_size,
            "round_trips": round_trips(c, src),
        }
    return {"input_bytes": src.stat().st_size, "gopack_missing": missing, "results": results}


# --------------------------------------------------------------------------- report


@dataclass
class Row:
    metric: str
    unit: str
    gopack: float | None
    alternative: float | None
    alt_name: str
    target: str  # "<= 0.8", ">= 0.9" or "" (information only)
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.gopack is None or not self.alternative:
            return None
        return self.gopack / self.alternative

    @property
    def met(self) -> bool | None:
        if not self.target:
            return None
        if self.note.startswith("FAILED"):
            return False
        if self.ratio is None:
            return None
        op, value = self.target.split()
        return self.ratio <= float(value) if op == "<=" else self.ratio >= float(value)


def size_rows(sizes: dict[str, int], pyinstaller_check: dict[str, Any]) -> list[Row]:
    note = "" if pyinstaller_check["ok"] else "PyInstaller's app did not print the same output; see results.json"
    return [
        Row("archive size, `tar -czf` of the extracted dir", "MB", sizes["gopack_tar_czf"] / MB, sizes["pyinstaller_tar_czf"] / MB,
            "PyInstaller --onedir", "<= 0.8", note),
        Row("archive size, gopack's own archive", "MB", sizes["gopack_archive"] / MB, sizes["pyinstaller_tar_czf"] / MB,
            "PyInstaller --onedir + `tar -czf`", ""),
    ]


def build_rows(builds: Builds) -> list[Row]:
    cold = median([b.seconds for b in builds.cold])
    return [
        Row("cold build (empty gopack cache, warm uv cache)", "s", cold, median(builds.pyinstaller), "PyInstaller --onedir --clean", "<= 0.6"),
        Row("rebuild, main.go edited, Python side unchanged", "s", median([b.seconds for b in builds.rebuild]), cold, "gopack cold build", "<= 0.2"),
    ]


def startup_row(startup: dict[str, Any]) -> Row:
    note = "" if startup["same_output"] else "FAILED: the two programs printed different lines"
    return Row("time to first prediction (whole run, read-only bundle)", "s", startup["median"]["gopack"], startup["median"]["python"],
               "python3.7 app.py, venv, warm .pyc", "<= 1.0", note)


def compression_rows(comp: dict[str, Any]) -> list[Row]:
    rows = []
    for label, ours, theirs, alt in (("gzip -6", "gopack_gz", "pigz", "pigz -6 -p 2"), ("zstd -3", "gopack_zst", "zstd", "zstd -T0 -3")):
        res = comp["results"]
        tool = res[theirs].get("mb_per_s")
        mine = res.get(ours, {})
        if comp["gopack_missing"]:
            note = f"not available: {comp['gopack_missing']}"
        elif "error" in mine:
            note = f"FAILED: {mine['error'][:200]}"
        elif not mine["round_trips"]:
            note = "FAILED: output does not decompress to the input"
        else:
            note = ""
        rows.append(Row(f"compression throughput, {label} ({comp['input_bytes'] / MB:.0f} MB tar)", "MB/s", mine.get("mb_per_s"), tool, alt, ">= 0.9", note))
    return rows


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    digits = 2 if unit == "s" else 1
    return f"{value:.{digits}f} {unit}"


def markdown(rows: list[Row], machine: dict[str, Any], config: dict[str, Any]) -> str:
    lines = [
        "# gopack benchmark (examples/sklearn)",
        "",
        f"{machine['date']} · gopack {machine['gopack_version']} ({machine['git']}) · {machine['nproc']} CPUs ({machine['cpu']}) · "
        f"load average {machine['loadavg_at_start'][0]:.1f} at start, {machine.get('loadavg_at_end', [0.0])[0]:.1f} at end · "
        f"{config['build_runs']} build runs, {config['runs']} startup/compression runs, medians",
        "",
        "| metric | gopack | alternative | ratio | target | met? |",
        "|---|---|---|---|---|---|",
    ]
    notes: list[str] = []
    for r in rows:
        met = {True: "yes", False: "**no**", None: "—"}[r.met]
        ratio = "n/a" if r.ratio is None else f"{r.ratio:.2f}"
        gopack = fmt(r.gopack, r.unit)
        if r.note:
            notes.append(r.note)
            gopack += f" [{len(notes)}]"
        lines.append(f"| {r.metric} | {gopack} | {fmt(r.alternative, r.unit)} ({r.alt_name}) | {ratio} | {r.target or '—'} | {met} |")
    lines += ["", *(f"[{i}] {note}" for i, note in enumerate(notes, 1))] if notes else []
    return "\n".join(lines) + "\n"


def tool_version(argv: Sequence[str | Path]) -> str:
    try:
        ran = run(argv, check=False, timeout=60)
    except BenchError as exc:
        return str(exc)
    text = (ran.stdout or ran.stderr).strip()
    return text.splitlines()[0] if text else f"exit code {ran.returncode}"


def machine_info(python37: Path, venv_python: Path) -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), platform.machine())
    mem = next((line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")), "0")
    dirty = run(["git", "-C", REPO, "status", "--porcelain", "--", "gopack"], check=False).stdout.strip()
    commit = run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], check=False).stdout.strip()
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "mem_gb": round(int(mem) / 1024 / 1024, 1),
        "kernel": platform.release(),
        "loadavg_at_start": os.getloadavg(),
        "gopack_version": re.sub(r"^gopack\s+", "", tool_version([GOPACK, "--version"])),
        "git": commit + (" + uncommitted changes in gopack/" if dirty else ""),
        "go": tool_version(["go", "version"]),
        "go_cache": tool_version(["go", "env", "GOCACHE"]),
        "python37": f"{python37} ({tool_version([python37, '--version'])})",
        "pyinstaller": tool_version([venv_python.parent / "pyinstaller", "--version"]),
        "pigz": tool_version(["pigz", "--version"]),
        "zstd": tool_version(["zstd", "--version"]),
        "tar": tool_version(["tar", "--version"]),
    }


def write_results(rows: list[Row], document: dict[str, Any], out_dir: Path) -> str:
    text = markdown(rows, document["machine"], document["config"])
    (out_dir / "results.md").write_text(text)
    document["rows"] = [{**asdict(r), "ratio": r.ratio, "met": r.met} for r in rows]
    (out_dir / "results.json").write_text(json.dumps(document, indent=1, default=str) + "\n")
    return text


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, help="runs of every timed row (default: 3 for builds, 7 for startup and compression)")
    parser.add_argument("--build-runs", type=int, help="runs of the build rows (overrides --runs for them)")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/gopack-bench"), help="where everything is built (default /tmp/gopack-bench)")
    parser.add_argument("--out-dir", type=Path, default=BENCH, help="where results.md and results.json go (default bench/)")
    args = parser.parse_args(argv)
    args.build_runs = args.build_runs or args.runs or 3
    args.runs = args.runs or 7
    if args.runs < 1 or args.build_runs < 1:
        parser.error("run counts must be at least 1")
    return args


def bench(args: argparse.Namespace) -> str:
    check_host()
    ensure_packages()
    work = args.work_dir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    python37 = find_python37()
    venv_python = ensure_venv(work, python37)
    app = write_pyapp(work)
    machine = machine_info(python37, venv_python)
    say(f"gopack {machine['gopack_version']} ({machine['git']}), work dir {work}")
    warm_up_gopack(work)

    builds = measure_builds(work, venv_python, app, args.build_runs)
    bundle = extract(builds.cold[-1].archive, work / "extracted")
    sizes = measure_sizes(work, builds.cold[-1].archive, bundle, app)
    startup = measure_startup(work, bundle, venv_python, app, args.runs)
    pyinstaller_check = check_pyinstaller_app(app, startup["python_output"])
    compression = measure_compression(work, bundle, args.runs)

    machine["loadavg_at_end"] = os.getloadavg()
    rows = [*size_rows(sizes, pyinstaller_check), *build_rows(builds), startup_row(startup), *compression_rows(compression)]
    document = {
        "schema_version": 1,
        "machine": machine,
        "config": {"build_runs": args.build_runs, "runs": args.runs, "work_dir": str(work), "example": str(EXAMPLE), "pins": list(PINS)},
        "raw": {
            "sizes_bytes": sizes,
            "builds": {
                "gopack_cold_s": [b.seconds for b in builds.cold],
                "gopack_rebuild_s": [b.seconds for b in builds.rebuild],
                "pyinstaller_s": builds.pyinstaller,
                "gopack_cold_stages": [b.stages for b in builds.cold],
                "gopack_rebuild_stages": [b.stages for b in builds.rebuild],
                "median": {
                    "gopack_cold_s": median([b.seconds for b in builds.cold]),
                    "gopack_rebuild_s": median([b.seconds for b in builds.rebuild]),
                    "pyinstaller_s": median(builds.pyinstaller),
                },
            },
            "startup": startup,
            "pyinstaller_app": pyinstaller_check,
            "compression": compression,
        },
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    return write_results(rows, document, args.out_dir)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        print(bench(args), end="")
    except BenchError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
