"""Atomic file writes and an exclusive writer lock.

Public: `atomic_write(path, text_or_bytes)`, `atomic_writer(path)`, `OutputLock`.

A temporary file is created next to its target with `tempfile.mkstemp` (O_CREAT | O_EXCL, a
fresh random name: a file or symlink planted at a predictable `<out>.tmp` is never opened or
followed), written, flushed and fsync'd, then renamed over the target with `os.replace`, so a
reader sees the old file or the new one, never half of one. On any error the temporary file is
removed and the target is left as it was.

`OutputLock(path)` takes an exclusive `fcntl.flock` on `<path>.lock` and records the holder's
pid there; a second writer fails at once with an `OutputBusyError` (an `OSError`) naming that pid.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator

from prm.errors import OutputBusyError


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike, binary: bool = False) -> Iterator[IO]:
    """Open a fresh temporary file beside `path` for writing; on a clean exit it replaces `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def atomic_write(path: str | os.PathLike, content: str | bytes) -> Path:
    """Write `content` to `path` atomically (see the module doc); returns the path."""
    with atomic_writer(path, binary=isinstance(content, bytes)) as handle:
        handle.write(content)
    return Path(path)


class OutputLock:
    """An exclusive lock for one writer of `path`, held from `acquire()` to `release()`.

    The lock file `<path>.lock` stays behind (removing it would race with a writer that just
    opened it); the lock itself goes with the process, so a killed writer never leaves a stale one.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.lock_path = Path(str(path) + ".lock")
        self._descriptor: int | None = None

    def acquire(self) -> "OutputLock":
        if self._descriptor is not None:
            return self
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            holder = os.pread(descriptor, 64, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(descriptor)
            if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            raise OutputBusyError(
                f"{self.path} is being written by another process (pid {holder}, lock {self.lock_path.name}); "
                "wait for it to finish, or choose another --out",
            ) from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode("ascii"), 0)
        self._descriptor = descriptor
        return self

    def release(self) -> None:
        if self._descriptor is not None:
            os.close(self._descriptor)  # closing the descriptor drops the flock
            self._descriptor = None

    def __enter__(self) -> "OutputLock":
        return self.acquire()

    def __exit__(self, *exc_info) -> None:
        self.release()
