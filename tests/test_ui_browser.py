"""The web UI in a real headless Chromium (Debian's package, driven by Playwright), with real cargo.

Screenshots of every page go to ``test-artifacts/ui/``.
"""

import json
import urllib.request
from pathlib import Path

import pytest

import alexandrie_render_mistune
import alexandrie_storage_disk
from alexandrie.testing import (
    crate_metadata,
    create_user_with_token,
    dependency,
    make_crate,
    publish_body,
    require,
    require_tool,
    write_package,
)

# Layout, scripts and accessibility are the browser's side: one pass; the pages' queries are
# tested on every database by test_ui_pages and test_frontend.
pytestmark = pytest.mark.sqlite_only

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts" / "ui"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

README = """# Browser demo

A crate published by the browser test.

| Feature | Status |
|---------|--------|
| Tables  | yes    |

- [x] rendered once at publish

```rust
fn main() { println!("hello"); }
```
"""

HOSTILE_README = """# Hostile README

<script>window.__pwned = "script tag"</script>
<img src="missing.png" alt="missing" onerror="window.__pwned = 'onerror'">
<a href="javascript:window.__pwned='javascript link'" id="js-link">click me</a>
[markdown link](javascript:window.__pwned='markdown%20link')
<svg onload="window.__pwned='svg onload'"><script>window.__pwned='svg script'</script></svg>
<style>body { display: none !important }</style>
<div style="position:fixed;top:0;left:0;width:100%;height:100%;background:red" onmouseover="window.__pwned='hover'">overlay</div>
<iframe srcdoc="<script>parent.__pwned='iframe'</script>"></iframe>
<details open ontoggle="window.__pwned='ontoggle'"><summary>details</summary>body</details>
<object data="javascript:window.__pwned='object'"></object>
<form action="javascript:window.__pwned='form'"><button id="hostile-button">send</button></form>
<math><mtext><table><mglyph><style><img src=x onerror="window.__pwned='mxss'"></style></mglyph></table></mtext></math>
"""


