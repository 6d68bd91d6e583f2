"""After signing in, the browser goes back to the page it came from, and never to another site, however the
``next`` value is dressed up to look like a local path."""

import pytest

from alexandrie.db import connection
from alexandrie.services.users import create_user
from alexandrie.testing import csrf_token

HOME = "/"
# What arrives in the query string, percent-encoded as an attacker would put it in a link.
HOSTILE = [
    "/%09/evil.example/phish",        # a tab: browsers drop it, leaving //evil.example
    "/%0d/evil.example/phish",        # CR: a header split, or a 500 after the user signed in
    "/%0a/evil.example/phish",        # LF
    "/%0d%0aSet-Cookie:%20x=1",
    "%2F%2Fevil.example",             # //evil.example, encoded
    "//evil.example",
    "///evil.example",
    "/%5Cevil.example",               # /\evil.example: browsers read \ as /
    "/\\evil.example",
    "\\\\evil.example",
    "/%2F/evil.example",              # // once the server decodes it again
    "/%252F/evil.example",
    "/%255Cevil.example",
    "https://evil.example/",
    "https:evil.example",
    "HTTPS://evil.example",
    "javascript:alert(1)",
    "%20/evil.example",
    "%09//evil.example",
    "/%E3%80%80/evil.example",        # an ideographic space
    "/%C2%A0/evil.example",           # a no-break space
    "/%E2%80%8B/evil.example",        # a zero-width space
    "evil.example",
]
GOOD = ["/crates/foo?x=1", "/crates/foo", "/search?q=serde%20json&page=2", "/users/alice", HOME]


@pytest.fixture
def app(make_app):
    app = make_app(rate_limits={"enabled": False})
    with app.app_context(), connection():
        create_user("alice", password="password-alice")
    return app


def sign_in_with_next(app, raw_next: str):
    """Open the sign-in page as a link with ``?next=RAW`` would, then submit the form it shows."""
    client = app.test_client()
    page = client.get("/account/login", query_string=f"next={raw_next}")
    assert page.status_code in (200, 400), page.status_code
    form_action = page.text.split('<form class="card form" method="post" action="', 1)[1].split('"', 1)[0]
    response = client.post(form_action.replace("&amp;", "&"), data={
        "login": "alice", "password": "password-alice", "csrf_token": csrf_token(page.text)})
    return response


@pytest.mark.parametrize("raw_next", HOSTILE)
def test_a_hostile_next_sends_the_browser_home(app, raw_next):
    response = sign_in_with_next(app, raw_next)
    assert response.status_code == 302, (raw_next, response.status_code)
    assert response.headers["Location"] == HOME, (raw_next, response.headers["Location"])


def test_a_hostile_next_given_straight_to_the_form_also_sends_the_browser_home(app):
    """Not only through the sign-in page: the form's own query string is checked when it is posted."""
    client = app.test_client()
    csrf = csrf_token(client.get("/account/login").text)
    for raw_next in HOSTILE:
        response = client.post("/account/login", query_string=f"next={raw_next}",
                               data={"login": "alice", "password": "password-alice", "csrf_token": csrf})
        assert (response.status_code, response.headers["Location"]) == (302, HOME), raw_next


def test_a_nul_in_next_is_refused_before_anyone_signs_in(app):
    client = app.test_client()
    csrf = csrf_token(client.get("/account/login").text)
    response = client.post("/account/login", query_string="next=/%00/evil.example",
                           data={"login": "alice", "password": "password-alice", "csrf_token": csrf})
    assert response.status_code == 400 and "Location" not in response.headers
    assert client.get("/account/tokens").status_code == 302  # not signed in


@pytest.mark.parametrize("raw_next", GOOD)
def test_a_local_next_is_where_the_browser_goes(app, raw_next):
    response = sign_in_with_next(app, raw_next.replace("&", "%26").replace("?", "%3F").replace("%20", "%2520"))
    assert response.status_code == 302
    assert response.headers["Location"] == raw_next


def test_a_page_behind_sign_in_comes_back_after_it(make_app):
    app = make_app(frontend={"login_required": True}, rate_limits={"enabled": False})
    with app.app_context(), connection():
        create_user("alice", password="password-alice")
    client = app.test_client()
    sent = client.get("/search?q=serde")
    assert sent.status_code == 302
    page = client.get(sent.headers["Location"])
    response = client.post(sent.headers["Location"], data={
        "login": "alice", "password": "password-alice", "csrf_token": csrf_token(page.text)})
    assert response.headers["Location"] == "/search?q=serde"
