"""``gopack bundle``: recipe -> plan -> Python tree (cached) -> app -> Go binary
-> relocation of the binary -> SBOM and manifest -> archive (the SBOM beside it,
SHA256SUMS updated).

The Go build needs the interpreter's headers and libpython, not the tree, so it
runs in a thread beside the Python and app stages (unless its cgo code includes
a header an installed package ships, or the recipe names the tree with a
placeholder: then it starts once the tree is made); an interrupt or a failure
there stops it (its process group gets SIGINT) before the staging tree goes.
Each stage is timed; the report says what was built and how long each stage
took (the go build's time overlaps the others'). The staging tree lives in a folder of the cache's tmp/ (so the
cached Python tree can be hard-linked into it), locked while in use and removed afterwards (a later run removes
what a killed one left: :func:`gopack.cache.sweep`); the outputs are the archive, renamed into place at the very end,
then its SBOM beside it, then the folder's SHA256SUMS (:mod:`gopack.archive.checksums`).
With ``output.format: exe`` the archive is one executable instead: the launcher (built first,
:mod:`gopack.go.launcher`), the tar.gz archive written in the staging folder, and a trailer
(:mod:`gopack.archive.exe`); with ``oci`` an image (:mod:`gopack.archive.oci`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gopack import _cputime, _proc, cache, manifest, plan, sbom
from gopack.archive import checksums, exe, oci, oci_base
from gopack.archive import write as archive
from gopack.errors import GopackError, UsageError
from gopack.go import build as gobuild
from gopack.go import buildinfo, cgoflags
from gopack.go import launcher as golauncher
from gopack.platform import platforms
from gopack.platform.base import Origin, Platform
from gopack.python import bytecode, conda, program_imports
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
    #: The SBOM beside the archive (the same bytes as the one inside it), and the folder's checksum file.
    sbom: Path
    checksums: Path
    stages: dict[str, float] = field(default_factory=dict)
    cached_python: bool = False
    #: With output.format oci: the layout (``archive``), its tar, digests and layers.
    image: oci.Image | None = None

    def report(self) -> dict[str, Any]:
        """The versioned document ``gopack bundle --json`` prints."""
        return {
            "schema_version": REPORT_SCHEMA_VERSION,
            "archive": str(self.archive),
            "size": self.size,
            "sbom": str(self.sbom),
            "checksums": str(self.checksums),
            "python": self.manifest["python"],
            "binding": self.manifest["binding"],
            "go": self.manifest["go"],
            "platform": self.manifest["platform"],
            "glibc": self.manifest["glibc"]["floor"],
            "vendored": len(self.manifest["vendored"]),
            "python_tree_cached": self.cached_python,
            "stages": {name: round(seconds, 3) for name, seconds in self.stages.items()},
            **({"image": self.image.report()} if self.image is not None else {}),
            # GOPACK_PROFILE: CPU seconds by step, children included, since the process started (gopack._cputime).
            **({"cpu": _cputime.report()} if _cputime.ENABLED else {}),
        }


class Stages:
    """Times each stage and tells the progress callback when one starts and ends."""

    def __init__(self, progress: Callable[[str, float | None], None]) -> None:
        self.progress = progress
        self.times: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        self.progress(name, None)
        start = time.monotonic()
        with _cputime.step(name):
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
    base: str | None = None,
    progress: Callable[[str, float | None], None] = lambda s, t: None,
    premade: plan.Plan | None = None,
    taken: Mapping[Path, str] | None = None,
) -> Bundle:
    """Build the archive ``recipe`` describes (with format oci, an image; ``base``: the OCI
    image layout it goes on, else its own runtime base). ``premade``: the plan, made already;
    ``taken``: archives other targets of this run wrote (path -> target), not to be overwritten.
    An interrupt that comes once the archive is in place (its staging folders are still being
    removed) carries the archive's path: see :func:`landed`."""
    done: list[Path] = []
    try:
        return _bundle(
            recipe, output_dir=output_dir, target=target, fmt=fmt, level=level, base=base, progress=progress, landed=done,
            premade=premade, taken=taken,
        )  # fmt: skip
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
    base: str | None,
    progress: Callable[[str, float | None], None],
    landed: list[Path],
    premade: plan.Plan | None = None,
    taken: Mapping[Path, str] | None = None,
) -> Bundle:
    """``premade``: the plan, made already; ``taken``: archives earlier targets of this run
    wrote (path -> target), which this one must not overwrite."""
    stage = Stages(progress)
    out = _Output.of(recipe, fmt=fmt, level=level, base=base)
    cache_dir = cache.directory()
    the_plan = premade
    if the_plan is None:
        with stage("plan"):
            the_plan = plan.make(recipe, cache_dir=cache_dir, options=target or plan.TargetOptions())
    if the_plan.target.goos != "linux" and (out.image or out.executable):
        raise UsageError(
            f"output format {out.fmt}: an OCI image and the one-file executable's launcher are Linux's, but the bundle is for "
            f"{the_plan.target.goos} ({the_plan.target.where_system})",
            hint="use --format tar.gz, tar.zst or zip (output.format) for a macOS bundle",
        )
    base_image = oci_base.read(base, goarch=the_plan.target.goarch) if base is not None else None
    interpreter, the_target = the_plan.interpreter, the_plan.target
    launcher = None
    if out.executable:
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
            go = _proc.start(background, go_build, name="go")
            # prune.imports removes files from the staged tree: its cached segment would not match.
            want = None if recipe.prune.imports else out.segment(recipe, top)
            with stage("python"):
                tree = _python_tree(the_plan, root, tree_made, cache_dir, want)
            # The tree's part of the archive (made with a new tree, else now) compresses while the
            # rest is put together: zlib-ng and zstd release the GIL.
            segment = None if want is None else _proc.start(background, lambda cancel: tree.segment(want), name="segment")
            with stage("app"):
                app_index = _app(the_plan, root, tree)
            # While the Go build runs (a rebuild waits for it here): what the SBOM needs of the tree,
            # and the file list of all but the folder the program is being written to.
            ahead = _sbom_ahead(the_plan, tree, platform)
            with _cputime.step("file hashes"):
                staged = archive.manifest_files(root, known={f["path"]: f for f in tree.meta["files"]}, but=gobuild.BIN)
            binary, go_inputs = go.result()
            with stage("relocate"):
                binary_rel = binary.path.relative_to(root).as_posix()
                program = platform.relocate_program(root, binary_rel, target=the_target)
                floor = platform.floor({**tree.requirements, **program.requirements}, machine=interpreter.elf_machine, target=the_target)
            left_out = None
            if app_index is not None:
                with stage("imports"):
                    left_out = _prune_imports(the_plan, root, work, tree, app_index, platform)
            dest = out.destination(output_dir or recipe.output.dir, f"{top}-{interpreter.tag}-{floor.tag}", taken=taken or {})
            with stage("manifest"):
                if left_out is None and not program.vendored:  # only the program's folder is new since
                    files = archive.with_folder(root, staged, gobuild.BIN)
                else:
                    files = archive.manifest_files(root, known={f["path"]: f for f in staged})
                links = _links(files, tree, out.tar_format)
                describe = functools.partial(
                    manifest.document, the_plan, tree, binary=binary, binary_rel=binary_rel, go_inputs=go_inputs, program=program,
                    floor=floor, platform=platform, links=links, left_out=left_out,
                )  # fmt: skip
                written, bill = _with_sbom(the_plan, ahead, root, binary_rel, platform, files, describe)
            with stage("image" if out.image else "archive"):
                segmented = None if segment is None else segment.result()
                shipped, image = _ship(out, the_plan, root, work, top, dest, written, tree, links, segmented, base_image, launcher)
                landed.append(dest)
                beside = dest.with_name(dest.name + sbom.SUFFIX)
                archive.write_file(beside, bill)
                sums = checksums.update(dest.parent, [shipped, beside])
    return Bundle(
        archive=dest, size=shipped.stat().st_size, manifest=written, sbom=beside, checksums=sums, stages=stage.times,
        cached_python=tree.cached, image=image,
    )  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class _Output:
    """What a run writes: an archive of a format and level, one executable (a launcher, then the
    tar.gz archive), or an OCI image (gzip layers)."""

    fmt: str  # as asked: tar.gz, tar.zst, zip, oci or exe
    level: int

    @property
    def image(self) -> bool:
        return self.fmt == oci.FORMAT

    @property
    def executable(self) -> bool:
        return self.fmt == exe.FORMAT

    @property
    def tar_format(self) -> str:
        """The format of the output's data: an image's layers are gzip tars, an executable holds a tar.gz."""
        return "tar.gz" if self.image else exe.PAYLOAD_FORMAT if self.executable else self.fmt

    @staticmethod
    def of(recipe: Recipe, *, fmt: str | None, level: int | None, base: str | None) -> _Output:
        """The command line's format and level, else the recipe's, else the defaults; checked before any work."""
        out = _Output(fmt=fmt or recipe.output.format, level=0)
        level = level or recipe.output.level or (oci.DEFAULT_LEVEL if out.image else archive.DEFAULT_LEVELS[out.tar_format])
        if out.image and level > 9:
            raise UsageError(f"compression level {level} is out of range for an image's gzip layers", hint="use 1-9")
        if base is not None and not out.image:
            raise UsageError(f"--base {base} puts an image on a base, but the output format is {out.fmt}", hint="add --format oci")
        return dataclasses.replace(out, level=level)

    def segment(self, recipe: Recipe, top: str) -> pytree.Segment | None:
        """The Python tree's part of the output, compressed once and cached (not for zip)."""
        if self.fmt == "zip":
            return None
        return pytree.Segment(top=oci.bundle_path(recipe.name) if self.image else top, fmt=self.tar_format, level=self.level)

    def destination(self, folder: Path, name: str, *, taken: Mapping[Path, str]) -> Path:
        """Where the output goes (an executable has no suffix); not where an earlier target of this run wrote."""
        dest = folder / (name if self.executable else f"{name}.{self.fmt}")
        if dest in taken:
            raise UsageError(
                f"{dest.name} is also the archive of the target {taken[dest]!r} of this run: its floor, machine and Python are the same",
                hint="give the targets different glibc floors or machines, or drop one of them",
            )
        return dest


