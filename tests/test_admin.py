"""Admin powers: the /admin pages (admins only), the CLI, the deletion policy and first-admin bootstrap."""

import re

import pytest
from click.testing import CliRunner
from flask import Blueprint

from alexandrie import hookimpl
from alexandrie.cli import main
from alexandrie.db import connection
from alexandrie.models import AuditEvent, Crate, CrateOwner, User
from alexandrie.services.crates import change_read_access, delete_crate, transfer_ownership
from alexandrie.services.tokens import create_token
from alexandrie.services.users import create_user
from alexandrie.testing import dependency, publish, sign_in


@pytest.fixture
def registry(make_app):
    app = make_app(rate_limits={"enabled": False})
    with app.app_context(), connection():
        create_user("root", password="password-root", is_admin=True)
        alice = create_user("alice", password="password-alice")
        create_user("bob", password="password-bob")
        token = create_token(alice, "t")[1]
    client = app.test_client()
    assert publish(client, token, "base").status_code == 200
    assert publish(client, token, "base", "0.2.0").status_code == 200
    assert publish(client, token, "app", deps=[dependency("base", "^0.1")]).status_code == 200
    return app, client, token


def post(client, path, csrf, **form):
    return client.post(path, data={"csrf_token": csrf, **form})


def test_admin_pages_are_for_admins_only(registry):
    app, client, _ = registry
    assert client.get("/admin/").status_code in (302, 404)
    csrf = sign_in(client, "alice")
    for path in ("/admin/", "/admin/users", "/admin/crates", "/admin/crates/base", "/admin/audit", "/admin/audit.jsonl"):
        assert client.get(path).status_code == 404, path
    assert post(client, "/admin/users/bob", csrf, action="make-admin").status_code == 404
    with app.app_context(), connection():
        assert not User.get(User.login == "bob").is_admin


def test_admin_manages_users(registry):
    app, client, _ = registry
    csrf = sign_in(client, "root")
    for path in ("/admin/", "/admin/users", "/admin/crates", "/admin/crates/base", "/admin/audit"):
        page = client.get(path)
        assert page.status_code == 200 and "<h1>" in page.text, path
    assert "alice" in client.get("/admin/users").text
    assert post(client, "/admin/users/bob", csrf, action="make-read-only").status_code == 302
    assert post(client, "/admin/users/bob", csrf, action="disable").status_code == 302
    assert post(client, "/admin/users/alice", csrf, action="reset-password", password="new-secret-1").status_code == 302
    refused = post(client, "/admin/users/root", csrf, action="disable")
    assert "cannot disable or demote yourself" in client.get(refused.headers["Location"]).text
    with app.app_context(), connection():
        bob = User.get(User.login == "bob")
        assert bob.is_read_only and not bob.is_active_account
        assert User.get(User.login == "root").is_active_account
        actions = [e.action for e in AuditEvent.select().where(AuditEvent.actor == "root")]
    assert actions == ["role-change", "user-disable", "password-reset"]
    audit = client.get("/admin/audit?actor=root").text
    assert "user-disable" in audit and "password-reset" in audit and "new-secret-1" not in audit
    lines = client.get("/admin/audit.jsonl?action=password-reset").text.splitlines()
    assert len(lines) == 1 and '"user":"alice"' in lines[0]


def test_admin_transfers_and_restricts(registry):
    app, client, _ = registry
    csrf = sign_in(client, "root")
    assert post(client, "/admin/crates/base", csrf, action="transfer", login="bob").status_code == 302
    assert post(client, "/admin/crates/base", csrf, action="restrict").status_code == 302
    assert post(client, "/admin/crates/base", csrf, action="add-reader", reader="alice").status_code == 302
    with app.app_context(), connection():
        owners = [o.user.login for o in CrateOwner.select().join(Crate).where(Crate.name == "base")]
    assert owners == ["bob"]
    assert "restricted" in client.get("/admin/crates").text
    assert client.get("/index/ba/se/base").status_code == 200  # admins see every crate
    anonymous = app.test_client()
    assert anonymous.get("/index/ba/se/base").status_code == 404
    assert anonymous.get("/crates/base").status_code == 404


def test_deletion_policy(registry):
    app, client, _ = registry
    csrf = sign_in(client, "root")
    refused = post(client, "/admin/crates/base", csrf, action="delete-version", version="0.2.0")
    assert "`app` depend on `base`" in client.get(refused.headers["Location"]).text
    assert client.get("/index/ba/se/base").text.count("\n") == 2
    assert post(client, "/admin/crates/base", csrf, action="delete-version", version="0.2.0", force="yes").status_code == 302
    assert client.get("/index/ba/se/base").text.count("\n") == 1
    assert client.get("/api/v1/crates/base/0.2.0/download").status_code == 404
    wrong = post(client, "/admin/crates/app", csrf, action="delete-crate", confirm="nope")
    assert "type the crate name" in client.get(wrong.headers["Location"]).text
    assert post(client, "/admin/crates/app", csrf, action="delete-crate", confirm="app").status_code == 302
    assert client.get("/index/3/a/app").status_code == 404
    assert client.get("/api/v1/crates/app/0.1.0/download").status_code == 404
    storage = app.extensions["alexandrie"].storage
    assert not storage.crate_exists("app", "0.1.0") and not storage.crate_exists("base", "0.2.0")
    assert storage.crate_exists("base", "0.1.0")
    with app.app_context(), connection():
        deleted = [(e.action, e.crate, e.version) for e in AuditEvent.select().where(AuditEvent.action.endswith("delete"))]
    assert deleted == [("version-delete", "base", "0.2.0"), ("crate-delete", "app", None)]


