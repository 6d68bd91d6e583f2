"""Rate limits on publish, sign-in and token creation: 429 with Retry-After and the errors body."""

import re

import pytest

from alexandrie.db import connection
from alexandrie.errors import ConfigError
from alexandrie.services.tokens import create_token
from alexandrie.services.users import create_user
from alexandrie.testing import publish


def tokens_for(app, *logins):
    with app.app_context(), connection():
        return [create_token(create_user(login, password=f"password-{login}"), "t")[1] for login in logins]


def test_publish_is_limited_per_user_with_retry_after(make_app):
    app = make_app(limits={"publish": "2/minute"})
    client = app.test_client()
    alice, bob = tokens_for(app, "alice", "bob")
    assert [publish(client, alice, "limited", v).status_code for v in ("0.1.0", "0.2.0")] == [200, 200]
    refused = publish(client, alice, "limited", "0.3.0")
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert "try again in" in refused.get_json()["errors"][0]["detail"]
    assert client.get("/index/li/mi/limited").text.count("\n") == 2  # the refused publish stored nothing
    assert publish(client, bob, "other", "0.1.0").status_code == 200  # another user has their own budget
    assert client.get("/api/v1/crates?q=limited").status_code == 200  # reads are not limited


def csrf_of(client, path):
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', client.get(path).text).group(1)


def test_sign_in_and_token_creation_are_limited(make_app):
    app = make_app(limits={"login": "3/minute", "token_create": "1/minute"})
    client = app.test_client()
    tokens_for(app, "alice")
    csrf = csrf_of(client, "/account/login")
    wrong = {"login": "alice", "password": "nope-nope", "csrf_token": csrf}
    assert [client.post("/account/login", data=wrong).status_code for _ in range(2)] == [400, 400]
    right = {"login": "alice", "password": "password-alice", "csrf_token": csrf}
    assert client.post("/account/login", data=right).status_code == 302
    limited = client.post("/account/login", data=right)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    csrf = csrf_of(client, "/account/tokens")
    assert client.post("/account/tokens", data={"label": "one", "csrf_token": csrf}).status_code == 200
    limited = client.post("/account/tokens", data={"label": "two", "csrf_token": csrf})
    assert limited.status_code == 429 and "Retry-After" in limited.headers
    assert client.get("/account/tokens").status_code == 200  # only creation is limited


def test_limits_can_be_disabled(make_app):
    app = make_app(limits={"enabled": False, "publish": "1/minute"})
    client = app.test_client()
    (alice,) = tokens_for(app, "alice")
    assert [publish(client, alice, "free", v).status_code for v in ("0.1.0", "0.2.0")] == [200, 200]


def test_unusable_storage_is_a_config_error(make_app):
    with pytest.raises(ConfigError, match=r"\[limits\] storage"):
        make_app(limits={"storage": "nosuchscheme://x"})


def test_database_storage_shares_counters_between_instances(make_app):
    from alexandrie.app import create_app
    from alexandrie.config import load_config

    app = make_app(limits={"storage": "alexandrie-db://", "publish": "2/minute"})
    settings = app.extensions["alexandrie"].settings
    twin = create_app(load_config({**settings.tables, "base_dir": settings.base_dir}),  # a second instance,
                      pm=app.extensions["alexandrie"].pm)                                # same database
    try:
        (alice,) = tokens_for(app, "alice")
        assert publish(app.test_client(), alice, "shared", "0.1.0").status_code == 200
        assert publish(twin.test_client(), alice, "shared", "0.2.0").status_code == 200
        refused = publish(app.test_client(), alice, "shared", "0.3.0")
        assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= 60
        assert publish(twin.test_client(), alice, "shared", "0.3.0").status_code == 429
    finally:
        twin.extensions["alexandrie"].downloads.flush()
        twin.extensions["alexandrie"].database.close_all()
