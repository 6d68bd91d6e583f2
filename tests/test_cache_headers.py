"""What a shared cache in front (an nginx ``proxy_cache``, a CDN) may keep: only what anyone may read without
credentials. A restricted crate, and anything on an ``auth_required`` registry, is ``private, no-store`` and
varies on the credentials; every response, whatever its type, says ``X-Content-Type-Options: nosniff``."""

import http.client
import shutil
import socket
import subprocess
import time
from contextlib import contextmanager

import pytest

import alexandrie_index_git
from alexandrie.db import connection
from alexandrie.services.crates import change_read_access
from alexandrie.testing import LiveServer, create_user_with_token, free_port, publish, require, sign_in, stop_process
from alexandrie.web.index_fast_path import IndexFastPath

PUBLIC = "public, max-age=31536000, immutable"
PRIVATE = "private, no-store"
OPEN, HIDDEN = "open-crate", "hidden-crate"


@pytest.fixture
def make_registry(make_app):
    """alice publishes OPEN and HIDDEN (restricted to its owner); returns the app and alice's token."""
    def factory(plugins=(), auth_required=False, **sections):
        app = make_app(plugins=plugins, general={"auth_required": auth_required}, rate_limits={"enabled": False},
                       **sections)
        token = create_user_with_token(app, "alice")
        for name in (OPEN, HIDDEN):
            assert publish(app.test_client(), token, name).status_code == 200
        with app.app_context(), connection():
            change_read_access(HIDDEN, "alice", restricted=True)
        return app, token
    return factory


def download(name: str) -> str:
    return f"/api/v1/crates/{name}/0.1.0/download"


def index_file(name: str) -> str:
    return f"/index/{name[:2]}/{name[2:4]}/{name}"


def auth(token: str) -> dict:
    return {"Authorization": token}


def vary(response) -> set[str]:
    return {part.strip() for part in response.headers.get("Vary", "").split(",") if part.strip()}


def assert_private(response):
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == PRIVATE
    assert {"Authorization", "Cookie"} <= vary(response)
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def answered_below_flask(app, path: str, headers=None):
    """The response, and whether the index fast path gave it (rather than the Flask view behind it)."""
    fast_path = app.wsgi_app
    assert isinstance(fast_path, IndexFastPath)
    flask_view, reached_flask = fast_path.wsgi_app, []
    fast_path.wsgi_app = lambda environ, start: reached_flask.append(True) or flask_view(environ, start)
    try:
        response = app.test_client().get(path, headers=headers or {})
    finally:
        fast_path.wsgi_app = flask_view
    return response, not reached_flask


def test_a_crate_anyone_may_read_stays_cacheable_by_everyone(make_registry):
    app, token = make_registry()
    client = app.test_client()
    for headers in ({}, auth(token)):  # the same bytes whoever asks: a shared cache may keep them for good
        response = client.get(download(OPEN), headers=headers)
        assert response.status_code == 200 and response.headers["Cache-Control"] == PUBLIC
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    response, fast = answered_below_flask(app, index_file(OPEN))
    assert fast and response.status_code == 200
    assert response.headers["Cache-Control"] == "no-cache" and response.headers["X-Content-Type-Options"] == "nosniff"
    etag = response.headers["ETag"]
    response, fast = answered_below_flask(app, index_file(OPEN), {"If-None-Match": etag})
    assert fast and response.status_code == 304 and response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_restricted_crate_is_kept_from_shared_caches(make_registry):
    app, token = make_registry()
    assert app.test_client().get(download(HIDDEN)).status_code == 404
    assert_private(app.test_client().get(download(HIDDEN), headers=auth(token)))
    response, fast = answered_below_flask(app, index_file(HIDDEN), auth(token))
    assert not fast
    assert_private(response)
    browser = app.test_client()
    sign_in(browser, "alice")
    assert_private(browser.get(download(HIDDEN)))
    assert_private(browser.get(index_file(HIDDEN)))


def test_nothing_on_a_private_registry_is_left_to_shared_caches(make_registry):
    app, token = make_registry(auth_required=True)
    client = app.test_client()
    assert_private(client.get(download(OPEN), headers=auth(token)))
    assert_private(client.get(download(HIDDEN), headers=auth(token)))
    for path in (index_file(OPEN), index_file(HIDDEN), "/index/config.json"):
        response, fast = answered_below_flask(app, path, auth(token))
        assert not fast
        assert_private(response)
    etag = client.get(index_file(OPEN), headers=auth(token)).headers["ETag"]
    revalidated = client.get(index_file(OPEN), headers={**auth(token), "If-None-Match": etag})
    assert revalidated.status_code == 304 and revalidated.headers["Cache-Control"] == PRIVATE
    assert_private(client.get("/api/v1/crates?q=crate", headers=auth(token)))
    refused = client.get(download(OPEN))
    assert refused.status_code == 401 and refused.headers["Cache-Control"] == PRIVATE
    assert refused.headers["X-Content-Type-Options"] == "nosniff"


