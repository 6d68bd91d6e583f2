"""Built-in permissions: anyone signed in may publish a new crate; owners manage their crates; the members
of a group that owns a crate publish and yank it, but cannot change its owners (crates.io's rule for teams)."""

from ..auth import PUBLISH_NEW, PUBLISH_UPDATE, YANK
from ..hookspecs import hookimpl
from ..services.permissions import is_owner, owning_groups_joined

GROUP_OWNER_ACTIONS = (PUBLISH_UPDATE, YANK)


@hookimpl(trylast=True)
def alexandrie_permission_allowed(identity, action, crate):
    if action == PUBLISH_NEW:
        return True
    if crate is None:
        return None
    if is_owner(identity.user, crate):
        return True
    if action in GROUP_OWNER_ACTIONS and owning_groups_joined(identity.user, crate):
        return True
    return None
