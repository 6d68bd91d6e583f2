"""The proxy-header plugin: believed only from trusted proxies, identities usable like token users."""

import sys
from pathlib import Path

import pytest

from alexandrie import connection, create_user
from alexandrie.models import User
from alexandrie.testing import crate_metadata, make_crate, publish_body

try:
    import alexandrie_auth_proxy_header as plugin
except ImportError:  # run from a checkout without installing the example
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import alexandrie_auth_proxy_header as plugin


def proxied_registry(make_app, **settings):
    return make_app(plugins=[plugin], general={"auth_required": True}, rate_limits={"enabled": False},
                    plugin_config={"auth-proxy-header": {"trusted_proxies": ["127.0.0.0/8"], **settings}})


@pytest.fixture
def app(make_app):
    app = proxied_registry(make_app)
    with app.app_context(), connection():
        create_user("alice")
    return app


def upload(name):
    return publish_body(crate_metadata(name, "0.1.0"), make_crate(name, "0.1.0"))


def test_trusted_proxy_header_identifies_the_user(app):
    client = app.test_client()
    headers = {"X-Remote-User": "alice"}
    assert client.get("/index/config.json", headers=headers).status_code == 200
    assert client.put("/api/v1/crates/new", data=upload("proxied"), headers=headers).status_code == 200
    assert client.get("/api/v1/crates/proxied/owners", headers=headers).get_json()["users"][0]["login"] == "alice"


def test_header_from_an_untrusted_address_is_ignored(app):
    client = app.test_client()
    response = client.get("/index/config.json", headers={"X-Remote-User": "alice"},
                          environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert response.status_code == 401


def test_unknown_or_disabled_users_are_refused_unless_creation_is_on(app, make_app):
    client = app.test_client()
    response = client.get("/index/config.json", headers={"X-Remote-User": "mallory"})
    assert response.status_code == 401 and "no active account" in response.get_json()["errors"][0]["detail"]
    app = proxied_registry(make_app, create_users=True)
    client = app.test_client()
    assert client.get("/index/config.json", headers={"X-Remote-User": "mallory"}).status_code == 200
    with app.app_context(), connection():
        assert User.get_or_none(User.login == "mallory") is not None


def test_trusted_networks():
    assert plugin.from_trusted_proxy("10.1.2.3", ["10.0.0.0/8"])
    assert not plugin.from_trusted_proxy("10.1.2.3", ["127.0.0.1"])
    assert not plugin.from_trusted_proxy(None, ["127.0.0.1"]) and not plugin.from_trusted_proxy("x", ["127.0.0.1"])
