"""The manifest a bundle carries (``gopack.json``), put together from what the stages made.

Its schema is ``schemas/manifest.schema.json``; :mod:`gopack.archive.manifest`
reads one back (from a stranger's archive too) and checks it against that schema.
Every field is filled here and nowhere else: a capability that adds to the
manifest adds its field to :func:`document` and to the schema, side by side.
The keys keep their order (the file is written unsorted, so archives stay
byte-identical from one gopack to the next).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gopack import __version__
from gopack.archive import contents
from gopack.go.build import GoBinary
from gopack.go.cgoflags import GoInputs
from gopack.plan import Plan
from gopack.platform.base import Floor, Platform, Relocation
from gopack.python.tree import PythonTree


def document(
    the_plan: Plan,
    tree: PythonTree,
    *,
    binary: GoBinary,
    binary_rel: str,
    go_inputs: GoInputs,
    program: Relocation,
    floor: Floor,
    platform: Platform,
    files: Sequence[Mapping[str, Any]],
    links: Mapping[str, str],
    left_out: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything ``gopack.json`` says but its file list (``files``, which
    :func:`gopack.archive.write.write_manifest` appends) and its schema version.
    ``program``: the relocation of the Go binary (``binary_rel``, bundle-relative);
    ``links``: the files the archive stores as links to an identical one; ``left_out``: what
    prune.imports removed (:class:`gopack.python.program_imports.Outcome`)."""
    recipe, interpreter, the_target, meta = the_plan.recipe, the_plan.interpreter, the_plan.target, tree.meta
    vendored = [*meta["vendored"], *(v.to_json() for v in program.vendored)]
    sizes = {f["path"]: int(f["size"]) for f in files}
    return {
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
            "symbol_versions": platform.needs_of(program.requirements, binary_rel, machine=interpreter.elf_machine),
            "linked_for": the_target.zig_triple,
        },
        # Which packages' headers the cgo code was compiled with (none: only Python's own).
        "cgo_headers": [h.to_json() for h in go_inputs.headers],
        "glibc": {"floor": floor.highest.get("GLIBC"), "symbol_versions": dict(floor.highest), "tag": floor.tag},
        "host_libraries": sorted({*meta["host_libraries"], *program.host_libraries}),
        "vendored": vendored,
        "installer": meta["installer"],
        "packages": meta["packages"],
        "pruned": meta["pruned"],
        "stripped": meta["stripped"],
        "sources": meta["sources"],
        "unresolved": meta["unresolved"],
        "unpruned": meta["unpruned"],
        **({"left_out": dict(left_out)} if left_out is not None else {}),
        "components": contents.components(
            list(files),
            binary=binary_rel,
            stdlib=f"python/lib/python{interpreter.short_version}",
            vendored=[v["name"] for v in vendored],
            owners=meta["owners"],
        ),
        "smoke": {"command": list(recipe.smoke.command), "expect": list(recipe.smoke.expect), "timeout": recipe.smoke.timeout},
        "deduplicated": {"files": len(links), "bytes": sum(sizes[p] for p in links)},
    }
