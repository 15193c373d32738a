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
from _stacks import STACKS, Stack


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


def size_rows(stack: Stack, sizes: dict[str, int], pyinstaller_check: dict[str, Any]) -> list[Row]:
    note = "" if pyinstaller_check["ok"] else "PyInstaller's app did not print the same output; see results.json"
    return [
        Row(
            "archive size, `tar -czf` of the extracted dir",
            "MB",
            sizes["gopack_tar_czf"] / MB,
            sizes["pyinstaller_tar_czf"] / MB,
            "PyInstaller --onedir",
            stack.size_target,
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


def pruned_rows(stack: Stack, pruned: dict[str, Any], sizes: dict[str, int]) -> list[Row]:
    """The archive pruned by imports, and the floor of such pruning, against PyInstaller's."""
    verify = pruned["verify"]
    traced = pruned["floor"]["traced_run"]
    failed = (
        ""
        if traced["ok"]
        else f"FAILED: the traced run exited {traced['returncode']} ({traced['last_line']!r}): the floor misses what it did not reach"
    )
    return [
        Row(
            "archive size with `prune.imports`, `tar -czf` of the extracted dir (built with a warm gopack cache)",
            "MB",
            pruned["sizes_bytes"]["gopack_tar_czf"] / MB,
            sizes["pyinstaller_tar_czf"] / MB,
            "PyInstaller --onedir",
            stack.pruned_size_target,
            "" if verify["ok"] else "FAILED: the pruned archive did not pass `gopack verify` (see below and results.json)",
        ),
        Row(
            "floor: only the files the snippets' run opened, `tar -czf` (the pruned bundle minus every site-packages file not opened)",
            "MB",
            pruned["floor"]["all_files"]["tar_czf"] / MB,
            sizes["pyinstaller_tar_czf"] / MB,
            "PyInstaller --onedir",
            "",
            failed,
        ),
        Row(
            "floor, code only: minus every site-packages module (.py, .pyc) and native library (.so) the run did not open, data kept",
            "MB",
            pruned["floor"]["code_only"]["tar_czf"] / MB,
            sizes["pyinstaller_tar_czf"] / MB,
            "PyInstaller --onedir",
            "",
            failed,
        ),
    ]


def verify_markdown(pruned: dict[str, Any]) -> list[str]:
    """The line under the table: whether the pruned archive passed ``gopack verify``; loud if not."""
    verify = pruned["verify"]
    runs = {name: n for name, n in verify["output_lines"].items() if n["lines"]}
    # "; " between runs: a check's name may hold a comma ("no python, decoys").
    passes = "; ".join(f"{name}: {n['pass_lines']} PASS, {n['fail_lines']} FAIL" for name, n in runs.items())
    if verify["ok"]:
        return ["", f"The pruned bundle passed `gopack verify` (its smoke test: every snippet, in the three confined runs; {passes})."]
    failed = [f"{c['name']}: {c['detail']}" for c in verify["checks"] if not c["ok"]] or [verify["stderr_tail"] or "no report"]
    return [
        "",
        f"**The pruned bundle FAILED `gopack verify`** (exit code {verify['returncode']}; {passes or 'no smoke output'}):",
        "",
        *(f"- {line[:500]}" for line in failed),
    ]


def build_rows(stack: Stack, builds: Builds) -> list[Row]:
    cold = median([b.seconds for b in builds.cold])
    rows = [
        Row(
            "cold build, wall (empty gopack cache, warm uv cache)",
            "s",
            cold,
            median(builds.pyinstaller),
            "PyInstaller --onedir --clean",
            stack.cold_wall_target,
        ),
        Row(
            "cold build, CPU seconds (user + system, children included)",
            "s",
            median([b.cpu_seconds for b in builds.cold]),
            median(builds.pyinstaller_cpu),
            "PyInstaller --onedir --clean",
            stack.cold_cpu_target,
        ),
    ]
    if builds.rebuild:
        rows.append(
            Row(
                "rebuild in a second checkout at another path, main.go edited, gopack cache warm",
                "s",
                median([b.seconds for b in builds.rebuild]),
                cold,
                "gopack cold build",
                "<= 0.2",
            )
        )
    return rows


def cpu_steps(builds: Builds) -> dict[str, float]:
    """The profiled cold builds' CPU seconds by step (GOPACK_PROFILE), medians, largest first."""
    steps = {name for b in builds.profiled for name in b.cpu_steps}
    found = {name: median([b.cpu_steps.get(name, 0.0) for b in builds.profiled]) for name in steps}
    return dict(sorted(found.items(), key=lambda item: -item[1]))


def startup_rows(stack: Stack, startup: dict[str, Any]) -> list[Row]:
    note = "" if startup["same_output"] else "FAILED: the two programs printed different lines"
    baseline = f"python{stack.python} app.py, read-only venv, warm .pyc"
    if stack.name == "sklearn":  # it prints everything at its end: the whole run is the row
        return [Row(stack.startup_label, "s", startup["median"]["gopack"], startup["median"]["python"], baseline, "<= 1.0", note)]
    return [
        Row(
            stack.startup_label,
            "s",
            startup["first_output_median"]["gopack"],
            startup["first_output_median"]["python"],
            baseline,
            "<= 1.0",
            note,
        ),
        Row(
            "whole run (every snippet, read-only bundle)",
            "s",
            startup["median"]["gopack"],
            startup["median"]["python"],
            baseline,
            "",
        ),
    ]


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
    digits = (3 if value < 0.1 else 2) if unit == "s" else 1
    return f"{value:.{digits}f} {unit}"


def stack_markdown(doc: dict[str, Any]) -> list[str]:
    """One stack's section: when, what, how quiet the machine was, the table."""
    machine, config = doc["machine"], doc["config"]
    counts = [f"{config['build_runs']} build runs", f"{config['startup_runs']} startup runs"]
    if config.get("compression_runs"):
        counts.append(f"{config['compression_runs']} compression runs")
    lines = [
        f"## {doc['title']}",
        "",
        (
            f"{machine['date']} · gopack {machine['gopack_version']} ({machine['git']}) · {machine['nproc']} CPUs ({machine['cpu']}) · "
            f"PyInstaller {machine['pyinstaller']} · {', '.join(counts)}, medians"
        ),
        "",
        "Load average (1, 5, 15 min) before and after each series, and the CPUs other processes took during it:",
        "",
        *(
            f"- {s['series']}: {_load(s['loadavg_before'])} before, {_load(s['loadavg_after'])} after; "
            f"others {s['others_cores']:.2f} CPUs ({s['others_cpu_seconds']:.0f} CPU s in {s['seconds']:.0f} s)" + _discarded(s)
            for s in doc["load"]
        ),
        "",
        "| metric | gopack | alternative | ratio | target | met? |",
        "|---|---|---|---|---|---|",
    ]
    notes: list[str] = []
    for r in (Row(**{k: v for k, v in row.items() if k not in ("ratio", "met")}) for row in doc["rows"]):
        met = {True: "yes", False: "**no**", None: "—"}[r.met]
        ratio = "n/a" if r.ratio is None else f"{r.ratio:.2f}"
        gopack = fmt(r.gopack, r.unit)
        if r.note:
            notes.append(r.note)
            gopack += f" [{len(notes)}]"
        lines.append(f"| {r.metric} | {gopack} | {fmt(r.alternative, r.unit)} ({r.alt_name}) | {ratio} | {r.target or '—'} | {met} |")
    lines += ["", *(f"[{i}] {note}" for i, note in enumerate(notes, 1))] if notes else []
    pruned = doc.get("raw", {}).get("pruned")
    if pruned:
        lines += verify_markdown(pruned)
    lines += _steps_markdown(doc)
    stack = STACKS.get(doc.get("stack", ""))
    return [*lines, *(["", *stack.notes] if stack and stack.notes else []), ""]


def _steps_markdown(doc: dict[str, Any]) -> list[str]:
    """Where a cold build's CPU seconds go, from the profiled builds (GOPACK_PROFILE)."""
    builds = doc.get("raw", {}).get("builds", {})
    steps: dict[str, float] = builds.get("median", {}).get("gopack_cold_cpu_steps") or {}
    if not steps:
        return []
    total = sum(steps.values())
    profiled = median(builds.get("gopack_profiled_cpu_s") or [total])
    return [
        "",
        (
            f"gopack's cold build, CPU seconds by step (`GOPACK_PROFILE=1`, a separate cold build in each run, medians; "
            f"its whole process tree took {profiled:.2f} CPU s). Steps overlap in time; each is charged what it spent, "
            "children and worker threads included; `start` is the interpreter's start, gopack's imports and the recipe:"
        ),
        "",
        "| step | CPU s | share |",
        "|---|---|---|",
        *(f"| {name} | {seconds:.2f} | {100 * seconds / total:.0f}% |" for name, seconds in steps.items() if seconds >= 0.005),
    ]


def _discarded(series: dict[str, Any]) -> str:
    runs = series.get("discarded_runs") or []
    if not runs:
        return ""
    # The series' figure then counts the discarded runs and the waits; each kept run was quiet.
    return f"; {len(runs)} run(s) discarded for a busy machine and measured again, each kept run quiet: " + "; ".join(runs)


def _load(values: Sequence[float]) -> str:
    return "/".join(f"{v:.2f}" for v in values)


def tool_version(argv: Sequence[str | Path]) -> str:
    try:
        ran = run(argv, check=False, timeout=60)
    except BenchError as exc:
        return str(exc)
    text = (ran.stdout or ran.stderr).strip()
    return text.splitlines()[0] if text else f"exit code {ran.returncode}"


def machine_info(python: Path, venv_python: Path) -> dict[str, Any]:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
        platform.machine(),
    )
    mem = next((line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")), "0")
    dirty = run(["git", "-C", REPO, "status", "--porcelain", "--", "gopack", "bench/*.py"], check=False).stdout.strip()
    commit = run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], check=False).stdout.strip()
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "mem_gb": round(int(mem) / 1024 / 1024, 1),
        "kernel": platform.release(),
        "loadavg_at_start": os.getloadavg(),
        "gopack_version": re.sub(r"^gopack\s+", "", tool_version([GOPACK, "--version"])),
        "git": commit + (" + uncommitted changes in gopack/ or bench/" if dirty else ""),
        "go": tool_version(["go", "version"]),
        "go_cache": tool_version(["go", "env", "GOCACHE"]),
        "python": f"{python} ({tool_version([python, '--version'])})",
        "pyinstaller": tool_version([venv_python.parent / "pyinstaller", "--version"]),
        "pigz": tool_version(["pigz", "--version"]),
        "zstd": tool_version(["zstd", "--version"]),
        "tar": tool_version(["tar", "--version"]),
    }


