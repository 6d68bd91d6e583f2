"""The testing kit, loaded as a pytest plugin (``pytest11``): fixtures, crate builders and contract tests.

Backend plugins rerun the contract tests against their backend by subclassing
``StorageContract`` or ``IndexContract`` and providing a ``storage`` or
``index_backend`` fixture.
"""

import gzip
import io
import json
import os
import shutil
import socket
import struct
import subprocess
import tarfile
import threading
from pathlib import Path

import pytest

CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


# --- Outside tools -------------------------------------------------------------------------


def require(condition: bool, reason: str) -> None:
    """Skip with ``reason`` when ``condition`` is false; under ``CI=true`` fail instead."""
    if not condition:
        if CI:
            pytest.fail(f"{reason} (CI=true: a missing tool is a failure, not a skip)")
        pytest.skip(reason)


def require_tool(name: str) -> str:
    path = shutil.which(name)
    require(path is not None, f"`{name}` is not installed on this machine")
    return path


# --- Building crates without cargo -------------------------------------------------------------


def make_crate(name: str, version: str, *, manifest: str | None = None, files: dict | None = None,
               members: list[tarfile.TarInfo] | None = None) -> bytes:
    """A ``.crate`` file like ``cargo package`` makes: gzip tar with everything under ``name-version/``."""
    manifest = manifest if manifest is not None else (
        f'[package]\nname = "{name}"\nversion = "{version}"\nedition = "2021"\n')
    entries = {"Cargo.toml": manifest.encode(), "src/lib.rs": b"pub fn hello() {}\n", **(files or {})}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for path, content in entries.items():
            info = tarfile.TarInfo(f"{name}-{version}/{path}")
            info.size, info.mode, info.mtime = len(content), 0o644, 1153704088
            archive.addfile(info, io.BytesIO(content))
        for member in members or ():
            archive.addfile(member, io.BytesIO(b"\0" * member.size) if member.isfile() else None)
    return gzip.compress(buffer.getvalue(), mtime=0)


def crate_metadata(name: str, version: str, **fields) -> dict:
    """The publish JSON cargo 1.95 sends, with every key present."""
    meta = {"name": name, "vers": version, "deps": [], "features": {}, "authors": [], "description": None,
            "documentation": None, "homepage": None, "readme": None, "readme_file": None, "keywords": [],
            "categories": [], "license": "MIT", "license_file": None, "repository": None, "badges": {},
            "links": None, "rust_version": None}
    meta.update(fields)
    return meta


def dependency(name: str, req: str = "^0.1", **fields) -> dict:
    dep = {"name": name, "version_req": req, "features": [], "optional": False, "default_features": True,
           "target": None, "kind": "normal"}
    dep.update(fields)
    return dep


def publish_body(metadata, tarball: bytes) -> bytes:
    """Cargo's publish frame: u32-LE length + JSON, u32-LE length + .crate."""
    raw = metadata if isinstance(metadata, bytes) else json.dumps(metadata).encode()
    return struct.pack("<I", len(raw)) + raw + struct.pack("<I", len(tarball)) + tarball


# --- App fixtures ---------------------------------------------------------------------------------


