"""Property-based tests of gopack.recipe.model.load and of ``gopack bundle`` on bad recipes.

A valid recipe (every key present) is mutated at random: a key deleted, an
unknown key added, a value replaced by one of another type or by nested
garbage, a key renamed with a typo. Whatever comes out, load either returns a
well-formed Recipe or raises RecipeError (exit code 2) naming the file, a line and
the mutated field; never any other exception. Random text and random bytes are
loaded the same way, and through ``gopack bundle`` a bad recipe exits 2 with no
traceback and writes nothing.

Inputs that gopack once mishandled are generated again, with nothing filtered
out (each also has an example-based regression test in test_recipe.py):

- control characters anywhere in the file (``name: a\\x07``): a RecipeError on the
  character's line, not a ``yaml.reader.ReaderError``
  (:func:`test_control_character_reported_on_its_line`; random text is unfiltered);
- explicit tags on scalars they cannot convert (``!!int x``, ``!!bool x``,
  ``!!timestamp x``, a bare ``!!int``) (:func:`test_explicit_tags`; such tags are
  in the token soup);
- recursive aliases (``x: &a [*a]``) and very deep nesting
  (:func:`test_recursive_alias_names_its_field`, :func:`test_deep_nesting`;
  anchors, aliases and brackets are in the token soup);
- keys that are not strings, anywhere, ``go.env`` included (``{1: a}``,
  ``{true: a}``, top-level ``1: x``): refused on the key's line with a hint to
  quote it (:func:`test_non_string_keys_are_refused_on_their_line`;
  :func:`several_mutations` adds keys of any type);
- a trailing newline in a field with a ``pattern`` (``name: "hello\\n"``,
  ``python.version``, ``go.binary``, ``go.tags`` items, ``max_glibc``)
  (:func:`test_trailing_newline_refused`; such values are among the scalars);
- paths longer than NAME_MAX or PATH_MAX in ``python.code``, ``go.module`` etc.:
  an ordinary "is not an existing ..." problem (:func:`test_long_paths_are_ordinary_problems`;
  long text is among the scalars);
- a number where text is wanted: the hint quotes it as written (``3.10``, ``.nan``);
- ``smoke.timeout`` above 86400 (``.inf``, ``1.0e+300``) is refused;
- a NUL byte in a path field, ``output.dir`` included (``output: {dir: "a\\0b"}``
  once escaped as ``ValueError: embedded null byte`` from ``Path.resolve()``):
  a problem on the field's line (:func:`test_nul_in_a_path_field`; NUL is among
  the scalars).

No input is steered around a gopack bug any more (the ``assume`` calls left
only skip mutations that are no mutation, and valid recipes in the CLI test).

Errors that name the file but no line (:data:`WHOLE_FILE_ERRORS`): an empty
recipe, a file that is not UTF-8, nesting too deep to read, and an explicit tag
that cannot convert its value (gopack does not say which line that tag is on).
"""

from __future__ import annotations

import contextlib
import copy
import math
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml
from conftest import cli_state
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from gopack import cli, pipeline
from gopack.errors import RecipeError
from gopack.recipe import limits
from gopack.recipe import model as recipe
from gopack.recipe.model import Recipe

Key = str | int
FieldPath = tuple[Key, ...]

SETTINGS = settings(max_examples=150, deadline=None)

BASE: dict[str, Any] = {
    "name": "hello",
    "version": "0.1.0",
    "max_glibc": "2.28",
    "go": {
        "module": ".",
        "package": ".",
        "binary": "hello",
        "tags": ["netgo", "embed_py"],
        "flags": ["-v"],
        "ldflags": "-s -w",
        "env": {"GOFLAGS": "-mod=mod", "GOPRIVATE": "example.com"},
    },
    "python": {
        "version": "3.7",
        "interpreter": "fake-python",
        "requirements": ["six==1.16.0", "requests>=2"],
        "requirements_file": "requirements.txt",
        "code": ["hello.py", "pkg"],
        "project": "proj",
    },
    "smoke": {"command": ["bin/hello", "--check"], "expect": ["hi"], "timeout": 30},
    "output": {"dir": "dist", "format": "tar.gz"},
}

SCHEMA = recipe.schema()


def _schema_mappings(node: dict[str, Any], at: FieldPath = ()) -> Iterator[tuple[FieldPath, dict[str, Any]]]:
    if "properties" in node:
        yield at, node
        for key, sub in node["properties"].items():
            yield from _schema_mappings(sub, at + (key,))


#: Keys the schema knows in each mapping, and which of them are required. Read from
#: the schema, so sections added to it (which BASE leaves out) are known keys here too.
KNOWN: dict[FieldPath, set[str]] = {at: set(node["properties"]) for at, node in _schema_mappings(SCHEMA)}
REQUIRED: dict[FieldPath, set[str]] = {at: set(node["required"]) for at, node in _schema_mappings(SCHEMA) if node.get("required")}
FORMATS: list[str] = SCHEMA["properties"]["output"]["properties"]["format"]["enum"]
assert REQUIRED == {(): {"name", "version", "go", "python"}}
# python.version is required unless python.conda is set (an if/then in the schema); BASE has no conda.
assert SCHEMA["properties"]["python"]["then"] == {"required": ["version"]}
REQUIRED[("python",)] = {"version"}

