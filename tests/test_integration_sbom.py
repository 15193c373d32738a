"""The SBOM and SHA256SUMS of real bundles: the sklearn example's (built once per session, see
conftest), a second build of it, and two recipes bundled at once into one folder."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import DATA, EXAMPLES, REPO, cli_state, extract, require_pyenv

from gopack import cli, pipeline, sbom
from gopack.archive import checksums
from gopack.pipeline import Bundle
from gopack.recipe import model as recipe
from gopack.verify import checks

pytestmark = pytest.mark.integration

SKLEARN = EXAMPLES / "sklearn" / "recipe.yaml"


@pytest.fixture(scope="module")
def sklearn(build: Callable[[Path], Bundle]) -> Bundle:
    require_pyenv("3.7")
    return build(SKLEARN)


def sha256sum_c(folder: Path) -> list[str]:
    """``sha256sum -c SHA256SUMS`` in ``folder``: the files it checked (it must pass)."""
    checked = subprocess.run(["sha256sum", "-c", checksums.NAME], cwd=folder, capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert all(line.endswith(": OK") for line in checked.stdout.splitlines()), checked.stdout
    return sorted(line.rsplit(": ", 1)[0] for line in checked.stdout.splitlines())


def by_purl(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["purl"].split("?")[0]: c for c in [document["metadata"]["component"], *document["components"]] if "purl" in c}


def test_the_sklearn_sbom_says_what_is_inside(sklearn: Bundle, tmp_path: Path) -> None:
    data = sklearn.sbom.read_bytes()
    assert sklearn.sbom.name == sklearn.archive.name + ".cdx.json"
    assert sbom.validate(data) is None  # the CycloneDX 1.6 JSON schema, strict
    document = json.loads(data)
    purls = by_purl(document)
    binding = sklearn.manifest["binding"]
    assert binding["name"] == "DataDog/go-python3"
    assert f"pkg:golang/github.com/DataDog/go-python3@{binding['version']}" in purls
    assert f"pkg:golang/stdlib@{sklearn.manifest['go']['version'].removeprefix('go')}" in purls
    (cpython,) = [p for p in purls if p.startswith("pkg:generic/cpython@")]
    assert cpython == f"pkg:generic/cpython@{sklearn.manifest['python']['version']}" and cpython.startswith("pkg:generic/cpython@3.7.")
    assert "pkg:pypi/scikit-learn@1.0.2" in purls and "pkg:generic/sklearn-demo@0.1.0" in purls
    assert {f"pkg:pypi/{p['name'].lower()}@{p['version']}" for p in sklearn.manifest["packages"]} <= set(purls)
    # Every vendored library, with the file it is in the bundle and the Debian package it was copied from.
    native = {c["name"]: c for c in document["components"] if {"name": sbom.KIND, "value": "native library"} in c["properties"]}
    assert sorted(native) == sorted(v["soname"] for v in sklearn.manifest["vendored"]) and native
    for vendored in sklearn.manifest["vendored"]:
        component = native[vendored["soname"]]
        properties = {p["name"]: p["value"] for p in component["properties"]}
        assert properties["gopack:source"] == vendored["source"] and properties[sbom.FILE].endswith(vendored["name"])
        assert component["purl"].startswith("pkg:deb/debian/") and "arch=amd64" in component["purl"], component
    listed = {f["path"]: f for f in sklearn.manifest["files"]}
    assert sbom.file_hashes(document) == {path: listed[path]["sha256"] for path in sbom.file_hashes(document)}
    graph = {d["ref"]: d.get("dependsOn", []) for d in document["dependencies"]}
    assert any(ref.startswith("native:") for ref in graph["pkg:pypi/numpy@" + purls_version(purls, "numpy")])
    # The same bytes inside the archive, listed in the manifest like any file.
    assert listed[sbom.NAME]["size"] == len(data)
    assert (extract(sklearn.archive, tmp_path) / sbom.NAME).read_bytes() == data
    counts = sbom.counts(document)
    print(f"sklearn SBOM components by kind: {counts}")  # shown with -s; the numbers the issue asks for
    assert counts["native library"] == len(sklearn.manifest["vendored"]) and counts["go module"] >= 1


def purls_version(purls: dict[str, Any], name: str) -> str:
    return next(p.rsplit("@", 1)[1] for p in purls if p.startswith(f"pkg:pypi/{name}@"))


def test_inspect_prints_it_from_inside_the_archive_and_verify_checks_it(
    sklearn: Bundle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with cli_state():
        assert cli.main(["inspect", "--sbom", str(sklearn.archive)]) == 0
    assert capsys.readouterr().out.encode() == sklearn.sbom.read_bytes()
    root = extract(sklearn.archive, tmp_path)
    found = checks.check_sbom(root, sklearn.manifest)
    assert found.ok and "CycloneDX 1.6" in found.detail, found.detail
    # An SBOM swapped inside the bundle: the manifest's sha256 no longer matches the file.
    (root / sbom.NAME).write_bytes(sklearn.sbom.read_bytes().replace(b"scikit-learn", b"scikit-lurn"))
    assert not checks.check_files(root, sklearn.manifest).ok


def test_a_second_build_gives_the_same_sbom_and_archive(sklearn: Bundle, cache_dir: Path, tmp_path: Path) -> None:
    """Warm (the session's cache holds the tree): what differs from the first build is everything
    gopack does after the Python stage, the SBOM included."""
    mp = pytest.MonkeyPatch()
    mp.setenv("GOPACK_CACHE_DIR", str(cache_dir))
    try:
        again = pipeline.bundle(recipe.load(SKLEARN), output_dir=tmp_path)
    finally:
        mp.undo()
    assert again.sbom.read_bytes() == sklearn.sbom.read_bytes()
    assert again.archive.read_bytes() == sklearn.archive.read_bytes()
    assert (tmp_path / checksums.NAME).read_text() == "".join(
        line + "\n" for line in (sklearn.archive.parent / checksums.NAME).read_text().splitlines() if "sklearn-demo-" in line
    )


def test_two_concurrent_runs_into_one_folder_keep_both_lines(cache_dir: Path, tmp_path: Path) -> None:
    require_pyenv("3.7")
    out = tmp_path / "out"
    out.mkdir()
    # Another release's line, which both runs must keep.
    (out / "an-older-release.tar.gz").write_bytes(b"")
    (out / "SHA256SUMS").write_text(checksums.render({"an-older-release.tar.gz": hashlib.sha256(b"").hexdigest()}))
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "gopack", "bundle", str(path), "-o", str(out), "-q"],
            cwd=REPO,
            env={**os.environ, "GOPACK_CACHE_DIR": str(cache_dir)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for path in (EXAMPLES / "hello" / "recipe.yaml", DATA / "small" / "recipe.yaml")
    ]
    for run in runs:
        _, err = run.communicate(timeout=900)
        assert run.returncode == 0, err
    checked = sha256sum_c(out)
    archives = sorted(p.name for p in out.glob("*.tar.gz"))
    assert [a.split("-0.1.0-")[0] for a in archives if a != "an-older-release.tar.gz"] == ["hello", "small"]
    assert checked == sorted([*archives, *(a + ".cdx.json" for a in archives if a != "an-older-release.tar.gz")])
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
