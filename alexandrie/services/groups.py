"""User groups, used to give several people read access to restricted crates at once, and to own crates
as a team (services/permissions.py: members publish and yank; a member who leaves can no longer)."""

from ..errors import NotFound
from ..events import GroupMembersChangedEvent
from ..models import Crate, CrateGroupOwner, UserGroup, UserGroupMember
from .changes import change
from .users import find_user


def find_group(name: str) -> UserGroup:
    group = UserGroup.get_or_none(UserGroup.name == name)
    if group is None:
        raise NotFound(f"no group named `{name}`; create it with `alexandrie group add {name} LOGIN...`")
    return group


def add_members(name: str, logins, actor: str | None = None) -> UserGroup:
    """Add users to the group (created when missing); an unknown login changes nothing."""
    with change() as current:
        users = [find_user(login) for login in logins]
        group = UserGroup.get_or_none(UserGroup.name == name) or UserGroup.create(name=name)
        for user in users:
            if not UserGroupMember.select().where((UserGroupMember.group == group)
                                                  & (UserGroupMember.user == user)).exists():
                UserGroupMember.create(group=group, user=user)
        current.record(GroupMembersChangedEvent(actor=actor, group=name, added=tuple(logins),
                                                owned_crates=crates_owned_by(group)))
    return group


def remove_members(name: str, logins, actor: str | None = None) -> None:
    with change() as current:
        group = find_group(name)
        users = [find_user(login) for login in logins]
        UserGroupMember.delete().where((UserGroupMember.group == group) & UserGroupMember.user.in_(users)).execute()
        current.record(GroupMembersChangedEvent(actor=actor, group=name, removed=tuple(logins),
                                                owned_crates=crates_owned_by(group)))


def crates_owned_by(group: UserGroup) -> tuple[str, ...]:
    """The crates ``group`` owns: who may publish them changes with its members."""
    rows = (Crate.select(Crate.name).join(CrateGroupOwner).where(CrateGroupOwner.group == group)
            .order_by(Crate.name))
    return tuple(row.name for row in rows)
