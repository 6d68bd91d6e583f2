"""A private (auth-required) registry over raw HTTP: nothing leaks without a valid, reading token,
and a restricted crate is absent for everyone but its owners, readers and admins."""

import hashlib
import re
from datetime import timedelta

import pytest

from alexandrie import testing as kit
from alexandrie.db import connection
from alexandrie.models import User, utcnow
from alexandrie.services.crates import change_read_access
from alexandrie.services.groups import add_members
from alexandrie.services.tokens import create_token, revoke_token
from alexandrie.services.users import create_user
from alexandrie.testing import dependency, make_crate, sign_in

SECRET = "secret-crate"
SECRET_CKSUM = hashlib.sha256(make_crate(SECRET, "0.1.0")).hexdigest()
SECRET_WORDS = ("The secret-crate crate", "TOPSECRETREADME", SECRET_CKSUM, '"name":"secret-crate"')


def publish(client, token, name, version="0.1.0", **fields):
    """The kit's publish, with a description and a README (the secret crate's says TOPSECRETREADME)."""
    readme = "TOPSECRETREADME" if name == SECRET else "public readme"
    return kit.publish(client, token, name, version, description=f"The {name} crate", readme=readme,
                       readme_file="README.md", **fields)


def make_registry(make_app, auth_required: bool):
    """alice owns the restricted SECRET crate and a public crate; tokens of every kind for the matrix."""
    app = make_app(general={"auth_required": auth_required}, rate_limits={"enabled": False})
    tokens = {}
    with app.app_context(), connection():
        alice = create_user("alice", password="password-alice")
        bob = create_user("bob", password="password-bob")
        create_user("root", is_admin=True)
        tokens["alice"] = create_token(alice, "laptop")[1]
        tokens["bob"] = create_token(bob, "laptop")[1]
        tokens["root"] = create_token(User.get(User.login == "root"), "admin")[1]
        tokens["revoked"] = (lambda row_and_text: (revoke_token(row_and_text[0]), row_and_text[1])[1])(
            create_token(alice, "old"))
        tokens["expired"] = create_token(alice, "ci", expires_at=utcnow() - timedelta(hours=1))[1]
        tokens["wrong-scope"] = create_token(alice, "new-only", scopes=["publish-new"])[1]
        tokens["bad"] = "alx_not-a-real-token"
    client = app.test_client()
    assert publish(client, tokens["alice"], "public-crate").status_code == 200
    assert publish(client, tokens["alice"], SECRET, deps=[dependency("public-crate", "^0.1")],
                   keywords=["hush"]).status_code == 200
    with app.app_context(), connection():
        change_read_access(SECRET, "root", restricted=True)
    return app, client, tokens


@pytest.fixture
def private(make_app):
    return make_registry(make_app, auth_required=True)


READS = [
    ("GET", "/index/config.json"),
    ("GET", "/index/se/cr/secret-crate"),
    ("GET", "/index/pu/bl/public-crate"),
    ("GET", "/index/3/s/sec"),
    ("GET", "/api/v1/crates?q=secret"),
    ("GET", "/api/v1/crates?q="),
    ("GET", "/api/v1/crates/secret-crate/0.1.0/download"),
    ("GET", "/api/v1/crates/public-crate/0.1.0/download"),
    ("GET", "/api/v1/crates/secret-crate/owners"),
    ("GET", "/api/v1/nothing-here"),
    ("GET", "/"),
    ("GET", "/crates/secret-crate"),
]
WRITES = [
    ("DELETE", "/api/v1/crates/secret-crate/0.1.0/yank"),
    ("PUT", "/api/v1/crates/secret-crate/0.1.0/unyank"),
    ("PUT", "/api/v1/crates/secret-crate/owners"),
    ("DELETE", "/api/v1/crates/secret-crate/owners"),
]


def call(client, method, path, token=None, headers=None, **kwargs):
    headers = {**(headers or {}), **({"Authorization": token} if token else {})}
    if path.endswith("/owners") and method != "GET":
        kwargs["json"] = {"users": ["bob"]}
    return client.open(path, method=method, headers=headers, **kwargs)


def assert_no_leak(response, what):
    body = response.get_data(as_text=True)
    for word in SECRET_WORDS:
        assert word not in body, f"{what}: body leaks {word!r}: {body[:300]}"
    assert "ETag" not in response.headers or response.status_code == 200, what


