"""Issue 26 item 7: a stranger's text reaches the terminal with its control characters escaped.

Manifest strings (``inspect``), manifest paths quoted in errors, and the smoke
program's output (``verify``, on failure and with ``--show-output``): a window
title, an OSC 52 clipboard write, a carriage return over an ``ok`` line, a bidi
override are shown as ``\\x1b``, ``\\x0d``, ``\\u202e``; line breaks and tabs
of program output stay.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import Canaries
from hostile import FAILED, app, error_line, gopack, refused, with_manifest

#: What must never reach a terminal raw: C0 controls but line breaks and tabs, DEL, C1, bidi controls.
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox needs root")


# -- everywhere ------------------------------------------------------------------------


def test_inspect_escapes_the_manifests_strings(tmp_path: Path) -> None:
    def edit(document: dict[str, Any]) -> None:
        document["version"] = "1.0\x1b]0;window title\x07"
        document["binding"]["module"] = "example.com/app\r\nok   forged line"
        document["packages"] = [{"name": "osc52\x1b]52;c;cHduZWQ=\x07", "version": "1\u202e2", "license": "\x9b31m"}]
        document["host_libraries"] = ["libc.so.6\x1b[2J"]

    archive = with_manifest(app("esc-1.0"), tmp_path / "esc-1.0.tar.gz", edit)
    result = gopack("inspect", str(archive), tmpdir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert not RAW.search(result.stdout), repr(result.stdout)
    assert "osc52\\x1b]52;c;cHduZWQ=\\x07" in result.stdout and "1\\u202e2" in result.stdout
    assert "libc.so.6\\x1b[2J" in result.stdout
    as_json = gopack("inspect", "--json", str(archive), tmpdir=tmp_path)
    assert not RAW.search(as_json.stdout)  # JSON escapes them itself
    assert json.loads(as_json.stdout)["version"] == "1.0\x1b]0;window title\x07"


def test_an_error_quoting_a_manifest_path_escapes_it(canaries: Canaries, tmp_path: Path) -> None:
    def edit(document: dict[str, Any]) -> None:
        document["files"].append({"path": "bin/\x1b]52;c;cHduZWQ=\x07\nok   files: all good", "size": 0, "sha256": "0" * 64, "mode": 0o644})

    archive = with_manifest(app("epath-1.0"), tmp_path / "epath-1.0.tar.gz", edit)
    stderr = refused(archive, canaries)
    assert not RAW.search(stderr), repr(stderr)
    assert "bin/\\x1b]52;c;cHduZWQ=\\x07\\x0aok   files: all good: listed in gopack.json but not in the archive" in error_line(stderr)


@needs_root
@pytest.mark.parametrize("passes", [True, False])
def test_the_smoke_programs_output_is_escaped(passes: bool, canaries: Canaries, tmp_path: Path) -> None:
    script = "printf 'title\\033]0;pwned\\007 clip\\033]52;c;cHduZWQ=\\007 back\\rforged\\n\\tindented\\n'\necho OK\n"
    bundle = app("out-1.0", script)
    bundle.smoke = {"command": ["bin/app"], "expect": ["OK" if passes else "never printed"], "timeout": 60}
    before = canaries.snapshot()
    result = gopack("verify", "--show-output", str(bundle.tar(tmp_path / "out-1.0.tar.gz")), tmpdir=canaries.tmpdir)
    assert result.returncode == (0 if passes else FAILED), result.stderr
    assert canaries.snapshot() == before
    assert not RAW.search(result.stderr), repr(result.stderr)
    assert result.stderr.count("  | title\\x1b]0;pwned\\x07 clip\\x1b]52;c;cHduZWQ=\\x07 back\\x0dforged\n") == 3
    assert result.stderr.count("  | \tindented\n") == 3  # line breaks and tabs stay


def test_shown_doctests() -> None:
    import doctest

    from gopack import _text

    assert doctest.testmod(_text, report=False).failed == 0
