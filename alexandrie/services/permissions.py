"""Asking the permission plugins whether an identity may do an action to a crate."""

from ..auth import CHANGE_OWNERS, PUBLISH_NEW, Identity
from ..errors import Forbidden
from ..models import Crate, CrateGroupOwner, CrateOwner, User, UserGroup, UserGroupMember
from ..registry import registry


def require_permission(identity: Identity, action: str, crate: Crate | None) -> None:
    """Ask ``alexandrie_permission_allowed``; any False, or no True at all, refuses with 403."""
    answers = registry().pm.hook.alexandrie_permission_allowed(identity=identity, action=action, crate=crate)
    if False in answers or True not in answers:
        raise Forbidden(_refusal(identity, action, crate))


def _refusal(identity: Identity, action: str, crate: Crate | None) -> str:
    if crate is None or action == PUBLISH_NEW:
        return f"user `{identity.login}` may not publish new crates on this registry"
    groups = owning_groups_joined(identity.user, crate) if action == CHANGE_OWNERS else []
    if groups:
        return (f"user `{identity.login}` publishes and yanks crate `{crate.name}` as a member of group "
                f"`{groups[0]}`, but only its user owners may change its owners (as with teams on crates.io); "
                f"ask one of them (`cargo owner --list {crate.name}`)")
    return (f"user `{identity.login}` is not an owner of crate `{crate.name}`; "
            f"ask an owner to run `cargo owner --add {identity.login} {crate.name}`")


def is_owner(user: User, crate: Crate) -> bool:
    """Whether ``user`` is one of the crate's user owners (a group's members are not: see ``owning_groups_joined``)."""
    return CrateOwner.select().where((CrateOwner.crate == crate) & (CrateOwner.user == user)).exists()


def owning_groups_joined(user: User, crate: Crate) -> list[str]:
    """The groups owning ``crate`` that ``user`` is a member of now: membership is read at each request, so
    whoever joins or leaves a group gains or loses its crates at once."""
    rows = (UserGroup.select(UserGroup.name).join(CrateGroupOwner).switch(UserGroup).join(UserGroupMember)
            .where((CrateGroupOwner.crate == crate) & (UserGroupMember.user == user)).order_by(UserGroup.name))
    return [row.name for row in rows]
