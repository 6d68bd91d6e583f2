"""Who may read what: the ``auth_required`` gate and per-crate read restriction.

The gate (``init_app``) is the one place that refuses anonymous requests on a private
registry. The filtering helpers make a restricted crate absent, not forbidden, for
everyone but its owners, its named readers (users or groups) and admins: the index,
the API, search and the pages all ask ``readable_condition`` or ``find_readable_crate``.
"""

import peewee
from flask import current_app, g, has_request_context, make_response, redirect, request, url_for
from peewee import fn

from .auth import Identity, current_identity
from .db import write_transaction
from .errors import AlexandrieError, Forbidden, NotFound
from .index_files import refresh_crate
from .models import (ApiToken, Crate, CrateOwner, CrateReader, CrateRestriction, User, UserGroup,
                     UserGroupMember)
from .naming import canonical_name

MACHINE_PREFIXES = ("/api/", "/index/", "/git/")
# Reachable without signing in even on a private registry: health checks, the cargo login
# help page, and what a browser needs to sign in.
OPEN_ENDPOINTS = {"pages.health", "pages.me", "static", "account.login", "account.logout"}
# Endpoints a token without the ``read`` scope may still call: cargo fetches config.json before
# anything else, and the write calls are checked per action by the permission hooks.
READ_EXEMPT_ENDPOINTS = {"index.config"}
# Git sends HTTP Basic credentials, not cargo's header; the git index blueprint checks them itself.
SELF_CHECKING_BLUEPRINTS = ("index_git.",)


def auth_required() -> bool:
    return bool(current_app.extensions["alexandrie"].config["general"].get("auth_required"))


def login_required() -> bool:
    """Whether the browser UI needs a signed-in user: ``[frontend] login_required`` or a private registry."""
    config = current_app.extensions["alexandrie"].config
    return auth_required() or bool(config.get("frontend", {}).get("login_required"))


def init_app(app) -> None:
    """Install the gate; call after the database's own ``before_request``."""
    app.before_request(_gate)
    app.jinja_env.globals["config_auth_required"] = auth_required


def _gate():
    endpoint = request.endpoint or ""
    if (not auth_required() or endpoint in OPEN_ENDPOINTS or endpoint.endswith(".static")
            or endpoint.startswith(SELF_CHECKING_BLUEPRINTS)):
        return None
    if request.path.startswith(MACHINE_PREFIXES):
        return _gate_machine_request()
    if signed_in_user() is None and _identity_or_none() is None:
        if "account.login" in current_app.view_functions:
            return redirect(url_for("account.login", next=request.full_path.rstrip("?")))
        return unauthorized("sign in to use this registry")
    return None


def _gate_machine_request():
    try:
        identity = current_identity()
    except AlexandrieError as exc:
        return unauthorized(exc.detail)
    if identity is None:
        if request.method in ("GET", "HEAD") and signed_in_user() is not None:
            return None
        return unauthorized("this registry is private: every request needs an API token. Get one at "
                            f"{_public_url()}/me, run `cargo login --registry NAME`, and set "
                            '`credential-provider = "cargo:token"` for the registry in .cargo/config.toml')
    if request.method in ("GET", "HEAD") and request.endpoint not in READ_EXEMPT_ENDPOINTS:
        require_scope(identity, "read")
    return None


def unauthorized(detail: str):
    """A 401 that cargo understands: the ``errors`` body plus a ``WWW-Authenticate`` challenge."""
    from .app import error_response

    response = make_response(error_response(401, detail))
    response.headers["WWW-Authenticate"] = f'Cargo login_url="{_public_url()}/me"'
    if request.path.startswith("/git/"):
        response.headers.add("WWW-Authenticate", 'Basic realm="alexandrie", charset="UTF-8"')
    return response


def _public_url() -> str:
    return current_app.extensions["alexandrie"].config["general"]["public_url"]


# --- Tokens ----------------------------------------------------------------------------------


def token_allows(token: ApiToken | None, scope: str) -> bool:
    """A session (no token) or an unrestricted token allows everything."""
    return token is None or token.scopes is None or scope in token.scopes


def require_scope(identity: Identity, scope: str) -> None:
    if not token_allows(identity.token, scope):
        raise Forbidden(f"this API token (`{identity.token.label}`) lacks the `{scope}` scope; it has "
                        f"{', '.join(f'`{s}`' for s in identity.token.scopes)}. Create a token with "
                        f"`--scope {scope}` and run `cargo login --registry NAME`")


