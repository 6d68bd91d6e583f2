"""Test databases: one database of its own per test run on a shared PostgreSQL or MySQL server, emptied
after each test, and scratch databases on demand."""

import os
from urllib.parse import unquote, urlsplit, urlunsplit

from ..db import connection, is_mysql, is_sqlite
from ..migrations import VERSION_KEY
from ..registry import registry

RUN_DATABASE_MARK = "ALEXANDRIE_TEST_RUN_DATABASE"


def reset_database(app) -> None:
    """Leave a shared server database (PostgreSQL, MySQL) empty for the next test, schema kept."""
    state = registry(app)
    state.downloads.flush()
    state.index.close()
    if not is_sqlite(state.database) and state.settings.database.url == os.environ.get(
            "ALEXANDRIE_TEST_DATABASE_URL"):
        with app.app_context(), connection() as db:
            clear_server_database(db)
    state.database.close_all()


def clear_server_database(db) -> None:
    """Empty every table that has rows and restart its ids; keeps the schema and its version."""
    tables = [t for t in db.get_tables() if t != "setting"
              and db.execute_sql(f"SELECT 1 FROM {_quoted(db, t)} LIMIT 1").fetchone()]
    if is_mysql(db):
        db.execute_sql("SET FOREIGN_KEY_CHECKS = 0")
        for table in tables:  # DELETE + reset: TRUNCATE is DDL, several times slower
            db.execute_sql(f"DELETE FROM {_quoted(db, table)}")
            db.execute_sql(f"ALTER TABLE {_quoted(db, table)} AUTO_INCREMENT = 1")
        db.execute_sql("SET FOREIGN_KEY_CHECKS = 1")
    else:
        # DELETE, children first, then restart the id sequences: TRUNCATE costs ~0.5 s a test on PostgreSQL.
        for table in _children_first(db, tables):
            db.execute_sql(f"DELETE FROM {_quoted(db, table)}")
            db.execute_sql("SELECT setval(pg_get_serial_sequence(%s, 'id'), 1, false) FROM information_schema.columns "
                           "WHERE table_schema = current_schema() AND table_name = %s AND column_name = 'id' "
                           "AND column_default LIKE 'nextval%%'", (_quoted(db, table), table))
    if "setting" in db.get_tables():
        db.execute_sql(f"DELETE FROM setting WHERE {_quoted(db, 'key')} <> %s", (VERSION_KEY,))


def _children_first(db, tables: list[str]) -> list[str]:
    parents = {t: {fk.dest_table for fk in db.get_foreign_keys(t)} - {t} for t in tables}
    ordered, placed = [], set()
    while len(ordered) < len(tables):
        # A table goes once every dirty table that references it has gone.
        ready = [t for t in tables if t not in placed
                 and not any(t in parents[other] for other in tables if other not in placed and other != t)]
        for table in ready or [t for t in tables if t not in placed][:1]:
            ordered.append(table)
            placed.add(table)
    return ordered


def _quoted(db, name: str) -> str:
    return db.quote[0] + name + db.quote[1]


def server_kind(url: str | None) -> str:
    """``sqlite``, ``postgresql`` or ``mysql`` for a database URL (None: the SQLite default)."""
    scheme = (url or "sqlite:").split(":", 1)[0].split("+")[0]
    return {"postgres": "postgresql", "mariadb": "mysql"}.get(scheme, scheme)


def _admin_connection(url: str):
    """A raw driver connection (autocommit) to the server database named in ``url``."""
    parts = urlsplit(url)
    args = {"host": parts.hostname or "localhost", "user": unquote(parts.username or "")}
    if parts.port:
        args["port"] = parts.port
    if parts.password:
        args["password"] = unquote(parts.password)
    if server_kind(url) == "postgresql":
        import psycopg2  # the driver of the server under test only: the other may not be installed

        conn = psycopg2.connect(dbname=unquote(parts.path.lstrip("/")), connect_timeout=5, **args)
        conn.autocommit = True
        return conn
    import pymysql  # as above

    return pymysql.connect(database=unquote(parts.path.lstrip("/")), autocommit=True, connect_timeout=5, **args)


def create_server_database(url: str, name: str) -> str:
    """Create database ``name`` next to the one ``url`` names; returns its URL."""
    conn = _admin_connection(url)
    try:
        with conn.cursor() as cursor:
            if server_kind(url) == "postgresql":
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
                cursor.execute(f'CREATE DATABASE "{name}"')
            else:
                cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
                cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    finally:
        conn.close()
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


def drop_server_database(url: str, name: str) -> None:
    conn = _admin_connection(url)
    try:
        with conn.cursor() as cursor:
            if server_kind(url) == "postgresql":
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            else:
                cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        conn.close()
