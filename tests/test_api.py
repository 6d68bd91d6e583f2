"""The cargo web API through Flask's test client: ownership, owners, yank, search, download, health, tokens."""

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

import alexandrie_storage_disk
from alexandrie import BackendSpec, IndexBackend, hookimpl
from alexandrie.db import connection, is_sqlite
from alexandrie.models import MODELS, ApiToken, Crate, User, Version, VersionDownload, utcnow
from alexandrie.services.tokens import create_token
from alexandrie.services.users import create_user
from alexandrie.testing import crate_metadata, make_crate, publish_body


@pytest.fixture
def core_app(make_app):
    """The core alone with disk storage: other installed plugins cannot change the answers."""
    def build(plugins=(), **sections):
        return make_app(plugins=[alexandrie_storage_disk, *plugins], load_entrypoints=False, **sections)
    return build


class Api:
    def __init__(self, app):
        self.app = app
        self.client = app.test_client()
        self.tokens = {}

    def user(self, login: str) -> str:
        """A user without a password (hashing one is slow) and an API token for it."""
        with self.app.app_context(), connection():
            self.tokens[login] = create_token(create_user(login), "tests")[1]
        return self.tokens[login]

    def publish(self, login: str, name: str, vers: str, **fields):
        body = publish_body(crate_metadata(name, vers, **fields), make_crate(name, vers))
        return self.client.put("/api/v1/crates/new", data=body, headers={"Authorization": self.tokens[login]})

    def call(self, method: str, path: str, login: str | None = None, **kwargs):
        headers = {"Authorization": self.tokens[login]} if login else {}
        return self.client.open(path, method=method, headers=headers, **kwargs)

    def owners(self, name: str) -> list[str]:
        return [u["login"] for u in self.client.get(f"/api/v1/crates/{name}/owners").get_json()["users"]]

    def index_lines(self, path: str) -> list[str]:
        return self.client.get(f"/index/{path}").get_data(as_text=True).splitlines()


@pytest.fixture
def api(core_app):
    api = Api(core_app())
    api.user("alice")
    api.user("bob")
    return api


def error_detail(response, status: int) -> str:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert list(body) == ["errors"] and len(body["errors"]) == 1
    return body["errors"][0]["detail"]


# --- Publishing and ownership --------------------------------------------------------------------------


def test_publish_answers_with_cargo_warnings(api):
    too_long = "a" * 65  # no category column holds it, on any database
    response = api.publish("alice", "tool", "0.1.0", categories=["command-line-utilities", "Not A Slug", too_long])
    assert response.status_code == 200
    assert response.get_json() == {"warnings": {"invalid_categories": ["Not A Slug", too_long],
                                                "invalid_badges": [], "other": []}}


def test_first_publisher_owns_the_crate(api):
    assert api.publish("alice", "tool", "0.1.0").status_code == 200
    assert api.owners("tool") == ["alice"]
    assert api.publish("alice", "tool", "0.2.0").status_code == 200
    assert api.owners("tool") == ["alice"]


def test_only_owners_publish_yank_and_change_owners(api):
    api.publish("alice", "tool", "0.1.0")
    detail = error_detail(api.publish("bob", "tool", "0.2.0"), 403)
    assert "not an owner" in detail and "cargo owner --add bob tool" in detail
    assert "not an owner" in error_detail(api.call("DELETE", "/api/v1/crates/tool/0.1.0/yank", "bob"), 403)
    assert "not an owner" in error_detail(api.call("PUT", "/api/v1/crates/tool/0.1.0/unyank", "bob"), 403)
    assert "not an owner" in error_detail(
        api.call("PUT", "/api/v1/crates/tool/owners", "bob", json={"users": ["bob"]}), 403)
    assert "not an owner" in error_detail(
        api.call("DELETE", "/api/v1/crates/tool/owners", "bob", json={"users": ["alice"]}), 403)
    assert api.owners("tool") == ["alice"]
    with api.app.app_context(), connection():
        assert [v.num for v in Version.select()] == ["0.1.0"]
        assert not Version.get().yanked


def test_an_added_owner_may_publish_and_yank(api):
    api.publish("alice", "tool", "0.1.0")
    response = api.call("PUT", "/api/v1/crates/tool/owners", "alice", json={"users": ["bob"]})
    assert response.status_code == 200
    body = response.get_json()
    assert body["ok"] is True and "bob" in body["msg"] and "tool" in body["msg"]
    assert api.owners("tool") == ["alice", "bob"]
    assert api.publish("bob", "tool", "0.2.0").status_code == 200
    assert api.call("DELETE", "/api/v1/crates/tool/0.1.0/yank", "bob").get_json() == {"ok": True}


