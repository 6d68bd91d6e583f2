"""Removing stored ``.crate`` files without losing a committed version.

Files go after a failed publish, whose COMMIT may have reached the server although its answer was lost, and
after an administrator's deletion, which a re-publish of the same version may follow at once. In both cases a
file is removed only when no committed version references it, asked in a transaction of its own on a working
connection and under the crate's name lock, which a publisher of that crate needs to store its file.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import peewee

from ..db import connect_checked, locked, write_transaction
from ..models import Crate, Version
from ..registry import registry
from ..rules.names import canonical_name

log = logging.getLogger(__name__)

ATTEMPTS = 3


def forget_unreferenced(name: str, nums: list[str], after: str) -> None:
    """Delete the stored files of crate ``name``'s versions ``nums`` that no committed row references.

    ``after`` says what happened, for the log. When the database cannot answer, the files are kept: a file
    left behind costs disk space, a file deleted too early loses a version.
    """
    if not nums:
        return
    db = registry().database
    try:
        with _working_connection(db):
            for attempt in range(1, ATTEMPTS + 1):
                try:
                    _forget_under_lock(name, nums, after)
                    return
                except peewee.IntegrityError:
                    if attempt == ATTEMPTS:
                        raise
                    # A publisher created the crate while we waited on its name; now its row can be locked.
    except peewee.DatabaseError:
        log.exception("kept the stored files of %s %s after %s: could not ask the database whether they are "
                      "still in use", name, ", ".join(nums), after)


def _forget_under_lock(name: str, nums: list[str], after: str) -> None:
    with write_transaction() as transaction:
        crate = _hold_name(name)
        kept = set() if crate is None else {v.num for v in Version.select(Version.num).where(
            (Version.crate == crate) & Version.num.in_(nums))}
        for num in nums:
            if num not in kept:
                _delete_file(name, num, after)
        transaction.rollback()  # writes nothing: drops the placeholder row of `_hold_name`, if any


def _hold_name(name: str) -> Crate | None:
    """Lock the crate's row, so that a publisher of it waits until the files are gone. A deleted crate has no
    row to lock: insert one that is never committed, and a publisher creating the crate waits on its unique key
    (or, having created it first, makes this insert fail once it commits; the caller then tries again)."""
    key = canonical_name(name)
    crate = locked(Crate.select().where(Crate.canonical_name == key)).first()
    if crate is None:
        Crate.insert(name=name, canonical_name=key).execute()
    return crate


def _delete_file(name: str, num: str, after: str) -> None:
    try:
        registry().storage.delete_crate(name, num)
    except Exception:
        log.exception("could not remove %s %s from storage after %s; delete the file by hand", name, num, after)


@contextmanager
def _working_connection(db: peewee.Database) -> Iterator[None]:
    """A connection that answers: the one in hand may have died with the COMMIT whose answer was lost. Inside
    an outer transaction, that transaction's own view is the one that counts, and its connection is kept."""
    if db.in_transaction():
        yield
        return
    was_open = not db.is_closed()
    if was_open:
        db.close()
    connect_checked(db)
    try:
        yield
    finally:
        if not was_open:
            db.close()
