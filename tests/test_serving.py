"""waitress as `alexandrie serve` runs it: keep-alive connections survive 304s, oversized bodies are
refused before they are read; prepared read queries."""

import http.client
import json
import random
import socket
import time

from alexandrie.models import Crate
from alexandrie.testing import (
    LiveServer,
    crate_metadata,
    create_user_with_token,
    make_crate,
    publish_body,
    write_package,
)


def published(app, name="kept-alive"):
    token = create_user_with_token(app, "alice")
    body = publish_body(crate_metadata(name, "0.1.0"), make_crate(name, "0.1.0"))
    assert app.test_client().put("/api/v1/crates/new", data=body, headers={"Authorization": token}).status_code == 200


def get(conn, path, **headers):
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    return response, response.read()


def test_revalidations_reuse_one_connection(app):
    published(app)
    server = LiveServer(app).start()
    try:
        conn = http.client.HTTPConnection(server.url.removeprefix("http://"), timeout=10)
        first, _ = get(conn, "/index/ke/pt/kept-alive")
        socket = conn.sock
        for _ in range(3):
            again, body = get(conn, "/index/ke/pt/kept-alive", **{"If-None-Match": first.headers["ETag"]})
            assert again.status == 304 and body == b"" and again.headers.get("Connection") is None
            assert conn.sock is socket  # not closed by the server, so http.client did not reconnect
        after, body = get(conn, "/index/ke/pt/kept-alive")
        assert after.status == 200 and body.startswith(b'{"name":"kept-alive"') and conn.sock is socket
        closing, _ = get(conn, "/index/ke/pt/kept-alive", **{"If-None-Match": first.headers["ETag"],
                                                             "Connection": "close"})
        assert closing.status == 304 and closing.headers["Connection"] == "close"  # the client's wish holds
        conn.close()
    finally:
        server.stop()


def test_prepared_queries_see_new_rows_and_keep_404s(app):
    client = app.test_client()
    assert client.get("/index/ke/pt/kept-alive").status_code == 404
    assert client.get("/api/v1/crates/kept-alive/0.1.0/download").status_code == 404
    published(app)  # the SQL text is cached by then; rows never are
    assert client.get("/index/ke/pt/kept-alive").text.startswith('{"name":"kept-alive"')
    assert client.get("/api/v1/crates/Kept_Alive/0.1.0/download").data == make_crate("kept-alive", "0.1.0")
    missing = client.get("/api/v1/crates/kept-alive/9.9.9/download")
    assert missing.status_code == 404 and "has no version 9.9.9" in missing.get_json()["errors"][0]["detail"]


def test_a_body_over_the_upload_limit_is_refused_before_it_is_sent(make_app):
    app = make_app(general={"max_crate_size": "1 MiB", "max_metadata_size": "64 KiB"})
    server = LiveServer(app).start()
    try:
        host, port = server.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as conn:
            # Only the headers go out: waitress must answer from Content-Length, not buffer 200 MB first.
            conn.sendall(b"PUT /api/v1/crates/new HTTP/1.1\r\nHost: registry\r\nAuthorization: anyone\r\n"
                         b"Content-Length: 209715200\r\n\r\n")
            started = time.monotonic()
            head, _, body = conn.makefile("rb").read().partition(b"\r\n\r\n")
        assert time.monotonic() - started < 5
        assert head.startswith(b"HTTP/1.1 413") and b"Content-Type: application/json" in head
        detail = json.loads(body)["errors"][0]["detail"]
        assert f"limit of {1024 * 1024 + 64 * 1024 + 8} bytes" in detail and "max_crate_size" in detail
    finally:
        server.stop()


def test_cargo_shows_the_limit_when_a_crate_is_too_big(make_app, cargo_factory, tmp_path):
    app = make_app(general={"max_crate_size": "4 KiB", "max_metadata_size": "4 KiB"}, rate_limits={"enabled": False})
    server = LiveServer(app).start()
    try:
        cargo = cargo_factory(server, create_user_with_token(app, "alice"))
        noise = random.Random(3).randbytes(30_000).hex()  # hex of random bytes barely compresses
        package = write_package(tmp_path / "src", "too-big", lib=f'pub const NOISE: &str = "{noise}";\n')
        result = cargo.run("publish", "--no-verify", "--registry", "alex", cwd=package, check=False)
        assert result.returncode != 0
        assert "413" in result.stderr and "max_crate_size" in result.stderr, result.stderr
        with app.app_context():
            assert not Crate.select().exists()
    finally:
        server.stop()
