"""The command line. The only module that prints or exits.

stdout carries nothing but ``--json`` documents; progress, messages and errors go
to stderr. Exit codes: 0 ok, 2 bad recipe, 3 missing or incompatible toolchain,
4 failed build, 5 failed verification, 6 bad command-line input, 70 a bug.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import signal
import sys
import traceback
from pathlib import Path
from typing import Any, NoReturn

from gopack import __version__, _proc, cache, pipeline, plan, sbom, targets
from gopack._text import shown
from gopack.archive import contents, exe, oci, oci_push
from gopack.archive import write as archive
from gopack.errors import GopackError, UsageError, VerifyError
from gopack.platform.target import ARCH_NAMES, ARCH_OF_MACHINE, SYSTEMS
from gopack.python import conda, sources
from gopack.recipe import model as recipe
from gopack.verify import checks as verify

INTERNAL_ERROR = 70
log = logging.getLogger("gopack")


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where the program is so that every cleanup runs."""


class _Interrupts:
    """The first SIGINT, SIGTERM or SIGHUP (the terminal closed) stops gopack where it is; later
    ones are ignored, so the cleanups the first one started (staging folders, half-made cache
    entries, a smoke run's sandbox) finish instead of being cut short, and no second traceback
    is printed. SIGKILL still works."""

    received: int | None = None

    @classmethod
    def handle(cls, signum: int, frame: object) -> None:
        if cls.received is not None:
            return
        cls.received = signum
        _proc.STOP.set()
        _proc.stop_now(KeyboardInterrupt() if signum == signal.SIGINT else Terminated())


def run() -> NoReturn:
    """The ``gopack`` command: :func:`main`'s exit status, which no signal after main decided it changes."""
    sys.exit(main(restore_signals=False))


def main(argv: list[str] | None = None, *, restore_signals: bool = True) -> int:
    """``restore_signals``: put back the caller's SIGINT, SIGTERM and SIGHUP handlers at the end (for
    a caller that goes on); else ignore those signals from then on: a second Ctrl-C while the process
    exits would otherwise kill it by SIGINT after it had chosen its status."""
    parser = _parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose, args.quiet)
    # SIGINT too: a shell starts background jobs with SIGINT ignored, and an
    # interrupt must still stop gopack with its cleanups run.
    _Interrupts.received = None
    _proc.STOP.clear()
    previous = signal.signal(signal.SIGTERM, _Interrupts.handle), signal.signal(signal.SIGINT, _Interrupts.handle)
    # SIGHUP unless it is ignored (nohup): then gopack goes on when the terminal closes, as asked.
    hangup = signal.getsignal(signal.SIGHUP)
    if hangup is not signal.SIG_IGN:
        signal.signal(signal.SIGHUP, _Interrupts.handle)
    hook = sys.unraisablehook
    sys.unraisablehook = _quiet_interrupts(hook)
    try:
        code = int(args.func(args))
        if _Interrupts.received is not None:
            # The signal's exception was raised inside a finalizer (a weakref callback, say),
            # where Python swallows it, and the command ran to its end.
            what = "after the archive was complete; it stays" if args.command == "bundle" else "as it finished"
            print(f"gopack: interrupted {what}", file=sys.stderr)
            return 128 + _Interrupts.received
        return code
    except GopackError as exc:
        _print_error(exc)
        return exc.exit_code
    except BrokenPipeError:  # `gopack inspect ... | head`: the reader left, which is fine
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt as exc:
        landed = pipeline.landed(exc)
        if args.command != "bundle":
            print(f"gopack: interrupted; {_UNFINISHED.get(args.command, f'{args.command} did not finish')}", file=sys.stderr)
        elif landed is not None:
            print(f"gopack: interrupted after the archive was complete; it stays: {landed}", file=sys.stderr)
        else:
            print("gopack: interrupted; no archive was written", file=sys.stderr)
        return 128 + (_Interrupts.received or signal.SIGINT)
    except Exception:  # noqa: BLE001  # a bug in gopack: say so, with the traceback, and a distinct code
        traceback.print_exc()
        print(f"gopack {__version__}: internal error; please report it with the traceback above", file=sys.stderr)
        return INTERNAL_ERROR
    finally:
        signal.signal(signal.SIGTERM, previous[0] if restore_signals else signal.SIG_IGN)
        signal.signal(signal.SIGINT, previous[1] if restore_signals else signal.SIG_IGN)
        signal.signal(signal.SIGHUP, hangup if restore_signals else signal.SIG_IGN)
        sys.unraisablehook = hook


