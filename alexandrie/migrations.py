"""Schema versions and the migration steps between them.

The version lives in the ``setting`` table under ``schema_version``. A fresh database gets
every table created at once and is stamped with the latest version; an older database is
brought forward one step at a time. Version 1 is the schema of the first release: every
later change to ``models.py`` adds a ``Migration`` to ``MIGRATIONS`` (built with
``playhouse.migrate``) and the matching snapshot under ``tests/schema/``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

import peewee
from playhouse.migrate import SchemaMigrator, migrate

from .errors import ConfigError
from .version import __version__

log = logging.getLogger(__name__)

VERSION_KEY = "schema_version"
BASELINE = 1
LOCK_NAME = "alexandrie-schema"
PG_LOCK_ID = 0x616C6578  # "alex": one advisory lock for every schema change


@dataclass(frozen=True)
class Migration:
    """One step: ``apply(migrator, database)`` turns schema ``version - 1`` into ``version``."""

    version: int
    description: str
    apply: Callable[[SchemaMigrator, peewee.Database], None]


class SchemaError(ConfigError):
    """The database schema cannot be used by this code as it is."""


def _v2_sessions_logins_limits(migrator: SchemaMigrator, db: peewee.Database) -> None:
    """user.session_version, user.login_key (unique: logins differ by more than case), crate.limit_overrides,
    and metadata columns as text of any length.

    Safe to re-run: MySQL commits each ALTER at once, so a step that failed half-way leaves its first changes.
    """
    user = peewee.Table("user", ("id", "login", "login_key")).bind(db)
    rows = list(user.select(user.id, user.login).tuples())
    _refuse_case_twins(rows, db)  # before any ALTER, so nothing has changed when it refuses
    columns = {c.name for c in db.get_columns("user")}
    if "session_version" not in columns:
        migrate(migrator.add_column("user", "session_version", peewee.IntegerField(
            default=0, constraints=[peewee.SQL("DEFAULT 0")]), allow_not_null=True))
    if "login_key" not in columns:
        # NOT NULL from the start (SQLite cannot add it later without rebuilding the table, and dropping the old
        # one would cascade to every token and ownership): the default fills the rows until the loop below.
        migrate(migrator.add_column("user", "login_key", peewee.CharField(
            max_length=64, constraints=[peewee.SQL("DEFAULT ''")]), allow_not_null=True))
        if not isinstance(db, peewee.SqliteDatabase):
            migrate(migrator.drop_column_default("user", "login_key"))
    for user_id, login in rows:
        user.update({user.login_key: login.lower()}).where(user.id == user_id).execute()  # models.login_key
    if ["login_key"] not in [i.columns for i in db.get_indexes("user")]:
        migrate(migrator.add_index("user", ("login_key",), True))
    if "limit_overrides" not in {c.name for c in db.get_columns("crate")}:
        migrate(migrator.add_column("crate", "limit_overrides", peewee.TextField(null=True)))
    if not isinstance(db, peewee.SqliteDatabase):  # SQLite keeps text of any length in a VARCHAR column
        for table, column, null in WIDENED_TO_TEXT:
            migrate(migrator.alter_column_type(table, column, peewee.TextField(null=null)))


# Metadata columns that imports fill past any publish policy (a 417-character target cfg, a long licence).
WIDENED_TO_TEXT = (("crate", "license", True), ("version", "links", True), ("version", "license", True),
                   ("version", "license_file", True), ("version", "readme_file", True),
                   ("dependency", "req", False), ("dependency", "target", True))


def _refuse_case_twins(rows: list[tuple[int, str]], db: peewee.Database) -> None:
    """Logins that differ only by case cannot all keep their spelling; the operator picks the new names."""
    by_key: dict[str, list[tuple[int, str]]] = {}
    for user_id, login in rows:
        by_key.setdefault(login.lower(), []).append((user_id, login))
    twins = [group for group in by_key.values() if len(group) > 1]
    if not twins:
        return
    listed = "; ".join(" and ".join(f"`{login}` (id {user_id})" for user_id, login in group) for group in twins)
    table = "`user`" if isinstance(db, peewee.MySQLDatabase) else '"user"'
    user_id, login = twins[0][-1]
    raise SchemaError(
        f"cannot upgrade the database schema to version 2: logins must now be unique whatever their case, and "
        f"these differ only by case: {listed}. Find out which account is genuine, rename the others with SQL, e.g. "
        f"UPDATE {table} SET login = '{login}-2' WHERE id = {user_id}; (their crates, tokens and groups follow; the "
        "audit log keeps the old name), then start Alexandrie (or `alexandrie db upgrade`) again.")


def _v3_group_owners(migrator: SchemaMigrator, db: peewee.Database) -> None:
    """crate_group_owner: user groups that own crates (their members publish and yank).

    The table as version 3 defines it, not ``models.CrateGroupOwner``, which later versions may change.
    Safe to re-run: it is created only when missing.
    """
    if "crate_group_owner" in db.get_tables():
        return
    class Table(peewee.Model):
        class Meta:
            database = db
            legacy_table_names = False

    class Crate(Table):  # only the keys the new table refers to
        pass

    class UserGroup(Table):
        pass

    class CrateGroupOwner(Table):
        crate = peewee.ForeignKeyField(Crate, on_delete="CASCADE")
        group = peewee.ForeignKeyField(UserGroup, on_delete="CASCADE")
        added_at = peewee.DateTimeField()

        class Meta:
            indexes = ((("crate", "group"), True),)

    _binary_collation(db, [CrateGroupOwner])
    db.create_tables([CrateGroupOwner])


# Steps after the baseline, in order.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(2, "session versions, case-insensitive logins, per-crate limit overrides, long metadata",
              _v2_sessions_logins_limits),
    Migration(3, "groups as crate owners", _v3_group_owners),
)


def latest_version(migrations=MIGRATIONS) -> int:
    return migrations[-1].version if migrations else BASELINE


def _setting_table(db: peewee.Database) -> peewee.Table:
    return peewee.Table("setting", ("key", "value")).bind(db)


def read_version(db: peewee.Database) -> int | None:
    """The stamped version; None for an empty database, BASELINE for tables made before versioning."""
    tables = set(db.get_tables())
    if "setting" not in tables:
        return BASELINE if "crate" in tables else None
    setting = _setting_table(db)
    row = setting.select(setting.value).where(setting.key == VERSION_KEY).tuples().first()
    if row is None:
        return BASELINE if "crate" in tables else None
    try:
        return int(row[0])
    except ValueError:
        raise SchemaError(f"the database's schema_version {row[0]!r} is not a number; "
                          "restore the `setting` table from a backup") from None


def stamp(db: peewee.Database, version: int) -> None:
    setting = _setting_table(db)
    # Not "update, else insert": MySQL counts only changed rows, so re-stamping the same version reads as 0.
    if setting.select(setting.key).where(setting.key == VERSION_KEY).exists():
        setting.update({setting.value: str(version)}).where(setting.key == VERSION_KEY).execute()
    else:
        setting.insert({setting.key: VERSION_KEY, setting.value: str(version)}).execute()


def check_not_newer(version: int | None, migrations=MIGRATIONS) -> None:
    latest = latest_version(migrations)
    if version is not None and version > latest:
        raise SchemaError(
            f"the database schema is version {version}, newer than this Alexandrie {__version__} knows "
            f"(up to {latest}): a newer Alexandrie has upgraded it. Run that newer version (upgrade this "
            f"installation with `pip install -U alexandrie`), or point [database] url at another database.")


def pending(version: int | None, migrations=MIGRATIONS) -> list[Migration]:
    return [m for m in migrations if version is not None and m.version > version]


def ensure_schema(db: peewee.Database, models, *, auto_upgrade: bool = True, migrations=MIGRATIONS) -> list[int]:
    """Create a fresh schema, or apply pending steps; returns the versions applied.

    Call inside an app context (``models`` are bound to the app's database). Concurrent
    start-ups of several instances take turns on a database-wide lock.
    """
    with _schema_lock(db):
        version = read_version(db)
        check_not_newer(version, migrations)
        if version is None:
            with _write_transaction(db):
                _binary_collation(db, models)
                db.create_tables(models, safe=True)
                _binary_collation(db, models)
                stamp(db, latest_version(migrations))
            log.info("created the database schema (version %d)", latest_version(migrations))
            return []
        steps = pending(version, migrations)
        if steps and not auto_upgrade:
            raise SchemaError(
                f"the database schema is version {version}; this Alexandrie needs version "
                f"{latest_version(migrations)}. Back up the database, then run `alexandrie db upgrade` "
                "(or set [database] auto_upgrade = true).")
        applied = [_apply(db, step) for step in steps]
        if version == BASELINE and not steps:
            stamp(db, version)  # tables made before versioning get their stamp
        # Tables the code knows but the schema lacks: added plugins, or a baseline still growing.
        # Only those: "CREATE ... IF NOT EXISTS" for every table costs seconds on MySQL at each start.
        existing = set(db.get_tables())
        missing = [m for m in models if m._meta.table_name not in existing]
        if missing:
            _binary_collation(db, missing)
            db.create_tables(missing, safe=True)
            _binary_collation(db, missing)
        return applied


def _binary_collation(db: peewee.Database, models) -> None:
    """MySQL compares text case-insensitively by default; SQLite and PostgreSQL do not. Versions such as
    1.0.0-alpha and 1.0.0-ALPHA must stay distinct everywhere, so our tables use utf8mb4_bin."""
    if not isinstance(db, peewee.MySQLDatabase):
        return
    # New tables take the database default; converting a table afterwards rebuilds it (slow).
    db.execute_sql("ALTER DATABASE CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    names = {model._meta.table_name for model in models}
    cursor = db.execute_sql("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
                            "AND TABLE_COLLATION <> 'utf8mb4_bin'")
    for (table,) in cursor.fetchall():
        if table in names:
            db.execute_sql(f"ALTER TABLE `{table}` CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")


def _apply(db: peewee.Database, step: Migration) -> int:
    log.info("upgrading the database schema to version %d: %s", step.version, step.description)
    with _write_transaction(db):
        if (read_version(db) or 0) < step.version:
            step.apply(SchemaMigrator.from_database(db), db)
            stamp(db, step.version)
    return step.version


def _write_transaction(db: peewee.Database):
    return db.atomic(lock_type="IMMEDIATE") if isinstance(db, peewee.SqliteDatabase) else db.atomic()


@contextmanager
def _schema_lock(db: peewee.Database):
    """Serialise schema changes across every instance sharing the database."""
    if isinstance(db, peewee.PostgresqlDatabase):
        db.execute_sql("SELECT pg_advisory_lock(%s)", (PG_LOCK_ID,))
        try:
            yield
        finally:
            db.execute_sql("SELECT pg_advisory_unlock(%s)", (PG_LOCK_ID,))
    elif isinstance(db, peewee.MySQLDatabase):
        got = db.execute_sql("SELECT GET_LOCK(%s, 120)", (LOCK_NAME,)).fetchone()[0]
        if got != 1:
            raise SchemaError("another instance held the schema lock for two minutes; is an upgrade stuck?")
        try:
            yield
        finally:
            db.execute_sql("SELECT RELEASE_LOCK(%s)", (LOCK_NAME,))
    else:
        yield  # SQLite: each change below takes the write lock and re-checks the version under it


# --- Snapshots: what each released schema version looks like, for the upgrade tests --------------


def schema_snapshot(models) -> list[dict]:
    """A database-neutral description of the tables ``models`` create (parents first)."""
    tables = []
    for model in peewee.sort_models(models):
        fields = []
        for f in model._meta.sorted_fields:
            entry = {"name": f.name, "column": f.column_name, "type": f.field_type, "null": f.null,
                     "unique": f.unique, "index": f.index, "primary_key": f.primary_key,
                     "max_length": getattr(f, "max_length", None)}
            if isinstance(f, peewee.ForeignKeyField):
                entry.update(references=f.rel_model._meta.table_name, on_delete=f.on_delete)
            fields.append(entry)
        indexes = [[list(cols), unique] for cols, unique in model._meta.indexes]
        # The model name matters: peewee names indexes after it.
        tables.append({"table": model._meta.table_name, "model": model._meta.name, "fields": fields,
                       "indexes": indexes})
    return tables


def models_from_snapshot(snapshot: list[dict], database: peewee.Database) -> list[type[peewee.Model]]:
    """Peewee models that create exactly the tables a snapshot describes, bound to ``database``."""
    made: dict[str, type[peewee.Model]] = {}
    for table in snapshot:
        attrs = {f["name"]: _field_from_snapshot(f, made) for f in table["fields"]}
        attrs["Meta"] = type("Meta", (), {"database": database, "table_name": table["table"],
                                          "legacy_table_names": False,
                                          "indexes": tuple((tuple(c), u) for c, u in table["indexes"])})
        made[table["table"]] = type(table["model"], (peewee.Model,), attrs)
    return list(made.values())


def _field_from_snapshot(f: dict, made: dict) -> peewee.Field:
    common = {"null": f["null"], "unique": f["unique"], "index": f["index"], "column_name": f["column"]}
    if f.get("references"):
        return peewee.ForeignKeyField(made[f["references"]], on_delete=f.get("on_delete"), **common)
    if f["type"] == "AUTO":
        return peewee.AutoField(column_name=f["column"])
    if f["type"] == "BIGAUTO":
        return peewee.BigAutoField(column_name=f["column"])
    if f["type"] == "VARCHAR":
        return peewee.CharField(max_length=f["max_length"], primary_key=f["primary_key"], **common)
    field_class = type(f"Snapshot{f['type']}Field", (peewee.Field,), {"field_type": f["type"]})
    return field_class(primary_key=f["primary_key"], **common)
