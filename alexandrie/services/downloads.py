"""Download counts: batched in memory and flushed to the database in the background; read back per day.

Counting each download in its own write transaction would put an fsync on the path
cargo waits on; counts are flushed every few seconds and at exit instead.
"""

import atexit
import logging
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import peewee
from peewee import fn

from ..db import connection, is_mysql, write_transaction
from ..models import Crate, Version, VersionDownload

log = logging.getLogger(__name__)


class DownloadCounter:
    def __init__(self, app, interval: float = 2.0):
        self._app = app
        self._interval = interval
        self._pending: Counter = Counter()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        atexit.register(self.flush)

    def record(self, version_id: int, crate_id: int) -> None:
        day = datetime.now(UTC).date()
        with self._lock:
            self._pending[(version_id, crate_id, day)] += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="alexandrie-downloads", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            try:
                self.flush()
            except Exception:
                log.exception("could not save download counts; will retry")

    def flush(self) -> None:
        """Write the pending counts now (tests and shutdown call this)."""
        with self._lock:
            pending, self._pending = self._pending, Counter()
        if not pending:
            return
        try:
            with self._app.app_context(), connection(), write_transaction():
                for (version_id, crate_id, day), count in pending.items():
                    _add(version_id, crate_id, day, count)
        except Exception:
            with self._lock:
                self._pending.update(pending)
            raise


def _add(version_id: int, crate_id: int, day, count: int) -> None:
    insert = VersionDownload.insert(version=version_id, day=day, count=count)
    update = {VersionDownload.count: VersionDownload.count + count}
    if is_mysql(VersionDownload._meta.database.obj):
        insert = insert.on_conflict(update=update)
    else:
        insert = insert.on_conflict(conflict_target=[VersionDownload.version, VersionDownload.day], update=update)
    try:
        with VersionDownload._meta.database.atomic():  # a savepoint: PostgreSQL aborts the whole flush otherwise
            insert.execute()
    except peewee.IntegrityError:
        return  # the version was deleted meanwhile
    Version.update(downloads=Version.downloads + count).where(Version.id == version_id).execute()
    Crate.update(downloads=Crate.downloads + count).where(Crate.id == crate_id).execute()


@dataclass
class DailyDownloads:
    days: list[date]
    counts: list[int]

    @property
    def total(self) -> int:
        return sum(self.counts)


def daily_downloads(crate, days: int = 90, today: date | None = None) -> DailyDownloads:
    """Downloads of every version of ``crate`` per UTC day, the last ``days`` days, missing days as 0."""
    today = today or datetime.now(UTC).date()
    start = today - timedelta(days=days - 1)
    rows = (VersionDownload.select(VersionDownload.day, fn.SUM(VersionDownload.count))
            .join(Version).where((Version.crate == crate) & (VersionDownload.day >= start))
            .group_by(VersionDownload.day).tuples())
    by_day = {_as_date(day): int(total or 0) for day, total in rows}
    span = [start + timedelta(days=n) for n in range(days)]
    return DailyDownloads(days=span, counts=[by_day.get(day, 0) for day in span])


def _as_date(value) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, str):
        return date.fromisoformat(value[:10])
    return value