#: What an interrupt leaves, by command (bundle says whether its archive was written).
_UNFINISHED = {
    "verify": "verify did not finish, so the archive was neither passed nor failed; the folder it was extracted to was removed",
    "inspect": "inspect did not finish; nothing was written",
}


def _quiet_interrupts(hook: Any) -> Any:
    """An unraisable-exception hook that passes over an interrupt raised inside a finalizer
    (Python would print it as 'Exception ignored ... Traceback'); main() reports it."""

    def quiet(unraisable: Any) -> None:
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            hook(unraisable)

    return quiet


def _common_flags(*, default: object) -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", default=default, help="stream the output of go, uv and pip")
    common.add_argument("-q", "--quiet", action="store_true", default=default, help="print errors only")
    common.add_argument("--json", action="store_true", default=default, help="print a versioned JSON report on stdout, nothing else there")
    return common


def _parser() -> argparse.ArgumentParser:
    # The flags work before and after the command. A subcommand's defaults would
    # overwrite what was given before it (gopack -q bundle), so there they have none.
    common = _common_flags(default=argparse.SUPPRESS)
    parser = argparse.ArgumentParser(
        prog="gopack",
        description="Bundle a Go program that embeds CPython into a portable archive.",
        parents=[_common_flags(default=False)],
    )
    parser.add_argument("--version", action="version", version=f"gopack {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    bundle = sub.add_parser("bundle", parents=[common], help="build the archive a recipe describes")
    bundle.add_argument("recipe", type=Path, metavar="RECIPE", help="path of the recipe (YAML)")
    bundle.add_argument("-o", "--output-dir", type=Path, help="where to write the archive (default: the recipe's output.dir)")
    bundle.add_argument(
        "--target-glibc", metavar="2.NN", help="the oldest glibc the bundle must start on (overrides the recipe's target.glibc)"
    )
    bundle.add_argument("--max-glibc", metavar="2.NN", help="the older name of --target-glibc")
    bundle.add_argument(
        "--sysroot",
        type=Path,
        metavar="DIR",
        help="build against this root file system of the target distribution (overrides target.sysroot)",
    )
    bundle.add_argument(
        "--target-arch",
        choices=sorted(ARCH_NAMES),
        metavar="ARCH",
        help="the machine the bundle runs on: x86_64 (amd64) or aarch64 (arm64); another than this one needs --sysroot "
        "of that machine and qemu-user (overrides target.arch)",
    )
    bundle.add_argument(
        "--target-os",
        choices=SYSTEMS,
        metavar="OS",
        help="the system the bundle runs on: linux (default) or macos, built from here against --python-home (overrides target.os)",
    )
    bundle.add_argument(
        "--target-macos",
        metavar="MAJOR.MINOR",
        help="with --target-os macos: the oldest macOS the bundle must start on, e.g. 14.0 (overrides target.macos)",
    )
    bundle.add_argument(
        "--python-home",
        type=Path,
        metavar="DIR_OR_ARCHIVE",
        help="a CPython install for the target, read and never run: a folder or a .jar/.zip/.tar.* archive (overrides python.home)",
    )
    bundle.add_argument(
        "--target",
        action="append",
        dest="targets",
        metavar="NAME",
        help="build this one of the recipe's targets (again for more; default: all of them)",
    )
    bundle.add_argument(
        "--format",
        choices=(*archive.FORMATS, oci.FORMAT, exe.FORMAT),
        help="archive format; oci: an OCI image layout and its .tar; exe: one executable that extracts itself on first run "
        "(overrides output.format; default tar.gz)",
    )
    bundle.add_argument(
        "--base",
        metavar="IMAGE_LAYOUT",
        help="with --format oci: put the image on this OCI image layout (DIR or DIR:TAG, e.g. from skopeo copy) "
        "instead of gopack's runtime base",
    )
    bundle.add_argument("--level", type=int, metavar="N", help="compression level (gzip/zip 1-9, zstd 1-19)")
    bundle.set_defaults(func=_bundle)

    push = sub.add_parser("push", parents=[common], help="copy an image `bundle --format oci` wrote to a registry (with skopeo)")
    push.add_argument("image", type=Path, metavar="IMAGE_LAYOUT", help="the .oci folder")
    push.add_argument("destination", metavar="HOST/REPO[:TAG]", help="where to (the tag defaults to the image's version)")
    push.add_argument("--insecure", action="store_true", help="the registry speaks plain HTTP or has an unverified certificate")
    push.set_defaults(func=_push)

    caches = sub.add_parser("cache", parents=[common], help="list or prune cached Python trees")
    cache_sub = caches.add_subparsers(dest="cache_command", required=True, metavar="ACTION")
    cache_sub.add_parser("list", parents=[common], help="list cached Python trees").set_defaults(func=_cache_list)
    pruning = cache_sub.add_parser("prune", parents=[common], help="remove cached Python trees")
    pruning.add_argument("--older-than", type=float, metavar="DAYS", help="only entries older than this many days (default: all)")
    pruning.set_defaults(func=_cache_prune)

    look = sub.add_parser(
        "inspect", parents=[common], help="show what an archive (an executable, or an extracted bundle) holds and needs from its host"
    )
    look.add_argument("target", type=Path, metavar="ARCHIVE_OR_DIR")
    look.add_argument("--sbom", action="store_true", help="print the bundle's SBOM (CycloneDX 1.6 JSON) on stdout, read from inside it")
    look.set_defaults(func=_inspect)

    check = sub.add_parser(
        "verify", parents=[common], help="check an archive (or one executable) and run its smoke test with no Python on the machine"
    )
    check.add_argument("archive", type=Path, metavar="ARCHIVE_OR_EXE")
    check.add_argument("--show-output", action="store_true", help="print the smoke test's output")
    check.add_argument(
        "--allow-unsandboxed",
        action="store_true",
        help="where no sandbox can be made (not root, no unshare), run the smoke test on the host as it is",
    )
    check.add_argument(
        "--timeout",
        type=float,
        default=verify.DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"the most each smoke run may take (default {verify.DEFAULT_TIMEOUT:g}); the archive's own smoke.timeout only where shorter",
    )
    check.add_argument(
        "--sysroot",
        type=Path,
        metavar="DIR",
        help="for a bundle of another machine: a root of that machine whose glibc the smoke test runs with under qemu-user "
        "(default: Debian's cross glibc, e.g. /usr/aarch64-linux-gnu)",
    )
    check.set_defaults(func=_verify)
    return parser


def _bundle(args: argparse.Namespace) -> int:
    the_recipe = recipe.load(args.recipe)
    for flag, value in (("--target-glibc", args.target_glibc), ("--max-glibc", args.max_glibc)):
        if value is not None and not re.fullmatch(r"2\.\d{1,2}", value):
            raise UsageError(f"{flag} {value!r} is not a glibc version", hint=f"write it as 2.NN, e.g. {flag} 2.28")
    if args.target_glibc is not None and args.max_glibc is not None and args.target_glibc != args.max_glibc:
        raise UsageError(
            f"--target-glibc {args.target_glibc} and --max-glibc {args.max_glibc} disagree",
            hint="--max-glibc is the older name of --target-glibc: give one",
        )
    if args.sysroot is not None and not args.sysroot.is_dir():
        raise UsageError(
            f"--sysroot {args.sysroot}: not a directory",
            hint="give the root file system of the target distribution (debootstrap, docker export)",
        )
    if args.level is not None and not 1 <= args.level <= 19:
        raise UsageError(f"--level {args.level} is out of range", hint="gzip and zip take 1-9, zstd 1-19")
    if the_recipe.targets or args.targets:
        given = [f for f, v in (("--sysroot", args.sysroot), ("--target-glibc", args.target_glibc), ("--max-glibc", args.max_glibc), ("--target-arch", args.target_arch), ("--target-os", args.target_os), ("--target-macos", args.target_macos)) if v is not None]  # fmt: skip
        if given and the_recipe.targets:
            raise UsageError(
                f"{', '.join(given)}: {args.recipe} lists targets, each with its own",
                hint="change the targets in the recipe, or pick some of them with --target NAME",
            )
        return _bundle_targets(args, the_recipe)
    target = plan.TargetOptions(
        sysroot=args.sysroot.absolute() if args.sysroot is not None else None,
        glibc=args.target_glibc or args.max_glibc,
        glibc_flag="--target-glibc" if args.target_glibc is not None else "--max-glibc",
        arch=args.target_arch,
        system=args.target_os,
        macos=args.target_macos,
        python_home=args.python_home.absolute() if args.python_home is not None else None,
    )
    result = pipeline.bundle(
        the_recipe,
        output_dir=args.output_dir,
        target=target,
        fmt=args.format,
        level=args.level,
        base=args.base,
        progress=_progress(args),
    )
    if args.json:
        _emit(result.report())
    elif result.image is not None:
        image = result.image
        log.info("wrote the image layout %s and %s (%.1f MB), tag %s", image.layout, image.archive, result.size / 1e6, image.tag)
        for layer in image.layers:
            log.info("  %s  %9.1f MB  %s", layer.descriptor.digest[:19], layer.descriptor.size / 1e6, layer.created_by)
        log.info(
            "push it with: gopack push %s HOST/REPO (or skopeo copy oci:%s:%s docker://HOST/REPO:%s)",
            image.layout,
            image.layout,
            image.tag,
            image.tag.rpartition(":")[2],
        )
    else:
        log.info("wrote %s (%.1f MB), its SBOM %s and %s", result.archive, result.size / 1e6, result.sbom.name, result.checksums)
    return 0


def _push(args: argparse.Namespace) -> int:
    pushed = oci_push.push(args.image, args.destination, tls_verify=not args.insecure)
    if args.json:
        _emit({"schema_version": 1, "source": pushed.source, "destination": pushed.destination, "digest": pushed.digest})
    else:
        log.info("pushed %s to %s (%s)", args.image, pushed.destination, pushed.digest)
    return 0


def _bundle_targets(args: argparse.Namespace, the_recipe: recipe.Recipe) -> int:
    """The recipe's targets (or those --target picks) in one run; one table at the end, every
    target's result in it, the first failure's exit code."""
    results = targets.bundle_targets(
        the_recipe, args.targets or (), output_dir=args.output_dir, fmt=args.format, level=args.level, progress=_progress(args)
    )
    failed = [r.error for r in results if r.error is not None]
    if args.json:
        _emit(
            {
                "schema_version": 1,
                "targets": [
                    {"name": r.name, "ok": r.error is None, "seconds": round(r.seconds, 3)}
                    | ({"report": r.bundle.report()} if r.bundle is not None else {})
                    | ({"error": {"message": r.error.message, "hint": r.error.hint}} if r.error is not None else {})
                    for r in results
                ],
            }
        )
    else:
        for line in target_table(results):
            log.info("%s", line)
    for result in results:  # errors go to stderr, with --json too
        if result.error is not None:
            print(f"target {result.name}:", file=sys.stderr)
            _print_error(result.error)
    return failed[0].exit_code if failed else 0


def target_table(results: list[targets.TargetResult]) -> list[str]:
    """One line per target: name, archive, size, floor and tag, time; or why it failed."""
    rows = [("target", "archive", "size", "floor / tag", "time")]
    for r in results:
        if r.bundle is not None:
            glibc = r.bundle.manifest["glibc"]
            rows.append(
                (
                    r.name,
                    r.bundle.archive.name,
                    f"{r.bundle.size / 1e6:.1f} MB",
                    f"{_floor(glibc)} / {r.bundle.manifest['platform']}",
                    f"{r.seconds:.1f} s",
                )
            )
        else:
            assert r.error is not None
            rows.append((r.name, f"FAILED: {r.error.message.splitlines()[0][:100]}", "", "", f"{r.seconds:.1f} s"))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    return ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]


