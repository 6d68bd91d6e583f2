"""Crate storage on the local file system, with atomic writes."""

import logging
import os
import tempfile
import time
from pathlib import Path

from alexandrie import BackendSpec, ConfigError, Storage, hookimpl, make_private_folder, registry

log = logging.getLogger(__name__)

UPLOAD_PREFIX = ".upload-"
# A write takes seconds; an older temporary file was left by a process that died (kill -9, power loss). Younger
# ones are left alone: on shared storage they may be another instance's upload in progress.
STALE_UPLOAD_AGE = 15 * 60


class DiskStorage(Storage):
    """Folders are created readable by this user only (0700), files 0600 (``mkstemp``'s mode, kept by the rename)."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        make_private_folder(self.root)

    def path_of(self, name: str, version: str) -> Path:
        lower = name.lower()
        if "/" in version or "\\" in version or version.startswith("."):
            raise ValueError(f"unsafe version {version!r}")
        return self.root / lower[:2] / lower / f"{lower}-{version}.crate"

    def store_crate(self, name, version, data):
        target = self.path_of(name, version)
        make_private_folder(target.parent)
        handle, temp = tempfile.mkstemp(dir=target.parent, prefix=UPLOAD_PREFIX)
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        _fsync_dir(target.parent)

    def open_crate(self, name, version):
        return open(self.path_of(name, version), "rb")

    def delete_crate(self, name, version):
        self.path_of(name, version).unlink(missing_ok=True)

    def crate_exists(self, name, version):
        return self.path_of(name, version).is_file()

    def iter_crates(self):
        for path in sorted(self.root.glob("*/*/*.crate")):
            crate = path.parent.name
            yield crate, path.name[len(crate) + 1:-len(".crate")]

    def sweep_leftovers(self, older_than: float = STALE_UPLOAD_AGE) -> list[Path]:
        """Delete the temporary files of writes that never finished, once they are ``older_than`` seconds old."""
        cutoff, removed = time.time() - older_than, []
        for path in self.root.glob(f"*/*/{UPLOAD_PREFIX}*"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed.append(path)
            except FileNotFoundError:
                continue  # finished (renamed) or swept by another instance meanwhile
        if removed:
            log.info("removed %d temporary files of uploads that never finished from %s", len(removed), self.root)
        return removed

    def check(self):
        # os.access says yes to root for any path, so write a probe file for a real answer.
        if not self.root.is_dir():
            raise OSError(f"{self.root} is not a folder; create it or fix [storage] path")
        try:
            with tempfile.TemporaryFile(dir=self.root, prefix=".health-"):
                pass
        except OSError as exc:
            raise OSError(f"{self.root} is not writable: {exc.strerror or exc}") from exc


def _fsync_dir(path: Path) -> None:
    """Make the rename itself durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _build(settings, app):
    path = settings.get("path")
    if not path:
        raise ConfigError('[storage] type = "disk" needs path = "DIR" (where .crate files go)')
    storage = DiskStorage(path)
    if registry(app).serving:  # short commands leave it to the server, which walks every folder once
        storage.sweep_leftovers()
    return storage


@hookimpl
def alexandrie_storage_backends():
    return [BackendSpec("disk", _build, "crate files on the local file system", aliases=("local",))]
