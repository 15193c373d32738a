#!/usr/bin/env python3
"""Benchmark an aarch64 cross-build against the same build for x86_64, side by side.

Run with the project's venv:  .venv/bin/python bench/cross.py [--runs N] [--work-dir DIR]

The program is the tests' raw-cgo one that imports numpy (tests/data/oldlinux),
built against two Debian 11 roots made by debootstrap (the ones the tests cache,
tests/debian_roots.py): an amd64 one, natively, and an arm64 one, whose
interpreter gopack runs under qemu-user. Each run times, interleaved, whole
`gopack bundle` processes: cold (an empty gopack cache; Go's own build cache
stays warm, as on a developer's machine) and warm (the Python tree cached), for
both machines; then the bundled program itself, natively and under qemu. The
results go to bench/cross-results.md and bench/cross-results.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tarfile
from pathlib import Path

from _common import BENCH, GOPACK, REPO, BenchError, fresh_dir, median, run, say

sys.path.insert(0, str(REPO / "tests"))
from debian_roots import debian_root  # the tests' cached roots, found through their folder

RECIPE = REPO / "tests" / "data" / "oldlinux" / "recipe.yaml"
ROOTS = {
    "x86_64": ("bullseye", ["python3.9", "libpython3.9-dev", "pkg-config"], None),
    "aarch64": ("bullseye", ["python3.9", "libpython3.9-dev"], "arm64"),
}
#: The pipeline's stages, in the order they start.
STAGES = ("plan", "python", "go build", "app", "relocate", "manifest", "archive")
#: How each machine's bundled program is started here: natively, or under qemu with the cross glibc.
LAUNCH = {"x86_64": [], "aarch64": ["qemu-aarch64-static", "-L", "/usr/aarch64-linux-gnu"]}


def build(arch: str, root: Path, cache: Path, out: Path) -> tuple[float, dict[str, float], Path]:
    fresh_dir(out)
    ran = run(
        [GOPACK, "bundle", "--json", RECIPE, "--sysroot", root, "--target-arch", arch, "-o", out], env={"GOPACK_CACHE_DIR": str(cache)}
    )
    report = json.loads(ran.stdout)
    return ran.seconds, dict(report.get("stages", {})), Path(report["archive"])


def bench(runs: int, work: Path) -> dict[str, object]:
    roots = {arch: debian_root(suite, packages, arch=debian_arch) for arch, (suite, packages, debian_arch) in ROOTS.items()}
    times: dict[str, list[float]] = {f"{kind} {arch}": [] for kind in ("cold", "warm") for arch in ROOTS}
    stages: dict[str, list[dict[str, float]]] = {key: [] for key in times}
    archives: dict[str, Path] = {}
    for i in range(runs):
        for arch, root in roots.items():
            cache = fresh_dir(work / f"cache-{arch}")
            for kind in ("cold", "warm"):
                seconds, staged, archive = build(arch, root, cache, work / f"out-{arch}")
                times[f"{kind} {arch}"].append(seconds)
                stages[f"{kind} {arch}"].append(staged)
                archives[arch] = archive
                say(f"run {i + 1}/{runs}: {kind} {arch} {seconds:.1f} s")
    program: dict[str, list[float]] = {arch: [] for arch in ROOTS}
    outputs = {}
    for arch, archive in archives.items():
        where = fresh_dir(work / f"extracted-{arch}")
        with tarfile.open(archive) as tar:
            tar.extractall(where, filter="tar")
        (top,) = where.iterdir()
        for _ in range(runs):
            ran = run([*LAUNCH[arch], top / "bin" / "oldlinux"])
            program[arch].append(ran.seconds)
            outputs[arch] = ran.stdout.strip()
    return {
        "runs": runs,
        "build_seconds": {key: median(values) for key, values in times.items()},
        "build_raw": times,
        "stage_seconds": {key: {s: median([r.get(s, 0.0) for r in rows]) for s in rows[0]} for key, rows in stages.items() if rows},
        "program_seconds": {arch: median(values) for arch, values in program.items()},
        "program_raw": program,
        "program_output": outputs,
        "archive_mb": {arch: round(a.stat().st_size / 1e6, 1) for arch, a in archives.items()},
        "archives": {arch: a.name for arch, a in archives.items()},
    }


def write(results: dict[str, object], out_dir: Path) -> Path:
    build = results["build_seconds"]
    stage = results["stage_seconds"]
    program = results["program_seconds"]
    mb = results["archive_mb"]
    assert isinstance(build, dict) and isinstance(stage, dict) and isinstance(program, dict) and isinstance(mb, dict)
    seen = {s for rows in stage.values() for s in rows}
    names = [s for s in STAGES if s in seen] + sorted(seen - set(STAGES))
    lines = [
        "# aarch64 cross-build against the same x86_64 build",
        "",
        (
            f"tests/data/oldlinux (raw cgo, numpy 1.26.4, Python 3.9) against Debian 11 roots; medians of {results['runs']} runs, "
            "whole `gopack bundle` processes (bench/cross.py). Cold: an empty gopack cache, Go's build cache warm; "
            "the python and go build stages run side by side. Under qemu run the root's interpreter (probe, bytecode, "
            "load checks of stripped files) and, in the last row, the bundled program."
        ),
        "",
        "| build | x86_64 (native) | aarch64 (cross, qemu-user) |",
        "|---|---|---|",
        *(f"| {kind} | {build[f'{kind} x86_64']:.1f} s | {build[f'{kind} aarch64']:.1f} s |" for kind in ("cold", "warm")),
        *(
            f"| cold: {name} stage | {stage['cold x86_64'].get(name, 0.0):.1f} s | {stage['cold aarch64'].get(name, 0.0):.1f} s |"
            for name in names
        ),
        f"| archive | {mb['x86_64']} MB | {mb['aarch64']} MB |",
        f"| the bundled program, one run | {program['x86_64']:.2f} s (native) | {program['aarch64']:.2f} s (qemu-aarch64-static) |",
        "",
    ]
    (out_dir / "cross-results.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    path = out_dir / "cross-results.md"
    path.write_text("\n".join(lines))
    return path


def main(argv: list[str] | None = None) -> int:
    """Measure and write the results; ``--from-json`` rewrites the table from saved results."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs of every row (default 3)")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/gopack-bench-cross"), help="where everything is built")
    parser.add_argument("--out-dir", type=Path, default=BENCH, help="where cross-results.md and .json go (default bench/)")
    parser.add_argument("--from-json", type=Path, metavar="FILE", help="write the table from saved results instead of measuring")
    args = parser.parse_args(argv)
    if args.from_json is not None:
        print(write(json.loads(args.from_json.read_text()), args.out_dir).read_text())
        return 0
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    try:
        results = bench(args.runs, args.work_dir.resolve())
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    print(write(results, args.out_dir).read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
