#!/usr/bin/env python3
"""Start-up of a one-file executable (output.format: exe) against its extracted bundle.

Run with the project's venv:  .venv/bin/python bench/exe.py [--runs N] [--work-dir DIR] [--example hello ...]

For each example (examples/hello: the interpreter alone; examples/sklearn: scikit-learn
and two joblib workers), `gopack bundle --format exe` makes the executable; then whole
processes are timed, each with its output checked:

- first run: the executable with an empty extraction folder (GOPACK_EXTRACT_DIR), so
  it extracts and checks every file's sha256, then runs the program;
- later run: the executable again, the folder made (it checks the completion marker and
  every file's size, then execs the program);
- extracted: the program in that folder run directly, as a tarball's user would.

Later and extracted runs alternate, so that the machine's load falls on both alike.
Medians (wall and CPU time) go to bench/exe-results.md, the raw wall times too; with
GOPACK_EXE_LOG the later runs also say how long the launcher's warm check took.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from _common import BENCH, GOPACK, REPO, BenchError, fresh_dir, median, run, say

DEFAULT_RUNS = {"hello": 31, "sklearn": 9}
EXAMPLES = {
    "hello": ("[FUNC] res = xwjhaha",),
    "sklearn": ("[PREDICT]", "[CV]"),
}


def build(example: str, out: Path) -> tuple[Path, dict[str, object]]:
    """The example as one executable, and gopack inspect's report of it."""
    ran = run([GOPACK, "bundle", "--format", "exe", "--json", "-o", out, REPO / "examples" / example / "recipe.yaml"], timeout=3600)
    program = Path(json.loads(ran.stdout)["archive"])
    inspected = json.loads(run([GOPACK, "inspect", "--json", program]).stdout)
    return program, inspected


@dataclass(frozen=True)
class Timing:
    wall: float  # seconds, the whole process
    cpu: float  # user + system seconds of it and every child it waited for
    check_ms: float | None  # the launcher's warm check, as it says with GOPACK_EXE_LOG


