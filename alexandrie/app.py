"""The application factory, and the WSGI entry point for waitress, gunicorn or any WSGI host."""

import logging
import secrets

import pluggy
from flask import Flask

from . import db, web
from .backends import select_backend
from .config import Settings, load_config
from .models import MODELS, Setting
from .plugins import block, get_plugin_manager, require_loaded
from .registry import EXTENSION, Registry, registry
from .services.downloads import DownloadCounter
from .web.templates import templates_dir


def create_app(config=None, pm: pluggy.PluginManager | None = None, *, serving: bool = True) -> Flask:
    """Build the registry from a config path, mapping or ``Settings`` (None: the usual config lookup).

    ``pm`` replaces the plugin manager built from the installed entry points (tests pass theirs);
    ``serving=False`` is for short commands, in which plugins start no background work.
    """
    settings = load_config(config)
    if pm is None:
        pm = get_plugin_manager(blocked=settings.disabled_plugins)
    else:
        block(pm, settings.disabled_plugins)
    require_loaded(pm)
    app = Flask("alexandrie", template_folder=templates_dir())
    app.config["MAX_CONTENT_LENGTH"] = None
    state = app.extensions[EXTENSION] = _registry(settings, pm, serving)
    db.init_app(app)
    app.secret_key = _secret_key(app)
    state.storage = select_backend("storage", pm.hook.alexandrie_storage_backends(), settings.storage, app)
    state.index = select_backend("index", pm.hook.alexandrie_index_backends(), settings.index, app)
    state.downloads = DownloadCounter(app)
    web.init_app(app)
    pm.hook.alexandrie_startup(app=app)
    web.install_fast_path(app)
    return app


def _registry(settings: Settings, pm: pluggy.PluginManager, serving: bool) -> Registry:
    models = [*MODELS, *(model for models in pm.hook.alexandrie_models() for model in models or ())]
    return Registry(settings=settings, pm=pm, serving=serving, models=tuple(models),
                    database=db.open_database(settings.database.url, settings.database.max_conns))


def _secret_key(app: Flask) -> str:
    """Shared by every instance on the same database, so sessions work on all of them."""
    configured = registry(app).settings.general.secret_key
    if configured:
        return configured
    with app.app_context(), db.connection(), db.write_transaction():
        row = Setting.get_or_none(Setting.key == "secret_key")
        if row is None:
            row = Setting.create(key="secret_key", value=secrets.token_hex(32))
        return row.value


def make_wsgi_app():
    """For ``waitress-serve --call alexandrie.app:make_wsgi_app`` and other WSGI hosts."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return create_app()