def test_owners_calls_always_answer_ok_and_msg(api):
    api.publish("alice", "tool", "0.1.0")
    for method, users in (("PUT", ["bob"]), ("PUT", ["bob"]), ("DELETE", ["bob"])):
        body = api.call(method, "/api/v1/crates/tool/owners", "alice", json={"users": users}).get_json()
        assert body["ok"] is True and isinstance(body["msg"], str) and body["msg"]


def test_the_last_owner_cannot_be_removed(api):
    api.publish("alice", "tool", "0.1.0")
    detail = error_detail(api.call("DELETE", "/api/v1/crates/tool/owners", "alice", json={"users": ["alice"]}), 400)
    assert "at least one owner" in detail
    api.call("PUT", "/api/v1/crates/tool/owners", "alice", json={"users": ["bob"]})
    error_detail(api.call("DELETE", "/api/v1/crates/tool/owners", "alice", json={"users": ["alice", "bob"]}), 400)
    assert api.owners("tool") == ["alice", "bob"]
    assert api.call("DELETE", "/api/v1/crates/tool/owners", "alice", json={"users": ["alice"]}).status_code == 200
    assert api.owners("tool") == ["bob"]


@pytest.mark.parametrize("body, words", [
    ({"users": ["nobody"]}, ["`nobody`", "account first"]),
    ({"users": []}, ['{"users"']),
    ({"users": "bob"}, ['{"users"']),
    ({"users": [3]}, ['{"users"']),
    ({"people": ["bob"]}, ['{"users"']),
    ("not json", ["JSON"]),
])
def test_bad_owner_requests_are_refused(api, body, words):
    api.publish("alice", "tool", "0.1.0")
    kwargs = {"data": body} if isinstance(body, str) else {"json": body}
    detail = error_detail(api.call("PUT", "/api/v1/crates/tool/owners", "alice", **kwargs), 400)
    for word in words:
        assert word in detail
    assert api.owners("tool") == ["alice"]


def test_owner_calls_on_unknown_crates_are_404(api):
    assert "does not exist" in error_detail(api.client.get("/api/v1/crates/ghost/owners"), 404)
    error_detail(api.call("PUT", "/api/v1/crates/ghost/owners", "alice", json={"users": ["bob"]}), 404)


# --- Yank ----------------------------------------------------------------------------------------------


def test_yank_and_unyank_update_the_index_line(api):
    api.publish("alice", "tool", "0.1.0")
    assert api.call("DELETE", "/api/v1/crates/tool/0.1.0/yank", "alice").get_json() == {"ok": True}
    assert '"yanked":true' in api.index_lines("to/ol/tool")[0]
    assert api.call("DELETE", "/api/v1/crates/tool/0.1.0/yank", "alice").get_json() == {"ok": True}
    assert api.call("PUT", "/api/v1/crates/tool/0.1.0/unyank", "alice").get_json() == {"ok": True}
    assert '"yanked":false' in api.index_lines("to/ol/tool")[0]


def test_yank_needs_a_token_and_an_existing_version(api):
    api.publish("alice", "tool", "0.1.0")
    assert "cargo login" in error_detail(api.call("DELETE", "/api/v1/crates/tool/0.1.0/yank"), 403)
    assert "no version 9.9.9" in error_detail(api.call("DELETE", "/api/v1/crates/tool/9.9.9/yank", "alice"), 404)
    error_detail(api.call("DELETE", "/api/v1/crates/ghost/0.1.0/yank", "alice"), 404)


# --- Search --------------------------------------------------------------------------------------------


@pytest.fixture
def catalogue(api):
    for name, description in (("serde_json", "JSON for serde"), ("serde", "Serialization framework"),
                              ("myserde", "another one"), ("toml", "TOML parser, works with serde"),
                              ("unrelated", "nothing to see")):
        assert api.publish("alice", name, "1.0.0", description=description).status_code == 200
    return api