# --- Who is reading --------------------------------------------------------------------------


def signed_in_user() -> User | None:
    if getattr(current_app, "login_manager", None) is None:
        return None
    from flask_login import current_user

    if current_user.is_authenticated and current_user.is_active:
        return current_user._get_current_object()
    return None


def _identity_or_none() -> Identity | None:
    try:
        return current_identity()
    except AlexandrieError:
        return None


def current_reader() -> User | None:
    """The user whose read access applies: the API token's (when it has ``read``) or the signed-in user."""
    if not has_request_context():
        return None
    if "alexandrie_reader" not in g:
        identity = current_identity()
        if identity is not None:
            g.alexandrie_reader = identity.user if token_allows(identity.token, "read") else None
        else:
            g.alexandrie_reader = signed_in_user()
    return g.alexandrie_reader


# --- Per-crate read restriction -----------------------------------------------------------------


def readable_condition(user: User | None):
    """A condition on ``Crate`` rows: the crates ``user`` (None: anonymous) may see."""
    if user is not None and user.is_admin:
        return peewee.Value(1) == 1
    unrestricted = CrateRestriction.absent()
    if user is None:
        return unrestricted
    owner = fn.EXISTS(CrateOwner.select().where((CrateOwner.crate == Crate.id) & (CrateOwner.user == user.id)))
    groups = UserGroupMember.select(UserGroupMember.group).where(UserGroupMember.user == user.id)
    reader = fn.EXISTS(CrateReader.select().where(
        (CrateReader.crate == Crate.id) & ((CrateReader.user == user.id) | CrateReader.group.in_(groups))))
    return unrestricted | owner | reader


def visible_crates(user: User | None = None):
    """``Crate.select()`` limited to what the current reader (or ``user``) may see."""
    return Crate.select().where(readable_condition(user if user is not None else current_reader()))


def can_read(crate: Crate, user: User | None) -> bool:
    return Crate.select().where((Crate.id == crate.id) & readable_condition(user)).exists()


def find_readable_crate(name: str) -> Crate:
    """The crate, or the same 404 as for a crate that does not exist."""
    crate = Crate.get_or_none(Crate.canonical_name == canonical_name(name))
    if crate is None or not can_read(crate, current_reader()):
        raise NotFound(f"crate `{name}` does not exist on this registry")
    return crate


def require_visible(identity: Identity, name: str) -> None:
    """For write calls: a restricted crate ``identity`` may not read is reported as absent."""
    crate = Crate.get_or_none(Crate.canonical_name == canonical_name(name))
    if crate is not None and not can_read(crate, identity.user):
        raise NotFound(f"crate `{name}` does not exist on this registry")


def is_restricted(crate: Crate) -> bool:
    return CrateRestriction.select().where(CrateRestriction.crate == crate).exists()


def set_restricted(crate: Crate, restricted: bool) -> None:
    """Restrict reading, or open it again; the index backend (one copy for all readers) follows."""
    with write_transaction():
        if restricted and not is_restricted(crate):
            CrateRestriction.create(crate=crate)
        elif not restricted:
            CrateRestriction.delete().where(CrateRestriction.crate == crate).execute()
        refresh_crate(crate, f"{'Restrict' if restricted else 'Open'} reading of {crate.name}")


def add_reader(crate: Crate, *, user: User | None = None, group: UserGroup | None = None) -> bool:
    """Allow a user or a group to read a restricted crate; False when it already could."""
    existing = CrateReader.select().where(
        (CrateReader.crate == crate)
        & (CrateReader.user == user if user is not None else CrateReader.user.is_null())
        & (CrateReader.group == group if group is not None else CrateReader.group.is_null()))
    if existing.exists():
        return False
    CrateReader.create(crate=crate, user=user, group=group)
    return True


def remove_reader(crate: Crate, *, user: User | None = None, group: UserGroup | None = None) -> int:
    query = CrateReader.delete().where(CrateReader.crate == crate)
    query = query.where(CrateReader.user == user) if user is not None else query.where(CrateReader.group == group)
    return query.execute()


def readers_of(crate: Crate) -> list[str]:
    """Named readers as ``login`` or ``@group``."""
    rows = CrateReader.select(CrateReader, User, UserGroup).join(User, peewee.JOIN.LEFT_OUTER).switch(CrateReader) \
        .join(UserGroup, peewee.JOIN.LEFT_OUTER).where(CrateReader.crate == crate).order_by(CrateReader.id)
    return [row.user.login if row.user_id else f"@{row.group.name}" for row in rows]