def timed(argv: list[str | Path], env: dict[str, str], expect: tuple[str, ...]) -> Timing:
    """One whole process, its output checked: wall time, and CPU time as the growth of
    RUSAGE_CHILDREN (communicate() reaps it, and it reaps the workers it started)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "GOPACK_EXE"))}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen([os.fspath(a) for a in argv], env={**full_env, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(timeout=600)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    stdout, stderr = out.decode(errors="replace"), err.decode(errors="replace")
    missing = [e for e in expect if e not in stdout]
    if proc.returncode != 0 or missing:
        raise BenchError(f"{argv[0]} exited with {proc.returncode}, missing {missing}:\n{stdout}\n{stderr}")
    found = re.search(r"checked by size in ([0-9.]+) ms", stderr)
    return Timing(
        wall=wall,
        cpu=(after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
        check_ms=float(found.group(1)) if found else None,
    )


def measure(example: str, program: Path, work: Path, runs: int) -> dict[str, list[Timing]]:
    expect = EXAMPLES[example]
    first_dir = work / f"{example}-first"
    first = []
    for i in range(runs):
        fresh_dir(first_dir)
        first.append(timed([program], {"GOPACK_EXTRACT_DIR": str(first_dir)}, expect))
        say(f"{example}: first run {i + 1}/{runs}: {first[-1].wall:.3f} s")
    warm_dir = fresh_dir(work / f"{example}-warm")
    env = {"GOPACK_EXTRACT_DIR": str(warm_dir)}
    folder = Path(run([program], env={**env, "GOPACK_EXE": "extract"}).stdout.strip())
    binary = folder / json.loads((folder / "gopack.json").read_text())["go"]["binary"]
    later: list[Timing] = []
    direct: list[Timing] = []
    for i in range(runs + 1):  # the first pair warms the page cache and is dropped
        pair = (timed([program], {**env, "GOPACK_EXE_LOG": "1"}, expect), timed([binary], {}, expect))
        if i:
            later.append(pair[0])
            direct.append(pair[1])
    say(f"{example}: later {median([t.wall for t in later]):.3f} s, extracted {median([t.wall for t in direct]):.3f} s (medians of {runs})")
    shutil.rmtree(first_dir, ignore_errors=True)
    return {"first": first, "later": later, "extracted": direct}


def _diff(later: float, direct: float) -> str:
    return f"{(later - direct) * 1000:+.1f} ms ({(later / direct - 1) * 100:+.1f}%)"


def report(results: dict[str, dict[str, object]], runs: dict[str, int]) -> str:
    load = os.getloadavg()
    lines = [
        "# One executable: start-up",
        "",
        (
            f"`bench/exe.py`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, "
            f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at the end (a machine shared with other jobs: "
            "the wall times are noisy, the CPU times much less)."
        ),
        "Whole processes, medians of the runs (" + ", ".join(f"{e}: {n}" for e, n in runs.items()) + "); the later and extracted runs "
        "alternate. CPU: user + system time of the process and the children it waited for (joblib's workers).",
        "",
        (
            "| example | executable (launcher) | files | first run | later run | extracted bundle | later vs extracted | "
            "CPU later / extracted | CPU later vs extracted | launcher's warm check |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for example, r in results.items():
        t: dict[str, list[Timing]] = r["times"]  # type: ignore[assignment]
        wall = {k: median([x.wall for x in v]) for k, v in t.items()}
        cpu = {k: median([x.cpu for x in v]) for k, v in t.items()}
        check = median([x.check_ms for x in t["later"] if x.check_ms is not None])
        lines.append(
            f"| {example} | {r['size'] / 1e6:.1f} MB ({r['launcher'] / 1e6:.2f} MB) | {r['files']} | "  # type: ignore[operator]
            f"{wall['first']:.3f} s | {wall['later']:.3f} s | {wall['extracted']:.3f} s | {_diff(wall['later'], wall['extracted'])} | "
            f"{cpu['later']:.3f} s / {cpu['extracted']:.3f} s | {_diff(cpu['later'], cpu['extracted'])} | {check:.1f} ms |"
        )
    lines += ["", "Spread (standard deviation) and raw wall times in seconds:", ""]
    for example, r in results.items():
        t = r["times"]  # type: ignore[assignment]
        for kind, values in t.items():
            walls = [x.wall for x in values]
            spread = statistics.stdev(walls) if len(walls) > 1 else 0.0
            lines.append(f"- {example} {kind}: sd {spread * 1000:.1f} ms; " + ", ".join(f"{v:.3f}" for v in walls))
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, help="runs of each kind (default: 31 for hello, 9 for sklearn)")
    parser.add_argument("--work-dir", type=Path, default=Path("/var/tmp/gopack-bench-exe"))
    parser.add_argument("--example", action="append", choices=sorted(EXAMPLES), help="default: all")
    parser.add_argument("--out", type=Path, default=BENCH / "exe-results.md")
    args = parser.parse_args()
    try:
        work = fresh_dir(args.work_dir)
        results: dict[str, dict[str, object]] = {}
        runs: dict[str, int] = {}
        for example in args.example or sorted(EXAMPLES):
            say(f"{example}: gopack bundle --format exe")
            program, inspected = build(example, work / "dist")
            runs[example] = args.runs or DEFAULT_RUNS[example]
            times = measure(example, program, work, runs[example])
            one = inspected["executable"]
            assert isinstance(one, dict)
            results[example] = {
                "size": program.stat().st_size,
                "launcher": one["launcher_size"],
                "files": inspected["size"]["files"],  # type: ignore[index]
                "times": times,
            }
        text = report(results, runs)
        args.out.write_text(text)
        print(text)
        shutil.rmtree(work, ignore_errors=True)
    except BenchError as exc:
        print(f"bench/exe.py: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