def _cache_list(args: argparse.Namespace) -> int:
    entries = cache.entries()
    rows: list[dict[str, Any]] = [
        {
            "key": e.key,
            "path": str(e.path),
            "size": cache.size(e.path),
            "created": e.meta.get("created"),
            "packages": [f"{p['name']}=={p['version']}" for p in e.meta.get("packages", [])],
        }
        for e in entries
    ]
    envs: list[dict[str, Any]] = [{"path": str(p), "size": cache.size(p)} for p in conda.environments(cache.directory())]
    scratch = cache.scratch()
    if args.json:
        _emit(
            {
                "schema_version": 1,
                "cache": str(cache.directory()),
                "entries": rows,
                "conda_environments": envs,
                "temporary": [
                    {"path": str(s.path), "what": s.what, "size": s.size, "age": round(s.age), "pid": s.pid, "in_use": s.in_use}
                    for s in scratch
                ],
            }
        )
        return 0
    print(f"{cache.directory()}: {len(rows)} cached Python tree{'s' if len(rows) != 1 else ''}")
    for row in rows:
        print(f"  {row['key'][:16]}  {row['size'] / 1e6:8.1f} MB  {', '.join(row['packages']) or '(no packages)'}")
    if envs:
        print(f"{len(envs)} conda environment{'s' if len(envs) != 1 else ''} created from environment files")
        for env in envs:
            print(f"  {env['size'] / 1e6:8.1f} MB  {env['path']}")
    if scratch:
        left = [s for s in scratch if not s.in_use]
        print(
            f"{len(scratch)} temporary folder{'s' if len(scratch) != 1 else ''} in tmp/, {len(left)} left by killed runs"
            + (" (`gopack cache prune` removes them; so does a later bundle, after an hour)" if left else "")
        )
        for s in scratch:
            who = f"in use by process {s.pid}" if s.in_use else "left over" + (f" by process {s.pid}" if s.pid else "")
            print(f"  {s.size / 1e6:8.1f} MB  {s.path.name}: {s.what} ({who}, {_ago(s.age)})")
    return 0


