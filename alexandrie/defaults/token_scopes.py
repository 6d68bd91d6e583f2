"""Built-in (essential): a token does only what its scopes allow, to the crates its patterns name.

Each refusal raises ``Forbidden`` naming what is missing, so cargo shows the reason.
"""

from ..hookspecs import hookimpl
from ..services.tokens import require_crate_pattern, require_scope


@hookimpl(tryfirst=True)
def alexandrie_permission_allowed(identity, action, crate):
    require_scope(identity, action)
    if crate is not None:
        require_crate_pattern(identity, crate.name)
    return None


@hookimpl(tryfirst=True)
def alexandrie_validate_publish(new_version, identity):
    # A new crate reaches the permission hook without a name, so the patterns are checked here.
    require_crate_pattern(identity, new_version.name)
    return None
