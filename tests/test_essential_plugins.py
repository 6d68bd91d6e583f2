"""The built-ins that enforce security cannot be switched off, and a token does only what its scopes allow
whatever the configuration says."""

import pytest
from click.testing import CliRunner

from alexandrie.app import create_app
from alexandrie.cli import main
from alexandrie.db import connection
from alexandrie.errors import ConfigError
from alexandrie.models import User
from alexandrie.plugins import ESSENTIAL_PLUGINS, get_plugin_manager
from alexandrie.services.tokens import create_token
from alexandrie.testing import KIT_PLUGINS, create_user_with_token, publish
from alexandrie.testing import test_config as registry_config


@pytest.mark.parametrize("name", sorted(ESSENTIAL_PLUGINS))
def test_disabling_an_essential_plugin_is_refused_at_start_up(make_app, name):
    with pytest.raises(ConfigError, match=rf"{name} cannot be disabled: it "):
        make_app(general={"disabled_plugins": [name]})


def test_the_refusal_reaches_an_operator_as_two_lines(tmp_path, monkeypatch):
    config = tmp_path / "alexandrie.toml"
    config.write_text('[database]\nurl = "reg.db"\n[storage]\npath = "crates"\n'
                      '[general]\ndisabled_plugins = ["alexandrie.defaults.token_scopes"]\n')
    result = CliRunner().invoke(main, ["--config", str(config), "init"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "alexandrie.defaults.token_scopes cannot be disabled: it enforces token scopes" in result.output
    monkeypatch.setenv("ALEXANDRIE_DISABLE_PLUGINS", "alexandrie.defaults.read_only")
    config.write_text('[database]\nurl = "reg.db"\n[storage]\npath = "crates"\n')
    result = CliRunner().invoke(main, ["--config", str(config), "init"])
    assert result.exit_code == 1 and "alexandrie.defaults.read_only cannot be disabled" in result.output


def test_a_plugin_manager_without_an_essential_plugin_does_not_start(tmp_path):
    """An embedder (or a test) that builds its own manager cannot leave them out either."""
    pm = get_plugin_manager(load_entrypoints=False, named=KIT_PLUGINS)
    pm.unregister(name="alexandrie.defaults.token_scopes")
    with pytest.raises(ConfigError, match="alexandrie.defaults.token_scopes is not registered"):
        create_app(registry_config(tmp_path), pm=pm)


def test_a_read_scoped_token_cannot_publish_whatever_the_config_says(make_app):
    app = make_app(general={"disabled_plugins": ["alexandrie.defaults.render_plain"]}, rate_limits={"enabled": False})
    create_user_with_token(app, "alice")
    with app.app_context(), connection():
        read_only = create_token(User.get(User.login == "alice"), "reader", scopes=["read"])[1]
    client = app.test_client()
    refused = publish(client, read_only, "new-crate")
    assert refused.status_code == 403 and "lacks the `publish-new` scope" in refused.get_json()["errors"][0]["detail"]
    assert client.get("/api/v1/crates/new-crate/owners").status_code == 404