#: The JSON type each schema position wants; list items and env values by their parent.
EXPECTED_KIND: dict[FieldPath, str] = {
    ("name",): "string",
    ("version",): "string",
    ("max_glibc",): "string",
    ("go",): "object",
    ("python",): "object",
    ("smoke",): "object",
    ("output",): "object",
    ("go", "module"): "string",
    ("go", "package"): "string",
    ("go", "binary"): "string",
    ("go", "tags"): "array",
    ("go", "flags"): "array",
    ("go", "ldflags"): "string",
    ("go", "env"): "object",
    ("python", "version"): "string",
    ("python", "interpreter"): "string",
    ("python", "requirements"): "array",
    ("python", "requirements_file"): "string",
    ("python", "code"): "array",
    ("python", "project"): "string",
    ("smoke", "command"): "array",
    ("smoke", "expect"): "array",
    ("smoke", "timeout"): "number",
    ("output", "dir"): "string",
    ("output", "format"): "string",
}

#: Fields with a schema ``pattern``, and a value each that matches it.
PATTERN_VALUES: dict[FieldPath, str] = {
    ("name",): "hello",
    ("version",): "0.1.0",
    ("max_glibc",): "2.28",
    ("go", "binary"): "hello",
    ("go", "tags", 0): "netgo",
    ("python", "version"): "3.7",
}

#: Path fields that load checks on disk, and what must be there; output.dir is not checked.
PATH_FIELDS: dict[FieldPath, str | None] = {
    ("go", "module"): "directory",
    ("python", "interpreter"): "file",
    ("python", "requirements_file"): "file",
    ("python", "project"): "directory",
    ("python", "code", 0): "file or directory",
    ("python", "code", 1): "file or directory",
    ("output", "dir"): None,
}

#: What PyYAML's reader refuses (its ``NON_PRINTABLE``), one of each kind.
CONTROL_CHARACTERS = [chr(c) for c in (*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F, *range(0x80, 0x85), *range(0x86, 0xA0))] + [
    "\ufffe",
    "\uffff",
]
CONTROL_HINT = "remove control characters and check the file is YAML text"

#: Errors about the file as a whole, which have no line to name.
WHOLE_FILE_ERRORS = (
    "the recipe is empty",
    "not UTF-8 text (",
    "nested too deeply to read",
    "a value cannot be read as its YAML tag says (",
)

#: A line break as YAML counts them (PyYAML's Reader), for the line range check.
_YAML_LINE_BREAK = re.compile("\r\n|[\n\r\x85\u2028\u2029]")


# -- helpers -----------------------------------------------------------------------------------


@contextlib.contextmanager
def project_dir() -> Iterator[Path]:
    """A fresh directory holding everything BASE refers to."""
    with tempfile.TemporaryDirectory(prefix="gopack-props-") as tmp:
        root = Path(tmp)
        (root / "go.mod").write_text("module example.com/hello\n\ngo 1.21\n")
        (root / "hello.py").write_text("print('hi')\n")
        (root / "pkg").mkdir()
        (root / "pkg" / "__init__.py").write_text("")
        (root / "requirements.txt").write_text("six==1.16.0\n")
        (root / "proj").mkdir()
        (root / "proj" / "pyproject.toml").write_text("[project]\nname = 'p'\nversion = '1'\n")
        (root / "fake-python").write_text("#!/bin/sh\n")
        yield root


def dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)


BASE_TEXT = dump(BASE)
SENTINEL = "__gopack_sentinel__"


def with_value_text(at: FieldPath, yaml_text: str) -> tuple[str, int]:
    """BASE dumped with the value at ``at`` written as ``yaml_text``, and the line it is on."""
    data = copy.deepcopy(BASE)
    get(data, at[:-1])[at[-1]] = SENTINEL
    text = dump(data)
    line = text.count("\n", 0, text.index(SENTINEL)) + 1
    return text.replace(SENTINEL, yaml_text), line


def dotted(at: FieldPath) -> str:
    """The dotted key gopack prints: ``python.code[1]``."""
    out = ""
    for part in at:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def line_index(text: str) -> dict[FieldPath, int]:
    """Line of every key (the key's own line) and of every list item, from the YAML text."""
    index: dict[FieldPath, int] = {(): 1}

    def walk(node: yaml.Node, at: FieldPath) -> None:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                index[at + (k.value,)] = k.start_mark.line + 1
                walk(v, at + (k.value,))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                index[at + (i,)] = item.start_mark.line + 1
                walk(item, at + (i,))

    walk(yaml.compose(text, Loader=yaml.SafeLoader), ())
    return index


