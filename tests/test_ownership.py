"""Owners count only if they can act: a crate never ends up owned only by disabled or read-only accounts.

Owners are added directly, without crates.io's invitations: on a team's registry every account belongs
to the organisation, and the audit log records who added whom."""

import pytest

from alexandrie.db import connection
from alexandrie.errors import BadRequest
from alexandrie.services.crates import find_crate, owners_of, transfer_ownership
from alexandrie.services.users import set_active, set_roles
from alexandrie.testing import create_user_with_token, publish


@pytest.fixture
def app(make_app):
    app = make_app(rate_limits={"enabled": False})
    tokens = {login: create_user_with_token(app, login) for login in ("alice", "bob", "carol")}
    assert publish(app.test_client(), tokens["alice"], "shared", "1.0.0").status_code == 200
    app.config["tokens"] = tokens
    return app


def _owners_call(app, method: str, logins: list[str], token_of: str = "alice"):
    return app.test_client().open("/api/v1/crates/shared/owners", method=method, json={"users": logins},
                                  headers={"Authorization": app.config["tokens"][token_of]})


def _owners(app) -> list[str]:
    with app.app_context(), connection():
        return [u.login for u in owners_of(find_crate("shared"))]


@pytest.mark.parametrize("state", ["disabled", "read-only"])
def test_an_account_that_cannot_publish_cannot_be_made_an_owner(app, state):
    with app.app_context(), connection():
        if state == "disabled":
            set_active("bob", False, "root")
        else:
            set_roles("bob", "root", read_only=True)
    response = _owners_call(app, "PUT", ["bob"])
    assert response.status_code == 400 and "`bob` cannot own crates" in response.get_json()["errors"][0]["detail"]
    assert _owners(app) == ["alice"]


def test_the_last_owner_who_can_act_cannot_leave_the_others_unable_to(app):
    assert _owners_call(app, "PUT", ["bob"]).status_code == 200
    with app.app_context(), connection():
        set_active("bob", False, "root")
    response = _owners_call(app, "DELETE", ["alice"])
    assert response.status_code == 400
    assert "at least one owner who can publish" in response.get_json()["errors"][0]["detail"]
    assert _owners(app) == ["alice", "bob"]
    assert _owners_call(app, "PUT", ["carol"]).status_code == 200
    assert _owners_call(app, "DELETE", ["alice"]).status_code == 200
    assert _owners(app) == ["bob", "carol"]


def test_an_administrator_cannot_transfer_a_crate_to_a_disabled_account(app):
    with app.app_context(), connection():
        set_active("bob", False, "root")
        with pytest.raises(BadRequest, match="`bob` cannot own crates"):
            transfer_ownership("shared", "bob", "root")
    assert _owners(app) == ["alice"]


def test_owners_are_named_whatever_the_case_of_their_login(app):
    assert _owners_call(app, "PUT", ["BOB", "bob"]).status_code == 200
    assert _owners(app) == ["alice", "bob"]
    assert _owners_call(app, "DELETE", ["Bob"]).status_code == 200
    assert _owners(app) == ["alice"]
    assert app.test_client().get("/users/ALICE").status_code == 200
