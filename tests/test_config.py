"""config.py: sizes, relative paths, SQLite URLs, environment overrides, and start-up failures that name the fix."""

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

import alexandrie_storage_disk
from alexandrie.app import create_app
from alexandrie.cli import main
from alexandrie.config import load_config, parse_size, sqlite_url_relative_to
from alexandrie.errors import ConfigError
from alexandrie.plugins import get_plugin_manager
from alexandrie.testing import test_config as registry_config


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """Overrides from the developer's shell must not leak into these tests."""
    for var in list(os.environ):
        if var.startswith("ALEXANDRIE_"):
            monkeypatch.delenv(var)


def write_config(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "alexandrie.toml"
    path.write_text(text)
    return path


# --- Sizes --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value, expected", [
    (1234, 1234), ("1234", 1234), ("0", 0), ("10 MiB", 10 * 1024**2), ("10MiB", 10 * 1024**2),
    ("50 MB", 50_000_000), ("1 kb", 1000), ("1 KiB", 1024), ("1.5 KiB", 1536), ("2 GiB", 2 * 1024**3),
    ("3 b", 3), (" 7 mib ", 7 * 1024**2), ("1 TiB", 1024**4),
])
def test_sizes_parse_to_bytes(value, expected):
    assert parse_size(value, "max_crate_size") == expected


@pytest.mark.parametrize("value", ["ten megabytes", "10 XB", "-5", "10 MiB extra", "", "MiB", "1,5 MiB"])
def test_bad_sizes_name_the_key_and_the_fix(value):
    with pytest.raises(ConfigError) as caught:
        parse_size(value, "max_crate_size")
    assert "max_crate_size" in str(caught.value) and "10 MiB" in str(caught.value)


def test_sizes_in_a_config_file_are_parsed(tmp_path):
    path = write_config(tmp_path, '[general]\nmax_crate_size = "1 MiB"\nmax_unpacked_size = 2048\n')
    general = load_config(path).general
    assert general.max_crate_size == 1024**2 and general.max_unpacked_size == 2048
    assert general.max_metadata_size == 2 * 1024**2


def test_a_bad_size_in_a_config_file_fails_at_load(tmp_path):
    path = write_config(tmp_path, '[general]\nmax_unpacked_size = "huge"\n')
    with pytest.raises(ConfigError, match="max_unpacked_size"):
        load_config(path)


# --- Paths and database URLs ------------------------------------------------------------------------


def test_relative_paths_resolve_against_the_config_folder(tmp_path, monkeypatch):
    path = write_config(tmp_path / "etc", '[storage]\ntype = "disk"\npath = "crates"\n'
                                          '[index]\ntype = "sparse"\npath = "../index"\n'
                                          '[database]\nurl = "sqlite:///db/reg.db"\n')
    monkeypatch.chdir(tmp_path)
    config = load_config(path)
    assert config.storage["path"] == str(tmp_path / "etc" / "crates")
    assert config.index["path"] == str(tmp_path / "index")
    assert config.database.url == f"sqlite:///{tmp_path}/etc/db/reg.db"
    assert config.base_dir == str(tmp_path / "etc")


def test_relative_config_path_given_from_another_folder(tmp_path, monkeypatch):
    write_config(tmp_path / "conf", '[storage]\npath = "crates"\n')
    monkeypatch.chdir(tmp_path)
    assert load_config("conf/alexandrie.toml").storage["path"] == str(tmp_path / "conf" / "crates")


def test_absolute_paths_stay(tmp_path):
    path = write_config(tmp_path, f'[storage]\npath = "{tmp_path}/elsewhere"\n')
    assert load_config(path).storage["path"] == str(tmp_path / "elsewhere")


@pytest.mark.parametrize("url, expected", [
    ("data/reg.db", "sqlite:///{base}/data/reg.db"),
    ("reg.db", "sqlite:///{base}/reg.db"),
    ("sqlite:///data/reg.db", "sqlite:///{base}/data/reg.db"),
    ("sqlite:////var/lib/reg.db", "sqlite:////var/lib/reg.db"),
    ("/var/lib/reg.db", "sqlite:////var/lib/reg.db"),
    (":memory:", "sqlite:///:memory:"),
    ("sqlite:///:memory:", "sqlite:///:memory:"),
    ("postgresql://postgres@127.0.0.1/test", "postgresql://postgres@127.0.0.1/test"),
    ("mysql://root@127.0.0.1:3306/test", "mysql://root@127.0.0.1:3306/test"),
])
def test_sqlite_urls_accept_plain_paths_and_resolve_relative_ones(tmp_path, url, expected):
    assert sqlite_url_relative_to(url, tmp_path) == expected.format(base=tmp_path)


def test_the_plain_path_sqlite_form_works_for_a_real_app(tmp_path):
    (tmp_path / "plain").mkdir()  # a folder other than data/ must exist: a typo is refused, not created
    config = registry_config(tmp_path, database={"url": "plain/registry.db"})
    app = create_app(config, pm=get_plugin_manager(load_entrypoints=False, plugins=[alexandrie_storage_disk]))
    assert (tmp_path / "plain" / "registry.db").is_file()
    assert app.test_client().get("/health").status_code == 200


