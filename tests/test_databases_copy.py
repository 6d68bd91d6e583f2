"""``alexandrie db copy``: a whole registry moved to another database and storage, verified, re-runnable."""

import json
from pathlib import Path

import peewee
import pygit2
import pytest
from click.testing import CliRunner

import alexandrie_index_git
import alexandrie_storage_minio
from alexandrie.cli import main
from alexandrie.db import connection
from alexandrie.models import Crate, User, Version
from alexandrie.registry import registry
from alexandrie.testing import crate_metadata, create_user_with_token, make_crate, publish, publish_body


def _publish(client, token, name, version, **fields):
    body = publish_body(crate_metadata(name, version, **fields), make_crate(name, version))
    response = client.put("/api/v1/crates/new", data=body, headers={"Authorization": token})
    assert response.status_code == 200, response.get_json()


def _config_file(path, app) -> str:
    """The source app's settings as an alexandrie.toml."""
    settings = app.extensions["alexandrie"].settings
    path.write_text(f'[database]\nurl = "{settings.database.url}"\n'
                    f'[storage]\ntype = "disk"\npath = "{settings.storage["path"]}"\n')
    return str(path)


def _s3_options(s3):
    settings = s3.storage_settings()
    options = ["--to-storage-type", "minio"]
    for key, value in settings.items():
        if key != "type":
            options += ["--to-storage", f"{key}={json.dumps(value) if not isinstance(value, str) else value}"]
    return settings, options


@pytest.fixture
def source(app, tmp_path):
    token = create_user_with_token(app, "alice")
    client = app.test_client()
    _publish(client, token, "first", "0.1.0", readme="# First\nhello", readme_file="README.md")
    _publish(client, token, "first", "0.2.0")
    _publish(client, token, "Second", "1.0.0-rc.1", keywords=["demo"], categories=["science"])
    assert client.get("/api/v1/crates/first/0.1.0/download").status_code == 200
    app.extensions["alexandrie"].downloads.flush()
    return app, token, _config_file(tmp_path / "source.toml", app)


def test_copy_moves_rows_files_and_readmes_to_another_database_and_storage(source, make_app, scratch_database,
                                                                            s3_server):
    app, token, config = source
    dest_url = scratch_database()
    storage, options = _s3_options(s3_server)
    result = CliRunner().invoke(main, ["--config", config, "db", "copy", "--to", dest_url, *options])
    assert result.exit_code == 0, result.output
    assert "crate files: 3 copied, 0 already there, all checksums verified" in result.output

    dest = make_app(plugins=[alexandrie_storage_minio], database={"url": dest_url}, storage=storage)
    client = dest.test_client()
    with app.app_context(), connection():
        before = [(v.crate.name, v.num, v.cksum, v.readme_html, v.downloads) for v in Version.select().order_by(Version.id)]
    with dest.app_context(), connection():
        after = [(v.crate.name, v.num, v.cksum, v.readme_html, v.downloads) for v in Version.select().order_by(Version.id)]
        assert User.get().login == "alice"
    assert after == before and before[0][3] and before[0][4] == 1
    for path in ("/index/fi/rs/first", "/index/se/co/second"):
        assert client.get(path).get_data() == app.test_client().get(path).get_data()
    assert client.get("/api/v1/crates/Second/1.0.0-rc.1/download").data == make_crate("Second", "1.0.0-rc.1")
    _publish(app.test_client(), token, "first", "0.3.0")  # the source moved on while the copy ran

    again = CliRunner().invoke(main, ["--config", config, "db", "copy", "--to", dest_url, *options])
    assert again.exit_code == 0, again.output
    assert "crate files: 1 copied, 3 already there" in again.output
    assert client.get("/index/fi/rs/first").get_data() == app.test_client().get("/index/fi/rs/first").get_data()
    _publish(client, token, "third", "1.0.0")  # the old token works, and new ids do not collide
    with dest.app_context(), connection():
        assert Crate.select().count() == 3 and Version.select().count() == 5


def test_a_corrupt_source_file_is_reported_not_copied(source, scratch_database, tmp_path):
    app, token, config = source
    storage = app.extensions["alexandrie"].storage
    storage.store_crate("first", "0.2.0", b"bit rot")
    result = CliRunner().invoke(main, ["--config", config, "db", "copy", "--to", scratch_database(),
                                       "--to-storage", f"path={tmp_path / 'copied'}"])
    assert result.exit_code == 1
    assert "first 0.2.0: the source file does not match its checksum" in result.output
    assert "crate files: 2 copied" in result.output
    assert not (tmp_path / "copied" / "fi" / "first" / "first-0.2.0.crate").exists()


