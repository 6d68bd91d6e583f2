"""Self-registration: closed on a private registry whatever credential a visitor holds, throttled per client
address on a public one; every account creation, by any route, leaves an audit row."""

import pytest
from click.testing import CliRunner

from alexandrie.cli import CliContext, main
from alexandrie.db import connection
from alexandrie.models import AuditEvent, User
from alexandrie.services.tokens import create_token
from alexandrie.services.users import create_user, set_roles
from alexandrie.testing import csrf_token, sign_in

NEWCOMER = {"login": "mallory", "password": "mallory-password", "confirm": "mallory-password"}


def logins(app) -> set[str]:
    with app.app_context(), connection():
        return {user.login for user in User.select()}


def created_rows(app) -> list[tuple[str, str]]:
    """(actor, created login) of every ``user-create`` audit row."""
    with app.app_context(), connection():
        query = AuditEvent.select().where(AuditEvent.action == "user-create").order_by(AuditEvent.id)
        return [(row.actor, row.details["user"]) for row in query]


@pytest.fixture
def private(make_app):
    """An ``auth_required`` registry with a read-only user and a token that lacks the ``read`` scope."""
    app = make_app(general={"auth_required": True})
    with app.app_context(), connection():
        create_user("reader", password="password-reader")
        set_roles("reader", "root", read_only=True)
        writer = create_user("writer", password="password-writer")
        scopeless = create_token(writer, "new-only", scopes=["publish-new"])[1]
    return app, scopeless


def register_with_session(app, login: str):
    """A signed-in browser asks for the registration page, then posts the form."""
    client = app.test_client()
    csrf = sign_in(client, login)
    page = client.get("/account/register")
    return page, client.post("/account/register", data={**NEWCOMER, "csrf_token": csrf})


def register_with_token(app, token: str):
    """A client that sends an API token (and keeps cookies, so it holds a CSRF token from the sign-in page)."""
    client = app.test_client()
    headers = {"Authorization": token}
    csrf = csrf_token(client.get("/account/login").text)
    page = client.get("/account/register", headers=headers)
    return page, client.post("/account/register", data={**NEWCOMER, "csrf_token": csrf}, headers=headers)


@pytest.mark.parametrize("credential", ["read-only session", "session", "token without read"])
def test_a_private_registry_creates_no_account_whatever_credential_asks(private, credential):
    app, scopeless = private
    if credential == "token without read":
        page, posted = register_with_token(app, scopeless)
    else:
        page, posted = register_with_session(app, "reader" if credential == "read-only session" else "writer")
    for response in (page, posted):
        assert 'name="confirm"' not in response.text  # no registration form
        refused = response.status_code == 403 or (
            response.status_code == 302 and response.location.startswith("/account/login"))
        assert refused, (credential, response.status_code, response.location)
    assert "mallory" not in logins(app)
    assert [login for _, login in created_rows(app)] == ["reader", "writer"]


def test_browser_pages_take_the_session_cookie_not_an_api_token(make_app):
    app = make_app(general={"auth_required": True})
    with app.app_context(), connection():
        admin = create_user("root", password="password-root", is_admin=True)
        token = create_token(admin, "full")[1]
    client = app.test_client()
    for path in ("/account/register", "/account/", "/account/tokens", "/admin/users"):
        response = client.get(path, headers={"Authorization": token})
        assert response.status_code == 302 and response.location.startswith("/account/login"), path
    assert client.get("/api/v1/crates?q=", headers={"Authorization": token}).status_code == 200  # cargo's paths do


def test_registration_is_closed_when_the_ui_needs_sign_in(make_app):
    """``[frontend] login_required`` without ``auth_required``: the gate lets everything through, and the
    registration view refuses by itself."""
    app = make_app(frontend={"login_required": True})
    with app.app_context(), connection():
        create_user("writer", password="password-writer")
    anonymous = app.test_client()
    csrf = csrf_token(anonymous.get("/account/login").text)
    assert anonymous.get("/account/register").status_code == 403
    assert anonymous.post("/account/register", data={**NEWCOMER, "csrf_token": csrf}).status_code == 403
    page, posted = register_with_session(app, "writer")
    assert (page.status_code, posted.status_code) == (403, 403)
    assert 'href="/account/register"' not in anonymous.get("/account/login").text
    assert "mallory" not in logins(app)


def register(client, login: str, address: str):
    environ = {"REMOTE_ADDR": address}
    csrf = csrf_token(client.get("/account/register", environ_base=environ).text)
    return client.post("/account/register", environ_base=environ, data={
        "login": login, "password": f"password-{login}", "confirm": f"password-{login}", "csrf_token": csrf})


def test_registration_on_a_public_registry_is_throttled_per_address_by_default(make_app):
    app = make_app()
    statuses = [register(app.test_client(), f"user{n}", "198.51.100.7").status_code for n in range(6)]
    assert statuses == [302] * 5 + [429]
    assert register(app.test_client(), "elsewhere", "198.51.100.8").status_code == 302
    assert logins(app) == {*(f"user{n}" for n in range(5)), "elsewhere"}


def test_failed_registrations_do_not_use_up_the_budget(make_app):
    app = make_app(rate_limits={"register": "1/hour"})
    client = app.test_client()
    csrf = csrf_token(client.get("/account/register").text)
    mismatch = {"login": "typo", "password": "password-one", "confirm": "password-two", "csrf_token": csrf}
    assert [client.post("/account/register", data=mismatch).status_code for _ in range(3)] == [400] * 3
    assert register(app.test_client(), "careful", "127.0.0.1").status_code == 302
    assert register(app.test_client(), "second", "127.0.0.1").status_code == 429


class CreatesAccounts:
    """An identity plugin that creates the account of a login it vouches for (as an SSO plugin would)."""

    @staticmethod
    def alexandrie_authenticate_request(request):
        from alexandrie import Identity  # the public API, as a plugin imports it

        login = request.headers.get("X-Test-User")
        if not login:
            return None
        user = User.get_or_none(User.login == login) or create_user(login, actor="sso-plugin")
        return Identity(user=user)


def test_every_route_that_creates_an_account_is_audited(make_app):
    from alexandrie import hookimpl

    plugin = CreatesAccounts()
    plugin.alexandrie_authenticate_request = hookimpl(tryfirst=True)(CreatesAccounts.alexandrie_authenticate_request)
    app = make_app(plugins=[plugin], rate_limits={"enabled": False})
    assert register(app.test_client(), "carol", "127.0.0.1").status_code == 302
    assert app.test_client().get("/api/v1/crates?q=", headers={"X-Test-User": "sam"}).status_code == 200
    made = CliRunner().invoke(main, ["user", "create", "dave", "--admin"], obj=CliContext(app=app))
    assert made.exit_code == 0, made.output
    assert created_rows(app) == [("carol", "carol"), ("sso-plugin", "sam"), ("cli", "dave")]
    assert logins(app) == {"carol", "sam", "dave"}
