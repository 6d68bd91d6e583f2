"""The browser UI's lists and small details through Flask's test client: every list is a bounded page with a
filter box, and the details a new team saw on its first screenshots."""

import re

import pytest

from alexandrie.db import connection, write_transaction
from alexandrie.models import AuditEvent, Category, User
from alexandrie.services.users import create_user
from alexandrie.testing import create_user_with_token, csrf_token, dependency, publish, sign_in
from alexandrie.web.pagination import PER_PAGE
from alexandrie.web.views import admin, frontend

CRATES_IO_GIT = "https://github.com/rust-lang/crates.io-index"
CRATES_IO_SPARSE = "sparse+https://index.crates.io/"


@pytest.fixture
def registry(make_app):
    """A registry with an admin (``root``) and a publisher (``alice``, whose token the tests publish with)."""
    app = make_app(rate_limits={"enabled": False})
    token = create_user_with_token(app, "alice")
    create_user_with_token(app, "root", admin=True)
    return app, app.test_client(), token


def publish_all(client, token, names, version="0.1.0", **fields):
    for name in names:
        response = publish(client, token, name, version, **fields)
        assert response.status_code == 200, response.get_json()


def listed_crates(page: str) -> list[str]:
    return re.findall(r'class="crate-name" href="/crates/([^"]+)"', page)


def table_rows(page: str, table: str) -> list[str]:
    body = re.search(rf'<table class="{table}">.*?<tbody>(.*?)</tbody>', page, re.S).group(1)
    return re.findall(r"<tr[ >].*?</tr>", body, re.S)


def has_next_page(page: str) -> bool:
    return 'rel="next"' in page


# --- Pagination and filters -----------------------------------------------------------------------


def test_user_page_shows_one_page_of_crates_and_filters_them(registry):
    _, client, token = registry
    names = [f"tool-{n:02d}" for n in range(PER_PAGE + 5)]
    publish_all(client, token, names)
    first = client.get("/users/alice").text
    assert listed_crates(first) == names[:PER_PAGE] and has_next_page(first)
    assert f"Crates owned ({len(names)})" in first
    second = client.get("/users/alice?page=2").text
    assert listed_crates(second) == names[PER_PAGE:] and not has_next_page(second)
    assert "Page 2 of 2" in second
    assert listed_crates(client.get("/users/alice?q=tool-1").text) == [f"tool-{n}" for n in range(10, 20)]
    assert listed_crates(client.get("/users/alice?q=TOOL_21").text) == ["tool-21"]  # a crate's canonical name
    filtered = client.get("/users/alice?q=nothing-like-it").text
    assert listed_crates(filtered) == [] and "No crate matches “nothing-like-it”." in filtered
    assert listed_crates(client.get("/users/alice?page=99").text) == names[PER_PAGE:]  # past the end: the last


def test_keyword_and_category_listings_are_paged_and_filtered(registry):
    _, client, token = registry
    names = [f"kw-crate-{n:02d}" for n in range(PER_PAGE + 3)]
    publish_all(client, token, names, keywords=["shared"])
    first = client.get("/keywords/shared?sort=name").text
    assert len(listed_crates(first)) == PER_PAGE and has_next_page(first)
    assert len(listed_crates(client.get("/keywords/shared?sort=name&page=2").text)) == 3
    assert 'name="q"' in first
    assert listed_crates(client.get("/keywords/shared?q=crate-07").text) == ["kw-crate-07"]


def test_keywords_index_is_paged_and_filtered(registry):
    _, client, token = registry
    words = [f"word{n:03d}" for n in range(frontend.KEYWORDS_PER_PAGE + 4)]
    for start in range(0, len(words), 5):  # cargo sends at most five keywords
        publish_all(client, token, [f"words-{start}"], keywords=words[start:start + 5])
    first = client.get("/keywords").text
    shown = re.findall(r'href="/keywords/(word\d+)"', first)
    assert len(shown) == frontend.KEYWORDS_PER_PAGE and has_next_page(first)
    rest = re.findall(r'href="/keywords/(word\d+)"', client.get("/keywords?page=2").text)
    assert sorted(shown + rest) == words
    assert re.findall(r'href="/keywords/(word\d+)"', client.get("/keywords?q=word10").text) == [
        f"word{n}" for n in range(100, 104)]


