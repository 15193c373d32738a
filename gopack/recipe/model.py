"""Recipe loading and validation.

A recipe is YAML. It is parsed into a node tree so that every key keeps its
line, checked against the JSON Schema shipped in ``gopack/schemas``, then
checked for what a schema cannot say (files exist, requirements parse), and
returned as frozen dataclasses. Every failure is a :class:`RecipeError` naming
``file:line: dotted.key``, what is wrong and what to do; all problems found are
reported at once.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from packaging.requirements import InvalidRequirement, Requirement

from gopack.errors import RecipeError
from gopack.recipe import limits, placeholders
from gopack.recipe.limits import FieldPath
from gopack.recipe.limits import dotted as _dotted

REFERENCE = "docs/recipe.md"
#: Problems listed in one message; a list of 5000 wrong items is summed up after these.
_SHOWN = 20


@dataclass(frozen=True, kw_only=True)
class GoSpec:
    module: Path
    package: str
    binary: str
    tags: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    ldflags: str = ""
    env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, kw_only=True)
class CondaSpec:
    """Exactly one of the three is set."""

    prefix: Path | None = None
    name: str | None = None
    environment_file: Path | None = None

    @property
    def key(self) -> str:
        """The recipe key that was set: python.conda.prefix, ..."""
        which = "prefix" if self.prefix else "name" if self.name else "environment_file"
        return f"python.conda.{which}"


@dataclass(frozen=True, kw_only=True)
class PythonSpec:
    #: None only with conda: the environment decides.
    version: str | None
    interpreter: Path | None = None
    #: A CPython install for the target, a folder or an archive (.jar, .zip, .tar.*): read, never run.
    home: Path | None = None
    #: Folders where a library the tree's binaries need but the tree lacks is looked for by name (macOS).
    libraries: tuple[Path, ...] = ()
    conda: CondaSpec | None = None
    requirements: tuple[str, ...] = ()
    requirements_file: Path | None = None
    code: tuple[Path, ...] = ()
    project: Path | None = None
    #: True: every distribution's and the app's sources; names or globs: those distributions'
    #: (canonical names); False: bytecode only. gopack's own rules add more (gopack.python.sources).
    sources: bool | tuple[str, ...] = False


@dataclass(frozen=True, kw_only=True)
class SmokeSpec:
    command: tuple[str, ...]
    expect: tuple[str, ...] = ()
    timeout: float = 300.0


@dataclass(frozen=True, kw_only=True)
class OutputSpec:
    dir: Path
    format: str = "tar.gz"
    level: int | None = None
    strip: bool = True


@dataclass(frozen=True, kw_only=True)
class PruneSpec:
    defaults: bool = True
    drop: tuple[str, ...] = ()
    keep: tuple[str, ...] = ()
    #: Leave out of site-packages what the program cannot import (gopack.python.reach).
    imports: bool = False
    #: Modules (and everything under them) kept by prune.imports whatever the program imports.
    modules: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class TargetSpec:
    """Where the bundle must run (see :mod:`gopack.platform.target`)."""

    #: A root file system of the target distribution; None: the host's files.
    sysroot: Path | None = None
    #: The oldest glibc the bundle must start on ("2.31").
    glibc: str | None = None
    #: The machine the bundle runs on, as written (x86_64, amd64, aarch64, arm64); None: GOARCH's.
    arch: str | None = None
    #: The system it runs on: "linux" or "macos"; None: linux.
    os: str | None = None
    #: With os macos: the oldest macOS it must start on ("14.0").
    macos: str | None = None


@dataclass(frozen=True, kw_only=True)
class NamedTarget:
    """One of the recipe's ``targets``: a target section with a name."""

    name: str
    spec: TargetSpec
    index: int  # its place in the list, for messages: targets[1].glibc


