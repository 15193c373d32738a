"""A bundle finds its home from a path with a space and non-ASCII characters under any
LANG / LC_ALL / LC_CTYPE, whether or not that locale exists (issue 11).

Real bundles of the raw-cgo probe (3.7, 3.12, 3.13) and of the sbinet/go-python
example (2.7) are extracted into a folder named ``ODD_NAME`` and run in a root
holding only glibc, which has no locale files: every locale the environment names
is missing there, and setlocale leaves the C locale. Before gopack_home.h chose
UTF-8 mode from what setlocale does, 3.7 died with ``No module named 'encodings'``
and 3.12/3.13 with ``error evaluating path``. On the host, the locales it has (C.UTF-8)
and a Latin-1 and an EUC-JP locale made with localedef are run too.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from conftest import DATA, EXAMPLES, ODD_NAME, extract, require_pyenv

from gopack.pipeline import Bundle
from gopack.platform.linux import analysis
from gopack.verify import checks as verify
from gopack.verify import sandbox

pytestmark = pytest.mark.integration

#: Each names a locale (or none); in the glibc-only root none of them exists.
ENVIRONMENTS: list[dict[str, str]] = [
    {},
    {"LANG": "C.UTF-8"},
    {"LANG": "en_US.UTF-8"},
    {"LC_ALL": "en_US.UTF-8"},
    {"LANG": "C", "LC_CTYPE": "de_DE.UTF-8"},
    {"LC_ALL": "POSIX"},
]


def _probe_recipe(version: str, factory: pytest.TempPathFactory) -> Path:
    """The probe's recipe for ``version``, one path per session (the build fixture keys on it)."""
    probe = DATA / "probe"
    recipe = factory.getbasetemp() / f"locale-probe-{version}" / "recipe.yaml"
    if recipe.exists():
        return recipe
    recipe.parent.mkdir()
    recipe.write_text(
        # The recipe lives in a temporary folder and names the checkout's probe: inputs_root lets it.
        f'inputs_root: /\nname: locale{version.replace(".", "")}\nversion: "1.0"\n'
        f"go:\n  module: {json.dumps(str(probe))}\n"
        f'python:\n  version: "{version}"\n  code:\n    - {json.dumps(str(probe / "probe.py"))}\n'
        f'smoke:\n  expect:\n    - \'"version": "{version}"\'\n'
    )
    return recipe


@pytest.fixture(scope="module")
def glibc_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("glibc-root")
    sandbox.make_glibc_root(root, sorted(analysis.HOST_LIBRARIES))
    assert not (root / "usr" / "lib" / "locale").exists()
    return root


def _in_glibc_root(glibc_root: Path, bundle: Path, command: list[str], env: Mapping[str, str]) -> tuple[str, str]:
    """Run ``command`` (relative to the bundle) in the root with the folder holding ``ODD_NAME``
    mounted at /bundle: the program's path inside is /bundle/<ODD_NAME>/<top>/... Returns (that
    top's path inside, the output)."""
    holder = bundle.parent.parent
    inside = f"/bundle/{ODD_NAME}/{bundle.name}"
    result = sandbox.run_in_glibc_root([f"{inside}/{command[0]}", *command[1:]], root=glibc_root, bundle=holder, env=env, timeout=120)
    assert result.returncode == 0, f"{env}: exit code {result.returncode}\n{result.output}"
    return inside, result.output


def _probe(output: str) -> dict[str, object]:
    line = next((line for line in output.splitlines() if line.startswith("PROBE ")), None)
    assert line is not None, output
    seen: dict[str, object] = json.loads(line[6:])
    return seen


