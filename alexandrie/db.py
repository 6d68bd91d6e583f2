"""The database: URL parsing, per-app connection handling and write transactions.

Models are bound to ``database``, a proxy that resolves to the database of the Flask
app in context, so two apps in one process never share a connection.
"""

import importlib
import logging
import os
from collections.abc import Collection
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

import peewee
from playhouse import pool

from .errors import ConfigError
from .files import make_private_file, make_private_folder
from .migrations import ensure_schema
from .registry import registry

log = logging.getLogger(__name__)

# Index files and READMEs outgrow MySQL's 64 KiB TEXT.
BIG_TEXT_TYPES = {"BIGTEXT": "TEXT"}
MYSQL_FIELD_TYPES = {"BIGTEXT": "LONGTEXT"}

SQLITE_PRAGMAS = (
    ("journal_mode", "wal"),
    ("busy_timeout", 30000),
    ("synchronous", "full"),  # a publish acknowledged with 200 survives power loss
    ("foreign_keys", 1),
    ("cache_size", -4000),  # KiB for each pooled connection (up to max_conns); the OS caches the file as well
)


class AppDatabase(peewee.DatabaseProxy):
    """Proxy to the database of the Flask app in context."""

    @property
    def obj(self):
        return registry().database

    @obj.setter
    def obj(self, value):
        """The target is chosen by the app context, never assigned."""


database = AppDatabase()


class BigTextField(peewee.TextField):
    field_type = "BIGTEXT"


class BaseModel(peewee.Model):
    class Meta:
        database = database
        legacy_table_names = False


# The modules peewee can use for each server, and the extra of setup.cfg that installs the first.
DRIVERS = {"postgresql": (("psycopg2", "psycopg"), "postgres"), "mysql": (("pymysql", "MySQLdb"), "mysql")}


