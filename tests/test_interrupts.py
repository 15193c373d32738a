"""Interrupted anywhere, and a shared cache under load.

A cold or warm build of the hello example gets SIGINT, SIGTERM or SIGKILL at a
point named by the stage it has reached (its progress lines on stderr), once or
twice in quick succession, to gopack alone or to its whole process group (what a
terminal sends). After each: gopack's message is true about the archive, no
traceback, no partial archive; the next run succeeds with an archive
byte-identical to an uninterrupted build; and the cache holds no more than a
finished build leaves.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import DATA, EXAMPLES, REPO, require_pyenv
from conftest import gopack_cli as gopack

from gopack.archive import checksums

pytestmark = pytest.mark.integration
HELLO = EXAMPLES / "hello" / "recipe.yaml"
LOCK = checksums.LOCK


@dataclass(frozen=True)
class Point:
    line: str  # the progress line that sets it off: "<stage> ..." (started) or "<stage> done"
    delay: float  # seconds after that line
    signals: tuple[signal.Signals, ...]  # sent 5 ms apart
    group: bool = False  # to gopack's process group, as a terminal does, instead of gopack alone
    warm: bool = False  # the cache already holds the Python tree

    def __str__(self) -> str:
        names = "+".join(s.name for s in self.signals)
        return f"{'warm' if self.warm else 'cold'}-{self.line.replace(' ', '_')}+{self.delay}-{names}{'-group' if self.group else ''}"


INT, TERM, KILL = signal.SIGINT, signal.SIGTERM, signal.SIGKILL
POINTS = [
    Point("plan ...", 0.0, (INT,)),
    Point("plan done", 0.0, (TERM,)),
    Point("python ...", 0.1, (INT,)),
    Point("python ...", 0.5, (INT, INT)),
    Point("python ...", 1.0, (TERM,), group=True),
    Point("python ...", 1.5, (KILL,), group=True),
    Point("python ...", 2.5, (INT, INT), group=True),
    Point("go build ...", 0.2, (TERM,)),
    Point("go build ...", 0.3, (KILL,), group=True),
    Point("python done", 0.0, (INT,)),
    Point("app ...", 0.0, (TERM, TERM)),
    Point("relocate ...", 0.0, (INT,)),
    Point("manifest ...", 0.0, (INT, INT)),
    Point("archive ...", 0.02, (INT,)),
    Point("archive ...", 0.02, (KILL,), group=True),
    Point("archive done", 0.0, (INT,)),  # the archive is in place; the staging tree is being removed
    Point("archive done", 0.0, (INT, INT), group=True),
    Point("archive done", 0.0, (KILL,), group=True),
    Point("plan done", 0.0, (INT,), warm=True),
    Point("python done", 0.0, (TERM,), warm=True),
    Point("archive ...", 0.01, (INT, INT), warm=True),
    Point("archive done", 0.0, (TERM,), warm=True),
    Point("go build ...", 0.1, (KILL,), group=True, warm=True),
]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, Path]:
    """An uninterrupted build's archive, and the cache it left (copied for warm cases)."""
    require_pyenv("3.7")
    where = tmp_path_factory.mktemp("reference")
    built = gopack("bundle", str(HELLO), "-o", str(where / "out"), "-q", cache=where / "cache")
    assert built.returncode == 0, built.stderr
    (archive,) = (where / "out").glob("*.tar.gz")
    return archive.read_bytes(), where / "cache"


