"""One behavioural test (at least) per hook: a small plugin class registered with ``make_app(plugins=[...])``,
driven through the registry the way a client would. ``tests/test_hookspecs.py`` checks every hook has one."""

import logging
import re

import click
import flask
import peewee
import pytest
from click.testing import CliRunner

from alexandrie import BackendSpec, IndexBackend, MachinePath, PublishEvent, Storage, hookimpl
from alexandrie.auth import Identity
from alexandrie.cli import CliContext, in_app, main
from alexandrie.db import BaseModel, connection
from alexandrie.errors import ConfigError, Forbidden
from alexandrie.models import User, Version
from alexandrie.plugins import get_plugin_manager
from alexandrie.services.tokens import create_token
from alexandrie.testing import KIT_PLUGINS, create_user_with_token, make_crate, publish


def detail(response) -> str:
    return response.get_json()["errors"][0]["detail"]


def versions(app) -> list[str]:
    with app.app_context(), connection():
        return [v.num for v in Version.select()]


# --- Wiring ------------------------------------------------------------------------------------------


def test_hook_alexandrie_check_config(make_app, tmp_path):
    """A plugin's problem with its own table stops the start-up before the database or storage is created."""
    class Checked:
        @hookimpl
        def alexandrie_check_config(self, settings):
            colour = settings.plugin_table("checked").get("colour", "blue")
            return None if isinstance(colour, str) else f'[plugins.checked] colour = {colour!r}: write a name, like "blue"'

    with pytest.raises(ConfigError) as refused:
        make_app(plugins=[Checked()], plugin_config={"checked": {"colour": 5}})
    assert str(refused.value) == 'the configuration: [plugins.checked] colour = 5: write a name, like "blue"'
    assert not (tmp_path / "registry0").exists()  # no data folder, database file or storage
    assert make_app(plugins=[Checked()], plugin_config={"checked": {"colour": "red"}}).name == "alexandrie"


def test_hook_alexandrie_startup(make_app):
    seen = {}

    class Startup:
        @hookimpl
        def alexandrie_startup(self, app):
            seen["storage"] = app.extensions["alexandrie"].storage
            app.after_request(lambda response: response.headers.setdefault("X-Plugin", "on") and response)

    app = make_app(plugins=[Startup()])
    assert seen["storage"] is app.extensions["alexandrie"].storage is not None  # backends are in place
    assert app.test_client().get("/health").headers["X-Plugin"] == "on"


def test_hook_alexandrie_blueprints(make_app, tmp_path):
    templates = tmp_path / "templates" / "greeter"
    templates.mkdir(parents=True)
    (templates / "hello.html").write_text("<p>hello {{ who }} from {{ registry }}</p>")

    class Greeter:
        @hookimpl
        def alexandrie_blueprints(self, app):
            bp = flask.Blueprint("greeter", __name__, url_prefix="/-/greeter",
                                 template_folder=str(tmp_path / "templates"))

            @bp.get("/<who>")
            def hello(who):
                name = flask.current_app.extensions["alexandrie"].settings.general.registry_name
                return flask.render_template("greeter/hello.html", who=who, registry=name)

            return [bp]

    response = make_app(plugins=[Greeter()]).test_client().get("/-/greeter/<em>")
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "<p>hello &lt;em&gt; from alexandrie</p>"


class Note(BaseModel):
    crate = peewee.CharField()
    text = peewee.TextField()


def test_hook_alexandrie_models(make_app):
    class Notes:
        @hookimpl
        def alexandrie_models(self):
            return [Note]

    app = make_app(plugins=[Notes()])
    with app.app_context(), connection() as db:
        assert "note" in db.get_tables()
        Note.create(crate="foo", text="reviewed")
        assert [n.text for n in Note.select()] == ["reviewed"]


def test_hook_alexandrie_machine_paths(make_app):
    """A plugin's machine path gets what /api/ gets: JSON errors, no CSRF, the token gate with its challenge."""
    bot = flask.Blueprint("bot", __name__, url_prefix="/-/bot")
    bot.add_url_rule("/status", "status", lambda: flask.jsonify({"ok": True}), methods=["GET", "POST"])

    class Bot:
        @hookimpl
        def alexandrie_machine_paths(self, app):
            return [MachinePath("/-/bot/", read_only=True, challenge='Basic realm="bot"')]

        @hookimpl
        def alexandrie_blueprints(self, app):
            return [bot]

    app = make_app(plugins=[Bot()], general={"auth_required": True}, rate_limits={"enabled": False})
    client, reader = app.test_client(), create_user_with_token(app, "alice")
    with app.app_context(), connection():
        writer = create_token(User.get(User.login == "alice"), "ci", scopes=["publish-update"])[1]
    anonymous = client.get("/-/bot/status")
    assert anonymous.status_code == 401 and "needs an API token" in detail(anonymous)
    assert anonymous.headers.get_all("WWW-Authenticate")[-1] == 'Basic realm="bot"'
    assert client.post("/-/bot/status", headers={"Authorization": reader}).get_json() == {"ok": True}  # no CSRF
    refused = client.post("/-/bot/status", headers={"Authorization": writer})  # read-only: POST reads too
    assert refused.status_code == 403 and "lacks the `read` scope" in detail(refused)
    assert detail(client.get("/-/bot/nothing", headers={"Authorization": reader})) == "nothing at /-/bot/nothing"


