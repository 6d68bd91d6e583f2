"""`alexandrie plugins`, and switching plugins off by name from the config or the environment."""

import pytest
from click.testing import CliRunner

from alexandrie import ConfigError
from alexandrie.app import create_app
from alexandrie.cli import main
from alexandrie.config import load_config
from alexandrie.db import connection
from alexandrie.plugins import describe_plugins, get_plugin_manager


@pytest.fixture
def config_file(tmp_path):
    def write(extra: str = "") -> str:
        path = tmp_path / "alexandrie.toml"
        path.write_text(f'[database]\nurl = "sqlite:///{tmp_path}/registry.db"\n'
                        f'[storage]\ntype = "disk"\npath = "{tmp_path}/crates"\n{extra}')
        return str(path)

    return write


def run(config: str, *args):
    return CliRunner().invoke(main, ["--config", config, *args], catch_exceptions=False)


def blocks(output: str) -> dict[str, list[str]]:
    """``name  [dist version]`` lines with their indented detail lines."""
    found, current = {}, None
    for line in output.splitlines():
        if line.startswith("    "):
            found[current].append(line.strip())
        else:
            current = line
            found[current] = []
    return found


def test_lists_distribution_version_and_hooks(config_file):
    from alexandrie import __version__

    listed = blocks(run(config_file(), "plugins").output)
    assert listed[f"alexandrie.defaults.auth_local  [alexandrie (built in) {__version__}]"] == \
        ["hooks: alexandrie_authenticate_request, alexandrie_check_password"]
    assert listed["storage-disk  [alexandrie-storage-disk 0.1.0]"] == ["hooks: alexandrie_storage_backends"]
    assert listed["webhooks  [alexandrie-webhooks 0.1.0]"] == \
        ["hooks: alexandrie_admin_links, alexandrie_blueprints, alexandrie_check_config, alexandrie_commands, "
         "alexandrie_event, alexandrie_event_in_transaction, alexandrie_models, alexandrie_startup"]


@pytest.mark.parametrize("setting", ['[general]\ndisabled_plugins = ["webhooks"]\n',
                                     '[plugins]\ndisabled = ["webhooks"]\n'])
def test_config_switches_a_plugin_off_without_uninstalling_it(config_file, setting):
    config = config_file(setting)
    listed = blocks(run(config, "plugins").output)
    assert listed["webhooks  [alexandrie-webhooks 0.1.0]"] == ["disabled (by config or ALEXANDRIE_DISABLE_PLUGINS)"]
    assert "No such command 'webhooks'" in CliRunner().invoke(main, ["--config", config, "webhooks", "list"]).output

    app = create_app(config)
    assert "alexandrie_webhooks" not in app.extensions
    with app.app_context(), connection() as db:
        assert "webhook_delivery" not in db.get_tables()
    app.extensions["alexandrie"].database.close_all()

    enabled = config_file()
    assert "webhooks" in run(enabled, "--help").output


def test_environment_switches_a_plugin_off(config_file, monkeypatch):
    monkeypatch.setenv("ALEXANDRIE_DISABLE_PLUGINS", "webhooks, alexandrie.defaults.render_plain")
    listed = blocks(run(config_file(), "plugins").output)
    assert listed["webhooks  [alexandrie-webhooks 0.1.0]"] == ["disabled (by config or ALEXANDRIE_DISABLE_PLUGINS)"]
    assert listed[next(k for k in listed if k.startswith("alexandrie.defaults.render_plain "))] == \
        ["disabled (by config or ALEXANDRIE_DISABLE_PLUGINS)"]


def test_disabling_applies_to_a_plugin_manager_built_before_the_config(make_app):
    """Tests and embedders pass their own manager: the config still wins. Without the disk plugin the
    configured storage is unknown, and start-up says so."""
    with pytest.raises(ConfigError, match="not an installed storage backend.*not disabled"):
        make_app(general={"disabled_plugins": ["storage-disk"]})


def test_disabled_plugins_reads_both_settings_and_the_environment(monkeypatch):
    monkeypatch.setenv("ALEXANDRIE_DISABLE_PLUGINS", "c")
    settings = load_config({"general": {"disabled_plugins": ["a"]}, "plugins": {"disabled": "b1, b2"}})
    assert settings.disabled_plugins == ("a", "b1", "b2", "c")
    with pytest.raises(ConfigError, match=r'\[general\] disabled_plugins = \[1\]: write a list of plugin names'):
        load_config({"general": {"disabled_plugins": [1]}})


def test_describe_plugins_marks_disabled_ones():
    rows = {row["name"]: row for row in describe_plugins(get_plugin_manager(blocked=["webhooks"]))}
    assert rows["webhooks"]["disabled"] and rows["webhooks"]["distribution"] == "alexandrie-webhooks"
    assert not rows["storage-disk"]["disabled"] and rows["storage-disk"]["version"] == "0.1.0"


def test_a_bad_config_is_reported_by_the_plugins_command(config_file):
    result = CliRunner().invoke(main, ["--config", config_file("[general]\ndisabled_plugins = [1]\n"), "plugins"])
    assert result.exit_code == 1 and "write a list of plugin names" in result.output


@pytest.fixture
def a_plugin_that_fails_to_import(monkeypatch):
    """An installed entry point whose module is gone (a half-removed distribution)."""
    from importlib.metadata import EntryPoint

    import alexandrie.plugins

    real = alexandrie.plugins.entry_points
    broken = EntryPoint(name="broken", value="alexandrie_no_such_plugin_module", group="alexandrie")
    monkeypatch.setattr(alexandrie.plugins, "entry_points", lambda group: [broken, *real(group=group)])


def test_a_plugin_that_fails_to_load_is_reported_and_every_other_command_stays(config_file,
                                                                                a_plugin_that_fails_to_import):
    config = config_file()
    help_text = CliRunner().invoke(main, ["--config", config, "--help"])
    assert help_text.exit_code == 0
    assert ("warning: plugin broken could not be loaded (ModuleNotFoundError: No module named "
            "'alexandrie_no_such_plugin_module'); its commands are missing") in help_text.stderr
    assert "webhooks" in help_text.stdout and "user" in help_text.stdout  # an unrelated plugin's, the core's
    listed = blocks(CliRunner().invoke(main, ["--config", config, "plugins"]).stdout)
    assert listed["broken  [not installed -]"] == \
        ["failed to load: ModuleNotFoundError: No module named 'alexandrie_no_such_plugin_module'"]
    refused = CliRunner().invoke(main, ["--config", config, "init"])
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert "plugin broken could not be loaded" in refused.output and \
        'disabled_plugins = ["broken"]' in refused.output
    assert CliRunner().invoke(main, ["--config", config_file('[general]\ndisabled_plugins = ["broken"]\n'),
                                     "init"]).exit_code == 0


def test_one_invocation_builds_the_plugin_manager_once(config_file, monkeypatch):
    import alexandrie.cli.context

    built = []
    real = alexandrie.cli.context.get_plugin_manager
    monkeypatch.setattr(alexandrie.cli.context, "get_plugin_manager",
                        lambda *args, **kwargs: built.append(1) or real(*args, **kwargs))
    for args in (["--help"], ["index", "--help"], ["webhooks", "list"], ["index", "rebuild"]):
        built.clear()
        result = CliRunner().invoke(main, ["--config", config_file(), *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert built == [1], args
