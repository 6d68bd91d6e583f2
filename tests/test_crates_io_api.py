"""The crates.io web API's reads, as the tools written for crates.io call them: crates, versions, reverse
dependencies, downloads, categories, keywords and the summary, in crates.io's shapes and pagination, with
read-restricted crates absent for whoever may not read them.

No Python client library for crates.io installs from the package index here, so ``CratesIo`` below is a
small one that does what those clients do: it reads the documented fields and follows ``meta.next_page``
until there is none."""

import hashlib
import re
from datetime import datetime

import pytest

from alexandrie.db import connection
from alexandrie.services import catalog
from alexandrie.services.crates import change_read_access
from alexandrie.testing import crate_metadata, create_user_with_token, dependency, make_crate, publish_body

# The fields crates.io documents for each object (its src/views.rs), which a client may read.
CRATE_FIELDS = {"id", "name", "updated_at", "versions", "keywords", "categories", "badges", "created_at",
                "downloads", "recent_downloads", "default_version", "num_versions", "yanked", "max_version",
                "newest_version", "max_stable_version", "description", "homepage", "documentation", "repository",
                "links", "exact_match"}
CRATE_LINKS = {"version_downloads", "versions", "owners", "owner_team", "owner_user", "reverse_dependencies"}
VERSION_FIELDS = {"id", "crate", "num", "dl_path", "readme_path", "updated_at", "created_at", "downloads",
                  "features", "yanked", "yank_message", "lib_links", "license", "links", "crate_size",
                  "published_by", "audit_actions", "checksum", "rust_version", "has_lib", "bin_names", "edition",
                  "description", "homepage", "documentation", "repository"}
DEPENDENCY_FIELDS = {"id", "version_id", "crate_id", "req", "optional", "default_features", "features", "target",
                     "kind", "downloads"}
KEYWORD_FIELDS = {"id", "keyword", "created_at", "crates_cnt"}
CATEGORY_FIELDS = {"id", "category", "slug", "description", "created_at", "crates_cnt"}
SUMMARY_FIELDS = {"num_crates", "num_downloads", "new_crates", "most_downloaded", "most_recently_downloaded",
                  "just_updated", "popular_keywords", "popular_categories"}
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")


class CratesIo:
    """A crates.io API client: JSON in, ``meta.next_page`` followed to the end."""

    def __init__(self, client, token: str | None = None):
        self.client, self.token = client, token

    def response(self, path: str, **params):
        headers = {"Authorization": self.token} if self.token else {}
        return self.client.get(f"/api/v1{path}", query_string=params or None, headers=headers)

    def get(self, path: str, **params) -> dict:
        response = self.response(path, **params)
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_json()

    def every(self, path: str, key: str, **params) -> tuple[list, int]:
        """All the items of a paginated list, and the ``meta.total`` each page reported (checked equal)."""
        items, totals, query = [], set(), f"?{'&'.join(f'{k}={v}' for k, v in params.items())}"
        for _ in range(100):
            body = self.get(f"{path}{query}")
            items += body[key]
            totals.add(body["meta"]["total"])
            query = body["meta"]["next_page"]
            if query is None:
                assert len(totals) == 1
                return items, totals.pop()
        raise AssertionError(f"{path} never ran out of pages")

    def status(self, path: str) -> tuple[int, str]:
        response = self.response(path)
        return response.status_code, response.get_json()["errors"][0]["detail"] if response.status_code >= 400 else ""


class Registry:
    def __init__(self, app):
        self.app, self.client, self.tokens = app, app.test_client(), {}

    def user(self, login: str) -> str:
        self.tokens[login] = create_user_with_token(self.app, login)
        return self.tokens[login]

    def publish(self, login: str, name: str, vers: str, tarball: bytes | None = None, **fields):
        body = publish_body(crate_metadata(name, vers, **fields), tarball or make_crate(name, vers))
        response = self.client.put("/api/v1/crates/new", data=body, headers={"Authorization": self.tokens[login]})
        assert response.status_code == 200, response.get_data(as_text=True)

    def yank(self, login: str, name: str, vers: str) -> None:
        response = self.client.delete(f"/api/v1/crates/{name}/{vers}/yank",
                                      headers={"Authorization": self.tokens[login]})
        assert response.status_code == 200, response.get_data(as_text=True)

    def api(self, login: str | None = None) -> CratesIo:
        return CratesIo(self.app.test_client(), self.tokens[login] if login else None)

    def restrict(self, name: str, *readers: str) -> None:
        with self.app.app_context(), connection():
            change_read_access(name, "root", restricted=True, add_readers=readers)