def test_hook_alexandrie_stylesheets(make_app):
    class Themed:
        @hookimpl
        def alexandrie_stylesheets(self, app):
            return ["/-/themed/style.css"]

    page = make_app(plugins=[Themed()]).test_client().get("/").get_data(as_text=True)
    assert '<link rel="stylesheet" href="/-/themed/style.css">' in page
    assert "/-/themed/" not in make_app().test_client().get("/").get_data(as_text=True)


def test_hook_alexandrie_commands(make_app, tmp_path, monkeypatch):
    @click.command("count-users")
    @in_app
    def count_users():
        """How many accounts exist."""
        click.echo(f"{User.select().count()} users")

    class Commands:
        @hookimpl
        def alexandrie_commands(self):
            return [count_users]

    def with_plugin() -> CliContext:
        """The seam for tests: the command line's plugin manager, passed in instead of discovered."""
        return CliContext(pm=get_plugin_manager(load_entrypoints=False, named=KIT_PLUGINS, plugins=[Commands()]))

    app = make_app()
    create_user_with_token(app, "alice")
    config = tmp_path / "alexandrie.toml"
    config.write_text(f'[database]\nurl = "{app.extensions["alexandrie"].settings.database.url}"\n'
                      f'[storage]\npath = "{tmp_path / "storage"}"\n')
    result = CliRunner().invoke(main, ["--config", str(config), "count-users"], obj=with_plugin(),
                                catch_exceptions=False)
    assert result.exit_code == 0 and result.output == "1 users\n"
    assert "count-users" in CliRunner().invoke(main, ["--config", str(config), "--help"], obj=with_plugin()).output
    assert "count-users" not in CliRunner().invoke(main, ["--config", str(config), "--help"]).output


# --- Backends -----------------------------------------------------------------------------------------


class MemoryStorage(Storage):
    def __init__(self):
        self.files = {}

    def store_crate(self, name, version, data):
        self.files[(name, version)] = bytes(data)

    def open_crate(self, name, version):
        import io

        if (name, version) not in self.files:
            raise FileNotFoundError(name)
        return io.BytesIO(self.files[(name, version)])

    def delete_crate(self, name, version):
        self.files.pop((name, version), None)

    def crate_exists(self, name, version):
        return (name, version) in self.files


def test_hook_alexandrie_storage_backends(make_app):
    class Memory:
        @hookimpl
        def alexandrie_storage_backends(self):
            return [BackendSpec("memory-test", lambda settings, app: MemoryStorage(), "dicts", aliases=("ram",))]

    app = make_app(plugins=[Memory()], storage={"type": "ram"})
    storage = app.extensions["alexandrie"].storage
    assert isinstance(storage, MemoryStorage)
    client = app.test_client()
    assert publish(client, create_user_with_token(app, "alice"), "kept").status_code == 200
    assert storage.files[("kept", "0.1.0")] == make_crate("kept", "0.1.0")
    assert client.get("/api/v1/crates/kept/0.1.0/download").data == make_crate("kept", "0.1.0")


class RecordingIndex(IndexBackend):
    def __init__(self):
        self.files, self.fail = {}, False

    def update_crate(self, name, content, message):
        if self.fail:
            raise OSError("the index disk is full")
        self.files[name] = (content, message)

    def rebuild(self, files, message):
        self.files = {name: (content, message) for name, content in files}


def test_hook_alexandrie_index_backends(make_app):
    class Recording:
        @hookimpl
        def alexandrie_index_backends(self):
            return [BackendSpec("recording", lambda settings, app: RecordingIndex(), "in memory")]

    app = make_app(plugins=[Recording()], index={"type": "recording"})
    index = app.extensions["alexandrie"].index
    client, token = app.test_client(), create_user_with_token(app, "alice")
    assert publish(client, token, "indexed").status_code == 200
    content, message = index.files["indexed"]
    assert '"vers":"0.1.0"' in content.replace(" ", "") and message == "Publish indexed 0.1.0"

    index.fail = True  # called inside the publish transaction: a failure rolls the publish back
    assert publish(client, token, "indexed", "0.2.0").status_code >= 400
    assert versions(app) == ["0.1.0"] and not app.extensions["alexandrie"].storage.crate_exists("indexed", "0.2.0")


