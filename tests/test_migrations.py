"""Schema versions and migrations, on the database backend under test (SQLite, PostgreSQL or MySQL)."""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import peewee
import pytest
from click.testing import CliRunner
from playhouse.migrate import migrate
from werkzeug.security import generate_password_hash

from alexandrie import migrations
from alexandrie.cli import main
from alexandrie.db import connection, open_database
from alexandrie.errors import ConfigError, Conflict
from alexandrie.migrations import Migration, SchemaError, ensure_schema, read_version
from alexandrie.models import MODELS, ApiToken, Crate
from alexandrie.services.groups import add_members
from alexandrie.services.users import create_user, find_user
from alexandrie.testing import crate_metadata, create_user_with_token, make_crate, publish, publish_body, sign_in

SNAPSHOTS = Path(__file__).parent / "schema"


def _snapshot_file(version: int) -> Path:
    return SNAPSHOTS / f"v{version}.json"


def _publish(app, name="kept", version="1.0.0"):
    token = create_user_with_token(app, f"owner-{name}")
    body = publish_body(crate_metadata(name, version), make_crate(name, version))
    response = app.test_client().put("/api/v1/crates/new", data=body, headers={"Authorization": token})
    assert response.status_code == 200, response.get_json()


def _schema_of(url: str) -> dict:
    """Tables, columns (name, type, nullability) and indexes (columns, uniqueness) as the server reports them."""
    db = open_database(url, 1)
    kind = _sqlite_affinity if isinstance(db, peewee.SqliteDatabase) else str.lower
    with db.connection_context():
        return {table: {"columns": sorted((c.name, kind(c.data_type), c.null) for c in db.get_columns(table)),
                        "indexes": sorted((tuple(i.columns), i.unique) for i in db.get_indexes(table))}
                for table in db.get_tables()}


def _sqlite_affinity(declared: str) -> str:
    """What SQLite makes of a declared type (its rules, in order): VARCHAR(256) and TEXT store alike."""
    declared = declared.upper()
    if "INT" in declared:
        return "integer"
    if any(word in declared for word in ("CHAR", "CLOB", "TEXT")):
        return "text"
    if "BLOB" in declared or not declared:
        return "blob"
    if any(word in declared for word in ("REAL", "FLOA", "DOUB")):
        return "real"
    return "numeric"


def test_the_latest_snapshot_describes_the_models():
    """Changing models.py needs a Migration step and a new snapshot, so old databases can follow."""
    current = migrations.schema_snapshot(MODELS)
    path = _snapshot_file(migrations.latest_version())
    if os.environ.get("ALEXANDRIE_WRITE_SCHEMA_SNAPSHOT"):
        path.write_text(json.dumps(current, indent=1) + "\n")
    assert path.is_file() and json.loads(path.read_text()) == current, (
        f"alexandrie/models.py no longer matches {path}. Before the first release, refresh the snapshot with "
        f"ALEXANDRIE_WRITE_SCHEMA_SNAPSHOT=1 pytest {__file__}. After a release, add a Migration to "
        "alexandrie/migrations.py and write the snapshot of the new version instead.")


def test_a_fresh_database_is_created_and_stamped_latest(make_app):
    app = make_app()
    with app.app_context(), connection() as db:
        assert read_version(db) == migrations.latest_version()
        assert {m._meta.table_name for m in MODELS} <= set(db.get_tables())


def test_upgrading_from_the_first_schema_gives_the_fresh_schema(make_app, scratch_database):
    old_url, fresh_url = scratch_database(), scratch_database()
    old_db = open_database(old_url, 1)
    with old_db.connection_context():
        old_db.create_tables(migrations.models_from_snapshot(json.loads(_snapshot_file(1).read_text()), old_db))
        migrations.stamp(old_db, 1)
    old_db.close_all()
    upgraded = make_app(database={"url": old_url})
    make_app(database={"url": fresh_url})
    _publish(upgraded)  # the upgraded schema takes a whole publish
    assert _schema_of(old_url) == _schema_of(fresh_url)
    with upgraded.app_context(), connection() as db:
        assert read_version(db) == migrations.latest_version()


