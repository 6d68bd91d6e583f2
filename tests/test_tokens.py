"""Scoped, crate-limited and expiring API tokens; read-only users; the token CLI."""

from datetime import timedelta

import pytest
from click.testing import CliRunner

from alexandrie.cli import main
from alexandrie.db import connection
from alexandrie.errors import BadRequest
from alexandrie.models import ApiToken, User, utcnow
from alexandrie.rules.tokens import expiry_from, pattern_matches
from alexandrie.services.tokens import create_token
from alexandrie.services.users import create_user, set_active, set_roles
from alexandrie.testing import publish


def detail(response) -> str:
    return response.get_json()["errors"][0]["detail"]


@pytest.fixture
def registry(make_app):
    app = make_app(rate_limits={"enabled": False})
    with app.app_context(), connection():
        alice = create_user("alice")
        full = create_token(alice, "full")[1]
    client = app.test_client()

    def token(**kwargs):
        with app.app_context(), connection():
            return create_token(alice, kwargs.pop("label", "scoped"), **kwargs)[1]

    return app, client, full, token


def test_scopes_limit_each_action_and_name_the_missing_one(registry):
    app, client, full, token = registry
    new_only = token(scopes=["publish-new"], label="bootstrap")
    assert publish(client, new_only, "fresh").status_code == 200
    refused = publish(client, new_only, "fresh", "0.2.0")
    assert refused.status_code == 403 and "`publish-update` scope" in detail(refused) and "`bootstrap`" in detail(refused)
    assert client.get("/index/fr/es/fresh").text.count("\n") == 1  # nothing stored

    yank = client.delete("/api/v1/crates/fresh/0.1.0/yank", headers={"Authorization": new_only})
    assert yank.status_code == 403 and "`yank` scope" in detail(yank)
    owners = client.put("/api/v1/crates/fresh/owners", json={"users": ["alice"]}, headers={"Authorization": new_only})
    assert owners.status_code == 403 and "`change-owners` scope" in detail(owners)

    yanker = token(scopes=["yank"])
    assert client.delete("/api/v1/crates/fresh/0.1.0/yank", headers={"Authorization": yanker}).status_code == 200
    assert client.put("/api/v1/crates/fresh/0.1.0/unyank", headers={"Authorization": yanker}).status_code == 200
    assert publish(client, full, "fresh", "0.3.0").status_code == 200  # legacy unrestricted token


def test_crate_patterns_limit_publish_yank_and_owners(registry):
    app, client, full, token = registry
    team = token(scopes=["publish-new", "publish-update", "yank"], crate_patterns=["my-team-*"], label="team-ci")
    assert publish(client, team, "my-team-api").status_code == 200
    assert publish(client, team, "my-team-api", "0.2.0").status_code == 200
    refused = publish(client, team, "other-crate")
    assert refused.status_code == 403 and "`my-team-*`" in detail(refused) and "`other-crate`" in detail(refused)
    assert client.get("/index/ot/he/other-crate").status_code == 404
    assert publish(client, full, "other-crate").status_code == 200
    yank = client.delete("/api/v1/crates/other-crate/0.1.0/yank", headers={"Authorization": team})
    assert yank.status_code == 403 and "`my-team-*`" in detail(yank)


def test_pattern_rule():
    assert pattern_matches("my-team-*", "My_Team_x") and pattern_matches("serde", "serde")
    assert not pattern_matches("serde", "serde-json") and not pattern_matches("my-team-*", "my-tea")


def test_expired_token_is_refused_saying_so(registry):
    app, client, _, token = registry
    old = token(expires_at=utcnow() - timedelta(seconds=1), label="last-month")
    response = publish(client, old, "late")
    assert response.status_code == 403 and "`last-month` expired at" in detail(response)
    fresh = token(expires_at=utcnow() + timedelta(days=1))
    assert publish(client, fresh, "late").status_code == 200


def test_a_disabled_accounts_token_says_so_and_whom_to_ask(registry):
    """A new token would not help a disabled account, so the refusal must not send the user to make one."""
    app, client, full, _ = registry
    with app.app_context(), connection():
        set_active("alice", False, actor="root")
    refused = publish(client, full, "after")
    assert refused.status_code == 403
    assert detail(refused) == ("the account `alice` this API token belongs to is disabled; ask an administrator of "
                               "this registry to enable it again (`alexandrie user enable alice`)")
    with app.app_context(), connection():
        set_active("alice", True, actor="root")
    assert publish(client, full, "after").status_code == 200


@pytest.fixture
def acme(make_app):
    """A registry whose cargo users call it `acme`, with one full, one revoked, one expired and one yank-only
    token."""
    app = make_app(rate_limits={"enabled": False}, general={"registry_name": "acme"})
    with app.app_context(), connection():
        bob = create_user("bob")
        tokens = {label: create_token(bob, label, **kwargs)[1] for label, kwargs in (
            ("full", {}), ("revoked", {}), ("old", {"expires_at": utcnow() - timedelta(seconds=1)}),
            ("yank-only", {"scopes": ["yank"]}))}
        ApiToken.update(revoked_at=utcnow()).where(ApiToken.label == "revoked").execute()
    return app, tokens


@pytest.mark.parametrize("token, words", [
    (None, "needs an API token"), ("revoked", "revoked"), ("old", "expired"), ("yank-only", "`publish-new` scope"),
])
def test_every_cargo_login_hint_names_the_configured_registry(acme, token, words):
    app, tokens = acme
    refused = publish(app.test_client(), tokens.get(token), "named")
    assert refused.status_code == 403 and words in detail(refused)
    assert "`cargo login --registry acme`" in detail(refused) and "NAME" not in detail(refused)


