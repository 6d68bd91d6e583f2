"""A publish does its costly work (the tarball, the README) only for a publisher who may publish, and a
README that renders slowly holds no request thread past ``[limits] readme_render_seconds``."""

import threading
import time

import pytest

from alexandrie import hookimpl
from alexandrie.db import connection
from alexandrie.models import Crate, Version
from alexandrie.services.users import set_roles
from alexandrie.testing import create_user_with_token, publish

SLOW = "<!-- slow -->"


class CountingRenderer:
    """A README renderer that records its calls; a README holding ``SLOW`` takes ``delay`` seconds."""

    def __init__(self, delay: float = 0.0):
        self.calls, self.delay, self.release = [], delay, threading.Event()

    @hookimpl(tryfirst=True)
    def alexandrie_render_readme(self, text, filename, repository):
        self.calls.append(text[:20])
        if SLOW in text:
            self.release.wait(self.delay)
        return f"<p>rendered {len(text)}</p>"


def _readme_html(app, name: str, num: str):
    with app.app_context(), connection():
        return Version.select().join(Crate).where((Crate.name == name) & (Version.num == num)).get().readme_html


@pytest.mark.parametrize("who", ["stranger", "read-only owner"])
def test_a_publish_that_will_be_refused_renders_nothing(make_app, who):
    renderer = CountingRenderer()
    app = make_app(plugins=[renderer], rate_limits={"enabled": False})
    owner = create_user_with_token(app, "owner")
    assert publish(app.test_client(), owner, "target", "1.0.0", readme="# mine").status_code == 200
    renderer.calls.clear()
    token = owner
    if who == "stranger":
        token = create_user_with_token(app, "mallory")
    else:
        with app.app_context(), connection():
            set_roles("owner", "root", read_only=True)
    response = publish(app.test_client(), token, "target", "1.0.1", readme="# " + "[" * 100_000)
    assert response.status_code == 403, response.get_json()
    assert renderer.calls == []


def test_a_taken_version_is_refused_before_the_readme_is_rendered(make_app):
    renderer = CountingRenderer()
    app = make_app(plugins=[renderer], rate_limits={"enabled": False})
    token = create_user_with_token(app, "owner")
    assert publish(app.test_client(), token, "target", "1.0.0", readme="# one").status_code == 200
    response = publish(app.test_client(), token, "target", "1.0.0", readme="# again")
    assert response.status_code == 409 and renderer.calls == ["# one"]


def test_a_slow_readme_is_stored_as_text_and_its_html_follows(make_app):
    renderer = CountingRenderer(delay=30)
    app = make_app(plugins=[renderer], rate_limits={"enabled": False}, limits={"readme_render_seconds": 1})
    token = create_user_with_token(app, "owner")
    started = time.monotonic()
    response = publish(app.test_client(), token, "slow", "1.0.0", readme=f"# Slow\n{SLOW}\nplain words")
    assert response.status_code == 200 and time.monotonic() - started < 5
    page = app.test_client().get("/crates/slow").get_data(as_text=True)
    assert "plain words" in page and "rendered" not in page
    assert _readme_html(app, "slow", "1.0.0") is None

    renderer.release.set()
    deadline = time.monotonic() + 10
    while _readme_html(app, "slow", "1.0.0") is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _readme_html(app, "slow", "1.0.0").startswith("<p>rendered")
    assert "rendered" in app.test_client().get("/crates/slow").get_data(as_text=True)


def test_slow_readmes_queue_on_one_thread_and_leave_the_others_free(make_app):
    renderer = CountingRenderer(delay=30)
    app = make_app(plugins=[renderer], rate_limits={"enabled": False}, limits={"readme_render_seconds": 1})
    token = create_user_with_token(app, "owner")
    results = []

    def slow_publish(n):
        results.append(publish(app.test_client(), token, f"slow-{n}", "1.0.0", readme=f"{SLOW} {n}").status_code)

    threads = [threading.Thread(target=slow_publish, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(0.2)
    started = time.monotonic()
    assert app.test_client().get("/health").status_code == 200
    assert time.monotonic() - started < 0.5
    for thread in threads:
        thread.join(30)
    assert results == [200] * 4
    assert len(renderer.calls) == 1  # the others wait their turn behind the first
    renderer.release.set()