def node_at(text: str, at: FieldPath) -> yaml.Node:
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    for part in at:
        if isinstance(node, yaml.MappingNode):
            node = next(v for k, v in node.value if k.value == part)
        else:
            node = node.value[part]
    return node


def first_non_text_key(node: yaml.Node | None, at: FieldPath = ()) -> tuple[FieldPath, yaml.Node] | None:
    """The first mapping key, in document order, that YAML does not read as a string."""
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if not isinstance(k, yaml.ScalarNode) or k.tag != "tag:yaml.org,2002:str":
                return at, k
            found = first_non_text_key(v, at + (k.value,))
            if found:
                return found
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            found = first_non_text_key(item, at + (i,))
            if found:
                return found
    return None


def problems(err: RecipeError, path: Path) -> list[tuple[int, str]]:
    """The ``  path:LINE: message`` problems listed in a multi-problem error."""
    return [(int(n), m) for n, m in re.findall(rf"^  {re.escape(str(path))}:(\d+): (.*)$", err.message, flags=re.MULTILINE)]


def kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def expected_kind(at: FieldPath) -> str | None:
    if at in EXPECTED_KIND:
        return EXPECTED_KIND[at]
    if (
        len(at) == 3
        and isinstance(at[2], int)
        and at[:2]
        in {
            ("go", "tags"),
            ("go", "flags"),
            ("python", "requirements"),
            ("python", "code"),
            ("smoke", "command"),
            ("smoke", "expect"),
        }
    ):
        return "string"
    if len(at) == 3 and at[:2] == ("go", "env"):
        return "string"
    return None


def get(data: Any, at: FieldPath) -> Any:
    for part in at:
        data = data[part]
    return data


def all_paths(data: Any, at: FieldPath = ()) -> list[FieldPath]:
    out: list[FieldPath] = []
    if isinstance(data, dict):
        for k, v in data.items():
            out.append(at + (k,))
            out += all_paths(v, at + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out.append(at + (i,))
            out += all_paths(v, at + (i,))
    return out


def mapping_paths(data: Any) -> list[FieldPath]:
    """Paths of the mappings in ``data`` (the root is ``()``)."""
    return [()] + [p for p in all_paths(data) if isinstance(get(data, p), dict)]


VALUE_PATHS = all_paths(BASE)
SCALAR_PATHS = [p for p in VALUE_PATHS if not isinstance(get(BASE, p), (dict, list))]


def load_checked(path: Path) -> Recipe | RecipeError:
    """load(path): a well-formed Recipe, or a RecipeError that names the file and a line. Nothing else."""
    try:
        r = recipe.load(path)
    except RecipeError as err:
        assert err.exit_code == 2
        assert err.message.startswith(str(path)), err.message
        assert err.hint, err.message
        if not err.message.startswith(tuple(f"{path}: {m}" for m in WHOLE_FILE_ERRORS)):
            assert re.search(rf"{re.escape(str(path))}:\d+(:|$)", err.message, flags=re.MULTILINE), err.message
        try:
            nlines = len(_YAML_LINE_BREAK.findall(path.read_bytes().decode("utf-8"))) + 1
        except UnicodeDecodeError:
            nlines = path.read_bytes().count(b"\n") + 1
        for line in re.findall(rf"{re.escape(str(path))}:(\d+)(?::|$)", err.message, flags=re.MULTILINE):
            assert 1 <= int(line) <= nlines, (line, nlines, err.message)
        return err
    assert_well_formed(r, path)
    return r


def assert_well_formed(r: Recipe, path: Path) -> None:
    assert isinstance(r, Recipe)
    assert r.path == path
    assert isinstance(r.name, str) and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", r.name), r.name
    assert isinstance(r.version, str) and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+-]*", r.version), r.version
    assert r.max_glibc is None or re.fullmatch(r"2\.[0-9]{1,2}", r.max_glibc), r.max_glibc
    assert r.go.module.is_absolute() and (r.go.module / "go.mod").exists()
    assert isinstance(r.go.package, str)
    assert isinstance(r.go.binary, str) and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", r.go.binary), r.go.binary
    assert all(isinstance(t, str) and re.fullmatch(r"[A-Za-z0-9_.!]+", t) for t in r.go.tags), r.go.tags
    assert all(isinstance(f, str) for f in r.go.flags)
    assert isinstance(r.go.ldflags, str)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in r.go.env), r.go.env
    assert re.fullmatch(r"[23]\.[0-9]{1,2}", r.python.version), r.python.version
    assert r.python.interpreter is None or r.python.interpreter.is_file()
    assert all(isinstance(q, str) and q for q in r.python.requirements)
    assert r.python.requirements_file is None or r.python.requirements_file.is_file()
    assert all(c.is_absolute() and c.exists() for c in r.python.code)
    assert r.python.project is None or r.python.project.is_dir()
    assert isinstance(r.smoke.command, tuple) and r.smoke.command and all(isinstance(c, str) for c in r.smoke.command)
    assert all(isinstance(e, str) and e for e in r.smoke.expect)
    assert isinstance(r.smoke.timeout, float) and 0 < r.smoke.timeout <= 86400, r.smoke.timeout
    assert r.output.dir.is_absolute()
    assert r.output.format in FORMATS, r.output.format