# --- Rendering -----------------------------------------------------------------------------------------


def test_hook_alexandrie_render_readme(make_app):
    calls = []

    class Shouting:
        @hookimpl
        def alexandrie_render_readme(self, text, filename, repository):
            calls.append((filename, repository))
            if not filename.endswith(".shout"):
                return None  # not ours: the next renderer tries
            return f"<p>{text.upper()}</p>"

    app = make_app(plugins=[Shouting()])
    client, token = app.test_client(), create_user_with_token(app, "alice")
    publish(client, token, "loud", readme="hello", readme_file="README.shout", repository="https://e.org/r")
    publish(client, token, "plain", readme="a < b", readme_file="README.txt")
    with app.app_context(), connection():
        html = {v.crate.name: v.readme_html for v in Version.select()}
    assert html["loud"] == "<p>HELLO</p>"
    assert "a &lt; b" in html["plain"] and "<p>" not in html["plain"]  # fell through to a later renderer
    assert calls == [("README.shout", "https://e.org/r"), ("README.txt", None)]


# --- Authentication and permissions ---------------------------------------------------------------------


def test_hook_alexandrie_authenticate_request(make_app):
    class HeaderAuth:
        """Trusts a header set by a (hypothetical) single-sign-on proxy in front of the registry."""

        @hookimpl
        def alexandrie_authenticate_request(self, request):
            login = request.headers.get("X-Proxy-User")
            if login is None:
                return None
            user = User.get_or_none(User.login == login)
            if user is None:
                raise Forbidden(f"the proxy vouches for `{login}`, who has no account here")
            return Identity(user=user)

    app = make_app(plugins=[HeaderAuth()])
    create_user_with_token(app, "alice")
    client = app.test_client()
    assert publish(client, None, "via-proxy", headers={"X-Proxy-User": "alice"}).status_code == 200
    refused = publish(client, None, "via-proxy2", headers={"X-Proxy-User": "mallory"})
    assert refused.status_code == 403 and "`mallory`, who has no account" in detail(refused)
    assert publish(client, None, "anonymous").status_code == 403  # no header: the built-in token auth decides
    assert versions(app) == ["0.1.0"]


def test_hook_alexandrie_check_password(make_app):
    class Lockout:
        @hookimpl
        def alexandrie_check_password(self, login, password):
            return False if login == "locked" else None  # False stops; None lets the built-in check

    app = make_app(plugins=[Lockout()], rate_limits={"enabled": False})
    create_user_with_token(app, "alice")
    create_user_with_token(app, "locked")

    def sign_in(login, password):
        client = app.test_client()
        form = client.get("/account/login").get_data(as_text=True)
        csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form).group(1)
        return client.post("/account/login", data={"login": login, "password": password, "csrf_token": csrf})

    assert sign_in("alice", "password-alice").status_code == 302  # None from the plugin: the built-in accepts
    assert sign_in("alice", "wrong").status_code == 400
    assert sign_in("locked", "password-locked").status_code == 400  # False from the plugin stops the built-in
    hook = app.extensions["alexandrie"].pm.hook.alexandrie_check_password
    with app.app_context(), connection():
        assert hook(login="nobody", password="x") is None  # nobody knows the login


def test_hook_alexandrie_permission_allowed(make_app):
    class Maintainers:
        """Lets `ops` yank any crate and nobody publish crates named `internal-*` updates."""

        @hookimpl
        def alexandrie_permission_allowed(self, identity, action, crate):
            if action == "yank" and identity.login == "ops":
                return True
            if action == "publish-update" and crate.name.startswith("internal-"):
                return False
            return None

    app = make_app(plugins=[Maintainers()])
    client = app.test_client()
    alice, ops = create_user_with_token(app, "alice"), create_user_with_token(app, "ops")
    publish(client, alice, "internal-tool")
    assert client.delete("/api/v1/crates/internal-tool/0.1.0/yank", headers={"Authorization": ops}).status_code == 200
    refused = publish(client, alice, "internal-tool", "0.2.0")
    assert refused.status_code == 403 and "alice" in detail(refused)
    assert versions(app) == ["0.1.0"]


# --- Publishing -----------------------------------------------------------------------------------------