def _ago(seconds: float) -> str:
    """
    >>> _ago(30), _ago(7200), _ago(200000)
    ('changed 30 s ago', 'changed 2.0 h ago', 'changed 2.3 days ago')
    """
    if seconds < 120:
        return f"changed {seconds:.0f} s ago"
    if seconds < 3600:
        return f"changed {seconds / 60:.0f} min ago"
    if seconds < 2 * 86400:
        return f"changed {seconds / 3600:.1f} h ago"
    return f"changed {seconds / 86400:.1f} days ago"


def _cache_prune(args: argparse.Namespace) -> int:
    removed = cache.prune(older_than_days=args.older_than)
    envs = conda.prune_environments(cache.directory(), older_than_days=args.older_than)
    left = cache.sweep(older_than=None)  # what killed runs left, at any age; a live run's folders stay
    if args.json:
        _emit(
            {
                "schema_version": 1,
                "removed": [e.key for e in removed],
                "removed_conda_environments": [str(p) for p in envs],
                "removed_temporary": [str(s.path) for s in left],
            }
        )
    else:
        log.info(
            "removed %d cached Python tree%s, %d conda environment%s and %d temporary folder%s (%.1f MB) left by killed runs from %s",
            len(removed),
            "s" if len(removed) != 1 else "",
            len(envs),
            "s" if len(envs) != 1 else "",
            len(left),
            "s" if len(left) != 1 else "",
            sum(s.size for s in left) / 1e6,
            cache.directory(),
        )
    return 0