def search(api, **params):
    response = api.client.get("/api/v1/crates", query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_search_ranks_the_exact_name_first(catalogue):
    body = search(catalogue, q="serde")
    names = [c["name"] for c in body["crates"]]
    assert names[0] == "serde"
    assert set(names) == {"serde", "serde_json", "myserde", "toml"}
    assert names.index("serde_json") < names.index("toml")
    assert body["meta"]["total"] == 4


def test_search_matches_canonical_names(catalogue):
    assert [c["name"] for c in search(catalogue, q="SERDE-JSON")["crates"]][0] == "serde_json"


def test_search_pages_with_per_page_up_to_100(catalogue):
    first = search(catalogue, q="serde", per_page=2)
    second = search(catalogue, q="serde", per_page=2, page=2)
    assert len(first["crates"]) == 2 and len(second["crates"]) == 2
    assert first["meta"]["total"] == second["meta"]["total"] == 4
    assert not {c["name"] for c in first["crates"]} & {c["name"] for c in second["crates"]}
    assert len(search(catalogue, per_page=1000)["crates"]) == 5
    assert len(search(catalogue, per_page=0)["crates"]) == 1


def test_search_per_page_is_capped_at_100(api, monkeypatch):
    import alexandrie.web.views.api as api_views

    seen = {}
    real = api_views.search_crates

    def spy(query, **kwargs):
        seen.update(kwargs)
        return real(query, **kwargs)

    monkeypatch.setattr(api_views, "search_crates", spy)
    search(api, q="x", per_page=5000)
    assert seen["per_page"] == 100


def test_search_refuses_a_non_numeric_per_page(catalogue):
    assert "per_page" in error_detail(catalogue.client.get("/api/v1/crates?q=serde&per_page=ten"), 400)


def test_search_treats_like_wildcards_literally(catalogue):
    assert search(catalogue, q="%")["meta"]["total"] == 5
    assert search(catalogue, q="s_rde")["meta"]["total"] == 0


def test_search_reports_the_highest_non_yanked_version(api):
    for vers in ("1.0.0", "1.2.0", "2.0.0", "3.0.0-alpha.1"):
        api.publish("alice", "multi", vers)
    assert search(api, q="multi")["crates"][0]["max_version"] == "2.0.0"
    api.call("DELETE", "/api/v1/crates/multi/2.0.0/yank", "alice")
    assert search(api, q="multi")["crates"][0]["max_version"] == "1.2.0"
    api.call("PUT", "/api/v1/crates/multi/2.0.0/unyank", "alice")
    assert search(api, q="multi")["crates"][0]["max_version"] == "2.0.0"


def test_search_result_fields(api):
    api.publish("alice", "tool", "0.1.0", description="A tool")
    crate = search(api, q="tool")["crates"][0]
    assert set(crate) >= {"name", "max_version", "description", "downloads", "updated_at"}
    assert crate["description"] == "A tool" and crate["downloads"] == 0
    datetime.strptime(crate["updated_at"], "%Y-%m-%dT%H:%M:%SZ")


# --- Download ------------------------------------------------------------------------------------------


def test_download_returns_the_exact_bytes_and_counts_per_version_per_day(api):
    tarball = make_crate("tool", "0.1.0", files={"data.bin": bytes(range(256))})
    body = publish_body(crate_metadata("tool", "0.1.0"), tarball)
    api.client.put("/api/v1/crates/new", data=body, headers={"Authorization": api.tokens["alice"]})
    api.publish("alice", "tool", "0.2.0")
    for _ in range(3):
        response = api.client.get("/api/v1/crates/tool/0.1.0/download")
        assert response.status_code == 200 and response.data == tarball
    api.client.get("/api/v1/crates/Tool/0.2.0/download")
    api.app.extensions["alexandrie"].downloads.flush()
    with api.app.app_context(), connection():
        counts = {(row.version.num, row.day, row.count) for row in VersionDownload.select()}
        today = datetime.now(UTC).date()
        assert counts == {("0.1.0", today, 3), ("0.2.0", today, 1)}
        assert {v.num: v.downloads for v in Version.select()} == {"0.1.0": 3, "0.2.0": 1}
        assert Crate.get().downloads == 4


def test_download_of_a_yanked_version_still_works(api):
    api.publish("alice", "tool", "0.1.0")
    api.call("DELETE", "/api/v1/crates/tool/0.1.0/yank", "alice")
    assert api.client.get("/api/v1/crates/tool/0.1.0/download").data == make_crate("tool", "0.1.0")


def test_download_of_unknown_crates_and_versions_is_404(api):
    api.publish("alice", "tool", "0.1.0")
    assert "does not exist" in error_detail(api.client.get("/api/v1/crates/ghost/0.1.0/download"), 404)
    assert "no version 0.9.0" in error_detail(api.client.get("/api/v1/crates/tool/0.9.0/download"), 404)
    api.app.extensions["alexandrie"].downloads.flush()
    with api.app.app_context(), connection():
        assert VersionDownload.select().count() == 0


def test_a_file_missing_from_storage_is_a_500_that_says_so(api):
    api.publish("alice", "tool", "0.1.0")
    api.app.extensions["alexandrie"].storage.delete_crate("tool", "0.1.0")
    assert "missing from storage" in error_detail(api.client.get("/api/v1/crates/tool/0.1.0/download"), 500)


# --- Health and /me -----------------------------------------------------------------------------------


def test_health_is_200_when_everything_works(api):
    response = api.client.get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "checks": {"database": "ok", "storage": "ok", "index": "ok"}}


