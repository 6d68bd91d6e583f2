"""Webhooks end to end: a real receiver on 127.0.0.1, real events through the API, the real worker thread."""

import json
import os
import re
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner

from alexandrie import ConfigError, connection, registry
from alexandrie import testing as kit
from alexandrie.testing import (
    create_user_with_token,
    free_port,
    main,
    sign_in,
)
from alexandrie_webhooks import WebhookDelivery, verify_signature, webhooks_of
from alexandrie_webhooks.settings import load_settings
from alexandrie_webhooks.signing import InvalidSignature, signature_header

SECRET = "s3cret-for-tests-0123456789"
FAST = {"poll_interval": 0.05, "backoff": 0.1, "max_backoff": 0.3, "timeout": 2}


class Receiver:
    """An HTTP endpoint on 127.0.0.1 that records every POST; it can fail on purpose, stop and come back."""

    def __init__(self):
        self.port, self.status = free_port(), 200
        self.requests: list[dict] = []
        self._server = None
        self._arrived = threading.Condition()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> "Receiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver._arrived:
                    receiver.requests.append({"headers": dict(self.headers), "body": body, "path": self.path,
                                              "at": time.monotonic()})
                    receiver._arrived.notify_all()
                self.send_response(receiver.status)
                self.end_headers()
                self.wfile.write(b"ok" if receiver.status < 300 else b"receiver is broken")

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wait_for(self, count: int, timeout: float = 15) -> list[dict]:
        with self._arrived:
            self._arrived.wait_for(lambda: len(self.requests) >= count, timeout)
        assert len(self.requests) >= count, f"expected {count} deliveries, got {len(self.requests)}"
        return self.requests

    def events(self) -> list[dict]:
        return [json.loads(r["body"]) for r in self.requests]


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    try:
        server.stop()
    except Exception:
        pass


@pytest.fixture
def webhook_app(make_app):
    """``webhook_app(endpoints, **settings)``: a registry whose delivery worker is stopped after the test."""
    apps = []

    def factory(endpoints, database=None, **settings):
        sections = {"plugin_config": {"webhooks": {"endpoints": endpoints, **FAST, **settings}},
                    "rate_limits": {"enabled": False}}
        if database:
            sections["database"] = {"url": database}
        app = make_app(**sections)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        stop_worker(app)


def stop_worker(app) -> None:
    state = webhooks_of(app)
    if state and state.worker:
        state.worker.stop()


def endpoint(url: str, events=("publish", "yank", "unyank", "owners_changed")) -> dict:
    return {"url": url, "secret": SECRET, "events": list(events)}


def publish(client, token: str, name: str):
    response = kit.publish(client, token, name)
    assert response.status_code == 200, response.get_data(as_text=True)


def rows(app) -> list[WebhookDelivery]:
    with app.app_context(), connection():
        return list(WebhookDelivery.select().order_by(WebhookDelivery.id))


