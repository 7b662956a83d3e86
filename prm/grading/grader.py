"""Grade predicted answers against gold answers: safe, bounded, tri-state.

Public: `GraderConfig`, `Grader`, `grade(gold, pred)`, `grade_solution(gold, solution_text)`.

Call `grade(gold, pred)` (gold first) for one answer, or use a `Grader` as a context manager and
`grade_many(pairs)` for many. How a call is bounded:
- size and bracket-nesting limits are checked first, by a single scan, before any regex or sympy;
- a cheap string fast path (identical normalised strings) answers in the calling process;
- everything else goes to a worker process (`python -I`, see prm.grading._worker) that runs
  Math-Verify under an address-space limit. Each worker is fed from one job queue by its own
  daemon thread. The caller waits at most `timeout` seconds in all, waiting for a free worker
  included, from any number of threads; past it the answer is UNGRADABLE with the reason
  (no worker free, or a timeout). A job runs in what is left of its caller's bound; a worker
  that overruns it is killed (SIGKILL) and restarted at once by its thread. This works from
  any thread and from daemonic worker processes (no SIGALRM in the caller, no
  multiprocessing children);
- only decided verdicts (correct/incorrect) are cached; a timeout is never cached.
"""

from __future__ import annotations

import atexit
import collections
import os
import queue
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterable

from prm.grading._worker import WorkerProcess
from prm.grading.extract import (
    answer_text,
    canonical_number,
    check_limits,
    extract_answer,
    final_answer,
    has_open_box,
    normalize,
)
from prm.grading.result import GradeResult, Verdict

# A queued job with less than this share of its timeout left is answered UNGRADABLE (busy)
# without the worker: too little time to grade, and a kill would cost a restart.
_MIN_SHARE = 0.25
# Seconds a caller waits past its deadline for the worker's own verdict (a kill is reported
# by the serving thread right at the deadline).
_COLLECT_GRACE = 0.2