def has_problem(err: RecipeError, path: Path, index: dict[FieldPath, int], at: FieldPath) -> bool:
    """A problem names ``at`` or a field below it, on that field's line."""
    for sub, line in index.items():
        if sub[: len(at)] != at:
            continue
        if f"\n  {path}:{line}: {dotted(sub) or 'recipe'}: " in err.message:
            return True
    return False


def write(root: Path, text: str) -> Path:
    path = root / "recipe.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# -- strategies -------------------------------------------------------------------------------

short_text = st.text(max_size=12)
#: One name longer than NAME_MAX, or a path longer than PATH_MAX (some of them), or long random text.
long_text = st.one_of(
    st.integers(256, 5000).map(lambda n: "a" * n),
    st.integers(100, 2000).map(lambda n: "ab/" * n),
    st.text(min_size=256, max_size=400),
)
scalars = st.one_of(
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    short_text,
    long_text,
    st.sampled_from(
        [
            "",
            " ",
            ".",
            "3.7",
            "3.11",
            "yes",
            "null",
            "~",
            "-",
            "a b",
            "../x",
            "/",
            "hello.py",
            "pkg",
            "go.mod",
            "hello\n",
            "3.7\n",
            "2.28\n",
            "netgo\n",
            "0.1.0\n",
            "a\x00b",
            "\x07",
        ]
    ),
)
non_string_keys = st.one_of(st.integers(-5, 5), st.booleans(), st.none(), st.floats(allow_nan=False))
any_key = st.one_of(short_text, non_string_keys)
garbage = st.recursive(
    scalars,
    lambda kids: st.one_of(st.lists(kids, max_size=4), st.dictionaries(short_text, kids, max_size=4)),
    max_leaves=12,
)
#: Like garbage, with mappings whose keys may be numbers, booleans or null.
garbage_any_keys = st.recursive(
    scalars,
    lambda kids: st.one_of(st.lists(kids, max_size=4), st.dictionaries(any_key, kids, max_size=4)),
    max_leaves=12,
)


def wrong_kind_for(want: str) -> st.SearchStrategy[Any]:
    return garbage.filter(lambda v: kind(v) != want)


def typo(key: str) -> st.SearchStrategy[str]:
    """One edit of ``key``: delete, insert, replace, swap two letters, or change case."""
    n = len(key)
    letters = st.sampled_from("abcdefghijklmnopqrstuvwxyz_-.0123456789")
    return st.one_of(
        st.integers(0, n - 1).map(lambda i: key[:i] + key[i + 1 :]),
        st.tuples(st.integers(0, n), letters).map(lambda t: key[: t[0]] + t[1] + key[t[0] :]),
        st.tuples(st.integers(0, n - 1), letters).map(lambda t: key[: t[0]] + t[1] + key[t[0] + 1 :]),
        st.integers(0, max(0, n - 2)).map(lambda i: key[:i] + key[i + 1 : i + 2] + key[i : i + 1] + key[i + 2 :]),
        st.just(key.upper()),
        st.just(key.capitalize()),
    ).filter(lambda k: k != key)


def with_optional_keys_dropped(draw: st.DrawFn) -> dict[str, Any]:
    """BASE with some optional keys (and whole optional sections) removed."""
    data = copy.deepcopy(BASE)
    for section, keys in KNOWN.items():
        if section and section not in all_paths(data):
            continue  # the whole section was dropped already, or BASE leaves it out (python.conda)
        container = get(data, section)
        for k in sorted(keys - REQUIRED.get(section, set())):
            if k in container and draw(st.integers(0, 4)) == 0:
                del container[k]
    return data


@st.composite
def single_mutation(draw: st.DrawFn) -> tuple[dict[str, Any], str, FieldPath, Any]:
    """(mutated recipe, what was done, the path it was done at, the new value or key)."""
    data = with_optional_keys_dropped(draw)
    op = draw(st.sampled_from(["delete", "add", "replace", "wrong_type", "rename"]))
    if op == "delete":
        at = draw(st.sampled_from([p for p in all_paths(data) if isinstance(p[-1], str)]))
        del get(data, at[:-1])[at[-1]]
        return data, op, at, None
    if op == "add":
        parent = draw(st.sampled_from([p for p in mapping_paths(data) if p in KNOWN]))
        key = draw(st.one_of(short_text, st.sampled_from(["nmae", "verison", "modul", "pyhton", "Go", "code_", "<<", "null", "true", "1"])))
        container = get(data, parent)
        assume(key not in KNOWN[parent] and key not in container)
        value = draw(garbage)
        container[key] = value
        return data, op, parent + (key,), value
    if op == "rename":
        at = draw(st.sampled_from([p for p in all_paths(data) if p[:-1] in KNOWN and isinstance(p[-1], str)]))
        parent, old = get(data, at[:-1]), str(at[-1])
        new = draw(typo(old))
        assume(new not in KNOWN[at[:-1]] and new not in parent)
        # keep the key order, so lines stay where they were
        items = [(new if k == old else k, v) for k, v in parent.items()]
        parent.clear()
        parent.update(items)
        return data, op, at[:-1] + (new,), old
    candidates = all_paths(data)
    if op == "wrong_type":
        candidates = [p for p in candidates if expected_kind(p) is not None]
    at = draw(st.sampled_from(candidates))
    want = expected_kind(at)
    value = draw(wrong_kind_for(want) if op == "wrong_type" and want else garbage)
    get(data, at[:-1])[at[-1]] = value
    return data, op, at, value


