"""The policy through the registry's publish API, with Alexandrie's testing kit (pytest fixtures)."""

import pytest

import alexandrie_policy_licence
from alexandrie import ConfigError
from alexandrie.testing import (
    crate_metadata,
    create_user_with_token,
    describe_plugins,
    get_plugin_manager,
    make_crate,
    publish_body,
)
from alexandrie_policy_licence import licence_ids

POLICY = {"allowed_licences": ["MIT", "Apache-2.0"], "required_fields": ["description", "repository"]}
COMPLETE = {"description": "a crate", "repository": "https://example.com/r"}


@pytest.fixture
def registry(make_app):
    app = make_app(plugins=[alexandrie_policy_licence], plugin_config={"policy-licence": POLICY})
    return app, app.test_client(), create_user_with_token(app, "alice")


def publish(registry, name, version="0.1.0", **fields):
    app, client, token = registry
    body = publish_body(crate_metadata(name, version, **fields), make_crate(name, version))
    return client.put("/api/v1/crates/new", data=body, headers={"Authorization": token})


def detail(response) -> str:
    return response.get_json()["errors"][0]["detail"]


def test_a_licence_outside_the_list_is_refused_with_what_to_do(registry):
    response = publish(registry, "copyleft", license="GPL-3.0-only", **COMPLETE)
    assert response.status_code == 400
    assert detail(response) == ("licence `GPL-3.0-only` is not allowed on this registry (accepted: Apache-2.0, "
                                "MIT); change `license` in Cargo.toml or ask the registry operator")
    assert registry[1].get("/api/v1/crates/copyleft/0.1.0/download").status_code == 404


def test_every_licence_of_an_expression_must_be_allowed(registry):
    assert publish(registry, "dual", license="MIT OR Apache-2.0", **COMPLETE).status_code == 200
    response = publish(registry, "mixed", license="(MIT OR Apache-2.0) AND Zlib", **COMPLETE)
    assert response.status_code == 400 and "`Zlib`" in detail(response)


def test_missing_fields_are_named_as_cargo_toml_keys(registry):
    response = publish(registry, "bare", license="MIT", description=None, repository=None)
    assert response.status_code == 400
    assert detail(response).startswith("this registry requires `description`, `repository` in the [package] "
                                       "section of Cargo.toml")


def test_a_licence_file_needs_the_operator_s_consent(registry, make_app):
    response = publish(registry, "own-terms", license=None, license_file="LICENSE.txt", **COMPLETE)
    assert response.status_code == 400 and "SPDX expression" in detail(response)
    lenient = make_app(plugins=[alexandrie_policy_licence],
                       plugin_config={"policy-licence": {**POLICY, "allow_licence_file": True}})
    assert publish((lenient, lenient.test_client(), create_user_with_token(lenient, "bob")), "own-terms",
                   license=None, license_file="LICENSE.txt", **COMPLETE).status_code == 200


def test_without_configuration_everything_is_accepted(make_app):
    app = make_app(plugins=[alexandrie_policy_licence])
    registry = (app, app.test_client(), create_user_with_token(app, "alice"))
    assert publish(registry, "anything", license="WTFPL").status_code == 200


@pytest.mark.parametrize("settings, message", [
    ({"allowed_licences": "MIT"}, "allowed_licences: write a list of SPDX ids"),
    ({"required_fields": ["colour"]}, "unknown field colour"),
])
def test_a_bad_configuration_stops_the_registry_at_start_up(make_app, settings, message):
    with pytest.raises(ConfigError, match=message):
        make_app(plugins=[alexandrie_policy_licence], plugin_config={"policy-licence": settings})


def test_spdx_expressions():
    assert licence_ids("MIT OR Apache-2.0") == ["MIT", "Apache-2.0"]
    assert licence_ids("GPL-2.0-or-later WITH Classpath-exception-2.0") == ["GPL-2.0-or-later"]
    assert licence_ids("MIT/Apache-2.0") == ["MIT", "Apache-2.0"]


def test_the_plugin_is_installed():
    rows = {row["name"]: row for row in describe_plugins(get_plugin_manager())}
    assert rows["policy-licence"]["distribution"] == "alexandrie-policy-licence"
    assert rows["policy-licence"]["hooks"] == \
        ["alexandrie_check_config", "alexandrie_startup", "alexandrie_validate_publish"]
