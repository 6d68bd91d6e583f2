"""User accounts: creating and finding them, passwords, roles, disabling and enabling."""

import functools
import re
import secrets

import peewee
from werkzeug.security import check_password_hash, generate_password_hash

from ..errors import BadRequest, Conflict, NotFound
from ..events import (
    PasswordChangedEvent,
    PasswordResetEvent,
    RolesChangedEvent,
    UserCreatedEvent,
    UserDisabledEvent,
    UserEnabledEvent,
)
from ..models import User, login_key
from .changes import change

LOGIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
MIN_PASSWORD = 8
# Every browser session stores the version it signed in with; a newer one ends them all (web/sessions.py).
_END_SESSIONS = {"session_version": User.session_version + 1}


def create_user(login: str, *, email=None, name=None, password=None, is_admin=False, is_read_only=False,
                actor: str | None = None) -> User:
    """Create an account (audited as done by ``actor``: ``cli``, the new user when they register, ...)."""
    if not LOGIN.fullmatch(login):
        raise BadRequest("a login is 1-64 letters, digits, `_`, `-` or `.`, starting with a letter or digit")
    _check_password(password)
    try:
        with change() as current:
            taken = user_by_login(login)
            if taken is not None:
                raise _login_taken(login, taken.login)
            user = User.create(login=login, email=email, name=name or login, is_admin=is_admin,
                               is_read_only=is_read_only, password_hash=hash_password(password) if password else None)
            current.record(UserCreatedEvent(actor=actor, user=login, is_admin=is_admin, is_read_only=is_read_only))
    except peewee.IntegrityError:
        raise _login_taken(login, None) from None  # a concurrent creation won the unique index on login_key
    return user


def _login_taken(login: str, existing: str | None) -> Conflict:
    if existing == login:
        return Conflict(f"user `{login}` already exists")
    if existing is None:
        return Conflict(f"user `{login}` already exists, or one whose login differs only by case; choose another")
    return Conflict(f"the login `{login}` is taken: user `{existing}` already exists, and logins that differ only "
                    "by case are the same; choose another")


def user_by_login(login: str) -> User | None:
    """The account ``login`` names, whatever its case (``Alice`` finds ``alice``)."""
    return User.get_or_none(User.login_key == login_key(login))


def find_user(login: str) -> User:
    user = user_by_login(login)
    if user is None:
        raise NotFound(f"no user named `{login}`; create it with `alexandrie user create {login}`")
    return user


def hash_password(password: str) -> str:
    return generate_password_hash(password)


def password_matches(user: User, password: str) -> bool:
    """Constant-time check; users without a password never match."""
    return bool(user.password_hash) and check_password_hash(user.password_hash, password)


def check_sign_in(login: str, password: str) -> User | bool | None:
    """The active user ``login`` names when ``password`` is theirs; False for a known login that cannot sign
    in with it (wrong password, disabled, no password); None for an unknown login.

    Every answer costs one password hash of the current algorithm and cost, so how long it takes does not
    tell an attacker which logins exist."""
    user = user_by_login(login)
    usable = user is not None and user.is_active and bool(user.password_hash)
    matches = check_password_hash(user.password_hash if usable else _dummy_hash(), password)
    if user is None:
        return None
    return user if usable and matches else False


@functools.cache
def _dummy_hash() -> str:
    """A hash of a random password that nobody knows, made like every stored one (once per process)."""
    return hash_password(secrets.token_urlsafe(32))


def _check_password(password: str | None) -> None:
    if password is not None and len(password) < MIN_PASSWORD:
        raise BadRequest(f"the password must have at least {MIN_PASSWORD} characters")


def change_password(user: User, current_password: str, new_password: str) -> bool:
    """The user's own change; False (and nothing changed) when ``current_password`` is wrong."""
    if not password_matches(user, current_password):
        return False
    _check_password(new_password)
    with change() as current:
        User.update(password_hash=hash_password(new_password), **_END_SESSIONS).where(User.id == user.id).execute()
        current.record(PasswordChangedEvent(actor=user.login, user=user.login))
    return True


def reset_password(login: str, password: str, actor: str | None) -> None:
    """An administrator sets ``login``'s password."""
    _check_password(password)
    with change() as current:
        user = find_user(login)
        User.update(password_hash=hash_password(password), **_END_SESSIONS).where(User.id == user.id).execute()
        current.record(PasswordResetEvent(actor=actor, user=user.login))


def set_active(login: str, active: bool, actor: str | None) -> User:
    """Enable or disable an account; a disabled user cannot sign in and their tokens stop working."""
    with change() as current:
        user = find_user(login)
        User.update(is_active_account=active, **({} if active else _END_SESSIONS)).where(User.id == user.id).execute()
        event = UserEnabledEvent if active else UserDisabledEvent
        current.record(event(actor=actor, user=user.login))
    return user


def end_sessions(user: User) -> None:
    """Sign ``user`` out of every browser (API tokens stay valid): what signing out does."""
    with change():
        User.update(**_END_SESSIONS).where(User.id == user.id).execute()


def set_roles(login: str, actor: str | None, *, admin: bool | None = None, read_only: bool | None = None) -> User:
    with change() as current:
        user = find_user(login)
        changes = {}
        if admin is not None and admin != user.is_admin:
            changes["is_admin"] = admin
        if read_only is not None and read_only != user.is_read_only:
            changes["is_read_only"] = read_only
        if changes:
            if changes.get("is_admin") is False and _last_admin(user):
                raise Conflict(f"`{login}` is the last active admin; make another admin first")
            User.update(**changes).where(User.id == user.id).execute()
            current.record(RolesChangedEvent(actor=actor, user=user.login, **changes))
    return User.get_by_id(user.id)


def _last_admin(user: User) -> bool:
    others = User.select().where(User.is_admin & User.is_active_account & (User.id != user.id))
    return not others.exists()
