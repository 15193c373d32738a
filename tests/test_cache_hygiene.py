"""What a killed run leaves in the cache's tmp/ is shown by `gopack cache list` and removed by a
later run (once old) and by `gopack cache prune`; a live run's folder is never removed (issue 11).

The killed run is real: `gopack bundle` killed with SIGKILL, with everything it started,
in the middle of making the Python tree. The live run is another process holding a
folder made by cache.staging.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import EXAMPLES, require_pyenv

from gopack import cache

pytestmark = pytest.mark.integration


def gopack(*args: str, cache_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gopack", *args],
        env={**os.environ, "GOPACK_CACHE_DIR": str(cache_dir)},
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )


def kill_during_python_stage(cache_dir: Path, out: Path) -> None:
    """Start `gopack bundle` of the hello example and SIGKILL its whole process group once the
    Python stage has started (uv installing, the stdlib being copied into the cache's tmp/)."""
    env = {**os.environ, "GOPACK_CACHE_DIR": str(cache_dir)}
    argv = [sys.executable, "-m", "gopack", "bundle", str(EXAMPLES / "hello" / "recipe.yaml"), "-o", str(out)]
    with subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True) as proc:
        assert proc.stderr is not None
        seen = []
        for line in proc.stderr:
            seen.append(line)
            if line.strip() == "python ...":
                break
        else:
            pytest.fail("the python stage never started:\n" + "".join(seen))
        # Wait until the tree has something in it: what is killed must leave something behind.
        tmp = cache_dir / "tmp"
        while sum(cache.size(p) for p in tmp.iterdir()) < 1_000_000:
            assert proc.poll() is None, "".join(seen)
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL


