"""The sparse index at /index/: config.json, lowercase paths, ETags and the content of index lines."""

import json
import re

import alexandrie_storage_disk
import pytest

from alexandrie.accounts import create_user
from alexandrie.auth import create_token
from alexandrie.db import connection
from alexandrie.testing import crate_metadata, dependency, make_crate, publish_body


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
    url = registry.app.extensions["alexandrie"].config["general"]["public_url"]
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