def test_defaults_without_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_config()
    assert dict(config.storage) == {"type": "disk", "path": str(tmp_path / "data" / "crate-storage")}
    assert config.database.url == f"sqlite:///{tmp_path}/data/alexandrie.db"
    assert config.general.public_url == "http://127.0.0.1:3000"


def test_the_file_in_the_working_folder_is_found(tmp_path, monkeypatch):
    write_config(tmp_path, '[general]\nregistry_name = "here"\n')
    monkeypatch.chdir(tmp_path)
    assert load_config().general.registry_name == "here"


def test_alexandrie_config_names_the_file(tmp_path, monkeypatch):
    path = write_config(tmp_path / "x", '[general]\nregistry_name = "from-env"\n')
    monkeypatch.setenv("ALEXANDRIE_CONFIG", str(path))
    monkeypatch.chdir(tmp_path)
    assert load_config().general.registry_name == "from-env"


def test_a_missing_config_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")


def test_invalid_toml_names_the_file(tmp_path):
    path = write_config(tmp_path, "[general\nbroken = ")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(path) in str(caught.value) and "not valid TOML" in str(caught.value)


@pytest.mark.parametrize("url", ["ftp://example.com/x", "127.0.0.1:3000", "http://", "http://a b"])
def test_public_url_must_be_http(tmp_path, url):
    with pytest.raises(ConfigError, match="public_url"):
        load_config(write_config(tmp_path, f'[general]\npublic_url = "{url}"\n'))


def test_public_url_loses_its_trailing_slash(tmp_path):
    path = write_config(tmp_path, '[general]\npublic_url = "https://crates.example.com/"\n')
    assert load_config(path).general.public_url == "https://crates.example.com"


# --- Environment overrides -----------------------------------------------------------------------------


def test_environment_overrides_win_over_the_file(tmp_path, monkeypatch):
    path = write_config(tmp_path, '[database]\nurl = "sqlite:///file.db"\n[general]\nthreads = 2\n')
    monkeypatch.setenv("ALEXANDRIE_DATABASE_URL", "postgresql://postgres@127.0.0.1/test")
    monkeypatch.setenv("ALEXANDRIE_GENERAL_THREADS", "16")
    monkeypatch.setenv("ALEXANDRIE_GENERAL_AUTH_REQUIRED", "yes")
    monkeypatch.setenv("ALEXANDRIE_GENERAL_MAX_CRATE_SIZE", "1 MiB")
    monkeypatch.setenv("ALEXANDRIE_STORAGE_PATH", "from-env")
    config = load_config(path)
    assert config.database.url == "postgresql://postgres@127.0.0.1/test"
    assert config.general.threads == 16
    assert config.general.auth_required is True
    assert config.general.max_crate_size == 1024**2
    assert config.storage["path"] == str(tmp_path / "from-env")


@pytest.mark.parametrize("value, expected", [("1", True), ("true", True), ("ON", True), ("0", False),
                                             ("false", False), ("no", False)])
def test_boolean_overrides(tmp_path, monkeypatch, value, expected):
    monkeypatch.setenv("ALEXANDRIE_GENERAL_AUTH_REQUIRED", value)
    assert load_config(write_config(tmp_path, "")).general.auth_required is expected


def test_a_bad_number_in_the_environment_names_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("ALEXANDRIE_GENERAL_THREADS", "many")
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(tmp_path, ""))
    assert "ALEXANDRIE_GENERAL_THREADS" in str(caught.value)


def test_unrelated_and_plugin_variables_are_not_overrides(tmp_path, monkeypatch):
    monkeypatch.setenv("ALEXANDRIE_PLUGINS_SECRET", "x")
    monkeypatch.setenv("ALEXANDRIE_NOSUCH_KEY", "x")
    monkeypatch.setenv("ALEXANDRIE_DISABLE_PLUGINS", "a,b")
    config = load_config(write_config(tmp_path, ""))
    assert dict(config.plugins) == {} and config.disabled_plugins == ("a", "b")


def test_environment_overrides_apply_to_a_config_mapping(tmp_path, monkeypatch):
    monkeypatch.setenv("ALEXANDRIE_GENERAL_REGISTRY_NAME", "mapped")
    assert load_config({"base_dir": str(tmp_path)}).general.registry_name == "mapped"


# --- Backends chosen by name -------------------------------------------------------------------------------


def build(tmp_path, **sections):
    return create_app(registry_config(tmp_path, **sections),
                      pm=get_plugin_manager(load_entrypoints=False, plugins=[alexandrie_storage_disk]))


def test_an_unknown_storage_type_fails_listing_the_installed_names(tmp_path):
    with pytest.raises(ConfigError) as caught:
        build(tmp_path, storage={"type": "floppy"})
    message = str(caught.value)
    assert "[storage] type = 'floppy'" in message and "installed: disk" in message and "pip install" in message