@pytest.fixture
def registry(make_app):
    registry = Registry(make_app(rate_limits={"enabled": False}))
    for login in ("alice", "bob", "carol"):
        registry.user(login)
    return registry


def assert_time(value: str) -> None:
    assert RFC3339.fullmatch(value), value
    datetime.fromisoformat(value.replace("Z", "+00:00"))


# --- a crate and its versions -----------------------------------------------------------------------------


def test_a_crate_answers_with_every_field_crates_io_documents(registry):
    tarball = make_crate("tool", "1.0.0")
    about = {"description": "A tool", "homepage": "https://tool.dev", "documentation": "https://docs.tool.dev",
             "repository": "https://git.tool.dev/tool", "keywords": ["cli", "tooling"],
             "categories": ["command-line-utilities"]}
    registry.publish("alice", "tool", "1.0.0", tarball=tarball, rust_version="1.70",
                     features={"default": ["fast"], "fast": []}, license="MIT OR Apache-2.0", **about)
    registry.publish("alice", "tool", "1.1.0", **about)
    registry.publish("alice", "tool", "2.0.0-rc.1", **about)
    registry.yank("alice", "tool", "1.1.0")

    body = registry.api().get("/crates/tool")

    assert set(body) == {"crate", "versions", "keywords", "categories"}
    crate = body["crate"]
    assert set(crate) == CRATE_FIELDS and set(crate["links"]) == CRATE_LINKS
    assert (crate["id"], crate["name"], crate["description"]) == ("tool", "tool", "A tool")
    assert (crate["homepage"], crate["documentation"], crate["repository"]) == \
        ("https://tool.dev", "https://docs.tool.dev", "https://git.tool.dev/tool")
    # crates.io: max_version is the highest live version, pre-releases included; max_stable_version is not one.
    assert (crate["max_version"], crate["max_stable_version"], crate["newest_version"]) == \
        ("2.0.0-rc.1", "1.0.0", "2.0.0-rc.1")
    assert (crate["default_version"], crate["yanked"], crate["num_versions"]) == ("1.0.0", False, 3)
    assert (crate["downloads"], crate["recent_downloads"]) == (0, 0)
    assert crate["keywords"] == ["cli", "tooling"] and crate["categories"] == ["command-line-utilities"]
    assert crate["links"]["reverse_dependencies"] == "/api/v1/crates/tool/reverse_dependencies"
    assert crate["links"]["versions"] is None  # included, so not linked, as on crates.io
    assert_time(crate["created_at"]), assert_time(crate["updated_at"])

    assert [v["num"] for v in body["versions"]] == ["2.0.0-rc.1", "1.1.0", "1.0.0"]
    assert crate["versions"] == [v["id"] for v in body["versions"]]
    first = body["versions"][-1]
    assert set(first) == VERSION_FIELDS
    assert (first["crate"], first["num"], first["yanked"], first["license"]) == ("tool", "1.0.0", False,
                                                                                  "MIT OR Apache-2.0")
    assert first["dl_path"] == "/api/v1/crates/tool/1.0.0/download"
    assert first["readme_path"] == "/api/v1/crates/tool/1.0.0/readme"
    assert (first["crate_size"], first["checksum"]) == (len(tarball), hashlib.sha256(tarball).hexdigest())
    assert (first["rust_version"], first["features"]) == ("1.70", {"default": ["fast"], "fast": []})
    assert first["published_by"]["login"] == "alice" and set(first["published_by"]) == \
        {"id", "login", "name", "avatar", "url"}
    assert set(first["links"]) == {"dependencies", "version_downloads", "authors"}
    assert_time(first["created_at"]), assert_time(first["updated_at"])
    assert [v["yanked"] for v in body["versions"]] == [False, True, False]

    assert [set(k) for k in body["keywords"]] == [KEYWORD_FIELDS] * 2
    assert [(k["id"], k["keyword"], k["crates_cnt"]) for k in body["keywords"]] == [("cli", "cli", 1),
                                                                                      ("tooling", "tooling", 1)]
    assert [set(c) for c in body["categories"]] == [CATEGORY_FIELDS]
    assert (body["categories"][0]["slug"], body["categories"][0]["crates_cnt"]) == ("command-line-utilities", 1)
    assert_time(body["keywords"][0]["created_at"]), assert_time(body["categories"][0]["created_at"])


