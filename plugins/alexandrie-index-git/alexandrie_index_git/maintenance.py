"""Packs the repository's loose objects now and then, as git itself does after commits (``gc --auto``)."""

import logging
import os
import shutil
import subprocess
import threading
from pathlib import Path

from .locking import LockTimeout, RepositoryLock

log = logging.getLogger(__name__)


class Packer:
    """A commit listener. Each commit leaves about five loose objects; every ``every`` commits it runs
    ``git gc --auto`` in a background thread, which packs them once there are enough (git's ``gc.auto``,
    6,700 by default) and does nothing otherwise. It holds the repository lock meanwhile, so no
    commit races it; readers such as ``git upload-pack`` are safe with gc by design."""

    def __init__(self, git_dir: Path, lock: RepositoryLock, every: int):
        self.git_dir, self.lock, self.every = Path(git_dir), lock, every
        self.commits = 0
        self._busy = threading.Lock()
        self._thread: threading.Thread | None = None

    def __call__(self, commit) -> None:
        self.commits += 1
        if self.commits % self.every == 0 and self._busy.acquire(blocking=False):
            self._thread = threading.Thread(target=self._run, name="alexandrie-git-gc", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        try:
            pack(self.git_dir, self.lock, auto=True)
        except Exception:
            log.exception("git gc of the index at %s failed; commits are unaffected", self.git_dir)
        finally:
            self._busy.release()

    def wait(self, timeout: float | None = None) -> None:
        """Let a running gc finish."""
        if self._thread is not None:
            self._thread.join(timeout)

    def close(self) -> None:
        self.wait(timeout=60)


def pack(git_dir: Path, lock: RepositoryLock, auto: bool = False) -> None:
    """Run ``git gc`` (``--auto``: only when git finds enough to pack) under the repository lock."""
    git = shutil.which("git")
    if git is None:
        raise RuntimeError("git is not installed, so the index's loose objects cannot be packed")
    command = [git, "-c", f"safe.directory={git_dir}", "-c", "gc.autoDetach=false", "gc", "--quiet",
               *(["--auto"] if auto else [])]
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    try:
        with lock.hold():
            result = subprocess.run(command, cwd=git_dir, env=env, capture_output=True, text=True, timeout=3600)
    except LockTimeout as exc:
        raise RuntimeError(f"the index is busy ({exc}); try again") from exc
    if result.returncode != 0:
        raise RuntimeError(f"git gc exited with {result.returncode}: {result.stderr.strip()[-2000:]}")


def loose_objects(git_dir: Path) -> int:
    """How many objects are stored loose (one file each) rather than in packs."""
    return sum(1 for folder in (Path(git_dir) / "objects").glob("[0-9a-f][0-9a-f]") for _ in folder.iterdir())