def test_health_is_503_when_the_storage_folder_is_gone(api):
    root = Path(api.app.extensions["alexandrie"].settings.storage["path"])
    shutil.rmtree(root)
    response = api.client.get("/health")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable" and body["checks"]["database"] == "ok"
    assert str(root) in body["checks"]["storage"]


def test_health_is_503_when_the_storage_folder_cannot_be_written(api):
    root = Path(api.app.extensions["alexandrie"].settings.storage["path"])
    shutil.rmtree(root)
    root.write_text("a file where the storage folder should be")
    response = api.client.get("/health")
    assert response.status_code == 503
    assert str(root) in response.get_json()["checks"]["storage"]


def test_health_is_503_when_an_index_backend_plugin_is_broken(core_app):
    class BrokenIndex(IndexBackend):
        def update_crate(self, name, content, message):
            pass

        def rebuild(self, files, message):
            pass

        def check(self):
            raise ConnectionError("the git remote refused the push")

    class Plugin:
        @hookimpl
        def alexandrie_index_backends(self):
            return [BackendSpec("broken", lambda settings, app: BrokenIndex())]

    app = core_app(plugins=[Plugin()], index={"type": "broken"})
    response = app.test_client().get("/health")
    assert response.status_code == 503
    assert response.get_json()["checks"] == {"database": "ok", "storage": "ok",
                                             "index": "the git remote refused the push"}


def test_me_explains_how_to_get_a_token(api):
    response = api.client.get("/me")
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    public_url = api.app.extensions["alexandrie"].settings.general.public_url
    assert "cargo login --registry" in page
    assert f"sparse+{public_url}/index/" in page


# --- Tokens ------------------------------------------------------------------------------------------


def test_tokens_are_stored_only_as_sha256(api):
    import hashlib

    plaintext = api.tokens["alice"]
    api.publish("alice", "tool", "0.1.0")
    api.app.extensions["alexandrie"].downloads.flush()
    with api.app.app_context(), connection() as db:
        for model in MODELS:
            for row in model.select().dicts():
                assert plaintext not in repr(row), model.__name__
        hashes = {t.token_hash for t in ApiToken.select()}
        assert hashlib.sha256(plaintext.encode()).hexdigest() in hashes
        if is_sqlite(db):
            db.execute_sql("PRAGMA wal_checkpoint(FULL)")  # so the main file holds every row, too
    data_dir = Path(api.app.extensions["alexandrie"].settings.base_dir)
    for path in data_dir.rglob("*"):
        if path.is_file():
            assert plaintext.encode() not in path.read_bytes(), path


def test_a_revoked_token_is_refused_everywhere(api):
    api.publish("alice", "tool", "0.1.0")
    with api.app.app_context(), connection():
        alice = User.get(User.login == "alice")
        ApiToken.update(revoked_at=utcnow()).where(ApiToken.user == alice).execute()
    for response in (api.publish("alice", "tool", "0.2.0"),
                     api.call("DELETE", "/api/v1/crates/tool/0.1.0/yank", "alice"),
                     api.call("PUT", "/api/v1/crates/tool/owners", "alice", json={"users": ["bob"]})):
        assert "revoked" in error_detail(response, 403)
    assert api.publish("bob", "other", "0.1.0").status_code == 200


def test_bearer_prefix_is_accepted(api):
    body = publish_body(crate_metadata("tool", "0.1.0"), make_crate("tool", "0.1.0"))
    response = api.client.put("/api/v1/crates/new", data=body,
                              headers={"Authorization": f"Bearer {api.tokens['alice']}"})
    assert response.status_code == 200