def test_an_unknown_index_type_fails_listing_the_installed_names(tmp_path):
    with pytest.raises(ConfigError) as caught:
        build(tmp_path, index={"type": "carrier-pigeon"})
    assert "installed: sparse" in str(caught.value)


def test_aliases_select_the_same_backend(tmp_path):
    app = build(tmp_path, storage={"type": "local"}, index={"type": "none"})
    assert type(app.extensions["alexandrie"].storage).__name__ == "DiskStorage"


def test_a_backend_that_cannot_start_says_why(tmp_path):
    with pytest.raises(ConfigError, match="needs path"):
        build(tmp_path, storage={"type": "disk", "path": ""})


def test_an_unknown_database_scheme_fails_with_the_forms_it_accepts(tmp_path):
    with pytest.raises(ConfigError, match="sqlite:///PATH"):
        build(tmp_path, database={"url": "oracle://db/x"})


def test_the_cli_reports_an_unknown_storage_type_without_a_traceback(tmp_path):
    path = write_config(tmp_path, '[storage]\ntype = "floppy"\npath = "crates"\n[database]\nurl = "reg.db"\n')
    result = CliRunner().invoke(main, ["--config", str(path), "init"])
    assert result.exit_code == 1
    assert "[storage] type = 'floppy'" in result.output and "installed:" in result.output and "disk" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("text, key", [('[general]\nthreads = "lots"\n', "threads"),
                                       ('[database]\nmax_conns = "plenty"\n', "max_conns")])
def test_a_bad_number_in_the_file_names_the_key(tmp_path, text, key):
    with pytest.raises(ConfigError, match=key):
        load_config(write_config(tmp_path, text))


# --- Typed settings: a wrong type, an unknown key or section stops the start-up -------------------------------


@pytest.mark.parametrize("text, expected", [
    ('[general]\nauth_required = "false"\n', '[general] auth_required = "false": write true or false, without quotes'),
    ('[general]\nauth_required = "maybe"\n', '[general] auth_required = "maybe": write true or false'),
    ('[general]\nthreads = "4"\n', '[general] threads = "4": write a whole number of at least 1, without quotes'),
    ('[general]\nthreads = 0\n', "[general] threads = 0: write a whole number of at least 1"),
    ('[frontend]\nenabled = 1\n', "[frontend] enabled = 1: write true or false"),
    ('[rate_limits]\npublish = 30\n', "[rate_limits] publish = 30: write text, in quotes"),
    ('[storage]\ntype = 7\n', '[storage] type = 7: write the backend\'s name, like type = "disk"'),
])
def test_a_value_of_the_wrong_type_names_the_file_the_key_and_what_is_allowed(tmp_path, text, expected):
    path = write_config(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: ") and expected in str(caught.value)


def test_an_unknown_key_is_an_error_with_a_did_you_mean(tmp_path):
    path = write_config(tmp_path, '[general]\nbind_adress = "0.0.0.0:3000"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert f"{path}: [general] bind_adress is not a setting (did you mean bind_address?)" in message
    assert "registry_name" in message  # and lists what [general] takes


def test_an_unknown_section_is_an_error_with_a_did_you_mean(tmp_path):
    with pytest.raises(ConfigError, match=r"\[databse\] is not a section of the configuration \(did you mean "
                                          r"database\?\)"):
        load_config(write_config(tmp_path, '[databse]\nurl = "x.db"\n'))


@pytest.mark.parametrize("variable, value, expected", [
    ("ALEXANDRIE_GENERAL_AUTH_REQUIRED", "ture", "ALEXANDRIE_GENERAL_AUTH_REQUIRED='ture': [general] auth_required "
                                                 "takes true or false"),
    ("ALEXANDRIE_GENERAL_AUTH_REQUIRED", "", "[general] auth_required takes true or false"),
    ("ALEXANDRIE_GENERAL_BIND_ADRESS", "0.0.0.0:1", "[general] bind_adress is not a setting (did you mean "
                                                    "bind_address?)"),
    ("ALEXANDRIE_DATABASE_MAX_CONNS", "-2", "ALEXANDRIE_DATABASE_MAX_CONNS='-2': [database] max_conns takes a whole"),
])
def test_an_ambiguous_environment_override_fails_closed(tmp_path, monkeypatch, variable, value, expected):
    path = write_config(tmp_path, "[general]\nauth_required = true\n")
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert expected in str(caught.value)


def test_settings_are_frozen_and_typed(tmp_path):
    import dataclasses

    settings = load_config(write_config(tmp_path, '[general]\nmax_crate_size = "1 MiB"\n'))
    assert isinstance(settings.general.max_crate_size, int) and settings.general.auth_required is False
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.general.auth_required = True
    with pytest.raises(TypeError):
        settings.storage["path"] = "/elsewhere"


def test_the_cli_reports_a_wrong_type_in_two_lines_without_a_traceback(tmp_path):
    path = write_config(tmp_path, '[general]\nauth_required = "false"\n[database]\nurl = "reg.db"\n')
    result = CliRunner().invoke(main, ["--config", str(path), "init"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.strip().splitlines() == [
        f'Error: {path}: [general] auth_required = "false": write true or false, without quotes']
