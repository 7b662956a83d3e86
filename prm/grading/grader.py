"""Grade predicted answers against gold answers: safe, bounded, tri-state.

Public: `GraderConfig`, `Grader`, `grade(gold, pred)`, `grade_solution(gold, solution_text)`.

Call `grade(gold, pred)` (gold first) for one answer, or use a `Grader` as a context manager and
`grade_many(pairs)` for many. How a call is bounded:
- size and bracket-nesting limits are checked first, by a single scan, before any regex or sympy;
- a cheap string fast path (identical normalised strings) answers in the calling process;
- everything else goes to a worker process (`python -I`, see prm.grading._worker) that runs
  Math-Verify under an address-space limit; the caller waits at most `timeout` seconds, then
  kills the worker (SIGKILL) and answers UNGRADABLE; a fresh worker starts on the next call.
  This works from any thread and from daemonic worker processes (no SIGALRM in the caller,
  no multiprocessing children);
- only decided verdicts (correct/incorrect) are cached; a timeout is never cached.
"""

from __future__ import annotations

import atexit
import collections
import json
import os
import queue
import select
import subprocess
import sys
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

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

_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
_BOOT = "import sys; sys.path.insert(0, sys.argv[1]); from prm.grading._worker import main; sys.exit(main(sys.argv[2:]))"
# Share of the hard timeout after which the worker stops itself, so that most slow comparisons
# end with a reply instead of a kill and a restart.
_SOFT_SHARE = 0.8


@dataclass(frozen=True)
class GraderConfig:
    """How a `Grader` bounds its work.

    timeout: seconds one call may take once the worker is up (then the worker is killed).
    workers: worker processes (parallel calls from threads or `grade_many`).
    memory_limit_mb: address-space limit of each worker (0 = none).
    cache_size: decided results kept in an LRU cache (0 = no cache).
    max_answer_chars / max_depth: input limits, checked before any parsing.
    fast_path: answer identical normalised strings in the caller without the worker.
    start_timeout: seconds a worker may take to import sympy and math-verify.
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


class _WorkerProcess:
    """One killable worker process and its line-based JSON pipe. Used by one thread at a time."""

    def __init__(self, config: GraderConfig) -> None:
        self._config = config
        self._process: subprocess.Popen | None = None
        self._owner_pid = os.getpid()
        self._buffer = b""
        self._next_id = 0

    def _start(self) -> None:
        self._owner_pid = os.getpid()
        self._buffer = b""
        command = [sys.executable, "-I", "-c", _BOOT, _PACKAGE_ROOT, str(self._config.memory_limit_mb)]
        self._process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, close_fds=True
        )
        line = self._read_line(time.monotonic() + self._config.start_timeout)
        if line is None or not json.loads(line).get("ready"):
            self.kill()
            raise RuntimeError(
                f"the grading worker did not start within {self._config.start_timeout} s "
                f"(command: {sys.executable} -I -c ...; check that sympy and math-verify import)"
            )

    def _read_line(self, deadline: float) -> bytes | None:
        """The next line from the worker, or None on timeout or end of stream."""
        assert self._process is not None and self._process.stdout is not None
        fd = self._process.stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                return None
            chunk = os.read(fd, 65_536)
            if not chunk:
                return None
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def request(self, gold: str, pred: str, timeout: float) -> GradeResult:
        if self._owner_pid != os.getpid():
            # Inherited through fork: the pipes belong to the parent's worker. Leave it alone.
            self._process = None
        if self._process is None or self._process.poll() is not None:
            self._start()
        assert self._process is not None and self._process.stdin is not None
        self._next_id += 1
        payload = {"id": self._next_id, "gold": gold, "pred": pred, "soft_timeout": timeout * _SOFT_SHARE}
        deadline = time.monotonic() + timeout
        try:
            self._process.stdin.write((json.dumps(payload) + "\n").encode())
            self._process.stdin.flush()
        except (BrokenPipeError, OSError):
            self.kill()
            return GradeResult(Verdict.UNGRADABLE, "grading worker died before the request")
        line = self._read_line(deadline)
        if line is None:
            exited = self._process.poll()
            self.kill()
            if exited is not None:
                return GradeResult(Verdict.UNGRADABLE, f"grading worker died (exit code {exited})")
            return GradeResult(Verdict.UNGRADABLE, f"timeout after {timeout:g} s (worker killed)")
        try:
            reply = json.loads(line)
            if reply.get("id") != self._next_id:
                raise ValueError("reply out of order")
            return GradeResult(Verdict(reply["verdict"]), str(reply["reason"]))
        except (ValueError, KeyError, TypeError, AttributeError):
            self.kill()
            return GradeResult(Verdict.UNGRADABLE, "grading worker broke the reply protocol (restarted)")

    def kill(self) -> None:
        process, self._process = self._process, None
        if process is None or self._owner_pid != os.getpid():
            return
        if process.poll() is None:
            process.kill()
        process.wait()
        for stream in (process.stdin, process.stdout):
            try:
                stream.close()
            except OSError:
                pass


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
        self._idle: queue.Queue[_WorkerProcess] = queue.Queue()
        self._all = [_WorkerProcess(self.config) for _ in range(self.config.workers)]
        for worker in self._all:
            self._idle.put(worker)
        self._cache: collections.OrderedDict[tuple[str, str], GradeResult] = collections.OrderedDict()
        self._cache_lock = threading.Lock()
        self._closed = False
        # Kill the workers when the Grader is garbage-collected without close().
        self._finalizer = weakref.finalize(self, _kill_all, list(self._all))

    def __enter__(self) -> Grader:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Kill the worker processes. A closed Grader refuses further calls."""
        self._closed = True
        self._finalizer()

    def grade(self, gold: str, pred: str, *, timeout: float | None = None) -> GradeResult:
        """Grade the answer string `pred` (it may still hold `\\boxed{}` or `$...$`) against `gold`."""
        if self._closed:
            raise RuntimeError("this Grader is closed; create a new one")
        if timeout is not None:
            _check_positive("timeout", timeout)
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
        worker = self._idle.get()
        try:
            result = worker.request(
                canonical_number(gold_answer), canonical_number(pred_answer), timeout or self.config.timeout
            )
        finally:
            self._idle.put(worker)
        if result.verdict is not Verdict.UNGRADABLE:
            self._cache_put(key, result)
        return result

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


def _kill_all(workers: list[_WorkerProcess]) -> None:
    for worker in workers:
        worker.kill()


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
