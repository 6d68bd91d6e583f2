"""Logins are unique whatever their case, on every database: `Alice` cannot join `alice`, and `Alice` finds her."""

import threading

import peewee
import pytest
from click.testing import CliRunner

from alexandrie.cli import CliContext, main
from alexandrie.db import connection
from alexandrie.errors import Conflict
from alexandrie.models import User
from alexandrie.services.users import create_user, find_user
from alexandrie.testing import csrf_token, sign_in


@pytest.fixture
def app(make_app):
    app = make_app(rate_limits={"enabled": False})
    with app.app_context(), connection():
        create_user("alice", password="password-alice")
    return app


def _logins(app) -> list[str]:
    with app.app_context(), connection():
        return sorted(u.login for u in User.select())


def test_the_register_form_refuses_a_login_that_differs_only_by_case(app):
    client = app.test_client()
    csrf = csrf_token(client.get("/account/register").text)
    response = client.post("/account/register", data={"login": "Alice", "password": "long-password",
                                                      "confirm": "long-password", "csrf_token": csrf})
    assert response.status_code == 400
    assert "the login `Alice` is taken: user `alice` already exists" in response.text
    assert _logins(app) == ["alice"]


def test_the_cli_refuses_a_login_that_differs_only_by_case(app):
    result = CliRunner().invoke(main, ["user", "create", "ALICE"], obj=CliContext(app=app))
    assert result.exit_code != 0 and "the login `ALICE` is taken: user `alice` already exists" in result.output
    assert _logins(app) == ["alice"]


def test_the_service_raises_a_conflict_naming_the_taken_login(app):
    with app.app_context(), connection():
        with pytest.raises(Conflict, match="the login `aLiCe` is taken"):
            create_user("aLiCe")
        with pytest.raises(Conflict, match="user `alice` already exists"):
            create_user("alice")


def test_the_database_itself_refuses_case_twins(app):
    """The unique index on login_key decides, whatever path writes the row."""
    with app.app_context(), connection() as db:
        with pytest.raises(peewee.IntegrityError), db.atomic():
            User.create(login="ALICE")
    assert _logins(app) == ["alice"]


def test_concurrent_registrations_of_case_twins_have_one_winner(app):
    barrier = threading.Barrier(4)
    outcomes = []

    def register(login):
        with app.app_context(), connection():
            barrier.wait(timeout=30)
            try:
                create_user(login)
                outcomes.append("created")
            except Conflict:
                outcomes.append("conflict")

    threads = [threading.Thread(target=register, args=(login,)) for login in ("Bob", "bob", "BOB", "bOb")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["conflict", "conflict", "conflict", "created"]
    assert len([login for login in _logins(app) if login.lower() == "bob"]) == 1


def test_sign_in_and_lookups_ignore_case_and_keep_the_spelling(make_app):
    app = make_app(rate_limits={"enabled": False})
    with app.app_context(), connection():
        create_user("Carol", password="password-carol")
        assert find_user("carol").login == "Carol"
    client = app.test_client()
    sign_in(client, "CAROL", "password-carol")
    assert ">Carol</a>" in client.get("/account/tokens").text  # the header names the signed-in user
    disabled = CliRunner().invoke(main, ["user", "disable", "carol"], obj=CliContext(app=app))
    assert disabled.exit_code == 0, disabled.output
    with app.app_context(), connection():
        assert not User.get(User.login == "Carol").is_active_account
