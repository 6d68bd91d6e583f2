"""Creating and finding user accounts."""

import re

from .auth import hash_password
from .errors import BadRequest, Conflict, NotFound
from .models import User

LOGIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
MIN_PASSWORD = 8


def create_user(login: str, *, email=None, name=None, password=None, is_admin=False) -> User:
    if not LOGIN.fullmatch(login):
        raise BadRequest("a login is 1-64 letters, digits, `_`, `-` or `.`, starting with a letter or digit")
    if password is not None and len(password) < MIN_PASSWORD:
        raise BadRequest(f"the password must have at least {MIN_PASSWORD} characters")
    if User.select().where(User.login == login).exists():
        raise Conflict(f"user `{login}` already exists")
    return User.create(login=login, email=email, name=name or login, is_admin=is_admin,
                       password_hash=hash_password(password) if password else None)


def find_user(login: str) -> User:
    user = User.get_or_none(User.login == login)
    if user is None:
        raise NotFound(f"no user named `{login}`; create it with `alexandrie user create {login}`")
    return user
