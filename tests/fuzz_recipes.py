"""Seeded mutations of the shipped recipes, for tests/test_fuzz_recipes.py.

Each mutation is one of the ways a recipe has been seen to go wrong (a dropped or
unknown key, a wrong type, junk or invalid bytes, a huge value, an alias fan-out,
a document that is not a mapping, a hostile string where a path, a flag or an
environment variable goes, a cut-off file) or a few of them at once. The same
seed gives the same recipes on any machine.
"""

from __future__ import annotations

import copy
import random
import re
from collections.abc import Callable, Iterator
from typing import Any

import yaml

HOSTILE_STRINGS = (
    "",
    "\x00",
    "a\x00b",
    "line\nbreak",
    "\r",
    "../../../../../../../../etc",
    "/etc",
    "/dev/zero",
    "/proc/self/mem",
    "A=B",
    "=",
    "$(touch /tmp/gopack-fuzz-pwned)",
    "; rm -rf /",
    "-o/tmp/x",
    "--help",
    "~",
    "*",
    "**",
    "\u00fc\u65e5\u672c",
    "\ud800",
    "\ufeff",
    "x" * 256,
    "y/" * 2100,
    "3.7\n",
    "9.99",
    "2.7",
    ".",
    "..",
)
JUNK = (
    b"\x00",
    b"\xff\xfe",
    b"\xe9",
    b"\x07",
    b"\t\t",
    b": :",
    b"- -",
    b"&a *a",
    b"!!int x",
    b"{[",
    b"]}",
    b"'",
    b'"',
    b"%YAML 9.9\n",
    b"---\n",
    b"...\n",
)


def recipes(seeds: dict[str, str], count: int, seed: int) -> Iterator[tuple[str, str, bytes]]:
    """``count`` mutated recipes: (which seed recipe, which mutations, the bytes)."""
    rng = random.Random(seed)
    names = sorted(seeds)
    parsed = {name: yaml.safe_load(text) for name, text in seeds.items()}
    for _ in range(count):
        name = rng.choice(names)
        applied = []
        data: Any = copy.deepcopy(parsed[name])
        raw: bytes | None = None
        for _ in range(rng.choice((1, 1, 1, 2, 3))):
            mutation = rng.choice(_STRUCTURAL + _TEXTUAL)
            applied.append(mutation.__name__.lstrip("_"))
            if mutation in _STRUCTURAL:
                data = mutation(rng, data) if raw is None else data
            else:
                raw = mutation(rng, raw if raw is not None else _dump(data))
        yield name, "+".join(applied), raw if raw is not None else _dump(data)


_HUGE = re.compile(rb"__HUGE_(STR|LIST)_([0-9]+)__")


def _dump(data: Any) -> bytes:
    """YAML bytes; a huge value stands in the data as a marker, written out only here
    (PyYAML takes seconds to dump a list of 100,000 items)."""
    raw = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=1 << 20).encode("utf-8", "surrogatepass")

    def expand(m: re.Match[bytes]) -> bytes:
        size = int(m.group(2))
        return b"z" * size if m.group(1) == b"STR" else b"[" + b"pkg, " * size + b"]"

    return _HUGE.sub(expand, raw)


