"""``gopack bundle``: recipe -> plan -> Python env -> Go binary -> manifest -> archive.

Each stage is timed; the report says what was built and how long each stage took.
The staging tree lives in a temporary directory that is removed afterwards; the
only output is the archive, renamed into place at the very end.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from gopack import __version__, archive, contents, gobuild, plan, pythonenv, relocate
from gopack.recipe import Recipe

log = logging.getLogger(__name__)

REPORT_SCHEMA_VERSION = 1


@dataclass(frozen=True, kw_only=True)
class Bundle:
    archive: Path
    size: int
    manifest: dict[str, Any]
    stages: dict[str, float] = field(default_factory=dict)

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
            "stages": {name: round(seconds, 3) for name, seconds in self.stages.items()},
        }


def cache_dir() -> Path:
    return Path(os.environ.get("GOPACK_CACHE_DIR") or platformdirs.user_cache_dir("gopack"))


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
    max_glibc: str | None = None,
    progress: Callable[[str, float | None], None] = lambda s, t: None,
) -> Bundle:
    stage = _Stages(progress)
    with stage("plan"):
        the_plan = plan.make(recipe)
    interpreter = the_plan.interpreter
    top = f"{recipe.name}-{recipe.version}"
    with tempfile.TemporaryDirectory(prefix="gopack-") as tmp:
        work = Path(tmp)
        root = work / top
        root.mkdir()
        with stage("python"):
            env = pythonenv.build(recipe, interpreter, root)
        with stage("go build"):
            binary = gobuild.build(the_plan, root, work, cache_dir())
        with stage("relocate"):
            relocated = relocate.relocate(
                root,
                go_binary=binary.path.relative_to(root).as_posix(),
                machine=interpreter.elf_machine,
                max_glibc=max_glibc or recipe.max_glibc,
                where_max="--max-glibc" if max_glibc else recipe.where("max_glibc"),
            )
        platform_tag = relocated.floor.tag
        dest = (output_dir or recipe.output.dir) / f"{top}-{interpreter.tag}-{platform_tag}.tar.gz"
        with stage("manifest"):
            files = archive.manifest_files(root)
            sizes = contents.components(
                files,
                binary=binary.path.relative_to(root).as_posix(),
                stdlib=env.site_packages.parent.relative_to(root).as_posix(),
                vendored=[v.name for v in relocated.vendored],
                owners=contents.distribution_files(env.site_packages, root),
            )
            manifest = archive.write_manifest(root, {
                "gopack_version": __version__,
                "name": recipe.name,
                "version": recipe.version,
                "platform": platform_tag,
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
                    "binary": binary.path.relative_to(root).as_posix(),
                    "rpath": binary.rpath,
                },
                "glibc": {"floor": relocated.floor.highest.get("GLIBC"), "symbol_versions": dict(relocated.floor.highest), "tag": platform_tag},
                "host_libraries": list(relocated.host_libraries),
                "vendored": [
                    {"name": v.name, "soname": v.soname, "source": str(v.source), "sha256": v.sha256, "needed_by": list(v.needed_by)}
                    for v in relocated.vendored
                ],
                "installer": env.installer,
                "packages": [{"name": p.name, "version": p.version, "license": p.license} for p in env.packages],
                "components": sizes,
                "smoke": {"command": list(recipe.smoke.command), "expect": list(recipe.smoke.expect), "timeout": recipe.smoke.timeout},
            }, files)
        with stage("archive"):
            size = archive.write_tar_gz(root, top, dest)
    return Bundle(archive=dest, size=size, manifest=manifest, stages=stage.times)
