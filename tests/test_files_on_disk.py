"""What the registry writes to disk is readable by its own user only, and it will not start while the session
secret (in the SQLite database, or `[general] secret_key` in the config file) can be read by every user."""

import os
import shutil
import stat
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from alexandrie.app import create_app
from alexandrie.db import is_sqlite
from alexandrie.errors import ConfigError
from alexandrie.testing import (
    KIT_PLUGINS,
    create_user_with_token,
    get_plugin_manager,
    main,
    publish,
    reset_database,
)
from alexandrie.testing import test_config as registry_config


@pytest.fixture(autouse=True)
def usual_umask():
    """The common 022, under which files used to come out world-readable."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


@pytest.fixture
def open_folder():
    """A folder every user may enter, as /srv or a home folder often is (pytest's own are 0700)."""
    folder = Path(tempfile.mkdtemp(prefix="alexandrie-modes-", dir="/tmp"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


@pytest.fixture
def start():
    """``start(config)`` builds a registry the way ``alexandrie serve`` does; each is closed at the end."""
    built = []

    def factory(config):
        app = create_app(config, pm=get_plugin_manager(load_entrypoints=False, named=KIT_PLUGINS))
        built.append(app)
        return app

    yield factory
    for app in built:
        reset_database(app)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_fresh_registry_keeps_its_folders_and_files_to_its_own_user(make_app, tmp_path):
    app = make_app()
    token = create_user_with_token(app, "alice")
    assert publish(app.test_client(), token, "private-bits").status_code == 200

    data = tmp_path / "registry0"
    storage = data / "crate-storage"
    folders = [data, storage, storage / "pr", storage / "pr" / "private-bits"]
    files = [storage / "pr" / "private-bits" / "private-bits-0.1.0.crate"]
    if is_sqlite(app.extensions["alexandrie"].database):
        database = data / "alexandrie.db"
        files += [database, Path(f"{database}-wal"), Path(f"{database}-shm")]
    assert {str(p): oct(mode(p)) for p in folders} == {str(p): "0o700" for p in folders}
    assert {str(p): oct(mode(p)) for p in files} == {str(p): "0o600" for p in files}


@pytest.mark.sqlite_only
def test_a_database_every_user_can_read_refuses_to_start(open_folder, start):
    data = open_folder / "data"
    config = registry_config(data)
    reset_database(start(config))  # created, then closed: SQLite removes its -wal and -shm files
    data.chmod(0o755)  # an older release's folder
    database = data / "alexandrie.db"
    database.chmod(0o644)

    with pytest.raises(ConfigError) as refused:
        start(config)
    assert str(refused.value).splitlines() == [
        f"{database} can be read by every user of this machine, and the database holds the session secret: "
        "anyone could forge a session and sign in as any user.",
        f"Run `chmod 600 {database}` (or `chmod o-rwx`), then start again."]

    database.chmod(0o640)  # group-readable is the operator's choice (a backup group, say)
    start(config)
    database.chmod(0o644)
    data.chmod(0o700)  # nobody else may enter the folder: nothing to refuse
    start(config)


@pytest.mark.sqlite_only
def test_a_write_ahead_log_every_user_can_read_refuses_to_start(open_folder, start):
    data = open_folder / "data"
    config = registry_config(data)
    start(config)  # keeps its connections, so the -wal file stays
    data.chmod(0o755)
    log = Path(f"{data / 'alexandrie.db'}-wal")
    log.chmod(0o644)
    with pytest.raises(ConfigError, match=rf"^{log} can be read by every user"):
        start(config)


def write_config(folder: Path, extra: str = "") -> Path:
    url = os.environ.get("ALEXANDRIE_TEST_DATABASE_URL") or f"sqlite:///{folder}/alexandrie.db"
    path = folder / "alexandrie.toml"
    path.write_text(f'[general]\nbind_address = "127.0.0.1:3999"\n{extra}[database]\nurl = "{url}"\n'
                    f'[storage]\ntype = "disk"\npath = "{folder}/crate-storage"\n')
    return path


def test_a_config_file_every_user_can_read_may_not_hold_the_session_secret(open_folder, start):
    path = write_config(open_folder, 'secret_key = "0123456789abcdef0123456789abcdef"\n')
    path.chmod(0o644)
    with pytest.raises(ConfigError) as refused:
        start(str(path))
    assert str(refused.value).splitlines() == [
        f"{path} can be read by every user of this machine, and it sets [general] secret_key: "
        "anyone could forge a session and sign in as any user.",
        f"Run `chmod 600 {path}` (or `chmod o-rwx`), then start again."]

    path.chmod(0o600)
    assert start(str(path)).secret_key == "0123456789abcdef0123456789abcdef"


def test_a_config_file_without_the_secret_may_be_readable_by_everyone(open_folder, start):
    path = write_config(open_folder)
    path.chmod(0o644)
    start(str(path))


def test_the_cli_says_which_file_and_the_fix_in_two_lines_without_a_traceback(open_folder, monkeypatch):
    for variable in [v for v in os.environ if v.startswith("ALEXANDRIE_") and v != "ALEXANDRIE_TEST_DATABASE_URL"]:
        monkeypatch.delenv(variable)
    path = write_config(open_folder, 'secret_key = "0123456789abcdef0123456789abcdef"\n')
    path.chmod(0o644)
    result = CliRunner().invoke(main, ["--config", str(path), "init"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.strip().splitlines() == [
        f"Error: {path} can be read by every user of this machine, and it sets [general] secret_key: "
        "anyone could forge a session and sign in as any user.",
        f"Run `chmod 600 {path}` (or `chmod o-rwx`), then start again."]