@pytest.mark.parametrize("credential", [None, "bad", "revoked", "expired"])
def test_every_path_refuses_without_a_valid_token(private, credential):
    app, client, tokens = private
    for method, path in READS + WRITES + [("PUT", "/api/v1/crates/new")]:
        kwargs = {"data": b"\0\0\0\0"} if path.endswith("/new") else {}
        response = call(client, method, path, tokens.get(credential), **kwargs)
        assert_no_leak(response, f"{credential} {method} {path}")
        if not path.startswith(("/api/", "/index/")):  # pages send browsers to the sign-in form
            assert response.status_code == 302 and "/account/login?next=" in response.headers["Location"], path
            continue
        assert response.status_code == 401, (method, path, response.status_code)
        assert response.headers["WWW-Authenticate"] == f'Cargo login_url="{_public_url(app)}/me"'
        if path.startswith(("/api/", "/index/")):
            detail = response.get_json()["errors"][0]["detail"]
            assert detail
        assert_no_leak(response, f"{credential} {method} {path}")
    # publishing without a valid token stored nothing
    assert publish(client, tokens.get(credential), "sneaky").status_code == 401
    assert call(client, "GET", "/index/sn/ea/sneaky", tokens["alice"]).status_code == 404


def _public_url(app):
    return app.extensions["alexandrie"].settings.general.public_url


def test_refusals_say_why(private):
    _, client, tokens = private
    expired = call(client, "GET", "/index/config.json", tokens["expired"]).get_json()["errors"][0]["detail"]
    assert "expired at" in expired and "`ci`" in expired
    revoked = call(client, "GET", "/index/config.json", tokens["revoked"]).get_json()["errors"][0]["detail"]
    assert "revoked" in revoked
    missing = call(client, "GET", "/index/config.json").get_json()["errors"][0]["detail"]
    assert 'credential-provider = "cargo:token"' in missing and "/me" in missing


def test_open_endpoints_need_no_token(private):
    _, client, _ = private
    assert client.get("/health").status_code == 200
    me = client.get("/me")
    assert me.status_code == 200 and 'credential-provider = "cargo:token"' in me.text


def test_a_token_without_read_scope_gets_config_only(private):
    _, client, tokens = private
    assert call(client, "GET", "/index/config.json", tokens["wrong-scope"]).status_code == 200
    for method, path in READS[1:9] + WRITES:
        response = call(client, method, path, tokens["wrong-scope"])
        assert response.status_code == 403, (method, path)
        detail = response.get_json()["errors"][0]["detail"]
        assert "lacks the `" in detail, detail
        assert_no_leak(response, f"wrong scope {method} {path}")
    assert "`read` scope" in call(client, "GET", "/index/pu/bl/public-crate", tokens["wrong-scope"]).get_json()[
        "errors"][0]["detail"]
    response = publish(client, tokens["wrong-scope"], SECRET, "0.2.0")
    assert response.status_code == 403 and "`publish-update` scope" in response.get_json()["errors"][0]["detail"]


def visible_everywhere(client, token) -> dict:
    """Whether SECRET shows through each read path for this token."""
    search = call(client, "GET", "/api/v1/crates?q=secret", token).get_json()["crates"]
    listing = call(client, "GET", "/api/v1/crates?q=&per_page=100", token).get_json()
    return {
        "index": call(client, "GET", "/index/se/cr/secret-crate", token).status_code == 200,
        "download": call(client, "GET", "/api/v1/crates/secret-crate/0.1.0/download", token).status_code == 200,
        "owners": call(client, "GET", "/api/v1/crates/secret-crate/owners", token).status_code == 200,
        "search": any(c["name"] == SECRET for c in search),
        "listing": any(c["name"] == SECRET for c in listing["crates"]) or listing["meta"]["total"] != 1,
    }


def test_restricted_crate_is_absent_for_another_user(private):
    _, client, tokens = private
    assert visible_everywhere(client, tokens["bob"]) == dict.fromkeys(
        ("index", "download", "owners", "search", "listing"), False)
    for method, path in READS[1:9] + WRITES:
        if "public" in path:
            continue
        response = call(client, method, path, tokens["bob"])
        assert_no_leak(response, f"bob {method} {path}")
        if ("secret-crate" in path or "se/cr" in path) and "?" not in path:
            # indistinguishable from a crate that never existed
            absent = call(client, method, path.replace("secret-crate", "nosuch-crate").replace("se/cr/", "no/su/"),
                          tokens["bob"])
            assert response.status_code == absent.status_code == 404, (method, path, response.status_code)
            assert response.get_data(as_text=True) == absent.get_data(as_text=True).replace(
                "nosuch-crate", "secret-crate").replace("no/su/", "se/cr/")
    etag = call(client, "GET", "/index/se/cr/secret-crate", tokens["alice"]).headers["ETag"]
    response = call(client, "GET", "/index/se/cr/secret-crate", tokens["bob"], headers={"If-None-Match": etag})
    assert response.status_code == 404
    assert call(client, "GET", "/index/pu/bl/public-crate", tokens["bob"]).status_code == 200