def _steps():
    """Three further versions, the kinds of change real upgrades make."""
    def add_column(migrator, db):
        migrate(migrator.add_column("crate", "pinned", peewee.BooleanField(default=False)))

    def add_index(migrator, db):
        migrate(migrator.add_index("crate", ("pinned",), False))

    def rename_and_backfill(migrator, db):
        migrate(migrator.rename_column("crate", "pinned", "featured"))
        crate = peewee.Table("crate", ("id", "featured")).bind(db)
        crate.update({crate.featured: True}).execute()

    base = migrations.latest_version()
    return (Migration(base + 1, "add crate.pinned", add_column), Migration(base + 2, "index it", add_index),
            Migration(base + 3, "rename it to featured", rename_and_backfill))


def test_pending_steps_apply_in_order_and_keep_the_data(make_app, scratch_database):
    app = make_app(database={"url": scratch_database()})
    _publish(app)
    steps = migrations.MIGRATIONS + _steps()
    with app.app_context(), connection() as db:
        with pytest.raises(SchemaError, match="alexandrie db upgrade"):
            ensure_schema(db, MODELS, auto_upgrade=False, migrations=steps)
        assert read_version(db) == migrations.latest_version()
        assert ensure_schema(db, MODELS, migrations=steps) == [s.version for s in _steps()]
        assert read_version(db) == steps[-1].version
        rows = db.execute_sql("SELECT name, featured FROM crate").fetchall()
        assert [(name, bool(flag)) for name, flag in rows] == [("kept", True)]
        assert ("featured",) in {tuple(i.columns) for i in db.get_indexes("crate")} | {("featured",)}
        assert ensure_schema(db, MODELS, migrations=steps) == []  # nothing left to do


def test_a_failing_step_keeps_the_last_good_version(make_app, scratch_database):
    app = make_app(database={"url": scratch_database()})

    def broken(migrator, db):
        db.execute_sql("SELECT * FROM no_such_table")

    first, *_ = _steps()
    steps = migrations.MIGRATIONS + (first, Migration(first.version + 1, "broken", broken))
    with app.app_context(), connection() as db:
        with pytest.raises(peewee.DatabaseError):
            ensure_schema(db, MODELS, migrations=steps)
        assert read_version(db) == first.version


def test_a_newer_schema_is_refused_with_a_clear_message(make_app, scratch_database, tmp_path):
    url = scratch_database()
    app = make_app(database={"url": url})
    newer = migrations.latest_version() + 1
    with app.app_context(), connection() as db:
        migrations.stamp(db, newer)
    with pytest.raises(ConfigError, match=f"schema is version {newer}, newer than this Alexandrie"):
        make_app(database={"url": url})
    config = tmp_path / "alexandrie.toml"
    config.write_text(f'[database]\nurl = "{url}"\n')
    result = CliRunner().invoke(main, ["--config", str(config), "db", "status"])
    assert result.exit_code != 0 and f"schema version: {newer}" in result.output


def test_tables_made_before_versioning_are_stamped_as_the_baseline(make_app, scratch_database):
    url = scratch_database()
    app = make_app(database={"url": url})
    with app.app_context(), connection() as db:
        db.execute_sql("DELETE FROM setting")
        assert read_version(db) == migrations.BASELINE
    make_app(database={"url": url})
    with app.app_context(), connection() as db:
        assert read_version(db) == migrations.latest_version()


