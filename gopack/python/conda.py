"""conda environments as the Python side of a bundle.

A recipe names one with ``python.conda``: an existing environment by prefix or
by name (looked up with the conda, mamba or micromamba on PATH), or an
``environment.yml`` that gopack solves and creates itself with py-rattler, so
that no conda installation is needed. Created environments are cached under
``<cache>/conda/<key>/prefix``, the key being a sha256 over the solved packages
(URL and sha256 of each) and the ``pip:`` section; conda rewrites prefixes at
install time, so an environment is made in its final place and marked complete
last, under a lock, instead of being renamed into place.

Packing goes through conda-pack's Python API: it knows which files conda
manages, refuses environments that pip damaged, and rewrites the environment's
prefix in text and binary files. The prefix is rewritten to :data:`DEST_PREFIX`,
a fixed path, so that a bundle names no build machine path and is the same
wherever the environment lived; nothing in an embedded interpreter reads it
(CPython finds its home from the executable, see gopack_home.h).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gopack import __version__, _proc, cache
from gopack.errors import BuildError, RecipeError, ToolchainError
from gopack.python import _rattler
from gopack.python.env import Package, find_uv
from gopack.recipe.model import Recipe

#: What conda-pack writes in place of the environment's prefix.
DEST_PREFIX = "/gopack/python"
_MANAGERS = ("conda", "mamba", "micromamba")
_READY = "gopack-ready.json"


@dataclass(frozen=True, kw_only=True)
class Environment:
    prefix: Path


@dataclass(frozen=True, kw_only=True)
class EnvironmentFile:
    path: Path
    channels: tuple[str, ...]
    dependencies: tuple[str, ...]
    pip: tuple[str, ...]


# -- finding the environment ---------------------------------------------------------------


def resolve(recipe: Recipe, *, cache_dir: Path) -> Environment:
    """The environment ``python.conda`` names, created first for an environment.yml."""
    spec = recipe.python.conda
    assert spec is not None
    where = recipe.where(spec.key)
    if spec.environment_file is not None:
        return Environment(prefix=create(read_environment_file(spec.environment_file), cache_dir=cache_dir))
    if spec.prefix is not None:
        prefix = spec.prefix
    else:
        assert spec.name is not None
        prefix = find_by_name(spec.name, where=where)
    check_environment(prefix, where=where)
    return Environment(prefix=prefix)


def check_environment(prefix: Path, *, where: str) -> None:
    if not prefix.is_dir():
        raise RecipeError(
            f"{where}: the conda environment {prefix} does not exist",
            hint="create it (conda env create -f environment.yml -p PATH), fix the path, or use python.conda.environment_file to let gopack create it",
        )
    if not (prefix / "conda-meta").is_dir():
        plain = any((prefix / "bin").glob("python3*")) if (prefix / "bin").is_dir() else False
        raise RecipeError(
            f"{where}: {prefix} is not a conda environment (it has no conda-meta/ folder)",
            hint="for a plain CPython installation use python.interpreter with python.requirements"
            if plain
            else "point python.conda.prefix at the folder that holds conda-meta/, bin/ and lib/",
        )


def find_by_name(name: str, *, where: str) -> Path:
    """The prefix of environment ``name``, as the conda, mamba or micromamba on PATH lists it."""
    manager = _manager()
    if manager is None:
        raise ToolchainError(
            f"{where}: looking up the environment {name!r} needs conda, mamba or micromamba, and none is on PATH (nor $CONDA_EXE, $MAMBA_EXE)",
            hint="set python.conda.prefix to the environment's folder instead",
        )
    out = _proc.run([manager, "env", "list", "--json"], what=f"{manager.name} env list", error=ToolchainError)
    try:
        envs = [Path(p) for p in json.loads(out)["envs"]]
    except (ValueError, KeyError, TypeError):
        raise ToolchainError(
            f"{manager} env list --json did not answer with a list of environments", hint="set python.conda.prefix instead"
        ) from None
    for prefix in envs:
        if prefix.name == name:
            return prefix
    known = ", ".join(sorted(p.name for p in envs)) or "none"
    raise RecipeError(
        f"{where}: {manager.name} knows no environment named {name!r} (it knows: {known})",
        hint=f"create it ({manager.name} create -n {name} python=3.7) or fix the name",
    )


def _manager() -> Path | None:
    for variable in ("CONDA_EXE", "MAMBA_EXE"):
        value = os.environ.get(variable)
        if value and Path(value).is_file():
            return Path(value)
    for tool in _MANAGERS:
        found = shutil.which(tool)
        if found:
            return Path(found)
    return None


# -- creating one from an environment.yml ---------------------------------------------------


def read_environment_file(path: Path) -> EnvironmentFile:
    try:
        data = yaml.safe_load(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError(f"{path}: cannot read: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise RecipeError(
            f"{path}{line}: not valid YAML: {getattr(exc, 'problem', exc)}", hint="see conda's environment.yml format"
        ) from None
    if not isinstance(data, dict):
        raise RecipeError(
            f"{path}: an environment file is a mapping with channels: and dependencies:", hint="see conda's environment.yml format"
        )
    channels = data.get("channels") or []
    dependencies = data.get("dependencies") or []
    if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels) or not channels:
        raise RecipeError(f"{path}: channels: must be a non-empty list of channel names or URLs", hint="e.g. channels: [conda-forge]")
    specs: list[str] = []
    pip: list[str] = []
    for item in dependencies if isinstance(dependencies, list) else [None]:
        if isinstance(item, str):
            specs.append(item)
        elif (
            isinstance(item, dict)
            and set(item) == {"pip"}
            and isinstance(item["pip"], list)
            and all(isinstance(p, str) for p in item["pip"])
        ):
            pip += item["pip"]
        else:
            raise RecipeError(
                f"{path}: dependencies: each item is a package spec (python=3.7) or one pip: list, not {item!r}",
                hint="see conda's environment.yml format",
            )
    if not any(_spec_name(s) == "python" for s in specs):
        raise RecipeError(
            f"{path}: dependencies: name python (e.g. python=3.7): the bundle embeds the environment's own Python",
            hint="add - python=3.7 (the version your Go binding compiles against)",
        )
    base = path.parent
    return EnvironmentFile(path=path, channels=tuple(_channel_url(c, base) for c in channels), dependencies=tuple(specs), pip=tuple(pip))


#: A conda spec's package name: after an optional ``channel::``, up to the first space,
#: version operator or ``[``.
_SPEC_NAME = re.compile(r"\s*(?:[^:\s]+::)?([^\s=<>!~\[]+)")


def _spec_name(spec: str) -> str:
    match = _SPEC_NAME.match(spec)
    return match.group(1).lower() if match else ""


def _channel_url(channel: str, base: Path) -> str:
    """A local channel folder becomes a file:// URL (relative to the environment file); names and URLs stay."""
    if channel.startswith((".", "/", "~")):
        return (base / Path(channel).expanduser()).resolve().as_uri()
    return channel


