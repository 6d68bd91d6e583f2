"""Trust the user named by a reverse proxy (SSO in front of the registry) in a header such as ``X-Remote-User``.

Only requests whose direct peer is one of ``trusted_proxies`` are believed; the proxy must
strip the header from what clients send. Configure in ``alexandrie.toml``::

    [plugins.auth-proxy-header]
    header = "X-Remote-User"             # default
    trusted_proxies = ["127.0.0.1"]      # required: nothing is trusted without it
    create_users = false                 # true: first sight of a login creates the account
"""

import ipaddress
import logging

from alexandrie import Forbidden, Identity, create_user, get_plugin_config, hookimpl, models

NAME = "auth-proxy-header"
log = logging.getLogger(__name__)


def settings() -> dict:
    config = get_plugin_config(NAME)
    return {"header": config.get("header", "X-Remote-User"), "trusted_proxies": config.get("trusted_proxies", []),
            "create_users": bool(config.get("create_users", False))}


def from_trusted_proxy(address: str | None, trusted: list[str]) -> bool:
    """Whether ``address`` is one of the trusted proxies (addresses or networks such as ``10.0.0.0/8``)."""
    if not address:
        return False
    try:
        peer = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(peer in ipaddress.ip_network(entry, strict=False) for entry in trusted)


@hookimpl(tryfirst=True)
def alexandrie_authenticate_request(request):
    config = settings()
    login = request.headers.get(config["header"], "").strip()
    if not login:
        return None
    if not from_trusted_proxy(request.remote_addr, config["trusted_proxies"]):
        log.warning("ignored %s from untrusted address %s", config["header"], request.remote_addr)
        return None
    user = models.User.get_or_none(models.User.login == login)
    if user is None and config["create_users"]:
        user = create_user(login, actor=NAME)
    if user is None or not user.is_active:
        raise Forbidden(f"the proxy says you are `{login}`, but this registry has no active account by that name; "
                        "ask an administrator")
    return Identity(user=user)