def _paths(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [at]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*at, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += _paths(item, (*at, i))
    return found


def _parent(data: Any, at: tuple[Any, ...]) -> Any:
    for step in at[:-1]:
        data = data[step]
    return data


def _drop_key(rng: random.Random, data: Any) -> Any:
    paths = [p for p in _paths(data) if p]
    if not paths:
        return data
    at = rng.choice(paths)
    data = copy.deepcopy(data)
    del _parent(data, at)[at[-1]]
    return data


def _wrong_type(rng: random.Random, data: Any) -> Any:
    paths = [p for p in _paths(data) if p]
    if not paths:
        return rng.choice([None, 1, [], "x"])
    at = rng.choice(paths)
    data = copy.deepcopy(data)
    _parent(data, at)[at[-1]] = rng.choice([None, 0, -1, 3.7, True, [], {}, ["a", 1], {"k": "v"}, 10**30])
    return data


def _unknown_key(rng: random.Random, data: Any) -> Any:
    targets = [p for p in _paths(data) if isinstance(_value(data, p), dict)]
    if not targets:
        return data
    at = rng.choice(targets)
    data = copy.deepcopy(data)
    key = rng.choice(["nmae", "verison", "modul", "requirement", "dir ", "x", "go", "sources_", "Python", "1"])
    _value(data, at)[key] = rng.choice(["x", 1, [1], {"a": 1}])
    return data


def _hostile_string(rng: random.Random, data: Any) -> Any:
    paths = [p for p in _paths(data) if p and isinstance(_value(data, p), str)]
    if not paths:
        return data
    at = rng.choice(paths)
    data = copy.deepcopy(data)
    _parent(data, at)[at[-1]] = rng.choice(HOSTILE_STRINGS)
    return data


def _hostile_key(rng: random.Random, data: Any) -> Any:
    data = copy.deepcopy(data) if isinstance(data, dict) else {}
    go = data.setdefault("go", {}) if isinstance(data.get("go", {}), dict) else {}
    env = go.setdefault("env", {}) if isinstance(go.get("env", {}), dict) else {}
    env[rng.choice(HOSTILE_STRINGS) or "EMPTY"] = rng.choice(HOSTILE_STRINGS)
    return data


def _huge_value(rng: random.Random, data: Any) -> Any:
    paths = [p for p in _paths(data) if p and isinstance(_value(data, p), (str, list))]
    if not paths:
        return data
    at = rng.choice(paths)
    data = copy.deepcopy(data)
    # Past MAX_VALUE, and past the recipe file's size cap (refused before parsing, as a runaway file should be).
    size = rng.choice((5_000, 400_000))
    kind = "STR" if isinstance(_value(data, at), str) else "LIST"
    _parent(data, at)[at[-1]] = f"__HUGE_{kind}_{size if kind == 'STR' else size // 4}__"
    return data


def _not_a_mapping(rng: random.Random, data: Any) -> Any:
    return rng.choice([[data], "recipe", 42, None, [], [["a"]]])


def _value(data: Any, at: tuple[Any, ...]) -> Any:
    for step in at:
        data = data[step]
    return data


def _junk_bytes(rng: random.Random, raw: bytes) -> bytes:
    at = rng.randrange(len(raw) + 1)
    return raw[:at] + rng.choice(JUNK) + raw[at:]


def _random_bytes(rng: random.Random, raw: bytes) -> bytes:
    at = rng.randrange(len(raw) + 1)
    return raw[:at] + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 8))) + raw[at:]


def _cut(rng: random.Random, raw: bytes) -> bytes:
    return raw[: rng.randrange(len(raw) + 1)]


def _alias_fan_out(rng: random.Random, raw: bytes) -> bytes:
    levels = rng.choice((3, 5, 8))
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return raw + ("\n".join(lines) + "\n").encode()


def _swap_lines(rng: random.Random, raw: bytes) -> bytes:
    lines = raw.split(b"\n")
    if len(lines) > 2:
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    return b"\n".join(lines)


def _indent(rng: random.Random, raw: bytes) -> bytes:
    lines = raw.split(b"\n")
    i = rng.randrange(len(lines))
    lines[i] = rng.choice((b" ", b"   ", b"\t")) + lines[i]
    return b"\n".join(lines)


_STRUCTURAL: tuple[Callable[[random.Random, Any], Any], ...] = (
    _drop_key,
    _wrong_type,
    _unknown_key,
    _hostile_string,
    _hostile_string,
    _hostile_key,
    _huge_value,
    _not_a_mapping,
)
_TEXTUAL: tuple[Callable[[random.Random, bytes], bytes], ...] = (_junk_bytes, _random_bytes, _cut, _alias_fan_out, _swap_lines, _indent)