def create(env: EnvironmentFile, *, cache_dir: Path) -> Path:
    """Solve ``env`` with py-rattler and install it under the cache, once per solution."""
    request = {"channels": list(env.channels), "specs": list(env.dependencies)}
    packages = _ask_rattler(env, {"op": "solve", **request})["packages"]
    document = {"gopack": __version__, "packages": packages, "pip": list(env.pip)}
    key = hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()
    home = cache_dir / "conda" / key
    prefix = home / "prefix"
    with cache.lock(cache_dir, f"conda-{key}"):
        if (home / _READY).is_file():
            return prefix
        # An interrupted run may have left half an environment: start again.
        shutil.rmtree(home, ignore_errors=True)
        prefix.parent.mkdir(parents=True)
        install = {"op": "install", **request, "prefix": str(prefix), "cache_dir": str(cache_dir / "conda" / "pkgs"), "expect": packages}
        _ask_rattler(env, install)
        if env.pip:
            _pip_install(env, prefix)
        (home / _READY).write_text(json.dumps(document, indent=1) + "\n")
    return prefix


def _ask_rattler(env: EnvironmentFile, request: dict[str, Any]) -> dict[str, Any]:
    """One py-rattler request (in a child process, see gopack.python._rattler); its errors as gopack's."""
    try:
        answer = _rattler.request(request)
    except _rattler.NoAnswer as exc:
        raise BuildError(f"{env.path}: {exc}", details=exc.stderr or None) from None
    kind, message = answer.get("error"), str(answer.get("message", ""))
    where = ", ".join(env.channels)
    if kind is None:
        return answer
    if kind == "spec":
        raise RecipeError(f"{env.path}: dependencies: {message}", hint="write specs as conda does: python=3.7, scikit-learn>=1.0")
    if kind == "solve":
        raise BuildError(
            f"{env.path}: the dependencies cannot be resolved from {where}",
            hint="check the package names and versions against what the channels hold",
            details=message,
        )
    if kind == "channel":
        raise BuildError(
            f"{env.path}: a channel cannot be reached: {where}",
            hint="check the channel names or URLs and the network (or a mirror's address); a local channel is a folder with repodata.json per platform",
            details=message,
        )
    if kind == "install":
        raise BuildError(
            f"{env.path}: installing the solved packages failed", hint="check the network and the disk, then run again", details=message
        )
    if kind == "changed":
        raise BuildError(f"{env.path}: {message}", hint="a channel changed while gopack was building; run again")
    raise BuildError(f"{env.path}: py-rattler failed: {message}")


def _pip_install(env: EnvironmentFile, prefix: Path) -> None:
    uv = find_uv()
    if uv is None:
        raise ToolchainError(
            "uv is needed for the pip: section of an environment file and was not found",
            hint="reinstall gopack with its dependencies (uv is one)",
        )
    _proc.run(
        [uv, "pip", "install", "--python", prefix / "bin" / "python", "--break-system-packages", *env.pip],
        what=f"uv pip install (the pip: section of {env.path})",
        hint="check the pip: requirements in the environment file",
    )