def test_restricted_crate_is_visible_to_owner_admin_readers_and_groups(private):
    app, client, tokens = private
    everywhere = dict.fromkeys(("index", "download", "owners", "search", "listing"), True)
    assert visible_everywhere(client, tokens["alice"]) == everywhere
    assert visible_everywhere(client, tokens["root"]) == everywhere
    with app.app_context(), connection():
        change_read_access(SECRET, "root", add_readers=["bob"])
    assert visible_everywhere(client, tokens["bob"]) == everywhere
    with app.app_context(), connection():
        carol = create_user("carol")
        carol_token = create_token(carol, "t")[1]
        assert visible_everywhere(client, carol_token)["index"] is False
        add_members("team", ["carol"])
        change_read_access(SECRET, "root", add_readers=["@team"])
    assert visible_everywhere(client, carol_token) == everywhere


def test_reader_may_not_write(private):
    app, client, tokens = private
    with app.app_context(), connection():
        change_read_access(SECRET, "root", add_readers=["bob"])
    response = call(client, "DELETE", "/api/v1/crates/secret-crate/0.1.0/yank", tokens["bob"])
    assert response.status_code == 403 and "not an owner" in response.get_json()["errors"][0]["detail"]


def test_public_registry_hides_restricted_crates_from_anonymous_readers(make_app):
    _, client, tokens = make_registry(make_app, auth_required=False)
    assert call(client, "GET", "/index/pu/bl/public-crate").status_code == 200
    assert visible_everywhere(client, None) == dict.fromkeys(
        ("index", "download", "owners", "search", "listing"), False)
    assert visible_everywhere(client, tokens["alice"])["index"] is True
    assert "auth-required" not in call(client, "GET", "/index/config.json").get_json()


def test_config_json_says_auth_required(private):
    _, client, tokens = private
    assert call(client, "GET", "/index/config.json", tokens["bob"]).get_json()["auth-required"] is True


def without_csrf_token(page):
    """The sign-out form's CSRF token carries a timestamp, so two renderings a second apart differ there."""
    return re.sub(r'(<input[^>]*name="csrf_token"[^>]*value=")[^"]*"', r'\1"', page)


PAGES = ["/", "/search?q=secret", "/search?q=", "/crates/public-crate", "/users/alice", "/keywords",
         "/keywords/hush", "/categories"]


def test_pages_need_sign_in_and_hide_restricted_crates(private):
    app, _, _ = private
    anonymous = app.test_client()
    for path in PAGES + ["/crates/secret-crate", "/crates/secret-crate/0.1.0"]:
        response = anonymous.get(path)
        assert response.status_code == 302 and "/account/login" in response.headers["Location"], path
    bob = app.test_client()
    sign_in(bob, "bob")
    for path in PAGES:
        response = bob.get(path)
        assert response.status_code in (200, 404), path
        assert SECRET not in response.text and "TOPSECRETREADME" not in response.text, path
    for path in ("/crates/secret-crate", "/crates/secret-crate/0.1.0"):
        assert bob.get(path).status_code == 404
        assert SECRET in bob.get(path).text  # only the requested path is echoed...
        restricted = without_csrf_token(bob.get(path).text)
        missing = without_csrf_token(bob.get(path.replace(SECRET, "nosuch-crate")).text)
        assert restricted == missing.replace("nosuch-crate", SECRET)  # ...exactly as for a crate that never existed
    # a signed-in browser may also use the API for reads, with the same filtering
    assert bob.get("/api/v1/crates/secret-crate/0.1.0/download").status_code == 404
    alice = app.test_client()
    sign_in(alice, "alice")
    page = alice.get("/crates/secret-crate")
    assert page.status_code == 200 and "TOPSECRETREADME" in page.text
    assert SECRET in alice.get("/crates/public-crate").text  # reverse dependency
    assert SECRET in alice.get("/search?q=secret").text and SECRET in alice.get("/users/alice").text
    assert alice.get("/api/v1/crates/secret-crate/0.1.0/download").status_code == 200