def test_first_admin_bootstrap_and_cli_admin_commands(tmp_path):
    config = tmp_path / "alexandrie.toml"
    config.write_text('[general]\npublic_url = "http://127.0.0.1:9"\n[database]\nurl = "sqlite:///reg.db"\n'
                      '[storage]\ntype = "disk"\npath = "crates"\n')
    run = lambda *args, **kw: CliRunner().invoke(main, ["--config", str(config), *args], **kw)  # noqa: E731
    made = run("user", "create", "root", "--admin", "--password-stdin", input="correct horse battery\n")
    assert made.exit_code == 0 and "(admin)" in made.output
    assert run("user", "create", "short", "--password-stdin", input="abc\n").exit_code != 0
    assert run("user", "create", "dev").exit_code == 0
    assert run("user", "set-role", "dev", "--read-only").exit_code == 0
    assert run("user", "disable", "dev").exit_code == 0
    assert run("user", "list").stdout.splitlines() == ["dev\tread-only\tdisabled", "root\tadmin\tactive"]
    last = run("user", "set-role", "root", "--no-admin")
    assert last.exit_code != 0 and "last active admin" in last.output
    assert run("user", "reset-password", "dev", input="another-password\n").exit_code == 0
    assert run("group", "add", "team", "dev").exit_code == 0
    missing = run("crate", "restrict", "nothing")
    assert missing.exit_code != 0 and "does not exist" in missing.output
    from alexandrie.app import create_app
    from alexandrie.models import Crate as CrateRow

    app = create_app(str(config))
    with app.app_context(), connection():
        CrateRow.create(name="hidden", canonical_name="hidden")
    app.extensions["alexandrie"].database.close_all()
    shown = run("crate", "restrict", "hidden", "--reader", "root", "--group", "team")
    assert shown.exit_code == 0 and shown.stdout.strip() == "hidden: restricted; readers: root, @team"
    shown = run("crate", "restrict", "hidden", "--remove-reader", "@team")
    assert shown.stdout.strip() == "hidden: restricted; readers: root"
    assert run("crate", "restrict", "hidden", "--off").stdout.startswith("hidden: open to all users")
    actions = [line.split('"action":"')[1].split('"')[0] for line in run("audit", "export").stdout.splitlines()]
    assert actions == ["user-create", "user-create", "role-change", "user-disable", "password-reset", "role-change",
                       "read-access", "read-access", "read-access"]


def test_administrators_changes_reach_plugins_after_the_commit(make_app):
    """Transfer, restriction and deletion are changes like a publish: events after the commit, for webhooks too."""
    seen = []

    class Recorder:
        @hookimpl
        def alexandrie_event(self, event):
            with_crate = Crate.get_or_none(Crate.name == getattr(event, "crate", None)) is not None
            seen.append((event.name, event.actor, with_crate))

    app = make_app(plugins=[Recorder()], rate_limits={"enabled": False})
    with app.app_context(), connection():
        create_user("root", password="password-root", is_admin=True)
        token = create_token(create_user("alice"), "t")[1]
        create_user("bob")
    assert publish(app.test_client(), token, "moved").status_code == 200
    seen.clear()
    with app.app_context(), connection():
        transfer_ownership("moved", "bob", actor="root")
        change_read_access("moved", "root", restricted=True, add_readers=["alice"])
        delete_crate("moved", actor="root")
    assert seen == [("ownership-transfer", "root", True), ("read-access", "root", True),
                    ("crate-delete", "root", False)]  # the deletion is committed when plugins hear of it


def test_admin_raises_a_crates_publish_limits_on_its_page(registry):
    app, client, token = registry
    csrf = sign_in(client, "root")
    many = {f"f{i}": [] for i in range(400)}
    assert publish(app.test_client(), token, "base", "0.3.0", features=many).status_code == 400
    page = client.get("/admin/crates/base").text
    assert 'name="max_features"' in page and 'placeholder="300"' in page
    saved = post(client, "/admin/crates/base", csrf, action="limits", max_features="500")
    assert "base: limits saved" in client.get(saved.headers["Location"]).text
    assert publish(app.test_client(), token, "base", "0.3.0", features=many).status_code == 200
    refused = post(client, "/admin/crates/base", csrf, action="limits", max_features="many")
    assert "Refused: max_features takes a whole number" in client.get(refused.headers["Location"]).text
    assert 'value="500"' in client.get("/admin/crates/base").text
    post(client, "/admin/crates/base", csrf, action="limits", max_features="")
    assert publish(app.test_client(), token, "base", "0.4.0", features=many).status_code == 400


def test_hook_alexandrie_admin_links(make_app):
    """A plugin's admin page joins the admin navigation; the core names no plugin page itself."""
    reports = Blueprint("reports", __name__, url_prefix="/admin/reports")
    reports.add_url_rule("/", "summary", lambda: "reports")

    class Reports:
        @hookimpl
        def alexandrie_blueprints(self, app):
            return [reports]

        @hookimpl
        def alexandrie_admin_links(self, app):
            return [("Reports", "reports.summary")]

    def admin_nav(app, login: str) -> str:  # a login per app: on a server database both apps share the tables
        with app.app_context(), connection():
            create_user(login, password=f"password-{login}", is_admin=True)
        client = app.test_client()
        sign_in(client, login)
        return re.search(r'<nav class="admin-nav".*?</nav>', client.get("/admin/users").text, re.S).group(0)

    with_plugin = admin_nav(make_app(plugins=[Reports()]), "root")
    assert with_plugin.endswith('<a href="/admin/reports/">Reports</a>\n</nav>')
    assert '<a href="/admin/users" aria-current="page">Users</a>' in with_plugin
    assert "/admin/reports/" not in admin_nav(make_app(), "other-root")
