"""``gopack bundle``: recipe -> plan -> Python tree (cached) -> app -> Go binary
-> relocation of the binary -> manifest -> archive.

The Go build needs the interpreter's headers and libpython, not the tree, so it
runs in a thread beside the Python and app stages (unless its cgo code includes
a header an installed package ships, or the recipe names the tree with a
placeholder: then it starts once the tree is made); an interrupt or a failure
there stops it (its process group gets SIGINT) before the staging tree goes.
Each stage is timed; the report says what was built and how long each stage
took (the go build's time overlaps the others'). The staging tree lives in a folder of the cache's tmp/ (so the
cached Python tree can be hard-linked into it), locked while in use and removed afterwards (a later run removes
what a killed one left: :func:`gopack.cache.sweep`); the only output is the archive, renamed into place at the very end.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gopack import __version__, _proc, archive, bytecode, cache, cgoflags, contents, gobuild, plan, pythonenv, pytree, relocate
from gopack.elf import analysis
from gopack.errors import GopackError
from gopack.recipe import Recipe

log = logging.getLogger(__name__)

REPORT_SCHEMA_VERSION = 1


@dataclass(frozen=True, kw_only=True)
class Bundle:
    archive: Path
    size: int
    manifest: dict[str, Any]
    stages: dict[str, float] = field(default_factory=dict)
    cached_python: bool = False

    def report(self) -> dict[str, Any]:
        """The versioned document ``gopack bundle --json`` prints."""
        return {
            "schema_version": REPORT_SCHEMA_VERSION,
            "archive": str(self.archive),
            "size": self.size,
            "python": self.manifest["python"],
            "binding": self.manifest["binding"],
            "go": self.manifest["go"],
            "platform": self.manifest["platform"],
            "glibc": self.manifest["glibc"]["floor"],
            "vendored": len(self.manifest["vendored"]),
            "python_tree_cached": self.cached_python,
            "stages": {name: round(seconds, 3) for name, seconds in self.stages.items()},
        }


class _Stages:
    """Times each stage and tells the progress callback when one starts and ends."""

    def __init__(self, progress: Callable[[str, float | None], None]) -> None:
        self.progress = progress
        self.times: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        self.progress(name, None)
        start = time.monotonic()
        yield
        self.times[name] = time.monotonic() - start
        self.progress(name, self.times[name])


def bundle(
    recipe: Recipe,
    *,
    output_dir: Path | None = None,
    target: plan.TargetOptions | None = None,
    fmt: str | None = None,
    level: int | None = None,
    progress: Callable[[str, float | None], None] = lambda s, t: None,
) -> Bundle:
    """Build the archive ``recipe`` describes. An interrupt that comes once the archive is in
    place (its staging folders are still being removed) carries the archive's path: see :func:`landed`."""
    done: list[Path] = []
    try:
        return _bundle(recipe, output_dir=output_dir, target=target, fmt=fmt, level=level, progress=progress, landed=done)
    except KeyboardInterrupt as exc:
        if done:
            exc.args = (*exc.args, _Landed(archive=done[0]))
        raise


@dataclass(frozen=True, kw_only=True)
class _Landed:
    archive: Path


def landed(interrupt: KeyboardInterrupt) -> Path | None:
    """The complete archive a build wrote before ``interrupt`` stopped it, if it got that far."""
    return next((a.archive for a in interrupt.args if isinstance(a, _Landed)), None)


