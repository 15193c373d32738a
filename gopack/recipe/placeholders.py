"""Placeholders in ``go.env``, ``go.flags`` and ``go.ldflags``: paths only gopack knows.

A placeholder is ``{name}`` or ``{name:argument}``; ``${...}`` (a shell or cgo
variable such as ``${SRCDIR}``) is left as written. The names:

- ``{python.include}``: the interpreter's C headers (the folder holding Python.h);
- ``{python.lib}``: the folder holding the libpython the program links;
- ``{python.site_packages}``: the bundle's site-packages as installed, with the
  headers that the shipped bundle drops;
- ``{include:MODULE}``: ``MODULE.get_include()`` of the bundle's own copy of
  ``MODULE`` (numpy, pybind11, pyarrow...), in that same headers-included view.

Parsing and checking are pure (the recipe loader reports unknown names with
file:line:key); the values come from the plan (``python.*``) and from the
Python tree (the others), so a recipe that uses those makes the Go build wait
for the tree.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

#: Known without the Python tree: the interpreter's own folders.
INTERPRETER = ("python.include", "python.lib")
#: Known once the Python tree is made.
TREE = ("python.site_packages",)
#: Take an argument: {include:numpy}.
WITH_ARGUMENT = ("include",)
NAMES = (*INTERPRETER, *TREE, *WITH_ARGUMENT)

_PLACEHOLDER = re.compile(r"(?<!\$)\{([^{}\s]*)\}")
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


@dataclass(frozen=True, kw_only=True)
class Placeholder:
    name: str
    argument: str = ""

    @property
    def text(self) -> str:
        return "{" + self.name + (f":{self.argument}" if self.argument else "") + "}"

    @property
    def needs_tree(self) -> bool:
        return self.name not in INTERPRETER


def find(value: str) -> list[Placeholder]:
    """The placeholders in ``value``; raises ValueError naming the first one gopack does not know.

    >>> find("-I{python.include} -I{include:numpy} ${SRCDIR}")
    [Placeholder(name='python.include', argument=''), Placeholder(name='include', argument='numpy')]
    >>> find("-I{python.includ}")
    Traceback (most recent call last):
    ...
    ValueError: unknown placeholder {python.includ}; did you mean {python.include}?
    """
    found = []
    for match in _PLACEHOLDER.finditer(value):
        name, _, argument = match.group(1).partition(":")
        if name in WITH_ARGUMENT:
            if not _MODULE.match(argument):
                shown = "{" + match.group(1) + "}"
                raise ValueError(f"{shown} needs a module name, as in {{{name}:numpy}}")
        elif argument or name not in NAMES:
            close = difflib.get_close_matches(match.group(1), [n for n in NAMES if n not in WITH_ARGUMENT], n=1)
            tip = f"did you mean {{{close[0]}}}?" if close else "known: " + ", ".join(_shown(n) for n in NAMES)
            raise ValueError(f"unknown placeholder {{{match.group(1)}}}; {tip}")
        found.append(Placeholder(name=name, argument=argument))
    return found


def _shown(name: str) -> str:
    return f"{{{name}:MODULE}}" if name in WITH_ARGUMENT else f"{{{name}}}"


def substitute(value: str, resolve: Callable[[Placeholder], str | None]) -> str:
    """``value`` with each placeholder ``resolve`` answers replaced (None leaves it as written)."""

    def one(match: re.Match[str]) -> str:
        name, _, argument = match.group(1).partition(":")
        answer = resolve(Placeholder(name=name, argument=argument))
        return match.group(0) if answer is None else answer

    return _PLACEHOLDER.sub(one, value)


def quote(word: str) -> str:
    """``word`` as one field of a flags value Go splits (CGO_CFLAGS, -ldflags): quoted when it
    holds a space (Go takes quotes around a whole field, with nothing escaped inside).

    >>> quote("-I/a/b"), quote("-I/my cache/inc")
    ('-I/a/b', "'-I/my cache/inc'")
    """
    if not any(c.isspace() for c in word) and "'" not in word and '"' not in word:
        return word
    return f'"{word}"' if "'" in word else f"'{word}'"


def substitute_flags(value: str, resolve: Callable[[Placeholder], str | None]) -> str:
    """:func:`substitute` for a value Go splits into fields: a field whose placeholder
    brings a space (a cache under "My Files") is quoted whole.

    >>> substitute_flags("-O2 -I{include:numpy} -DX", lambda p: "/my cache/np")
    "-O2 '-I/my cache/np' -DX"
    """
    answers = [a for p in find(value) if (a := resolve(p)) is not None]
    if not any(c.isspace() for a in answers for c in a):
        return substitute(value, resolve)
    return " ".join(quote(substitute(f, resolve)) if _PLACEHOLDER.search(f) else f for f in value.split())


def in_values(values: Iterable[tuple[str, str]]) -> list[tuple[str, Placeholder]]:
    """(recipe key, placeholder) for every placeholder in the (key, value) pairs (already checked)."""
    return [(key, p) for key, value in values for p in find(value)]


def go_values(go: Mapping[str, object]) -> list[tuple[tuple[str | int, ...], str]]:
    """(field path, text) of every recipe value under ``go`` that may hold placeholders."""
    found: list[tuple[tuple[str | int, ...], str]] = []
    env = go.get("env")
    if isinstance(env, Mapping):
        found += [(("go", "env", str(k)), v) for k, v in env.items() if isinstance(v, str)]
    flags = go.get("flags")
    if isinstance(flags, list):
        found += [(("go", "flags", i), v) for i, v in enumerate(flags) if isinstance(v, str)]
    ldflags = go.get("ldflags")
    if isinstance(ldflags, str):
        found.append((("go", "ldflags"), ldflags))
    return found