def test_hook_alexandrie_validate_publish(make_app):
    class NeedsDescription:
        @hookimpl
        def alexandrie_validate_publish(self, new_version, identity):
            if not new_version.description:
                return f"{identity.login}: add `description = \"...\"` to [package] in Cargo.toml"
            return None

    class NoPreReleases:
        @hookimpl
        def alexandrie_validate_publish(self, new_version, identity):
            return ["pre-releases are not accepted here"] if "-" in new_version.vers else []

    app = make_app(plugins=[NeedsDescription(), NoPreReleases()])
    client, token = app.test_client(), create_user_with_token(app, "alice")
    refused = publish(client, token, "vetted", "1.0.0-rc.1")
    assert refused.status_code == 400
    assert set(detail(refused).split("; ")) == {  # every validator is asked, every problem reported
        'alice: add `description = "..."` to [package] in Cargo.toml', "pre-releases are not accepted here"}
    assert versions(app) == []
    with app.app_context(), connection():
        assert User.select().count() == 1
    assert publish(client, token, "vetted", "1.0.0", description="ok").status_code == 200


def test_hook_alexandrie_event(make_app):
    seen = []

    class Recorder:
        @hookimpl
        def alexandrie_event(self, event):
            database = flask.current_app.extensions["alexandrie"].database
            seen.append((event, database.in_transaction(), [v.num for v in Version.select()]))

    app = make_app(plugins=[Recorder()])
    client, token = app.test_client(), create_user_with_token(app, "alice")
    seen.clear()  # the account's and the token's events
    publish(client, token, "evented", description="x")
    publish(client, token, "evented", description="x")  # a duplicate fails: no event
    client.delete("/api/v1/crates/evented/0.1.0/yank", headers={"Authorization": token})
    assert [(e.name, e.crate, e.actor) for e, _, _ in seen] == [("publish", "evented", "alice"),
                                                              ("yank", "evented", "alice")]
    event, in_transaction, committed = seen[0]
    assert isinstance(event, PublishEvent) and event.version == "0.1.0" and event.new_crate
    assert not in_transaction and committed == ["0.1.0"]  # fired after the commit


def test_hook_alexandrie_event_in_transaction(make_app):
    """Rows written here commit with the change; raising here undoes the change, its file and its event."""
    seen, told = [], []

    class Outbox:
        @hookimpl
        def alexandrie_event_in_transaction(self, event):
            database = flask.current_app.extensions["alexandrie"].database
            seen.append((event.name, database.in_transaction(), [v.num for v in Version.select()]))
            Note.create(crate=getattr(event, "crate", "-"), text=event.name)
            if getattr(event, "version", None) == "0.2.0":
                raise RuntimeError("the outbox is full")

        @hookimpl
        def alexandrie_models(self):
            return [Note]

        @hookimpl
        def alexandrie_event(self, event):
            told.append(event.name)

    app = make_app(plugins=[Outbox()])
    client, token = app.test_client(), create_user_with_token(app, "alice")
    seen.clear(), told.clear()
    assert publish(client, token, "boxed").status_code == 200
    assert seen == [("publish", True, ["0.1.0"])]  # inside the transaction, the new row visible
    assert publish(client, token, "boxed", "0.2.0").status_code == 500
    assert versions(app) == ["0.1.0"] and told == ["publish"]
    assert not app.extensions["alexandrie"].storage.crate_exists("boxed", "0.2.0")
    with app.app_context(), connection():
        assert [n.text for n in Note.select().where(Note.crate == "boxed")] == ["publish"]


def test_hook_alexandrie_event_failure_is_logged_and_never_fails_the_publish(make_app, caplog):
    received = []

    class Broken:
        @hookimpl
        def alexandrie_event(self, event):
            raise RuntimeError("chat server unreachable")

    class Healthy:
        @hookimpl
        def alexandrie_event(self, event):
            received.append(event.name)

    app = make_app(plugins=[Healthy(), Broken()])
    client = app.test_client()
    token = create_user_with_token(app, "alice")
    received.clear()  # the account's and the token's events
    with caplog.at_level(logging.ERROR, logger="alexandrie.services.changes"):
        caplog.clear()
        response = publish(client, token, "sturdy")
    assert response.status_code == 200 and versions(app) == ["0.1.0"]
    assert received == ["publish"]  # the other plugins still get the event
    [record] = [r for r in caplog.records if r.name == "alexandrie.services.changes"]
    assert "Broken" in record.getMessage() and "publish" in record.getMessage()
    assert "chat server unreachable" in record.exc_text
    assert client.get("/api/v1/crates/sturdy/0.1.0/download").status_code == 200
