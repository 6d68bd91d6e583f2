"""A browser session ends for good when its user signs out, changes the password, is disabled or has the password
reset by an admin: a copy of the cookie taken before stops working, on the pages and on the API. Also the
session cookie's attributes."""

import pytest

from alexandrie.db import connection
from alexandrie.services.crates import change_read_access
from alexandrie.services.tokens import create_token
from alexandrie.services.users import create_user
from alexandrie.testing import publish, sign_in

SECRET_OWNERS = "/api/v1/crates/secret/owners"  # a restricted crate: alice reads it, anonymous clients get 404


@pytest.fixture
def app(make_app):
    app = make_app(rate_limits={"enabled": False})
    with app.app_context(), connection():
        create_user("root", password="password-root", is_admin=True)
        token = create_token(create_user("alice", password="password-alice"), "t")[1]
    assert publish(app.test_client(), token, "secret").status_code == 200
    with app.app_context(), connection():
        change_read_access("secret", "root", restricted=True)
    return app


def _copy_of_the_cookie(app, browser):
    """Another client holding the same session cookie, as someone who captured it would."""
    thief = app.test_client()
    name = app.config["SESSION_COOKIE_NAME"]
    thief.set_cookie(name, browser.get_cookie(name).value)
    return thief


def _signed_in_as_alice(client) -> bool:
    page = client.get("/account/tokens")
    api = client.get(SECRET_OWNERS)
    if page.status_code == 200 and api.status_code == 200:
        return True
    assert page.status_code == 302 and "/account/login" in page.location
    assert api.status_code == 404 and api.get_json() == client.application.test_client().get(SECRET_OWNERS).get_json()
    return False


def _sign_out(app, browser, csrf):
    browser.post("/account/logout", data={"csrf_token": csrf})


def _change_password(app, browser, csrf):
    response = browser.post("/account/", data={"current": "password-alice", "password": "new-password-1",
                                               "confirm": "new-password-1", "csrf_token": csrf})
    assert response.status_code == 302
    assert _signed_in_as_alice(browser)  # the browser that changed it stays signed in


def _admin(app, action, **form):
    admin = app.test_client()
    csrf = sign_in(admin, "root")
    response = admin.post("/admin/users/alice", data={"action": action, "csrf_token": csrf, **form})
    assert response.status_code == 302


def _disable_and_enable_again(app, browser, csrf):
    _admin(app, "disable")
    _admin(app, "enable")  # enabled again, the old sessions stay ended


def _admin_reset(app, browser, csrf):
    _admin(app, "reset-password", password="reset-password-1")


@pytest.mark.parametrize("event", [_sign_out, _change_password, _disable_and_enable_again, _admin_reset],
                         ids=["sign-out", "password-change", "disable", "admin-reset"])
def test_a_cookie_captured_before_stops_working_after(app, event):
    browser = app.test_client()
    csrf = sign_in(browser, "alice")
    thief = _copy_of_the_cookie(app, browser)
    assert _signed_in_as_alice(thief)
    event(app, browser, csrf)
    assert not _signed_in_as_alice(thief)


def test_signing_out_ends_the_sessions_on_every_browser(app):
    laptop, phone = app.test_client(), app.test_client()
    csrf = sign_in(laptop, "alice")
    sign_in(phone, "alice")
    _sign_out(app, laptop, csrf)
    assert not _signed_in_as_alice(phone)
    sign_in(phone, "alice")  # signing in again works
    assert _signed_in_as_alice(phone)


def test_an_admin_resetting_their_own_password_stays_signed_in(app):
    admin = app.test_client()
    csrf = sign_in(admin, "root")
    assert admin.post("/admin/users/root", data={"action": "reset-password", "password": "root-password-2",
                                                 "csrf_token": csrf}).status_code == 302
    assert admin.get("/admin/users").status_code == 200


def _session_cookie(app) -> str:
    response = app.test_client().get("/account/login")  # the CSRF token goes into the session
    [cookie] = [value for value in response.headers.getlist("Set-Cookie")
                if value.startswith(app.config["SESSION_COOKIE_NAME"] + "=")]
    return cookie


def test_the_session_cookie_is_samesite_lax_and_httponly(make_app):
    attributes = [a.strip() for a in _session_cookie(make_app()).split(";")]
    assert "SameSite=Lax" in attributes and "HttpOnly" in attributes
    assert "Secure" not in attributes  # an http:// public_url: browsers would drop a Secure cookie


def test_the_session_cookie_is_secure_with_an_https_public_url(make_app):
    attributes = [a.strip() for a in _session_cookie(make_app(general={"public_url": "https://crates.example"}))
                  .split(";")]
    assert {"Secure", "SameSite=Lax", "HttpOnly"} <= set(attributes)