def _floor(glibc: dict[str, Any]) -> str:
    """ "glibc 2.31", or for a bundle without one (macOS) the versions it needs: "macOS 14.7"."""
    if glibc["floor"] is not None:
        return f"glibc {glibc['floor']}"
    return ", ".join(f"{k} {v}" for k, v in glibc["symbol_versions"].items()) or "no floor"


def _machines(elf: dict[str, Any]) -> str:
    """ "95 files, all EM_AARCH64 (aarch64)", or the count of each machine when they differ."""
    machines: dict[str, int] = elf["machines"]
    if len(machines) == 1:
        (machine,) = machines
        return f"{elf['files']} files, all {machine} ({ARCH_OF_MACHINE.get(machine, 'an architecture gopack does not build for')})"
    return f"{elf['files']} files: " + ", ".join(f"{n} {m}" for m, n in machines.items())


def _inspect(args: argparse.Namespace) -> int:
    if args.sbom:
        return _print_sbom(args.target)
    document = contents.report(args.target)
    if args.json:
        _emit(document)
        return 0
    py, go, glibc = document["python"], document["go"], document["glibc"]
    lines = [
        f"{document['name']} {document['version']}  (gopack {document['gopack_version']})",
        f"  python     {py['version']} ({py['abi']}), {py['libpython']}",
        f"  binding    {document['binding']['name']} {document['binding']['version']}".rstrip(),
        f"  go         {go['version']} {go['goarch']}, {go['binary']}"
        + (f" (linked for {go['linked_for']})" if go.get("linked_for") else ""),
        *(
            f"  headers    {h['distribution'] or '(no distribution)'} {h['version']}: {', '.join(h['headers'])} from {h['include']}"
            for h in document["cgo_headers"]
        ),
        f"  platform   {document['platform']} ("
        + (f"glibc {glibc['floor']}; " if glibc["floor"] is not None else "")
        + ", ".join(f"{k} {v}" for k, v in glibc["symbol_versions"].items())
        + ")",
        f"  binaries   {_machines(document['elf'])}",
        f"  from host  {', '.join(document['host_libraries'])}",
        f"  size       {document['size']['total'] / 1e6:.1f} MB in {document['size']['files']} files"
        + (f", archive {document['archive_size'] / 1e6:.1f} MB" if document["archive_size"] and "executable" not in document else ""),
    ]
    if "executable" in document:
        one = document["executable"]
        lines.append(
            f"  executable {document['archive_size'] / 1e6:.1f} MB: launcher {one['launcher_size'] / 1e6:.1f} MB, "
            f"archive {one['payload_size'] / 1e6:.1f} MB; runs {one['program']}"
        )
    lines += [f"    {size / 1e6:9.1f} MB  {name}" for name, size in document["size"]["components"].items()]
    savings = document["savings"]
    blanked = savings["stripped"].get("blanked") or {"files": 0}
    lines.append(
        f"  saved      pruning {savings['pruned']['bytes'] / 1e6:.1f} MB in {savings['pruned']['files']} files, "
        f"stripping {savings['stripped']['bytes'] / 1e6:.1f} MB in {savings['stripped']['files']} files, "
        + (f"debug sections zeroed {blanked['bytes'] / 1e6:.1f} MB in {blanked['files']} files, " if blanked["files"] else "")
        + f"stored once {savings['deduplicated']['bytes'] / 1e6:.1f} MB in {savings['deduplicated']['files']} duplicate files"
    )
    lines += [f"    {r['bytes'] / 1e6:9.1f} MB  {r['files']:5d} files  {r['rule']}" for r in savings["pruned"]["rules"][:12]]
    kept = (document.get("sources") or {}).get("distributions") or []
    if kept or (document.get("sources") or {}).get("app"):
        lines.append(
            f"  sources    kept beside the bytecode for {len(kept)} distributions" + (" and the app" if document["sources"]["app"] else "")
        )
        lines += sources.describe(kept)
    if document.get("unresolved"):
        lines.append(
            f"  missing    {len(document['unresolved'])} libraries no wheel and no host library provides (those modules will not import)"
        )
        lines += [f"    {u['path']} needs {u['needs']}" for u in document["unresolved"]]
    if document.get("unpruned"):
        lines.append(f"  unpruned   {len(document['unpruned'])} files a rule matched, kept because code that stays imports them")
        lines += [f"    {u['path']}: {u['why']}" for u in document["unpruned"]]
    left_out = document.get("left_out")
    if left_out:
        lines.append(
            f"  left out   {left_out['bytes'] / 1e6:.1f} MB in {left_out['files']} files nothing the program imports reaches "
            f"(prune.imports; keep a module with {left_out['key']})"
        )
        for package in left_out["packages"]:
            modules = package["modules"]
            lines.append(
                f"    {package['bytes'] / 1e6:9.1f} MB  {package['files']:5d} files  {package['distribution']}: "
                f"{len(modules)} modules ({', '.join(modules[:4])}{' ...' if len(modules) > 4 else ''})"
                + (f", {len(package['other'])} other files" if package["other"] else "")
            )
            lines += [f"      {o['path']}: {o['why']}" for o in package["other"][:3]]
    unstripped = savings["stripped"].get("restored") or []
    if unstripped:
        lines.append(f"  unstripped {len(unstripped)} files shipped as the wheel had them")
        lines += [f"    {u['path']}: {u['why']}" for u in unstripped]
    lines.append(f"  packages   {len(document['packages'])}")
    lines += [f"    {p['name']} {p['version']}  [{p['license']}]" for p in document["packages"]]
    lines.append(f"  vendored   {len(document['vendored'])} libraries")
    lines += [
        f"    {v['name']}  <- {v['source']}  (for {', '.join(v['needed_by'][:3])}{' ...' if len(v['needed_by']) > 3 else ''})"
        for v in document["vendored"]
    ]
    print("\n".join(shown(line) for line in lines))  # every string in them is the manifest's
    return 0