@dataclass(frozen=True, kw_only=True)
class Recipe:
    path: Path
    name: str
    version: str
    go: GoSpec
    python: PythonSpec
    smoke: SmokeSpec
    output: OutputSpec
    prune: PruneSpec = PruneSpec()
    target: TargetSpec = TargetSpec()
    #: The older name of target.glibc.
    max_glibc: str | None = None
    #: Several targets for one run (each a target section with a name); empty: the one ``target``.
    targets: tuple[NamedTarget, ...] = ()
    #: dotted key -> line in the recipe file, for later stages' messages.
    lines: Mapping[str, int] = field(default_factory=dict, compare=False, repr=False)

    def where(self, key: str) -> str:
        """``file:line: key`` for messages about a recipe field."""
        line = self.lines.get(key)
        return f"{self.path}:{line}: {key}" if line else f"{self.path}: {key}"

    def for_target(self, named: NamedTarget) -> Recipe:
        """The recipe with one of its ``targets`` as its target section: what a run builds for it.
        Messages about ``target.glibc`` then point at that entry's line."""
        prefix = f"targets[{named.index}]."
        lines = {k: v for k, v in self.lines.items() if not k.startswith(("target.", "targets"))}
        lines.update({"target." + k[len(prefix) :]: v for k, v in self.lines.items() if k.startswith(prefix)})
        return dataclasses.replace(self, target=named.spec, targets=(), lines=lines)


@cache
def schema() -> dict[str, Any]:
    text = resources.files("gopack").joinpath("schemas/recipe.schema.json").read_text("utf-8")
    return dict(json.loads(text))


def load(path: Path) -> Recipe:
    """Load and validate the recipe at ``path``; raise RecipeError on any problem."""
    path = Path(path)
    text = limits.decode(path, limits.read(path))
    data, keys, raw = _parse(path, text)
    problems = _schema_problems(data, keys, raw)
    if not problems:
        problems = [(_line(keys, at), message) for at, message in limits.value_problems(data)] + _placeholder_problems(data, keys)
    if not problems:
        found = [*limits.path_problems(path.parent, data), *limits.prune_problems(data)]
        problems = [(_line(keys, at), message) for at, message in found] or _file_problems(path.parent, data, keys)
    if problems:
        shown = problems[:_SHOWN]
        more = f"\n  ... and {len(problems) - _SHOWN} more" if len(problems) > _SHOWN else ""
        raise RecipeError(
            f"{path}: {len(problems)} problem{'s' if len(problems) > 1 else ''} in the recipe:\n"
            + "\n".join(f"  {path}:{line}: {message}" for line, message in shown)
            + more,
            hint=f"every key is described in {REFERENCE}",
        )
    return _build(path, data, keys)


# -- parsing: YAML nodes keep their lines ------------------------------------------------


_STR_TAG = "tag:yaml.org,2002:str"
_START = f"start from examples/hello/recipe.yaml; keys are in {REFERENCE}"


def _parse(path: Path, text: str) -> tuple[dict[str, Any], dict[FieldPath, int], dict[FieldPath, str]]:
    """The recipe's data, each key's line, and each scalar's text as written."""
    keys: dict[FieldPath, int] = {}
    raw: dict[FieldPath, str] = {}
    loader = None
    node = None
    try:
        loader = yaml.SafeLoader(text)
        node = loader.get_single_node()
        if node is None:
            raise RecipeError(f"{path}: the recipe is empty", hint=_START)
        _index(path, node, (), keys, raw, set())
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise RecipeError(
            f"{path}{line}: not valid YAML: {exc.problem or exc.context}", hint="check indentation and quoting on that line"
        ) from None
    except yaml.YAMLError as exc:
        position = getattr(exc, "position", None)  # a ReaderError's: where a character it cannot read stands
        where = f":{text.count(chr(10), 0, position) + 1}" if isinstance(position, int) else ""
        raise RecipeError(
            f"{path}{where}: not valid YAML: {exc}", hint="remove control characters and check the file is YAML text"
        ) from None
    except RecursionError:
        deep = _too_deep(text)
        raise RecipeError(
            f"{path}{f':{deep}' if deep else ''}: nested too deeply to read", hint="a recipe needs only a few levels of nesting"
        ) from None
    except (ValueError, KeyError, AttributeError, IndexError, TypeError) as exc:
        # PyYAML's constructors fail like this on explicit tags such as "!!int x".
        tagged, at = _mistagged(node) if node is not None else (None, ())
        where = f"{path}:{tagged}: {_dotted(at) or 'recipe'}" if tagged else str(path)
        raise RecipeError(
            f"{where}: a value cannot be read as its YAML tag says ({type(exc).__name__}: {limits.clip(str(exc))})",
            hint="remove explicit tags (!!int, !!bool, ...) from the recipe",
        ) from None
    finally:
        if loader is not None:
            loader.dispose()
    if data is None:
        raise RecipeError(f"{path}: the recipe is empty", hint=_START)
    if not isinstance(data, dict):
        raise RecipeError(f"{path}:1: the recipe must be a mapping of keys (name:, version:, go:, python:), not {_kind(data)}", hint=_START)
    return data, keys, raw


