"""Who is asking, for the request in progress: the API identity (asked of the auth plugins once per
request), the signed-in browser user, and the reader whose read access applies."""

from flask import current_app, g, has_request_context, request
from flask_login import current_user

from ..auth import READ, Identity, Origin
from ..errors import AlexandrieError, Forbidden
from ..models import User
from ..registry import registry
from ..rules.tokens import token_allows
from ..services.tokens import cargo_login_command


def current_identity() -> Identity | None:
    """The identity behind this request, or None when anonymous; raises ``Forbidden`` for a bad credential."""
    if "alexandrie_identity" not in g:
        g.alexandrie_identity = registry().pm.hook.alexandrie_authenticate_request(request=request)
    return g.alexandrie_identity


def identity_or_none() -> Identity | None:
    try:
        return current_identity()
    except AlexandrieError:
        return None


def require_identity() -> Identity:
    """The request's identity, or a 403 that tells cargo users how to get a token."""
    identity = current_identity()
    if identity is None:
        raise Forbidden(f"this action needs an API token; get one at {registry().public_url}/me, then run "
                        f"{cargo_login_command()}")
    return identity


def signed_in_user() -> User | None:
    """The browser's signed-in, active user (None without the UI or a session)."""
    if getattr(current_app, "login_manager", None) is None:
        return None
    if current_user.is_authenticated and current_user.is_active:
        return current_user._get_current_object()
    return None


def current_reader() -> User | None:
    """The user whose read access applies: the API token's (when it has ``read``) or the signed-in user."""
    if not has_request_context():
        return None
    if "alexandrie_reader" not in g:
        identity = current_identity()
        if identity is not None:
            g.alexandrie_reader = identity.user if token_allows(identity.token, READ) else None
        else:
            g.alexandrie_reader = signed_in_user()
    return g.alexandrie_reader


def request_origin() -> Origin | None:
    """For the audit log: the token this request used (once known) and the client's address."""
    if not has_request_context():
        return None
    identity = g.get("alexandrie_identity")
    token = identity.token.id if identity is not None and identity.token is not None else None
    return Origin(token_id=token, address=request.remote_addr)