def _ship(
    out: _Output,
    the_plan: plan.Plan,
    root: Path,
    work: Path,
    top: str,
    dest: Path,
    written: dict[str, Any],
    tree: pytree.PythonTree,
    links: dict[str, str],
    segment: archive.Segment | None,
    base: oci_base.Base | None,
    launcher: Path | None,
) -> tuple[Path, oci.Image | None]:
    """Write the staged bundle at ``root`` as ``out`` says: the file published (an image's tar), and the image."""
    if out.image:
        image = _image(the_plan, root, dest, written, written["go"]["binary"], tree, links, out.level, segment, base)
        return image.archive, image
    payload = work / f"{dest.name}.{out.tar_format}" if launcher is not None else dest
    archive.write(root, top, payload, fmt=out.tar_format, level=out.level, links=links, segment=segment)
    if launcher is not None:
        exe.write(launcher, payload, dest, top=top, program=written["go"]["binary"], manifest=root / archive.MANIFEST)
    return dest, None


def _with_sbom(
    the_plan: plan.Plan,
    ahead: _SbomAhead,
    root: Path,
    binary_rel: str,
    platform: Platform,
    files: list[dict[str, Any]],
    describe: Callable[..., dict[str, Any]],
) -> tuple[dict[str, Any], bytes]:
    """Write the SBOM into the bundle, then the manifest that lists it like any file: the SBOM
    names the bundle's files by their hashes. The manifest as written, and the SBOM's bytes."""
    document = describe(files=files)
    with _cputime.step("sbom"):
        bill = sbom.document(document, files, _sbom_sources(the_plan, ahead, root / binary_rel, platform, document), epoch=archive.epoch())
    (root / sbom.NAME).write_bytes(bill)
    files = archive.with_files(root, files, [sbom.NAME])
    return archive.write_manifest(root, describe(files=files), files), bill


