"""Every grading call is bounded: wall time (soft stop and hard kill), memory, size, nesting;
from threads and from daemonic worker processes. A timeout is UNGRADABLE and never cached.

Tests assert behaviour (verdicts, reasons, that a call returned), not speed: the time bounds
checked below are loose (timeout plus several seconds) for a loaded 2-core machine.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time

import pytest

from prm.grading import Grader, Verdict
from prm.grading import _worker as worker_module
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
    monkeypatch.setattr(worker_module, "_SOFT_SHARE", 30.0)
    with Grader(timeout=1.0) as grader:
        assert grader.grade("1", "1.0").is_correct
        first = grader._pool.workers[0]._process
        started = time.monotonic()
        result = grader.grade("2", SLOW)
        assert result.verdict is Verdict.UNGRADABLE and "killed" in result.reason
        assert time.monotonic() - started < 1.0 + SLACK
        assert first.poll() is not None  # the old worker is dead
        # A fresh worker takes over (its thread restarts it at once; allow for the start).
        assert grader.grade("\\frac{1}{2}", "0.5", timeout=60).is_correct


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
        assert all(worker._process is None for worker in grader._pool.workers)  # no worker was needed


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/<pid>/limits")
def test_worker_runs_under_an_address_space_limit():
    with Grader(memory_limit_mb=700) as grader:
        assert grader.grade("2", "1+1").is_correct
        pid = grader._pool.workers[0]._process.pid
        with open(f"/proc/{pid}/limits") as limits:
            line = next(line for line in limits if line.startswith("Max address space"))
        assert str(700 * 1024 * 1024) in line


MIXED_CALLS = [
    ("\\frac{1}{2}", "0.5", Verdict.CORRECT),  # worker
    ("7", "7", Verdict.CORRECT),  # fast path
    ("2", SLOW, Verdict.UNGRADABLE),  # soft timeout in the worker
    ("3", "x = 2 = 3", Verdict.INCORRECT),  # worker
    ("1", "1" * 20_000, Verdict.UNGRADABLE),  # over the size limit, in the caller
    ("x^2+2x+1", "(x+1)^2", Verdict.CORRECT),  # worker
    ("5", "\\boxed{5", Verdict.INCORRECT),  # unclosed box, in the caller
]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_eight_threads_each_call_returns_within_the_bound():
    # The issue: with 8 threads and a blocking wait for an idle worker, callers waited 49 s.
    # Now each call returns within its timeout as measured by the caller, queue wait included;
    # a call that found no worker free in time is UNGRADABLE and says so.
    timeout = 1.0
    with Grader(timeout=timeout, workers=2, cache_size=0) as grader:
        assert grader.grade("1", "1.0").is_correct  # the cold start is bounded separately
        outcomes: list[tuple[int, float, object]] = []
        lock = threading.Lock()

        def caller(thread_index: int) -> None:
            for call in range(25):
                gold, pred, _ = MIXED_CALLS[(thread_index + call) % len(MIXED_CALLS)]
                started = time.monotonic()
                result = grader.grade(gold, pred)
                with lock:
                    outcomes.append(((thread_index + call) % len(MIXED_CALLS), time.monotonic() - started, result))

        threads = [threading.Thread(target=caller, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=240)
        assert not any(thread.is_alive() for thread in threads)
    assert len(outcomes) == 8 * 25
    bound = timeout + grader_module._COLLECT_GRACE + 1.0  # 1 s of scheduling slack on a busy machine
    slowest = max(seconds for _, seconds, _ in outcomes)
    assert slowest < bound, f"a call took {slowest:.2f} s > {bound} s"
    for case, _, result in outcomes:
        expected = MIXED_CALLS[case][2]
        busy = result.verdict is Verdict.UNGRADABLE and ("no grading worker free" in result.reason
                                                         or "timeout" in result.reason)
        assert result.verdict is expected or busy, (MIXED_CALLS[case], result)
    decided = [r for case, _, r in outcomes if MIXED_CALLS[case][2] is not Verdict.UNGRADABLE and r.verdict is not Verdict.UNGRADABLE]
    assert decided, "no worker call was decided at all"


def test_a_queued_call_that_finds_no_worker_says_so():
    with Grader(timeout=1.0, workers=1, cache_size=0) as grader:
        assert grader.grade("1", "1.0").is_correct
        slow = threading.Thread(target=grader.grade, args=("2", SLOW), kwargs={"timeout": 5.0})
        slow.start()
        time.sleep(0.3)  # the slow call holds the only worker
        started = time.monotonic()
        result = grader.grade("\\frac{1}{2}", "0.5")
        assert time.monotonic() - started < 1.0 + SLACK
        assert result.verdict is Verdict.UNGRADABLE and "no grading worker free within 1 s" in result.reason
        slow.join(timeout=30)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="POSIX signals")
def test_a_worker_killed_mid_call_is_reported_as_killed():
    with Grader(timeout=6.0, cache_size=0) as grader:
        assert grader.grade("1", "1.0").is_correct
        process = grader._pool.workers[0]._process
        results = []
        call = threading.Thread(target=lambda: results.append(grader.grade("2", SLOW)))
        started = time.monotonic()
        call.start()
        time.sleep(1.0)  # the worker is now busy with the slow comparison (it takes 4.8 s)
        os.kill(process.pid, signal.SIGKILL)
        call.join(timeout=30)
        elapsed = time.monotonic() - started
        (result,) = results
        assert result.verdict is Verdict.UNGRADABLE
        assert "killed by SIGKILL" in result.reason and "timeout" not in result.reason, result.reason
        assert elapsed < 6.0  # reported when it happened, not at the deadline
        assert grader.grade("\\frac{1}{2}", "0.5", timeout=60).is_correct  # a fresh worker took over


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
    process = grader._pool.workers[0]._process
    del grader
    gc.collect()
    assert process.wait(timeout=10) is not None


def test_a_worker_that_cannot_start_raises_at_the_caller(monkeypatch):
    # The serving thread starts the worker; its failure must reach the caller, not hang it.
    monkeypatch.setattr(worker_module, "_BOOT", "import sys; sys.exit(3)")
    with Grader(timeout=1.0, start_timeout=5.0) as grader:
        started = time.monotonic()
        with pytest.raises(RuntimeError, match="did not start"):
            grader.grade("1", "1.0")
        assert time.monotonic() - started < 5.0 + 1.0 + SLACK
