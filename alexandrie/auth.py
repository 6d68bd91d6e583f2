"""Identities, API tokens and password hashes."""

import hashlib
import secrets
from dataclasses import dataclass

from flask import current_app, g, request
from werkzeug.security import check_password_hash, generate_password_hash

from .errors import BadRequest, Forbidden
from .models import ApiToken, User, utcnow

TOKEN_PREFIX = "alx_"


@dataclass(frozen=True)
class Identity:
    """Who is making a request: a user, and the API token used, if any."""

    user: User
    token: ApiToken | None = None

    @property
    def login(self) -> str:
        return self.user.login


def new_token() -> str:
    """A fresh API token: printable ASCII, as cargo requires."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


TOKEN_SCOPES = ("read", "publish-new", "publish-update", "yank", "change-owners")


def create_token(user: User, label: str, *, scopes=None, crate_patterns=None, expires_at=None,
                 actor: str | None = None) -> tuple[ApiToken, str]:
    """Store a new token for ``user``; the plaintext is returned once and never stored.

    ``scopes``, ``crate_patterns`` and ``expires_at`` left as None make an unrestricted token.
    """
    from .audit import record

    unknown = sorted(set(scopes or ()) - set(TOKEN_SCOPES))
    if unknown:
        raise BadRequest(f"unknown token scope {', '.join(unknown)}; use {', '.join(TOKEN_SCOPES)}")
    plaintext = new_token()
    row = ApiToken.create(user=user, label=label, token_hash=hash_token(plaintext),
                          scopes=list(scopes) if scopes else None,
                          crate_patterns=list(crate_patterns) if crate_patterns else None, expires_at=expires_at)
    record("token-create", actor=actor or user.login, details={
        "token": row.id, "owner": user.login, "label": label, "scopes": row.scopes,
        "crates": row.crate_patterns, "expires_at": _iso(expires_at)})
    return row, plaintext


def revoke_token(row: ApiToken, actor: str | None = None) -> bool:
    """Revoke a token; False when it already was."""
    from .audit import record

    if row.revoked_at is not None:
        return False
    ApiToken.update(revoked_at=utcnow()).where(ApiToken.id == row.id).execute()
    record("token-revoke", actor=actor or row.user.login,
           details={"token": row.id, "owner": row.user.login, "label": row.label})
    return True


def _iso(moment) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def hash_password(password: str) -> str:
    return generate_password_hash(password)


def password_matches(user: User, password: str) -> bool:
    """Constant-time check; users without a password never match."""
    return bool(user.password_hash) and check_password_hash(user.password_hash, password)


def current_identity() -> Identity | None:
    """The identity behind this request (asked of the auth plugins once per request)."""
    if "alexandrie_identity" not in g:
        pm = current_app.extensions["alexandrie"].pm
        g.alexandrie_identity = pm.hook.alexandrie_authenticate_request(request=request)
    return g.alexandrie_identity


def require_identity() -> Identity:
    """The request's identity, or a 403 that tells cargo users how to get a token."""
    identity = current_identity()
    if identity is None:
        public_url = current_app.extensions["alexandrie"].config["general"]["public_url"]
        raise Forbidden(
            f"this action needs an API token; get one at {public_url}/me, then run "
            "`cargo login --registry NAME`")
    return identity


def require_permission(identity: Identity, action: str, crate) -> None:
    """Ask the permission hooks; any False or no True at all refuses with 403."""
    pm = current_app.extensions["alexandrie"].pm
    answers = pm.hook.alexandrie_permission_allowed(identity=identity, action=action, crate=crate)
    if False in answers or True not in answers:
        raise Forbidden(_refusal(identity, action, crate))


def _refusal(identity: Identity, action: str, crate) -> str:
    if crate is None:
        return f"user `{identity.login}` may not publish new crates on this registry"
    return (f"user `{identity.login}` is not an owner of crate `{crate.name}`; "
            f"ask an owner to run `cargo owner --add {identity.login} {crate.name}`")


def token_identity(raw_header: str | None) -> Identity | None:
    """Resolve an ``Authorization`` header holding an API token (raw, after ``Bearer``, or as a Basic password)."""
    if not raw_header:
        return None
    is_basic = raw_header[:6].lower() == "basic "
    token = _basic_password(raw_header) if is_basic else raw_header.removeprefix("Bearer ").strip()
    row = (ApiToken.select(ApiToken, User).join(User)
           .where(ApiToken.token_hash == hash_token(token)).first())
    if row is None or row.revoked_at is not None or not row.user.is_active:
        raise Forbidden("the API token is invalid or has been revoked; create a new one and "
                           "run `cargo login --registry NAME`")
    if row.expires_at is not None and row.expires_at <= utcnow():
        raise Forbidden(f"the API token `{row.label}` expired at {_iso(row.expires_at)}; create a new one "
                        "and run `cargo login --registry NAME`")
    _touch(row)
    return Identity(user=row.user, token=row)


def _basic_password(raw_header: str) -> str:
    """git sends the token as the password of HTTP Basic auth (any user name) on ``/git/``."""
    import base64
    import binascii

    try:
        return base64.b64decode(raw_header[6:].strip(), validate=True).decode("utf-8").partition(":")[2]
    except (binascii.Error, UnicodeDecodeError):
        return ""


def _touch(token: ApiToken) -> None:
    """Record use at most once a minute, to keep writes off the read path."""
    now = utcnow()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.update(last_used_at=now).where(ApiToken.id == token.id).execute()
        token.last_used_at = now