def _image(
    the_plan: plan.Plan,
    root: Path,
    dest: Path,
    document: dict[str, Any],
    program: str,
    tree: pytree.PythonTree,
    links: dict[str, str],
    level: int,
    segment: archive.Segment | None,
    base: oci_base.Base | None,
) -> oci.Image:
    """The OCI image of the staged bundle: on ``base``, else on the runtime base its host libraries make."""
    recipe, target = the_plan.recipe, the_plan.target
    runtime = (
        None
        if base is not None
        else platforms.of(target).runtime_base(root, program=program, host_libraries=document["host_libraries"], target=target)
    )
    spec = oci.ImageSpec(
        name=recipe.name,
        version=recipe.version,
        goarch=target.goarch,
        program=program,
        created=archive.epoch(),
        env=runtime.env if runtime is not None else (),
    )
    return oci.write_image(
        root,
        dest,
        spec=spec,
        python=tree.names,
        links=links,
        level=level,
        segment=segment,
        runtime=runtime,
        base=base,
    )


@dataclass(frozen=True, kw_only=True)
class _SbomAhead:
    """What the SBOM needs of the tree, found while the Go build runs."""

    owners: Mapping[str, str]
    looked_up: frozenset[str]  # the vendored libraries' host files whose origins were looked for
    origins: Mapping[str, Origin]