def test_every_kind_of_response_says_nosniff(make_registry):
    app, token = make_registry()
    client = app.test_client()
    for path in ("/api/v1/crates?q=open", f"/api/v1/crates/{OPEN}/owners", "/api/v1/crates/nothing/0.1.0/download",
                 "/api/v1/nothing-here", "/index/no/th/nothing", "/index/config.json", "/health", "/me", "/",
                 f"/crates/{OPEN}"):
        response = client.get(path)
        assert response.headers.get("X-Content-Type-Options") == "nosniff", (path, response.status_code)
    assert client.get("/api/v1/crates?q=open", headers=auth(token)).headers["Cache-Control"] == PRIVATE


@pytest.mark.parametrize("auth_required", [False, True])
def test_git_smart_http_says_nosniff_and_is_private_where_it_needs_credentials(make_registry, tmp_path,
                                                                               auth_required):
    index = {"type": "git", "path": str(tmp_path / "git-index"), "repair_grace": 0, "fsync": False}
    app, token = make_registry(plugins=[alexandrie_index_git], auth_required=auth_required, index=index)
    headers = {"Authorization": token} if auth_required else {}
    response = app.test_client().get("/git/index/info/refs?service=git-upload-pack", headers=headers)
    assert response.status_code == 200 and response.headers["X-Content-Type-Options"] == "nosniff"
    if auth_required:
        assert_private(response)
    else:
        assert "private" not in response.headers["Cache-Control"]


def test_waitress_s_own_refusals_say_nosniff(make_app):
    server = LiveServer(make_app(general={"max_crate_size": "1 MiB"})).start()
    try:
        host, port = server.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as conn:
            conn.sendall(b"PUT /api/v1/crates/new HTTP/1.1\r\nHost: registry\r\nContent-Length: 209715200\r\n\r\n")
            head = conn.makefile("rb").read().partition(b"\r\n\r\n")[0]
        assert head.startswith(b"HTTP/1.1 413") and b"\r\nX-Content-Type-Options: nosniff" in head
    finally:
        server.stop()


# --- Through a real shared cache ----------------------------------------------------------------------------

NGINX_CONF = """daemon off;
master_process off;
error_log {tmp}/error.log;
pid {tmp}/nginx.pid;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    proxy_cache_path {tmp}/cache keys_zone=registry:1m;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass {upstream};
            proxy_cache registry;
            add_header X-Cache $upstream_cache_status;
        }}
    }}
}}
"""


@contextmanager
def nginx_proxy_cache(tmp_path, upstream: str):
    """Debian's nginx with a stock ``proxy_cache`` in front of ``upstream``: it keys on the URL alone and keeps
    whatever the response's ``Cache-Control`` allows."""
    binary = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    require(binary is not None, "nginx is not installed (apt-get install nginx)")
    tmp, port = tmp_path / "nginx", free_port()
    tmp.mkdir()
    (tmp / "nginx.conf").write_text(NGINX_CONF.format(tmp=tmp, port=port, upstream=upstream))
    process = subprocess.Popen([binary, "-p", str(tmp), "-c", str(tmp / "nginx.conf")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None, (tmp / "error.log").read_text()
                time.sleep(0.05)
        yield port
    finally:
        stop_process(process)


def through(port: int, path: str, token: str | None = None) -> tuple[int, str | None]:
    """The status nginx answers and whether it came from its cache."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=auth(token) if token else {})
        response = conn.getresponse()
        response.read()
        return response.status, response.getheader("X-Cache")
    finally:
        conn.close()


@pytest.mark.parametrize("auth_required", [False, True])
def test_a_stock_nginx_proxy_cache_serves_nobody_what_only_credentials_may_read(make_registry, tmp_path,
                                                                                 auth_required):
    app, token = make_registry(auth_required=auth_required)
    upstream = LiveServer(app).start()
    try:
        with nginx_proxy_cache(tmp_path, upstream.url) as port:
            readable = [download(HIDDEN), index_file(HIDDEN)] + ([download(OPEN)] if auth_required else [])
            for path in readable:
                assert through(port, path, token)[0] == 200, path
                assert through(port, path, token)[1] != "HIT", path  # not even for the same credentials
                assert through(port, path)[0] in (401, 404), path  # what the registry says to anyone else
            if not auth_required:
                assert through(port, download(OPEN)) == (200, "MISS")
                assert through(port, download(OPEN)) == (200, "HIT")  # what anyone may read is still cached
    finally:
        upstream.stop()
