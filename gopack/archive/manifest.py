"""The manifest (``gopack.json``) as read from an archive someone else made.

Read with a size cap, decoded as UTF-8, parsed as JSON and checked against
``schemas/manifest.schema.json`` before any of it is used: every problem is
reported by its field (``files[3].size``), never as a traceback. The smoke
command is checked against the archive's own entries (see :mod:`gopack.archive.unpack`).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import jsonschema

from gopack.errors import VerifyError

NAME = "gopack.json"
#: A manifest lists every file with its sha256 (about 150 bytes each): 32 MiB is some 200,000 files.
MAX_BYTES = 32 << 20
_SHOWN = 12


@cache
def schema() -> dict[str, Any]:
    return dict(json.loads(resources.files("gopack").joinpath("schemas/manifest.schema.json").read_text("utf-8")))


@cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema())


def parse(data: bytes, where: str) -> dict[str, Any]:
    """The manifest in ``data``, checked against its schema; ``where`` names it in errors."""
    hint = "the archive was not made by gopack, or its gopack.json was altered"
    if len(data) > MAX_BYTES:
        raise VerifyError(f"{where}: {NAME} is {len(data)} bytes, more than the {MAX_BYTES} a manifest may have", hint=hint)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise VerifyError(f"{where}: {NAME} is not UTF-8 text (byte {exc.start} is {data[exc.start]:#04x})", hint=hint) from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise VerifyError(f"{where}: {NAME} is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", hint=hint) from None
    except RecursionError:
        raise VerifyError(f"{where}: {NAME} nests too deeply to be a manifest", hint=hint) from None
    problems = sorted(_validator().iter_errors(document), key=lambda e: (list(e.absolute_path), e.message))
    if problems:
        lines = [f"{field(e.absolute_path)}: {_short(e.message)}" for e in problems]
        more = f" (and {len(lines) - 1} more problem{'s' if len(lines) > 2 else ''})" if len(lines) > 1 else ""
        raise VerifyError(
            f"{where}: {NAME} does not match the manifest schema: {lines[0]}{more}",
            hint=hint,
            details="\n".join(lines[:_SHOWN]) + (f"\n... {len(lines) - _SHOWN} more" if len(lines) > _SHOWN else "")
            if len(lines) > 1
            else None,
        )
    return dict(document)


def field(path: Any) -> str:
    """A JSON path as the manifest's field name.

    >>> field(["files", 3, "size"]), field([])
    ('files[3].size', '(the whole document)')
    """
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text or "(the whole document)"


def _short(message: str) -> str:
    """jsonschema quotes the whole offending value; a manifest's values can be huge."""
    return message if len(message) <= 200 else message[:200] + "..."
