"""Categories are a fixed list, crates.io's unless ``[general] categories_file`` replaces it: a publish is
linked to the listed ones, and the others are left out and reported back to cargo, which prints a warning."""

import pytest

from alexandrie.config import load_config
from alexandrie.db import connection
from alexandrie.errors import ConfigError
from alexandrie.models import Category, Crate, CrateCategory, Version
from alexandrie.services.categories import known_categories, read_categories
from alexandrie.services.importing import import_paths
from alexandrie.testing import LiveServer, create_user_with_token, make_crate, publish, write_package

IN_HOUSE = """
[internal-tools]
name = "Internal tools"
description = \"\"\"
Tools for the
build farm.
\"\"\"

[internal-tools.categories.ci]
name = "CI"
description = "Runners and their helpers."
"""


def _linked(app, crate: str) -> list[tuple[str, str]]:
    """(slug, name) of the categories ``crate`` is listed in."""
    with app.app_context(), connection():
        rows = (Category.select().join(CrateCategory).join(Crate).where(Crate.name == crate).order_by(Category.slug))
        return [(row.slug, row.name) for row in rows]


def _version_categories(app, crate: str) -> list[str]:
    with app.app_context(), connection():
        return Version.select().join(Crate).where(Crate.name == crate).get().categories


@pytest.fixture
def app(make_app):
    return make_app(rate_limits={"enabled": False})


@pytest.mark.sqlite_only
def test_the_default_list_is_crates_ios():
    categories = {category.slug: category for category in read_categories(load_config({}))}
    assert len(categories) == 104
    assert categories["no-std::no-alloc"].name == "No standard library::No dynamic allocation"
    assert categories["science"].description.startswith("Crates related to solving problems involving physics")
    assert "science::robotics" in categories and "made-up" not in categories


def test_a_publish_keeps_the_listed_categories_and_reports_the_others(app):
    token = create_user_with_token(app, "alice")
    response = publish(app.test_client(), token, "tagged",
                       categories=["science", "made-up", "no-std::no-alloc", "Science", "science"])
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"warnings": {"invalid_categories": ["made-up", "Science"], "invalid_badges": [],
                                                "other": []}}
    assert _version_categories(app, "tagged") == ["science", "no-std::no-alloc"]
    assert _linked(app, "tagged") == [("no-std::no-alloc", "No standard library::No dynamic allocation"),
                                      ("science", "Science")]
    client = app.test_client()
    assert client.get("/categories/science").status_code == 200
    assert client.get("/categories/made-up").status_code == 404


def test_a_configured_file_replaces_the_list(make_app, tmp_path):
    path = tmp_path / "categories.toml"
    path.write_text(IN_HOUSE)
    app = make_app(rate_limits={"enabled": False}, general={"categories_file": str(path)})
    token = create_user_with_token(app, "alice")
    response = publish(app.test_client(), token, "runner", categories=["internal-tools::ci", "science"])
    assert response.get_json()["warnings"]["invalid_categories"] == ["science"]
    assert _linked(app, "runner") == [("internal-tools::ci", "Internal tools::CI")]
    with app.app_context():
        assert [(c.slug, c.description) for c in known_categories()] == [
            ("internal-tools", "Tools for the build farm."), ("internal-tools::ci", "Runners and their helpers.")]


@pytest.mark.sqlite_only
def test_a_relative_categories_file_is_read_next_to_the_config_file(tmp_path):
    (tmp_path / "ours.toml").write_text(IN_HOUSE)
    settings = load_config({"general": {"categories_file": "ours.toml"}, "base_dir": str(tmp_path)})
    assert [c.slug for c in read_categories(settings)] == ["internal-tools", "internal-tools::ci"]


@pytest.mark.sqlite_only
@pytest.mark.parametrize("content, words", [
    (None, ["cannot be read"]),
    ("[science\nname = ", ["cannot be read as TOML"]),
    ('[Science]\nname = "Upper case"\n', ["[Science] is not a category"]),
    ("[science]\ndescription = 'no name'\n", ["[science] is not a category", 'name = "..."']),
    ('[science]\nname = "S"\ncategories = "none"\n', ["[science] needs", "[science.categories.SLUG]"]),
], ids=["missing", "not-toml", "upper-case", "no-name", "children-not-a-table"])
def test_a_broken_categories_file_stops_the_start_up(make_app, tmp_path, content, words):
    path = tmp_path / "categories.toml"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError) as refused:
        make_app(general={"categories_file": str(path)})
    assert "[general] categories_file" in str(refused.value) and str(path) in str(refused.value)
    for word in words:
        assert word in str(refused.value)


def test_an_import_keeps_every_category_on_the_version_but_lists_only_known_ones(app, tmp_path):
    """What another registry accepted comes in whole; this registry's pages list only its own categories."""
    manifest = ('[package]\nname = "odd"\nversion = "1.0.0"\nedition = "2021"\n'
                'categories = ["science", "their-own", "Not A Slug"]\n')
    archive = tmp_path / "odd-1.0.0.crate"
    archive.write_bytes(make_crate("odd", "1.0.0", manifest=manifest))
    with app.app_context(), connection():
        assert import_paths([archive]).imported == [str(archive)]
    assert _version_categories(app, "odd") == ["science", "their-own", "Not A Slug"]
    assert _linked(app, "odd") == [("science", "Science")]
    with app.app_context(), connection():
        assert not Category.select().where(Category.slug == "their-own").exists()


@pytest.mark.cargo
@pytest.mark.sqlite_only
def test_cargo_prints_the_categories_it_was_told_were_left_out(app, cargo_factory, tmp_path):
    server = LiveServer(app).start()
    try:
        cargo = cargo_factory(server, create_user_with_token(app, "alice"))
        package = write_package(tmp_path / "src", "warned",
                                manifest_extra='categories = ["science", "not-a-category"]\n')
        result = cargo.run("publish", "--no-verify", cwd=package, timeout=180)
    finally:
        server.stop()
    assert "the following are not valid category slugs and were ignored: not-a-category" in result.stderr, \
        result.stderr
    assert _linked(app, "warned") == [("science", "Science")]
