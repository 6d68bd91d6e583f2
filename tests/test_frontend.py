"""The browser UI through Flask's test client: pages, accounts, tokens, CSRF and the config switches."""

import re
from datetime import date, timedelta

import pytest
from click.testing import CliRunner

import alexandrie_render_mistune
import alexandrie_storage_disk
from alexandrie import hookimpl
from alexandrie.db import connection, write_transaction
from alexandrie.models import ApiToken, Crate, Version, VersionDownload
from alexandrie.services.crates import change_read_access
from alexandrie.testing import crate_metadata, create_user_with_token, dependency, make_crate, publish_body

README = """# Widget

Fast widgets. See [the guide](docs/guide.md).

```rust
fn main() { println!("hi"); }
```
"""


class RenderCounter:
    """Counts README renders, to prove pages never render Markdown per request."""

    def __init__(self):
        self.calls = 0

    @hookimpl(tryfirst=True)
    def alexandrie_render_readme(self, text, filename, repository):
        self.calls += 1
        return None


@pytest.fixture
def ui(make_app):
    def build(counter=None, **sections):
        plugins = [alexandrie_storage_disk, alexandrie_render_mistune, *([counter] if counter else [])]
        app = make_app(plugins=plugins, load_entrypoints=False, **sections)
        return UI(app)
    return build


class UI:
    def __init__(self, app):
        self.app = app
        self.client = app.test_client()
        self._token = None

    @property
    def token(self) -> str:
        if self._token is None:
            self._token = create_user_with_token(self.app, "alice")
        return self._token

    def publish(self, name, vers="0.1.0", **fields):
        meta = crate_metadata(name, vers, **fields)
        response = self.client.put("/api/v1/crates/new", data=publish_body(meta, make_crate(name, vers)),
                                   headers={"Authorization": self.token})
        assert response.status_code == 200, response.get_json()
        return response

    def csrf(self, path: str) -> str:
        page = self.client.get(path).get_data(as_text=True)
        return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"',
                         page).group(0).rsplit('"', 2)[-2]

    def post_form(self, path: str, data: dict, form_page: str | None = None):
        return self.client.post(path, data={**data, "csrf_token": self.csrf(form_page or path)})

    def text(self, path: str, status: int = 200) -> str:
        response = self.client.get(path)
        assert response.status_code == status, (path, response.status_code)
        return response.get_data(as_text=True)


@pytest.fixture
def seeded(ui):
    registry = ui()
    registry.publish("base-lib", "1.0.0", description="Base library", keywords=["widgets"],
                     categories=["data-structures"])
    registry.publish("widget", "0.1.0", description="Widgets, fast")
    registry.publish(
        "widget", "0.2.0", description="Widgets, fast", readme=README, readme_file="README.md",
        repository="https://github.com/acme/widget", homepage="https://widget.example", license="MIT",
        keywords=["widgets", "gui"], categories=["gui"], features={"default": ["fast"], "fast": []},
        deps=[dependency("base-lib", "^1.0"), dependency("base-lib", "^1.0", kind="dev"),
              dependency("cc", "^1", kind="build", optional=True, registry="https://github.com/rust-lang/crates.io-index"),
              dependency("winapi", "^0.3", target="cfg(windows)", registry="https://github.com/rust-lang/crates.io-index")])
    return registry


def test_home_shows_totals_and_lists(seeded):
    page = seeded.text("/")
    assert re.search(r"<dt>Crates</dt><dd>2</dd>", page)
    assert re.search(r"<dt>Versions</dt><dd>3</dd>", page)
    for heading in ("Most downloaded", "Recently updated", "New crates"):
        assert heading in page
    assert 'href="/crates/widget"' in page and 'href="/crates/base-lib"' in page


def test_crate_page_shows_everything_a_user_needs(seeded):
    page = seeded.text("/crates/widget")
    assert '<h1 id="widget">' in page and "https://github.com/acme/widget/blob/HEAD/docs/guide.md" in page
    assert 'class="tok-k">fn</span>' in page
    assert ">0.2.0</a>" in page and ">0.1.0</a>" in page
    assert 'href="/crates/base-lib"' in page and "Dev-dependencies" in page and "Build-dependencies" in page
    assert "optional" in page and "target: cfg(windows)" in page
    assert "cargo add widget --registry alexandrie" in page
    assert 'widget = { version = "0.2.0", registry = "alexandrie" }' in page
    assert 'href="https://widget.example"' in page and "MIT" in page
    assert 'href="/users/alice"' in page and 'href="/keywords/gui"' in page and 'href="/categories/gui"' in page
    assert "<code>fast</code>" in page
    assert '<svg class="chart"' in page