def test_categories_index_is_paged_and_filtered(registry):
    app, client, _ = registry
    with app.app_context(), connection(), write_transaction():
        for n in range(frontend.CATEGORIES_PER_PAGE + 2):
            Category.create(slug=f"area-{n:03d}", name=f"Area {n:03d}")
    first = client.get("/categories").text
    assert len(re.findall(r'href="/categories/area-', first)) == frontend.CATEGORIES_PER_PAGE
    assert has_next_page(first)
    assert len(re.findall(r'href="/categories/area-', client.get("/categories?page=2").text)) == 2
    assert re.findall(r'href="/categories/(area-\d+)"', client.get("/categories?q=AREA 06").text) == [
        "area-060", "area-061"]


def test_crate_page_shows_the_newest_versions_and_links_to_all_of_them(registry):
    _, client, token = registry
    count = frontend.VERSIONS_PER_PAGE + 4
    nums = [f"0.{n}.0" for n in range(count)]
    for num in nums:
        publish_all(client, token, ["many"], num)
    newest_first = nums[::-1]
    page = client.get("/crates/many").text
    shown = re.findall(r'<td><a href="/crates/many/([^"]+)"', page)
    assert shown == newest_first[:frontend.RECENT_VERSIONS]
    assert f"Versions ({count})" in page and f'href="/crates/many/versions">All {count} versions' in page
    first = client.get("/crates/many/versions").text
    assert re.findall(r'<td><a href="/crates/many/([^"]+)"', first) == newest_first[:frontend.VERSIONS_PER_PAGE]
    assert has_next_page(first)
    second = client.get("/crates/many/versions?page=2").text
    assert re.findall(r'<td><a href="/crates/many/([^"]+)"', second) == newest_first[frontend.VERSIONS_PER_PAGE:]
    assert re.findall(r'<td><a href="/crates/many/([^"]+)"', client.get("/crates/many/versions?q=0.5").text) == [
        "0.53.0", "0.52.0", "0.51.0", "0.50.0", "0.5.0"]
    # An old version's page still works, though it is not among the newest shown.
    assert "You are looking at 0.1.0" in client.get("/crates/many/0.1.0").text


def test_admin_users_are_paged_and_filtered(registry):
    app, client, _ = registry
    with app.app_context(), connection():
        for n in range(admin.PER_PAGE):
            create_user(f"member-{n:02d}", email=f"m{n}@team.example")
    sign_in(client, "root")
    first = client.get("/admin/users").text
    assert len(table_rows(first, "users")) == admin.PER_PAGE and has_next_page(first)
    total = admin.PER_PAGE + 2  # alice and root too
    second = client.get("/admin/users?page=2").text
    assert len(table_rows(second, "users")) == total - admin.PER_PAGE and not has_next_page(second)
    assert f"of {total} users" in first
    assert len(table_rows(client.get("/admin/users?q=MEMBER-1").text, "users")) == 10
    by_mail = table_rows(client.get("/admin/users?q=m7@team").text, "users")
    assert len(by_mail) == 1 and "member-07" in by_mail[0]


def test_admin_crates_and_a_crates_versions_are_paged_and_filtered(registry):
    _, client, token = registry
    names = [f"lib-{n:02d}" for n in range(admin.PER_PAGE + 1)]
    publish_all(client, token, names)
    for n in range(1, admin.PER_PAGE + 1):
        publish_all(client, token, ["lib-00"], f"0.1.{n}")
    sign_in(client, "root")
    first = client.get("/admin/crates").text
    assert len(table_rows(first, "crates")) == admin.PER_PAGE and has_next_page(first)
    assert len(table_rows(client.get("/admin/crates?page=2").text, "crates")) == 1
    assert len(table_rows(client.get("/admin/crates?q=lib-1").text, "crates")) == 10
    versions = client.get("/admin/crates/lib-00").text
    assert len(table_rows(versions, "versions")) == admin.PER_PAGE and has_next_page(versions)
    assert "<td>0.1.30</td>" in versions  # newest first
    assert table_rows(client.get("/admin/crates/lib-00?page=2").text, "versions")[0].count("<td>0.1.0</td>") == 1
    assert len(table_rows(client.get("/admin/crates/lib-00?q=0.1.2").text, "versions")) == 11  # 0.1.2, 0.1.20-29


