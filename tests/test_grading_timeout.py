"""Every grading call is bounded: wall time (soft stop and hard kill), memory, size, nesting;
from threads and from daemonic worker processes. A timeout is UNGRADABLE and never cached.

Tests assert behaviour (verdicts, reasons, that a call returned), not speed: the time bounds
checked below are loose (timeout plus several seconds) for a loaded 2-core machine.
"""

from __future__ import annotations

import multiprocessing
import sys
import threading
import time

import pytest

from prm.grading import Grader, Verdict
from prm.grading import grader as grader_module

SLOW = "10^{10^{10^{10}}}"  # sympy grinds on this for far longer than any timeout here
SLACK = 8.0  # seconds of scheduling slack allowed on a busy 2-core machine


@pytest.fixture(scope="module")
def warm():
    with Grader(timeout=1.0) as grader:
        assert grader.grade("1", "1.0").is_correct  # start the worker outside the timed calls
        yield grader


def test_slow_comparison_is_ungradable_and_bounded(warm):
    started = time.monotonic()
    result = warm.grade("2", SLOW)
    assert result.verdict is Verdict.UNGRADABLE and "timeout" in result.reason
    assert time.monotonic() - started < 1.0 + SLACK
    assert warm.grade("\\frac{1}{2}", "0.5").is_correct  # the worker serves the next call


def test_timeout_is_never_cached(warm):
    for _ in range(2):
        assert warm.grade("3", SLOW).verdict is Verdict.UNGRADABLE
    assert ("3", SLOW) not in warm._cache


@pytest.mark.slow
def test_hard_kill_when_the_worker_does_not_stop_itself(monkeypatch):
    # Push the worker's own soft timer past the caller's deadline: only the kill can end the call.
    monkeypatch.setattr(grader_module, "_SOFT_SHARE", 30.0)
    with Grader(timeout=1.0) as grader:
        assert grader.grade("1", "1.0").is_correct
        first = grader._all[0]._process
        started = time.monotonic()
        result = grader.grade("2", SLOW)
        assert result.verdict is Verdict.UNGRADABLE and "killed" in result.reason
        assert time.monotonic() - started < 1.0 + SLACK
        assert first.poll() is not None  # the old worker is dead
        assert grader.grade("\\frac{1}{2}", "0.5").is_correct  # a fresh worker took over


def test_per_call_timeout_overrides_the_default(warm):
    assert warm.grade("2", SLOW, timeout=0.5).verdict is Verdict.UNGRADABLE


def test_size_and_nesting_limits_apply_before_the_worker():
    with Grader(max_answer_chars=50, max_depth=8) as grader:
        too_long = grader.grade("1", "1" * 51)
        assert too_long.verdict is Verdict.UNGRADABLE and "too long" in too_long.reason
        nested = grader.grade("1", "{" * 9 + "1" + "}" * 9)
        assert nested.verdict is Verdict.UNGRADABLE and "nested" in nested.reason
        huge = grader.grade("1", "x" * 10_000_000)
        assert huge.verdict is Verdict.UNGRADABLE
        assert all(worker._process is None for worker in grader._all)  # no worker was needed


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/<pid>/limits")
def test_worker_runs_under_an_address_space_limit():
    with Grader(memory_limit_mb=700) as grader:
        assert grader.grade("2", "1+1").is_correct
        pid = grader._all[0]._process.pid
        with open(f"/proc/{pid}/limits") as limits:
            line = next(line for line in limits if line.startswith("Max address space"))
        assert str(700 * 1024 * 1024) in line


@pytest.mark.slow
def test_calls_from_threads_are_each_bounded():
    with Grader(timeout=1.0, workers=2) as grader:
        grader.grade_many([("1", "1.0"), ("2", "2.0")])
        results: dict[int, object] = {}

        def call(index: int) -> None:
            pred = SLOW if index % 2 else f"\\frac{{{index * 2}}}{{2}}"
            results[index] = grader.grade(str(index), pred)

        threads = [threading.Thread(target=call, args=(i,)) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in threads)
        for index, result in results.items():
            expected = Verdict.UNGRADABLE if index % 2 else Verdict.CORRECT
            assert result.verdict is expected, (index, result)


def _grade_in_child(_):
    with Grader(timeout=1.0) as grader:
        return grader.grade("2", SLOW).verdict.value, grader.grade("\\frac{1}{2}", "0.5").verdict.value


@pytest.mark.slow
def test_calls_from_daemonic_worker_processes():
    # Pool workers are daemonic: they may not have multiprocessing children, so the grader
    # must start its worker some other way (it uses subprocess).
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        assert pool.map(_grade_in_child, [0], chunksize=1) == [("ungradable", "correct")]


def test_module_functions_use_a_lazy_default_grader():
    from prm.grading import grade, grade_solution

    assert grade("0.5", "\\frac{1}{2}").is_correct
    assert grade("2", SLOW, timeout=1.0).verdict is Verdict.UNGRADABLE
    assert grade_solution("18", "#### 18").is_correct
    assert grader_module._default_grader is not None


def _grade_after_fork(grader, queue):
    queue.put(grader.grade("\\frac{1}{2}", "0.5").verdict.value)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork start method")
def test_a_forked_child_gets_its_own_worker():
    with Grader(timeout=5.0, cache_size=0) as grader:
        assert grader.grade("1", "1.0").is_correct
        context = multiprocessing.get_context("fork")
        queue = context.Queue()
        child = context.Process(target=_grade_after_fork, args=(grader, queue))
        child.start()
        assert queue.get(timeout=60) == "correct"
        child.join(timeout=60)
        assert grader.grade("\\frac{1}{3}", "0.3333333").is_correct  # the parent's pipe is intact


def test_a_dropped_grader_kills_its_worker():
    import gc

    grader = Grader()
    assert grader.grade("1", "1.0").is_correct
    process = grader._all[0]._process
    del grader
    gc.collect()
    assert process.wait(timeout=10) is not None
