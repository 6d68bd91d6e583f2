"""``[limits]``: the publish policy (crates.io's defaults, raised per crate by an administrator) and the
safety caps that hold for every way in, imports included."""

import re

import pytest
from click.testing import CliRunner

from alexandrie.cli import main
from alexandrie.db import connection
from alexandrie.models import AuditEvent, Crate, Version
from alexandrie.testing import create_user_with_token, dependency, make_crate, publish

CRATE = "many-features"


def _features(count: int) -> dict:
    return {f"feature-{i}": [] for i in range(count)}


def _detail(response) -> str:
    return response.get_json()["errors"][0]["detail"]


def _versions(app, name=CRATE) -> list[str]:
    with app.app_context(), connection():
        return [v.num for v in Version.select().join(Crate).where(Crate.name == name).order_by(Version.id)]


def _cli(app, tmp_path, *args, extra: str = ""):
    """``alexandrie ARGS`` on the same database as ``app``."""
    url = app.extensions["alexandrie"].settings.database.url
    config = tmp_path / "cli.toml"
    config.write_text(f'[database]\nurl = "{url}"\n[storage]\ntype = "disk"\npath = "{tmp_path}/cli-storage"\n'
                      + extra)
    return CliRunner().invoke(main, ["--config", str(config), *args])


@pytest.fixture
def app(make_app):
    return make_app(rate_limits={"enabled": False})


def test_an_administrator_raises_a_crates_limit_the_way_crates_io_lets_web_sys_through(app, tmp_path):
    token = create_user_with_token(app, "owner")
    client = app.test_client()
    assert publish(client, token, CRATE, "1.0.0", features=_features(300)).status_code == 200
    refused = publish(client, token, CRATE, "1.1.0", features=_features(1503))
    assert refused.status_code == 400
    assert _detail(refused) == (
        "the crate has 1503 features; this registry allows 300 ([limits] max_features): shorten it, or ask an "
        f"administrator to raise it for this crate (`alexandrie crate limits {CRATE} max_features=1503`)")

    # The command the refusal names is the one that lets the version in.
    command = re.search(r"`alexandrie (crate limits [^`]+)`", _detail(refused)).group(1).split()
    result = _cli(app, tmp_path, *command)
    assert result.exit_code == 0, result.output
    assert "max_features = 1503  (set for this crate)" in result.output
    assert "max_keywords = 5\n" in result.output
    assert publish(client, token, CRATE, "1.1.0", features=_features(1503)).status_code == 200
    assert publish(client, token, "other", "1.0.0", features=_features(1503)).status_code == 400

    result = _cli(app, tmp_path, "crate", "limits", CRATE, "max_features=default")
    assert result.exit_code == 0 and "max_features = 300\n" in result.output
    assert publish(client, token, CRATE, "1.2.0", features=_features(1503)).status_code == 400
    assert _versions(app) == ["1.0.0", "1.1.0"]
    with app.app_context(), connection():
        changes = [row.details["limits"] for row in
                   AuditEvent.select().where(AuditEvent.action == "crate-limits").order_by(AuditEvent.id)]
    assert changes == [{"max_features": 1503}, {}]


def test_a_new_crate_over_the_policy_is_told_which_setting_to_raise(app):
    """Overrides need a crate that exists, so a first version is pointed at alexandrie.toml instead."""
    token = create_user_with_token(app, "owner")
    refused = publish(app.test_client(), token, CRATE, "1.0.0", keywords=[f"k{i}" for i in range(6)])
    assert refused.status_code == 400
    assert _detail(refused) == ("the crate has 6 keywords; this registry allows 5 ([limits] max_keywords): shorten "
                                "it, or ask an administrator to raise `max_keywords` under [limits] in alexandrie.toml")


@pytest.mark.parametrize("setting, message", [
    ("max_versions=5", "not a publish limit"),
    ("max_features=0", "at least 1"),
    ("max_features", "SETTING=NUMBER"),
    ("max_features=lots", "SETTING=NUMBER"),
])
def test_a_wrong_override_is_refused_and_changes_nothing(app, tmp_path, setting, message):
    token = create_user_with_token(app, "owner")
    assert publish(app.test_client(), token, CRATE, "1.0.0").status_code == 200
    result = _cli(app, tmp_path, "crate", "limits", CRATE, setting)
    assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output
    with app.app_context(), connection():
        assert Crate.get(Crate.name == CRATE).limit_overrides is None


def test_the_limits_follow_the_configuration(make_app):
    app = make_app(rate_limits={"enabled": False}, limits={"max_features": 2000, "max_keywords": 7})
    token = create_user_with_token(app, "owner")
    response = publish(app.test_client(), token, CRATE, "1.0.0", features=_features(1503),
                       keywords=[f"k{i}" for i in range(7)])
    assert response.status_code == 200, response.get_json()


def test_reserved_names_are_refused_for_new_crates_only(app, tmp_path):
    token = create_user_with_token(app, "owner")
    response = publish(app.test_client(), token, "std", "1.0.0")
    assert response.status_code == 400 and "reserved" in _detail(response)
    archive = tmp_path / "std-0.1.0.crate"
    archive.write_bytes(make_crate("std", "0.1.0"))
    result = _cli(app, tmp_path, "import", str(archive))
    assert result.exit_code == 0 and "imported 1" in result.output, result.output
    assert _versions(app, "std") == ["0.1.0"]


# --- Imports: only the safety caps -------------------------------------------------------------------------

