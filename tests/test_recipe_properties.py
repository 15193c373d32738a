"""Property-based tests of gopack.recipe.load and of ``gopack bundle`` on bad recipes.

A valid recipe (every key present) is mutated at random: a key deleted, an
unknown key added, a value replaced by one of another type or by nested
garbage, a key renamed with a typo. Whatever comes out, load either returns a
well-formed Recipe or raises RecipeError naming the file, a line and the
mutated field; never any other exception.

Known gopack bugs that these strategies steer around (remove a guard once its
bug is fixed, so the property covers it again):

- TRAILING_NEWLINE: schema ``pattern`` keywords end in ``$``, and Python's
  ``re.search`` lets ``$`` match before a final newline, so ``name: "hello\\n"``,
  ``python.version: "3.7\\n"``, ``go.binary``/``go.tags`` with a trailing
  newline are accepted (and ``max_glibc``). Guard: :func:`trailing_newline_in_pattern_field`.
- NON_PRINTABLE: ``yaml.SafeLoader(text)`` runs outside the ``try`` in
  ``recipe._parse``, so a control character in the file (``name: a\\x07``)
  escapes as ``yaml.reader.ReaderError``. Guard: :func:`yaml_printable`.
- RECURSIVE_ALIAS: ``x: &a [*a]`` sends ``recipe._index`` into infinite
  recursion (RecursionError). Guard: :func:`has_recursive_alias`.
- BAD_TAGGED_SCALAR: an explicit tag on a scalar it cannot convert
  (``!!int name``, ``!!float x``, ``!!bool x``, ``!!timestamp x``, a bare
  ``!!int``) makes PyYAML's SafeConstructor raise ValueError, KeyError,
  IndexError or AttributeError, which ``_parse`` does not catch. Guard: the
  token soup below has no ``!!int``/``!!float``/``!!bool``/``!!timestamp``.
- LONG_PATH: a path value longer than NAME_MAX (``python.code: [aaa...300]``)
  raises OSError(ENAMETOOLONG) from ``Path.is_dir`` in ``_file_problems``.
  Guard: generated text is short.
- NON_STRING_KEYS: ``go.env: {1: x}`` / ``{true: x}`` is accepted (env keys
  that are not strings), and ``go.env: {1: a, B: b}`` or ``{null: a, B: b}``
  crashes ``_build`` with TypeError (sorted() of mixed key types). Unknown
  non-string keys elsewhere are reported on the line of their parent mapping,
  as ``[1]`` (like a list index). Only :func:`test_non_string_keys_never_crash`
  generates non-string keys, not under go.env, and it checks no more than
  "RecipeError or Recipe".
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from gopack import _proc, cli, pipeline, recipe
from gopack.errors import RecipeError
from gopack.recipe import Recipe

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

#: Keys the schema knows in each mapping, and which of them are required.
KNOWN: dict[FieldPath, set[str]] = {
    (): {"name", "version", "max_glibc", "go", "python", "smoke", "output"},
    ("go",): {"module", "package", "binary", "tags", "flags", "ldflags", "env"},
    ("python",): {"version", "interpreter", "requirements", "requirements_file", "code", "project"},
    ("smoke",): {"command", "expect", "timeout"},
    ("output",): {"dir", "format"},
}
REQUIRED: dict[FieldPath, set[str]] = {(): {"name", "version", "go", "python"}, ("python",): {"version"}}

#: The JSON type each schema position wants; list items and env values by their parent.
EXPECTED_KIND: dict[FieldPath, str] = {
    ("name",): "string", ("version",): "string", ("max_glibc",): "string",
    ("go",): "object", ("python",): "object", ("smoke",): "object", ("output",): "object",
    ("go", "module"): "string", ("go", "package"): "string", ("go", "binary"): "string",
    ("go", "tags"): "array", ("go", "flags"): "array", ("go", "ldflags"): "string", ("go", "env"): "object",
    ("python", "version"): "string", ("python", "interpreter"): "string", ("python", "requirements"): "array",
    ("python", "requirements_file"): "string", ("python", "code"): "array", ("python", "project"): "string",
    ("smoke", "command"): "array", ("smoke", "expect"): "array", ("smoke", "timeout"): "number",
    ("output", "dir"): "string", ("output", "format"): "string",
}
PATTERN_FIELDS: tuple[FieldPath, ...] = (("name",), ("version",), ("max_glibc",), ("go", "binary"), ("python", "version"))


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


def problems(err: RecipeError, path: Path) -> list[tuple[int, str]]:
    """The ``  path:LINE: message`` problems listed in a multi-problem error."""
    return [(int(n), m) for n, m in re.findall(rf"^  {re.escape(str(path))}:(\d+): (.*)$", err.message, flags=re.M)]


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
    if len(at) == 3 and isinstance(at[2], int) and at[:2] in {
        ("go", "tags"), ("go", "flags"), ("python", "requirements"), ("python", "code"), ("smoke", "command"), ("smoke", "expect"),
    }:
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


_YAML_NON_PRINTABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def yaml_printable(text: str) -> str:
    """Guard for NON_PRINTABLE: replace what PyYAML's reader refuses."""
    return _YAML_NON_PRINTABLE.sub("?", text)


