"""The audit log records who did what, with which token, when and from where; it cannot be edited."""

import json
import re

import peewee
import pytest
from click.testing import CliRunner

from alexandrie import hookimpl
from alexandrie.cli import main
from alexandrie.db import connection
from alexandrie.errors import NotFound
from alexandrie.models import ApiToken, AuditEvent, UserGroupMember
from alexandrie.services import audit
from alexandrie.services.groups import add_members
from alexandrie.services.tokens import create_token, revoke_token
from alexandrie.services.users import create_user, set_roles
from alexandrie.testing import crate_metadata, csrf_token, make_crate, publish_body


@pytest.fixture
def registry(make_app):
    app = make_app(rate_limits={"enabled": False})
    with app.app_context(), connection():
        alice = create_user("alice", password="password-alice")
        create_user("bob")
        row, token = create_token(alice, "laptop")
    return app, app.test_client(), token, row.id


def rows(app, **where):
    with app.app_context(), connection():
        query = AuditEvent.select().order_by(AuditEvent.id)
        for key, value in where.items():
            query = query.where(getattr(AuditEvent, key) == value)
        return list(query)


def test_crate_changes_are_recorded_with_token_and_address(registry):
    app, client, token, token_id = registry
    headers = {"Authorization": token}
    body = publish_body(crate_metadata("audited", "1.0.0"), make_crate("audited", "1.0.0"))
    assert client.put("/api/v1/crates/new", data=body, headers=headers).status_code == 200
    assert client.delete("/api/v1/crates/audited/1.0.0/yank", headers=headers).status_code == 200
    assert client.put("/api/v1/crates/audited/1.0.0/unyank", headers=headers).status_code == 200
    assert client.put("/api/v1/crates/audited/owners", json={"users": ["bob"]}, headers=headers).status_code == 200
    events = [r for r in rows(app) if r.crate == "audited"]
    assert [e.action for e in events] == ["publish", "yank", "unyank", "owners_changed"]
    for event in events:
        assert (event.actor, event.token_id, event.ip) == ("alice", token_id, "127.0.0.1")
    assert events[0].version == "1.0.0" and events[0].details["new_crate"] is True
    assert events[3].details["added"] == ["bob"]


def test_refused_changes_leave_no_publish_event(registry):
    app, client, token, _ = registry
    body = publish_body(crate_metadata("Bad Name", "1.0.0"), make_crate("Bad Name", "1.0.0"))
    assert client.put("/api/v1/crates/new", data=body, headers={"Authorization": token}).status_code == 400
    assert rows(app, action="publish") == []


def test_tokens_roles_and_failed_logins_are_recorded(registry):
    app, client, _, token_id = registry
    with app.app_context(), connection():
        revoke_token(ApiToken.get_by_id(token_id), actor="alice")
        set_roles("bob", "root", read_only=True)
    page = client.get("/account/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    assert client.post("/account/login", data={"login": "alice", "password": "wrong-password",
                                               "csrf_token": csrf}).status_code == 400
    created, revoked = rows(app, action="token-create")[0], rows(app, action="token-revoke")[0]
    assert created.details["token"] == revoked.details["token"] == token_id and created.actor == "alice"
    role = rows(app, action="role-change")[0]
    assert (role.actor, role.details) == ("root", {"user": "bob", "is_read_only": True})
    failed = rows(app, action="login-failed")[0]
    assert (failed.actor, failed.ip) == ("alice", "127.0.0.1")
    assert "wrong-password" not in json.dumps(failed.details or {})


def test_the_log_is_append_only(registry):
    app, *_ = registry
    with app.app_context(), connection():
        row = AuditEvent.select().first()
        with pytest.raises(TypeError, match="append-only"):
            AuditEvent.update(actor="mallory").execute()
        with pytest.raises(TypeError, match="append-only"):
            AuditEvent.delete().execute()
        row.actor = "mallory"
        with pytest.raises(TypeError, match="append-only"):
            row.save()
        assert AuditEvent.get_by_id(row.id).actor != "mallory"


def test_cli_exports_json_lines(tmp_path):
    config = tmp_path / "alexandrie.toml"
    config.write_text('[general]\npublic_url = "http://127.0.0.1:9"\n[database]\nurl = "sqlite:///reg.db"\n'
                      '[storage]\ntype = "disk"\npath = "crates"\n')
    runner = CliRunner()
    assert runner.invoke(main, ["--config", str(config), "user", "create", "root", "--admin"]).exit_code == 0
    assert runner.invoke(main, ["--config", str(config), "token", "create", "root"]).exit_code == 0
    out = runner.invoke(main, ["--config", str(config), "audit", "export"]).stdout
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["action"] for line in lines] == ["user-create", "token-create"]
    assert lines[0]["details"] == {"is_admin": True, "is_read_only": False, "user": "root"} and lines[1]["actor"] == "cli"
    assert set(lines[0]) == {"id", "at", "action", "actor", "token", "ip", "crate", "version", "details"}
    only = runner.invoke(main, ["--config", str(config), "audit", "export", "--action", "token-create"]).stdout
    assert len(only.splitlines()) == 1


