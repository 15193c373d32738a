"""The table (results.md), the JSON document (results.json) and the machine they were measured on."""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from _builds import Builds
from _common import GOPACK, MB, REPO, BenchError, median, run


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
        Row(
            "archive size, `tar -czf` of the extracted dir",
            "MB",
            sizes["gopack_tar_czf"] / MB,
            sizes["pyinstaller_tar_czf"] / MB,
            "PyInstaller --onedir",
            "<= 0.8",
            note,
        ),
        Row(
            "archive size, gopack's own archive",
            "MB",
            sizes["gopack_archive"] / MB,
            sizes["pyinstaller_tar_czf"] / MB,
            "PyInstaller --onedir + `tar -czf`",
            "",
        ),
    ]


def build_rows(builds: Builds) -> list[Row]:
    cold = median([b.seconds for b in builds.cold])
    return [
        Row(
            "cold build (empty gopack cache, warm uv cache)",
            "s",
            cold,
            median(builds.pyinstaller),
            "PyInstaller --onedir --clean",
            "<= 0.6",
        ),
        Row(
            "rebuild, main.go edited, Python side unchanged",
            "s",
            median([b.seconds for b in builds.rebuild]),
            cold,
            "gopack cold build",
            "<= 0.2",
        ),
    ]


def startup_row(startup: dict[str, Any]) -> Row:
    note = "" if startup["same_output"] else "FAILED: the two programs printed different lines"
    return Row(
        "time to first prediction (whole run, read-only bundle)",
        "s",
        startup["median"]["gopack"],
        startup["median"]["python"],
        "python3.7 app.py, read-only venv, warm .pyc",
        "<= 1.0",
        note,
    )


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
        rows.append(
            Row(
                f"compression throughput, {label} ({comp['input_bytes'] / MB:.0f} MB tar)",
                "MB/s",
                mine.get("mb_per_s"),
                tool,
                alt,
                ">= 0.9",
                note,
            )
        )
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
        (
            f"{machine['date']} · gopack {machine['gopack_version']} ({machine['git']}) · {machine['nproc']} CPUs ({machine['cpu']}) · "
            f"load average {machine['loadavg_at_start'][0]:.1f} at start, {machine.get('loadavg_at_end', [0.0])[0]:.1f} at end · "
            f"{config['build_runs']} build runs, {config['startup_runs']} startup runs, {config['runs']} compression runs, medians"
        ),
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
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
        platform.machine(),
    )
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