@pytest.fixture(scope="module")
def browser():
    chromium = require_tool("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require(False, "the `playwright` Python package is not installed (pip install -e '.[test]')")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def app(make_app):
    """Only the built-in plugins, disk storage and the mistune renderer: nothing else installed changes the UI."""
    return make_app(plugins=[alexandrie_storage_disk, alexandrie_render_mistune], load_entrypoints=False)


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.on("dialog", lambda dialog: pytest.fail(f"a script opened a dialog: {dialog.message}"))
    yield page
    context.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def submit(page, button_text: str) -> None:
    with page.expect_navigation():
        page.get_by_role("button", name=button_text, exact=True).click()


def register(page, url: str, login: str, password: str) -> None:
    page.goto(f"{url}/account/register")
    page.get_by_label("Login").fill(login)
    page.get_by_label("Password (at least").fill(password)
    page.get_by_label("Repeat the password").fill(password)
    shot(page, "register")
    submit(page, "Create account")


def test_register_publish_search_read_and_revoke(page, live_server, cargo_factory, tmp_path):
    url = live_server.url
    register(page, url, "ada", "correct-horse-battery")
    assert page.url.endswith("/account/tokens")

    submit(page, "Sign out")
    page.goto(f"{url}/account/login")
    page.get_by_label("Login").fill("ada")
    page.get_by_label("Password").fill("wrong-password")
    submit(page, "Sign in")
    assert page.get_by_text("Wrong login or password.").is_visible()
    page.get_by_label("Password").fill("correct-horse-battery")
    shot(page, "login")
    submit(page, "Sign in")
    assert page.get_by_role("button", name="Sign out").is_visible()

    page.goto(f"{url}/account/tokens")
    page.get_by_label("Label").fill("browser-ci")
    submit(page, "Create token")
    token = page.locator("#new-token").inner_text().strip()
    assert token.startswith("alx_")
    shot(page, "token-created")

    package = write_package(tmp_path, "browser-demo", readme=README, manifest_extra=(
        'keywords = ["demo", "browser"]\ncategories = ["development-tools"]\n'
        'repository = "https://github.com/acme/browser-demo"\n[features]\ndefault = []\nextra = []\n'))
    cargo = cargo_factory(live_server, token)
    cargo.run("publish", "--registry", "alex", "--no-verify", "--allow-dirty", cwd=package)
    with urllib.request.urlopen(f"{url}/api/v1/crates/browser-demo/0.1.0/download") as response:
        assert response.status == 200
    live_server.app.extensions["alexandrie"].downloads.flush()

    page.goto(url)
    shot(page, "home")
    assert page.locator(".totals").inner_text().count("1") >= 2
    page.get_by_label("Search crates").first.fill("browser demo")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "/search" in page.url
    shot(page, "search")
    with page.expect_navigation():
        page.get_by_role("link", name="browser-demo", exact=True).click()

    assert page.url.endswith("/crates/browser-demo")
    readme = page.locator("article.readme")
    assert readme.locator("h1#browser-demo").inner_text().startswith("Browser demo")
    assert readme.locator("table td").first.inner_text() == "Tables"
    assert readme.locator(".highlight .tok-k").first.inner_text() == "fn"
    assert page.locator("svg.chart rect.bar").count() == 1
    assert "1 in total" in page.locator("svg.chart title").first.text_content()
    assert page.get_by_text("cargo add browser-demo --registry alexandrie").is_visible()
    assert page.get_by_role("link", name="#demo").is_visible()
    shot(page, "crate")

    for path, name in (("/keywords/demo", "keyword"), ("/categories/development-tools", "category"),
                       ("/users/ada", "user"), ("/crates/browser-demo/0.1.0", "version"),
                       ("/no-such-page", "not-found"), ("/account/", "account")):
        page.goto(url + path)
        shot(page, name)
    assert page.get_by_role("heading", name="Your account").is_visible()

    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(f"{url}/crates/browser-demo")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    shot(page, "crate-phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    page.goto(f"{url}/account/tokens")
    submit(page, "Revoke token browser-ci")
    assert "revoked" in page.locator("table.tokens").inner_text()
    shot(page, "token-revoked")
    write_package(tmp_path, "browser-demo", "0.2.0", readme=README)
    refused = cargo.run("publish", "--registry", "alex", "--no-verify", "--allow-dirty", cwd=package, check=False)
    assert refused.returncode != 0 and "revoked" in refused.stderr


def test_hostile_readme_runs_no_script(browser, app, live_server):
    token = create_user_with_token(app, "mallory")
    meta = crate_metadata("hostile-readme", "0.1.0", readme=HOSTILE_README, readme_file="README.md",
                          description='<script>window.__pwned="description"</script><img src=x onerror=alert(1)>',
                          homepage="javascript:window.__pwned='homepage'", keywords=["xss"],
                          repository="https://github.com/acme/hostile")
    request = urllib.request.Request(f"{live_server.url}/api/v1/crates/new", method="PUT",
                                     data=publish_body(meta, make_crate("hostile-readme", "0.1.0")),
                                     headers={"Authorization": token})
    with urllib.request.urlopen(request) as response:
        assert response.status == 200, json.load(response)

    # Once as served (with the Content-Security-Policy), once with CSP bypassed: the stored HTML itself is inert.
    for bypass_csp in (False, True):
        context = browser.new_context(bypass_csp=bypass_csp)
        page = context.new_page()
        dialogs = []

        def record(dialog, dialogs=dialogs):
            dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", record)
        for path in ("/crates/hostile-readme", "/search?q=hostile", "/", "/keywords/xss"):
            page.goto(live_server.url + path)
            page.wait_for_load_state("load")
            page.mouse.move(200, 200)
            page.mouse.move(600, 400)
            assert page.evaluate("window.__pwned") is None, (path, bypass_csp)
        page.goto(live_server.url + "/crates/hostile-readme")
        readme = page.locator("article.readme")
        assert readme.locator("script, svg, iframe, object, style, form, [onerror], [onload], [style]").count() == 0
        assert page.evaluate("""Array.from(document.querySelectorAll('[href],[src],[action]')).filter(e =>
            /^\\s*(javascript|data|vbscript):/i.test(e.getAttribute('href') || e.getAttribute('src')
            || e.getAttribute('action') || '')).length""") == 0
        page.get_by_text("click me").click()
        page.wait_for_timeout(200)
        assert page.evaluate("window.__pwned") is None
        assert page.locator("body").is_visible() and page.get_by_text("Hostile README").first.is_visible()
        assert dialogs == []
        if not bypass_csp:
            shot(page, "hostile-readme")
        context.close()


def test_form_post_without_csrf_token_is_refused(page, app, live_server):
    create_user_with_token(app, "eve")
    page.goto(f"{live_server.url}/account/login")
    page.get_by_label("Login").fill("eve")
    page.get_by_label("Password").fill("password-eve")
    page.evaluate("document.querySelector('input[name=csrf_token]').remove()")
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    assert "CSRF" in page.content()
    shot(page, "csrf-refused")
    page.goto(f"{live_server.url}/account/tokens")
    assert "/account/login" in page.url  # still signed out


def test_pages_pass_the_axe_accessibility_check(browser, app, live_server):
    try:
        from axe_playwright_python.sync_playwright import Axe
    except ImportError:
        require(False, "`axe-playwright-python` is not installed (pip install -e '.[test]')")
    token = create_user_with_token(app, "grace")
    meta = crate_metadata("a11y-demo", "1.0.0", readme=README, readme_file="README.md", description="Accessible",
                          keywords=["a11y"], categories=["accessibility"], features={"default": []})
    request = urllib.request.Request(f"{live_server.url}/api/v1/crates/new", method="PUT",
                                     data=publish_body(meta, make_crate("a11y-demo", "1.0.0")),
                                     headers={"Authorization": token})
    urllib.request.urlopen(request).close()
    context = browser.new_context(bypass_csp=True)  # axe is injected as a script
    page = context.new_page()
    axe = Axe()
    problems = {}
    pages = ["/", "/search?q=a11y", "/crates/a11y-demo", "/crates/a11y-demo/versions", "/keywords", "/categories",
             "/keywords/a11y", "/users/grace", "/account/login", "/account/register", "/nothing-here"]
    for width in (1280, 375):
        page.set_viewport_size({"width": width, "height": 900})
        for path in pages:
            page.goto(live_server.url + path)
            violations = axe.run(page).response["violations"]
            if violations:
                problems[f"{path} @{width}px"] = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
                                                  for v in violations]
    page.goto(f"{live_server.url}/account/login")
    page.get_by_label("Login").fill("grace")
    page.get_by_label("Password").fill("password-grace")
    submit(page, "Sign in")
    for path in ("/account/tokens", "/account/"):
        page.goto(live_server.url + path)
        violations = axe.run(page).response["violations"]
        if violations:
            problems[path] = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in violations]
    context.close()
    assert problems == {}


