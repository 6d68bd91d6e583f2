"""API tokens: creating and revoking them (only a hash is stored), and finding who a token belongs to."""

import base64
import binascii
import hashlib
import secrets

from ..auth import Identity
from ..errors import Forbidden
from ..events import TokenCreatedEvent, TokenRevokedEvent
from ..models import ApiToken, User, utcnow
from ..registry import registry
from ..rules.tokens import check_scopes, iso_moment, pattern_matches, token_allows
from .changes import change

TOKEN_PREFIX = "alx_"


def new_token() -> str:
    """A fresh API token: printable ASCII, as cargo requires."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(user: User, label: str, *, scopes=None, crate_patterns=None, expires_at=None,
                 actor: str | None = None) -> tuple[ApiToken, str]:
    """Store a new token for ``user``; the plaintext is returned once and never stored.

    ``scopes``, ``crate_patterns`` and ``expires_at`` left as None make an unrestricted token.
    """
    scopes = check_scopes(scopes)
    plaintext = new_token()
    with change() as current:
        row = ApiToken.create(user=user, label=label, token_hash=hash_token(plaintext), scopes=scopes,
                              crate_patterns=list(crate_patterns) if crate_patterns else None, expires_at=expires_at)
        current.record(TokenCreatedEvent(
            actor=actor or user.login, token=row.id, owner=user.login, label=label,
            scopes=tuple(scopes) if scopes else None, crates=tuple(row.crate_patterns) if row.crate_patterns else None,
            expires_at=iso_moment(expires_at)))
    return row, plaintext


def revoke_token(row: ApiToken, actor: str | None = None) -> bool:
    """Revoke a token; False when it already was."""
    with change() as current:
        if not ApiToken.update(revoked_at=utcnow()).where((ApiToken.id == row.id)
                                                           & ApiToken.revoked_at.is_null()).execute():
            return False
        current.record(TokenRevokedEvent(actor=actor or row.user.login, token=row.id, owner=row.user.login,
                                         label=row.label))
    return True


def tokens_of(user: User) -> list[ApiToken]:
    """Active tokens first, newest first."""
    return list(ApiToken.select().where(ApiToken.user == user.id)
                .order_by(ApiToken.revoked_at.is_null(False), ApiToken.created_at.desc(), ApiToken.id.desc()))


def cargo_login_command() -> str:
    """What a cargo user runs to store a new token for this registry, under its configured name."""
    return f"`cargo login --registry {registry().settings.general.registry_name}`"


def token_identity(raw_header: str | None) -> Identity | None:
    """Resolve an ``Authorization`` header holding an API token (raw, after ``Bearer``, or as a Basic password)."""
    if not raw_header:
        return None
    is_basic = raw_header[:6].lower() == "basic "
    token = _basic_password(raw_header) if is_basic else raw_header.removeprefix("Bearer ").strip()
    row = ApiToken.select(ApiToken, User).join(User).where(ApiToken.token_hash == hash_token(token)).first()
    # Looked up by its SHA-256, never by the token itself: how long the lookup takes says nothing of the token.
    if row is None or row.revoked_at is not None:
        raise Forbidden("the API token is invalid or has been revoked; create a new one at "
                        f"{registry().public_url}/me and run {cargo_login_command()}")
    if not row.user.is_active:
        # A new token would not help: the account itself is switched off.
        login = row.user.login
        raise Forbidden(f"the account `{login}` this API token belongs to is disabled; ask an administrator of "
                        f"this registry to enable it again (`alexandrie user enable {login}`)")
    if row.expires_at is not None and row.expires_at <= utcnow():
        raise Forbidden(f"the API token `{row.label}` expired at {iso_moment(row.expires_at)}; create a new one at "
                        f"{registry().public_url}/me and run {cargo_login_command()}")
    _touch(row)
    return Identity(user=row.user, token=row)


def _basic_password(raw_header: str) -> str:
    """git sends the token as the password of HTTP Basic auth (any user name)."""
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


def require_scope(identity: Identity, scope: str) -> None:
    """Refuse with a 403 that says which scope is missing and how to get a token that has it."""
    if not token_allows(identity.token, scope):
        raise Forbidden(f"this API token (`{identity.token.label}`) lacks the `{scope}` scope; it has "
                        f"{', '.join(f'`{s}`' for s in identity.token.scopes)}. Create a token with "
                        f"`--scope {scope}` and run {cargo_login_command()}")


def describe_token(row: ApiToken) -> str:
    """One line for ``alexandrie token list``: id, label, state, scopes, crates, expiry, last use."""
    def when(moment):
        return iso_moment(moment) or "never"

    state = "revoked" if row.revoked_at else ("expired" if row.expires_at and row.expires_at <= utcnow() else "active")
    return (f"{row.id}\t{row.label}\t{state}\tscopes={','.join(row.scopes) if row.scopes else 'all'}\t"
            f"crates={','.join(row.crate_patterns) if row.crate_patterns else 'all'}\t"
            f"expires={when(row.expires_at)}\tlast_used={when(row.last_used_at)}")


def require_crate_pattern(identity: Identity, name: str) -> None:
    """Refuse a token limited to crate patterns that do not cover ``name``."""
    token = identity.token
    if token is None or token.crate_patterns is None:
        return
    if not any(pattern_matches(p, name) for p in token.crate_patterns):
        raise Forbidden(f"this API token (`{token.label}`) is limited to crates matching "
                        f"{', '.join(f'`{p}`' for p in token.crate_patterns)}, and `{name}` is not one of them; "
                        "use a token that covers this crate")