def test_audit_log_is_paged(registry):
    app, client, token = registry
    for n in range(admin.AUDIT_PAGE + 1):
        publish_all(client, token, ["audited"], f"0.0.{n}")
    sign_in(client, "root")
    first = client.get("/admin/audit?action=publish").text
    assert first.count("<td>publish</td>") == admin.AUDIT_PAGE and has_next_page(first)
    assert 'href="/admin/audit?action=publish&amp;page=2"' in first
    assert client.get("/admin/audit?action=publish&page=2").text.count("<td>publish</td>") == 1


# --- Creating users from the admin pages -----------------------------------------------------------


def create_form(client) -> str:
    return csrf_token(client.get("/admin/users").text)


def test_admin_creates_a_user_with_a_role(registry):
    app, client, _ = registry
    sign_in(client, "root")
    response = client.post("/admin/users", data={"csrf_token": create_form(client), "login": "newbie",
                                                 "email": "newbie@team.example", "password": "first-password",
                                                 "role": "read-only"})
    assert response.status_code == 302 and response.location.endswith("/admin/users?q=newbie")
    listed = client.get(response.location).text
    assert "newbie: created as read-only" in listed and ">read-only</span>" in listed
    with app.app_context(), connection():
        user = User.get(User.login == "newbie")
        assert user.is_read_only and not user.is_admin and user.email == "newbie@team.example"
        audit = [(e.action, e.actor) for e in AuditEvent.select().where(AuditEvent.actor == "root")]
    assert ("user-create", "root") in audit and "role-change" not in {action for action, _ in audit}  # one change
    other = client.application.test_client()
    sign_in(other, "newbie", "first-password")  # the password the admin chose works

    admin_made = client.post("/admin/users", data={"csrf_token": create_form(client), "login": "second-admin",
                                                   "password": "admin-password", "role": "admin"})
    assert admin_made.status_code == 302
    with app.app_context(), connection():
        assert User.get(User.login == "second-admin").is_admin


def test_admin_user_creation_explains_what_is_wrong(registry):
    app, client, _ = registry
    sign_in(client, "root")
    taken = client.post("/admin/users", data={"csrf_token": create_form(client), "login": "Alice",
                                              "password": "long-enough", "role": "user"})
    assert taken.status_code == 400 and "is taken" in taken.text
    bad = client.post("/admin/users", data={"csrf_token": create_form(client), "login": "carol",
                                            "email": "not-an-email", "password": "short", "role": "owner"})
    assert bad.status_code == 400
    assert "this is not an e-mail address" in bad.text and "at least 8" in bad.text and "Not a valid choice" in bad.text
    no_csrf = client.post("/admin/users", data={"login": "carol", "password": "long-enough", "role": "user"})
    assert no_csrf.status_code == 400
    with app.app_context(), connection():
        assert not User.select().where(User.login_key == "carol").exists()


def test_only_admins_can_create_users(registry):
    app, client, _ = registry
    csrf = sign_in(client, "alice")
    assert client.get("/admin/users").status_code == 404
    refused = client.post("/admin/users", data={"csrf_token": csrf, "login": "sneaky", "password": "long-enough",
                                                "role": "admin"})
    assert refused.status_code == 404
    anonymous = app.test_client().post("/admin/users", data={"login": "sneaky2", "password": "long-enough"})
    assert anonymous.status_code in (400, 404)  # no CSRF token, and no admin either
    with app.app_context(), connection():
        assert not User.select().where(User.login.in_(["sneaky", "sneaky2"])).exists()


