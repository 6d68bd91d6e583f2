"""Move a whole registry (every table, every crate file) from one database and storage to another.

Rows keep their ids, so links between tables survive. Rows already in the destination are
left alone and compared with the source, files already there are checked against their
checksum, so an interrupted copy is finished by running it again.

The source is only read. The destination is a registry of its own, started from its own
settings: it never shares the source's database or index (an index backend such as the git
index keeps files of its own, which its start-up repair would rewrite from the destination's
still-empty database). It may share the source's storage, whose files are then checked, not written.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

import peewee
from flask import Flask

from ..config import Settings
from ..db import connection
from ..errors import ConfigError
from ..migrations import VERSION_KEY
from ..models import Crate, Setting, Version
from ..registry import registry
from .index_files import rebuild_all

BATCH = 500
SPARSE_INDEX = {"type": "sparse"}
SPARSE_NAMES = ("sparse", "none")  # the built-in index type: served from the database rows, nothing else to share


@dataclass
class CopyReport:
    rows: dict[str, int] = field(default_factory=dict)
    rows_updated: int = 0
    files_copied: int = 0
    files_present: int = 0
    shared_storage: bool = False
    index_rebuilt: int | None = None  # crates written to the destination's own index backend
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        rows = sum(self.rows.values())
        text = (f"copied {rows} rows in {len(self.rows)} tables ({self.rows_updated} already there updated to "
                f"match the source); crate files: {self.files_copied} copied, "
                f"{self.files_present} already there, all checksums verified")
        if self.shared_storage:
            text += "\nthe destination uses the source's [storage]: its files were checked, none written"
        if self.index_rebuilt is not None:
            text += f"\nrebuilt the destination's own [index] from the copied rows ({self.index_rebuilt} crates)"
        if self.problems:
            text += f"\n{len(self.problems)} problems:\n" + "\n".join(f"  {p}" for p in self.problems)
        return text


def destination_index(source: Settings, dest_index: Mapping | None) -> dict:
    """The destination's ``[index]``: the one its own config names (``--to-config``), else the sparse index only.

    Never the source's own index: the destination's start-up (the git index's repair) and its rebuild
    would write to it. Refused with the fix when a destination config names the source's index."""
    if dest_index is None or _only_sparse(dest_index):
        return dict(SPARSE_INDEX)
    same_path = dest_index.get("path") and dest_index.get("path") == source.index.get("path")
    if same_path or dict(dest_index) == dict(source.index):
        where = f' path = "{dest_index["path"]}"' if same_path else ""
        raise ConfigError(f'the destination\'s [index] (type = "{dest_index.get("type")}"{where}) is the source\'s '
                          "index, which the copy must not write; give the destination config its own [index] "
                          'path, or type = "sparse" and run `alexandrie index rebuild` after switching')
    return dict(dest_index)


def check_destination(source: Settings, dest: Settings) -> None:
    """Refuse a destination that is the source, before it is opened."""
    if source.database.url == dest.database.url:
        raise ConfigError("the destination database is the source database; name another one with --to")


def index_note(source: Settings, dest: Settings) -> str | None:
    """What became of the source's index backend, when it has one the destination does not."""
    if _only_sparse(source.index) or not _only_sparse(dest.index):
        return None
    return (f'index: the source\'s [index] (type = "{source.index.get("type")}") was left untouched; the destination '
            "serves the sparse index from the copied rows. Give the new config its own [index] path and run "
            "`alexandrie index rebuild` with it before switching (or name that [index] in --to-config, and the "
            "copy rebuilds it)")


def _only_sparse(index: Mapping) -> bool:
    return index.get("type") in SPARSE_NAMES


def registry_models(app: Flask) -> list[type[peewee.Model]]:
    """The core tables and every plugin's, parents before children."""
    return peewee.sort_models(list(registry(app).models))


def count_work(source: Flask) -> int:
    """Rows plus files: the length of the progress bar."""
    with source.app_context():
        return sum(model.select().count() for model in registry_models(source)) + Version.select().count()


def copy_registry(source: Flask, dest: Flask, progress: Callable[[int], None] = lambda n: None) -> CopyReport:
    """Copy rows, then files. Both apps are fully started (schemas at the same version)."""
    report = CopyReport()
    src_db, dst_db = (registry(app).database for app in (source, dest))
    src_db.connect(reuse_if_open=True)
    dst_db.connect(reuse_if_open=True)
    try:
        for model in registry_models(source):
            report.rows[model._meta.table_name] = _copy_table(model, source, dest, report, progress)
        _copy_files(source, dest, report, progress)
    finally:
        src_db.close()
        dst_db.close()
    report.shared_storage = dict(registry(source).settings.storage) == dict(registry(dest).settings.storage)
    if not _only_sparse(registry(dest).settings.index):
        with dest.app_context(), connection():
            report.index_rebuilt = rebuild_all()
    return report


def _copy_table(model, source: Flask, dest: Flask, report: CopyReport, progress) -> int:
    if model is Setting:
        return _copy_settings(source, dest, progress)
    pk = model._meta.primary_key
    copied, offset, last = 0, 0, None
    while True:
        with source.app_context():
            query = model.select().order_by(pk).limit(BATCH)
            if isinstance(pk, peewee.Field):
                query = query.where(pk > last) if last is not None else query
            else:
                query = query.offset(offset)
            rows = list(query.dicts())
        if not rows:
            break
        with dest.app_context():
            with registry(dest).database.atomic():
                model.insert_many(rows).on_conflict_ignore().execute()
                _compare(model, rows, report)
        copied += len(rows)
        offset += len(rows)
        if isinstance(pk, peewee.Field):
            last = rows[-1][pk.name]
        progress(len(rows))
    with dest.app_context():
        _advance_sequence(model, registry(dest).database)
    return copied


def _copy_settings(source: Flask, dest: Flask, progress) -> int:
    """Registry-wide settings (the session secret, ...) follow the registry; the schema version does not."""
    with source.app_context():
        rows = [(s.key, s.value) for s in Setting.select() if s.key != VERSION_KEY]
    with dest.app_context():
        for key, value in rows:
            if not Setting.update(value=value).where(Setting.key == key).execute():
                Setting.insert(key=key, value=value).on_conflict_ignore().execute()
    progress(len(rows) + 1)
    return len(rows)


def _comparable(value):
    if isinstance(value, datetime):
        return value.replace(tzinfo=None, microsecond=0)
    if isinstance(value, date):
        return value
    if isinstance(value, bool):
        return int(value)
    return value


def _compare(model, rows: list[dict], report: CopyReport) -> None:
    """Make every row already in the destination equal to the source (a re-run catches up), then check."""
    pk = model._meta.primary_key
    if not isinstance(pk, peewee.Field):
        return
    for row in _differing(model, pk, rows):
        values = {k: v for k, v in row.items() if k != pk.name}
        # ModelUpdate directly: the audit log refuses updates from the product, but a copy must match its source.
        peewee.ModelUpdate(model, model._normalize_data(None, values)).where(pk == row[pk.name]).execute()
        report.rows_updated += 1
    for row in _differing(model, pk, rows):
        report.problems.append(f"table {model._meta.table_name}: row {pk.name}={row[pk.name]} could not be "
                               "written to the destination; check its database")


def _differing(model, pk, rows: list[dict]) -> list[dict]:
    stored = {r[pk.name]: r for r in model.select().where(pk.in_([r[pk.name] for r in rows])).dicts()}
    return [row for row in rows if row[pk.name] not in stored or _normal(stored[row[pk.name]]) != _normal(row)]


def _normal(row: dict) -> dict:
    return {k: _comparable(v) for k, v in row.items()}


def _advance_sequence(model, db: peewee.Database) -> None:
    """PostgreSQL does not move an id sequence past ids inserted explicitly; the next insert would collide."""
    pk = model._meta.primary_key
    if not isinstance(db, peewee.PostgresqlDatabase) or not isinstance(pk, peewee.AutoField):
        return
    table, column = model._meta.table_name, pk.column_name
    db.execute_sql(f"SELECT setval(pg_get_serial_sequence('\"{table}\"', '{column}'), "
                   f"GREATEST(COALESCE(MAX(\"{column}\"), 0), 1), COALESCE(MAX(\"{column}\"), 0) > 0) FROM \"{table}\"")


def _copy_files(source: Flask, dest: Flask, report: CopyReport, progress) -> None:
    src_storage, dst_storage = registry(source).storage, registry(dest).storage
    last = 0
    while True:
        with source.app_context():
            batch = list(Version.select(Version.id, Version.num, Version.cksum, Crate.name.alias("crate_name"))
                         .join(Crate).where(Version.id > last).order_by(Version.id).limit(BATCH).dicts())
        if not batch:
            return
        for row in batch:
            _copy_file(src_storage, dst_storage, row["crate_name"], row["num"], row["cksum"], report)
            progress(1)
        last = batch[-1]["id"]


def _copy_file(src_storage, dst_storage, name: str, version: str, cksum: str, report: CopyReport) -> None:
    if _has_good_copy(dst_storage, name, version, cksum):
        report.files_present += 1
        return
    try:
        data = src_storage.read_crate(name, version)
    except FileNotFoundError:
        report.problems.append(f"{name} {version}: the source storage has no file; restore it from a backup")
        return
    if hashlib.sha256(data).hexdigest() != cksum:
        report.problems.append(f"{name} {version}: the source file does not match its checksum {cksum}; "
                               "restore it from a backup (not copied)")
        return
    dst_storage.store_crate(name, version, data)
    if not _has_good_copy(dst_storage, name, version, cksum):
        report.problems.append(f"{name} {version}: the destination returned different bytes after storing; "
                               "check the destination storage")
        return
    report.files_copied += 1


def _has_good_copy(storage, name: str, version: str, cksum: str) -> bool:
    try:
        return hashlib.sha256(storage.read_crate(name, version)).hexdigest() == cksum
    except FileNotFoundError:
        return False
