"""One agent per id: an exclusive `flock` on `{id}_distributor.lock` for the process's lifetime.

Two agents with the same `--id` read the same journal and would decide the
same payments, so the second one must not start.  The lock is the kernel's:
it goes away with the process however it ends (SIGKILL included), so a
leftover file is never stale; the file itself is never deleted (removing a
lock file others may hold open would let two holders in).  It is taken with
`LOCK_NB`, never blocking (a blocking flock can freeze Shadow).  The holder
writes its pid into the file so a refusal can name it.

The name ends in `.lock` without a `{id}_distributor.json` beside it, so it
is no other file's Monerosim sidecar, and differs from the journal's own
`{id}_distributor_journal.lock`.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from pathlib import Path
from typing import Optional


def lock_path(shared_dir: str | os.PathLike, agent_id: str) -> Path:
    return Path(shared_dir) / f"{agent_id}_distributor.lock"


class LockRefused(Exception):
    """The lock cannot be had; `str()` is the one line to print."""

    def __init__(self, path: Path, message: str, holder: Optional[int] = None):
        self.path = path
        self.holder = holder
        super().__init__(message)


class InstanceLock:
    """Held from `acquire()` until the process ends (or `release()`, for tests)."""

    def __init__(self, path: Path, fd: int):
        self.path = path
        self._fd: Optional[int] = fd

    @classmethod
    def acquire(cls, shared_dir: str | os.PathLike, agent_id: str) -> "InstanceLock":
        path = lock_path(shared_dir, agent_id)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise LockRefused(path, f"cannot create the agent lock {path}: {exc.strerror}; accepted: an "
                              f"existing, writable shared directory") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            busy = exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)
            holder = _holder(fd) if busy else None
            os.close(fd)
            if not busy:
                raise LockRefused(path, f"cannot lock {path}: {exc.strerror}") from None
            who = f"pid {holder}" if holder is not None else "a process whose pid is not yet written"
            raise LockRefused(path, f"another agent with id {agent_id!r} is running ({who} holds {path}); "
                              f"accepted: one agent per id", holder) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(path, fd)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the only descriptor drops the flock
            self._fd = None


def _holder(fd: int, attempts: int = 10) -> Optional[int]:
    """The pid the holder wrote; it writes right after locking, so wait a moment if it is empty."""
    for _ in range(attempts):
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        if text.isdigit():
            return int(text)
        time.sleep(0.02)
    return None
