"""The plugin manager: built-in plugins first, then the ``alexandrie`` entry points."""

import importlib
import logging
import os

import pluggy

from . import hookspecs
from .errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_PLUGINS = (
    "alexandrie.defaults.auth_local",
    "alexandrie.defaults.permissions",
    "alexandrie.defaults.token_scopes",
    "alexandrie.audit",
    "alexandrie.views.admin",
    "alexandrie.defaults.render_plain",
    "alexandrie.defaults.sparse_only",
)


def get_plugin_manager(load_entrypoints: bool = True, plugins=(), blocked=(),
                       config: dict | None = None) -> pluggy.PluginManager:
    """Build the manager: specs, defaults, entry points, then ``plugins`` (tests pass extras here).

    Plugins named in ``blocked``, in the config's disabled lists or in ``ALEXANDRIE_DISABLE_PLUGINS=a,b``
    are never loaded (see ``disabled_plugins``); ``ALEXANDRIE_TRACE_PLUGINS=1`` logs every hook call.
    """
    pm = pluggy.PluginManager("alexandrie")
    pm.add_hookspecs(hookspecs)
    for name in (*blocked, *disabled_plugins(config)):
        pm.set_blocked(name)
    for name in DEFAULT_PLUGINS:
        if not pm.is_blocked(name):
            pm.register(importlib.import_module(name), name=name)
    if load_entrypoints:
        pm.load_setuptools_entrypoints("alexandrie")
    for plugin in plugins:
        if not pm.is_registered(plugin):  # a test may pass a module its entry point already loaded
            pm.register(plugin)
    pm.check_pending()
    if os.environ.get("ALEXANDRIE_TRACE_PLUGINS"):
        pm.trace.root.setwriter(log.debug)
        pm.enable_tracing()
    return pm


def _names_from_env(var: str) -> list[str]:
    return _split_names(os.environ.get(var, ""))


def _split_names(value: str) -> list[str]:
    return [name.strip() for name in value.split(",") if name.strip()]


def disabled_plugins(config: dict | None) -> list[str]:
    """Plugins switched off without uninstalling them: ``[general] disabled_plugins``,
    ``[plugins] disabled`` and ``ALEXANDRIE_DISABLE_PLUGINS=a,b``.

    Names are entry-point names (``webhooks``) or, for built-ins, module names
    (``alexandrie.defaults.render_plain``), as ``alexandrie plugins`` lists them.
    """
    config = config or {}
    names = [*_names_from_setting(config.get("general", {}).get("disabled_plugins"), "[general] disabled_plugins"),
             *_names_from_setting(config.get("plugins", {}).get("disabled"), "[plugins] disabled")]
    return [*names, *_names_from_env("ALEXANDRIE_DISABLE_PLUGINS")]


def _names_from_setting(value, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):  # from an ALEXANDRIE_GENERAL_DISABLED_PLUGINS=a,b override
        return _split_names(value)
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise ConfigError(f'{where} = {value!r}: write a list of plugin names, like ["webhooks"]')
    return value


def block_disabled(pm: pluggy.PluginManager, config: dict) -> None:
    """Unregister plugins the config switches off from a manager built without it (tests, embedders)."""
    for name in disabled_plugins(config):
        pm.set_blocked(name)


def describe_plugins(pm: pluggy.PluginManager) -> list[dict]:
    """Each registered plugin: name, distribution, version and implemented hooks."""
    dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    rows = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            rows.append(_describe_disabled(name))
            continue
        dist = dists.get(id(plugin))
        rows.append({
            "name": name,
            "distribution": dist.project_name if dist else "alexandrie (built in)",
            "version": dist.version if dist else _core_version(),
            "hooks": sorted(impl.name for impl in pm.get_hookcallers(plugin) or ()),
            "disabled": False,
        })
    return rows


def _describe_disabled(name: str) -> dict:
    """A blocked plugin was never imported: its distribution comes from the entry point, if installed."""
    from importlib.metadata import entry_points

    point = next((ep for ep in entry_points(group="alexandrie") if ep.name == name), None)
    dist = point.dist if point is not None else None
    built_in = name in DEFAULT_PLUGINS
    return {
        "name": name,
        "distribution": dist.name if dist else ("alexandrie (built in)" if built_in else "not installed"),
        "version": dist.version if dist else (_core_version() if built_in else "-"),
        "hooks": [],
        "disabled": True,
    }


def _core_version() -> str:
    from . import __version__

    return __version__
