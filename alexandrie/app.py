"""The application factory, and the WSGI entry point for waitress, gunicorn or any WSGI host."""

import logging
import os
import secrets
import stat
from pathlib import Path

import pluggy
from flask import Flask

from . import db, web
from .backends import select_backend
from .config import Settings, load_config
from .errors import ConfigError
from .models import MODELS, Setting
from .plugins import block, get_plugin_manager, require_loaded
from .registry import EXTENSION, Registry, registry
from .services.categories import read_categories
from .services.downloads import DownloadCounter
from .web.templates import templates_dir


def create_app(config=None, pm: pluggy.PluginManager | None = None, *, serving: bool = True) -> Flask:
    """Build the registry from a config path, mapping or ``Settings`` (None: the usual config lookup).

    ``pm`` replaces the plugin manager built from the installed entry points (tests pass theirs);
    ``serving=False`` is for short commands, in which plugins start no background work.
    """
    settings = load_config(config)
    categories = read_categories(settings)  # a broken categories file stops the start-up, not a publish
    if pm is None:
        pm = get_plugin_manager(blocked=settings.disabled_plugins)
    else:
        block(pm, settings.disabled_plugins)
    require_loaded(pm)
    _refuse_bad_plugin_settings(pm, settings)
    app = Flask("alexandrie", template_folder=templates_dir())
    app.config["MAX_CONTENT_LENGTH"] = None
    state = app.extensions[EXTENSION] = _registry(settings, pm, serving)
    state.categories = categories
    db.check_reachable(state.database, settings.database.url)
    _refuse_a_secret_others_can_read(state)  # before SQLite opens the file and gives its -wal the same mode
    # The backends check their tables before the database file or schema is created, so a mistake leaves none
    # behind; the index first, since the disk storage's only setting is checked with the config.
    state.index = select_backend("index", pm.hook.alexandrie_index_backends(), settings.index, app)
    state.storage = select_backend("storage", pm.hook.alexandrie_storage_backends(), settings.storage, app)
    db.init_app(app)
    app.secret_key = _secret_key(app)
    state.downloads = DownloadCounter(app)
    web.init_app(app)
    pm.hook.alexandrie_startup(app=app)
    web.install_fast_path(app)
    return app


def _refuse_bad_plugin_settings(pm: pluggy.PluginManager, settings: Settings) -> None:
    problems = [problem for problem in pm.hook.alexandrie_check_config(settings=settings) if problem]
    if problems:
        raise ConfigError(f"{settings.source}: " + "\n".join(problems))


def _registry(settings: Settings, pm: pluggy.PluginManager, serving: bool) -> Registry:
    models = [*MODELS, *(model for models in pm.hook.alexandrie_models() for model in models or ())]
    database = db.open_database(settings.database.url, settings.database.max_conns,
                                creatable=_default_data_folders(settings))
    return Registry(settings=settings, pm=pm, serving=serving, models=tuple(models), database=database)


def _default_data_folders(settings: Settings) -> tuple[Path, ...]:
    """Where a SQLite file's missing folder may be created: ``data/`` next to the config (the default), and the
    config's own folder (which only a config given as a mapping, with its ``base_dir``, can lack)."""
    base = Path(settings.base_dir).resolve()
    return base, base / "data"


def _secret_key(app: Flask) -> str:
    """Shared by every instance on the same database, so sessions work on all of them."""
    configured = registry(app).settings.general.secret_key
    if configured:
        return configured
    with app.app_context(), db.connection(), db.write_transaction():
        # Instances starting together each offer one; the first committed wins and every other reads it.
        Setting.insert(key="secret_key", value=secrets.token_hex(32)).on_conflict_ignore().execute()
        return Setting.get(Setting.key == "secret_key").value


def _refuse_a_secret_others_can_read(state: Registry) -> None:
    """Whoever reads the session secret can sign in as anyone. Group-readable is left to the operator."""
    settings = state.settings
    if not settings.general.secret_key:
        _refuse_readable_by_others(db.sqlite_files(state.database), "the database holds the session secret")
    elif "secret_key" in settings.tables.get("general", {}) and os.path.isfile(settings.source):
        _refuse_readable_by_others([Path(settings.source)], "it sets [general] secret_key")


def _refuse_readable_by_others(paths: list[Path], why: str) -> None:
    exposed = [str(path) for path in paths if _readable_by_others(path)]
    if exposed:
        raise ConfigError(f"{', '.join(exposed)} can be read by every user of this machine, and {why}: "
                          "anyone could forge a session and sign in as any user.\n"
                          f"Run `chmod 600 {' '.join(exposed)}` (or `chmod o-rwx`), then start again.")


def _readable_by_others(path: Path) -> bool:
    """World-readable, in folders the world may enter."""
    try:
        modes = [path.stat().st_mode, *(folder.stat().st_mode for folder in path.resolve().parents)]
    except FileNotFoundError:
        return False
    return bool(modes[0] & stat.S_IROTH) and all(mode & stat.S_IXOTH for mode in modes[1:])


def make_wsgi_app():
    """For ``waitress-serve --call alexandrie.app:make_wsgi_app`` and other WSGI hosts."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return create_app()
