"""The real cargo against an auth-required registry: a token is needed for everything, and refusals say why."""

from datetime import timedelta

import pytest

from alexandrie.db import connection
from alexandrie.models import utcnow
from alexandrie.services.tokens import create_token
from alexandrie.services.users import create_user
from alexandrie.testing import LiveServer, write_package

pytestmark = pytest.mark.cargo


@pytest.fixture
def private_server(make_app):
    app = make_app(general={"auth_required": True})
    server = LiveServer(app).start()
    with app.app_context(), connection():
        alice = create_user("alice")
        tokens = {
            "good": create_token(alice, "laptop")[1],
            "expired": create_token(alice, "old-ci", expires_at=utcnow() - timedelta(minutes=5))[1],
            "no-read": create_token(alice, "publisher", scopes=["publish-new", "publish-update"])[1],
            "read-only": create_token(alice, "ci-build", scopes=["read"])[1],
        }
    yield server, tokens
    server.stop()


def private_cargo(cargo_factory, server, token, name):
    cargo = cargo_factory(server, token, name=name)
    config = cargo.home / "config.toml"
    config.write_text(config.read_text().replace(
        "[registries.alex]\n", '[registries.alex]\ncredential-provider = "cargo:token"\n'))
    return cargo


def test_cargo_needs_a_valid_reading_token(private_server, cargo_factory, tmp_path):
    server, tokens = private_server
    cargo = private_cargo(cargo_factory, server, tokens["good"], "home-good")
    lib = write_package(tmp_path / "src", "priv-lib")
    cargo.run("publish", "--registry", "alex", "--no-verify", cwd=lib)

    consumer = write_package(tmp_path / "src", "priv-app", manifest_extra='[dependencies]\n'
                             'priv-lib = { version = "0.1", registry = "alex" }\n',
                             main="fn main() { println!(\"{}\", priv_lib::hello()); }\n")
    built = cargo.run("run", "-q", cwd=consumer)
    assert built.stdout.strip() == "hello"

    found = cargo.run("search", "priv", "--registry", "alex", cwd=tmp_path)
    assert "priv-lib" in found.stdout

    read_only = private_cargo(cargo_factory, server, tokens["read-only"], "home-read-only")
    assert read_only.run("search", "priv", "--registry", "alex", cwd=tmp_path).stdout.startswith("priv-lib = \"0.1.0\"")
    refused = read_only.run("yank", "priv-lib@0.1.0", "--registry", "alex", cwd=tmp_path, check=False)
    assert refused.returncode != 0 and "lacks the `yank` scope" in refused.stderr, refused.stderr

    anonymous = private_cargo(cargo_factory, server, None, "home-anonymous")
    for args in (("generate-lockfile",), ("search", "priv", "--registry", "alex")):
        result = anonymous.run(*args, cwd=consumer, check=False)
        assert result.returncode != 0 and "no token found for `alex`" in result.stderr, result.stderr

    expired = private_cargo(cargo_factory, server, tokens["expired"], "home-expired")
    result = expired.run("generate-lockfile", cwd=consumer, check=False)
    assert result.returncode != 0
    assert "token rejected for `alex`" in result.stderr and "expired at" in result.stderr, result.stderr
    result = expired.run("search", "priv", "--registry", "alex", cwd=tmp_path, check=False)
    assert result.returncode != 0 and "expired at" in result.stderr, result.stderr

    no_read = private_cargo(cargo_factory, server, tokens["no-read"], "home-no-read")
    result = no_read.run("generate-lockfile", cwd=consumer, check=False)
    assert result.returncode != 0 and "lacks the `read` scope" in result.stderr, result.stderr
