"""GOPACK_PROFILE's CPU seconds by step (gopack._cputime): who is charged, and that nothing counts twice."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator

import pytest

from gopack import _cputime, _proc


@pytest.fixture
def profiling(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(_cputime, "ENABLED", True)
    monkeypatch.setattr(_cputime, "_seconds", {})
    yield


def spin(rounds: int = 300_000) -> int:
    return sum(i * i for i in range(rounds))


BUSY_CHILD = [sys.executable, "-c", "sum(i * i for i in range(3_000_000))"]


def test_a_command_is_charged_to_the_step_of_the_thread_that_ran_it(profiling: None) -> None:
    with _cputime.step("outer"):
        with _cputime.step("inner"):
            _proc.run(BUSY_CHILD, what="a busy child")
        spin()
    found = _cputime.report()
    # The child's CPU is the inner step's; the outer step keeps only its own loop.
    assert found["inner"] > found["outer"] > 0
    assert found[_cputime.START] > 0


def test_threads_working_for_a_step_count_for_it_and_nothing_counts_twice(profiling: None) -> None:
    with _cputime.step("pool"):
        _proc.in_parallel(lambda n: spin(n), [200_000, 200_000, 200_000])
    with _cputime.step("background"), _proc.in_background(lambda cancel: _proc.run(BUSY_CHILD, what="busy"), name="t") as done:
        done.result()
    # A thread no step started is "other".
    stray = threading.Thread(target=spin, args=(3_000_000,))  # well above the clocks' resolution
    stray.start()
    stray.join()
    found = _cputime.report()
    assert found["pool"] > 0 and found["background"] > 0 and found[_cputime.OTHER] > 0
    # The figures add up to the process's user + system time, children included.
    assert sum(found.values()) == pytest.approx(_cputime._total(), abs=0.01 * len(found))


def test_without_gopack_profile_nothing_is_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_cputime, "ENABLED", False)
    monkeypatch.setattr(_cputime, "_seconds", {})
    with _cputime.step("quiet"):
        _proc.run(BUSY_CHILD, what="busy")
    assert _cputime._seconds == {} and _cputime.carried(spin) is spin
