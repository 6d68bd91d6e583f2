"""The request gate: requests no field can hold (NUL characters) are refused, and on a private registry
(``auth_required``) nothing is answered without a credential: an API token on cargo's (machine) paths, the
session cookie on browser pages. It is core code, not a plugin, so no configuration can switch it off."""

from flask import Flask, current_app, redirect, request, url_for

from ..auth import READ
from ..errors import AlexandrieError, BadRequest
from ..interfaces import MachinePath
from ..registry import registry
from ..services.tokens import cargo_login_command, require_scope
from .errors import machine_path, unauthorized
from .identity import current_identity, signed_in_user

# Reachable without signing in even on a private registry: health checks, the cargo login
# help page, what a browser needs to sign in, and the hint for cargo taking the index for a git one.
OPEN_ENDPOINTS = {"pages.health", "pages.me", "static", "account.login", "account.logout", "index.git_discovery"}
# Endpoints a token without the ``read`` scope may still call: cargo fetches config.json before
# anything else, and the write calls are checked per action by the permission hooks.
READ_EXEMPT_ENDPOINTS = {"index.config"}
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def init_app(app: Flask) -> None:
    """Install the gate; call after the database's own ``before_request``."""
    app.before_request(refuse_nul_characters)
    app.before_request(_gate)
    app.jinja_env.globals["config_auth_required"] = auth_required


def auth_required() -> bool:
    return registry().settings.general.auth_required


def login_required() -> bool:
    """Whether the browser UI needs a signed-in user: ``[frontend] login_required`` or a private registry."""
    return auth_required() or registry().settings.frontend.login_required


def refuse_nul_characters() -> None:
    """No name, login, e-mail or keyword of the registry can hold a NUL character, and PostgreSQL refuses
    one anywhere in a query, so a path, query string or browser form carrying one is refused here rather
    than failing deep inside. (The API's bodies are checked where they are read: cargo sends no forms, and
    a publish body is binary whatever Content-Type a client puts on it.)"""
    if "\x00" in request.path:
        part = "path"
    elif _holds_nul(request.args):
        part = "query string"
    elif request.mimetype in FORM_TYPES and machine_path(request.path) is None and _holds_nul(request.form):
        part = "form"
    else:
        return
    raise BadRequest(f"the request's {part} contains a NUL character, which no name, login or field here can hold")


def _holds_nul(fields) -> bool:
    return any("\x00" in key or "\x00" in value for key, value in fields.items(multi=True))


def _gate():
    endpoint = request.endpoint or ""
    if not auth_required() or endpoint in OPEN_ENDPOINTS or endpoint.endswith(".static"):
        return None
    machine = machine_path(request.path)
    if machine is not None:
        return _gate_machine_request(machine)
    if signed_in_user() is None:  # browser pages take the session cookie only, never an API token
        return _send_to_sign_in()
    return None


def _send_to_sign_in():
    if "account.login" in current_app.view_functions:
        return redirect(url_for("account.login", next=request.full_path.rstrip("?")))
    return unauthorized("sign in to use this registry")


def _gate_machine_request(machine: MachinePath):
    try:
        identity = current_identity()
    except AlexandrieError as exc:
        return unauthorized(exc.detail)
    reading = machine.read_only or request.method in ("GET", "HEAD")
    if identity is None:
        if reading and signed_in_user() is not None:
            return None
        return unauthorized("this registry is private: every request needs an API token. Get one at "
                            f"{registry().public_url}/me, run {cargo_login_command()}, and set "
                            '`credential-provider = "cargo:token"` for the registry in .cargo/config.toml')
    if reading and request.endpoint not in READ_EXEMPT_ENDPOINTS:
        require_scope(identity, READ)
    return None
