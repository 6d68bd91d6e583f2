"""Groups as crate owners, the way a GitHub team owns a crate on crates.io: ``cargo owner --add group:NAME``.

Whoever is a member of the group when they act may publish and yank; only user owners change the owners;
a crate keeps at least one user owner who can act, however many groups own it."""

import pytest

from alexandrie.db import connection
from alexandrie.models import AuditEvent, CrateGroupOwner
from alexandrie.services.crates import change_read_access, delete_crate, transfer_ownership
from alexandrie.services.groups import add_members, remove_members
from alexandrie.testing import create_user_with_token, publish, write_package


@pytest.fixture
def app(make_app):
    """``shared`` owned by alice; group ``devs`` holds bob; carol belongs to nothing."""
    app = make_app(rate_limits={"enabled": False}, frontend={"enabled": True})
    app.config["tokens"] = {login: create_user_with_token(app, login) for login in ("alice", "bob", "carol")}
    assert publish(app.test_client(), app.config["tokens"]["alice"], "shared", "1.0.0").status_code == 200
    with app.app_context(), connection():
        add_members("devs", ["bob"], actor="root")
    return app


def _owners_call(app, method: str, names: list[str], token_of: str = "alice"):
    return app.test_client().open("/api/v1/crates/shared/owners", method=method, json={"users": names},
                                  headers={"Authorization": app.config["tokens"][token_of]})


def _detail(response) -> str:
    return response.get_json()["errors"][0]["detail"]


def _publish_as(app, login: str, version: str):
    return publish(app.test_client(), app.config["tokens"][login], "shared", version)


def _listed_owners(app, login: str = "alice") -> list[dict]:
    response = app.test_client().get("/api/v1/crates/shared/owners",
                                     headers={"Authorization": app.config["tokens"][login]})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["users"]


def _audit(app, action: str) -> list[AuditEvent]:
    with app.app_context(), connection():
        return list(AuditEvent.select().where(AuditEvent.action == action).order_by(AuditEvent.id))


def test_a_group_owner_is_listed_as_a_team_and_its_members_publish_and_yank(app):
    added = _owners_call(app, "PUT", ["group:devs"])
    assert added.status_code == 200 and "`group:devs` is now an owner of crate `shared`" in added.get_json()["msg"]
    listed = _listed_owners(app)
    assert [(o["login"], o["kind"], o["name"]) for o in listed] == [("alice", "user", "alice"),
                                                                    ("group:devs", "team", "devs")]
    assert _publish_as(app, "bob", "1.1.0").status_code == 200
    headers = {"Authorization": app.config["tokens"]["bob"]}
    assert app.test_client().delete("/api/v1/crates/shared/1.1.0/yank", headers=headers).status_code == 200
    assert app.test_client().put("/api/v1/crates/shared/1.1.0/unyank", headers=headers).status_code == 200
    refused = _publish_as(app, "carol", "1.2.0")
    assert refused.status_code == 403 and "user `carol` is not an owner of crate `shared`" in _detail(refused)
    assert "group:devs" in app.test_client().get("/crates/shared").get_data(as_text=True)


def test_who_may_publish_follows_the_group_s_members_at_once(app):
    assert _owners_call(app, "PUT", ["group:devs"]).status_code == 200
    assert _publish_as(app, "carol", "1.1.0").status_code == 403
    with app.app_context(), connection():
        add_members("devs", ["carol"], actor="root")
        remove_members("devs", ["bob"], actor="root")
    assert _publish_as(app, "carol", "1.1.0").status_code == 200
    refused = _publish_as(app, "bob", "1.2.0")
    assert refused.status_code == 403 and "user `bob` is not an owner of crate `shared`" in _detail(refused)
    left = _audit(app, "role-change")[-1]
    assert left.details["removed"] == ["bob"] and left.details["owned_crates"] == ["shared"]


def test_a_group_member_cannot_change_the_owners(app):
    assert _owners_call(app, "PUT", ["group:devs"]).status_code == 200
    for method, names in (("PUT", ["carol"]), ("DELETE", ["group:devs"]), ("DELETE", ["alice"])):
        refused = _owners_call(app, method, names, token_of="bob")
        assert refused.status_code == 403, (method, names)
        assert "as a member of group `devs`, but only its user owners may change its owners" in _detail(refused)
    assert [o["login"] for o in _listed_owners(app)] == ["alice", "group:devs"]