def _print_sbom(target: Path) -> int:
    """The SBOM as the archive holds it, once it is known to be JSON with nothing a terminal would act on."""
    data = contents.bundled_file(target, sbom.NAME, max_bytes=sbom.MAX_BYTES)
    if data is None:
        raise VerifyError(
            f"{target}: its manifest lists no {sbom.NAME}; the bundle carries no SBOM",
            hint="it was made by a gopack without SBOMs: bundle it again",
        )
    try:
        document = sbom.parse(data)
    except (ValueError, RecursionError):
        raise VerifyError(
            f"{target}: its {sbom.NAME} is not UTF-8 JSON", hint="the archive was altered; do not trust what it holds"
        ) from None
    text = data.decode("utf-8")
    if any(not (c.isprintable() or c in "\n\t\r ") for c in text):
        text = json.dumps(document, indent=1) + "\n"  # escaped: \u001b, not the character
    sys.stdout.write(text)
    sys.stdout.flush()
    return 0


def _verify(args: argparse.Namespace) -> int:
    if args.sysroot is not None and not args.sysroot.is_dir():
        raise UsageError(f"--sysroot {args.sysroot}: not a directory", hint="give a root file system of the bundle's architecture")
    checks = verify.verify(
        args.archive,
        allow_unsandboxed=args.allow_unsandboxed,
        sysroot=args.sysroot.absolute() if args.sysroot is not None else None,
        timeout=args.timeout,
    )
    ok = all(c.ok for c in checks)
    if args.json:
        _emit(
            {
                "schema_version": 1,
                "archive": str(args.archive),
                "ok": ok,
                "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in checks],
            }
        )
    for check in checks:
        if args.show_output or not check.ok:
            # The archive's own program wrote it: split at line breaks only, each line marked as
            # its output; the log's formatter escapes every other control character.
            for line in check.output.rstrip("\n").split("\n") if check.output else ():
                log.warning("  | %s", line) if not check.ok else log.info("  | %s", line)
        (log.info if check.ok else log.error)("%s %s: %s", "ok  " if check.ok else "FAIL", check.name, shown(check.detail))
    return 0 if ok else 5