@st.composite
def several_mutations(draw: st.DrawFn) -> dict[str, Any]:
    data: Any = with_optional_keys_dropped(draw)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["delete", "add", "replace", "rename"]))
        paths = all_paths(data)
        if op == "delete" and paths:
            at = draw(st.sampled_from(paths))
            del get(data, at[:-1])[at[-1]]
        elif op == "add":
            parent = get(data, draw(st.sampled_from(mapping_paths(data))))
            parent[draw(any_key)] = draw(garbage_any_keys)
        elif op == "rename":
            keyed = [p for p in paths if isinstance(p[-1], str)]
            if keyed:
                at = draw(st.sampled_from(keyed))
                parent, old = get(data, at[:-1]), str(at[-1])
                if old:
                    new = draw(typo(old))
                    if new not in parent:
                        items = [(new if k == old else k, v) for k, v in parent.items()]
                        parent.clear()
                        parent.update(items)
        elif paths:
            at = draw(st.sampled_from(paths))
            get(data, at[:-1])[at[-1]] = draw(garbage_any_keys)
        if not isinstance(data, dict):
            break
    return data


yaml_tokens = st.sampled_from(
    [
        "name",
        "version",
        "go",
        "python",
        "module",
        "code",
        "smoke",
        "3.7",
        '"3.7"',
        "hello",
        "0.1.0",
        ":",
        ": ",
        " ",
        "  ",
        "\n",
        "\n  ",
        "\n    ",
        "- ",
        "-",
        "[",
        "]",
        "{",
        "}",
        ",",
        '"',
        "'",
        "#",
        "\t",
        "&a ",
        "*a",
        "&b ",
        "*b",
        "&a [*a]",
        "!!str ",
        "!!binary ",
        "!!set ",
        "!!omap ",
        "!!python/object:os.system ",
        "!foo ",
        "? ",
        "!!int ",
        "!!float ",
        "!!bool ",
        "!!timestamp ",
        "!!null ",
        "!!map ",
        "!!seq ",
        "1: ",
        "true: ",
        "null: ",
        "---",
        "...",
        "%YAML 1.1\n",
        "%TAG ! tag:x,2000:\n",
        "<<: ",
        "|",
        ">",
        "null",
        "~",
        "true",
        ".nan",
        "0x1F",
        "1e3",
        "\\",
        "\\0",
        "%",
        "@",
        "`",
        "\ufeff",
        "\u2028",
        "\x85",
        "é",
        "🐍",
        "\x00",
        "\x07",
        "\x1b",
        "\x7f",
        "\x9f",
        "\ufffe",
        "[" * 40,
        "]" * 40,
    ]
)
yaml_soup = st.lists(yaml_tokens, max_size=40).map("".join)


@st.composite
def deep_case(draw: st.DrawFn) -> tuple[str, int]:
    """(BASE with one value nested ``depth`` deep, depth). Flow lists stay shallow:
    PyYAML's scanner is quadratic in their depth, and they add nothing that maps don't."""
    depth = draw(st.one_of(st.integers(1, 60), st.integers(60, 400), st.sampled_from([1_000, 3_000, 20_000])))
    style = draw(st.sampled_from(["list", "map", "block"]))
    if style == "block":  # compact nested block sequences: "- - - 1"
        return BASE_TEXT + "x:\n  " + "- " * depth + "1\n", depth
    if style == "list":
        depth = min(depth, 200)
    nested = "[" * depth + "]" * depth if style == "list" else "{a: " * depth + "1" + "}" * depth
    return with_value_text(draw(st.sampled_from(VALUE_PATHS)), nested)[0], depth


deep_text = deep_case().map(lambda case: case[0])


random_text = st.one_of(
    st.text(max_size=200),
    yaml_soup,
    yaml_soup.map(lambda s: BASE_TEXT + s),
    st.tuples(st.integers(0, len(BASE_TEXT)), yaml_soup).map(lambda t: BASE_TEXT[: t[0]] + t[1] + BASE_TEXT[t[0] :]),
    deep_text,
)


# -- properties of load ---------------------------------------------------------------------------


def test_base_recipe_is_valid() -> None:
    with project_dir() as root:
        path = write(root, BASE_TEXT)
        r = load_checked(path)
        assert isinstance(r, Recipe)
        assert r.go.tags == ("netgo", "embed_py")
        assert r.python.code == ((root / "hello.py").resolve(), (root / "pkg").resolve())


