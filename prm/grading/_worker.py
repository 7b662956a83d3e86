"""The grading worker process, both ends: its main loop, and the parent's handle on it.

Public: `main(argv)` (run in the worker through `python -I -c`; not for direct use) and
`WorkerProcess` (used by prm.grading.grader: start, request, kill one worker process).

Protocol, one JSON object per line. The worker first writes `{"ready": true}`; then for each
request `{"id": int, "gold": str, "pred": str, "soft_timeout": float}` it writes
`{"id": int, "verdict": str, "reason": str}`. Only strings cross the pipe: the parent never
receives a sympy object.

Bounds inside the worker (the parent's kill after the hard timeout is the real guarantee):
an address-space limit (RLIMIT_AS), a soft SIGALRM timer per request so that most slow
comparisons end without a restart, the evaluation guards of prm.grading.compare, and a
watchdog that exits when the parent process is gone.
"""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from prm.grading.result import GradeResult, Verdict

_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
_BOOT = "import sys; sys.path.insert(0, sys.argv[1]); from prm.grading._worker import main; sys.exit(main(sys.argv[2:]))"
# Share of the hard timeout after which the worker stops itself, so that most slow comparisons
# end with a reply instead of a kill and a restart.
_SOFT_SHARE = 0.8


class _SoftTimeout(BaseException):
    """Raised by SIGALRM; a BaseException so that library `except Exception` cannot eat it."""


def _on_alarm(signum, frame):
    raise _SoftTimeout()


def _watch_parent(parent_pid: int) -> None:
    while True:
        time.sleep(1.0)
        if os.getppid() != parent_pid:
            os._exit(3)


def _limit_memory(megabytes: int) -> None:
    if megabytes <= 0:
        return
    try:
        import resource
    except ImportError:  # not on POSIX: the parent's timeout still bounds the call
        return
    limit = megabytes * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _write(stream, payload: dict) -> None:
    stream.write(json.dumps(payload) + "\n")
    stream.flush()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    memory_limit_mb = int(argv[0]) if argv else 0
    logging.disable(logging.WARNING)  # math-verify warns on every call without its own timer
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    from prm.grading import compare

    compare.install_guards()
    _limit_memory(memory_limit_mb)
    signal.signal(signal.SIGALRM, _on_alarm)
    # The protocol gets a private copy of stdout; fd 1 and sys.stdout go to stderr, so that a
    # library that prints cannot corrupt the reply stream.
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    _write(out, {"ready": True})
    for line in sys.stdin:
        request = json.loads(line)
        reply = {"id": request["id"]}
        exit_after = False
        try:
            signal.setitimer(signal.ITIMER_REAL, max(float(request["soft_timeout"]), 0.01))
            verdict, reason = compare.decide(request["gold"], request["pred"])
            signal.setitimer(signal.ITIMER_REAL, 0)
        except _SoftTimeout:
            verdict, reason = compare.UNGRADABLE, f"timeout after {request['soft_timeout']:.2g} s (soft)"
        except MemoryError:
            verdict, reason = compare.UNGRADABLE, f"memory limit ({memory_limit_mb} MB) exceeded"
            exit_after = True  # a process that ran out of memory is not trusted again
        except compare.UnsafeEvaluation:
            verdict, reason = compare.UNGRADABLE, "refused: text reached a Python evaluator"
        except RecursionError:
            verdict, reason = compare.UNGRADABLE, "expression nested too deeply for the parser"
        except Exception as error:  # noqa: BLE001 - any parser bug becomes a verdict, not a crash
            verdict, reason = compare.UNGRADABLE, f"grader error: {type(error).__name__}"
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        reply.update(verdict=verdict, reason=reason)
        _write(out, reply)
        if exit_after:
            return 1
    return 0


class WorkerProcess:
    """One killable worker process and its line-based JSON pipe.

    Requests come from one thread (its `_serve` thread); `kill` may come from any thread.
    """

    def __init__(self, memory_limit_mb: int, start_timeout: float) -> None:
        self._memory_limit_mb = memory_limit_mb
        self._start_timeout = start_timeout
        self._process: subprocess.Popen | None = None
        self._owner_pid = os.getpid()
        self._buffer = b""
        self._next_id = 0
        self._lock = threading.Lock()

    def alive(self) -> bool:
        process = self._process
        return process is not None and process.poll() is None and self._owner_pid == os.getpid()

    def start(self) -> None:
        """Start the process and wait (at most `start_timeout`) for its ready line."""
        command = [sys.executable, "-I", "-c", _BOOT, _PACKAGE_ROOT, str(self._memory_limit_mb)]
        with self._lock:
            self._owner_pid = os.getpid()
            self._buffer = b""
            process = self._process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, close_fds=True
            )
        line, _ = self._read_line(process, time.monotonic() + self._start_timeout)
        if line is None or not json.loads(line).get("ready"):
            self.kill()
            raise RuntimeError(
                f"the grading worker did not start within {self._start_timeout} s "
                f"(command: {sys.executable} -I -c ...; check that sympy and math-verify import)"
            )

    def _read_line(self, process: subprocess.Popen, deadline: float) -> tuple[bytes | None, bool]:
        """(the next line, False), or (None, True) at the end of the stream, (None, False) on timeout."""
        fd = process.stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None, False
            try:
                ready, _, _ = select.select([fd], [], [], remaining)
                chunk = os.read(fd, 65_536) if ready else None
            except (OSError, ValueError):  # the pipe was closed by a kill from another thread
                return None, True
            if chunk is None:
                return None, False
            if not chunk:
                return None, True
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line, False

    def request(self, gold: str, pred: str, timeout: float) -> GradeResult:
        """Send one pair; the reply, or UNGRADABLE when `timeout` passes (then the process is killed)."""
        process = self._process
        if process is None:
            return GradeResult(Verdict.UNGRADABLE, "grading worker not running")
        self._next_id += 1
        payload = {"id": self._next_id, "gold": gold, "pred": pred, "soft_timeout": timeout * _SOFT_SHARE}
        deadline = time.monotonic() + timeout
        try:
            process.stdin.write((json.dumps(payload) + "\n").encode())
            process.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            return GradeResult(Verdict.UNGRADABLE, _death_reason(self._reap(process), "before the request"))
        line, ended = self._read_line(process, deadline)
        if line is None:
            if ended:
                return GradeResult(Verdict.UNGRADABLE, _death_reason(self._reap(process), "during the call"))
            self.kill()
            return GradeResult(Verdict.UNGRADABLE, f"timeout after {timeout:g} s (worker killed)")
        try:
            reply = json.loads(line)
            if reply.get("id") != self._next_id:
                raise ValueError("reply out of order")
            return GradeResult(Verdict(reply["verdict"]), str(reply["reason"]))
        except (ValueError, KeyError, TypeError, AttributeError):
            self.kill()
            return GradeResult(Verdict.UNGRADABLE, "grading worker broke the reply protocol (restarted)")

    def _reap(self, process: subprocess.Popen) -> int | None:
        """The exit status of a process whose pipe ended (None if it is somehow still running)."""
        try:
            code = process.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            code = None
        self.kill()
        return code

    def kill(self) -> None:
        with self._lock:
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


def _death_reason(code: int | None, when: str) -> str:
    if code is None:
        return f"grading worker closed its output {when} (killed)"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"grading worker was killed by {name} {when}"
    return f"grading worker exited with code {code} {when}"


if __name__ == "__main__":
    sys.exit(main())
