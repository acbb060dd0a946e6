"""Cell locks, so that several invocations of the grid on one folder (``reproduce --workers N``, or separate
processes on one machine) never train the same cell at once.

A lock is an OS file lock (``flock``; ``msvcrt.locking`` on Windows) on ``DIR/locks/<cell>.lock``, held while the
cell trains. The operating system drops it when the process ends, however it ends, so a crashed worker leaves no
stale lock behind. The file itself stays (deleting it would let a process that opened it before the deletion lock
a file nobody else sees); it names the last holder (host, pid, start time) for the log.

Local file systems only: on a network file system ``flock`` may be emulated with per-process POSIX locks or be
missing, so invocations on several machines sharing a folder are not guarded (give them disjoint ``--rows``).

Python's :mod:`fcntl` and :mod:`msvcrt` lock files but neither offers a portable, non-blocking "try this lock"
helper, hence the few lines here.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

__all__ = ["LOCK_DIR", "CellLock"]

LOCK_DIR = "locks"

try:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)

except ImportError:  # Windows
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)


class CellLock:
    """The lock of one cell of the grid in ``out``.

    Example::

        lock = CellLock(out, "semunet/a10/seed0")  # locks/semunet_a10_seed0.lock
        if lock.acquire():
            try:
                ...  # train the cell
            finally:
                lock.release()
    """

    def __init__(self, out: str | os.PathLike, name: str) -> None:
        """``name``: the cell's name; ``/`` becomes ``_`` in the file name."""
        self.path = Path(out) / LOCK_DIR / f"{name.replace('/', '_')}.lock"
        self._fd: int | None = None

    def _take(self, tries: int) -> int | None:
        """A descriptor of the lock file holding the lock, or None when another process holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(max(1, tries)):
            if attempt:
                time.sleep(0.1)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            if _try_lock(fd):
                return fd
            os.close(fd)
        return None

    def acquire(self, tries: int = 3) -> bool:
        """Take the lock without waiting for its holder; False when another process holds it. A lock held for an
        instant (another process's :meth:`held_elsewhere` probe) is tried again ``tries`` times, 0.1 s apart."""
        if self._fd is not None:
            return True
        fd = self._take(tries)
        if fd is None:
            return False
        holder = {"host": socket.gethostname(), "pid": os.getpid(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        try:
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, (json.dumps(holder) + "\n").encode())
        except OSError:
            os.close(fd)  # the lock goes with the descriptor
            raise
        self._fd = fd
        return True

    def held_elsewhere(self) -> bool:
        """Whether another process holds the lock now (probed for an instant; the holder's name is left as is)."""
        if self._fd is not None:
            return False
        self._fd = self._take(1)
        if self._fd is None:
            return True
        self.release()
        return False

    def holder(self) -> str:
        """Who took the lock last, as the file says (``host pid N since T``), for the log."""
        try:
            h = json.loads(self.path.read_text())
            return f"{h['host']} pid {h['pid']} since {h['started']}"
        except (OSError, ValueError, KeyError, TypeError):
            return "another process"

    def release(self) -> None:
        """Drop the lock (the file stays)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            _unlock(fd)
        finally:
            os.close(fd)