WIDTHS = {"desktop": 1280, "phone": 390}
LONG_README = "# Wide demo\n\n" + "A paragraph that fills the page, as real READMEs do. " * 40


def box(page, selector: str) -> dict:
    return page.locator(selector).first.bounding_box()


def test_key_pages_at_desktop_and_phone_widths(browser, app, live_server):
    """Screenshots of the pages a new team lives on, at both widths, and the layout a phone needs."""
    token = create_user_with_token(app, "root", admin=True)
    meta = crate_metadata("wide-demo-with-a-long-name", "1.0.0", readme=LONG_README, readme_file="README.md",
                          description="Lays out on a phone", links="wide",
                          deps=[dependency("serde", "^1", registry="https://github.com/rust-lang/crates.io-index")])
    request = urllib.request.Request(f"{live_server.url}/api/v1/crates/new", method="PUT",
                                     data=publish_body(meta, make_crate("wide-demo-with-a-long-name", "1.0.0")),
                                     headers={"Authorization": token})
    urllib.request.urlopen(request).close()
    context = browser.new_context(viewport={"width": WIDTHS["desktop"], "height": 900})
    page = context.new_page()
    page.goto(f"{live_server.url}/account/login")
    page.get_by_label("Login").fill("root")
    page.get_by_label("Password").fill("password-root")
    submit(page, "Sign in")
    pages = {"crate": "/crates/wide-demo-with-a-long-name", "tokens": "/account/tokens",
             "admin-crates": "/admin/crates", "user": "/users/root", "not-found": "/crates/no-such-crate"}
    for label, width in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": 900})
        for name, path in pages.items():
            page.goto(live_server.url + path)
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), (path, width)
            shot(page, f"{name}-{width}")

        page.goto(live_server.url + pages["crate"])
        install, readme = box(page, ".install-box"), box(page, "article.readme")
        if label == "phone":
            assert install["y"] + install["height"] < readme["y"]  # the whole install box before the README
        else:
            assert install["x"] > readme["x"] + readme["width"] and install["y"] < readme["y"] + readme["height"]
        command = page.locator(".install-box pre code").first
        assert command.inner_text() == "cargo add wide-demo-with-a-long-name --registry alexandrie"
        assert command.evaluate("code => code.getClientRects().length") == 1  # one line, never broken at `--`
        line_height = float(command.evaluate("code => getComputedStyle(code).lineHeight").removesuffix("px"))
        assert command.bounding_box()["height"] <= line_height * 1.2
        snippet, copy = box(page, ".install-box pre"), box(page, ".install-box .copy-button")
        assert copy["x"] >= snippet["x"] + snippet["width"]  # the Copy button covers none of the command

        page.goto(live_server.url + pages["tokens"])
        legend, first_scope = box(page, "fieldset.field legend"), box(page, "fieldset.field li")
        assert legend["y"] + legend["height"] <= first_scope["y"]
        assert page.locator("fieldset.field").evaluate("f => getComputedStyle(f).borderTopWidth") == "0px"
    context.close()
