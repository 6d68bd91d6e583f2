"""Built-in permissions: anyone signed in may publish a new crate; owners manage their crates."""

from ..auth import PUBLISH_NEW
from ..hookspecs import hookimpl
from ..services.permissions import is_owner


@hookimpl(trylast=True)
def alexandrie_permission_allowed(identity, action, crate):
    if action == PUBLISH_NEW:
        return True
    if crate is not None and is_owner(identity.user, crate):
        return True
    return None