def test_a_private_registrys_gate_names_the_configured_registry(make_app):
    app = make_app(general={"registry_name": "acme", "auth_required": True})
    response = app.test_client().get("/index/config.json")
    assert response.status_code == 401 and "`cargo login --registry acme`" in detail(response)


def test_last_use_is_recorded(registry):
    app, client, full, _ = registry
    assert publish(client, full, "used").status_code == 200
    with app.app_context(), connection():
        assert ApiToken.get(ApiToken.label == "full").last_used_at is not None


def test_read_only_user_may_download_but_never_write(registry):
    app, client, full, _ = registry
    assert publish(client, full, "shared").status_code == 200
    with app.app_context(), connection():
        reader = create_user("reader")
        reader_token = create_token(reader, "laptop")[1]
        set_roles("reader", "test", read_only=True)
    refused = publish(client, reader_token, "mine")
    assert refused.status_code == 403 and "read-only" in detail(refused)
    assert client.get("/index/mi/ne/mine").status_code == 404
    headers = {"Authorization": reader_token}
    assert client.get("/api/v1/crates/shared/0.1.0/download", headers=headers).status_code == 200
    with app.app_context(), connection():
        from alexandrie.models import Crate, CrateOwner, User
        CrateOwner.create(crate=Crate.get(Crate.name == "shared"), user=User.get(User.login == "reader"))
    yank = client.delete("/api/v1/crates/shared/0.1.0/yank", headers=headers)
    assert yank.status_code == 403 and "read-only" in detail(yank)


def test_unknown_scope_and_bad_expiry_are_refused(registry):
    app, *_ = registry
    with app.app_context(), connection():
        with pytest.raises(BadRequest, match="unknown token scope"):
            create_token(create_user("x"), "t", scopes=["publish"])
    with pytest.raises(BadRequest, match="like 30d"):
        expiry_from("30 days")
    assert expiry_from(None) is None
    assert timedelta(days=29) < expiry_from("30d") - utcnow() <= timedelta(days=30)


def cli_config(tmp_path):
    path = tmp_path / "alexandrie.toml"
    path.write_text('[general]\npublic_url = "http://127.0.0.1:9"\n[database]\nurl = "sqlite:///reg.db"\n'
                    '[storage]\ntype = "disk"\npath = "crates"\n')
    return ["--config", str(path)]


def test_token_cli_create_list_revoke(tmp_path):
    runner = CliRunner()
    config = cli_config(tmp_path)
    assert runner.invoke(main, [*config, "user", "create", "ci-bot"]).exit_code == 0
    made = runner.invoke(main, [*config, "token", "create", "ci-bot", "--label", "deploy", "--scope", "read",
                                "--scope", "publish-update", "--crate", "my-*", "--expires-in", "30d"])
    assert made.exit_code == 0, made.output
    assert made.stdout.strip().splitlines()[-1].startswith("alx_")
    listed = runner.invoke(main, [*config, "token", "list", "ci-bot"]).stdout
    assert "deploy\tactive\tscopes=read,publish-update\tcrates=my-*\texpires=20" in listed
    assert "alx_" not in listed
    token_id = listed.split("\t")[0]
    assert runner.invoke(main, [*config, "token", "revoke", token_id]).stdout.strip() == f"revoked token {token_id}"
    assert "\trevoked\t" in runner.invoke(main, [*config, "token", "list", "ci-bot"]).stdout
    bad = runner.invoke(main, [*config, "token", "create", "ci-bot", "--scope", "admin"])
    assert bad.exit_code != 0 and "unknown token scope admin" in bad.output
    bad = runner.invoke(main, [*config, "token", "create", "ci-bot", "--crate", "a/b"])
    assert bad.exit_code != 0 and "crate pattern 'a/b'" in bad.output


def test_account_page_creates_scoped_expiring_tokens(make_app):
    import re

    app = make_app(rate_limits={"enabled": False})
    with app.app_context(), connection():
        create_user("alice", password="password-alice")
    client = app.test_client()
    page = client.get("/account/login").text
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    client.post("/account/login", data={"login": "alice", "password": "password-alice", "csrf_token": csrf})
    made = client.post("/account/tokens", data={"label": "team-ci", "scopes": ["read", "publish-update"],
                                                "crates": "my-team-*, tools", "expires": "30d", "csrf_token": csrf})
    assert made.status_code == 200
    token = re.search(r'<code id="new-token">([^<]+)</code>', made.text).group(1)
    assert "read, publish-update" in made.text and "my-team-*, tools" in made.text
    with app.app_context(), connection():
        row = ApiToken.get(ApiToken.label == "team-ci")
        assert (row.scopes, row.crate_patterns) == (["read", "publish-update"], ["my-team-*", "tools"])
        assert timedelta(days=29) < row.expires_at - utcnow() <= timedelta(days=30)
    with app.app_context(), connection():
        full = create_token(User.get(User.login == "alice"), "full")[1]
    assert publish(client, full, "elsewhere").status_code == 200
    refused = publish(client, token, "elsewhere", "0.2.0")  # a scope it has, on a crate outside its patterns
    assert refused.status_code == 403 and "`my-team-*`, `tools`" in detail(refused)
    bad = client.post("/account/tokens", data={"label": "x", "crates": "a/b", "csrf_token": csrf})
    assert bad.status_code == 400 and "crate pattern" in bad.text
    bad = client.post("/account/tokens", data={"label": "x", "scopes": ["admin"], "csrf_token": csrf})
    assert bad.status_code == 400
    with app.app_context(), connection():
        assert ApiToken.select().where(ApiToken.label == "x").count() == 0