# --- Error shape ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method, path, status", [
    ("GET", "/api/v1/nothing-here", 404),
    ("GET", "/api/v2/crates", 404),
    ("POST", "/api/v1/crates/new", 405),
    ("GET", "/api/v1/crates/new", 404),  # as on crates.io: a GET asks for a crate called `new`
    ("PATCH", "/api/v1/crates/tool/owners", 405),
    ("GET", "/index/no/th/nothing", 404),
    ("POST", "/index/config.json", 405),
    ("DELETE", "/index/to/ol/tool", 405),
])
def test_api_and_index_errors_use_the_cargo_error_shape(api, method, path, status):
    detail = error_detail(api.client.open(path, method=method), status)
    assert detail


def test_api_errors_stay_json_when_the_client_prefers_html(api):
    response = api.client.get("/api/v1/nothing-here", headers={"Accept": "text/html"})
    assert error_detail(response, 404) == "nothing at /api/v1/nothing-here"


@pytest.mark.parametrize("path", ["/api/v1/crates?q=x", "/index/config.json"])
def test_crashes_under_api_and_index_are_json_500s(api, monkeypatch, path):
    import alexandrie.web.views.api as api_views
    import alexandrie.web.views.index as index_views

    def explode(*args, **kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(api_views, "search_crates", explode)
    monkeypatch.setattr(index_views, "config_json", explode)
    detail = error_detail(api.client.get(path), 500)
    assert "internal error" in detail and "secret internal detail" not in detail


@pytest.mark.parametrize("query", ["\\", "'; DROP TABLE crate; --", "\u00e9\u00e9", "\U0001F980",
                                   "x" * 5000, "a b c d e f g h i j k l", "+++", "_"])
def test_odd_search_queries_answer_normally(catalogue, query):
    body = search(catalogue, q=query)
    assert body["meta"]["total"] >= len(body["crates"])
    assert search(catalogue, q="serde")["meta"]["total"] == 4


NUL_REQUESTS = [("GET", "/api/v1/crates?q=ser%00de"), ("GET", "/api/v1/crates/tool%00/0.1.0/download"),
                ("GET", "/api/v1/crates/tool/0.1.0%00/download"), ("GET", "/api/v1/crates/%00/owners"),
                ("DELETE", "/api/v1/crates/tool%00/0.1.0/yank"), ("GET", "/crates/tool%00"),
                ("GET", "/search?keyword=%00"), ("GET", "/users/%00")]


@pytest.mark.parametrize("method, path", NUL_REQUESTS)
def test_a_nul_character_in_the_path_or_query_is_a_clear_400(api, method, path):
    """PostgreSQL refuses NUL in any query text; every database gets the same clear refusal."""
    assert api.publish("alice", "tool", "0.1.0").status_code == 200
    response = api.call(method, path, "alice")
    assert response.status_code == 400 and "NUL character" in response.get_data(as_text=True)


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "multipart/form-data"])
def test_a_publish_body_is_read_whatever_content_type_the_client_declares(api, content_type):
    """cargo sends none, but urllib and curl -d default to a form type; the frame is binary all the same."""
    body = publish_body(crate_metadata("tool", "0.1.0"), make_crate("tool", "0.1.0"))
    response = api.call("PUT", "/api/v1/crates/new", "alice", data=body, content_type=content_type)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert len(api.index_lines("to/ol/tool")) == 1


def test_a_nul_character_in_a_browser_form_is_a_clear_400(api):
    response = api.client.post("/account/login", data={"login": "ali\x00ce", "password": "x"})
    assert response.status_code == 400 and "NUL character" in response.get_data(as_text=True)


@pytest.mark.parametrize("users", [["bo\x00b"], ["\x00"]])
def test_owner_logins_with_a_nul_character_are_refused(api, users):
    assert api.publish("alice", "tool", "0.1.0").status_code == 200
    for method in ("PUT", "DELETE"):
        detail = error_detail(api.call(method, "/api/v1/crates/tool/owners", "alice", json={"users": users}), 400)
        assert "NUL character" in detail
    assert api.owners("tool") == ["alice"]


def test_absurdly_nested_owners_json_is_a_400(api):
    assert api.publish("alice", "tool", "0.1.0").status_code == 200
    nested = "[" * 100_000 + "]" * 100_000
    response = api.call("PUT", "/api/v1/crates/tool/owners", "alice", data=nested, content_type="application/json")
    assert "send the owners as JSON" in error_detail(response, 400)