@SETTINGS
@given(single_mutation())
def test_single_mutation_names_file_line_and_field(mutation: tuple[dict[str, Any], str, FieldPath, Any]) -> None:
    data, op, at, value = mutation
    with project_dir() as root:
        text = dump(data)
        path = write(root, text)
        outcome = load_checked(path)
        index = line_index(text)
        event(f"{op} -> {type(outcome).__name__}")

        if op == "delete":
            parent, key = at[:-1], at[-1]
            if key in REQUIRED.get(parent, set()):
                assert isinstance(outcome, RecipeError)
                line = index[parent]
                assert f"\n  {path}:{line}: {dotted(parent) or 'recipe'}: missing required key '{key}'" in outcome.message, outcome.message
            else:
                assert isinstance(outcome, Recipe), f"deleting optional {dotted(at)} broke the recipe:\n{outcome}"
            return

        if op in ("add", "rename"):
            assert isinstance(outcome, RecipeError)
            line = index[at]
            prefix = f"\n  {path}:{line}: {dotted(at)}: unknown key; "
            assert prefix in outcome.message, outcome.message
            known = KNOWN[at[:-1]]
            tips = [f"did you mean '{k}'?" for k in known] + [f"known keys here: {', '.join(sorted(known))}"]
            assert any(prefix + tip in outcome.message for tip in tips), outcome.message
            if op == "rename" and value in REQUIRED.get(at[:-1], set()):
                assert f"missing required key '{value}'" in outcome.message
            return

        if op == "wrong_type":
            assert isinstance(outcome, RecipeError), f"{dotted(at)} = {value!r} was accepted"

        if isinstance(outcome, RecipeError):
            assert has_problem(outcome, path, index, at), f"no problem names {dotted(at)} on its line:\n{outcome.message}"
            if op == "wrong_type":
                want = expected_kind(at)
                line = index[at]
                if at == ("output", "format"):  # an enum, not a type
                    formats = ", ".join(map(repr, FORMATS))
                    assert f"\n  {path}:{line}: output.format: {limits.short(value)} is not one of {formats}" in outcome.message, (
                        outcome.message
                    )
                else:
                    assert f"\n  {path}:{line}: {dotted(at)}: expected " in outcome.message, outcome.message
                if want == "string" and kind(value) == "number" and at != ("output", "format"):  # an enum: no type to quote for
                    written = node_at(text, at).value  # the number as the file spells it: 3.10, 1.0e+300, .nan
                    assert f'(write it quoted: "{written}")' in outcome.message, outcome.message
        if isinstance(outcome, Recipe) and at[:2] == ("smoke", "timeout"):
            assert 0 < value <= 86400


@SETTINGS
@given(several_mutations())
def test_several_mutations_only_recipe_error(data: dict[str, Any]) -> None:
    with project_dir() as root:
        path = write(root, dump(data))
        outcome = load_checked(path)
        event(type(outcome).__name__)


@SETTINGS
@given(random_text)
def test_random_text_only_recipe_error(text: str) -> None:
    with project_dir() as root:
        path = write(root, text)
        outcome = load_checked(path)
        event(type(outcome).__name__)


@SETTINGS
@given(st.one_of(st.binary(max_size=200), random_text.map(lambda s: s.encode("utf-8"))))
def test_random_bytes_only_recipe_error(raw: bytes) -> None:
    with project_dir() as root:
        path = root / "recipe.yaml"
        path.write_bytes(raw)
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            outcome = load_checked(path)
            assert isinstance(outcome, RecipeError)
            line = raw.count(b"\n", 0, exc.start) + 1
            assert outcome.message.startswith(f"{path}:{line}: not UTF-8 text")
            return
            load_checked(path)


@SETTINGS
@given(st.lists(st.tuples(st.integers(0, len(BASE_TEXT)), st.sampled_from(CONTROL_CHARACTERS)), min_size=1, max_size=3))
def test_control_character_reported_on_its_line(inserts: list[tuple[int, str]]) -> None:
    text = BASE_TEXT
    for at, char in sorted(inserts, reverse=True):
        text = text[:at] + char + text[at:]
    first = min(i for i, c in enumerate(text) if c in CONTROL_CHARACTERS)
    line = text.count("\n", 0, first) + 1
    with project_dir() as root:
        path = write(root, text)
        outcome = load_checked(path)
        assert isinstance(outcome, RecipeError)
        expected = f"{path}:{line}: not valid YAML: unacceptable character #x{ord(text[first]):04x}: special characters are not allowed"
        assert outcome.message.startswith(expected), outcome.message
        assert outcome.hint == CONTROL_HINT


tag_operands = st.one_of(
    st.sampled_from(
        [
            "",
            "x",
            "hello",
            "3.7",
            "3.10",
            "0.1.0",
            "2.28",
            "30",
            "0x1F",
            "1_000",
            "yes",
            "off",
            "2001-12-14",
            "2001-12-14t21:59:43.10-05:00",
            ".inf",
            "~",
            "9" * 5000,
        ]
    ),
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._]{0,11}", fullmatch=True),
)


