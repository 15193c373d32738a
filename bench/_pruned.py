"""The stack built once more with ``prune.imports: true``: its size, the floor no import-based
pruning can beat (only the site-packages files a run of the program opened), and ``gopack verify``
of the pruned archive."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

from _builds import GopackBuild, fresh_source, gopack_build, runs_dir
from _common import GOPACK, BenchError, fresh_dir, run, say
from _measure import extract, read_only_argv, tar_czf, tree_bytes
from _stacks import Stack

#: Appended to the stack's recipe in its private copy (docs/recipe.md, "prune.imports").
PRUNE_IMPORTS = "\n# bench/run.py: the same program, pruned by what it imports.\nprune:\n  imports: true\n"


def write_pruned_recipe(stack: Stack, src: Path) -> str:
    """Beside the stack's recipe in ``src`` (a private copy), the same recipe with
    ``prune.imports: true``; its file name."""
    recipe = src / stack.recipe
    text = recipe.read_text()
    for number, line in enumerate(text.splitlines(), 1):
        if re.match(r"prune\s*:", line):
            raise BenchError(
                f"{stack.source / stack.recipe}:{number}: the recipe already has a prune section; "
                "the pruned variant adds `prune: {imports: true}` itself: move its other prune settings into the stack's recipe variant by hand"
            )
    pruned = recipe.with_name(f"{recipe.stem}-pruned{recipe.suffix}")
    pruned.write_text(text.rstrip("\n") + "\n" + PRUNE_IMPORTS)
    return pruned.name


def pruned_build(work: Path, stack: Stack, cache: Path) -> GopackBuild:
    """``gopack bundle`` of the pruned variant with ``cache``, the cache a cold build filled (the
    archive's size does not depend on it); not timed."""
    here = runs_dir(work) / f"pruned-{stack.name}"
    src = fresh_source(stack, here)
    say(f"{stack.name}: gopack build with prune.imports (warm cache; not timed)")
    return gopack_build(stack, src, cache, here / "out", recipe=write_pruned_recipe(stack, src))


# --------------------------------------------------------------------------- verify

_CHECK_LINE = re.compile(r"^(ok  |FAIL) (.+?): ")
_OUTPUT_LINE = "  | "


def verify_archive(archive: Path, cache: Path) -> dict[str, Any]:
    """``gopack verify --json --show-output``: whether it passed, each check, and the lines of
    output each smoke run printed (verify logs them, prefixed ``  | ``, before the check's own line)."""
    say(f"gopack verify {archive.name}")
    ran = run([GOPACK, "verify", "--json", "--show-output", archive], env={"GOPACK_CACHE_DIR": str(cache)}, check=False)
    try:
        report = json.loads(ran.stdout)
        checks = [{"name": c["name"], "ok": c["ok"], "detail": c["detail"]} for c in report["checks"]]
    except (ValueError, KeyError, TypeError):
        checks = []
    output: dict[str, dict[str, int]] = {}
    pending: list[str] = []
    for line in ran.stderr.splitlines():
        if line.startswith(_OUTPUT_LINE):
            pending.append(line[len(_OUTPUT_LINE) :])
            continue
        found = _CHECK_LINE.match(line)
        if found:
            output[found.group(2)] = {
                "lines": len(pending),
                "pass_lines": sum(p.startswith("PASS ") for p in pending),
                "fail_lines": sum(p.startswith("FAIL ") for p in pending),
            }
            pending = []
    ok = ran.returncode == 0 and bool(checks) and all(c["ok"] for c in checks)
    return {
        "ok": ok,
        "returncode": ran.returncode,
        "seconds": ran.seconds,
        "checks": checks,
        "output_lines": output,
        # What went wrong, when it did: verify's own words (its errors go to stderr).
        "stderr_tail": "" if ok else "\n".join(line for line in ran.stderr.splitlines() if not line.startswith(_OUTPUT_LINE))[-2000:],
    }


# --------------------------------------------------------------------------- the floor

# One successful open in `strace -f -y` output, finished or resumed: `PID  openat(...) = 3</real/path>`
# or `PID  <... openat resumed>...) = 3</real/path>`; -y names the file the descriptor is open on,
# the kernel's path with every symlink resolved.
_OPENED = re.compile(r"^\d+\s+(?:open(?:at)?\(|<\.\.\. open(?:at)? resumed>).*= \d+<(.*)>$")


def _unescape(path: str) -> str:
    """strace prints bytes it will not show as \\xNN."""
    raw = re.sub(rb"\\x([0-9a-fA-F]{2})", lambda m: bytes([int(m.group(1), 16)]), path.encode("utf-8", "surrogateescape"))
    return raw.decode("utf-8", "surrogateescape")


def opened_in(trace: str, bundle: Path) -> set[str]:
    """The files (and folders) inside ``bundle`` that the traced processes opened, as paths
    relative to it."""
    root = bundle.resolve()
    found = set()
    for line in trace.splitlines():
        m = _OPENED.match(line)
        if m:
            path = Path(_unescape(m.group(1)))
            if path.is_relative_to(root):
                found.add(path.relative_to(root).as_posix())
    return found


def trace_run(work: Path, stack: Stack, bundle: Path) -> tuple[set[str], dict[str, Any]]:
    """Run the bundle's program as the startup row does (the bundle read-only in a private mount
    namespace) under ``strace -f -e trace=open,openat`` (dlopen and every mmap of a file open it
    first); what it opened inside the bundle, and how the run went."""
    out = fresh_dir(work / f"trace-{stack.name}")
    trace = out / "strace.txt"
    say(f"{stack.name}: a run of the pruned bundle under strace (what it opens)")
    argv: list[str | Path] = ["strace", "-f", "-qq", "-y", "-e", "trace=open,openat", "-o", trace, bundle / "bin" / stack.binary]
    ran = run(read_only_argv(bundle, *argv), cwd=fresh_dir(out / "cwd"), check=False)
    if not trace.exists():
        raise BenchError(f"strace wrote no trace ({trace}): {ran.stderr.strip()[-1000:]}")
    opened = opened_in(trace.read_text(errors="surrogateescape"), bundle)
    lines = ran.stdout.splitlines()
    return opened, {
        "returncode": ran.returncode,
        "ok": ran.returncode == 0,
        "pass_lines": sum(line.startswith("PASS ") for line in lines),
        "fail_lines": sum(line.startswith("FAIL ") for line in lines),
        "last_line": lines[-1] if lines else "",
        "opened_in_bundle": len(opened),
    }


def is_code(path: Path) -> bool:
    """A module or a native library: what pruning by imports decides on by itself (it drops data
    only with the package folder all of whose modules went)."""
    return path.suffix in (".py", ".pyc") or path.name.endswith(".so") or ".so." in path.name


def floor(work: Path, stack: Stack, bundle: Path, opened: set[str], *, code_only: bool = False) -> dict[str, Any]:
    """The bundle (hard-linked, so nothing is copied), minus every regular file under its
    site-packages that ``opened`` does not hold (with ``code_only``, every such module and
    native library, data kept), then ``tar -czf``."""
    kind = "code" if code_only else "all"
    dest = fresh_dir(work / f"floor-{stack.name}-{kind}") / bundle.name
    run(["cp", "-al", bundle, dest])
    root = bundle.resolve()
    kept = removed = removed_bytes = 0
    for path in sorted((dest / stack.site_packages).rglob("*")):
        if path.is_symlink() or not path.is_file() or (code_only and not is_code(path)):
            continue
        original = (bundle / path.relative_to(dest)).resolve()
        if original.relative_to(root).as_posix() in opened:
            kept += 1
            continue
        removed += 1
        removed_bytes += path.stat().st_size
        path.unlink()
    return {
        "kept_files": kept,
        "removed_files": removed,
        "removed_bytes": removed_bytes,
        "tree": tree_bytes(dest),
        "tar_czf": tar_czf(dest, work / "sizes" / stack.name / f"floor-{kind}.tar.gz"),
        "folder": dest,
    }


def measure_pruned(work: Path, stack: Stack, cache: Path) -> dict[str, Any]:
    """The pruned build, its sizes, the floor from it, and its verify: results.json's ``pruned``."""
    built = pruned_build(work, stack, cache)
    bundle = extract(built.archive, work / f"extracted-{stack.name}-pruned")
    sizes = work / "sizes" / stack.name
    result: dict[str, Any] = {
        "cache": "warm: the cache the last cold build filled",
        "recipe": f"{stack.recipe} + `prune: {{imports: true}}`",
        "build": {"seconds": built.seconds, "cpu_seconds": built.cpu_seconds, "stages": built.stages},
        "sizes_bytes": {
            "gopack_archive": built.archive.stat().st_size,
            "gopack_tar_czf": tar_czf(bundle, sizes / "gopack-pruned.tar.gz"),
            "gopack_tree": tree_bytes(bundle),
        },
    }
    opened, traced = trace_run(work, stack, bundle)
    result["floor"] = {"from": "the pruned bundle", "traced_run": traced}
    for key, code_only in (("all_files", False), ("code_only", True)):
        low = floor(work, stack, bundle, opened, code_only=code_only)
        shutil.rmtree(low.pop("folder").parent, ignore_errors=True)
        result["floor"][key] = low
    result["verify"] = verify_archive(built.archive, cache)
    return result
