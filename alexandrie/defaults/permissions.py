"""Built-in permissions: anyone signed in may publish a new crate; owners manage their crates."""

from alexandrie import hookimpl
from alexandrie.models import CrateOwner


@hookimpl(trylast=True)
def alexandrie_permission_allowed(identity, action, crate):
    if action == "publish-new":
        return True
    if crate is not None and is_owner(identity.user, crate):
        return True
    return None


def is_owner(user, crate) -> bool:
    return CrateOwner.select().where((CrateOwner.crate == crate) & (CrateOwner.user == user)).exists()
