"""What a recipe's values may be beyond their schema: the limits of the system they reach.

Every string in a recipe ends up in a command line (go, uv), an environment
variable or a file name. The kernel refuses a NUL in any of them, a file name
component over 255 bytes, an argument over 128 KiB and argument lists over
ARG_MAX; Python refuses an environment variable name holding ``=``. These
checks say so while the recipe's lines are still known, instead of an
``OSError`` from deep inside a build. Input paths must be regular files or
folders (never a device, a FIFO or ``/dev/zero``) inside the folder the
recipe allows (``inputs_root``, by default its own), and prune rules may not
remove what every bundle needs to start.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from gopack.errors import RecipeError
from gopack.recipe import prune_rules

FieldPath = tuple[str | int, ...]

#: A recipe is a few hundred bytes to a few KB; this refuses a runaway file before it is parsed.
MAX_FILE_BYTES = 256 * 1024
#: One value: paths, flags and requirement strings are far shorter; the kernel's MAX_ARG_STRLEN is 128 KiB.
MAX_VALUE = 4096
#: All strings after aliases are expanded: argv and the environment share ARG_MAX (2 MiB at most, often less).
MAX_TOTAL = 256 * 1024
#: A file name component (ext4, xfs, btrfs: NAME_MAX).
NAME_MAX = 255
#: The archive is <name>-<version>-<python tag>-<platform tag>.<format>; the tags and suffix take at most this.
_ARCHIVE_SUFFIX_ROOM = 64
#: Values that end up as text matched against output, where a newline is meaningful.
_NEWLINES_ALLOWED = (("smoke", "expect"),)
#: What execve and Python's os.environ accept as a variable's name.
_ENV_NAME = re.compile(r"[^=\x00]+")
#: Values that are paths on this machine: no component may be longer than a file name can be.
_PATHS: tuple[FieldPath, ...] = (
    ("inputs_root",),
    ("go", "module"),
    ("go", "package"),
    ("python", "interpreter"),
    ("python", "requirements_file"),
    ("python", "project"),
    ("python", "conda", "prefix"),
    ("python", "conda", "environment_file"),
    ("output", "dir"),
    ("target", "sysroot"),
)
#: Paths whose folders and files are read into the bundle or the build.
_INPUTS: tuple[FieldPath, ...] = (
    ("go", "module"),
    ("python", "requirements_file"),
    ("python", "project"),
    ("python", "conda", "environment_file"),
)


def read(path: Path) -> bytes:
    """The recipe file's bytes, refusing what is not a regular file or is too large to be a recipe."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise RecipeError(f"{path}: no such recipe file", hint="pass the path of a recipe.yaml") from None
    except IsADirectoryError:
        raise RecipeError(f"{path}: is a directory, not a recipe file", hint=f"did you mean {path / 'recipe.yaml'}?") from None
    except OSError as exc:
        raise RecipeError(f"{path}: cannot read: {exc.strerror}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        if stat.S_ISDIR(info.st_mode):
            raise RecipeError(f"{path}: is a directory, not a recipe file", hint=f"did you mean {path / 'recipe.yaml'}?")
        raise RecipeError(f"{path}: is {_file_kind(info.st_mode)}, not a recipe file", hint="pass the path of a recipe.yaml")
    with os.fdopen(fd, "rb") as f:
        data = f.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise RecipeError(
            f"{path}: {info.st_size} bytes is too large for a recipe (at most {MAX_FILE_BYTES // 1024} KiB)",
            hint="a recipe names files; list long requirement sets in python.requirements_file",
        )
    return data


def decode(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise RecipeError(f"{path}:{line}: not UTF-8 text ({exc.reason} at byte {exc.start})", hint="save the recipe as UTF-8") from None


def short(value: object, most: int = 60) -> str:
    """``repr`` of a value, cut to a short prefix: a message never echoes a huge value."""
    text = repr(value)
    if len(text) <= most:
        return text
    return f"{text[: most - 3]}... ({len(value) if isinstance(value, str) else len(text)} characters)"


def clip(text: str, most: int = 200) -> str:
    return text if len(text) <= most else f"{text[: most - 3]}... ({len(text)} characters)"


def value_problems(data: Mapping[str, Any]) -> list[tuple[FieldPath, str]]:
    """Strings that no command line, environment or file name can carry, with where they are."""
    problems: list[tuple[FieldPath, str]] = []
    total = 0
    for at, text in _strings(data, ()):
        total += len(text.encode("utf-8", "surrogatepass"))
        field = dotted(at) or "recipe"
        if "\x00" in text:
            problems.append((at, f"{field}: holds a NUL byte, which no path, argument or environment variable can carry"))
        elif not _is_unicode(text):
            problems.append((at, f"{field}: {short(text)} holds a lone surrogate (an escape such as \\ud800), which is not text"))
        elif len(text) > MAX_VALUE:
            problems.append((at, f"{field}: {short(text)} is too long (at most {MAX_VALUE} characters)"))
        elif ("\n" in text or "\r" in text) and at[:2] not in _NEWLINES_ALLOWED:
            problems.append((at, f"{field}: {short(text)} holds a line break; write it on one line"))
    if total > MAX_TOTAL:
        problems.append(
            ((), f"recipe: its values add up to {total // 1024} KiB after aliases are expanded (at most {MAX_TOTAL // 1024} KiB)")
        )
    for key in (data.get("go") or {}).get("env") or {}:
        if isinstance(key, str) and not _ENV_NAME.fullmatch(key):
            problems.append((("go", "env", key), f"go.env: {short(key)} cannot be an environment variable's name (it holds '=')"))
    py = data.get("python") or {}
    targets = data.get("targets")
    count = len(targets) if isinstance(targets, list) else 0
    for at in (
        *_PATHS,
        *(("python", "code", i) for i in range(len(py.get("code") or ()))),
        *(("targets", i, "sysroot") for i in range(count)),
    ):
        value = value_at(data, at)
        if not isinstance(value, str) or any(a == at for a, _ in problems):
            continue
        longest = max((len(part.encode("utf-8", "surrogatepass")) for part in value.split("/")), default=0)
        if longest > NAME_MAX:
            problems.append((at, f"{dotted(at)}: {short(value)} has a name of {longest} bytes; a file name holds at most {NAME_MAX}"))
    name, version = data.get("name"), data.get("version")
    if isinstance(name, str) and isinstance(version, str):
        longest = NAME_MAX - _ARCHIVE_SUFFIX_ROOM
        if len(f"{name}-{version}".encode()) > longest:
            problems.append(
                (
                    ("name",),
                    f"name: with version, {len(name) + len(version) + 1} bytes is too long for the archive's file name (name and version together at most {longest})",
                )
            )
    binary = (data.get("go") or {}).get("binary")
    if isinstance(binary, str) and len(binary.encode()) > NAME_MAX:
        problems.append((("go", "binary"), f"go.binary: {len(binary.encode())} bytes is too long for a file name (at most {NAME_MAX})"))
    return problems


def path_problems(base: Path, data: Mapping[str, Any]) -> list[tuple[FieldPath, str]]:
    """Input paths that are not regular files or folders, or that leave ``inputs_root``."""
    root_text = data.get("inputs_root", ".")
    allowed = Path(os.path.realpath(base / root_text))
    py = data.get("python") or {}
    inputs = [*_INPUTS, *(("python", "code", i) for i in range(len(py.get("code") or ())))]
    problems: list[tuple[FieldPath, str]] = []
    for at in inputs:
        rel = value_at(data, at)
        if not isinstance(rel, str):
            continue
        target = Path(os.path.realpath(base / rel))
        if not (target == allowed or allowed in target.parents):
            where = "the recipe's folder" if root_text == "." else f"inputs_root ({allowed})"
            problems.append(
                (at, f"{(dotted(at) or 'recipe')}: {short(rel)} is {target}, outside {where}; set inputs_root to a folder that holds it")
            )
            continue
        try:
            mode = os.stat(target).st_mode
        except OSError:
            continue  # that it exists is checked with the other file problems
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            problems.append(
                (at, f"{(dotted(at) or 'recipe')}: {target} is {_file_kind(mode)}; only regular files and folders can be inputs")
            )
        elif stat.S_ISDIR(mode) and at[:2] == ("python", "code"):
            special = _first_special(target)
            if special is not None:
                problems.append(
                    (
                        at,
                        f"{(dotted(at) or 'recipe')}: {special} inside it is {_file_kind(os.lstat(special).st_mode)}; only regular files, folders and links can be copied",
                    )
                )
    return problems


def prune_problems(data: Mapping[str, Any]) -> list[tuple[FieldPath, str]]:
    """Drop rules that would remove what every bundle needs to start."""
    pruning = data.get("prune") or {}
    own = tuple(pruning.get("drop") or ())
    if not own:
        return []
    drop, keep = prune_rules.rules(defaults=pruning.get("defaults", True), drop=own, keep=pruning.get("keep") or ())
    version = (data.get("python") or {}).get("version") or "3.11"
    removed: dict[int, list[tuple[str, str]]] = {}
    for needed, why in _needed_to_start(version):
        rule = prune_rules.rule_for(needed, drop=drop, keep=keep)
        if rule is not None and rule in own:
            removed.setdefault(own.index(rule), []).append((needed, why))
    problems: list[tuple[FieldPath, str]] = []
    for i, found in sorted(removed.items()):
        (needed, why), more = found[0], len(found) - 1
        also = f" and {more} more file{'s' if more > 1 else ''} every bundle needs" if more else ""
        message = f"prune.drop[{i}]: {short(own[i])} removes {needed} ({why}){also}; narrow the rule or add a prune.keep rule for it"
        problems.append((("prune", "drop", i), message))
    return problems


def _needed_to_start(version: str) -> Iterator[tuple[str, str]]:
    """Bundle paths every bundle of this Python needs to start, with why."""
    lib = f"python/lib/python{version}"
    abiflags = "m" if version.startswith("3.") and int(version.split(".")[1]) < 8 else ""  # pymalloc's "m" went in 3.8
    yield f"python/lib/libpython{version}{abiflags}.so.1.0", "the shared libpython the program is linked against"
    yield f"python/bin/python{version}", "the interpreter: gopack's home mechanism names it"
    for module in (
        "encodings/__init__.py",
        "encodings/utf_8.py",
        "codecs.py",
        "os.py",
        "site.py",
        "abc.py",
        "io.py",
        "stat.py",
        "posixpath.py",
    ):
        yield f"{lib}/{module}", "the core of the standard library, read before any program code runs"
    yield f"{lib}/lib-dynload", "the standard library's extension modules"


def _strings(value: Any, at: FieldPath) -> Iterator[tuple[FieldPath, str]]:
    if isinstance(value, str):
        yield at, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str):
                yield (*at, key), key
            yield from _strings(item, (*at, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, (*at, i))


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _first_special(folder: Path) -> Path | None:
    for dirpath, _, filenames in os.walk(folder):
        for name in filenames:
            mode = os.lstat(os.path.join(dirpath, name)).st_mode
            if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
                return Path(dirpath, name)
    return None


def _file_kind(mode: int) -> str:
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def value_at(data: Mapping[str, Any], at: FieldPath) -> Any:
    """The value at ``at``, or None where any step is missing."""
    value: Any = data
    for step in at:
        try:
            value = value[step]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def dotted(at: FieldPath) -> str:
    """``python.code[0]`` for ("python", "code", 0); "" for the whole recipe."""
    out = ""
    for part in at:
        name = part if isinstance(part, int) or len(part) <= 40 else f"{part[:37]}..."
        out += f"[{name}]" if isinstance(name, int) else (f".{name}" if out else name)
    return out
