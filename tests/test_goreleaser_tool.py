"""examples/goreleaser/gopack-go's refusals: each says what is wrong in one line, before any work."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from conftest import EXAMPLES

TOOL = EXAMPLES / "goreleaser" / "gopack-go"


def run(args: list[str], env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    full = {"PATH": os.environ["PATH"], **env}
    return subprocess.run([str(TOOL), *args], capture_output=True, text=True, check=False, env=full, cwd=tmp_path)


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (["build", "."], {"GOPACK_RECIPE": "recipe.yaml", "GOOS": "linux", "GOARCH": "amd64"}, "GoReleaser gave no -o PATH"),
        (["build", "-o", "dist/x/app", "."], {"GOOS": "linux", "GOARCH": "amd64"}, "set GOPACK_RECIPE"),
        (["build", "-o", "dist/x/app", "."], {"GOPACK_RECIPE": "recipe.yaml", "GOOS": "darwin", "GOARCH": "arm64"}, "not GOOS=darwin"),
    ],
)
def test_gopack_go_refuses_what_it_cannot_build(args: list[str], env: dict[str, str], says: str, tmp_path: Path) -> None:
    result = run(args, env, tmp_path)
    assert result.returncode != 0 and says in result.stderr, result.stderr
    assert not (tmp_path / "dist").exists()


def test_gopack_go_passes_anything_but_build_to_go(tmp_path: Path) -> None:
    result = run(["version"], {}, tmp_path)
    assert result.returncode == 0 and result.stdout.startswith("go version go1."), result.stdout + result.stderr
