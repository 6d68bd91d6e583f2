"""The sparse index at /index/: config.json, lowercase paths, ETags and the content of index lines."""

import json
import logging
import re

import pytest
from werkzeug.test import Client

import alexandrie.web.index_fast_path as fast_path_module
import alexandrie_storage_disk
from alexandrie.db import connection
from alexandrie.services.crates import change_read_access
from alexandrie.services.tokens import create_token
from alexandrie.services.users import create_user
from alexandrie.testing import crate_metadata, dependency, make_crate, publish_body
from alexandrie.web.index_fast_path import IndexFastPath


def quick_token(app, login: str) -> str:
    """A user without a password (hashing one is slow) and an API token for it."""
    with app.app_context(), connection():
        return create_token(create_user(login), "tests")[1]


@pytest.fixture
def registry(make_app):
    app = make_app(plugins=[alexandrie_storage_disk], load_entrypoints=False)
    client = app.test_client()
    token = quick_token(app, "alice")

    def publish(name, vers="0.1.0", **fields):
        body = publish_body(crate_metadata(name, vers, **fields), make_crate(name, vers))
        response = client.put("/api/v1/crates/new", data=body, headers={"Authorization": token})
        assert response.status_code == 200, response.get_data(as_text=True)

    def yank(name, vers):
        assert client.delete(f"/api/v1/crates/{name}/{vers}/yank", headers={"Authorization": token}).status_code == 200

    client.publish, client.yank, client.app = publish, yank, app
    return client


def lines(response) -> list[dict]:
    return [json.loads(line) for line in response.get_data(as_text=True).splitlines()]