def stop_process(process: subprocess.Popen | None, timeout: float = 10) -> None:
    """Terminate a child server, killing it when it does not stop within ``timeout`` seconds."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_config(data_dir: Path, port: int | None = None, **sections) -> dict:
    """A config mapping for a throwaway registry under ``data_dir``; ``ALEXANDRIE_TEST_DATABASE_URL`` picks the database."""
    port = port or free_port()
    config = {
        "base_dir": str(data_dir),
        "general": {"bind_address": f"127.0.0.1:{port}", "public_url": f"http://127.0.0.1:{port}"},
        "database": {"url": os.environ.get("ALEXANDRIE_TEST_DATABASE_URL") or f"sqlite:///{data_dir}/alexandrie.db"},
        "storage": {"type": "disk", "path": str(data_dir / "crate-storage")},
        "index": {"type": "sparse"},
    }
    for section, values in sections.items():
        config.setdefault(section, {}).update(values)
    return config


@pytest.fixture
def make_app(tmp_path):
    """``make_app(plugins=[...], **sections)`` builds a registry in ``tmp_path`` without entry-point discovery
    of anything but installed backends."""
    from .app import create_app
    from .plugins import get_plugin_manager

    built = []

    def factory(plugins=(), load_entrypoints=True, plugin_config: dict | None = None, **sections):
        """``plugin_config={"NAME": {...}}`` fills ``[plugins.NAME]`` (``plugins`` is the list of plugin objects)."""
        if plugin_config:
            sections["plugins"] = {**sections.get("plugins", {}), **plugin_config}
        config = test_config(tmp_path / f"registry{len(built)}", **sections)
        app = create_app(config, pm=get_plugin_manager(load_entrypoints=load_entrypoints, plugins=plugins))
        app.config["TESTING"] = True
        built.append(app)
        return app

    yield factory
    for app in built:
        _reset_database(app)


def _reset_database(app) -> None:
    """Leave a shared server database (PostgreSQL, MySQL) empty for the next test, schema kept."""
    from .db import connection, is_sqlite

    state = app.extensions["alexandrie"]
    state.downloads.flush()
    state.index.close()
    if not is_sqlite(state.database) and state.config["database"]["url"] == os.environ.get(
            "ALEXANDRIE_TEST_DATABASE_URL"):
        with app.app_context(), connection() as db:
            clear_server_database(db)
    state.database.close_all()


def clear_server_database(db) -> None:
    """Empty every table that has rows and restart its ids; keeps the schema and its version."""
    from .db import is_mysql
    from .migrations import VERSION_KEY

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


# --- A database of its own for each test run on a shared server ----------------------------------


RUN_DATABASE_MARK = "ALEXANDRIE_TEST_RUN_DATABASE"


def server_kind(url: str | None) -> str:
    """``sqlite``, ``postgresql`` or ``mysql`` for a database URL (None: the SQLite default)."""
    scheme = (url or "sqlite:").split(":", 1)[0].split("+")[0]
    return {"postgres": "postgresql", "mariadb": "mysql"}.get(scheme, scheme)


def _admin_connection(url: str):
    """A raw driver connection (autocommit) to the server database named in ``url``."""
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url)
    args = {"host": parts.hostname or "localhost", "user": unquote(parts.username or "")}
    if parts.port:
        args["port"] = parts.port
    if parts.password:
        args["password"] = unquote(parts.password)
    if server_kind(url) == "postgresql":
        import psycopg2

        conn = psycopg2.connect(dbname=unquote(parts.path.lstrip("/")), connect_timeout=5, **args)
        conn.autocommit = True
        return conn
    import pymysql

    return pymysql.connect(database=unquote(parts.path.lstrip("/")), autocommit=True, connect_timeout=5, **args)


def create_server_database(url: str, name: str) -> str:
    """Create database ``name`` next to the one ``url`` names; returns its URL."""
    from urllib.parse import urlsplit, urlunsplit

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


def pytest_configure(config):
    """On PostgreSQL/MySQL, run the whole session in a fresh database, so concurrent runs never collide."""
    url = os.environ.get("ALEXANDRIE_TEST_DATABASE_URL")
    if server_kind(url) == "sqlite" or os.environ.get(RUN_DATABASE_MARK):
        return
    name = f"alexandrie_test_{os.getpid()}_{os.urandom(3).hex()}"
    try:
        run_url = create_server_database(url, name)
    except Exception as exc:
        raise pytest.UsageError(f"ALEXANDRIE_TEST_DATABASE_URL: cannot create a test database on {url}: {exc}")
    config.stash[_RUN_DATABASE] = (url, name)
    os.environ["ALEXANDRIE_TEST_DATABASE_URL"] = run_url
    os.environ[RUN_DATABASE_MARK] = name


def pytest_unconfigure(config):
    if _RUN_DATABASE not in config.stash:
        return
    url, name = config.stash[_RUN_DATABASE]
    os.environ["ALEXANDRIE_TEST_DATABASE_URL"] = url
    os.environ.pop(RUN_DATABASE_MARK, None)
    for scratch in [*config.stash.get(_SCRATCH_DATABASES, []), name]:
        drop_server_database(url, scratch)


def pytest_collection_modifyitems(config, items):
    """Tests marked ``server_database`` run only in the PostgreSQL/MySQL passes, ``sqlite_only`` only in the
    SQLite pass: they are deselected (not skipped) elsewhere, since they cannot apply there."""
    on_sqlite = server_kind(os.environ.get("ALEXANDRIE_TEST_DATABASE_URL")) == "sqlite"
    wrong = "server_database" if on_sqlite else "sqlite_only"
    kept = [item for item in items if item.get_closest_marker(wrong) is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept


def pytest_report_header(config):
    url = os.environ.get("ALEXANDRIE_TEST_DATABASE_URL")
    return f"alexandrie test database: {server_kind(url)} ({url or 'a SQLite file per test'})"


_RUN_DATABASE = pytest.StashKey[tuple]()


@pytest.fixture
def scratch_database(tmp_path, request):
    """``scratch_database()`` returns the URL of a new, empty database of the backend under test.

    Server databases are dropped at the end of the session, after every app using them is gone."""
    def factory() -> str:
        url = os.environ.get("ALEXANDRIE_TEST_DATABASE_URL")
        if server_kind(url) == "sqlite":
            return f"sqlite:///{tmp_path}/scratch-{os.urandom(4).hex()}.db"
        name = f"alexandrie_scratch_{os.getpid()}_{os.urandom(3).hex()}"
        request.config.stash.setdefault(_SCRATCH_DATABASES, []).append(name)
        return create_server_database(url, name)

    return factory


_SCRATCH_DATABASES = pytest.StashKey[list]()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def app_context(app):
    from .db import connection

    with app.app_context(), connection():
        yield app


def create_user_with_token(app, login: str, *, admin: bool = False) -> str:
    """Create ``login`` (password ``password-<login>``) and return a fresh API token."""
    from .accounts import create_user
    from .auth import create_token
    from .db import connection

    with app.app_context(), connection():
        user = create_user(login, email=f"{login}@example.com", password=f"password-{login}", is_admin=admin)
        return create_token(user, "tests")[1]


class LiveServer:
    """A registry served by waitress on 127.0.0.1 in a background thread."""

    def __init__(self, app):
        from .serving import create_server

        self.app = app
        self.url = app.extensions["alexandrie"].config["general"]["public_url"]
        host, port = self.url.removeprefix("http://").split(":")
        self._server = create_server(app, host=host, port=int(port), threads=8)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._stopping = False

    def _serve(self):
        try:
            self._server.run()
        except OSError:
            # Closing the listening socket can break the select() the loop sits in; that is the stop.
            if not self._stopping:
                raise

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stopping = True
        self._server.close()
        self._thread.join(timeout=5)

    @property
    def index_url(self) -> str:
        return f"sparse+{self.url}/index/"


@pytest.fixture
def live_server(app):
    server = LiveServer(app).start()
    yield server
    server.stop()


# --- cargo ------------------------------------------------------------------------------------------


class Cargo:
    """Runs the real ``cargo`` in a throwaway ``CARGO_HOME`` that knows the registry as ``alex``."""

    def __init__(self, home: Path, server: LiveServer, token: str | None = None, replace_crates_io=False):
        self.home, self.server = home, server
        home.mkdir(parents=True, exist_ok=True)
        config = f'[registries.alex]\nindex = "{server.index_url}"\n[net]\nretry = 0\n'
        if replace_crates_io:
            config += '[source.crates-io]\nreplace-with = "alex"\n'
        (home / "config.toml").write_text(config)
        self.token = token

    def env(self, token: str | None = None) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CARGO_")}
        env.update({"CARGO_HOME": str(self.home), "CARGO_TERM_COLOR": "never",
                    "CARGO_TARGET_DIR": str(self.home / "target"), "CARGO_NET_OFFLINE": "false"})
        token = token if token is not None else self.token
        if token:
            env["CARGO_REGISTRIES_ALEX_TOKEN"] = token
        return env

    def run(self, *args, cwd: Path, token: str | None = None, check: bool = True, timeout: int = 300):
        result = subprocess.run(["cargo", *args], cwd=cwd, env=self.env(token), capture_output=True,
                                text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"cargo {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result


def write_package(root: Path, name: str, version: str = "0.1.0", *, manifest_extra: str = "",
                  lib: str = "pub fn hello() -> &'static str { \"hello\" }\n", main: str | None = None,
                  readme: str | None = None) -> Path:
    """A cargo package on disk, ready for ``cargo publish --registry alex``."""
    path = root / name
    (path / "src").mkdir(parents=True, exist_ok=True)
    manifest = (f'[package]\nname = "{name}"\nversion = "{version}"\nedition = "2021"\n'
                f'description = "The {name} crate"\nlicense = "MIT"\npublish = ["alex"]\n')
    if readme is not None:
        (path / "README.md").write_text(readme)
        manifest += 'readme = "README.md"\n'
    (path / "Cargo.toml").write_text(manifest + manifest_extra)
    if main is not None:
        (path / "src" / "main.rs").write_text(main)
    else:
        (path / "src" / "lib.rs").write_text(lib)
    return path


@pytest.fixture
def cargo_factory(tmp_path):
    require_tool("cargo")

    def factory(server: LiveServer, token: str | None = None, name: str = "cargo-home", **kwargs) -> Cargo:
        return Cargo(tmp_path / name, server, token, **kwargs)

    return factory


# --- Contract tests ------------------------------------------------------------------------------------


class StorageContract:
    """Every storage backend passes these. Subclass and provide a ``storage`` fixture."""

    def test_round_trip_is_byte_exact(self, storage):
        data = bytes(range(256)) * 1000 + b"\x00\xff"
        storage.store_crate("Mixed-Case", "1.0.0+build.5", data)
        assert storage.read_crate("Mixed-Case", "1.0.0+build.5") == data
        with storage.open_crate("Mixed-Case", "1.0.0+build.5") as stream:
            assert stream.read() == data

    def test_missing_file_raises_file_not_found(self, storage):
        with pytest.raises(FileNotFoundError):
            storage.read_crate("absent", "1.0.0")
        assert not storage.crate_exists("absent", "1.0.0")

    def test_store_replaces_and_delete_removes(self, storage):
        storage.store_crate("foo", "0.1.0", b"first")
        storage.store_crate("foo", "0.1.0", b"second")
        assert storage.read_crate("foo", "0.1.0") == b"second"
        assert storage.crate_exists("foo", "0.1.0")
        storage.delete_crate("foo", "0.1.0")
        assert not storage.crate_exists("foo", "0.1.0")
        storage.delete_crate("foo", "0.1.0")

    def test_versions_do_not_collide(self, storage):
        storage.store_crate("foo", "0.1.0", b"a")
        storage.store_crate("foo", "0.1.0-alpha", b"b")
        storage.store_crate("foo-bar", "0.1.0", b"c")
        assert [storage.read_crate(*k) for k in (("foo", "0.1.0"), ("foo", "0.1.0-alpha"), ("foo-bar", "0.1.0"))] \
            == [b"a", b"b", b"c"]

    def test_concurrent_readers_never_see_partial_files(self, storage):
        big_a, big_b = b"a" * 3_000_000, b"b" * 3_000_000
        storage.store_crate("race", "1.0.0", big_a)
        seen, stop = set(), threading.Event()

        def reader():
            while not stop.is_set():
                seen.add(storage.read_crate("race", "1.0.0") in (big_a, big_b))

        thread = threading.Thread(target=reader)
        thread.start()
        for _ in range(5):
            storage.store_crate("race", "1.0.0", big_b)
            storage.store_crate("race", "1.0.0", big_a)
        stop.set()
        thread.join()
        assert seen == {True}

    def test_check_passes_when_usable(self, storage):
        storage.check()


class IndexContract:
    """Every index backend passes these. Subclass and provide ``index_backend`` and ``read_index_file``
    (a fixture returning a function ``(name) -> str | None`` reading what the backend holds)."""

    def test_update_then_read_back(self, index_backend, read_index_file):
        index_backend.update_crate("Foo-Bar", '{"name":"Foo-Bar"}\n', "Publish Foo-Bar 0.1.0")
        assert read_index_file("Foo-Bar") == '{"name":"Foo-Bar"}\n'

    def test_update_replaces_content(self, index_backend, read_index_file):
        index_backend.update_crate("serde", "a\n", "Publish serde 1.0.0")
        index_backend.update_crate("serde", "a\nb\n", "Publish serde 1.0.1")
        assert read_index_file("serde") == "a\nb\n"

    def test_rebuild_holds_exactly_the_given_files(self, index_backend, read_index_file):
        index_backend.update_crate("stale", "x\n", "Publish stale")
        index_backend.rebuild([("ab", "1\n"), ("xyz", "2\n"), ("longer-name", "3\n")], "Rebuild")
        assert [read_index_file(n) for n in ("ab", "xyz", "longer-name", "stale")] == ["1\n", "2\n", "3\n", None]

    def test_check_passes_when_usable(self, index_backend):
        index_backend.check()
