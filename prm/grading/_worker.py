"""The grading worker process: reads JSON requests on stdin, writes JSON verdicts on stdout.

Public: `main(argv)` (run by prm.grading.grader through `python -I -c`; not for direct use).

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
import signal
import sys
import threading
import time


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


if __name__ == "__main__":
    sys.exit(main())
