"""User groups, used to give several people read access to restricted crates at once."""

from .accounts import find_user
from .audit import record
from .errors import NotFound
from .models import UserGroup, UserGroupMember


def find_group(name: str) -> UserGroup:
    group = UserGroup.get_or_none(UserGroup.name == name)
    if group is None:
        raise NotFound(f"no group named `{name}`; create it with `alexandrie group add {name} LOGIN...`")
    return group


def add_members(name: str, logins, actor: str | None = "cli") -> UserGroup:
    group = UserGroup.get_or_none(UserGroup.name == name) or UserGroup.create(name=name)
    for login in logins:
        user = find_user(login)
        if not UserGroupMember.select().where((UserGroupMember.group == group) & (UserGroupMember.user == user)).exists():
            UserGroupMember.create(group=group, user=user)
    record("role-change", actor=actor, details={"group": name, "added": list(logins)})
    return group


def remove_members(name: str, logins, actor: str | None = "cli") -> None:
    group = find_group(name)
    users = [find_user(login) for login in logins]
    UserGroupMember.delete().where((UserGroupMember.group == group) & UserGroupMember.user.in_(users)).execute()
    record("role-change", actor=actor, details={"group": name, "removed": list(logins)})