_MAX_VALUES = 20_000
_MAX_DEPTH = 50


def _mistagged(root: yaml.Node) -> tuple[int | None, FieldPath]:
    """The line and key of the first scalar that its explicit tag cannot make."""
    constructor = yaml.constructor.SafeConstructor()
    todo: list[tuple[yaml.Node, FieldPath]] = [(root, ())]
    while todo:
        node, at = todo.pop(0)
        if isinstance(node, yaml.ScalarNode) and node.tag != _STR_TAG:
            try:
                constructor.construct_object(node)
            except (ValueError, KeyError, AttributeError, IndexError, TypeError, yaml.YAMLError):
                return int(node.start_mark.line) + 1, at
        elif isinstance(node, yaml.MappingNode):
            todo += [(value, (*at, str(key.value))) for key, value in node.value]
        elif isinstance(node, yaml.SequenceNode):
            todo += [(item, (*at, i)) for i, item in enumerate(node.value)]
    return None, ()


def _too_deep(text: str) -> int | None:
    """The line where the document's nesting passes ``_MAX_DEPTH`` (PyYAML's parser, unlike its
    composer, keeps its own stack, so it can walk what the composer recursed too deeply into)."""
    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > _MAX_DEPTH and event.start_mark is not None:
                    return int(event.start_mark.line) + 1
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError:
        return None
    return None


def _index(path: Path, node: yaml.Node, at: FieldPath, keys: dict[FieldPath, int], raw: dict[FieldPath, str], visiting: set[int]) -> None:
    if id(node) in visiting:
        raise RecipeError(
            f"{path}:{node.start_mark.line + 1}: {_dotted(at) or 'recipe'}: an alias refers to itself", hint="remove the recursive alias"
        )
    if len(keys) > _MAX_VALUES:
        # Aliases inside aliases multiply ("billion laughs"); a recipe has a few hundred values.
        raise RecipeError(
            f"{path}:{node.start_mark.line + 1}: {_dotted(at) or 'recipe'}: the recipe expands to more than {_MAX_VALUES} values",
            hint="aliases repeated inside aliases multiply; write the values out, or use fewer levels of aliases",
        )
    keys.setdefault(at, node.start_mark.line + 1)
    if isinstance(node, yaml.ScalarNode):
        raw[at] = str(node.value)
        return
    visiting.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _STR_TAG:
                shown = key_node.value if isinstance(key_node, yaml.ScalarNode) else "a list or mapping"
                raise RecipeError(f"{path}:{line}: {_dotted(at) or 'recipe'}: the key {shown!r} is not text", hint=f'quote it: "{shown}"')
            key = str(key_node.value)
            if key in seen:
                raise RecipeError(f"{path}:{line}: {_dotted(at + (key,))}: key given twice", hint="keep one of them")
            seen.add(key)
            keys[at + (key,)] = line
            _index(path, value_node, at + (key,), keys, raw, visiting)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index(path, item, at + (i,), keys, raw, visiting)
    visiting.discard(id(node))


