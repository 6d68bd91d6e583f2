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
    app = make_app(rate_limits={"publish": "2/minute"})
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
    app = make_app(rate_limits={"login": "3/minute", "token_create": "1/minute"})
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
    app = make_app(rate_limits={"enabled": False, "publish": "1/minute"})
    client = app.test_client()
    (alice,) = tokens_for(app, "alice")
    assert [publish(client, alice, "free", v).status_code for v in ("0.1.0", "0.2.0")] == [200, 200]


def test_unusable_storage_is_a_config_error(make_app):
    with pytest.raises(ConfigError, match=r"\[rate_limits\] storage"):
        make_app(rate_limits={"storage": "nosuchscheme://x"})


def test_database_storage_shares_counters_between_instances(make_app):
    from alexandrie.app import create_app
    from alexandrie.config import load_config

    app = make_app(rate_limits={"storage": "alexandrie-db://", "publish": "2/minute"})
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


def sign_in_attempt(client, login: str, password: str, address: str) -> int:
    """One browser sign-in from ``address`` (a fresh page and CSRF token each time, as a script would)."""
    environ = {"REMOTE_ADDR": address}
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"',
                     client.get("/account/login", environ_base=environ).text).group(1)
    return client.post("/account/login", environ_base=environ,
                       data={"login": login, "password": password, "csrf_token": csrf}).status_code


def test_failed_sign_ins_are_limited_per_account_whatever_the_address(make_app):
    app = make_app()  # the default limits
    tokens_for(app, "alice", "bob")
    attempts = [sign_in_attempt(app.test_client(), "alice", f"guess-{n}-guess", f"203.0.113.{n}") for n in range(11)]
    assert attempts == [400] * 10 + [429]  # ten addresses, ten guesses; the eleventh is refused...
    assert sign_in_attempt(app.test_client(), "ALICE", "password-alice", "198.51.100.1") == 429  # ...even right
    assert sign_in_attempt(app.test_client(), "bob", "password-bob", "203.0.113.0") == 302  # bob is not alice


def test_successful_sign_ins_do_not_count_against_the_account(make_app):
    app = make_app(rate_limits={"login": "", "login_per_account": "2/minute"})
    tokens_for(app, "alice")
    assert [sign_in_attempt(app.test_client(), "alice", "password-alice", "127.0.0.1") for _ in range(3)] == [302] * 3
    assert [sign_in_attempt(app.test_client(), "alice", "wrong-password", "127.0.0.1") for _ in range(3)] == [
        400, 400, 429]


def test_ipv6_addresses_in_one_64_share_a_sign_in_budget(make_app):
    app = make_app(rate_limits={"login": "2/minute", "login_per_account": ""})
    client = app.test_client()
    same_64 = ["2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:fffe", "2001:db8:1:2:abcd::7"]
    assert [sign_in_attempt(client, f"user{n}", "wrong-password", a) for n, a in enumerate(same_64)] == [400, 400, 429]
    assert sign_in_attempt(client, "user9", "wrong-password", "2001:db8:1:3::1") == 400  # the next /64
    assert [sign_in_attempt(client, "v4", "wrong-password", a) for a in ("192.0.2.1", "::ffff:192.0.2.1")] == [400, 400]
    assert sign_in_attempt(client, "v4", "wrong-password", "192.0.2.1") == 429  # a v4-mapped address is that v4 one


def test_an_unknown_login_takes_as_long_as_a_wrong_password(make_app):
    import statistics
    import time

    from alexandrie.services.users import set_active

    app = make_app(rate_limits={"enabled": False})
    tokens_for(app, "alice", "gone")
    with app.app_context(), connection():
        set_active("gone", False, actor="root")
    client = app.test_client()
    csrf = csrf_of(client, "/account/login")

    def seconds(login: str) -> float:
        started = time.perf_counter()
        response = client.post("/account/login", data={"login": login, "password": "wrong-password",
                                                       "csrf_token": csrf})
        assert response.status_code == 400
        return time.perf_counter() - started

    seconds("nobody-at-all")  # the first unknown login also makes the process's dummy hash
    timings = {"known": [], "unknown": [], "disabled": []}
    for _ in range(7):  # interleaved, so a slow moment of the machine hits every kind alike
        for kind, login in (("known", "alice"), ("unknown", "nobody-at-all"), ("disabled", "gone")):
            timings[kind].append(seconds(login))
    known = statistics.median(timings["known"])
    for kind in ("unknown", "disabled"):
        ratio = statistics.median(timings[kind]) / known
        assert 0.5 < ratio < 2, (kind, ratio, timings)


def test_a_limit_that_does_not_parse_is_a_config_error(make_app):
    with pytest.raises(ConfigError, match=r"\[rate_limits\] register = '5 a week' is not a rate limit"):
        make_app(rate_limits={"register": "5 a week"})
