"""``alexandrie db copy``: a whole registry moved to another database and storage, verified, re-runnable."""

import json

import pytest
from click.testing import CliRunner

import alexandrie_storage_minio
from alexandrie.cli import main
from alexandrie.db import connection
from alexandrie.models import Crate, User, Version
from alexandrie.testing import crate_metadata, create_user_with_token, make_crate, publish_body


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