def test_a_crate_whose_versions_are_all_yanked_says_so(registry):
    registry.publish("alice", "gone", "1.0.0")
    registry.yank("alice", "gone", "1.0.0")
    crate = registry.api().get("/crates/gone")["crate"]
    assert (crate["yanked"], crate["max_version"], crate["max_stable_version"], crate["default_version"]) == \
        (True, "0.0.0", None, "1.0.0")


def test_one_version_and_its_yank(registry):
    registry.publish("alice", "tool", "1.0.0")
    registry.publish("alice", "tool", "1.1.0")
    registry.yank("alice", "tool", "1.1.0")
    api = registry.api()
    assert set(api.get("/crates/tool/1.0.0")) == {"version"}
    assert api.get("/crates/tool/1.0.0")["version"]["yanked"] is False
    assert api.get("/crates/tool/1.1.0")["version"]["yanked"] is True
    assert api.status("/crates/tool/9.9.9") == (404, "crate `tool` has no version 9.9.9")
    assert api.status("/crates/nope") == (404, "crate `nope` does not exist on this registry")


def test_the_links_of_a_crate_and_a_version_lead_to_their_answers(registry):
    registry.publish("alice", "base", "1.0.0")
    registry.publish("alice", "app", "1.0.0", readme="# Hello from app", readme_file="README.md", authors=["Al"],
                     deps=[dependency("base", "^1", features=["extra"], default_features=False)])
    assert registry.client.get("/api/v1/crates/app/1.0.0/download").status_code == 200
    registry.app.extensions["alexandrie"].downloads.flush()
    api = registry.api()
    body = api.get("/crates/app")
    version = body["versions"][0]

    for link, url in body["crate"]["links"].items():
        assert url is None or api.response(url.removeprefix("/api/v1")).status_code == 200, link
    links = {link: api.get(body["crate"]["links"][link].removeprefix("/api/v1")) for link in ("owner_user", "owner_team")}
    assert links == {"owner_user": {"users": [{"id": links["owner_user"]["users"][0]["id"], "login": "alice",
                                               "kind": "user", "name": "alice"}]},
                     "owner_team": {"teams": []}}
    readme = api.response(version["readme_path"].removeprefix("/api/v1"))
    assert readme.mimetype == "text/html" and "Hello from app" in readme.get_data(as_text=True)
    assert "sandbox" in readme.headers["Content-Security-Policy"]  # a publisher's HTML runs nothing here
    [dep] = api.get(version["links"]["dependencies"].removeprefix("/api/v1"))["dependencies"]
    assert set(dep) == DEPENDENCY_FIELDS and dep["version_id"] == version["id"]
    assert (dep["crate_id"], dep["req"], dep["features"], dep["default_features"]) == ("base", "^1", ["extra"], False)
    [day] = api.get(version["links"]["version_downloads"].removeprefix("/api/v1"))["version_downloads"]
    assert (day["version"], day["downloads"]) == (version["id"], 1)
    assert api.get(version["links"]["authors"].removeprefix("/api/v1"))["meta"] == {"names": ["Al"]}
    assert api.status("/crates/base/1.0.0/readme") == (404, "`base` 1.0.0 was published without a README")


def test_versions_come_page_by_page_until_next_page_runs_out(registry):
    numbers = ["0.1.0", "0.2.0", "0.10.0", "1.0.0-alpha.1", "1.0.0", "1.0.1", "2.0.0"]
    for vers in numbers:
        registry.publish("alice", "tool", vers)
    api = registry.api()
    highest_first = ["2.0.0", "1.0.1", "1.0.0", "1.0.0-alpha.1", "0.10.0", "0.2.0", "0.1.0"]

    items, total = api.every("/crates/tool/versions", "versions", per_page=3)
    assert [v["num"] for v in items] == highest_first and total == 7
    assert api.get("/crates/tool/versions", per_page=3)["meta"]["next_page"] == "?page=2&per_page=3"
    assert api.get("/crates/tool/versions", per_page=3, page=3)["meta"]["next_page"] is None

    everything = api.get("/crates/tool/versions")  # no per_page: every version at once, as on crates.io
    assert [v["num"] for v in everything["versions"]] == highest_first
    assert everything["meta"] == {"total": 7, "next_page": None}
    newest_first = api.get("/crates/tool/versions", sort="date")["versions"]
    assert [v["num"] for v in newest_first] == list(reversed(numbers))