@SETTINGS
@given(
    st.sampled_from(SCALAR_PATHS),
    st.sampled_from(["int", "float", "bool", "timestamp", "null", "str", "binary", "seq", "map", "set"]),
    tag_operands,
)
def test_explicit_tags(at: FieldPath, tag: str, operand: str) -> None:
    tagged = f"!!{tag} {operand}"
    text, line = with_value_text(at, tagged)
    try:
        yaml.safe_load(tagged)
    except yaml.MarkedYAMLError:
        expected = f"{line}: not valid YAML: "  # PyYAML knows where: e.g. !!map on a scalar
    except Exception:  # noqa: BLE001 - what PyYAML's constructor raises on "!!int x": ValueError, KeyError, ...
        expected = f"{line}: {dotted(at)}: a value cannot be read as its YAML tag says ("
    else:
        expected = None
    event(f"!!{tag} -> {expected and expected.split(': ')[-1] or 'a value'}")
    with project_dir() as root:
        path = write(root, text)
        outcome = load_checked(path)
        if expected is not None:
            assert isinstance(outcome, RecipeError)
            assert outcome.message.startswith(f"{path}:{expected}"), outcome.message
            if "YAML tag" in expected:
                assert outcome.hint == "remove explicit tags (!!int, !!bool, ...) from the recipe"


@SETTINGS
@given(st.sampled_from(VALUE_PATHS), st.sampled_from(["list", "map"]))
def test_recursive_alias_names_its_field(at: FieldPath, style: str) -> None:
    text, line = with_value_text(at, "&r [*r]" if style == "list" else "&r {k: *r}")
    inner = at + ((0,) if style == "list" else ("k",))
    with project_dir() as root:
        path = write(root, text)
        outcome = load_checked(path)
        assert isinstance(outcome, RecipeError)
        assert outcome.message == f"{path}:{line}: {dotted(inner)}: an alias refers to itself"
        assert outcome.hint == "remove the recursive alias"


@SETTINGS
@given(deep_case())
def test_deep_nesting(case: tuple[str, int]) -> None:
    text, depth = case
    with project_dir() as root:
        path = write(root, text)
        outcome = load_checked(path)
        too_deep = (
            isinstance(outcome, RecipeError)
            and re.fullmatch(rf"{re.escape(str(path))}(:[0-9]+)?: nested too deeply to read", outcome.message) is not None
        )
        event(f"depth {'<= 60' if depth <= 60 else '> 60'}: {'too deep' if too_deep else type(outcome).__name__}")
        if depth <= 60:
            assert not too_deep
        if depth >= 20_000:  # deeper than any recursion limit (hypothesis raises it while a test runs)
            assert too_deep, outcome
            assert outcome.hint == "a recipe needs only a few levels of nesting"


@SETTINGS
@given(
    st.sampled_from([(), ("go",), ("go", "env"), ("python",), ("smoke",), ("output",)]),
    st.lists(short_text, max_size=2),
    st.dictionaries(any_key, garbage_any_keys, min_size=1, max_size=3),
)
def test_non_string_keys_are_refused_on_their_line(parent: FieldPath, nest: list[str], extra: dict[Any, Any]) -> None:
    data = copy.deepcopy(BASE)
    container = get(data, parent)
    for k in nest:  # under new (unknown) keys, as deep as nest says
        container[k] = {}
        container = container[k]
    container.update(extra)
    text = dump(data)
    found = first_non_text_key(yaml.compose(text, Loader=yaml.SafeLoader))
    if any(not isinstance(k, str) for k in extra):
        assert found is not None
    with project_dir() as root:
        path = write(root, text)
        outcome = load_checked(path)
        event(f"non-text key: {found is not None} -> {type(outcome).__name__}")
        if found is None:
            return
        at, key = found
        assert isinstance(outcome, RecipeError)
        line = key.start_mark.line + 1
        assert outcome.message == f"{path}:{line}: {dotted(at) or 'recipe'}: the key {key.value!r} is not text", outcome.message
        assert outcome.hint == f'quote it: "{key.value}"'


@SETTINGS
@given(
    st.sampled_from(list(PATTERN_VALUES)),
    st.sampled_from(["", "\n", "\n\n"]),
)
def test_trailing_newline_refused(at: FieldPath, ending: str) -> None:
    data = copy.deepcopy(BASE)
    value = PATTERN_VALUES[at] + ending
    get(data, at[:-1])[at[-1]] = value
    text = dump(data)
    with project_dir() as root:
        path = write(root, text)
        outcome = load_checked(path)
        if not ending:
            assert isinstance(outcome, Recipe)
            return
        assert isinstance(outcome, RecipeError)
        line = line_index(text)[at]
        found = problems(outcome, path)
        assert len(found) == 1, outcome.message
        assert found[0][0] == line and found[0][1].startswith(f"{dotted(at)}: {value!r} is not valid: "), outcome.message


