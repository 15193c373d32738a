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
With ``output.format: exe`` that output is one executable instead: the launcher (built first, :mod:`gopack.go.launcher`),
the tar.gz archive written in the staging folder, and a trailer (:mod:`gopack.archive.exe`).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gopack import _proc, cache, manifest, plan
from gopack.archive import exe
from gopack.archive import write as archive
from gopack.errors import GopackError
from gopack.go import build as gobuild
from gopack.go import cgoflags
from gopack.go import launcher as golauncher
from gopack.platform import platforms
from gopack.python import bytecode
from gopack.python import env as pythonenv
from gopack.python import tree as pytree
from gopack.recipe.model import Recipe

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
    output = fmt or recipe.output.format
    # An executable holds the tar.gz an archive would be, after its launcher (gopack.archive.exe).
    fmt = exe.PAYLOAD_FORMAT if output == exe.FORMAT else output
    level = level or recipe.output.level or archive.DEFAULT_LEVELS[fmt]
    cache_dir = cache.directory()
    with stage("plan"):
        the_plan = plan.make(recipe, cache_dir=cache_dir, options=target or plan.TargetOptions())
    interpreter, the_target = the_plan.interpreter, the_plan.target
    launcher = None
    if output == exe.FORMAT:
        with stage("launcher"):  # built once, then from the cache; before any work, as it may fail
            launcher = golauncher.build(the_plan.toolchain, goarch=the_target.goarch, cache_dir=cache_dir)
    platform = platforms.of(the_target)
    top = f"{recipe.name}-{recipe.version}"
    _sweep(cache_dir)
    with cache.staging(cache_dir, "stage-", what=f"staging tree of {top}") as work:
        root = work / top
        root.mkdir()
        # Set by the Python stage (cancelled if it fails): a Go build that includes the tree's
        # headers, or names it with a placeholder, waits for it; any other builds beside it.
        tree_made: Future[pytree.PythonTree] = Future()
        with contextlib.ExitStack() as background:
            # Held until the archive is written: `gopack cache prune` leaves a tree in use alone.
            background.enter_context(cache.using(pytree.key(recipe, interpreter, the_target), cache_dir))
            go_build = functools.partial(_go_build, the_plan, tree_made, root, work, cache_dir, stage)
            go = background.enter_context(_proc.in_background(go_build, name="go"))
            want = None if fmt == "zip" else pytree.Segment(top=top, fmt=fmt, level=level)
            with stage("python"):
                tree = _python_tree(the_plan, root, tree_made, cache_dir, want)
            # The tree's part of the archive (made with a new tree, else now) compresses while the
            # rest is put together: zlib-ng and zstd release the GIL.
            segment = (
                None if want is None else background.enter_context(_proc.in_background(lambda cancel: tree.segment(want), name="segment"))
            )
            with stage("app"):
                _app(the_plan, root, tree)
            binary, go_inputs = go.result()
            with stage("relocate"):
                binary_rel = binary.path.relative_to(root).as_posix()
                program = platform.relocate_program(root, binary_rel, target=the_target)
                floor = platform.floor({**tree.requirements, **program.requirements}, machine=interpreter.elf_machine, target=the_target)
            name = f"{top}-{interpreter.tag}-{floor.tag}"
            dest = (output_dir or recipe.output.dir) / (name if launcher is not None else f"{name}.{fmt}")
            with stage("manifest"):
                files = archive.manifest_files(root, known={f["path"]: f for f in tree.meta["files"]})
                links = _links(files, tree, fmt)
                document = manifest.document(
                    the_plan, tree, binary=binary, binary_rel=binary_rel, go_inputs=go_inputs, program=program, floor=floor,
                    platform=platform, files=files, links=links,
                )  # fmt: skip
                written = archive.write_manifest(root, document, files)
            with stage("archive"):
                size = archive.write(
                    root,
                    top,
                    dest if launcher is None else work / f"{name}.{fmt}",
                    fmt=fmt,
                    level=level,
                    links=links,
                    segment=None if segment is None else segment.result(),
                )
                if launcher is not None:
                    size = exe.write(launcher, work / f"{name}.{fmt}", dest, top=top, program=binary_rel, manifest=root / archive.MANIFEST)
                landed.append(dest)
    return Bundle(archive=dest, size=size, manifest=written, stages=stage.times, cached_python=tree.cached)


def _sweep(cache_dir: Path) -> None:
    """Remove what killed runs left in the cache's tmp/, and say so."""
    cleared = cache.sweep(cache_dir)
    if cleared:
        log.info(
            "removed %d folder%s (%.1f MB) that killed runs left in %s",
            len(cleared),
            "s" if len(cleared) != 1 else "",
            sum(c.size for c in cleared) / 1e6,
            cache_dir / "tmp",
        )


def _go_build(
    the_plan: plan.Plan,
    tree_made: Future[pytree.PythonTree],
    root: Path,
    work: Path,
    cache_dir: Path,
    stage: _Stages,
    cancel: _proc.Cancel,
) -> tuple[gobuild.GoBinary, cgoflags.GoInputs]:
    """The go build, in its own thread: at once, or once the tree is made when it needs the tree."""
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


def _python_tree(
    the_plan: plan.Plan, root: Path, tree_made: Future[pytree.PythonTree], cache_dir: Path, want: pytree.Segment | None
) -> pytree.PythonTree:
    """The cached Python tree (made if new), linked into ``root``; a Go build waiting for it is told."""
    try:
        tree = pytree.get(the_plan.recipe, the_plan.interpreter, the_plan.target, cache_dir=cache_dir, segment=want)
    except BaseException:
        tree_made.cancel()
        raise
    tree_made.set_result(tree)
    tree.link_into(root)
    return tree


def _app(the_plan: plan.Plan, root: Path, tree: pytree.PythonTree) -> None:
    """The user's own code, copied and compiled by the bundle's interpreter."""
    interpreter = the_plan.interpreter
    pythonenv.copy_code(the_plan.recipe, root / pythonenv.APP)
    bytecode.compile_tree(
        root / "python" / "bin" / interpreter.program,
        root / pythonenv.APP,
        relative_to=root,
        version=interpreter.short_version,
        keep_sources=bool(tree.meta["sources"]["app"]),
        epoch=archive.epoch(),
        target=the_plan.target,
    )


def _links(files: list[dict[str, Any]], tree: pytree.PythonTree, fmt: str) -> dict[str, str]:
    """Duplicates the archive stores as links: within the cached tree and within the rest, never
    across (the tree's part of the archive is compressed once: archive.Segment)."""
    shared = tree.names if fmt != "zip" else frozenset()
    return {
        **archive.duplicates([f for f in files if f["path"] in shared], fmt),
        **archive.duplicates([f for f in files if f["path"] not in shared], fmt),
    }