# -- validation ---------------------------------------------------------------------------


def _schema_problems(data: dict[str, Any], keys: Mapping[FieldPath, int], raw: Mapping[FieldPath, str]) -> list[tuple[int, str]]:
    validator = jsonschema.Draft202012Validator(schema())
    problems = []
    for error in validator.iter_errors(data):
        at = tuple(error.absolute_path)
        for message, where in _describe(error, at, raw.get(at)):
            problems.append((_line(keys, where), message))
    return sorted(set(problems))


def _describe(error: jsonschema.ValidationError, at: FieldPath, written: str | None) -> Iterable[tuple[str, FieldPath]]:
    name = _dotted(at) or "recipe"
    instance: Any = error.instance
    sub: Mapping[str, Any] = error.schema if isinstance(error.schema, Mapping) else {}
    expected: Any = error.validator_value
    if error.validator == "additionalProperties":
        known = sorted(sub.get("properties", {}))
        for key in sorted(set(instance) - set(known), key=str):
            close = difflib.get_close_matches(str(key), known, n=1)
            tip = f"did you mean '{close[0]}'?" if close else f"known keys here: {', '.join(known)}"
            yield f"{_dotted(at + (key,))}: unknown key; {tip}", at + (key,)
    elif error.validator == "required":
        missing = [k for k in expected if k not in instance]
        for key in missing:
            tip = " (or set python.conda to take Python from a conda environment)" if at == ("python",) and key == "version" else ""
            yield f"{name}: missing required key '{key}'{tip}", at
    elif error.validator == "type":
        tip = ""
        if isinstance(instance, (int, float)) and expected == "string":
            tip = f' (write it quoted: "{written if written is not None else instance}")'
        yield f"{name}: expected {_article(expected)}, got {_kind(instance)} {limits.short(instance)}{tip}", at
    elif error.validator == "pattern":
        yield f"{name}: {limits.short(instance)} is not valid: {sub.get('description', 'see the reference')}", at
    elif error.validator in ("minProperties", "maxProperties"):
        yield f"{name}: set exactly one of {', '.join(sub.get('properties', {}))}", at
    elif error.validator == "enum":
        yield f"{name}: {limits.short(instance)} is not one of {', '.join(map(repr, expected))}", at
    else:
        yield f"{name}: {limits.clip(error.message)}", at


def _file_problems(base: Path, data: dict[str, Any], keys: Mapping[FieldPath, int]) -> list[tuple[int, str]]:
    problems: list[tuple[int, str]] = []

    def need(at: FieldPath, rel: str, *, kind: str, markers: tuple[str, ...] = ()) -> None:
        target = base / rel
        # os.path's tests answer False for names too long or unreadable, where Path's raise.
        exists = {"directory": os.path.isdir, "file": os.path.isfile}.get(kind, os.path.exists)(target)
        if not exists:
            problems.append((_line(keys, at), f"{_dotted(at)}: {rel!r} is not an existing {kind} (looked for {target})"))
        elif markers and not any((target / m).exists() for m in markers):
            problems.append((_line(keys, at), f"{_dotted(at)}: {target} holds no {' or '.join(markers)}"))

    problems += _source_problems(data, keys)
    problems += _targets_problems(data, keys)
    go = data.get("go", {})
    need(("go", "module"), go.get("module", "."), kind="directory", markers=("go.mod",))
    py = data.get("python", {})
    conda = py.get("conda", {})
    if "environment_file" in conda:
        need(("python", "conda", "environment_file"), conda["environment_file"], kind="file")
    sysroot = data.get("target", {}).get("sysroot")
    if sysroot is not None:
        need(("target", "sysroot"), sysroot, kind="directory")
    for i, entry in enumerate(data.get("targets", ())):
        if "sysroot" in entry:
            need(("targets", i, "sysroot"), entry["sysroot"], kind="directory")
    sysroot = sysroot or next((t["sysroot"] for t in data.get("targets", ()) if "sysroot" in t), None)
    # With a sysroot an absolute python.interpreter names a file of the root: the plan looks there.
    if "interpreter" in py and not (sysroot is not None and os.path.isabs(py["interpreter"])):
        need(("python", "interpreter"), py["interpreter"], kind="file")
    if "home" in py:
        need(("python", "home"), py["home"], kind="file or directory")
    for i, rel in enumerate(py.get("libraries", [])):
        need(("python", "libraries", i), rel, kind="directory")
    if "interpreter" in py and "home" in py:
        problems.append(
            (
                _line(keys, ("python", "home")),
                "python.home: cannot be combined with python.interpreter (one interpreter per recipe); keep one of them",
            )
        )
    if "requirements_file" in py:
        need(("python", "requirements_file"), py["requirements_file"], kind="file")
    if "project" in py:
        need(("python", "project"), py["project"], kind="directory", markers=("pyproject.toml", "setup.py"))
    for i, rel in enumerate(py.get("code", [])):
        need(("python", "code", i), rel, kind="file or directory")
    for i, text in enumerate(py.get("requirements", [])):
        try:
            Requirement(text)
        except InvalidRequirement as exc:
            first = str(exc).splitlines()[0]
            problems.append(
                (
                    _line(keys, ("python", "requirements", i)),
                    f"python.requirements[{i}]: {limits.short(text)} is not a valid requirement: {limits.clip(first)}",
                )
            )
    return problems