def wait_until(condition, timeout: float = 15, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_each_event_arrives_signed(webhook_app, receiver):
    yank_only = Receiver().start()
    try:
        app = webhook_app([endpoint(receiver.url), endpoint(yank_only.url, ["yank"])])
        client = app.test_client()
        alice = create_user_with_token(app, "alice")
        create_user_with_token(app, "bob")
        publish(client, alice, "hooked")
        assert client.delete("/api/v1/crates/hooked/0.1.0/yank", headers={"Authorization": alice}).status_code == 200
        assert client.put("/api/v1/crates/hooked/0.1.0/unyank", headers={"Authorization": alice}).status_code == 200
        assert client.put("/api/v1/crates/hooked/owners", json={"users": ["bob"]},
                          headers={"Authorization": alice}).status_code == 200

        requests = receiver.wait_for(4)
        time.sleep(0.3)  # nothing more may arrive
        assert [r["headers"]["X-Alexandrie-Event"] for r in receiver.requests] == \
            ["publish", "yank", "unyank", "owners_changed"]
        for request in requests:
            verify_signature(SECRET, request["body"], request["headers"]["X-Alexandrie-Signature"])
            assert request["headers"]["Content-Type"] == "application/json"
            assert request["path"] == "/hook"
        bodies = receiver.events()
        assert [b["id"] for b in bodies] == [r["headers"]["X-Alexandrie-Delivery"] for r in requests]
        assert bodies[0]["data"]["crate"] == "hooked" and bodies[0]["data"]["version"] == "0.1.0"
        assert bodies[0]["data"]["actor"] == "alice" and bodies[0]["data"]["new_crate"] is True
        assert bodies[3]["data"]["added"] == ["bob"]
        assert bodies[0]["registry"] == registry(app).settings.general.public_url

        assert [r["headers"]["X-Alexandrie-Event"] for r in yank_only.wait_for(1)] == ["yank"]
        wait_until(lambda: all(r.status == "delivered" for r in rows(app)), what="all rows delivered")
        assert len(rows(app)) == 5
    finally:
        yank_only.stop()


def test_a_tampered_or_stale_delivery_fails_verification():
    body = b'{"event":"publish"}'
    header = signature_header(SECRET, body, timestamp=1_700_000_000)
    assert verify_signature(SECRET, body, header, now=1_700_000_100) == 1_700_000_000
    with pytest.raises(InvalidSignature, match="does not match"):
        verify_signature(SECRET, body + b" ", header, now=1_700_000_100)
    with pytest.raises(InvalidSignature, match="does not match"):
        verify_signature("another-secret-0123456789", body, header, now=1_700_000_100)
    with pytest.raises(InvalidSignature, match="old"):
        verify_signature(SECRET, body, header, now=1_700_000_000 + 301)
    with pytest.raises(InvalidSignature, match="timestamp"):
        verify_signature(SECRET, body, "v1=abc")


def test_deliveries_wait_for_a_stopped_receiver_across_a_registry_restart(webhook_app, receiver, tmp_path):
    receiver.stop()
    database = os.environ.get("ALEXANDRIE_TEST_DATABASE_URL") or f"sqlite:///{tmp_path}/shared.db"
    first = webhook_app([endpoint(receiver.url)], database=database, max_attempts=100)
    publish(first.test_client(), create_user_with_token(first, "alice"), "patient")
    wait_until(lambda: rows(first) and rows(first)[0].attempts >= 2, what="failed attempts")
    row = rows(first)[0]
    assert row.status in ("pending", "delivering") and "could not reach" in (row.last_error or "")
    stop_worker(first)  # the registry goes down with the delivery still queued

    receiver.start()  # the receiver comes back while the registry is down
    second = webhook_app([endpoint(receiver.url)], database=database, max_attempts=100)
    [request] = receiver.wait_for(1)
    assert request["headers"]["X-Alexandrie-Delivery"] == row.delivery_id
    verify_signature(SECRET, request["body"], request["headers"]["X-Alexandrie-Signature"])
    assert json.loads(request["body"])["data"]["crate"] == "patient"
    delivered = wait_until(lambda: [r for r in rows(second) if r.status == "delivered"], what="delivered row")
    assert delivered[0].attempts > row.attempts


def test_a_delivery_claimed_by_an_instance_that_died_is_sent_after_its_lease(webhook_app, receiver, tmp_path):
    from alexandrie_webhooks.queue import claim_due

    database = os.environ.get("ALEXANDRIE_TEST_DATABASE_URL") or f"sqlite:///{tmp_path}/shared.db"
    quick = {"timeout": 0.5, "lease": 1}
    crashed = webhook_app([endpoint(receiver.url)], database=database, worker=False, **quick)
    publish(crashed.test_client(), create_user_with_token(crashed, "alice"), "orphan")
    with crashed.app_context(), connection():
        [claim] = claim_due(webhooks_of(crashed).settings)  # claimed, then the process "dies" before sending
    assert rows(crashed)[0].status == "delivering"

    survivor = webhook_app([endpoint(receiver.url)], database=database, **quick)
    time.sleep(0.5)
    assert receiver.requests == []  # the lease still holds
    [request] = receiver.wait_for(1)
    assert request["headers"]["X-Alexandrie-Delivery"] == rows(survivor)[0].delivery_id
    row = wait_until(lambda: [r for r in rows(survivor) if r.status == "delivered"], what="delivered")[0]
    assert row.attempts == 2


def test_an_erroring_receiver_is_retried_then_given_up_on(webhook_app, receiver):
    receiver.status = 500
    app = webhook_app([endpoint(receiver.url)], max_attempts=3, backoff=0.25, max_backoff=5)
    publish(app.test_client(), create_user_with_token(app, "alice"), "doomed")
    receiver.wait_for(3)
    row = wait_until(lambda: [r for r in rows(app) if r.status == "failed"], what="give-up")[0]
    time.sleep(0.5)
    assert len(receiver.requests) == 3 and row.attempts == 3
    assert row.last_status == 500 and row.last_error.startswith("gave up after 3 attempts: HTTP 500")
    first_gap, second_gap = [b["at"] - a["at"] for a, b in zip(receiver.requests, receiver.requests[1:])]
    assert 0.25 <= first_gap < second_gap and second_gap >= 0.5  # the delay doubles

    result = run_cli(app, "webhooks", "deliveries", "--status", "failed")
    assert row.delivery_id in result.output and "gave up after 3 attempts: HTTP 500" in result.output
    listing = run_cli(app, "webhooks", "list")
    assert "failed: 1" in listing.output and SECRET not in listing.output

    client = app.test_client()
    assert client.get("/admin/webhooks/").status_code == 404  # not signed in: the page does not exist
    create_user_with_token(app, "root", admin=True)
    sign_in(client, "root")
    page = client.get("/admin/webhooks/?status=failed").get_data(as_text=True)
    assert row.delivery_id in page and "gave up after 3 attempts: HTTP 500" in page and SECRET not in page


def test_retries_stop_once_max_age_has_passed(webhook_app, receiver):
    receiver.status = 503
    app = webhook_app([endpoint(receiver.url)], max_attempts=1000, max_age=0.6, backoff=0.1, max_backoff=0.2)
    publish(app.test_client(), create_user_with_token(app, "alice"), "aged")
    row = wait_until(lambda: [r for r in rows(app) if r.status == "failed"], what="give-up")[0]
    assert 2 <= row.attempts < 20 and "since the event" in row.last_error
    assert row.expires_at == row.created_at + timedelta(seconds=0.6)
    assert (row.last_attempt_at - row.created_at).total_seconds() < 0.6 + 1.5  # no retry after the bound


def test_retry_command_requeues_a_failed_delivery(webhook_app, receiver):
    receiver.status = 500
    app = webhook_app([endpoint(receiver.url)], max_attempts=1)
    publish(app.test_client(), create_user_with_token(app, "alice"), "second-chance")
    row = wait_until(lambda: [r for r in rows(app) if r.status == "failed"], what="give-up")[0]
    receiver.status = 200
    assert "queued 1 failed delivery again" in run_cli(app, "webhooks", "retry", row.delivery_id).output
    wait_until(lambda: rows(app)[0].status == "delivered", what="delivery after retry")
    assert [r["headers"]["X-Alexandrie-Delivery"] for r in receiver.requests] == [row.delivery_id] * 2


def test_two_instances_never_send_the_same_delivery_twice(webhook_app, receiver, tmp_path):
    database = os.environ.get("ALEXANDRIE_TEST_DATABASE_URL") or f"sqlite:///{tmp_path}/shared.db"
    receiver.stop()
    first = webhook_app([endpoint(receiver.url)], database=database, backoff=0.3, max_backoff=0.3)
    second = webhook_app([endpoint(receiver.url)], database=database, backoff=0.3, max_backoff=0.3)
    token = create_user_with_token(first, "alice")
    for n in range(6):
        publish((first if n % 2 else second).test_client(), token, f"twin{n}")
    receiver.start()
    receiver.wait_for(6)
    wait_until(lambda: all(r.status == "delivered" for r in rows(first)), what="all delivered")
    time.sleep(0.5)
    ids = [r["headers"]["X-Alexandrie-Delivery"] for r in receiver.requests]
    assert len(ids) == len(set(ids)) == 6


def test_ping_checks_the_configuration(webhook_app, receiver):
    app = webhook_app([endpoint(receiver.url)], worker=False)
    result = run_cli(app, "webhooks", "test")
    assert result.exit_code == 0 and f"{receiver.url}: ok (HTTP 200)" in result.output
    [request] = receiver.requests
    assert request["headers"]["X-Alexandrie-Event"] == "ping"
    verify_signature(SECRET, request["body"], request["headers"]["X-Alexandrie-Signature"])
    assert rows(app) == []  # a ping is not queued

    receiver.stop()
    result = run_cli(app, "webhooks", "test")
    assert result.exit_code == 1 and "FAILED (could not reach" in result.output


def test_an_instance_with_worker_off_only_queues(webhook_app, receiver):
    app = webhook_app([endpoint(receiver.url)], worker=False)
    publish(app.test_client(), create_user_with_token(app, "alice"), "queued-only")
    time.sleep(0.3)
    assert receiver.requests == [] and [r.status for r in rows(app)] == ["pending"]


def test_every_admin_page_links_the_webhooks_page(make_app):
    app = make_app()
    create_user_with_token(app, "root", admin=True)
    client = app.test_client()
    sign_in(client, "root")
    for path in ("/admin/", "/admin/users", "/admin/crates", "/admin/audit"):
        nav = re.search(r'<nav class="admin-nav".*?</nav>', client.get(path).get_data(as_text=True), re.S).group(0)
        assert '<a href="/admin/webhooks/">Webhooks</a>' in nav, path
    own = client.get("/admin/webhooks/").get_data(as_text=True)
    assert '<a href="/admin/webhooks/" aria-current="page">Webhooks</a>' in own


def test_no_endpoints_means_no_worker_and_no_rows(make_app):
    app = make_app()
    assert webhooks_of(app).worker is None
    publish(app.test_client(), create_user_with_token(app, "alice"), "quiet")
    assert rows(app) == []


@pytest.mark.parametrize("settings, message", [
    ({"endpoints": [{"url": "ftp://x", "secret": SECRET}]}, "endpoints[0].url"),
    ({"endpoints": [{"url": "http://x/h", "secret": "short"}]}, "at least 16 characters"),
    ({"endpoints": [{"url": "http://x/h", "secret": SECRET, "events": ["publsh"]}]}, "unknown event publsh"),
    ({"endpoints": {"url": "http://x/h"}}, "endpoints must be a list"),
    ({"max_attempts": 0}, "max_attempts"),
    ({"backoff": "soon"}, 'backoff = \'soon\''),
    ({"retries": 3}, "unknown keys retries"),
    ({"timeout": "1m", "lease": "30s"}, "lease (30 s) must be longer than timeout (60 s)"),
])
def test_bad_settings_name_the_key_and_the_fix(settings, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings(settings)


def test_durations_accept_units():
    settings = load_settings({"max_age": "2h", "backoff": "500ms", "lease": 90})
    assert (settings.max_age, settings.backoff, settings.lease) == (7200, 0.5, 90)


def run_cli(app, *args):
    """Run ``alexandrie ...`` against the app's config, as an operator would."""
    settings = registry(app).settings
    path = write_toml({**settings.tables, "base_dir": settings.base_dir})
    result = CliRunner().invoke(main, ["--config", str(path), *args], catch_exceptions=False)
    return result


def write_toml(config: dict):
    from pathlib import Path

    path = Path(config["base_dir"]) / "alexandrie.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_toml(config))
    return path


def _toml(config: dict) -> str:
    hooks = config["plugins"]["webhooks"]
    lines = ["[general]", f'public_url = "{config["general"]["public_url"]}"',
             "[database]", f'url = "{config["database"]["url"]}"',
             "[storage]", 'type = "disk"', f'path = "{config["storage"]["path"]}"',
             "[plugins.webhooks]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in hooks.items() if key != "endpoints"]
    for entry in hooks.get("endpoints", []):
        lines += ["[[plugins.webhooks.endpoints]]", f'url = "{entry["url"]}"', f'secret = "{entry["secret"]}"',
                  f"events = {json.dumps(entry['events'])}"]
    return "\n".join(lines) + "\n"