def test_reverse_dependencies_and_version_page(seeded):
    page = seeded.text("/crates/base-lib")
    # widget depends on base-lib twice (normal and dev): one crate uses it.
    assert "Used by (1)" in page and page.count('href="/crates/widget"') == 1
    old = seeded.text("/crates/widget/0.1.0")
    assert "You are looking at 0.1.0" in old and "cargo add widget@0.1.0 --registry alexandrie" in old
    assert "This version has no README." in old
    seeded.text("/crates/widget/9.9.9", status=404)
    seeded.text("/crates/nothing-here", status=404)


def test_yanked_versions_are_marked(seeded):
    response = seeded.client.delete("/api/v1/crates/widget/0.1.0/yank", headers={"Authorization": seeded.token})
    assert response.status_code == 200
    page = seeded.text("/crates/widget")
    row = re.search(r'<a href="/crates/widget/0.1.0".*?</tr>', page, re.S).group(0)
    assert "yanked" in row


def test_chart_draws_the_last_90_days_of_downloads(seeded):
    with seeded.app.app_context(), connection(), write_transaction():
        version = Version.select().join(Crate).where(Crate.name == "widget").first()
        today = date.today()
        for days_ago, count in ((0, 5), (3, 7), (89, 2), (120, 50)):
            VersionDownload.create(version=version, day=today - timedelta(days=days_ago), count=count)
    page = seeded.text("/crates/widget")
    chart = re.search(r'<svg class="chart".*?</svg>', page, re.S).group(0)
    assert chart.count('<rect class="bar"') == 3
    assert "14 in total" in chart


def test_search_filters_sorts_and_paginates(ui):
    registry = ui()
    for n in range(25):
        registry.publish(f"tool-{n:02d}", description="a tool", keywords=["tools"] if n % 2 else [])
    page = registry.text("/search?q=tool")
    assert "25 crates" in page and "Page 1 of 2" in page
    assert 'href="/search?q=tool&amp;page=2"' in page
    assert "Page 2 of 2" in registry.text("/search?q=tool&page=2")
    assert "12 crates" in registry.text("/search?q=tool&keyword=tools")
    first = re.findall(r'class="crate-name" href="/crates/([^"]+)"', registry.text("/search?q=tool&sort=name"))
    assert first[:2] == ["tool-00", "tool-01"]
    assert "12 crates" in registry.text("/keywords/tools")
    assert "0 crates" in registry.text("/search?q=zzzz")
    assert "0 crates" in registry.text("/search?q=%3Cscript%3E")


def test_keyword_category_and_user_pages(seeded):
    assert 'href="/keywords/widgets"' in seeded.text("/keywords")
    assert "2 crates" in seeded.text("/keywords/widgets")
    assert 'href="/categories/gui"' in seeded.text("/categories")
    assert "1 crate" in seeded.text("/categories/gui")
    seeded.text("/categories/nope", status=404)
    user = seeded.text("/users/alice")
    assert "Crates owned (2)" in user
    seeded.text("/users/nobody", status=404)


def test_restricted_crates_are_absent_for_anonymous_visitors(seeded):
    with seeded.app.app_context(), connection():
        change_read_access("widget", "root", restricted=True)
    seeded.text("/crates/widget", status=404)
    assert 'href="/crates/widget"' not in seeded.text("/")
    assert 'href="/crates/widget"' not in seeded.text("/search?q=widget")


def test_register_login_tokens_and_revoke(ui):
    registry = ui()
    client = registry.client
    response = registry.post_form("/account/register", {"login": "bob", "password": "long-password",
                                                          "confirm": "long-password"})
    assert response.status_code == 302 and response.location.endswith("/account/tokens")
    response = registry.post_form("/account/tokens", {"label": "laptop"})
    before = re.search(r"<td>laptop</td>.*?</tr>", registry.text("/account/tokens"), re.S).group(0)
    assert before.count("<time") == 1 and "never" in before
    token = re.search(r'<code id="new-token">([^<]+)</code>', response.get_data(as_text=True)).group(1)
    assert response.headers["Cache-Control"] == "no-store"
    with registry.app.app_context(), connection():
        row = ApiToken.get(ApiToken.label == "laptop")
        assert row.token_hash != token and token not in registry.text("/account/tokens")
    published = client.put("/api/v1/crates/new", headers={"Authorization": token},
                           data=publish_body(crate_metadata("bobs", "0.1.0"), make_crate("bobs", "0.1.0")))
    assert published.status_code == 200
    row_html = re.search(r"<td>laptop</td>.*?</tr>", registry.text("/account/tokens"), re.S).group(0)
    with registry.app.app_context(), connection():
        last_used = ApiToken.get_by_id(row.id).last_used_at
    assert last_used is not None and row_html.count("<time") == 2  # created and last used
    response = registry.post_form(f"/account/tokens/{row.id}/revoke", {}, form_page="/account/tokens")
    assert response.status_code == 302
    assert "revoked" in registry.text("/account/tokens")
    refused = client.put("/api/v1/crates/new", headers={"Authorization": token},
                         data=publish_body(crate_metadata("bobs", "0.2.0"), make_crate("bobs", "0.2.0")))
    assert refused.status_code == 403
    registry.post_form("/account/logout", {}, form_page="/")
    assert client.get("/account/tokens").status_code == 302


