"""The web layer: HTTP in front of the services. ``init_app`` installs the gate, the blueprints (the
browser UI's with ``[frontend] enabled``), the error handlers, the rate limits and the index fast path."""

from flask import Flask

from ..interfaces import MachinePath
from ..registry import registry
from . import caching, gate, ratelimit, sessions
from .errors import CORE_MACHINE_PATHS, register_error_handlers
from .identity import request_origin
from .index_fast_path import IndexFastPath
from .views import account, admin, api, catalog, frontend, index, pages


def init_app(app: Flask) -> None:
    state = registry(app)
    state.machine_paths = (*CORE_MACHINE_PATHS, *_plugin_machine_paths(app, state))
    state.stylesheets = tuple(url for urls in state.pm.hook.alexandrie_stylesheets(app=app) for url in urls or ())
    state.request_origin = request_origin
    app.session_interface = sessions.LazySessionInterface()
    gate.init_app(app)
    for blueprint in (index.bp, api.bp, catalog.bp, pages.bp):
        app.register_blueprint(blueprint)
    if state.settings.frontend.enabled:
        sessions.init_app(app)
        for blueprint in (frontend.bp, account.bp, admin.bp):
            app.register_blueprint(blueprint)
    app.jinja_env.globals["plugin_stylesheets"] = state.stylesheets
    for blueprints in state.pm.hook.alexandrie_blueprints(app=app):
        for blueprint in blueprints or ():
            app.register_blueprint(blueprint)
    register_error_handlers(app)
    ratelimit.init_app(app)
    app.after_request(caching.response_headers)


def install_fast_path(app: Flask) -> None:
    """Last, once every plugin has started: the fast path answers below everything Flask installs."""
    app.wsgi_app = IndexFastPath(app, app.wsgi_app)


def _plugin_machine_paths(app: Flask, state) -> tuple[MachinePath, ...]:
    return tuple(path for paths in state.pm.hook.alexandrie_machine_paths(app=app) for path in paths or ())