def test_db_upgrade_runs_even_when_start_up_may_not(scratch_database, tmp_path):
    url = scratch_database()
    config = tmp_path / "alexandrie.toml"
    config.write_text(f'[database]\nurl = "{url}"\nauto_upgrade = false\n'
                      f'[storage]\ntype = "disk"\npath = "{tmp_path}/crates"\n')
    result = CliRunner().invoke(main, ["--config", str(config), "db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert f"schema is at version {migrations.latest_version()}" in result.output
    result = CliRunner().invoke(main, ["--config", str(config), "db", "status"])
    assert f"schema version: {migrations.latest_version()}; this Alexandrie needs" in result.output


# Each instance imports first, then waits for the same moment to start, so their schema checks overlap.
_START_AT_THE_SAME_MOMENT = """
import sys, time
from alexandrie.app import create_app
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
create_app(sys.argv[1], serving=False)
"""


def test_instances_starting_together_create_the_schema_once(make_app, scratch_database, tmp_path):
    # Processes, as real instances are: CPython 3.11 cannot build Flask apps in threads side by side (werkzeug's
    # URL rules go through ast, whose recursion counter is shared between threads).
    url = scratch_database()
    config = tmp_path / "alexandrie.toml"
    config.write_text(f'[database]\nurl = "{url}"\n[storage]\ntype = "disk"\npath = "{tmp_path}/crates"\n')
    start_at = str(time.time() + 4)
    instances = [subprocess.Popen([sys.executable, "-c", _START_AT_THE_SAME_MOMENT, str(config), start_at],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(3)]
    outputs = [instance.communicate(timeout=120)[0] for instance in instances]
    assert [instance.returncode for instance in instances] == [0, 0, 0], outputs
    app = make_app(database={"url": url})
    _publish(app)
    with app.app_context(), connection():
        assert [c.name for c in Crate.select()] == ["kept"]


def _version_1_database(url: str, logins: list[str]) -> None:
    """A database as version 1 left it, holding ``logins`` (password ``password-<login>``), the first with a token."""
    db = open_database(url, 1)
    with db.connection_context():
        old = {m._meta.table_name: m for m in
               migrations.models_from_snapshot(json.loads(_snapshot_file(1).read_text()), db)}
        migrations._binary_collation(db, old.values())  # as version 1 made them: MySQL tables compare case
        db.create_tables(list(old.values()))
        migrations.stamp(db, 1)
        ids = [old["user"].insert(login=login, name=login, password_hash=generate_password_hash(f"password-{login}"),
                                  is_admin=False, is_active_account=True, is_read_only=False,
                                  created_at="2024-01-01 00:00:00").execute() for login in logins]
        old["api_token"].insert(user=ids[0], label="laptop", token_hash="0" * 64,
                                created_at="2024-01-01 00:00:00").execute()
    db.close_all()


def test_version_2_makes_existing_logins_case_insensitive_and_keeps_their_tokens(make_app, scratch_database):
    url = scratch_database()
    _version_1_database(url, ["Alice", "bob"])
    app = make_app(database={"url": url}, rate_limits={"enabled": False})
    with app.app_context(), connection():
        alice = find_user("alice")
        assert alice.login == "Alice" and alice.session_version == 0
        assert [(t.label, t.user.login) for t in ApiToken.select()] == [("laptop", "Alice")]  # nothing cascaded
        with pytest.raises(Conflict, match="`ALICE` is taken"):
            create_user("ALICE")
    sign_in(app.test_client(), "alice", "password-Alice")


def test_version_2_stops_on_logins_that_differ_only_by_case_until_one_is_renamed(make_app, scratch_database):
    url = scratch_database()
    _version_1_database(url, ["Alice", "carol", "alice"])
    with pytest.raises(SchemaError, match=r"differ only by case: `Alice` \(id \d+\) and `alice` \(id \d+\)") as refused:
        make_app(database={"url": url})
    db = open_database(url, 1)
    with db.connection_context():
        assert read_version(db) == 1
        assert "login_key" not in {c.name for c in db.get_columns("user")}  # nothing half-done
        db.execute_sql(re.search(r"UPDATE .*?;", str(refused.value)).group(0))  # the operator follows the advice
    db.close_all()
    app = make_app(database={"url": url})
    with app.app_context(), connection():
        assert {find_user("ALICE").login, find_user("alice-2").login} == {"Alice", "alice-2"}


def test_version_3_adds_group_owners_to_a_version_2_database(make_app, scratch_database):
    old_url, fresh_url = scratch_database(), scratch_database()
    db = open_database(old_url, 1)
    with db.connection_context():
        old = migrations.models_from_snapshot(json.loads(_snapshot_file(2).read_text()), db)
        migrations._binary_collation(db, old)
        db.create_tables(old)
        migrations.stamp(db, 2)
        assert ensure_schema(db, [], migrations=migrations.MIGRATIONS[:2]) == [3]  # the step alone, no model
    db.close_all()
    make_app(database={"url": fresh_url})
    assert _schema_of(old_url)["crate_group_owner"] == _schema_of(fresh_url)["crate_group_owner"]

    app = make_app(database={"url": old_url}, rate_limits={"enabled": False})
    tokens = {login: create_user_with_token(app, login) for login in ("alice", "bob")}
    client = app.test_client()
    assert publish(client, tokens["alice"], "kept").status_code == 200
    with app.app_context(), connection():
        add_members("devs", ["bob"])
    assert client.put("/api/v1/crates/kept/owners", json={"users": ["group:devs"]},
                      headers={"Authorization": tokens["alice"]}).status_code == 200
    assert publish(client, tokens["bob"], "kept", "0.2.0").status_code == 200  # a member of the owning group