@dataclass(frozen=True)
class GraderConfig:
    """How a `Grader` bounds its work.

    timeout: seconds one call may take, waiting for a free worker included (a worker that
        overruns is killed).
    workers: worker processes (parallel calls from threads or `grade_many`).
    memory_limit_mb: address-space limit of each worker (0 = none).
    cache_size: decided results kept in an LRU cache (0 = no cache).
    max_answer_chars / max_depth: input limits, checked before any parsing.
    fast_path: answer identical normalised strings in the caller without the worker.
    start_timeout: seconds a worker may take to import sympy and math-verify; until the first
        worker has started, a call may wait this long on top of `timeout`.
    """

    timeout: float = 2.0
    workers: int = 1
    memory_limit_mb: int = 1024
    cache_size: int = 65_536
    max_answer_chars: int = 2_000
    max_depth: int = 32
    fast_path: bool = True
    start_timeout: float = 60.0

    def __post_init__(self) -> None:
        _check_positive("timeout", self.timeout)
        _check_positive("start_timeout", self.start_timeout)
        for name in ("workers", "max_answer_chars", "max_depth"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"GraderConfig.{name} must be an int >= 1, got {value!r}")
        for name in ("memory_limit_mb", "cache_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"GraderConfig.{name} must be an int >= 0 (0 = off), got {value!r}")
        if self.memory_limit_mb and self.memory_limit_mb < 256:
            raise ValueError(f"GraderConfig.memory_limit_mb must be 0 (off) or >= 256, got {self.memory_limit_mb}")


def _check_positive(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"GraderConfig.{name} must be a number of seconds > 0, got {value!r}")


class _Job:
    """One (gold, pred) request passed from a calling thread to a worker's serving thread."""

    def __init__(self, gold: str, pred: str, timeout: float, deadline: float) -> None:
        self.gold, self.pred, self.timeout, self.deadline = gold, pred, timeout, deadline
        self.result: GradeResult | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()
        self._state = "queued"
        self._lock = threading.Lock()

    def claim(self) -> bool:
        """Taken by a serving thread; False if its caller already gave up on it."""
        with self._lock:
            if self._state != "queued":
                return False
            self._state = "running"
            return True

    def abandon(self) -> str:
        """The caller gives up; returns "queued" (no worker ever took it) or "running"."""
        with self._lock:
            state = self._state
            self._state = "abandoned"
            return state

    def finish(self, result: GradeResult | None = None, error: BaseException | None = None) -> None:
        self.result, self.error = result, error
        self.done.set()


class _WorkerPool:
    """The worker processes of a Grader, each fed from one job queue by its own daemon thread.

    The threads hold the pool, never the Grader, so a dropped Grader is still collected (and
    its finalizer closes the pool). Threads start on the first job, and every worker process
    starts then, so that no later call waits for a cold start.
    """

    def __init__(self, config: GraderConfig) -> None:
        self.config = config
        self.pid = os.getpid()
        self.jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self.workers = [WorkerProcess(config.memory_limit_mb, config.start_timeout) for _ in range(config.workers)]
        self.ready = threading.Event()  # some worker has started: calls no longer wait for a start
        self.closed = False
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def submit(self, gold: str, pred: str, timeout: float, deadline: float) -> _Job:
        job = _Job(gold, pred, timeout, deadline)
        with self._lock:
            if not self._threads and not self.closed:
                for worker in self.workers:
                    thread = threading.Thread(target=_serve, args=(self, worker), name="prm-grading", daemon=True)
                    thread.start()
                    self._threads.append(thread)
        self.jobs.put(job)
        return job

    def start_worker(self, worker: WorkerProcess) -> None:
        worker.start()
        if self.closed:
            worker.kill()
        else:
            self.ready.set()

    def close(self) -> None:
        """Stop the threads and kill the processes (in the process that started them only)."""
        self.closed = True
        if self.pid != os.getpid():
            return
        for _ in self._threads:
            self.jobs.put(None)
        for worker in self.workers:
            worker.kill()


def _serve(pool: _WorkerPool, worker: WorkerProcess) -> None:
    """A worker's serving thread: start it, then answer jobs until a None arrives.

    A job gets what is left of its caller's bound (queue wait included), never more than its
    timeout; one with less than `_MIN_SHARE` of its timeout left is answered without the worker,
    so a queue that fell behind does not get workers killed. A killed worker is restarted here,
    at once, and not on the next caller's clock.
    """
    start_error: BaseException | None = None
    try:
        pool.start_worker(worker)
    except RuntimeError as error:
        start_error = error
    while True:
        job = pool.jobs.get()
        if job is None or pool.closed:
            return
        if not job.claim():
            continue
        try:
            if start_error is not None:  # report a failed start to one caller, then try again
                error, start_error = start_error, None
                raise error
            if not worker.alive():
                pool.start_worker(worker)
            left = min(job.timeout, job.deadline - time.monotonic())
            if left < _MIN_SHARE * job.timeout:
                job.finish(GradeResult(Verdict.UNGRADABLE, _busy_reason(job.timeout, pool.config.workers)))
                continue
            job.finish(worker.request(job.gold, job.pred, left))
        except RuntimeError as error:
            job.finish(error=error)
        except Exception as error:  # noqa: BLE001 - a broken pipe or the like: a verdict, not a hang
            worker.kill()
            job.finish(GradeResult(Verdict.UNGRADABLE, f"grading worker failed: {type(error).__name__}"))
        if not worker.alive() and not pool.closed:
            try:
                pool.start_worker(worker)
            except RuntimeError as error:
                start_error = error


def _busy_reason(seconds: float, workers: int) -> str:
    return (
        f"no grading worker free within {seconds:g} s ({workers} worker(s), all busy; "
        "give the Grader as many workers as threads that call it)"
    )


class Grader:
    """Owns the killable grading worker process(es); thread-safe; a context manager.

    `Grader(timeout=2.0, workers=1, ...)` takes the fields of `GraderConfig` as keywords.
    Workers start on the first call that needs one, never at construction.
    """

    def __init__(self, timeout: float = 2.0, **options) -> None:
        unknown = set(options) - set(GraderConfig.__dataclass_fields__)
        if unknown:
            allowed = ", ".join(sorted(GraderConfig.__dataclass_fields__))
            raise ValueError(f"unknown Grader option(s) {sorted(unknown)}; allowed: {allowed}")
        self.config = GraderConfig(timeout=timeout, **options)
        self._pool = _WorkerPool(self.config)
        self._cache: collections.OrderedDict[tuple[str, str], GradeResult] = collections.OrderedDict()
        self._cache_lock = threading.Lock()
        self._closed = False
        # Kill the workers when the Grader is garbage-collected without close(); the holder
        # follows the pool a forked child replaces.
        self._pool_holder = [self._pool]
        self._finalizer = weakref.finalize(self, _close_pool, self._pool_holder)

    def __enter__(self) -> Grader:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Kill the worker processes. A closed Grader refuses further calls."""
        self._closed = True
        self._finalizer()

    def grade(self, gold: str, pred: str, *, timeout: float | None = None) -> GradeResult:
        """Grade the answer string `pred` (it may still hold `\\boxed{}` or `$...$`) against `gold`.

        Returns within `timeout` (default `config.timeout`), waiting for a free worker included;
        only until a worker has first started may it also wait `start_timeout` for that start.
        """
        if self._closed:
            raise RuntimeError("this Grader is closed; create a new one")
        if timeout is not None:
            _check_positive("timeout", timeout)
        self._current_pool()  # first: after a fork, the parent's locks may be held
        gold_text, gold_reason = _as_text("gold", gold)
        if gold_reason:
            return GradeResult(Verdict.UNGRADABLE, gold_reason)
        pred_text, pred_reason = _as_text("pred", pred)
        if pred_reason:
            return GradeResult(Verdict.INCORRECT, pred_reason)
        gold_answer, problem = self._answer_part("gold", gold_text)
        if problem:
            return GradeResult(Verdict.UNGRADABLE, problem)
        if not gold_answer:
            return GradeResult(Verdict.UNGRADABLE, "gold answer is an unclosed \\boxed{")
        pred_answer, problem = self._answer_part("prediction", pred_text)
        if problem:
            return GradeResult(Verdict.UNGRADABLE, problem)
        if not pred_answer:
            if has_open_box(pred_text):
                return GradeResult(Verdict.INCORRECT, "unclosed \\boxed{ (a truncated answer) is no answer")
            return GradeResult(Verdict.INCORRECT, "empty prediction")
        if self.config.fast_path and normalize(gold_answer) == normalize(pred_answer):
            return GradeResult(Verdict.CORRECT, "identical after normalisation")
        key = (gold_answer, pred_answer)
        cached = self._cache_get(key)
        if cached is not None:
            return cached
        result = self._ask_worker(canonical_number(gold_answer), canonical_number(pred_answer), timeout)
        if result.verdict is not Verdict.UNGRADABLE:
            self._cache_put(key, result)
        return result

    def _ask_worker(self, gold: str, pred: str, timeout: float | None) -> GradeResult:
        """The worker's verdict within `timeout` of now, waiting for a free worker included.

        Until a worker has started once, a call may also wait `start_timeout` for that start.
        """
        pool = self._pool
        seconds = timeout or self.config.timeout
        wait = seconds if pool.ready.is_set() else seconds + self.config.start_timeout
        deadline = time.monotonic() + wait
        job = pool.submit(gold, pred, seconds, deadline)
        # The grace lets a worker killed at the deadline report that itself.
        if not job.done.wait(wait + _COLLECT_GRACE):
            if job.abandon() == "queued":
                return GradeResult(Verdict.UNGRADABLE, _busy_reason(wait, self.config.workers))
            return GradeResult(Verdict.UNGRADABLE, f"timeout after {seconds:g} s (waiting for a worker included)")
        if job.error is not None:
            raise job.error
        return job.result

    def _current_pool(self) -> _WorkerPool:
        if self._pool.pid != os.getpid():
            # Inherited through fork: the threads did not come along and the processes and
            # locks belong to the parent. Start afresh; never touch the parent's workers.
            self._pool = self._pool_holder[0] = _WorkerPool(self.config)
            self._cache_lock = threading.Lock()
        return self._pool

    def _answer_part(self, name: str, text: str) -> tuple[str, str | None]:
        """(answer part of `text`, None), or ("", why it is over the size or nesting limits).

        Raw strings may carry `\\boxed{}`, `$` or a derivation around the answer, so they get a
        looser limit first. One over it is cut to its final answer (last box, `####`, "The
        answer is", else the last line; read from its tail only), so that a long prefix such as
        number spam does not make an answer that ends the text ungradable.
        """
        limit, depth = self.config.max_answer_chars, self.config.max_depth
        problem = check_limits(text, limit * 4, depth)
        if problem:
            final = final_answer(text)
            if final is None or check_limits(final, limit, depth):
                return "", f"{name} {problem}"
            text = final
        answer = answer_text(text)
        problem = check_limits(answer, limit, depth)
        return (answer, None) if problem is None else ("", f"{name} {problem}")

    def grade_solution(self, gold: str, solution_text: str, *, timeout: float | None = None) -> GradeResult:
        """Extract the final answer of a whole solution, then grade it; none => INCORRECT."""
        answer = extract_answer(solution_text) if isinstance(solution_text, str) else None
        if answer is None:
            return GradeResult(Verdict.INCORRECT, "no final answer")
        return self.grade(gold, answer, timeout=timeout)

    def grade_many(self, pairs: Iterable[tuple[str, str]]) -> list[GradeResult]:
        """Grade (gold, pred) pairs, in order, on all workers in parallel."""
        pairs = list(pairs)
        if self.config.workers == 1 or len(pairs) < 2:
            return [self.grade(gold, pred) for gold, pred in pairs]
        with ThreadPoolExecutor(max_workers=self.config.workers) as pool:
            return list(pool.map(lambda pair: self.grade(*pair), pairs))

    def _cache_get(self, key: tuple[str, str]) -> GradeResult | None:
        if not self.config.cache_size:
            return None
        with self._cache_lock:
            result = self._cache.get(key)
            if result is not None:
                self._cache.move_to_end(key)
            return result

    def _cache_put(self, key: tuple[str, str], result: GradeResult) -> None:
        if not self.config.cache_size:
            return
        with self._cache_lock:
            self._cache[key] = result
            if len(self._cache) > self.config.cache_size:
                self._cache.popitem(last=False)


def _close_pool(holder: list[_WorkerPool]) -> None:
    holder[0].close()


def _as_text(name: str, value: object) -> tuple[str, str | None]:
    """(text, None), or ("", reason) for a missing value; numbers become their decimal text."""
    if value is None:
        return "", f"no {name} answer"
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a str or a number, got the bool {value!r}")
    if isinstance(value, (int, float)):
        value = repr(value)
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str or a number, got {type(value).__name__}")
    if not value.strip():
        return "", f"empty {name} answer"
    return value, None


_default_grader: Grader | None = None
_default_pid = 0
_default_lock = threading.Lock()


def _default() -> Grader:
    global _default_grader, _default_pid
    with _default_lock:
        if _default_grader is None or _default_pid != os.getpid():  # new, or inherited by fork
            _default_grader, _default_pid = Grader(), os.getpid()
            atexit.register(_default_grader.close)
        return _default_grader


def grade(gold: str, pred: str, *, timeout: float = 2.0) -> GradeResult:
    """Grade `pred` against `gold` with the shared default Grader (started on first use)."""
    return _default().grade(gold, pred, timeout=timeout)


def grade_solution(gold: str, solution_text: str, *, timeout: float = 2.0) -> GradeResult:
    """Extract the final answer from `solution_text`, then grade it against `gold`."""
    return _default().grade_solution(gold, solution_text, timeout=timeout)
