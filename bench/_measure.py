"""Sizes, start-up and compression throughput."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import GOPACK_PYTHON, MB, BenchError, Watched, comparable, fresh_dir, median, run, run_watched, say
from _load import LoadLog, Series
from _stacks import Stack

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


def measure_sizes(work: Path, stack: Stack, archive: Path, bundle: Path, dist: Path) -> dict[str, int]:
    sizes = work / "sizes" / stack.name
    return {
        "gopack_archive": archive.stat().st_size,
        "gopack_tar_czf": tar_czf(bundle, sizes / "gopack.tar.gz"),
        "pyinstaller_tar_czf": tar_czf(dist, sizes / "pyinstaller.tar.gz"),
        "gopack_tree": tree_bytes(bundle),
        "pyinstaller_tree": tree_bytes(dist),
    }


# --------------------------------------------------------------------------- startup

_READ_ONLY = 'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" "$1" && shift && exec "$@"'


def read_only_argv(bundle: Path, *command: str | Path) -> list[str | Path]:
    """Run command with the bundle directory mounted read-only in a private mount namespace."""
    return ["unshare", "-m", "sh", "-c", _READ_ONLY, "sh", bundle, *command]


def check_read_only(folder: Path) -> None:
    probe = run(read_only_argv(folder, "touch", folder / ".bench-write-probe"), check=False)
    if probe.returncode == 0:
        (folder / ".bench-write-probe").unlink(missing_ok=True)
        raise BenchError(f"could not mount {folder} read-only: a write inside it succeeded")


def measure_startup(
    work: Path, stack: Stack, bundle: Path, venv_python: Path, app: Path, runs: int, load: LoadLog, series: Series
) -> dict[str, Any]:
    """Interleaved A B A B: the read-only bundle vs python app.py, after one untimed run of each.
    Each run is timed to its first line of output and to its end; a pair during which other
    processes were busy is measured again."""
    cwd = fresh_dir(work / "run-cwd")
    # Both read-only, the same way (what unshare and mount cost is on both sides): the
    # bundle, and the venv whose bytecode cache is warm.
    venv = venv_python.parent.parent
    gopack_argv = read_only_argv(bundle, bundle / "bin" / stack.binary)
    python_argv = read_only_argv(venv, venv_python, app / "app.py")
    check_read_only(bundle)
    check_read_only(venv)
    say(f"{stack.name}: startup warm-up (python: bytecode cache; both: page cache)")
    first_gopack, first_python = run_watched(gopack_argv, cwd=cwd), run_watched(python_argv, cwd=cwd)
    same = comparable(first_gopack.ran.stdout) == comparable(first_python.ran.stdout)
    times: dict[str, list[float]] = {"gopack": [], "python": []}
    first: dict[str, list[float]] = {"gopack": [], "python": []}

    def one_pair() -> dict[str, Watched]:
        pair = {side: run_watched(argv, cwd=cwd) for side, argv in (("gopack", gopack_argv), ("python", python_argv))}
        say(
            f"{stack.name} startup: gopack {pair['gopack'].first_output_seconds:.2f} s to first output, {pair['gopack'].ran.seconds:.2f} s in all; "
            f"python {pair['python'].first_output_seconds:.2f} s, {pair['python'].ran.seconds:.2f} s"
        )
        return pair

    for pair in load.repeat(series, f"{stack.name} startup pair", runs, one_pair):
        for side, watched in pair.items():
            times[side].append(watched.ran.seconds)
            first[side].append(watched.first_output_seconds)
    return {
        "runs": times,
        "median": {k: median(v) for k, v in times.items()},
        "first_output_runs": first,
        "first_output_median": {k: median(v) for k, v in first.items()},
        "same_output": same,
        "gopack_output": first_gopack.ran.stdout,
        "python_output": first_python.ran.stdout,
    }


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
        "from gopack.archive.write import compress_file; from pathlib import Path; "
        f"compress_file(Path({str(src)!r}), Path({str(dst)!r}), fmt={fmt!r}, level={level})"
    )
    return [GOPACK_PYTHON, "-c", code]


def gopack_compressor_missing() -> str | None:
    """None if gopack.archive.write.compress_file imports, else why not."""
    ran = run([GOPACK_PYTHON, "-c", "from gopack.archive.write import compress_file"], check=False)
    if ran.returncode == 0:
        return None
    lines = ran.stderr.strip().splitlines()
    return lines[-1] if lines else f"exit code {ran.returncode}"


def compressors(out: Path, src: Path) -> dict[str, Compressor]:
    return {
        "pigz": Compressor("pigz", ["pigz", "-6", "-p", "2", "-c", src], out / "pigz.tar.gz", True, "pigz"),
        "gopack_gz": Compressor(
            "gopack_gz", gopack_compress_argv(src, out / "gopack.tar.gz", "tar.gz", 6), out / "gopack.tar.gz", False, "pigz"
        ),
        "zstd": Compressor("zstd", ["zstd", "-T0", "-3", "-c", src], out / "zstd.tar.zst", True, "zstd"),
        "gopack_zst": Compressor(
            "gopack_zst", gopack_compress_argv(src, out / "gopack.tar.zst", "tar.zst", 3), out / "gopack.tar.zst", False, "zstd"
        ),
    }


def round_trips(c: Compressor, src: Path) -> bool:
    check = run(["sh", "-c", '"$1" -dc "$2" | cmp -s - "$3"', "sh", c.decompress, c.dest, src], check=False)
    return check.returncode == 0


def measure_compression(work: Path, bundle: Path, runs: int, load: LoadLog, series: Series) -> dict[str, Any]:
    """One uncompressed tar of the bundle, compressed by each tool in turn (interleaved)."""
    out = fresh_dir(work / "compress")
    src = out / "bundle.tar"
    run(["tar", "-cf", src, "-C", bundle.parent, bundle.name])
    missing = gopack_compressor_missing()
    chosen = {k: c for k, c in compressors(out, src).items() if missing is None or not k.startswith("gopack")}
    times: dict[str, list[float]] = {k: [] for k in chosen}
    errors: dict[str, str] = {}

    def one_round() -> dict[str, float]:
        took: dict[str, float] = {}
        for key, c in chosen.items():
            if key in errors:
                continue
            c.dest.unlink(missing_ok=True)
            ran = run(c.argv, stdout=c.dest if c.to_stdout else None, check=False)
            if ran.returncode != 0:
                errors[key] = f"exit code {ran.returncode}: {ran.stderr.strip()[-500:]}"
                continue
            took[key] = ran.seconds
        say("compression: {}".format(", ".join(f"{k} {v:.2f} s" for k, v in took.items())))
        return took

    for took in load.repeat(series, "compression round", runs, one_round):
        for key, seconds in took.items():
            times[key].append(seconds)
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
