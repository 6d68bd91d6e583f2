"""Outages in the middle of a request: the object store going away, the database dropping connections."""

import pytest

import alexandrie_storage_minio
from alexandrie import hookimpl
from alexandrie.db import connection
from alexandrie.models import Crate, IndexFile, Version
from alexandrie.testing import (
    LiveServer,
    crate_metadata,
    create_user_with_token,
    make_crate,
    publish_body,
    server_kind,
    write_package,
)
from alexandrie.testing.databases import _admin_connection
from alexandrie_storage_minio.testing import MotoServer


@pytest.fixture
def moto_server():
    server = MotoServer().start()
    yield server
    server.stop()


class StopsStorage:
    """Takes the object store down once a publish has been accepted and is about to be stored."""

    def __init__(self, server):
        self.server = server

    @hookimpl
    def alexandrie_validate_publish(self, new_version, identity):
        self.server.stop()


def test_storage_outage_mid_publish_tells_cargo_and_stores_nothing(make_app, moto_server, cargo_factory, tmp_path):
    app = make_app(plugins=[alexandrie_storage_minio, StopsStorage(moto_server)],
                   storage=moto_server.storage_settings(retries=0))
    token = create_user_with_token(app, "alice")
    server = LiveServer(app).start()
    try:
        cargo = cargo_factory(server, token)
        package = write_package(tmp_path / "src", "outage")
        result = cargo.run("publish", "--registry", "alex", "--no-verify", cwd=package, check=False)
    finally:
        server.stop()
    assert result.returncode != 0
    assert "503" in result.stderr and "could not be reached to store `outage` 0.1.0" in result.stderr, result.stderr
    assert "Nothing was changed; try again" in result.stderr
    with app.app_context(), connection():
        assert (Crate.select().count(), Version.select().count(), IndexFile.select().count()) == (0, 0, 0)
    assert app.test_client().get("/index/ou/ta/outage").status_code == 404


def _kill_app_connections(url: str) -> int:
    """What a failover, a server restart or an idle-connection reaper does to the pool."""
    admin = _admin_connection(url)
    try:
        with admin.cursor() as cursor:
            if server_kind(url) == "postgresql":
                cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                               "WHERE datname = current_database() AND pid <> pg_backend_pid()")
                return len(cursor.fetchall())
            cursor.execute("SELECT ID FROM information_schema.PROCESSLIST WHERE DB = DATABASE() "
                           "AND ID <> CONNECTION_ID()")
            ids = [row[0] for row in cursor.fetchall()]
            for connection_id in ids:
                cursor.execute(f"KILL {int(connection_id)}")
            return len(ids)
    finally:
        admin.close()


class DropsConnections:
    def __init__(self):
        self.armed = False
        self.killed = 0

    @hookimpl
    def alexandrie_validate_publish(self, new_version, identity):
        if self.armed:
            self.armed = False
            from flask import current_app
            self.killed = _kill_app_connections(current_app.extensions["alexandrie"].settings.database.url)


@pytest.mark.server_database
def test_a_dropped_database_connection_is_recovered_on_the_next_request(make_app):
    dropper = DropsConnections()
    app = make_app(plugins=[dropper])
    url = app.extensions["alexandrie"].settings.database.url
    token = create_user_with_token(app, "alice")
    client = app.test_client()

    def publish(name):
        body = publish_body(crate_metadata(name, "1.0.0"), make_crate(name, "1.0.0"))
        return client.put("/api/v1/crates/new", data=body, headers={"Authorization": token})

    assert publish("before").status_code == 200
    dropper.armed = True
    during = publish("during")  # the connection dies between the checks and the write
    assert dropper.killed >= 1
    assert during.status_code == 500 and "Nothing was changed" in during.get_json()["errors"][0]["detail"]
    assert publish("after").status_code == 200
    assert _kill_app_connections(url) >= 1  # every pooled connection, while idle
    assert client.get("/index/af/te/after").status_code == 200
    assert publish("later").status_code == 200
    with app.app_context(), connection():
        assert sorted(c.name for c in Crate.select()) == ["after", "before", "later"]