def _bundle(
    recipe: Recipe,
    *,
    output_dir: Path | None,
    target: plan.TargetOptions | None,
    fmt: str | None,
    level: int | None,
    progress: Callable[[str, float | None], None],
    landed: list[Path],
) -> Bundle:
    stage = _Stages(progress)
    fmt = fmt or recipe.output.format
    level = level or recipe.output.level or archive.DEFAULT_LEVELS[fmt]
    cache_dir = cache.directory()
    with stage("plan"):
        the_plan = plan.make(recipe, cache_dir=cache_dir, options=target or plan.TargetOptions())
    interpreter, the_target = the_plan.interpreter, the_plan.target
    top = f"{recipe.name}-{recipe.version}"
    cleared = cache.sweep(cache_dir)
    if cleared:
        log.info(
            "removed %d folder%s (%.1f MB) that killed runs left in %s",
            len(cleared),
            "s" if len(cleared) != 1 else "",
            sum(c.size for c in cleared) / 1e6,
            cache_dir / "tmp",
        )
    with cache.staging(cache_dir, "stage-", what=f"staging tree of {top}") as work:
        root = work / top
        root.mkdir()

        # Set by the Python stage (cancelled if it fails): a Go build that includes the tree's
        # headers, or names it with a placeholder, waits for it; any other builds beside it.
        tree_made: Future[pytree.PythonTree] = Future()

        def go_build(cancel: _proc.Cancel) -> tuple[gobuild.GoBinary, cgoflags.GoInputs]:
            tree_for_go = tree_made.result() if the_plan.needs_tree else None
            with stage("go build"):
                try:
                    inputs = cgoflags.prepare(the_plan, tree_for_go, cache_dir=cache_dir)
                    return gobuild.build(the_plan, root, work, inputs, cancel=cancel), inputs
                except GopackError as exc:
                    if not cancel.stopped and not the_plan.needs_tree:
                        # Said now, not after the Python stage: the user can fix the Go code while
                        # the tree is finished and cached for the next run.
                        first = "".join(f"\n  | {line}" for line in (exc.details or "").splitlines()[:6])
                        log.warning("%s; the Python tree is finished first, so that the next run reuses it%s", exc.message, first)
                    raise

        with contextlib.ExitStack() as background:
            # Held until the archive is written: `gopack cache prune` leaves a tree in use alone.
            background.enter_context(cache.using(pytree.key(recipe, interpreter, the_target), cache_dir))
            go = background.enter_context(_proc.in_background(go_build, name="go"))
            with stage("python"):
                want = None if fmt == "zip" else pytree.Segment(top=top, fmt=fmt, level=level)
                try:
                    tree = pytree.get(recipe, interpreter, the_target, cache_dir=cache_dir, segment=want)
                except BaseException:
                    tree_made.cancel()
                    raise
                tree_made.set_result(tree)
                tree.link_into(root)
            # The tree's part of the archive (made with a new tree, else now) compresses while the
            # rest is put together: zlib-ng and zstd release the GIL.
            segment = (
                None if want is None else background.enter_context(_proc.in_background(lambda cancel: tree.segment(want), name="segment"))
            )
            with stage("app"):
                pythonenv.copy_code(recipe, root / pythonenv.APP)
                python = root / "python" / "bin" / interpreter.program
                bytecode.compile_tree(
                    python,
                    root / pythonenv.APP,
                    relative_to=root,
                    version=interpreter.short_version,
                    keep_sources=bool(tree.meta["sources"]["app"]),
                    epoch=archive.epoch(),
                    target=the_target,
                )
            binary, go_inputs = go.result()
            with stage("relocate"):
                binary_rel = binary.path.relative_to(root).as_posix()
                for_binary = relocate.relocate(
                    root,
                    frozen=frozenset({binary_rel}),
                    only=frozenset({binary_rel}),
                    ld_paths=the_target.ld_paths,
                    where=the_target.libraries_where,
                )
                floor = relocate.floor(
                    {**tree.requirements, **for_binary.requirements},
                    machine=interpreter.elf_machine,
                    max_glibc=the_target.floor,
                    where_max=the_target.where_glibc,
                )
            dest = (output_dir or recipe.output.dir) / f"{top}-{interpreter.tag}-{floor.tag}.{fmt}"
            with stage("manifest"):
                meta = tree.meta
                files = archive.manifest_files(root, known={f["path"]: f for f in meta["files"]})
                vendored = [*meta["vendored"], *(v.to_json() for v in for_binary.vendored)]
                document = {
                    "gopack_version": __version__,
                    "name": recipe.name,
                    "version": recipe.version,
                    "platform": floor.tag,
                    "python": {
                        "version": interpreter.version,
                        "abi": interpreter.abi,
                        "tag": interpreter.tag,
                        "libpython": interpreter.soname,
                        "executable": f"python/bin/{interpreter.program}",
                    },
                    "binding": {
                        "name": the_plan.binding.name,
                        "module": the_plan.binding.module,
                        "version": the_plan.binding.module_version,
                        "pkg_config": list(the_plan.binding.pkg_config),
                    },
                    "go": {
                        "version": the_plan.toolchain.version,
                        "goos": the_plan.toolchain.goos,
                        "goarch": the_plan.toolchain.goarch,
                        "binary": binary_rel,
                        "rpath": binary.rpath,
                        # The program's own needs: with target.glibc or a root, zig linked it for the floor.
                        "symbol_versions": dict(
                            analysis.floor_of({binary_rel: for_binary.requirements.get(binary_rel, {})}, interpreter.elf_machine).highest
                        ),
                        "linked_for": the_target.zig_triple,
                    },
                    # Which packages' headers the cgo code was compiled with (none: only Python's own).
                    "cgo_headers": [h.to_json() for h in go_inputs.headers],
                    "glibc": {"floor": floor.highest.get("GLIBC"), "symbol_versions": dict(floor.highest), "tag": floor.tag},
                    "host_libraries": sorted({*meta["host_libraries"], *for_binary.host_libraries}),
                    "vendored": vendored,
                    "installer": meta["installer"],
                    "packages": meta["packages"],
                    "pruned": meta["pruned"],
                    "stripped": meta["stripped"],
                    "sources": meta["sources"],
                    "unresolved": meta["unresolved"],
                    "unpruned": meta["unpruned"],
                    "components": contents.components(
                        files,
                        binary=binary_rel,
                        stdlib=f"python/lib/python{interpreter.short_version}",
                        vendored=[v["name"] for v in vendored],
                        owners=meta["owners"],
                    ),
                    "smoke": {"command": list(recipe.smoke.command), "expect": list(recipe.smoke.expect), "timeout": recipe.smoke.timeout},
                }
                # Duplicates are linked within the cached tree and within the rest, never
                # across: the tree's part of the archive is compressed once (archive.Segment).
                shared = tree.names if fmt != "zip" else frozenset()
                links = {
                    **archive.duplicates([f for f in files if f["path"] in shared], fmt),
                    **archive.duplicates([f for f in files if f["path"] not in shared], fmt),
                }
                sizes = {f["path"]: int(f["size"]) for f in files}
                document["deduplicated"] = {"files": len(links), "bytes": sum(sizes[p] for p in links)}
                manifest = archive.write_manifest(root, document, files)
            with stage("archive"):
                size = archive.write(
                    root, top, dest, fmt=fmt, level=level, links=links, segment=None if segment is None else segment.result()
                )
                landed.append(dest)
    return Bundle(archive=dest, size=size, manifest=manifest, stages=stage.times, cached_python=tree.cached)