def _targets_problems(data: dict[str, Any], keys: Mapping[FieldPath, int]) -> list[tuple[int, str]]:
    """``targets`` replaces ``target`` (and ``max_glibc``); its names are unique."""
    if "targets" not in data:
        return []
    problems = [
        (_line(keys, (key,)), f"{key}: cannot be combined with targets; move it into each entry of targets")
        for key in ("target", "max_glibc")
        if key in data
    ]
    seen: dict[str, int] = {}
    for i, entry in enumerate(data["targets"]):
        if entry["name"] in seen:
            problems.append(
                (_line(keys, ("targets", i, "name")), f"targets[{i}].name: {entry['name']!r} is also targets[{seen[entry['name']]}]'s name")
            )
        seen.setdefault(entry["name"], i)
    return problems


def _placeholder_problems(data: dict[str, Any], keys: Mapping[FieldPath, int]) -> list[tuple[int, str]]:
    """Placeholders in go.env, go.flags and go.ldflags that gopack does not know."""
    problems = []
    for at, text in placeholders.go_values(data.get("go", {})):
        try:
            placeholders.find(text)
        except ValueError as exc:
            problems.append((_line(keys, at), f"{_dotted(at)}: {exc}"))
    return problems


def _source_problems(data: dict[str, Any], keys: Mapping[FieldPath, int]) -> list[tuple[int, str]]:
    """Exactly one Python source: an interpreter with requirements, or a conda environment."""
    py = data.get("python", {})
    if "conda" not in py:
        return []
    others = [k for k in _PIP_SOURCE_KEYS if k in py]
    return [
        (
            _line(keys, ("python", k)),
            f"python.{k}: cannot be combined with python.conda (one Python source per recipe); "
            + (
                "list the packages in the environment (its environment.yml, or its pip: section)"
                if k not in ("interpreter", "home")
                else "the environment's own python is used"
            ),
        )
        for k in others
    ]


_PIP_SOURCE_KEYS = ("interpreter", "home", "requirements", "requirements_file", "project")


# -- building the frozen recipe ------------------------------------------------------------