@pytest.mark.parametrize(("query", "detail"), [
    ("page=0", "`page` must be from 1 to 1000000, not 0"),
    ("page=two", "`page` must be a whole number, not `two`"),
    ("per_page=0", "`per_page` must be 1 or more, not 0"),
    ("per_page=-5", "`per_page` must be 1 or more, not -5"),
    ("per_page=ten", "`per_page` must be a whole number, not `ten`"),
])
@pytest.mark.parametrize("path", ["/crates/tool/versions", "/crates/tool/reverse_dependencies", "/categories",
                                  "/keywords"])
def test_a_bad_page_or_per_page_is_a_400_in_cargos_error_shape(registry, path, query, detail):
    registry.publish("alice", "tool", "1.0.0")
    response = registry.api().response(f"{path}?{query}")
    assert response.status_code == 400
    assert response.get_json() == {"errors": [{"detail": detail}]}


def test_per_page_is_capped_at_100_like_crates_io(registry):
    registry.publish("alice", "tool", "1.0.0", categories=["algorithms"])
    meta = registry.api().get("/crates/tool/versions", per_page=5000)["meta"]
    assert meta == {"total": 1, "next_page": None}
    categories = registry.api().get("/categories", per_page=5000)
    assert categories["meta"]["total"] == 1 and len(categories["categories"]) == 1
    assert catalog.pagination("3", "5000") == catalog.Pagination(page=3, per_page=100)


# --- reverse dependencies and the crate page's "Used by" --------------------------------------------------


@pytest.fixture
def dependents(registry):
    """``base`` is used by three crates: ``app`` twice in its newest version (normal and dev) and in an older
    one, ``builder`` as a build dependency, ``tester`` as a dev dependency; ``former`` only used to."""
    registry.publish("alice", "base", "1.0.0", description="the base")
    registry.publish("bob", "app", "0.9.0", deps=[dependency("base", "^1")])
    registry.publish("bob", "app", "1.0.0", deps=[dependency("base", "^1", kind="dev", features=["extra"]),
                                                  dependency("base", "^1.0", default_features=False)])
    registry.publish("bob", "builder", "1.0.0", deps=[dependency("base", "1", kind="build")])
    registry.publish("carol", "tester", "1.0.0", deps=[dependency("base", "*", kind="dev")])
    registry.publish("carol", "former", "1.0.0", deps=[dependency("base", "^1")])
    registry.publish("carol", "former", "2.0.0")
    registry.client.get("/api/v1/crates/tester/1.0.0/download")
    registry.app.extensions["alexandrie"].downloads.flush()
    return registry


def test_reverse_dependencies_list_each_dependent_crate_once(dependents):
    body = dependents.api().get("/crates/base/reverse_dependencies")

    assert set(body) == {"dependencies", "versions", "meta"}
    assert body["meta"] == {"total": 3, "next_page": None}
    # Most downloaded first, then by name, as crates.io orders them.
    assert [d["version_id"] for d in body["dependencies"]] == [v["id"] for v in body["versions"]]
    assert [(v["crate"], v["num"]) for v in body["versions"]] == [("tester", "1.0.0"), ("app", "1.0.0"),
                                                                   ("builder", "1.0.0")]
    assert all(set(d) == DEPENDENCY_FIELDS for d in body["dependencies"])
    assert all(set(v) == VERSION_FIELDS for v in body["versions"])
    tester, app, builder = body["dependencies"]
    assert (tester["crate_id"], tester["kind"], tester["req"], tester["downloads"]) == ("base", "dev", "*", 1)
    # app depends twice; the normal dependency is the one that counts for its users.
    assert (app["kind"], app["req"], app["default_features"], app["optional"]) == ("normal", "^1.0", False, False)
    assert (builder["kind"], builder["features"], builder["target"]) == ("build", [], None)


def test_reverse_dependencies_come_page_by_page(dependents):
    api = dependents.api()
    items, total = api.every("/crates/base/reverse_dependencies", "dependencies", per_page=2)
    assert total == 3 and len(items) == 3 and len({d["version_id"] for d in items}) == 3
    assert api.get("/crates/base/reverse_dependencies", per_page=1, page=3)["meta"]["next_page"] is None