def _progress(args: argparse.Namespace) -> Any:
    def report(stage: str, seconds: float | None) -> None:
        if seconds is None:
            log.info("%s ...", stage)
        else:
            log.info("%s done in %.1f s", stage, seconds)

    return report


def _emit(document: dict[str, Any]) -> None:
    json.dump(document, sys.stdout, indent=2)
    sys.stdout.write("\n")
    sys.stdout.flush()


def _print_error(exc: GopackError) -> None:
    """The message, its details and the hint, control characters escaped but line breaks
    (gopack's own messages may have several lines; text quoted from an archive was
    escaped whole where the message was made)."""
    print(f"error: {shown(exc.message, output=True)}", file=sys.stderr)
    if exc.details:
        print("\n".join("  | " + shown(line, output=True) for line in exc.details.split("\n")), file=sys.stderr)
    if exc.hint:
        print(f"hint: {shown(exc.hint, output=True)}", file=sys.stderr)


class _Shown(logging.Formatter):
    """Every log line as :func:`shown` makes it: control characters escaped, line breaks kept
    (a message that quotes an archive's text as one line escapes its own)."""

    def format(self, record: logging.LogRecord) -> str:
        return shown(super().format(record), output=True)


def _configure_logging(verbose: bool, quiet: bool) -> None:
    _proc.stream_output = verbose
    level = logging.DEBUG if verbose else logging.ERROR if quiet else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Shown("%(message)s" if not verbose else "[%(name)s] %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # auditwheel logs each libpython it skips at INFO; its news is ours to tell.
    logging.getLogger("auditwheel").setLevel(logging.DEBUG if verbose else logging.WARNING)
