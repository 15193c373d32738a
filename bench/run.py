#!/usr/bin/env python3
"""Benchmark gopack against PyInstaller, CPython, pigz and zstd on two stacks: examples/sklearn
(Python 3.7) and the package corpus (tests/corpus, Python 3.12, 75 distributions).

Run with the project's venv:  .venv/bin/python bench/run.py [--stack NAME] [--runs N] [--work-dir DIR]

Everything it builds lives in the work directory (default /tmp/gopack-bench);
the results go to bench/results.md and bench/results.json. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from _builds import clear_runs, measure_builds, warm_up_gopack
from _common import BENCH, BenchError, adopt_orphans, median, say
from _load import LoadLog
from _measure import extract, measure_compression, measure_sizes, measure_startup
from _pruned import measure_pruned
from _pyinstaller import check_pyinstaller_app, ensure_venv, find_python, write_pyapp
from _report import (
    Row,
    build_rows,
    compression_rows,
    cpu_steps,
    machine_info,
    pruned_rows,
    size_rows,
    stack_document,
    startup_rows,
    write_results,
)
from _setup import check_host, ensure_packages
from _stacks import STACKS, Stack

# Runs of each series when not given: the corpus's builds take minutes and its run 15-20 s.
DEFAULT_RUNS = {"sklearn": {"build": 3, "startup": 15, "compression": 7}, "corpus": {"build": 3, "startup": 5, "compression": 0}}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--stack", choices=[*STACKS, "all"], default="all", help="which stack to measure (default all: sklearn, then corpus)"
    )
    parser.add_argument(
        "--runs", type=int, help="runs of every timed row (default: 3 builds; 15 startups on sklearn, 5 on corpus; 7 compressions)"
    )
    parser.add_argument("--build-runs", type=int, help="runs of the build rows (overrides --runs for them)")
    parser.add_argument("--startup-runs", type=int, help="runs of the startup rows (overrides --runs for them)")
    parser.add_argument(
        "--work-dir", type=Path, default=Path("/tmp/gopack-bench"), help="where everything is built (default /tmp/gopack-bench)"
    )
    parser.add_argument("--out-dir", type=Path, default=BENCH, help="where results.md and results.json go (default bench/)")
    parser.add_argument(
        "--rewrite-md", action="store_true", help="measure nothing: write results.md again from results.json (in --out-dir)"
    )
    parser.add_argument(
        "--max-load", type=float, default=1.5, help="refuse the results if the 1-minute load average before a series is above this (1.5)"
    )
    parser.add_argument(
        "--max-others",
        type=float,
        default=0.3,
        help="measure a run again if other processes took more than this many CPUs on average during it (0.3)",
    )
    parser.add_argument(
        "--wait", type=float, default=900, help="seconds to wait before each series for the load to fall below --max-load (900)"
    )
    parser.add_argument(
        "--retries", type=int, default=4, help="runs of a series that may be discarded and measured again before giving up (4)"
    )
    args = parser.parse_args(argv)
    if any(n is not None and n < 1 for n in (args.runs, args.build_runs, args.startup_runs)):
        parser.error("run counts must be at least 1")
    return args


def counts(args: argparse.Namespace, stack: Stack) -> dict[str, int]:
    default = DEFAULT_RUNS[stack.name]
    return {
        "build_runs": args.build_runs or args.runs or default["build"],
        "startup_runs": args.startup_runs or args.runs or default["startup"],
        "compression_runs": (args.runs or default["compression"]) if stack.compression else 0,
    }


def bench_stack(args: argparse.Namespace, stack: Stack, work: Path, load: LoadLog) -> dict[str, Any]:
    """Measure one stack: its builds, sizes, start-ups (and compression); its results.json section."""
    n = counts(args, stack)
    python = find_python(stack)
    venv_python = ensure_venv(work, stack, python)
    app = write_pyapp(work, stack)
    machine = machine_info(python, venv_python)
    say(f"{stack.name}: gopack {machine['gopack_version']} ({machine['git']}), work dir {work}")
    first_series = len(load.series)
    clear_runs(work)  # left by an interrupted run
    compression: dict[str, Any] | None = None
    pruned: dict[str, Any] | None = None
    try:
        warm_up_gopack(work, stack)
        series = load.start(f"{stack.name} builds")
        builds = measure_builds(work, stack, venv_python, app, n["build_runs"], load, series)
        load.stop(series)
        assert builds.pyinstaller_dist is not None
        bundle = extract(builds.cold[-1].archive, work / f"extracted-{stack.name}")
        sizes = measure_sizes(work, stack, builds.cold[-1].archive, bundle, builds.pyinstaller_dist)
        series = load.start(f"{stack.name} startup")
        startup = measure_startup(work, stack, bundle, venv_python, app, n["startup_runs"], load, series)
        load.stop(series)
        pyinstaller_check = check_pyinstaller_app(stack, builds.pyinstaller_dist, startup["python_output"])
        if stack.compression:
            series = load.start(f"{stack.name} compression")
            compression = measure_compression(work, bundle, n["compression_runs"], load, series)
            load.stop(series)
        if stack.pruned_size:
            pruned = measure_pruned(work, stack, builds.cold[-1].cache)
    finally:
        clear_runs(work)

    rows: list[Row] = [*size_rows(stack, sizes, pyinstaller_check)]
    if pruned is not None:
        rows += pruned_rows(stack, pruned, sizes)
    rows += [*build_rows(stack, builds), *startup_rows(stack, startup)]
    if compression is not None:
        rows += compression_rows(compression)
    return stack_document(
        rows,
        title=stack.title,
        machine=machine,
        config={**n, "work_dir": str(work), "source": str(stack.source), "recipe": stack.recipe, "pins": list(stack.pins)},
        load=load.as_json()[first_series:],
        raw={
            "sizes_bytes": sizes,
            "builds": {
                "gopack_cold_s": [b.seconds for b in builds.cold],
                "gopack_cold_cpu_s": [b.cpu_seconds for b in builds.cold],
                "gopack_rebuild_s": [b.seconds for b in builds.rebuild],
                "gopack_profiled_cpu_s": [b.cpu_seconds for b in builds.profiled],
                "gopack_profiled_cpu_steps": [b.cpu_steps for b in builds.profiled],
                "pyinstaller_s": builds.pyinstaller,
                "pyinstaller_cpu_s": builds.pyinstaller_cpu,
                "gopack_cold_stages": [b.stages for b in builds.cold],
                "gopack_rebuild_stages": [b.stages for b in builds.rebuild],
                "median": {
                    "gopack_cold_s": median([b.seconds for b in builds.cold]),
                    "gopack_cold_cpu_s": median([b.cpu_seconds for b in builds.cold]),
                    "pyinstaller_s": median(builds.pyinstaller),
                    "pyinstaller_cpu_s": median(builds.pyinstaller_cpu),
                    "gopack_cold_cpu_steps": cpu_steps(builds),
                },
            },
            "startup": startup,
            "pyinstaller_app": pyinstaller_check,
            "compression": compression,
            "pruned": pruned,
        },
    )


def bench(args: argparse.Namespace) -> str:
    check_host()
    adopt_orphans()
    ensure_packages()
    work = args.work_dir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    load = LoadLog(args.max_load, args.max_others, args.wait, args.retries)
    stacks = list(STACKS.values()) if args.stack == "all" else [STACKS[args.stack]]
    docs = {stack.name: bench_stack(args, stack, work, load) for stack in stacks}
    busy = load.busy()
    if busy:
        kept = work / "refused-results.json"
        kept.write_text(json.dumps(docs, indent=1, default=str) + "\n")
        raise BenchError(
            f"the machine was busy, so {args.out_dir}/results.md was not written (the numbers are in {kept}):\n  " + "\n  ".join(busy)
        )
    args.out_dir.mkdir(parents=True, exist_ok=True)
    return write_results(docs, args.out_dir)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.rewrite_md:
        write_results({}, args.out_dir)
        return 0
    try:
        print(bench(args), end="")
    except BenchError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