def _sbom_ahead(the_plan: plan.Plan, tree: pytree.PythonTree, platform: Platform) -> _SbomAhead:
    with _cputime.step("sbom"):
        sbom.prepare()
        sources = [str(v["source"]) for v in tree.meta["vendored"]]
        return _SbomAhead(
            owners=tree.meta["owners"], looked_up=frozenset(sources), origins=platform.origins(sources, target=the_plan.target)
        )


def _sbom_sources(the_plan: plan.Plan, ahead: _SbomAhead, binary: Path, platform: Platform, document: dict[str, Any]) -> sbom.Sources:
    """What the SBOM says beyond the manifest: the Go binary's build info, the system package each
    vendored library was copied from, which distribution owns which file, the conda packages."""
    rest = [v["source"] for v in document["vendored"] if v["source"] not in ahead.looked_up]  # the program's own
    return sbom.Sources(
        build_info=buildinfo.read(the_plan.toolchain.go, binary),
        origins={**ahead.origins, **platform.origins(rest, target=the_plan.target)},
        owners=ahead.owners,
        conda=conda.records(the_plan.interpreter.prefix) if the_plan.recipe.python.conda is not None else (),
        sysroot=the_plan.target.sysroot,
    )


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
    stage: Stages,
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


def _app(the_plan: plan.Plan, root: Path, tree: pytree.PythonTree) -> dict[str, Any] | None:
    """The user's own code, copied and compiled by the bundle's interpreter (or, where it cannot run,
    its stand-in); with prune.imports, what it imports, read before its sources go."""
    interpreter = the_plan.interpreter
    pythonenv.copy_code(the_plan.recipe, root / pythonenv.APP)
    app_index = None
    if the_plan.recipe.prune.imports:
        site_index = program_imports.read_index(tree.imports_index)
        app_index = {"site": site_index, "app": program_imports.index_app(root / pythonenv.APP, site_index)}
    bytecode.compile_tree(
        interpreter.compiler or root / "python" / "bin" / interpreter.program,
        root / pythonenv.APP,
        relative_to=root,
        version=interpreter.short_version,
        keep_sources=bool(tree.meta["sources"]["app"]),
        epoch=archive.epoch(),
        target=the_plan.target,
    )
    return app_index


def _prune_imports(
    the_plan: plan.Plan, root: Path, work: Path, tree: pytree.PythonTree, indexes: dict[str, Any], platform: Platform
) -> dict[str, Any]:
    """prune.imports on the staged bundle (:mod:`gopack.python.program_imports`): the manifest's ``left_out``."""
    recipe = the_plan.recipe
    outcome = program_imports.prune(
        root,
        tree.site_packages,
        site_index=indexes["site"],
        app_index=indexes["app"],
        go=program_imports.go_strings(recipe.go.module),
        modules=recipe.prune.modules,
        command=recipe.smoke.command,
        timeout=recipe.smoke.timeout,
        scratch=work / "import-trace",
        platform=platform,
        owners=tree.meta["owners"],
        python=the_plan.interpreter.compiler or root / "python" / "bin" / the_plan.interpreter.program,
        version=the_plan.interpreter.short_version,
    )
    return outcome.to_json()


def _links(files: list[dict[str, Any]], tree: pytree.PythonTree, fmt: str) -> dict[str, str]:
    """Duplicates the archive stores as links: within the cached tree and within the rest, never
    across (the tree's part of the archive is compressed once: archive.Segment)."""
    shared = tree.names if fmt != "zip" else frozenset()
    return {
        **archive.duplicates([f for f in files if f["path"] in shared], fmt),
        **archive.duplicates([f for f in files if f["path"] not in shared], fmt),
    }
