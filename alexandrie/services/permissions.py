"""Asking the permission plugins whether an identity may do an action to a crate."""

from ..auth import PUBLISH_NEW, Identity
from ..errors import Forbidden
from ..models import Crate, CrateOwner, User
from ..registry import registry


def require_permission(identity: Identity, action: str, crate: Crate | None) -> None:
    """Ask ``alexandrie_permission_allowed``; any False, or no True at all, refuses with 403."""
    answers = registry().pm.hook.alexandrie_permission_allowed(identity=identity, action=action, crate=crate)
    if False in answers or True not in answers:
        raise Forbidden(_refusal(identity, action, crate))


def _refusal(identity: Identity, action: str, crate: Crate | None) -> str:
    if crate is None or action == PUBLISH_NEW:
        return f"user `{identity.login}` may not publish new crates on this registry"
    return (f"user `{identity.login}` is not an owner of crate `{crate.name}`; "
            f"ask an owner to run `cargo owner --add {identity.login} {crate.name}`")


def is_owner(user: User, crate: Crate) -> bool:
    return CrateOwner.select().where((CrateOwner.crate == crate) & (CrateOwner.user == user)).exists()