def interrupt(point: Point, out: Path, cache: Path) -> tuple[int, str]:
    env = {**os.environ, "GOPACK_CACHE_DIR": str(cache)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gopack", "bundle", str(HELLO), "-o", str(out)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    seen: list[str] = []
    assert proc.stderr is not None
    with proc:
        for line in proc.stderr:
            seen.append(line)
            if line.strip().startswith(point.line):
                time.sleep(point.delay)
                for i, sig in enumerate(point.signals):
                    if i:
                        time.sleep(0.005)
                    try:
                        os.killpg(proc.pid, sig) if point.group else proc.send_signal(sig)
                    except ProcessLookupError:
                        break  # it had already finished
                break
        rest = proc.stderr.read()
        code = proc.wait(timeout=600)
    if KILL in point.signals and point.group is False:
        _reap_group(proc.pid)
    return code, "".join(seen) + rest


def _reap_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def leftovers(cache: Path) -> list[str]:
    """What a finished build would not leave: tmp/ folders, their locks, entries without meta.json."""
    found = [str(p) for p in (cache / "tmp").iterdir()] if (cache / "tmp").is_dir() else []
    locks = cache / "locks" / "tmp"
    found += [str(p) for p in locks.iterdir()] if locks.is_dir() else []
    envs = cache / "envs"
    found += [str(p) for p in envs.iterdir() if not (p / "meta.json").is_file()] if envs.is_dir() else []
    return found


@pytest.mark.parametrize("point", POINTS, ids=str)
def test_interrupted_anywhere(point: Point, reference: tuple[bytes, Path], tmp_path: Path) -> None:
    want, reference_cache = reference
    cache, out = tmp_path / "cache", tmp_path / "out"
    if point.warm:
        shutil.copytree(reference_cache, cache, symlinks=True)
    code, err = interrupt(point, out, cache)
    assert "Traceback" not in err, err
    # Beside the archive: its SBOM, SHA256SUMS and the lock runs take to update it (kept, empty).
    found = sorted(p for p in out.iterdir() if p.name != LOCK) if out.is_dir() else []
    archives = [p for p in found if p.name.endswith((".tar.gz", ".tar.zst", ".zip"))]
    # A writer killed by SIGKILL cannot remove its temporary file; the next run does (below).
    assert KILL in point.signals or not [p for p in found if p.name.startswith(".")], found
    assert {p.name for p in found if not p.name.startswith(".")} <= {
        *(a.name for a in archives),
        *(a.name + ".cdx.json" for a in archives),
        "SHA256SUMS",
    }
    if code == 0:  # it finished before the signal landed
        assert len(archives) == 1 and archives[0].read_bytes() == want
    elif code in (130, 143):
        assert code == (143 if point.signals[0] == TERM else 130), (code, err)
        if archives:
            assert "interrupted after the archive was complete; it stays" in err, err
            assert archives[0].read_bytes() == want
        else:
            assert "interrupted; no archive was written" in err, err
    else:
        assert code == -signal.SIGKILL and KILL in point.signals, (code, err)
        assert not archives or archives[0].read_bytes() == want

    # The next run, into the same folder: it succeeds, gives the uninterrupted bytes, and removes
    # what a killed writer left there (a .tmp no process holds).
    again = gopack("bundle", str(HELLO), "-o", str(out), "-q", cache=cache)
    assert again.returncode == 0, again.stderr
    (rebuilt,) = out.glob("*.tar.gz")
    assert rebuilt.read_bytes() == want, "the next run's archive differs from an uninterrupted build's"
    assert sorted(p.name for p in out.iterdir()) == sorted([LOCK, "SHA256SUMS", rebuilt.name, rebuilt.name + ".cdx.json"])
    checked = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=out, capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert leftovers(cache) == []


def test_four_concurrent_bundles_of_two_recipes_with_prune_beside(tmp_path: Path) -> None:
    """Two recipes, two builds each, on one cold cache, while `gopack cache prune` runs over and
    over: all succeed with their solo builds' bytes, and a later warm build reuses every entry."""
    require_pyenv("3.7")
    recipes = {"hello": HELLO, "small": DATA / "small" / "recipe.yaml"}
    solo = {}
    for name, path in recipes.items():
        built = gopack("bundle", str(path), "-o", str(tmp_path / f"solo-{name}"), "-q", cache=tmp_path / f"solo-cache-{name}")
        assert built.returncode == 0, built.stderr
        solo[name] = next((tmp_path / f"solo-{name}").glob("*.tar.gz")).read_bytes()

    cache = tmp_path / "shared"
    env = {**os.environ, "GOPACK_CACHE_DIR": str(cache)}
    builds = {
        f"{name}{i}": subprocess.Popen(
            [sys.executable, "-m", "gopack", "bundle", str(path), "-o", str(tmp_path / f"out-{name}{i}"), "-q"],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, path in recipes.items()
        for i in range(2)
    }
    prunes = 0
    while any(p.poll() is None for p in builds.values()):
        pruned = gopack("cache", "prune", "-q", cache=cache)
        assert pruned.returncode == 0, pruned.stderr
        prunes += 1
    results = {key: (p.wait(), p.communicate()[1]) for key, p in builds.items()}
    assert all(code == 0 for code, _ in results.values()), results
    assert prunes >= 2
    for key in builds:
        name = key.rstrip("0123456789")
        assert next((tmp_path / f"out-{key}").glob("*.tar.gz")).read_bytes() == solo[name], key
    # Whatever prune left in the cache is whole: a warm build takes it and gives the same bytes.
    for name, path in recipes.items():
        again = gopack("bundle", str(path), "-o", str(tmp_path / f"warm-{name}"), "--json", cache=cache)
        assert again.returncode == 0, again.stderr
        assert next((tmp_path / f"warm-{name}").glob("*.tar.gz")).read_bytes() == solo[name]
    assert leftovers(cache) == []
    entries = json.loads(gopack("cache", "list", "--json", cache=cache).stdout)["entries"]
    assert len(entries) == 2, entries
