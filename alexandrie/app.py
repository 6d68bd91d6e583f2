"""The application factory, and the WSGI entry point for waitress, gunicorn or any WSGI host."""

import logging
import secrets
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import peewee
import pluggy
from flask import Flask, jsonify, render_template, request
from flask.sessions import SecureCookieSessionInterface
from werkzeug.exceptions import HTTPException

from . import access, db, ratelimit
from .backends import select_backend
from .config import load_config
from .downloads import DownloadCounter
from .errors import AlexandrieError, BadRequest
from .index_fast_path import IndexFastPath
from .models import MODELS, Setting
from .plugins import block_disabled, get_plugin_manager
from .views import api, index, pages

log = logging.getLogger(__name__)

API_PREFIXES = ("/api/", "/index/", "/git/")


@dataclass
class Registry:
    """Per-app state, kept in ``app.extensions["alexandrie"]``."""

    config: dict
    pm: pluggy.PluginManager
    database: peewee.Database
    storage: object = None
    index: object = None
    downloads: DownloadCounter | None = None


def templates_dir() -> str:
    """The packaged templates, or the checkout's ``templates/`` when run from source."""
    try:
        folder = resources.files("alexandrie.templates")
        if folder.joinpath("me.html").is_file():
            return str(folder)
    except ModuleNotFoundError:
        pass
    return str(Path(__file__).resolve().parent.parent / "templates")


def create_app(config=None, pm: pluggy.PluginManager | None = None) -> Flask:
    """Build the registry from a config path or mapping (None: the usual config lookup)."""
    settings = load_config(config)
    pm = pm or get_plugin_manager(config=settings)
    block_disabled(pm, settings)
    app = Flask("alexandrie", template_folder=templates_dir())
    app.config["MAX_CONTENT_LENGTH"] = None
    app.before_request(refuse_nul_characters)
    state = Registry(config=settings, pm=pm,
                     database=db.open_database(settings["database"]["url"], settings["database"]["max_conns"]))
    app.extensions["alexandrie"] = state
    db.init_app(app, [*MODELS, *_plugin_models(pm)])
    access.init_app(app)
    app.secret_key = _secret_key(app)
    app.session_interface = LazySessionInterface()
    state.storage = select_backend("storage", pm.hook.alexandrie_storage_backends(), settings["storage"], app)
    state.index = select_backend("index", pm.hook.alexandrie_index_backends(), settings["index"], app)
    state.downloads = DownloadCounter(app)
    _register_blueprints(app, pm)
    register_error_handlers(app)
    ratelimit.init_app(app)
    pm.hook.alexandrie_startup(app=app)
    app.wsgi_app = IndexFastPath(app, app.wsgi_app)
    return app


class LazySessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, minus building the signer for requests without a session cookie
    (cargo's never have one; it cost each index request ~0.15 ms)."""

    def open_session(self, app, request):
        if self.get_cookie_name(app) not in request.cookies:
            return self.session_class()
        return super().open_session(app, request)


def _plugin_models(pm) -> list:
    return [model for models in pm.hook.alexandrie_models() for model in models or ()]


def _register_blueprints(app: Flask, pm) -> None:
    for blueprint in (index.bp, api.bp, pages.bp):
        app.register_blueprint(blueprint)
    if app.extensions["alexandrie"].config.get("frontend", {}).get("enabled"):
        _register_frontend(app)
    for blueprints in pm.hook.alexandrie_blueprints(app=app):
        for blueprint in blueprints or ():
            app.register_blueprint(blueprint)


def _register_frontend(app: Flask) -> None:
    """The browser UI: sessions, CSRF and its pages (``[frontend] enabled``)."""
    from . import frontend_auth
    from .views import account, frontend

    frontend_auth.init_app(app)
    app.register_blueprint(frontend.bp)
    app.register_blueprint(account.bp)


def _secret_key(app: Flask) -> str:
    """Shared by every instance on the same database, so sessions work on all of them."""
    configured = app.extensions["alexandrie"].config["general"].get("secret_key")
    if configured:
        return configured
    with app.app_context(), db.connection(), db.write_transaction():
        row = Setting.get_or_none(Setting.key == "secret_key")
        if row is None:
            row = Setting.create(key="secret_key", value=secrets.token_hex(32))
        return row.value


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def refuse_nul_characters() -> None:
    """No name, login, e-mail or keyword of the registry can hold a NUL character, and PostgreSQL refuses
    one anywhere in a query, so a path, query string or browser form carrying one is refused here rather
    than failing deep inside. (The API's bodies are checked where they are read: cargo sends no forms, and
    a publish body is binary whatever Content-Type a client puts on it.)"""
    if "\x00" in request.path:
        part = "path"
    elif _holds_nul(request.args):
        part = "query string"
    elif request.mimetype in FORM_TYPES and not request.path.startswith(API_PREFIXES) and _holds_nul(request.form):
        part = "form"
    else:
        return
    raise BadRequest(f"the request's {part} contains a NUL character, which no name, login or field here can hold")


def _holds_nul(fields) -> bool:
    return any("\x00" in key or "\x00" in value for key, value in fields.items(multi=True))


def wants_json() -> bool:
    return request.path.startswith(API_PREFIXES) or request.accept_mimetypes.best == "application/json"


def error_response(status: int, detail: str):
    """Cargo shows API errors only in the ``{"errors": [{"detail": ...}]}`` form."""
    if wants_json():
        return jsonify({"errors": [{"detail": detail}]}), status
    return render_template("error.html", status=status, detail=detail), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(AlexandrieError)
    def _refused(exc: AlexandrieError):
        return error_response(exc.status, exc.detail)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        detail = exc.description if exc.code != 404 else f"nothing at {request.path}"
        return error_response(exc.code or 500, detail)

    @app.errorhandler(Exception)
    def _crash(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "the registry hit an internal error; the operator can find it in the "
                                   "server log. Nothing was changed.")


def make_wsgi_app():
    """For ``waitress-serve --call alexandrie.app:make_wsgi_app`` and other WSGI hosts."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return create_app()
