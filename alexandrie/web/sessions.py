"""Browser sessions (flask-login), CSRF protection (flask-wtf) and the UI's sign-in gate.

Every check of "must this browser be signed in" lives here (``ui_gate``) and in ``gate``; UI
blueprints (the built-in ones and the admin pages) call ``protect_blueprint`` to get it.
"""

import unicodedata
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from flask import Blueprint, Flask, current_app, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_login import LoginManager, current_user, user_logged_in
from flask_wtf.csrf import CSRFProtect

from ..models import User
from ..registry import registry
from .errors import machine_path
from .gate import login_required

UNSAFE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
SESSION_VERSION_KEY = "_session_version"  # the user's session_version when this session signed in
# Pages reachable without signing in when ``[frontend] login_required`` is on.
PUBLIC_UI_ENDPOINTS = {"account.login", "account.register", "frontend.static"}
CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src * data:; style-src 'self'; script-src 'self'; "
                           "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")


@dataclass
class FrontendState:
    """Per-app UI state, kept in ``app.extensions["alexandrie_frontend"]``."""

    login_manager: LoginManager
    csrf: CSRFProtect
    allow_registration: bool


class LazySessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, minus building the signer for requests without a session cookie
    (cargo's never have one; it cost each index request ~0.15 ms)."""

    def open_session(self, app, request):
        if self.get_cookie_name(app) not in request.cookies:
            return self.session_class()
        return super().open_session(app, request)


def init_app(app: Flask) -> FrontendState:
    settings = registry(app).settings.frontend
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)  # cargo's API calls carry tokens, not cookies
    _cookie_flags(app, secure=registry(app).public_url.startswith("https://"))
    manager = LoginManager(app)
    manager.login_view = "account.login"
    manager.login_message = "Sign in to see this page."
    manager.user_loader(_load_user)
    csrf = CSRFProtect(app)
    state = FrontendState(login_manager=manager, csrf=csrf,
                          allow_registration=settings.allow_registration)
    app.extensions["alexandrie_frontend"] = state
    user_logged_in.connect(_on_sign_in, app)
    app.before_request(_protect_browser_posts)
    app.after_request(_security_headers)
    app.jinja_env.globals.update(ui_enabled=True, registration_open=registration_open)
    return state


def ui_state() -> FrontendState:
    return current_app.extensions["alexandrie_frontend"]


def registration_open() -> bool:
    """Whether visitors may create their own account: ``[frontend] allow_registration``, and never on a private
    registry (``auth_required`` or ``[frontend] login_required``), where administrators create the accounts."""
    return ui_state().allow_registration and not login_required()


def _cookie_flags(app: Flask, secure: bool) -> None:
    """Assigned, not ``setdefault``: Flask's defaults already hold these keys (``SAMESITE`` is None)."""
    for cookie in ("SESSION_COOKIE", "REMEMBER_COOKIE"):
        app.config[f"{cookie}_SAMESITE"] = "Lax"
        app.config[f"{cookie}_HTTPONLY"] = True
        app.config[f"{cookie}_SECURE"] = secure


def _load_user(user_id: str) -> User | None:
    """The session's user, unless they were signed out everywhere (sign-out, new password, disabled) since."""
    if not str(user_id).isdigit():
        return None
    user = User.get_or_none(User.id == int(user_id))
    if user is None or session.get(SESSION_VERSION_KEY) != user.session_version:
        return None
    return user


def keep_session(user: User) -> None:
    """Let this browser's session outlive a bump of ``user``'s session version (the user's own password change)."""
    session[SESSION_VERSION_KEY] = user.session_version


def _on_sign_in(app: Flask, user: User, **extra) -> None:
    keep_session(user)


def _protect_browser_posts():
    """Every state-changing browser request needs the CSRF token; the cargo API is exempt (tokens, no cookies)."""
    if request.method in UNSAFE_METHODS and machine_path(request.path) is None:
        ui_state().csrf.protect()


def _security_headers(response):
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def signed_in() -> bool:
    return current_user.is_authenticated and current_user.is_active


def ui_gate():
    """Sends anonymous visitors to the sign-in page when the UI requires login (config or private registry)."""
    if request.endpoint in PUBLIC_UI_ENDPOINTS or signed_in():
        return None
    if login_required():
        return redirect(url_for("account.login", next=safe_next(request.full_path)))
    return None


def protect_blueprint(bp: Blueprint) -> Blueprint:
    """Put a UI blueprint behind ``ui_gate``."""
    bp.before_request(ui_gate)
    return bp


def safe_next(target: str | None) -> str | None:
    """A path on this registry to return to after signing in, or None for anything a browser could read as
    another site: browsers drop tabs and newlines from a ``Location`` (``/\\t/evil.example`` becomes
    ``//evil.example``) and read ``\\`` as ``/``, so the value must hold neither, nor any control character
    or whitespace, nor a scheme or host, also once percent-decoded."""
    if not target:
        return None
    target = target.rstrip("?")
    decoded = unquote(target)
    if any(_invisible(char) for char in target) or any(unicodedata.category(char) == "Cc" for char in decoded):
        return None
    return target if _same_origin_path(target) and _same_origin_path(decoded) else None


def _invisible(char: str) -> bool:
    """Whitespace (Unicode's too), control and format characters (zero-width, direction marks)."""
    return char.isspace() or unicodedata.category(char) in ("Cc", "Cf")


def _same_origin_path(target: str) -> bool:
    parts = urlsplit(target)
    return (target.startswith("/") and not target.startswith("//") and "\\" not in target
            and not parts.scheme and not parts.netloc)
