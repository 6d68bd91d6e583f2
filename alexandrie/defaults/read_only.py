"""Built-in (essential): read-only users may read and download, and change nothing."""

from ..auth import PUBLISH_NEW, PUBLISH_UPDATE, WRITE_ACTIONS, YANK
from ..errors import Forbidden
from ..hookspecs import hookimpl

WHAT = {PUBLISH_NEW: "publish crates", PUBLISH_UPDATE: "publish crates", YANK: "yank versions"}


@hookimpl(tryfirst=True)
def alexandrie_permission_allowed(identity, action, crate):
    if identity.user.is_read_only and action in WRITE_ACTIONS:
        raise Forbidden(f"user `{identity.login}` is read-only on this registry: they may read and download "
                        f"crates but not {WHAT.get(action, 'change crate owners')}; ask an administrator for "
                        "write access")
    return None