def test_config_json_points_cargo_at_this_registry(registry):
    response = registry.get("/index/config.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    url = registry.app.extensions["alexandrie"].settings.general.public_url
    assert response.get_json() == {"dl": f"{url}/api/v1/crates/{{crate}}/{{version}}/download", "api": url}
    assert response.headers["ETag"]


def test_config_json_says_auth_required_on_a_private_registry(make_app):
    app = make_app(plugins=[alexandrie_storage_disk], load_entrypoints=False, general={"auth_required": True})
    token = quick_token(app, "alice")
    response = app.test_client().get("/index/config.json", headers={"Authorization": token})
    assert response.get_json()["auth-required"] is True


@pytest.mark.parametrize("name, path", [
    ("a", "1/a"), ("Ab", "2/ab"), ("abc", "3/a/abc"), ("My-Crate", "my/-c/my-crate"),
    ("serde_json", "se/rd/serde_json"),
])
def test_crate_files_live_at_their_lowercase_path(registry, name, path):
    registry.publish(name)
    response = registry.get(f"/index/{path}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-cache"
    assert [line["name"] for line in lines(response)] == [name]


@pytest.mark.parametrize("path", [
    "My/-C/My-Crate", "my/-c/My-Crate", "MY/-C/MY-CRATE",  # not lowercase
    "xx/yy/my-crate", "my/-c/my-crat", "3/m/my-crate", "my/my-crate", "my-crate", "my/-c/my-crate/extra",
    "my/-c/../-c/my-crate", "1/a", "no/th/nothing",
])
def test_wrong_paths_and_unknown_crates_are_404(registry, path):
    registry.publish("My-Crate")
    response = registry.get(f"/index/{path}")
    assert response.status_code == 404
    assert list(response.get_json()) == ["errors"]


def test_etag_revalidation_answers_304(registry):
    registry.publish("tool")
    first = registry.get("/index/to/ol/tool")
    etag = first.headers["ETag"]
    again = registry.get("/index/to/ol/tool", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b"" and again.headers["ETag"] == etag
    stale = registry.get("/index/to/ol/tool", headers={"If-None-Match": '"something-else"'})
    assert stale.status_code == 200 and stale.data == first.data
    config_etag = registry.get("/index/config.json").headers["ETag"]
    assert registry.get("/index/config.json", headers={"If-None-Match": config_etag}).status_code == 304


def test_304_does_not_read_the_file_content(registry, monkeypatch):
    registry.publish("tool")
    etag = registry.get("/index/to/ol/tool").headers["ETag"]
    database = registry.app.extensions["alexandrie"].database
    statements = []
    real = database.execute_sql

    def spy(sql, params=None, *args, **kwargs):
        statements.append(sql)
        return real(sql, params, *args, **kwargs)

    monkeypatch.setattr(database, "execute_sql", spy)
    assert registry.get("/index/to/ol/tool", headers={"If-None-Match": etag}).status_code == 304
    reads = [s for s in statements if "index_file" in s]
    assert reads and not any(re.search(r'"content"|`content`', s) for s in reads), reads


def test_etag_changes_with_every_change_to_the_file(registry):
    registry.publish("tool", "0.1.0")
    first = registry.get("/index/to/ol/tool").headers["ETag"]
    registry.publish("tool", "0.2.0")
    second = registry.get("/index/to/ol/tool").headers["ETag"]
    registry.yank("tool", "0.1.0")
    yanked = registry.get("/index/to/ol/tool", headers={"If-None-Match": second})
    assert yanked.status_code == 200 and lines(yanked)[0]["yanked"] is True
    assert len({first, second, yanked.headers["ETag"]}) == 3


def test_index_lines_have_the_keys_cargo_needs(registry):
    registry.publish("tool", "0.1.0", links="z", rust_version="1.70")
    registry.publish("tool", "0.2.0-beta.1")
    first, second = lines(registry.get("/index/to/ol/tool"))
    assert [first["vers"], second["vers"]] == ["0.1.0", "0.2.0-beta.1"]
    for line in (first, second):
        assert {"name", "vers", "deps", "cksum", "features", "yanked", "links", "v", "pubtime"} <= set(line)
        assert re.fullmatch(r"[0-9a-f]{64}", line["cksum"])
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", line["pubtime"]), line["pubtime"]
    assert first["links"] == "z" and first["rust_version"] == "1.70" and first["v"] == 1
    import hashlib
    assert first["cksum"] == hashlib.sha256(make_crate("tool", "0.1.0")).hexdigest()


def test_index_lines_are_compact_and_one_per_line(registry):
    registry.publish("tool", "0.1.0")
    text = registry.get("/index/to/ol/tool").get_data(as_text=True)
    assert text.endswith("\n") and text.count("\n") == 1 and ", " not in text and '": ' not in text


def test_new_feature_syntax_goes_to_features2_with_v2(registry):
    registry.publish("base")
    features = {"default": ["std"], "std": [], "serde": ["dep:base"], "weak": ["base?/std"],
                "mixed": ["std", "dep:base"]}
    registry.publish("tool", features=features, deps=[dependency("base", "^0.1", optional=True)])
    (line,) = lines(registry.get("/index/to/ol/tool"))
    assert line["features"] == {"default": ["std"], "std": []}
    assert line["features2"] == {"serde": ["dep:base"], "weak": ["base?/std"], "mixed": ["std", "dep:base"]}
    assert line["v"] == 2


def test_plain_features_stay_v1_without_features2(registry):
    registry.publish("tool", features={"default": ["std"], "std": []})
    (line,) = lines(registry.get("/index/to/ol/tool"))
    assert "features2" not in line and line["v"] == 1


def test_renamed_dependencies_swap_name_and_package(registry):
    registry.publish("real-name")
    deps = [dependency("real-name", "^0.1", explicit_name_in_toml="alias", features=["x"], optional=True,
                       default_features=False, target="cfg(unix)", kind="dev"),
            dependency("real-name", "^0.1", kind="build")]
    registry.publish("tool", deps=deps)
    (line,) = lines(registry.get("/index/to/ol/tool"))
    renamed, plain = line["deps"]
    assert renamed == {"name": "alias", "req": "^0.1", "features": ["x"], "optional": True,
                       "default_features": False, "target": "cfg(unix)", "kind": "dev", "registry": None,
                       "package": "real-name"}
    assert plain["name"] == "real-name" and plain["package"] is None and plain["kind"] == "build"


def test_dependencies_on_other_registries_keep_their_registry(registry):
    crates_io = "https://github.com/rust-lang/crates.io-index"
    registry.publish("tool", deps=[dependency("serde", "^1", registry=crates_io)])
    (line,) = lines(registry.get("/index/to/ol/tool"))
    assert line["deps"][0]["registry"] == crates_io


# --- One lookup behind two doors: the WSGI fast path and the Flask view -----------------------------------


def _answer(wsgi_app, path: str, headers: dict) -> tuple:
    response = Client(wsgi_app).get(path, headers=headers)
    return response.status_code, sorted(response.headers.items()), response.get_data()


def test_the_fast_path_and_the_flask_view_give_the_same_answers_byte_for_byte(make_app):
    app = make_app()
    client, token = app.test_client(), quick_token(app, "alice")
    for name in ("tool", "hidden"):
        body = publish_body(crate_metadata(name, "0.1.0"), make_crate(name, "0.1.0"))
        assert client.put("/api/v1/crates/new", data=body, headers={"Authorization": token}).status_code == 200
    with app.app_context(), connection():
        change_read_access("hidden", "root", restricted=True)
    etag = client.get("/index/to/ol/tool").headers["ETag"]
    fast_path = app.wsgi_app
    assert isinstance(fast_path, IndexFastPath)
    flask_view, answered_below_flask = fast_path.wsgi_app, []
    fast_path.wsgi_app = lambda environ, start: answered_below_flask.append(False) or flask_view(environ, start)
    questions = [("/index/to/ol/tool", {}, True), ("/index/to/ol/tool", {"If-None-Match": etag}, True),
                 ("/index/to/ol/tool", {"If-None-Match": f"W/{etag}"}, True),
                 ("/index/to/ol/tool", {"If-None-Match": "*"}, True),
                 ("/index/to/ol/tool", {"If-None-Match": f'"other", {etag}'}, True),
                 ("/index/to/ol/tool", {"If-None-Match": '"stale"'}, True),
                 ("/index/no/ne/nonesuch", {}, False), ("/index/no/ne/nonesuch", {"If-None-Match": "*"}, False),
                 ("/index/hi/dd/hidden", {}, False), ("/index/To/ol/Tool", {}, False), ("/index/1/x/tool", {}, False)]
    for path, headers, below_flask in questions:
        answered_below_flask.clear()
        assert _answer(fast_path, path, headers) == _answer(flask_view, path, headers), (path, headers)
        assert (not answered_below_flask) == below_flask, (path, headers)
    assert _answer(flask_view, "/index/to/ol/tool", {"If-None-Match": f"W/{etag}"})[0] == 304
    assert _answer(flask_view, "/index/hi/dd/hidden", {})[0] == 404


def test_a_fast_path_failure_is_logged_and_the_flask_view_answers(registry, monkeypatch, caplog):
    registry.publish("tool")

    def broken(*args, **kwargs):
        raise RuntimeError("the compiled query went stale")

    monkeypatch.setattr(fast_path_module, "lookup", broken)
    with caplog.at_level(logging.ERROR, logger=fast_path_module.__name__):
        response = Client(registry.app.wsgi_app).get("/index/to/ol/tool")
    assert response.status_code == 200 and b'"name":"tool"' in response.get_data()
    [record] = caplog.records
    assert "index fast path failed on /index/to/ol/tool" in record.getMessage() and record.exc_info