def environments(cache_dir: Path) -> list[Path]:
    """The complete environments gopack created under ``cache_dir`` (their ``prefix`` folders)."""
    root = cache_dir / "conda"
    return sorted(p / "prefix" for p in root.iterdir() if (p / _READY).is_file()) if root.is_dir() else []


def prune_environments(cache_dir: Path, *, older_than_days: float | None) -> list[Path]:
    """Remove created environments (all, or those older than the age), then, when all go, the package cache."""
    removed = []
    limit = None if older_than_days is None else time.time() - older_than_days * 86400
    for prefix in environments(cache_dir):
        home = prefix.parent
        if limit is not None and (home / _READY).stat().st_mtime >= limit:
            continue
        with cache.lock(cache_dir, f"conda-{home.name}"):
            (home / _READY).unlink()  # first, so that no run takes it for complete
            shutil.rmtree(home)
        removed.append(prefix)
    if limit is None:
        shutil.rmtree(cache_dir / "conda" / "pkgs", ignore_errors=True)
    return removed


# -- packing ---------------------------------------------------------------------------------


def pack(prefix: Path, dest: Path, *, where: str) -> None:
    """Copy the environment to ``dest`` with conda-pack, prefixes rewritten to :data:`DEST_PREFIX`."""
    import conda_pack  # type: ignore[import-untyped]  # conda-pack ships no type information

    try:
        with warnings.catch_warnings():
            # Packages missing from conda's package cache are packed as unmanaged files
            # (conda-pack detects text and binary prefixes itself); not worth a warning.
            warnings.simplefilter("ignore")
            env = conda_pack.CondaEnv.from_prefix(str(prefix), on_missing_cache="ignore")
            env.pack(output=str(dest), format="no-archive", dest_prefix=DEST_PREFIX, n_threads=os.cpu_count() or 1)
    except conda_pack.CondaPackException as exc:
        raise BuildError(
            f"{where}: conda-pack refuses the environment {prefix}",
            hint="repair the environment: reinstall what pip overwrote with conda (or remove the pip copy), or recreate it from its environment.yml",
            details=str(exc).strip(),
        ) from None
    except ValueError as exc:  # conda_pack.prefixes: the new prefix does not fit a binary file
        raise BuildError(
            f"{where}: conda-pack cannot rewrite the prefix {prefix} in a binary file: {exc}",
            hint=f"the environment's path must be at least {len(DEST_PREFIX)} characters long; recreate it in a longer path",
        ) from None
    _unshare(dest)


def _unshare(tree: Path) -> None:
    """Give every hard-linked file its own copy: conda-pack hard-links into ``tree`` from the
    environment (itself often hard-linked to the package cache), and gopack edits files in place."""
    for path in _files(tree):
        info = path.lstat()
        if info.st_nlink > 1:
            copy = path.with_name(path.name + ".gopack-copy")
            shutil.copy2(path, copy)
            os.replace(copy, path)


def _files(tree: Path) -> Iterator[Path]:
    for dirpath, _, filenames in os.walk(tree):
        for name in filenames:
            path = Path(dirpath) / name
            if not path.is_symlink():
                yield path


# -- what is in it ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Record:
    """What ``conda-meta/`` says of one installed conda package (for the SBOM's package URLs)."""

    name: str
    version: str
    license: str
    build: str = ""
    subdir: str = ""
    #: The channel's name (``conda-forge``), or its URL when it has no name (a local channel).
    channel: str = ""
    sha256: str = ""
    md5: str = ""


def records(prefix: Path) -> list[Record]:
    """The conda packages installed in ``prefix``, from ``conda-meta/``."""
    found = []
    for path in sorted((prefix / "conda-meta").glob("*.json")):
        try:
            data: Mapping[str, Any] = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            continue
        if "name" in data and "version" in data:
            text = {k: str(data.get(k) or "") for k in ("build", "subdir", "channel", "sha256", "md5")}
            channel = text["channel"].rstrip("/")
            if channel.startswith("https://conda.anaconda.org/"):
                channel = channel.removeprefix("https://conda.anaconda.org/").removesuffix(f"/{text['subdir']}")
            found.append(
                Record(
                    name=str(data["name"]),
                    version=str(data["version"]),
                    license=str(data.get("license") or "UNKNOWN"),
                    build=text["build"],
                    subdir=text["subdir"],
                    channel=channel,
                    sha256=text["sha256"],
                    md5=text["md5"],
                )
            )
    return found


def packages(prefix: Path) -> list[Package]:
    """conda packages from ``conda-meta/``; the caller adds pip's from site-packages."""
    return [Package(name=r.name, version=r.version, license=r.license) for r in records(prefix)]


def state(prefix: Path) -> str:
    """sha256 over the environment's file names, sizes and modification times: its cache identity."""
    digest = hashlib.sha256(str(prefix).encode() + b"\0")
    for path in sorted(_files(prefix)):
        info = path.lstat()
        digest.update(f"{path.relative_to(prefix).as_posix()}\0{info.st_size}\0{info.st_mtime_ns}\0".encode())
    return digest.hexdigest()