@pytest.mark.sqlite_only
def test_cli_export_refuses_an_unknown_action_and_lists_the_known_ones(tmp_path):
    config = tmp_path / "alexandrie.toml"
    config.write_text('[general]\npublic_url = "http://127.0.0.1:9"\n[database]\nurl = "sqlite:///reg.db"\n'
                      '[storage]\ntype = "disk"\npath = "crates"\n')
    runner = CliRunner()
    assert runner.invoke(main, ["--config", str(config), "user", "create", "root"]).exit_code == 0
    misspelt = runner.invoke(main, ["--config", str(config), "audit", "export", "--action", "user-craete"])
    assert misspelt.exit_code == 2
    assert "no action `user-craete` in the audit log; did you mean `user-create`?" in misspelt.output
    assert "the actions are: crate-delete, crate-limits, import, login-failed, owners_changed," in misspelt.output
    never_happened = runner.invoke(main, ["--config", str(config), "audit", "export", "--action", "import"])
    assert (never_happened.exit_code, never_happened.stdout) == (0, "")  # known, just not in the log yet


def test_an_audited_change_commits_with_its_audit_row_or_not_at_all(registry, monkeypatch):
    app, client, token, _ = registry
    headers = {"Authorization": token}
    inside = []

    class FailsAfterTheAuditRow:
        @hookimpl(trylast=True)  # called after the audit log's own implementation
        def alexandrie_event_in_transaction(self, event):
            inside.append(AuditEvent.select().where(AuditEvent.action == event.name).count())
            raise RuntimeError("the disk filled up just before the commit")

    failing = FailsAfterTheAuditRow()
    app.extensions["alexandrie"].pm.register(failing)
    try:
        assert client.put("/api/v1/crates/new", data=publish_body(crate_metadata("doomed", "1.0.0"),
                                                                  make_crate("doomed", "1.0.0")),
                          headers=headers).status_code == 500
    finally:
        app.extensions["alexandrie"].pm.unregister(failing)
    assert inside == [1]  # the row was written inside the transaction...
    assert rows(app, action="publish") == [] and rows(app, crate="doomed") == []  # ...and rolled back with it
    assert client.get("/api/v1/crates/doomed/owners", headers=headers).status_code == 404

    body = publish_body(crate_metadata("kept", "1.0.0"), make_crate("kept", "1.0.0"))
    assert client.put("/api/v1/crates/new", data=body, headers=headers).status_code == 200

    def audit_table_unwritable(event):
        raise peewee.OperationalError("audit_event is locked")

    monkeypatch.setattr(audit, "write", audit_table_unwritable)
    assert client.delete("/api/v1/crates/kept/1.0.0/yank", headers=headers).status_code == 500
    monkeypatch.undo()
    assert not json.loads(client.get("/index/ke/pt/kept").get_data(as_text=True))["yanked"]  # no audit row, no yank
    assert [r.action for r in rows(app, crate="kept")] == ["publish"]


def test_every_account_change_is_audited_whatever_the_route(registry):
    app, client, _, _ = registry
    csrf = csrf_token(client.get("/account/register").get_data(as_text=True))
    assert client.post("/account/register", data={"login": "carol", "password": "carol-password",
                                                  "confirm": "carol-password", "csrf_token": csrf}).status_code == 302
    csrf = csrf_token(client.get("/account/").get_data(as_text=True))
    assert client.post("/account/", data={"current": "carol-password", "password": "carol-password-2",
                                          "confirm": "carol-password-2", "csrf_token": csrf}).status_code == 302
    with app.app_context(), connection():
        add_members("team", ["carol"], actor="root")
        with pytest.raises(NotFound):
            add_members("team", ["carol", "nobody"], actor="root")
        assert [m.user.login for m in UserGroupMember.select()] == ["carol"]  # the failed call changed nothing
    created = rows(app, action="user-create")[-1]
    assert (created.actor, created.details) == ("carol", {"user": "carol", "is_admin": False, "is_read_only": False})
    changed = rows(app, action="password-change")[0]
    assert (changed.actor, changed.details, changed.ip) == ("carol", {"user": "carol"}, "127.0.0.1")
    group = [r for r in rows(app, action="role-change") if r.details.get("group") == "team"]
    assert [(r.actor, r.details["added"]) for r in group] == [("root", ["carol"])]