# --- Registration ----------------------------------------------------------------------------------


def register(client, **fields):
    csrf = csrf_token(client.get("/account/register").text)
    return client.post("/account/register", data={"csrf_token": csrf, "login": "dana", "password": "long-password",
                                                  "confirm": "long-password", **fields})


@pytest.mark.parametrize("email", ["not-an-email", "dana@", "@example.com", "dana@localhost", "da na@example.com"])
def test_registration_refuses_what_is_not_an_email_address(registry, email):
    app, client, _ = registry
    refused = register(client, email=email)
    assert refused.status_code == 400
    assert "this is not an e-mail address: write it as name@example.com, or leave it empty" in refused.text
    with app.app_context(), connection():
        assert not User.select().where(User.login == "dana").exists()


def test_registration_accepts_an_address_or_none(registry):
    app, client, _ = registry
    assert register(client, email="dana@team.example").status_code == 302
    assert register(app.test_client(), login="erin", email="").status_code == 302
    with app.app_context(), connection():
        assert User.get(User.login == "dana").email == "dana@team.example"
        assert User.get(User.login == "erin").email is None


# --- The crate page's details ------------------------------------------------------------------------


def test_crates_io_dependencies_say_so_and_link_there(registry):
    _, client, token = registry
    publish_all(client, token, ["local-base"])
    publish_all(client, token, ["app"], deps=[
        dependency("serde", "^1", registry=CRATES_IO_GIT), dependency("tokio", "^1", registry=CRATES_IO_SPARSE),
        dependency("secret", "^2", registry="https://git.example/index"), dependency("local-base", "^0.1")])
    deps = re.search(r'<section aria-labelledby="deps-heading">(.*?)</section>', client.get("/crates/app").text,
                     re.S).group(1)
    for name in ("serde", "tokio"):
        item = re.search(rf'<li><a href="https://crates.io/crates/{name}">{name}</a>.*?</li>', deps, re.S).group(0)
        assert ">crates.io</span>" in item and "other registry" not in item
    secret = re.search(r"<li><span>secret</span>.*?</li>", deps, re.S).group(0)
    assert ">other registry</span>" in secret
    assert re.search(r'<li><a href="/crates/local-base">local-base</a>.*?</li>', deps, re.S)


def test_a_versions_links_value_is_shown(registry):
    _, client, token = registry
    publish_all(client, token, ["libgit2-sys"], links="git2")
    publish_all(client, token, ["plain"])
    assert re.search(r"<dt>Links</dt><dd><code>git2</code>", client.get("/crates/libgit2-sys").text)
    assert "<dt>Links</dt>" not in client.get("/crates/plain").text


def test_install_box_comes_before_the_readme(registry):
    _, client, token = registry
    publish_all(client, token, ["boxed"], readme="# Boxed", readme_file="README.md")
    page = client.get("/crates/boxed").text
    assert page.index('class="card install-box"') < page.index('id="readme-heading"')


def test_public_and_admin_pages_call_a_version_that_is_not_yanked_available(registry):
    _, client, token = registry
    publish_all(client, token, ["worded"])
    sign_in(client, "root")
    admin_page = client.get("/admin/crates/worded").text
    assert "<td>available</td>" in admin_page and "live" not in admin_page
    assert ">available</span>" in client.get("/crates/worded").text


def test_error_pages_show_names_as_code_not_backticks(registry):
    _, client, _ = registry
    page = client.get("/crates/no-such-crate").text
    detail = re.search(r'<p class="error-code">404</p>.*?<p>(.*?)</p>', page, re.S).group(1)
    assert "<code>no-such-crate</code>" in detail and "`" not in detail
    hostile = client.get("/crates/%60%3Cb%3Ex%3C%2Fb%3E%60").text  # `<b>x</b>` stays text inside the code
    assert "<b>x</b>" not in hostile
    assert client.get("/api/v1/crates/no-such-crate/0.1.0/download").get_json()["errors"][0]["detail"].count("`") == 2