def test_login_checks_the_password_and_keeps_next_local(ui):
    registry = ui()
    create_user_with_token(registry.app, "carol")
    wrong = registry.post_form("/account/login", {"login": "carol", "password": "nope-nope"})
    assert wrong.status_code == 400 and "Wrong login or password." in wrong.get_data(as_text=True)
    page = "/account/login?next=//evil.example/x"
    response = registry.client.post(page, data={"login": "carol", "password": "password-carol",
                                                "csrf_token": registry.csrf(page)})
    assert response.status_code == 302 and response.location == "/"
    response = registry.post_form("/account/", {"current": "password-carol", "password": "new-password-1",
                                                "confirm": "new-password-1"})
    assert response.status_code == 302
    registry.post_form("/account/logout", {}, form_page="/")
    ok = registry.post_form("/account/login?next=/account/tokens",
                            {"login": "carol", "password": "new-password-1"}, form_page="/account/login")
    assert ok.status_code == 302 and ok.location == "/account/tokens"


def test_posts_without_the_csrf_token_are_refused(ui):
    registry = ui()
    create_user_with_token(registry.app, "dave")
    response = registry.client.post("/account/login", data={"login": "dave", "password": "password-dave"})
    assert response.status_code == 400 and "CSRF" in response.get_data(as_text=True)
    registry.post_form("/account/login", {"login": "dave", "password": "password-dave"})
    response = registry.client.post("/account/tokens", data={"label": "sneaky"})
    assert response.status_code == 400
    with registry.app.app_context(), connection():
        assert not ApiToken.select().where(ApiToken.label == "sneaky").exists()
        token = ApiToken.get(ApiToken.label == "tests")
    assert registry.client.post(f"/account/tokens/{token.id}/revoke").status_code == 400
    with registry.app.app_context(), connection():
        assert ApiToken.get_by_id(token.id).revoked_at is None


def test_registration_can_be_closed(ui):
    registry = ui(frontend={"allow_registration": False})
    assert registry.client.get("/account/register").status_code == 403
    assert 'href="/account/register"' not in registry.text("/account/login")


def test_login_required_puts_the_whole_ui_behind_sign_in(ui):
    registry = ui(frontend={"login_required": True})
    response = registry.client.get("/crates/anything?x=1")
    assert response.status_code == 302 and "/account/login?next=" in response.location
    assert registry.client.get("/search").status_code == 302
    assert registry.client.get("/account/login").status_code == 200
    assert registry.client.get("/assets/alexandrie.css").status_code == 200
    assert registry.client.get("/index/config.json").status_code == 200
    assert registry.token  # creates alice
    registry.post_form("/account/login", {"login": "alice", "password": "password-alice"})
    assert registry.client.get("/").status_code == 200


def test_frontend_off_leaves_cargo_working(ui):
    registry = ui(frontend={"enabled": False})
    assert registry.client.get("/").status_code == 404
    assert registry.client.get("/account/login").status_code == 404
    assert "Getting an API token" in registry.text("/me")
    registry.publish("still-works")
    assert registry.client.get("/index/st/il/still-works").status_code == 200


def test_pages_do_not_render_markdown_per_request(ui):
    counter = RenderCounter()
    registry = ui(counter=counter)
    registry.publish("readme-once", readme=README, readme_file="README.md")
    assert counter.calls == 1
    for _ in range(3):
        assert "Fast widgets" in registry.text("/crates/readme-once")
        registry.text("/search?q=readme")
    assert counter.calls == 1


def test_readme_rerender_updates_stored_html(ui, tmp_path):
    registry = ui()
    registry.publish("stale", readme=README, readme_file="README.md")
    with registry.app.app_context(), connection(), write_transaction():
        Version.update(readme_html="<p>old</p>").execute()
    from alexandrie.services.readmes import rerender_all

    with registry.app.app_context(), connection():
        assert rerender_all() == 1
        assert "Fast widgets" in Version.get().readme_html
        assert rerender_all() == 0


def test_readme_rerender_command_shows_progress(tmp_path):
    from alexandrie.cli import main

    config = tmp_path / "alexandrie.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path}/db.sqlite"\n[storage]\ntype = "disk"\n'
                      f'path = "{tmp_path}/crates"\n')
    result = CliRunner().invoke(main, ["--config", str(config), "readme", "rerender"])
    assert result.exit_code == 0, result.output
    assert "rendered 0 READMEs" in result.output


def test_friendly_error_pages(ui):
    registry = ui()
    page = registry.text("/no/such/page", status=404)
    assert "Page not found" in page and 'href="/search"' in page
    assert registry.client.get("/api/v1/crates/nope/0.1.0/download").is_json
    response = registry.client.get("/", headers={"Accept": "text/html"})
    assert "Content-Security-Policy" in response.headers
