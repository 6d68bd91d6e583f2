"""A read-restricted crate leaves no trace for those who may not read it: its keywords and categories do
not exist for them, and the API refuses it after the same queries as a crate that never existed."""

import pytest

from alexandrie.db import connection
from alexandrie.registry import registry
from alexandrie.services.crates import change_read_access
from alexandrie.testing import create_user_with_token, publish, sign_in


@pytest.fixture
def app(make_app):
    app = make_app(rate_limits={"enabled": False})
    owner = create_user_with_token(app, "owner")
    client = app.test_client()
    assert publish(client, owner, "secret", "1.0.0", keywords=["hush"], categories=["cryptography"]).status_code == 200
    assert publish(client, owner, "public", "1.0.0", keywords=["open"], categories=["compression"]).status_code == 200
    with app.app_context(), connection():
        change_read_access("secret", "root", restricted=True)
    app.config["tokens"] = {"owner": owner, "mallory": create_user_with_token(app, "mallory")}
    return app


def _browser(app, login=None):
    client = app.test_client()
    if login:
        sign_in(client, login)
    return client


@pytest.mark.parametrize("login", [None, "mallory"])
def test_keywords_and_categories_of_a_restricted_crate_do_not_exist_for_others(app, login):
    client = _browser(app, login)
    for path in ("/keywords/hush", "/categories/cryptography"):
        hidden, missing = client.get(path), client.get(path.replace("cryptography", "nope").replace("hush", "nope"))
        assert (hidden.status_code, missing.status_code) == (404, 404), path
    assert client.get("/keywords/open").status_code == 200
    listing = client.get("/search?q=").get_data(as_text=True)
    assert "compression" in listing and "cryptography" not in listing
    assert "cryptography" not in client.get("/categories").get_data(as_text=True)
    assert "hush" not in client.get("/keywords").get_data(as_text=True)


def test_the_owner_still_finds_them(app):
    client = _browser(app, "owner")
    assert client.get("/keywords/hush").status_code == 200
    assert client.get("/categories/cryptography").status_code == 200
    assert "cryptography" in client.get("/search?q=").get_data(as_text=True)


class QueryCounter:
    def __init__(self, app, monkeypatch):
        database, self.count = registry(app).database, 0
        original = database.execute_sql

        def counting(*args, **kwargs):
            self.count += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(database, "execute_sql", counting)

    def of(self, call) -> tuple[int, object]:
        self.count = 0
        response = call()
        return self.count, response


@pytest.mark.parametrize("path", ["/api/v1/crates/{}/owners", "/api/v1/crates/{}/1.0.0/download"])
def test_a_restricted_crate_is_refused_after_the_same_queries_as_a_missing_one(app, monkeypatch, path):
    headers = {"Authorization": app.config["tokens"]["mallory"]}
    client = app.test_client()
    client.get(path.format("warm-up"), headers=headers)
    counter = QueryCounter(app, monkeypatch)
    restricted_queries, restricted = counter.of(lambda: client.get(path.format("secret"), headers=headers))
    missing_queries, missing = counter.of(lambda: client.get(path.format("zecret"), headers=headers))
    assert restricted.status_code == missing.status_code == 404
    assert restricted.get_json()["errors"][0]["detail"].replace("secret", "zecret") == \
        missing.get_json()["errors"][0]["detail"]
    assert restricted_queries == missing_queries


def test_write_calls_on_a_restricted_crate_answer_as_for_a_missing_one(app):
    headers = {"Authorization": app.config["tokens"]["mallory"], "Content-Type": "application/json"}
    client = app.test_client()
    for name in ("secret", "zecret"):
        owners = client.put(f"/api/v1/crates/{name}/owners", json={"users": ["mallory"]}, headers=headers)
        yank = client.delete(f"/api/v1/crates/{name}/1.0.0/yank", headers=headers)
        assert (owners.status_code, yank.status_code) == (404, 404), name
        assert f"crate `{name}` does not exist" in yank.get_json()["errors"][0]["detail"]
