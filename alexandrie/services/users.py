"""User accounts: creating and finding them, passwords, roles, disabling and enabling."""

import re

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
from ..models import User
from .changes import change

LOGIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
MIN_PASSWORD = 8


def create_user(login: str, *, email=None, name=None, password=None, is_admin=False, actor: str | None = None) -> User:
    """Create an account (audited as done by ``actor``: ``cli``, the new user when they register, ...)."""
    if not LOGIN.fullmatch(login):
        raise BadRequest("a login is 1-64 letters, digits, `_`, `-` or `.`, starting with a letter or digit")
    _check_password(password)
    with change() as current:
        if User.select().where(User.login == login).exists():
            raise Conflict(f"user `{login}` already exists")
        user = User.create(login=login, email=email, name=name or login, is_admin=is_admin,
                           password_hash=hash_password(password) if password else None)
        current.record(UserCreatedEvent(actor=actor, user=login, is_admin=is_admin))
    return user


def find_user(login: str) -> User:
    user = User.get_or_none(User.login == login)
    if user is None:
        raise NotFound(f"no user named `{login}`; create it with `alexandrie user create {login}`")
    return user


def hash_password(password: str) -> str:
    return generate_password_hash(password)


def password_matches(user: User, password: str) -> bool:
    """Constant-time check; users without a password never match."""
    return bool(user.password_hash) and check_password_hash(user.password_hash, password)


def _check_password(password: str | None) -> None:
    if password is not None and len(password) < MIN_PASSWORD:
        raise BadRequest(f"the password must have at least {MIN_PASSWORD} characters")


def change_password(user: User, current_password: str, new_password: str) -> bool:
    """The user's own change; False (and nothing changed) when ``current_password`` is wrong."""
    if not password_matches(user, current_password):
        return False
    _check_password(new_password)
    with change() as current:
        User.update(password_hash=hash_password(new_password)).where(User.id == user.id).execute()
        current.record(PasswordChangedEvent(actor=user.login, user=user.login))
    return True


def reset_password(login: str, password: str, actor: str | None) -> None:
    """An administrator sets ``login``'s password."""
    _check_password(password)
    with change() as current:
        user = find_user(login)
        User.update(password_hash=hash_password(password)).where(User.id == user.id).execute()
        current.record(PasswordResetEvent(actor=actor, user=login))


def set_active(login: str, active: bool, actor: str | None) -> User:
    """Enable or disable an account; a disabled user cannot sign in and their tokens stop working."""
    with change() as current:
        user = find_user(login)
        User.update(is_active_account=active).where(User.id == user.id).execute()
        event = UserEnabledEvent if active else UserDisabledEvent
        current.record(event(actor=actor, user=login))
    return user


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
            current.record(RolesChangedEvent(actor=actor, user=login, **changes))
    return User.get_by_id(user.id)


def _last_admin(user: User) -> bool:
    others = User.select().where(User.is_admin & User.is_active_account & (User.id != user.id))
    return not others.exists()