@pytest.mark.parametrize("version", ["3.7", "3.12", "3.13"])
def test_probe_finds_its_home_under_any_locale(
    version: str, build: Callable[[Path], Bundle], glibc_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    require_pyenv(version)
    bundle = build(_probe_recipe(version, tmp_path_factory))
    root = extract(bundle.archive, tmp_path_factory.mktemp(f"odd-{version}"))
    for env in ENVIRONMENTS:
        inside, output = _in_glibc_root(glibc_root, root, bundle.manifest["smoke"]["command"], env)
        seen = _probe(output)
        assert seen["prefix"] == f"{inside}/python", env
        assert seen["executable"] == f"{inside}/python/bin/python{version}", env
        assert str(seen["encodings"]).startswith(f"{inside}/python/lib/python{version}/encodings/"), env
        # The bundled python3.X started as a child: 3.7's own start-up names a non-ASCII
        # path with surrogate escapes in the C locale; the bytes are the bundle's.
        child = seen["child"]
        assert isinstance(child, list) and child[0].encode("utf-8", "surrogateescape") == f"{inside}/python".encode(), env


def test_goroutines_on_27_under_any_locale(build: Callable[[Path], Bundle], glibc_root: Path, tmp_path: Path) -> None:
    require_pyenv("2.7")
    bundle = build(EXAMPLES / "goroutines" / "recipe.yaml")
    root = extract(bundle.archive, tmp_path)
    command = bundle.manifest["smoke"]["command"]
    for env in ENVIRONMENTS:
        _, output = _in_glibc_root(glibc_root, root, command, env)
        assert "[VERSION] 2.7" in output and "[GOROUTINE 2]" in output, f"{env}\n{output}"


def _make_locale(directory: Path, source: str, charmap: str) -> str | None:
    """A locale built with localedef into ``directory`` (for LOCPATH); None where the
    machine has no locale sources."""
    localedef = shutil.which("localedef")
    if localedef is None or not Path("/usr/share/i18n/locales", source).is_file():
        return None
    name = f"{source}.{charmap}"
    subprocess.run([localedef, "-i", source, "-f", charmap, str(directory / name)], check=False, capture_output=True)
    return name if (directory / name / "LC_CTYPE").is_file() else None


def test_host_locales_including_legacy_codesets(
    build: Callable[[Path], Bundle], tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Where the locale exists: UTF-8, Latin-1 and EUC-JP. A UTF-8 name in a legacy codeset runs
    in UTF-8 mode (EUC-JP could not encode it back: the python3 executable fails there); a
    Latin-1 name in the Latin-1 locale is decoded by that locale."""
    require_pyenv("3.12")
    bundle = build(_probe_recipe("3.12", tmp_path_factory))
    root = extract(bundle.archive, tmp_path / "run")
    locales = tmp_path / "locales"
    locales.mkdir()
    made = [name for name in (_make_locale(locales, "de_DE", "ISO-8859-1"), _make_locale(locales, "ja_JP", "EUC-JP")) if name]
    if len(made) < 2:
        pytest.skip("localedef or the locale sources (Debian's locales package) are missing: the Latin-1 and EUC-JP cases need them")
    latin1, euc_jp = ({"LOCPATH": str(locales), "LC_ALL": name} for name in made)
    latin1_named = Path(os.fsdecode(bytes(tmp_path) + b"/latin-1 \xfcber"))  # "über" in Latin-1: not UTF-8
    latin1_named.mkdir()
    shutil.copytree(root, latin1_named / root.name, symlinks=True)
    # (where, environment, the codec that encodes sys.prefix back to the bundle's bytes)
    cases = [
        (root, {"LANG": "C.UTF-8"}, "utf-8"),
        (root, latin1, "utf-8"),
        (root, euc_jp, "utf-8"),
        (latin1_named / root.name, latin1, "latin-1"),
    ]
    for where, env, codec in cases:
        result = sandbox.run_without_python([str(where / bundle.manifest["smoke"]["command"][0])], cwd=Path("/"), env=env, timeout=120)
        assert result.returncode == 0, f"{where} {env}: exit code {result.returncode}\n{result.output}"
        seen = _probe(result.output)
        assert str(seen["prefix"]).encode(codec, "surrogateescape") == bytes(where / "python"), (where, env)
        assert str(seen["encodings"]).endswith("/python/lib/python3.12/encodings/__init__.pyc"), (where, env)


def test_verify_names_a_missing_locale_in_its_sandboxes(build: Callable[[Path], Bundle], tmp_path_factory: pytest.TempPathFactory) -> None:
    require_pyenv("3.12")
    bundle = build(_probe_recipe("3.12", tmp_path_factory))
    checks = {c.name: c for c in verify.verify(bundle.archive)}
    for name in ("glibc-only root", "moved, read-only"):
        assert checks[name].ok, checks[name].output
        assert "LC_CTYPE=en_US.UTF-8" in checks[name].detail