def test_copy_refuses_to_copy_onto_itself(source):
    app, token, config = source
    result = CliRunner().invoke(main, ["--config", config, "db", "copy", "--to", app.extensions["alexandrie"]
                                       .settings.database.url])
    assert result.exit_code != 0 and "the destination database is the source database" in result.output


# --- The source is only ever read ---------------------------------------------------------------------------


def _snapshot(app) -> dict:
    """Everything the source registry is made of: its git HEAD, every file of its repository and storage, and
    every row of every table."""
    state = registry(app)
    repository = Path(state.settings.index["path"])
    storage = Path(state.settings.storage["path"])
    with app.app_context(), connection():
        rows = {model._meta.table_name: list(model.select().order_by(*_order(model)).tuples())
                for model in state.models}
    return {"head": str(pygit2.Repository(str(repository)).head.target),
            "repository": _files(repository), "storage": _files(storage), "rows": rows}


def _order(model):
    pk = model._meta.primary_key
    return [pk] if isinstance(pk, peewee.Field) else list(model._meta.sorted_fields)


def _files(root: Path) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


@pytest.fixture
def git_source(make_app, tmp_path):
    """A registry on the git index (with a remote) that published three crates, and its config file."""
    remote = tmp_path / "remote.git"
    pygit2.init_repository(str(remote), bare=True)
    index = {"type": "git", "path": str(tmp_path / "index"), "repair_grace": 0, "fsync": False,
             "remotes": [str(remote)]}
    app = make_app(plugins=[alexandrie_index_git], index=index)
    token = create_user_with_token(app, "alice")
    client = app.test_client()
    for name, version in (("first", "0.1.0"), ("first", "0.2.0"), ("second", "1.0.0")):
        assert publish(client, token, name, version).status_code == 200
    settings = registry(app).settings
    config = tmp_path / "source.toml"
    config.write_text(f'[general]\npublic_url = "{settings.general.public_url}"\n'
                      f'[database]\nurl = "{settings.database.url}"\n'
                      f'[storage]\ntype = "disk"\npath = "{settings.storage["path"]}"\n'
                      f'[index]\ntype = "git"\npath = "{index["path"]}"\nrepair_grace = 0\nfsync = false\n'
                      f'remotes = ["{remote}"]\n')
    registry(app).index.pusher.flush(timeout=30)
    return app, str(config), remote


def test_copying_a_git_index_registry_leaves_the_source_byte_identical(git_source, scratch_database):
    app, config, remote = git_source
    before, remote_head = _snapshot(app), _files(remote)
    result = CliRunner().invoke(main, ["--config", config, "db", "copy", "--to", scratch_database()])
    assert result.exit_code == 0, result.output
    assert _snapshot(app) == before
    assert _files(remote) == remote_head
    assert "alexandrie index rebuild" in result.output and "its files were checked, none written" in result.output


def test_a_destination_with_its_own_git_index_gets_it_rebuilt_from_the_copied_rows(git_source, scratch_database,
                                                                                    tmp_path):
    app, config, remote = git_source
    before = _snapshot(app)
    dest_config = tmp_path / "dest.toml"
    dest_config.write_text(f'[database]\nurl = "{scratch_database()}"\n[storage]\npath = "{tmp_path / "copied"}"\n'
                           f'[index]\ntype = "git"\npath = "{tmp_path / "dest-index"}"\nfsync = false\n')
    result = CliRunner().invoke(main, ["--config", config, "db", "copy", "--to-config", str(dest_config)])
    assert result.exit_code == 0, result.output
    assert "rebuilt the destination's own [index] from the copied rows (2 crates)" in result.output
    assert _snapshot(app) == before
    source_head, dest_head = (pygit2.Repository(str(path)).head.peel(pygit2.Commit).tree
                              for path in (registry(app).settings.index["path"], tmp_path / "dest-index"))
    for path in ("fi/rs/first", "se/co/second"):
        assert dest_head[path].data == source_head[path].data


def test_a_destination_config_naming_the_source_git_index_is_refused(git_source, scratch_database, tmp_path):
    app, config, remote = git_source
    before = _snapshot(app)
    dest_config = tmp_path / "dest.toml"
    dest_config.write_text(f'[database]\nurl = "{scratch_database()}"\n'
                           f'[index]\ntype = "git"\npath = "{registry(app).settings.index["path"]}"\n')
    result = CliRunner().invoke(main, ["--config", config, "db", "copy", "--to-config", str(dest_config)])
    assert result.exit_code == 1
    assert "is the source's index, which the copy must not write" in result.output
    assert _snapshot(app) == before
