#!/usr/bin/env python3
"""Benchmark gopack on examples/sklearn against PyInstaller, CPython, pigz and zstd.

Run with the project's venv:  .venv/bin/python bench/run.py [--runs N] [--work-dir DIR]

Everything it builds lives in the work directory (default /tmp/gopack-bench);
the results go to bench/results.md and bench/results.json. See bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from _builds import clear_runs, measure_builds, warm_up_gopack
from _common import BENCH, EXAMPLE, BenchError, median, say
from _measure import extract, measure_compression, measure_sizes, measure_startup
from _pyinstaller import PINS, check_pyinstaller_app, ensure_venv, find_python37, write_pyapp
from _report import build_rows, compression_rows, machine_info, size_rows, startup_row, write_results
from _setup import check_host, ensure_packages


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, help="runs of every timed row (default: 3 for builds, 15 for startup, 7 for compression)")
    parser.add_argument("--build-runs", type=int, help="runs of the build rows (overrides --runs for them)")
    parser.add_argument("--startup-runs", type=int, help="runs of the startup row (overrides --runs for it)")
    parser.add_argument(
        "--work-dir", type=Path, default=Path("/tmp/gopack-bench"), help="where everything is built (default /tmp/gopack-bench)"
    )
    parser.add_argument("--out-dir", type=Path, default=BENCH, help="where results.md and results.json go (default bench/)")
    args = parser.parse_args(argv)
    args.build_runs = args.build_runs or args.runs or 3
    # The two sides of the startup row differ by a few percent at most; runs vary by 5-10%.
    args.startup_runs = args.startup_runs or args.runs or 15
    args.runs = args.runs or 7
    if min(args.runs, args.build_runs, args.startup_runs) < 1:
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
    clear_runs(work)  # left by an interrupted run
    try:
        warm_up_gopack(work)
        builds = measure_builds(work, venv_python, app, args.build_runs)
        assert builds.pyinstaller_dist is not None
        bundle = extract(builds.cold[-1].archive, work / "extracted")
        sizes = measure_sizes(work, builds.cold[-1].archive, bundle, builds.pyinstaller_dist)
        startup = measure_startup(work, bundle, venv_python, app, args.startup_runs)
        pyinstaller_check = check_pyinstaller_app(builds.pyinstaller_dist, startup["python_output"])
        compression = measure_compression(work, bundle, args.runs)
    finally:
        clear_runs(work)

    machine["loadavg_at_end"] = os.getloadavg()
    rows = [*size_rows(sizes, pyinstaller_check), *build_rows(builds), startup_row(startup), *compression_rows(compression)]
    document = {
        "schema_version": 1,
        "machine": machine,
        "config": {
            "build_runs": args.build_runs,
            "startup_runs": args.startup_runs,
            "runs": args.runs,
            "work_dir": str(work),
            "example": str(EXAMPLE),
            "pins": list(PINS),
        },
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