def stack_document(rows: list[Row], **parts: Any) -> dict[str, Any]:
    return {**parts, "rows": [{**asdict(r), "ratio": r.ratio, "met": r.met} for r in rows]}


def write_results(docs: dict[str, dict[str, Any]], out_dir: Path) -> str:
    """Merge these stacks' documents into results.json (a stack measured in another run keeps
    its own section) and write results.md from all of them; return the new sections' text.
    With no documents, results.md is written again from results.json."""
    json_path = out_dir / "results.json"
    stacks: dict[str, Any] = {}
    if json_path.exists():
        old = json.loads(json_path.read_text())
        if old.get("schema_version") in READABLE_SCHEMAS:
            stacks = old["stacks"]
    stacks.update(docs)
    for name, doc in stacks.items():
        doc.setdefault("stack", name)
    header = [
        "# gopack benchmark",
        "",
        "Written by `bench/run.py` (see README.md); each stack's section says when and on which commit it was measured.",
        "",
    ]
    body = [line for name in sorted(stacks, key=_stack_order) for line in stack_markdown(stacks[name])]
    _atomic_write(out_dir / "results.md", "\n".join(header + body))
    _atomic_write(json_path, json.dumps({"schema_version": RESULTS_SCHEMA, "stacks": stacks}, indent=1, default=str) + "\n")
    return "\n".join(line for name in docs for line in stack_markdown(docs[name]))


#: 3: a stack built with prune.imports too has ``raw.pruned`` (its sizes, the floor, its verify)
#: and two more rows. A section written as 2 reads the same way (it has neither).
RESULTS_SCHEMA = 3
READABLE_SCHEMAS = (2, 3)


def _stack_order(name: str) -> tuple[int, str]:
    return (0 if name == "sklearn" else 1, name)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
