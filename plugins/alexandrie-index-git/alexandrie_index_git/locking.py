"""One writer at a time per repository: a thread lock inside the process, ``flock`` across processes."""

import fcntl
import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path


class LockTimeout(Exception):
    """Another writer held the repository for longer than the configured wait."""


class RepositoryLock:
    """Serialises writers that share one repository, in this process and in others.

    The lock file lives in the git directory, so it never shows up in the work tree.
    ``flock`` is released by the kernel when a process dies, so a crash never leaves
    the repository locked.
    """

    def __init__(self, path: Path, timeout: float = 60.0):
        self.path = Path(path)
        self.timeout = timeout
        self._thread_lock = threading.Lock()

    @contextmanager
    def hold(self):
        if not self._thread_lock.acquire(timeout=self.timeout):
            raise LockTimeout(f"another thread held {self.path} for over {self.timeout:.0f} s")
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                self._flock(fd)
                try:
                    yield
                finally:
                    fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)
        finally:
            self._thread_lock.release()

    def _flock(self, fd: int) -> None:
        deadline = time.monotonic() + self.timeout
        delay = 0.001
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockTimeout(f"another process held {self.path} for over {self.timeout:.0f} s; "
                                      "is a stuck `alexandrie` process writing the same index?") from None
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