def has_recursive_alias(text: str) -> bool:
    """Guard for RECURSIVE_ALIAS: does the composed node graph have a cycle?"""
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except (yaml.YAMLError, RecursionError):
        return False
    on_path: set[int] = set()

    def cyclic(n: yaml.Node) -> bool:
        if id(n) in on_path:
            return True
        if isinstance(n, yaml.ScalarNode):
            return False
        on_path.add(id(n))
        children = [c for pair in n.value for c in pair] if isinstance(n, yaml.MappingNode) else list(n.value)
        found = any(cyclic(c) for c in children)
        on_path.discard(id(n))
        return found

    return node is not None and cyclic(node)


def trailing_newline_in_pattern_field(data: Any) -> bool:
    """Guard for TRAILING_NEWLINE."""
    if not isinstance(data, dict):
        return False
    values = []
    for at in PATTERN_FIELDS:
        with contextlib.suppress(KeyError, TypeError, IndexError):
            values.append(get(data, at))
    with contextlib.suppress(KeyError, TypeError):
        tags = get(data, ("go", "tags"))
        if isinstance(tags, list):
            values += tags
    return any(isinstance(v, str) and v.endswith("\n") for v in values)


#: Errors about the file as a whole, which have no line to name.
WHOLE_FILE_ERRORS = ("the recipe is empty", "not UTF-8 text (")


def load_checked(path: Path) -> Recipe | RecipeError:
    """load(path): a well-formed Recipe, or a RecipeError that names the file and a line. Nothing else."""
    try:
        r = recipe.load(path)
    except RecipeError as err:
        assert err.exit_code == 2
        assert err.message.startswith(str(path)), err.message
        if not err.message.startswith(tuple(f"{path}: {m}" for m in WHOLE_FILE_ERRORS)):
            assert re.search(rf"{re.escape(str(path))}:\d+(:|$)", err.message, flags=re.M), err.message
        nlines = max(1, len(path.read_bytes().splitlines()) + 1)
        for line, _ in problems(err, path):
            assert 1 <= line <= nlines, (line, err.message)
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
    assert isinstance(r.smoke.timeout, float) and r.smoke.timeout > 0
    assert r.output.dir.is_absolute()
    assert r.output.format == "tar.gz"


def has_problem(err: RecipeError, path: Path, index: dict[FieldPath, int], at: FieldPath) -> bool:
    """A problem names ``at`` or a field below it, on that field's line."""
    for sub, line in index.items():
        if sub[: len(at)] != at:
            continue
        if f"\n  {path}:{line}: {dotted(sub) or 'recipe'}: " in err.message:
            return True
    return False


# -- strategies -------------------------------------------------------------------------------