REAL_TARGET = ("cfg(any(all(target_arch = \"wasm32\", not(target_os = \"emscripten\")), "
               + " ".join(f'target_os = "os{i}",' for i in range(60)) + "))")


def _packaged(tmp_path, name: str, version: str, manifest: str):
    path = tmp_path / f"{name}-{version}.crate"
    path.write_bytes(make_crate(name, version, manifest=manifest))
    return path


def test_import_keeps_what_another_registry_accepted_past_the_publish_policy(app, tmp_path):
    features = "\n".join(f'f{i} = ["dep:helper"]' if i == 0 else f"f{i} = []" for i in range(1600))
    manifest = (f'[package]\nname = "wide"\nversion = "0.3.60"\nedition = "2018"\n'
                f'description = "{"d" * 5000}"\nkeywords = ["a", "b", "c", "d", "e", "f"]\n'
                f"[target.'{REAL_TARGET}'.dependencies]\nhelper = {{ version = \"1\", optional = true }}\n"
                f"[features]\n{features}\n")
    result = _cli(app, tmp_path, "import", str(_packaged(tmp_path, "wide", "0.3.60", manifest)))
    assert result.exit_code == 0 and "imported 1" in result.output, result.output
    with app.app_context(), connection():
        version = Version.select().join(Crate).where(Crate.name == "wide").get()
        assert len(version.features) == 1600 and version.deps[0]["target"] == REAL_TARGET
    assert len(REAL_TARGET) > 400


def test_the_safety_caps_hold_for_imports_too(make_app, tmp_path):
    app = make_app(limits={"max_index_line": "2 KiB"})
    features = "\n".join(f"feature-number-{i} = []" for i in range(200))
    manifest = f'[package]\nname = "huge"\nversion = "1.0.0"\nedition = "2021"\n[features]\n{features}\n'
    result = _cli(app, tmp_path, "import", str(_packaged(tmp_path, "huge", "1.0.0", manifest)),
                  extra='[limits]\nmax_index_line = "2 KiB"\n')
    assert "failed 1" in result.output and "[limits] max_index_line" in result.output, result.output
    assert "index entry of `huge` 1.0.0 is" in result.output
    assert _versions(app, "huge") == []


# --- Publish: the safety caps bound what one crate can grow to -------------------------------------------


def test_an_index_line_past_the_cap_is_refused_and_nothing_is_stored(make_app):
    app = make_app(rate_limits={"enabled": False}, limits={"max_index_line": "8 KiB"})
    token = create_user_with_token(app, "owner")
    big = {"many": [f"dep-{i}/feature-{i}" for i in range(600)]}
    response = publish(app.test_client(), token, CRATE, "1.0.0", features=big)
    assert response.status_code == 413 and "[limits] max_index_line" in _detail(response)
    assert f"index entry of `{CRATE}` 1.0.0 is" in _detail(response) and "at most 8192" in _detail(response)
    assert _versions(app) == []
    with app.app_context(), connection():
        assert not Crate.select().where(Crate.name == CRATE).exists()


def test_an_index_file_stops_growing_at_its_cap(make_app):
    app = make_app(rate_limits={"enabled": False}, limits={"max_index_file": "6 KiB"})
    token = create_user_with_token(app, "owner")
    client = app.test_client()
    features = {"f": [f"entry-{i}" for i in range(100)]}
    statuses = [publish(client, token, CRATE, f"1.0.{n}", features=features).status_code for n in range(8)]
    assert 200 in statuses and statuses[-1] == 413
    accepted = statuses.count(200)
    assert statuses == [200] * accepted + [413] * (8 - accepted)
    refused = publish(client, token, CRATE, "1.0.9", features=features)
    assert "[limits] max_index_file" in _detail(refused) and "at most 6144" in _detail(refused)
    response = app.test_client().get(f"/index/ma/ny/{CRATE}")
    assert len(response.data) <= 6 * 1024 and len(_versions(app)) == accepted


def test_a_crate_holds_at_most_max_versions(make_app):
    app = make_app(rate_limits={"enabled": False}, limits={"max_versions": 3})
    token = create_user_with_token(app, "owner")
    client = app.test_client()
    assert [publish(client, token, CRATE, f"1.0.{n}").status_code for n in range(4)] == [200, 200, 200, 400]
    response = publish(client, token, CRATE, "2.0.0")
    assert f"crate `{CRATE}` would have 4 versions" in _detail(response)
    assert "at most 3 per crate ([limits] max_versions" in _detail(response)


def test_a_long_target_cfg_from_a_real_crate_publishes_under_the_defaults(app):
    token = create_user_with_token(app, "owner")
    assert publish(app.test_client(), token, "helper", "1.0.0").status_code == 200
    response = publish(app.test_client(), token, CRATE, "1.0.0", deps=[dependency("helper", "^1", target=REAL_TARGET)])
    assert response.status_code == 200, response.get_json()


def test_an_import_keeps_categories_no_page_can_list(app, tmp_path):
    manifest = ('[package]\nname = "odd"\nversion = "1.0.0"\nedition = "2021"\n'
                f'categories = ["science", "{"x" * 80}", "Not A Slug"]\n')
    result = _cli(app, tmp_path, "import", str(_packaged(tmp_path, "odd", "1.0.0", manifest)))
    assert result.exit_code == 0 and "imported 1" in result.output, result.output
    with app.app_context(), connection():
        version = Version.select().join(Crate).where(Crate.name == "odd").get()
        assert version.categories == ["science", "x" * 80, "Not A Slug"]
    assert app.test_client().get("/categories/science").status_code == 200