long_name = st.one_of(
    st.integers(256, 5000).map(lambda n: "a" * n),  # one component longer than NAME_MAX
    st.integers(1400, 3000).map(lambda n: "ab/" * n),  # a path longer than PATH_MAX
    st.text(st.characters(codec="utf-8", exclude_characters="/\x00\n\r\x85\u2028\u2029"), min_size=256, max_size=400),
)


@SETTINGS
@given(st.sampled_from(list(PATH_FIELDS)), long_name)
def test_long_paths_are_ordinary_problems(at: FieldPath, value: str) -> None:
    data = copy.deepcopy(BASE)
    get(data, at[:-1])[at[-1]] = value
    text = dump(data)
    with project_dir() as root:
        path = write(root, text)
        outcome = load_checked(path)
        assert isinstance(outcome, RecipeError)
        line = line_index(text)[at]
        longest = max(len(part.encode()) for part in value.split("/"))
        if len(value) > limits.MAX_VALUE:
            expected = f"{dotted(at)}: {limits.short(value)} is too long (at most {limits.MAX_VALUE} characters)"
        else:
            expected = f"{dotted(at)}: {limits.short(value)} has a name of {longest} bytes; a file name holds at most {limits.NAME_MAX}"
        assert problems(outcome, path) == [(line, expected)], outcome.message


@SETTINGS
@given(st.sampled_from(list(PATH_FIELDS)), short_text, short_text)
def test_nul_in_a_path_field(at: FieldPath, before: str, after: str) -> None:
    data = copy.deepcopy(BASE)
    value = before + "\x00" + after
    get(data, at[:-1])[at[-1]] = value
    text = dump(data)
    with project_dir() as root:
        path = write(root, text)
        outcome = load_checked(path)
        assert isinstance(outcome, RecipeError)
        expected = f"{dotted(at)}: holds a NUL byte, which no path, argument or environment variable can carry"
        assert problems(outcome, path) == [(line_index(text)[at], expected)], outcome.message


# -- through the command line ------------------------------------------------------------------------


bad_recipe_text = st.one_of(
    single_mutation().filter(lambda m: m[1] != "delete" or m[2][-1] in REQUIRED.get(m[2][:-1], set())).map(lambda m: dump(m[0])),
    several_mutations().map(dump),
    random_text,
    st.tuples(st.sampled_from(SCALAR_PATHS), st.sampled_from(["!!int x", "!!bool x", "!!timestamp x", "!!int ", "&r [*r]"])).map(
        lambda t: with_value_text(*t)[0]
    ),
    st.sampled_from(list(PATTERN_VALUES)).map(lambda at: with_value_text(at, f'"{PATTERN_VALUES[at]}\\n"')[0]),
    st.sampled_from(["1: x", "true: x", "go2: {1: a}", "x: \x07"]).map(lambda s: BASE_TEXT + s + "\n"),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bad_recipe_text)
def test_cli_bundle_bad_recipe(capsys: pytest.CaptureFixture[str], text: str) -> None:
    capsys.readouterr()
    with project_dir() as root:
        path = write(root, text)
        try:
            recipe.load(path)
        except RecipeError:
            pass
        else:
            assume(False)  # a valid recipe: bundling it is the integration tests' business
        out = root / "out"
        with cli_state(), mock.patch.object(pipeline, "bundle", side_effect=AssertionError("bundle must not run for a bad recipe")):
            rc = cli.main(["bundle", str(path), "--output-dir", str(out)])
        captured = capsys.readouterr()
        assert rc == 2, captured.err
        assert "Traceback" not in captured.err and "Traceback" not in captured.out
        assert captured.out == ""
        err_lines = captured.err.splitlines()
        assert err_lines[0].startswith(f"error: {path}"), captured.err
        assert any(line.startswith("hint: ") for line in err_lines), captured.err
        assert not out.exists()
        assert sorted(p.name for p in root.iterdir()) == [
            "fake-python",
            "go.mod",
            "hello.py",
            "pkg",
            "proj",
            "recipe.yaml",
            "requirements.txt",
        ]


def test_cli_missing_recipe(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "out"
    with cli_state():
        rc = cli.main(["bundle", str(tmp_path / "nope.yaml"), "-o", str(out)])
    captured = capsys.readouterr()
    assert rc == 2
    assert captured.err.splitlines()[0] == f"error: {tmp_path / 'nope.yaml'}: no such recipe file"
    assert "hint: " in captured.err
    assert not out.exists()


def test_float_nan_and_inf_values_are_reported() -> None:
    """Sanity for the ``wrong_type`` property: non-finite floats are dumped and reported like any number, quoted as written."""
    data = copy.deepcopy(BASE)
    data["python"]["version"] = math.nan
    data["version"] = math.inf
    with project_dir() as root:
        path = write(root, dump(data))
        err = load_checked(path)
        assert isinstance(err, RecipeError)
        assert '(write it quoted: ".nan")' in err.message
        assert '(write it quoted: ".inf")' in err.message