short_text = st.text(max_size=12).map(yaml_printable)
scalars = st.one_of(
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    short_text,
    st.sampled_from(["", " ", ".", "3.7", "3.11", "yes", "null", "~", "-", "a b", "../x", "/", "hello.py", "pkg", "go.mod"]),
)
garbage = st.recursive(
    scalars,
    lambda kids: st.one_of(st.lists(kids, max_size=4), st.dictionaries(short_text, kids, max_size=4)),
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
        if section and section[0] not in data:
            continue  # the whole section was dropped already
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
            parent[draw(short_text)] = draw(garbage)
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
            get(data, at[:-1])[at[-1]] = draw(garbage)
        if not isinstance(data, dict):
            break
    return data


yaml_tokens = st.sampled_from([
    "name", "version", "go", "python", "module", "code", "smoke", "3.7", '"3.7"', "hello", "0.1.0",
    ":", ": ", " ", "  ", "\n", "\n  ", "\n    ", "- ", "-", "[", "]", "{", "}", ",", '"', "'", "#", "\t",
    "&a ", "*a", "&b ", "*b", "!!str ", "!!binary ", "!!set ", "!!omap ", "!!python/object:os.system ", "!foo ", "? ",
    "---", "...", "%YAML 1.1\n", "%TAG ! tag:x,2000:\n", "<<: ", "|", ">", "null", "~", "true", ".nan", "0x1F", "1e3",
    "\\", "%", "@", "`", "\ufeff", "\u2028", "\x85", "é", "🐍",
])
yaml_soup = st.lists(yaml_tokens, max_size=40).map("".join)
random_text = st.one_of(st.text(max_size=200).map(yaml_printable), yaml_soup, yaml_soup.map(lambda s: dump(BASE) + s))


def printable_bytes(raw: bytes) -> bytes:
    """Guard for NON_PRINTABLE on bytes: bytes that are not UTF-8 are kept as they are."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw
    return yaml_printable(text).encode("utf-8")


# -- properties of load ---------------------------------------------------------------------------


def test_base_recipe_is_valid() -> None:
    with project_dir() as root:
        path = root / "recipe.yaml"
        path.write_text(dump(BASE))
        r = load_checked(path)
        assert isinstance(r, Recipe)
        assert r.go.tags == ("netgo", "embed_py")
        assert r.python.code == ((root / "hello.py").resolve(), (root / "pkg").resolve())


@SETTINGS
@given(single_mutation())
def test_single_mutation_names_file_line_and_field(mutation: tuple[dict[str, Any], str, FieldPath, Any]) -> None:
    data, op, at, value = mutation
    assume(not trailing_newline_in_pattern_field(data))
    with project_dir() as root:
        path = root / "recipe.yaml"
        text = dump(data)
        path.write_text(text, encoding="utf-8")
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
                    assert f"\n  {path}:{line}: output.format: {value!r} is not one of 'tar.gz'" in outcome.message, outcome.message
                else:
                    assert f"\n  {path}:{line}: {dotted(at)}: expected " in outcome.message, outcome.message
                if want == "string" and kind(value) == "number":
                    assert f'(write it quoted: "{value}")' in outcome.message


@SETTINGS
@given(several_mutations())
def test_several_mutations_only_recipe_error(data: dict[str, Any]) -> None:
    assume(not trailing_newline_in_pattern_field(data))
    with project_dir() as root:
        path = root / "recipe.yaml"
        path.write_text(dump(data), encoding="utf-8")
        load_checked(path)


@SETTINGS
@given(random_text)
def test_random_text_only_recipe_error(text: str) -> None:
    assume(not has_recursive_alias(text))
    with project_dir() as root:
        path = root / "recipe.yaml"
        path.write_text(text, encoding="utf-8")
        outcome = load_checked(path)
        if isinstance(outcome, RecipeError):
            assert outcome.message.startswith(str(path))


@SETTINGS
@given(st.one_of(st.binary(max_size=200), random_text.map(lambda s: s.encode("utf-8"))).map(printable_bytes))
def test_random_bytes_only_recipe_error(raw: bytes) -> None:
    with project_dir() as root:
        path = root / "recipe.yaml"
        path.write_bytes(raw)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            outcome = load_checked(path)
            assert isinstance(outcome, RecipeError)
            assert outcome.message.startswith(f"{path}: not UTF-8 text")
            return
        assume(not has_recursive_alias(text))
        load_checked(path)


non_string_keys = st.one_of(st.integers(-5, 5), st.booleans(), st.none(), st.floats(allow_nan=False), short_text)


@SETTINGS
@given(
    # not ("go", "env"): NON_STRING_KEYS there crash _build (sorted() of mixed key types)
    st.sampled_from([(), ("go",), ("python",), ("smoke",), ("output",)]),
    st.dictionaries(non_string_keys, garbage, min_size=1, max_size=3),
)
def test_non_string_keys_never_crash(parent: FieldPath, extra: dict[Any, Any]) -> None:
    data = copy.deepcopy(BASE)
    get(data, parent).update(extra)
    with project_dir() as root:
        path = root / "recipe.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        try:
            recipe.load(path)
        except RecipeError as err:
            assert err.exit_code == 2
            assert err.message.startswith(str(path))
            assert re.search(rf"{re.escape(str(path))}:\d+(:|$)", err.message, flags=re.M)


# -- through the command line ------------------------------------------------------------------------


@contextlib.contextmanager
def cli_state() -> Iterator[None]:
    """cli.main configures the root logger and _proc; put them back afterwards."""
    root = logging.getLogger()
    handlers, level, stream = root.handlers[:], root.level, _proc.stream_output
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        _proc.stream_output = stream


bad_recipe_text = st.one_of(
    single_mutation().filter(lambda m: m[1] != "delete" or m[2][-1] in REQUIRED.get(m[2][:-1], set())).map(lambda m: dump(m[0])),
    several_mutations().map(dump),
    random_text,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bad_recipe_text)
def test_cli_bundle_bad_recipe(capsys: pytest.CaptureFixture[str], text: str) -> None:
    assume(not has_recursive_alias(text))
    assume(not trailing_newline_in_pattern_field(yaml_or_none(text)))
    capsys.readouterr()
    with project_dir() as root:
        path = root / "recipe.yaml"
        path.write_text(text, encoding="utf-8")
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
        assert sorted(p.name for p in root.iterdir()) == ["fake-python", "go.mod", "hello.py", "pkg", "proj", "recipe.yaml", "requirements.txt"]


def yaml_or_none(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError):
        return None


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
    """Sanity for the ``wrong_type`` property: non-finite floats are dumped and reported like any number."""
    data = copy.deepcopy(BASE)
    data["python"]["version"] = math.nan
    data["version"] = math.inf
    with project_dir() as root:
        path = root / "recipe.yaml"
        path.write_text(dump(data))
        err = load_checked(path)
        assert isinstance(err, RecipeError)
        assert '(write it quoted: "nan")' in err.message
        assert '(write it quoted: "inf")' in err.message