def _build(path: Path, data: dict[str, Any], keys: Mapping[FieldPath, int]) -> Recipe:
    base = path.parent.resolve()
    go, py = data.get("go", {}), data["python"]
    smoke, out, pruning = data.get("smoke", {}), data.get("output", {}), data.get("prune", {})
    binary = go.get("binary", data["name"])
    return Recipe(
        path=path,
        name=data["name"],
        version=data["version"],
        go=GoSpec(
            module=(base / go.get("module", ".")).resolve(),
            package=go.get("package", "."),
            binary=binary,
            tags=tuple(go.get("tags", ())),
            flags=tuple(go.get("flags", ())),
            ldflags=go.get("ldflags", ""),
            env=tuple(sorted(go.get("env", {}).items())),
        ),
        python=PythonSpec(
            version=py.get("version"),
            interpreter=(base / py["interpreter"]) if "interpreter" in py else None,
            home=(base / py["home"]).resolve() if "home" in py else None,
            libraries=tuple((base / rel).resolve() for rel in py.get("libraries", ())),
            conda=_conda(base, py["conda"]) if "conda" in py else None,
            requirements=tuple(py.get("requirements", ())),
            requirements_file=(base / py["requirements_file"]).resolve() if "requirements_file" in py else None,
            code=tuple((base / rel).resolve() for rel in py.get("code", ())),
            project=(base / py["project"]).resolve() if "project" in py else None,
            sources=_sources(py.get("sources", False)),
        ),
        smoke=SmokeSpec(
            command=tuple(smoke.get("command", (f"bin/{binary}",))),
            expect=tuple(smoke.get("expect", ())),
            timeout=float(smoke.get("timeout", 300)),
        ),
        output=OutputSpec(
            dir=(base / out.get("dir", "dist")).resolve(),
            format=out.get("format", "tar.gz"),
            level=out.get("level"),
            strip=out.get("strip", True),
        ),
        prune=PruneSpec(
            defaults=pruning.get("defaults", True),
            drop=tuple(pruning.get("drop", ())),
            keep=tuple(pruning.get("keep", ())),
            imports=pruning.get("imports", False),
            modules=tuple(pruning.get("modules", ())),
        ),
        target=TargetSpec(
            sysroot=(base / data["target"]["sysroot"]).resolve() if "sysroot" in data.get("target", {}) else None,
            glibc=data.get("target", {}).get("glibc"),
            arch=data.get("target", {}).get("arch"),
            os=data.get("target", {}).get("os"),
            macos=data.get("target", {}).get("macos"),
        ),
        max_glibc=data.get("max_glibc"),
        targets=tuple(
            NamedTarget(
                name=entry["name"],
                index=i,
                spec=TargetSpec(
                    sysroot=(base / entry["sysroot"]).resolve() if "sysroot" in entry else None,
                    glibc=entry.get("glibc"),
                    arch=entry.get("arch"),
                    os=entry.get("os"),
                    macos=entry.get("macos"),
                ),
            )
            for i, entry in enumerate(data.get("targets", ()))
        ),
        lines={_dotted(k): v for k, v in keys.items() if k},
    )


def _sources(value: bool | list[str]) -> bool | tuple[str, ...]:
    """python.sources as the schema checked it: a boolean, or names and globs (an empty list is false)."""
    if isinstance(value, bool):
        return value
    return tuple(sorted({str(v) for v in value})) or False


def _conda(base: Path, conda: Mapping[str, str]) -> CondaSpec:
    return CondaSpec(
        # A prefix is not checked here: that it exists and is a conda environment is the plan's
        # business, with its own messages.
        prefix=(base / conda["prefix"]).resolve() if "prefix" in conda else None,
        name=conda.get("name"),
        environment_file=(base / conda["environment_file"]).resolve() if "environment_file" in conda else None,
    )


def _line(keys: Mapping[FieldPath, int], at: FieldPath) -> int:
    while at not in keys and at:
        at = at[:-1]
    return keys.get(at, 1)


def _kind(value: object) -> str:
    return {
        type(None): "nothing",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a mapping",
    }.get(type(value), type(value).__name__)


def _article(expected: object) -> str:
    names = {
        "string": "a string",
        "array": "a list",
        "object": "a mapping",
        "number": "a number",
        "integer": "an integer",
        "boolean": "true or false",
    }
    if isinstance(expected, list):
        return " or ".join(names.get(str(e), str(e)) for e in expected)
    return names.get(str(expected), str(expected))
