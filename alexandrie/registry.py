"""Per-app state (settings, plugin manager, database, backends) behind the ``registry()`` accessor."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app

from .auth import Origin
from .config import Settings

if TYPE_CHECKING:
    import peewee
    import pluggy

    from .interfaces import IndexBackend, MachinePath, Storage

EXTENSION = "alexandrie"


def _no_origin() -> Origin | None:
    return None


@dataclass
class Registry:
    """Everything one app holds, in ``app.extensions["alexandrie"]``; several apps can share a process."""

    settings: Settings
    pm: pluggy.PluginManager
    database: peewee.Database
    serving: bool = True  # False in short commands (``alexandrie user create``): start no background work
    models: tuple[type, ...] = ()
    storage: Storage | None = None
    index: IndexBackend | None = None
    machine_paths: tuple[MachinePath, ...] = ()
    stylesheets: tuple[str, ...] = ()
    categories: tuple = ()  # services.categories.KnownCategory: the list a version's categories are checked against
    downloads: Any = None  # services.downloads.DownloadCounter
    readme_worker: Any = None  # the thread READMEs render on (services.readmes), made on first use
    request_origin: Callable[[], Origin | None] = _no_origin  # the web layer tells where a request came from
    compiled_sql: dict = field(default_factory=dict)
    open_changes: threading.local = field(default_factory=threading.local)

    @property
    def public_url(self) -> str:
        return self.settings.general.public_url


def registry(app: Flask | None = None) -> Registry:
    """The state of ``app``, by default the app in context."""
    return (app if app is not None else current_app).extensions[EXTENSION]


def get_plugin_config(name: str, app: Flask | None = None) -> dict:
    """The ``[plugins.NAME]`` table of ``app`` (default: the app in context), or an empty dict.

    Public as ``alexandrie.get_plugin_config``; a copy, so changing it changes nothing.
    """
    return registry(app).settings.plugin_table(name)