def test_used_by_on_the_crate_page_counts_crates(dependents):
    page = dependents.client.get("/crates/base").get_data(as_text=True)
    assert "Used by (3)" in page
    assert page.count('href="/crates/app"') == 1 and "former" not in page


# --- downloads --------------------------------------------------------------------------------------------


def test_downloads_chart_the_five_highest_versions_and_sum_the_rest(registry):
    numbers = ["0.1.0", "0.2.0", "0.3.0", "0.4.0", "0.5.0", "0.6.0"]
    for vers in numbers:
        registry.publish("alice", "tool", vers)
    for vers, times in (("0.1.0", 2), ("0.2.0", 1), ("0.6.0", 3)):
        for _ in range(times):
            assert registry.client.get(f"/api/v1/crates/tool/{vers}/download").status_code == 200
    registry.app.extensions["alexandrie"].downloads.flush()
    api = registry.api()
    ids = {v["num"]: v["id"] for v in api.get("/crates/tool")["versions"]}

    body = api.get("/crates/tool/downloads")

    today = datetime.now().astimezone().date()
    assert set(body) == {"version_downloads", "meta"} and set(body["meta"]) == {"extra_downloads"}
    assert sorted((d["version"], d["downloads"]) for d in body["version_downloads"]) == \
        sorted([(ids["0.2.0"], 1), (ids["0.6.0"], 3)])
    assert all(set(d) == {"version", "downloads", "date"} for d in body["version_downloads"])
    [extra] = body["meta"]["extra_downloads"]  # 0.1.0 is not among the five highest
    assert extra["downloads"] == 2 and abs((datetime.fromisoformat(extra["date"]).date() - today).days) <= 1
    assert api.get("/crates/tool")["crate"]["recent_downloads"] == 6


# --- categories, keywords and the summary -----------------------------------------------------------------


def test_categories_and_keywords_are_paginated_with_their_counts(registry):
    registry.publish("alice", "one", "1.0.0", keywords=["alpha", "shared"], categories=["algorithms"])
    registry.publish("alice", "two", "1.0.0", keywords=["beta", "shared"], categories=["algorithms", "caching"])
    registry.publish("alice", "three", "1.0.0", keywords=["gamma", "shared"], categories=["database"])
    api = registry.api()

    keywords, total = api.every("/keywords", "keywords", per_page=2)
    assert total == 4 and [k["keyword"] for k in keywords] == ["alpha", "beta", "gamma", "shared"]
    assert all(set(k) == KEYWORD_FIELDS for k in keywords)
    assert api.get("/keywords", sort="crates")["keywords"][0] == {**keywords[3], "crates_cnt": 3}
    assert api.get("/keywords/shared") == {"keyword": keywords[3]}
    assert api.status("/keywords/nothing") == (404, "no crate has the keyword `nothing`")

    categories, total = api.every("/categories", "categories", per_page=2)
    assert total == 3 and [(c["slug"], c["crates_cnt"]) for c in categories] == \
        [("algorithms", 2), ("caching", 1), ("database", 1)]
    assert all(set(c) == CATEGORY_FIELDS for c in categories)
    single = api.get("/categories/algorithms")["category"]
    assert single == {**categories[0], "subcategories": [], "parent_categories": []}
    assert api.status("/categories/nothing") == (404, "there is no category `nothing`")


def test_a_category_names_its_subcategories_and_parents_as_crates_io_does(registry):
    registry.publish("alice", "drone", "1.0.0", categories=["aerospace", "aerospace::drones"])
    api = registry.api()
    parent = api.get("/categories/aerospace")["category"]
    assert [(c["slug"], c["category"]) for c in parent["subcategories"]] == [("aerospace::drones", "Drones")]
    assert parent["parent_categories"] == [] and parent["category"] == "Aerospace"
    child = api.get("/categories/aerospace::drones")["category"]
    assert [c["slug"] for c in child["parent_categories"]] == ["aerospace"] and child["subcategories"] == []


