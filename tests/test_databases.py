"""Queries that differ between SQLite, PostgreSQL and MySQL must give the same answers on each.

These run on the backend under test (``python3 dev.py test`` runs the suite once per backend).
"""

import sqlite3
import threading
import time
from pathlib import Path

import peewee
import pytest

from alexandrie.config import load_config
from alexandrie.db import connection, open_database
from alexandrie.models import Crate, Version, VersionDownload
from alexandrie.testing import create_user_with_token, publish


@pytest.fixture
def token(app):
    return create_user_with_token(app, "alice")


def search(client, query, **params):
    response = client.get("/api/v1/crates", query_string={"q": query, **params})
    assert response.status_code == 200, response.get_json()
    return [c["name"] for c in response.get_json()["crates"]]


def test_search_matches_and_ranks_alike(client, token):
    for name, description in [("serde", "A serialization framework"), ("serde_json", "JSON for Serde"),
                              ("serde-yaml", "YAML"), ("jsonpath", "Query JSON documents"),
                              ("a-b", "first"), ("axb", "second"), ("donnees", "ÉCOLE des DONNÉES 🦀")]:
        assert publish(client, token, name, "1.0.0", description=description).status_code == 200
    assert search(client, "serde") == ["serde", "serde_json", "serde-yaml"]
    assert search(client, "JSON") == ["jsonpath", "serde_json"]
    assert search(client, "a_b") == ["a-b"]  # "_" is not a wildcard
    assert search(client, "école données") == ["donnees"]
    assert search(client, "100%") == []
    assert search(client, "", sort="name", per_page=3) == ["a-b", "axb", "donnees"]
    response = client.get("/api/v1/crates", query_string={"q": "e", "per_page": 2, "page": 2})
    assert response.get_json()["meta"]["total"] == 6 and len(response.get_json()["crates"]) == 2


def test_download_counts_add_up_across_flushes(app, client, token):
    assert publish(client, token, "counted", "1.0.0").status_code == 200
    counter = app.extensions["alexandrie"].downloads
    for burst in (3, 2):
        for _ in range(burst):
            assert client.get("/api/v1/crates/counted/1.0.0/download").status_code == 200
        counter.flush()
    with app.app_context(), connection():
        version = Version.get()
        assert (version.downloads, Crate.get().downloads) == (5, 5)
        assert [d.count for d in VersionDownload.select()] == [5]


def test_versions_differing_only_in_case_are_distinct(app, client, token):
    """Semver pre-release identifiers are case-sensitive; MySQL's default collation is not."""
    assert publish(client, token, "cased", "1.0.0-alpha").status_code == 200
    assert publish(client, token, "cased", "1.0.0-ALPHA").status_code == 200
    assert publish(client, token, "cased", "1.0.0-alpha").status_code == 409
    index = client.get("/index/ca/se/cased").get_data(as_text=True)
    assert [line.split('"vers":"')[1].split('"')[0] for line in index.splitlines()] == ["1.0.0-alpha", "1.0.0-ALPHA"]


def test_large_and_unicode_text_round_trips(app, client, token):
    readme = "# Crab 🦀\n" + "Ünïcödé text, long enough to pass 64 KiB. " * 3000
    response = publish(client, token, "texty", "1.0.0", description="Ferris 🦀 says ça va", readme=readme,
                       readme_file="README.md", keywords=["crab"])
    assert response.status_code == 200, response.get_json()
    with app.app_context(), connection():
        version = Version.get()
        assert (version.readme, version.description) == (readme, "Ferris 🦀 says ça va")
    assert search(client, "ça") == ["texty"]


def test_concurrent_publishes_never_both_win(app, token):
    """Same crate and version from several threads: one 200, the rest 409. Different crates: all 200."""
    def race(names):
        statuses = []

        def worker(name):
            statuses.append(publish(app.test_client(), token, name).status_code)

        threads = [threading.Thread(target=worker, args=(name,)) for name in names]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return sorted(statuses)

    assert race(["same"] * 4) == [200, 409, 409, 409]
    assert race([f"many-{i}" for i in range(4)]) == [200] * 4
    with app.app_context(), connection():
        assert sorted(c.name for c in Crate.select()) == ["many-0", "many-1", "many-2", "many-3", "same"]
        assert Version.select().count() == 5


@pytest.mark.sqlite_only
def test_sqlite_readers_are_not_blocked_by_a_publish(app, client, token):
    assert publish(client, token, "readable", "1.0.0").status_code == 200
    path = app.extensions["alexandrie"].database.database
    writer = sqlite3.connect(path, isolation_level=None, timeout=1)
    writer.execute("BEGIN IMMEDIATE")  # what a publish holds for its whole transaction
    writer.execute("UPDATE crate SET description = 'changing'")
    try:
        started = time.monotonic()
        response = client.get("/index/re/ad/readable")
        assert response.status_code == 200 and '"vers":"1.0.0"' in response.get_data(as_text=True)
        assert search(client, "readable") == ["readable"]
        assert time.monotonic() - started < 2
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert app.extensions["alexandrie"].database.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize("url, kind, name", [
    ("sqlite:////tmp/reg.db", peewee.SqliteDatabase, "/tmp/reg.db"),  # opening creates nothing
    ("postgresql://postgres@127.0.0.1:5432/reg", peewee.PostgresqlDatabase, "reg"),
    ("postgres://u:p%40ss@db.example/reg?sslmode=require", peewee.PostgresqlDatabase, "reg"),
    ("mysql://root@127.0.0.1:3306/reg", peewee.MySQLDatabase, "reg"),
    ("mariadb://root@127.0.0.1/reg", peewee.MySQLDatabase, "reg"),
])
def test_database_urls_open_a_pool_of_max_conns(url, kind, name):
    db = open_database(url, max_conns=5)
    assert isinstance(db, kind) and db.database == name and db._max_connections == 5


def test_plain_paths_are_sqlite_relative_to_the_config(tmp_path):
    (tmp_path / "alexandrie.toml").write_text('[database]\nurl = "state/reg.db"\nmax_conns = 3\n')
    settings = load_config(str(tmp_path / "alexandrie.toml"))
    assert settings.database.url == f"sqlite:///{Path(tmp_path, 'state', 'reg.db').resolve()}"
    assert settings.database.max_conns == 3