def test_the_last_user_owner_cannot_leave_the_crate_to_its_groups(app):
    assert _owners_call(app, "PUT", ["group:devs"]).status_code == 200
    refused = _owners_call(app, "DELETE", ["alice"])
    assert refused.status_code == 400 and "at least one owner who can publish and is a user" in _detail(refused)
    assert "groups do not count" in _detail(refused)
    assert _owners_call(app, "DELETE", ["group:devs"]).status_code == 200
    assert [o["login"] for o in _listed_owners(app)] == ["alice"]
    assert _publish_as(app, "bob", "1.1.0").status_code == 403


def test_an_unknown_or_unnamed_group_is_refused_with_what_to_do(app):
    unknown = _owners_call(app, "PUT", ["group:nobody"])
    assert unknown.status_code == 400
    assert "no group named `nobody`" in _detail(unknown) and "alexandrie group add nobody" in _detail(unknown)
    unnamed = _owners_call(app, "PUT", ["group:"])
    assert unnamed.status_code == 400 and "group:NAME" in _detail(unnamed)
    assert [o["login"] for o in _listed_owners(app)] == ["alice"]


def test_group_owner_changes_reach_the_audit_log(app):
    assert _owners_call(app, "PUT", ["group:devs", "carol"]).status_code == 200
    assert _owners_call(app, "DELETE", ["group:devs"]).status_code == 200
    assert _owners_call(app, "PUT", ["group:devs"]).status_code == 200
    added, removed, again = _audit(app, "owners_changed")
    assert (added.actor, added.details["added"], added.details["added_groups"]) == ("alice", ["carol"], ["devs"])
    assert (removed.details["removed"], removed.details["removed_groups"]) == ([], ["devs"])
    assert again.details["added_groups"] == ["devs"]
    with app.app_context(), connection():
        assert transfer_ownership("shared", "bob", "root") == ["alice", "carol", "group:devs"]
        assert CrateGroupOwner.select().count() == 0  # the transfer leaves bob the only owner
    assert _audit(app, "ownership-transfer")[0].details["previous_owners"] == ["alice", "carol", "group:devs"]


def test_members_of_an_owning_group_read_a_restricted_crate(app):
    assert _owners_call(app, "PUT", ["group:devs"]).status_code == 200
    with app.app_context(), connection():
        change_read_access("shared", "root", restricted=True)
    assert [o["login"] for o in _listed_owners(app, "bob")] == ["alice", "group:devs"]
    assert _publish_as(app, "bob", "1.1.0").status_code == 200
    hidden = app.test_client().get("/api/v1/crates/shared/owners",
                                   headers={"Authorization": app.config["tokens"]["carol"]})
    assert hidden.status_code == 404


def test_deleting_a_crate_owned_by_a_group_deletes_the_ownership(app):
    assert _owners_call(app, "PUT", ["group:devs"]).status_code == 200
    with app.app_context(), connection():
        assert delete_crate("shared", "root") == ["1.0.0"]
        assert CrateGroupOwner.select().count() == 0
    assert _publish_as(app, "bob", "1.0.1").status_code == 200  # a new crate now, bob's alone


# --- The real cargo ------------------------------------------------------------------------------------


@pytest.mark.cargo
def test_cargo_adds_lists_and_removes_a_group_whose_members_publish(module_registry, tmp_path):
    registry = module_registry
    alice, bob = (registry.cargo(f"{login}-home", registry.user(login)) for login in ("alice", "bob"))
    with registry.app.app_context(), connection():
        add_members("publishers", ["bob"], actor="root")

    def publish_with(cargo, version):
        package = write_package(tmp_path / version, "team-crate", version)
        return cargo.run("publish", "--no-verify", "--registry", "alex", cwd=package, check=False)

    def owner(cargo, *args):
        return cargo.run("owner", "--registry", "alex", *args, "team-crate", cwd=tmp_path, check=False)

    assert publish_with(alice, "0.1.0").returncode == 0
    added = owner(alice, "--add", "group:publishers")
    assert added.returncode == 0 and "`group:publishers` is now an owner of crate `team-crate`" in added.stderr
    listed = owner(alice, "--list")
    assert [line.split()[0] for line in listed.stdout.splitlines()] == ["alice", "group:publishers"]
    assert publish_with(bob, "0.2.0").returncode == 0
    refused = owner(bob, "--add", "bob")
    assert refused.returncode != 0 and "only its user owners may change its owners" in refused.stderr

    with registry.app.app_context(), connection():
        remove_members("publishers", ["bob"], actor="root")
    gone = publish_with(bob, "0.3.0")
    assert gone.returncode != 0 and "user `bob` is not an owner of crate `team-crate`" in gone.stderr
    assert owner(alice, "--remove", "group:publishers").returncode == 0
    assert [line.split()[0] for line in owner(alice, "--list").stdout.splitlines()] == ["alice"]
    assert [line["vers"] for line in registry.index_lines("team-crate")] == ["0.1.0", "0.2.0"]
