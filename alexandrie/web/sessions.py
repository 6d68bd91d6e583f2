"""Browser sessions (flask-login), CSRF protection (flask-wtf) and the UI's sign-in gate.

Every check of "must this browser be signed in" lives here (``ui_gate``) and in ``gate``; UI
blueprints (the built-in ones and the admin pages) call ``protect_blueprint`` to get it.
"""

from dataclasses import dataclass

from flask import Blueprint, Flask, current_app, redirect, request, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_login import LoginManager, current_user
from flask_wtf.csrf import CSRFProtect

from ..models import User
from ..registry import registry
from .errors import machine_path
from .gate import login_required

UNSAFE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
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
    app.config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    manager = LoginManager(app)
    manager.login_view = "account.login"
    manager.login_message = "Sign in to see this page."
    manager.user_loader(_load_user)
    csrf = CSRFProtect(app)
    state = FrontendState(login_manager=manager, csrf=csrf,
                          allow_registration=settings.allow_registration)
    app.extensions["alexandrie_frontend"] = state
    app.before_request(_protect_browser_posts)
    app.after_request(_security_headers)
    app.jinja_env.globals.update(ui_enabled=True, registration_open=lambda: state.allow_registration)
    return state


def ui_state() -> FrontendState:
    return current_app.extensions["alexandrie_frontend"]


def _load_user(user_id: str) -> User | None:
    if not str(user_id).isdigit():
        return None
    return User.get_or_none(User.id == int(user_id))


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
    """A local path to return to after signing in; anything pointing elsewhere is dropped."""
    if not target:
        return None
    target = target.rstrip("?")
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target
