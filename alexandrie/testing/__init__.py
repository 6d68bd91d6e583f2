"""The testing kit, loaded as a pytest plugin (``pytest11``): fixtures here; builders, live servers, test
databases and contract tests in the modules beside it, all importable from ``alexandrie.testing``.

Backend plugins rerun the contract tests against their backend by subclassing ``StorageContract`` or
``IndexContract`` and providing a ``storage`` or ``index_backend`` fixture.
"""

import os

import pytest

import alexandrie_storage_disk

from ..app import create_app
from ..cli import CliContext, main
from ..db import connection
from ..plugins import describe_plugins, get_plugin_manager
from ..services.index_files import etag_of
from .builders import (
    crate_metadata,
    create_user_with_token,
    csrf_token,
    dependency,
    make_crate,
    publish,
    publish_body,
    sign_in,
    test_config,
)
from .contracts import IndexContract, StorageContract
from .databases import (
    RUN_DATABASE_MARK,
    clear_server_database,
    create_server_database,
    drop_server_database,
    reset_database,
    server_kind,
)
from .servers import Cargo, LiveServer, free_port, stop_process, wait_until_healthy, write_package
from .tools import CI, require, require_tool

__all__ = ["CI", "Cargo", "CliContext", "IndexContract", "KIT_PLUGINS", "LiveServer", "StorageContract",
           "clear_server_database", "create_app", "create_user_with_token", "crate_metadata", "csrf_token",
           "dependency", "describe_plugins", "etag_of", "free_port", "get_plugin_manager", "main", "make_crate",
           "publish", "publish_body", "require", "require_tool", "reset_database", "server_kind", "sign_in",
           "stop_process", "test_config", "wait_until_healthy", "write_package"]

# Every test app has the built-in plugins and the disk storage, the core's default backend, under the
# name its entry point gives it (so ``disabled_plugins = ["storage-disk"]`` means the same in a test).
KIT_PLUGINS = {"storage-disk": alexandrie_storage_disk}


@pytest.fixture
def make_app(tmp_path):
    """``make_app(plugins=[...], **sections)`` builds a registry in ``tmp_path`` with the built-in plugins, the
    disk storage and ``plugins``; installed entry points are loaded only with ``load_entrypoints=True``."""
    built = []

    def factory(plugins=(), load_entrypoints: bool = False, plugin_config: dict | None = None, serving: bool = True,
                **sections):
        """``plugin_config={"NAME": {...}}`` fills ``[plugins.NAME]`` (``plugins`` is the list of plugin objects)."""
        if plugin_config:
            sections["plugins"] = {**sections.get("plugins", {}), **plugin_config}
        config = test_config(tmp_path / f"registry{len(built)}", **sections)
        pm = get_plugin_manager(load_entrypoints=load_entrypoints, named=KIT_PLUGINS, plugins=plugins)
        app = create_app(config, pm=pm, serving=serving)
        app.config["TESTING"] = True
        built.append(app)
        return app

    yield factory
    for app in built:
        reset_database(app)


# --- A database of its own for each test run on a shared server ----------------------------------


def pytest_configure(config):
    """On PostgreSQL/MySQL, run the whole session in a fresh database, so concurrent runs never collide."""
    url = os.environ.get("ALEXANDRIE_TEST_DATABASE_URL")
    if server_kind(url) == "sqlite" or os.environ.get(RUN_DATABASE_MARK):
        return
    name = f"alexandrie_test_{os.getpid()}_{os.urandom(3).hex()}"
    try:
        run_url = create_server_database(url, name)
    except Exception as exc:
        raise pytest.UsageError(f"ALEXANDRIE_TEST_DATABASE_URL: cannot create a test database on {url}: {exc}") \
            from exc
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
    with app.app_context(), connection():
        yield app


@pytest.fixture
def live_server(app):
    server = LiveServer(app).start()
    yield server
    server.stop()


@pytest.fixture
def cargo_factory(tmp_path):
    require_tool("cargo")

    def factory(server: LiveServer, token: str | None = None, name: str = "cargo-home", **kwargs) -> Cargo:
        return Cargo(tmp_path / name, server, token, **kwargs)

    return factory