def test_the_summary(registry):
    registry.publish("alice", "old", "1.0.0", keywords=["shared"], categories=["algorithms"])
    registry.publish("alice", "new", "1.0.0", keywords=["shared", "only"])
    assert registry.client.get("/api/v1/crates/old/1.0.0/download").status_code == 200
    registry.app.extensions["alexandrie"].downloads.flush()

    body = registry.api().get("/summary")

    assert set(body) == SUMMARY_FIELDS
    assert (body["num_crates"], body["num_downloads"]) == (2, 1)
    assert {c["name"] for c in body["new_crates"]} == {"old", "new"}
    assert [c["name"] for c in body["most_downloaded"]][0] == "old"
    assert [c["name"] for c in body["most_recently_downloaded"]] == ["old"]
    assert all(set(c) == CRATE_FIELDS for key in ("new_crates", "most_downloaded") for c in body[key])
    assert body["most_downloaded"][0]["versions"] is None  # lists carry no versions inline, as on crates.io
    assert [(k["keyword"], k["crates_cnt"]) for k in body["popular_keywords"]] == [("shared", 2), ("only", 1)]
    assert [(c["slug"], c["crates_cnt"]) for c in body["popular_categories"]] == [("algorithms", 1)]


# --- read restrictions ------------------------------------------------------------------------------------


@pytest.fixture
def secret(registry):
    """``secret`` (readable by carol) depends on ``base`` and has a keyword and a category of its own."""
    registry.publish("alice", "base", "1.0.0", keywords=["shared"], categories=["algorithms"])
    registry.publish("alice", "secret", "1.0.0", deps=[dependency("base", "^1")], keywords=["hush", "shared"],
                     categories=["cryptography"])
    registry.restrict("secret", "carol")
    return registry


SECRET_PATHS = ["/crates/secret", "/crates/secret/versions", "/crates/secret/1.0.0", "/crates/secret/downloads",
                "/crates/secret/reverse_dependencies", "/crates/secret/1.0.0/readme", "/crates/secret/1.0.0/dependencies",
                "/crates/secret/1.0.0/downloads", "/crates/secret/1.0.0/authors", "/keywords/hush",
                "/categories/cryptography"]
# What each answers for a crate, keyword or category that does not exist.
NEVER_THERE = {"secret": "zecret", "hush": "nope", "cryptography": "no-such-category"}


def never_there(text: str) -> str:
    return re.sub("|".join(NEVER_THERE), lambda found: NEVER_THERE[found.group()], text)


@pytest.mark.parametrize("login", [None, "bob"])
def test_a_restricted_crate_is_absent_for_a_stranger(secret, login):
    api = secret.api(login)
    for path in SECRET_PATHS:
        status, detail = api.status(path)
        missing = api.status(never_there(path))
        assert status == missing[0] == 404, path
        assert never_there(detail) == missing[1], path
    assert api.get("/crates/base/reverse_dependencies")["meta"]["total"] == 0
    assert [k["keyword"] for k in api.get("/keywords")["keywords"]] == ["shared"]
    assert api.get("/keywords/shared")["keyword"]["crates_cnt"] == 1
    assert [c["slug"] for c in api.get("/categories")["categories"]] == ["algorithms"]
    assert api.get("/categories")["meta"]["total"] == 1
    summary = api.get("/summary")
    assert summary["num_crates"] == 1
    assert all(c["name"] != "secret" for key in ("new_crates", "most_downloaded", "just_updated")
               for c in summary[key])
    assert [(k["keyword"], k["crates_cnt"]) for k in summary["popular_keywords"]] == [("shared", 1)]
    assert "Used by (0)" in secret.client.get("/crates/base").get_data(as_text=True)


@pytest.mark.parametrize("login", ["carol", "alice"])
def test_a_restricted_crate_is_there_for_its_readers(secret, login):
    api = secret.api(login)
    assert api.get("/crates/secret")["crate"]["keywords"] == ["hush", "shared"]
    assert api.get("/crates/secret/1.0.0")["version"]["num"] == "1.0.0"
    assert api.get("/crates/base/reverse_dependencies")["meta"]["total"] == 1
    assert api.get("/keywords/shared")["keyword"]["crates_cnt"] == 2
    assert api.get("/keywords/hush")["keyword"]["crates_cnt"] == 1
    assert {c["slug"] for c in api.get("/categories")["categories"]} == {"algorithms", "cryptography"}
    assert api.get("/summary")["num_crates"] == 2


def test_a_private_registry_answers_only_with_a_token(make_app):
    registry = Registry(make_app(general={"auth_required": True}, rate_limits={"enabled": False}))
    registry.user("alice")
    registry.publish("alice", "tool", "1.0.0")
    for path in ("/summary", "/crates/tool", "/crates/tool/versions", "/categories", "/keywords"):
        assert registry.api().response(path).status_code == 401, path
        assert registry.api("alice").response(path).status_code == 200, path
