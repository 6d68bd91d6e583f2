"""waitress as `alexandrie serve` runs it: keep-alive connections survive 304s; prepared read queries."""

import http.client

from alexandrie.testing import LiveServer, create_user_with_token, crate_metadata, make_crate, publish_body


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