def open_database(url: str, max_conns: int = 8, creatable: Collection[Path] = ()) -> peewee.Database:
    """Open ``sqlite:///PATH``, ``postgresql://...`` or ``mysql://...`` with a connection pool.

    Nothing is connected or created yet (``prepare_files``, then the first connection, do that). A SQLite
    file's folder must exist unless it is one of ``creatable``: a typo in the path is refused, not created."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+")[0]
    options = dict(parse_qsl(parts.query))
    common = {"max_connections": max(1, int(max_conns)), "stale_timeout": 300, "timeout": 30}
    if scheme == "sqlite":
        return _open_sqlite(url[len("sqlite:///"):].split("?")[0], common, url, creatable)
    if scheme in ("postgres", "postgresql"):
        _require_driver("postgresql", url)
        options.setdefault("connect_timeout", 10)  # a server behind a firewall that drops packets: fail, not hang
        return pool.PooledPostgresqlDatabase(
            unquote(parts.path.lstrip("/")), field_types=BIG_TEXT_TYPES, **_server_args(parts), **options, **common)
    if scheme in ("mysql", "mariadb"):
        _require_driver("mysql", url)
        options.setdefault("charset", "utf8mb4")
        # As on PostgreSQL: no gap locks (racing publishes of a new crate deadlocked) and fresh reads after a lock.
        options.setdefault("init_command", "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
        return pool.PooledMySQLDatabase(
            unquote(parts.path.lstrip("/")), field_types=MYSQL_FIELD_TYPES, **_server_args(parts), **options, **common)
    raise ConfigError(f"[database] url = {database_description(url)!r}: use sqlite:///PATH, "
                      "postgresql://USER@HOST/DB or mysql://USER@HOST/DB")


def _require_driver(kind: str, url: str) -> None:
    modules, extra = DRIVERS[kind]
    for module in modules:
        try:
            importlib.import_module(module)
            return
        except ImportError:
            continue
    raise ConfigError(f"[database] url = {database_description(url)!r} is a {kind} database, but its driver "
                      f"({modules[0]}) is not installed.\nRun pip install 'alexandrie[{extra}]' in the registry's "
                      "Python environment, or point [database] url at another database.")


def _open_sqlite(path: str, common: dict, url: str, creatable: Collection[Path]) -> peewee.Database:
    if path != ":memory:":
        folder = Path(path).parent
        if not folder.is_dir() and folder not in creatable:
            raise ConfigError(f"[database] url = {url!r}: the folder {folder} does not exist.\n"
                              f"Create it (mkdir -p {folder}), or point [database] url at a file in an existing "
                              "folder.")
    db = pool.PooledSqliteDatabase(
        path, pragmas=SQLITE_PRAGMAS, field_types=BIG_TEXT_TYPES, check_same_thread=False, **common)
    # SQLite's LOWER() knows only ASCII; PostgreSQL and MySQL lower every letter. Search must match alike.
    db.register_function(_unicode_lower, "lower", 1, deterministic=True)
    return db


def prepare_files(db: peewee.Database) -> None:
    """Create a SQLite file (and its folder) before the first connection: the database holds the session secret
    and password hashes, so its new folder is 0700 and the file 0600 (SQLite gives its -wal and -shm files
    the database file's mode)."""
    if is_sqlite(db) and db.database != ":memory:":
        make_private_folder(Path(db.database).parent)
        make_private_file(Path(db.database))


def check_reachable(db: peewee.Database, url: str) -> None:
    """Connect once to a server database, so a server that is down or misnamed stops the start-up before
    anything is created, with the setting to fix instead of a driver traceback."""
    if is_sqlite(db):
        return
    try:
        db.connect(reuse_if_open=True)
    except (peewee.OperationalError, peewee.InterfaceError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"cannot reach the database at {database_description(url)} ([database] url): {reason}\n"
                          "Start the database server, or fix the host, port, user, password or database name "
                          "in [database] url.") from None
    db.close()


def sqlite_files(db: peewee.Database) -> list[Path]:
    """The files of a SQLite database that hold its rows (the database and its write-ahead log)."""
    if not is_sqlite(db) or db.database == ":memory:":
        return []
    return [Path(db.database), Path(f"{db.database}-wal")]


def _unicode_lower(value):
    return value.lower() if isinstance(value, str) else value


def _server_args(parts) -> dict:
    args = {"host": parts.hostname or "localhost"}
    if parts.port:
        args["port"] = parts.port
    if parts.username:
        args["user"] = unquote(parts.username)
    if parts.password:
        args["password"] = unquote(parts.password)
    return args


def is_sqlite(db: peewee.Database) -> bool:
    return isinstance(db, peewee.SqliteDatabase)


def is_mysql(db: peewee.Database) -> bool:
    return isinstance(db, peewee.MySQLDatabase)


def write_transaction():
    """A transaction that takes SQLite's write lock up front, so writers queue instead of failing."""
    db = registry().database
    if is_sqlite(db):
        return db.atomic(lock_type="IMMEDIATE")
    return db.atomic()


def locked(query):
    """``query`` as ``SELECT ... FOR UPDATE``, so writers to the same crate queue up instead of deadlocking or
    re-rendering its index file from stale rows; SQLite's IMMEDIATE transaction already locks everything."""
    return query.for_update() if registry().database.for_update else query


def run_compiled(key: tuple, build, state=None, **values) -> list[tuple]:
    """The rows of the query ``build(**values)`` returns, its SQL text built once per app and ``key``.

    Peewee spends ~0.7 ms turning a query into SQL, SQLite ~0.03 ms running it, and the read paths
    cargo waits on run one per request. ``build`` is called once with marker strings in place of
    ``values`` (string parameters only); later calls swap the real values in. ``key`` must name
    everything else the query's shape depends on. Only SQL text is kept, never data. Building needs
    an app context; running a built query needs only ``state`` (default: the app in context's).
    """
    state = state or registry()
    sql, slots = compile_query(key, build, state, *values)
    return state.database.execute_sql(sql, [values[name] if name else constant for name, constant in slots]).fetchall()


def compile_query(key: tuple, build, state=None, *names: str) -> tuple[str, list]:
    """The SQL of ``build`` for ``key`` and where each of ``names`` goes in its parameters, built on first use."""
    state = state or registry()
    entry = state.compiled_sql.get(key)
    if entry is None:
        markers = {f"\0{name}\0": name for name in names}
        sql, params = build(**{name: marker for marker, name in markers.items()}).sql()
        entry = state.compiled_sql[key] = (sql, [(markers.get(p) if isinstance(p, str) else None, p) for p in params])
    return entry


@contextmanager
def connection():
    """Use the app's database for the duration of a block outside a request (CLI, threads)."""
    db = registry().database
    opened = db.connect(reuse_if_open=True)
    try:
        yield db
    finally:
        if opened and not db.is_closed():
            db.close()


def init_app(app) -> None:
    """Connect per request, return the connection to the pool afterwards, create missing tables."""
    state = registry(app)
    db = state.database

    @app.before_request
    def _connect():
        connect_checked(db)

    @app.teardown_appcontext
    def _close(exc):
        if not db.is_closed():
            if db.in_transaction():
                db.rollback()
            db.close()

    prepare_files(db)
    with app.app_context(), connection():
        ensure_schema(db, state.models, auto_upgrade=state.settings.database.auto_upgrade)


def connect_checked(db: peewee.Database) -> None:
    """Take a pooled connection, replacing ones the server dropped (restart, failover, idle kill)."""
    db.connect(reuse_if_open=True)
    if is_sqlite(db):
        return
    try:
        db.execute_sql("SELECT 1")
    except (peewee.OperationalError, peewee.InterfaceError):
        log.warning("the database dropped a pooled connection; reconnecting")
        db.manual_close()
        db.close_idle()  # dropped together with the one we hold, most likely
        db.connect()


def database_description(url: str) -> str:
    """The URL without its password, for logs."""
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url if parts.scheme != "sqlite" else f"sqlite ({os.path.basename(parts.path) or ':memory:'})"