@pytest.fixture
def live_staging(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """Another process holding a staging folder in ``tmp_path/cache`` until the test ends."""
    cache_dir = tmp_path / "cache"
    script = textwrap.dedent("""
        import sys
        from pathlib import Path
        from gopack import cache
        with cache.staging(Path(sys.argv[1]), "live-", what="a live run's staging tree") as folder:
            (folder / "data").write_bytes(b"x" * 4096)
            print(folder, flush=True)
            sys.stdin.read()
    """)
    with subprocess.Popen([sys.executable, "-c", script, str(cache_dir)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as live:
        assert live.stdout is not None and live.stdin is not None
        folder = Path(live.stdout.readline().strip())
        assert folder.is_dir()
        try:
            yield cache_dir, folder
        finally:
            live.stdin.close()
            live.wait(timeout=60)
    assert not folder.exists()  # its owner removed it on the way out
    assert not list((cache_dir / "locks" / "tmp").glob("live-*"))


def age(path: Path, seconds: float) -> None:
    """Make ``path`` look ``seconds`` old (its mtime: what the sweep reads)."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_a_killed_bundle_is_listed_then_removed_by_a_later_run(live_staging: tuple[Path, Path], tmp_path: Path) -> None:
    require_pyenv("3.7")
    cache_dir, live = live_staging
    kill_during_python_stage(cache_dir, tmp_path / "out")
    assert not (tmp_path / "out").exists()

    listed = json.loads(gopack("cache", "list", "--json", cache_dir=cache_dir).stdout)["temporary"]
    by_name = {Path(t["path"]).name: t for t in listed}
    assert by_name[live.name]["in_use"] is True and by_name[live.name]["what"] == "a live run's staging tree"
    left = [t for t in listed if not t["in_use"]]
    whats = sorted(t["what"].split(" ")[0] for t in left)
    # the Python tree being made, the bundle's staging tree, maybe the originals of stripped files
    assert whats in (["Python", "staging"], ["Python", "originals", "staging"]), listed
    assert all(t["pid"] for t in left), listed
    assert sum(t["size"] for t in left) > 1_000_000
    text = gopack("cache", "list", cache_dir=cache_dir).stdout
    assert f"{len(listed)} temporary folders in tmp/, {len(left)} left by killed runs" in text
    assert f"a live run's staging tree (in use by process {by_name[live.name]['pid']}" in text

    # A later run removes them at once: this machine made them and their locks are free. The
    # live one, however old, stays.
    age(live, cache.STALE_AFTER + 60)
    again = gopack("bundle", str(EXAMPLES / "hello" / "recipe.yaml"), "-o", str(tmp_path / "again"), cache_dir=cache_dir)
    assert again.returncode == 0, again.stderr
    assert f"removed {len(left)} folders" in again.stderr and "that killed runs left" in again.stderr
    assert sorted(p.name for p in (cache_dir / "tmp").iterdir()) == [live.name]
    assert sorted(p.name for p in (cache_dir / "locks" / "tmp").iterdir()) == [f"{live.name}.json", f"{live.name}.lock"]


def test_cache_prune_removes_what_a_killed_bundle_left_at_any_age(live_staging: tuple[Path, Path], tmp_path: Path) -> None:
    require_pyenv("3.7")
    cache_dir, live = live_staging
    kill_during_python_stage(cache_dir, tmp_path / "out")
    left = [p for p in (cache_dir / "tmp").iterdir() if p != live]
    assert len(left) >= 2
    age(live, cache.STALE_AFTER + 60)
    pruned = json.loads(gopack("cache", "prune", "--json", cache_dir=cache_dir).stdout)
    assert sorted(pruned["removed_temporary"]) == sorted(map(str, left))
    assert sorted(p.name for p in (cache_dir / "tmp").iterdir()) == [live.name]


def test_a_folder_another_machine_made_goes_only_once_old(tmp_path: Path) -> None:
    """On a cache shared over a network file system, another machine's lock may not be seen here."""
    with cache.staging(tmp_path, "stage-", what="another machine's staging tree") as folder:
        name = folder.name
        note = tmp_path / "locks" / "tmp" / f"{name}.json"
        kept = folder.with_name(name + "-kept")
        folder.rename(kept)
        note_text = json.loads(note.read_text())
    kept.rename(tmp_path / "tmp" / name)
    (tmp_path / "locks" / "tmp" / f"{name}.lock").touch()
    note.write_text(json.dumps({**note_text, "host": "some-other-machine"}))
    assert cache.sweep(tmp_path) == []
    age(tmp_path / "tmp" / name, cache.STALE_AFTER + 1)
    assert [s.path.name for s in cache.sweep(tmp_path)] == [name]


def test_a_folder_without_a_lock_goes_only_once_old(tmp_path: Path) -> None:
    """What an older gopack (or a stage that made its folder by hand) left has no lock to ask."""
    lockless = tmp_path / "tmp" / "stage-old"
    lockless.mkdir(parents=True)
    (lockless / "f").write_bytes(b"x")
    assert cache.sweep(tmp_path, older_than=None) == []
    (only,) = cache.scratch(tmp_path)
    assert only.what.startswith("no lock") and only.in_use is False
    age(lockless, cache.STALE_AFTER + 1)
    assert [s.path for s in cache.sweep(tmp_path)] == [lockless]
    assert not lockless.exists()


def test_staging_removes_its_folder_and_lock_and_survives_a_rename(tmp_path: Path) -> None:
    with cache.staging(tmp_path, "x-", what="test") as folder:
        (folder / "f").write_text("x")
        (only,) = cache.scratch(tmp_path)
        assert only.path == folder and only.in_use and only.what == "test" and only.pid == os.getpid()
        assert cache.sweep(tmp_path, older_than=None) == []  # held: a sweep in the same process does not take it either
    assert list((tmp_path / "tmp").iterdir()) == [] and list((tmp_path / "locks" / "tmp").iterdir()) == []
    with cache.staging(tmp_path, "y-", what="test") as folder:
        folder.rename(tmp_path / "kept")
    assert (tmp_path / "kept").is_dir() and list((tmp_path / "locks" / "tmp").iterdir()) == []


def test_a_relative_cache_dir_is_taken_from_where_gopack_was_started(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The go build runs in the module's folder and is handed paths inside the cache (its -overlay
    # file): a relative GOPACK_CACHE_DIR made them name nothing there ("go: reading overlay").
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GOPACK_CACHE_DIR", "some/cache")
    assert cache.directory() == tmp_path / "some" / "cache"


def test_a_library_replaced_in_a_searched_folder_changes_its_state(tmp_path: Path) -> None:
    """python.libraries' folders are in the tree's cache key by what they hold: a library
    replaced there must not be served from a tree made with the old one."""
    (tmp_path / "lib").mkdir()
    lib = tmp_path / "lib" / "liblzma.5.dylib"
    lib.write_bytes(b"old")
    before = cache.files_state(tmp_path)
    assert before == [["lib/liblzma.5.dylib", 3, lib.stat().st_mtime_ns]]
    lib.write_bytes(b"newer")
    os.utime(lib, ns=(0, 10**9))
    assert cache.files_state(tmp_path) == [["lib/liblzma.5.dylib", 5, 10**9]] != before
    (tmp_path / "dangling.dylib").symlink_to("nowhere")
    assert [f[0] for f in cache.files_state(tmp_path)] == ["lib/liblzma.5.dylib"]
