"""The plugin manager: the built-in plugins, then the ``alexandrie`` entry points, then a caller's extras."""

import importlib
import logging
import os
from importlib.metadata import entry_points

import pluggy

from . import hookspecs
from .errors import ConfigError
from .version import __version__

log = logging.getLogger(__name__)

GROUP = "alexandrie"
DEFAULT_PLUGINS = (
    "alexandrie.defaults.auth_local",
    "alexandrie.defaults.permissions",
    "alexandrie.defaults.token_scopes",
    "alexandrie.defaults.read_only",
    "alexandrie.defaults.audit_log",
    "alexandrie.defaults.render_plain",
    "alexandrie.defaults.sparse_only",
)
# Built-ins that enforce security, as pytest's essential_plugins: they cannot be switched off.
ESSENTIAL_PLUGINS = {
    "alexandrie.defaults.token_scopes": "it enforces token scopes and crate patterns",
    "alexandrie.defaults.read_only": "it keeps read-only users from changing anything",
    "alexandrie.defaults.audit_log": "it writes the audit log in the transaction of every change",
}
BUILT_IN = "alexandrie (built in)"


class PluginManager(pluggy.PluginManager):
    """pluggy's manager, loading entry points one by one so that one that fails to import is reported
    (``load_failures``) instead of stopping the others."""

    def __init__(self):
        super().__init__(GROUP)
        self.load_failures: dict[str, str] = {}
        self.distributions: dict[str, tuple[str, str]] = {}  # plugin name -> (distribution, version)

    def load_entrypoints(self) -> None:
        for point in entry_points(group=GROUP):
            if self.get_plugin(point.name) is not None or self.is_blocked(point.name):
                continue
            try:
                plugin = point.load()
                if not self.is_registered(plugin):  # a test may pass a module its entry point also names
                    self.register(plugin, name=point.name)
            except Exception as exc:
                self.load_failures[point.name] = f"{type(exc).__name__}: {exc}"
                log.error("plugin %s could not be loaded: %s", point.name, self.load_failures[point.name])
                continue
            if point.dist is not None:
                self.distributions[point.name] = (point.dist.name, point.dist.version)


def get_plugin_manager(load_entrypoints: bool = True, plugins=(), blocked=(), named=None) -> PluginManager:
    """Build the manager: specs, defaults, entry points (when asked), then ``named`` plugins ({name: plugin},
    registered under the name their entry point would give them) and ``plugins`` (tests pass theirs).

    ``blocked`` names plugins never to load (a config's ``disabled_plugins``); naming an essential
    plugin there is a ``ConfigError``. ``ALEXANDRIE_TRACE_PLUGINS=1`` logs every hook call.
    """
    pm = PluginManager()
    pm.add_hookspecs(hookspecs)
    block(pm, blocked)
    for name in DEFAULT_PLUGINS:
        if not pm.is_blocked(name):
            pm.register(importlib.import_module(name), name=name)
    if load_entrypoints:
        pm.load_entrypoints()
    for name, plugin in (named or {}).items():
        if not pm.is_registered(plugin) and pm.get_plugin(name) is None and not pm.is_blocked(name):
            pm.register(plugin, name=name)
    for plugin in plugins:
        if not pm.is_registered(plugin):
            pm.register(plugin)
    pm.check_pending()
    if os.environ.get("ALEXANDRIE_TRACE_PLUGINS"):
        pm.trace.root.setwriter(log.debug)
        pm.enable_tracing()
    return pm


def block(pm: pluggy.PluginManager, names) -> None:
    """Switch plugins off by name (unregistering them if loaded); essential ones are refused."""
    essential = [name for name in names if name in ESSENTIAL_PLUGINS]
    if essential:
        name = essential[0]
        raise ConfigError(f"{name} cannot be disabled: {ESSENTIAL_PLUGINS[name]}. Remove it from "
                          "[general] disabled_plugins, [plugins] disabled and ALEXANDRIE_DISABLE_PLUGINS")
    for name in names:
        pm.set_blocked(name)


def require_loaded(pm: pluggy.PluginManager) -> None:
    """A registry does not start with a plugin missing: its tables, backends or rules would be missing too.
    That holds for the essential built-ins whatever built the manager (an embedder, a test)."""
    missing = [name for name in ESSENTIAL_PLUGINS if pm.get_plugin(name) is None]
    if missing:
        raise ConfigError(f"{missing[0]} is not registered, and {ESSENTIAL_PLUGINS[missing[0]]}; build the plugin "
                          "manager with alexandrie.plugins.get_plugin_manager()")
    if getattr(pm, "load_failures", None):
        name, error = next(iter(pm.load_failures.items()))
        raise ConfigError(f"plugin {name} could not be loaded ({error}); repair its installation, or switch it "
                          f'off with [general] disabled_plugins = ["{name}"]')


def describe_plugins(pm: pluggy.PluginManager) -> list[dict]:
    """Each plugin: name, distribution, version, implemented hooks, and whether it is disabled or failed."""
    distributions = getattr(pm, "distributions", {})
    rows = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            rows.append({**_entry_point_origin(name), "name": name, "hooks": [], "state": "disabled", "disabled": True})
            continue
        dist, version = distributions.get(name, (BUILT_IN, __version__) if name in DEFAULT_PLUGINS else ("-", "-"))
        rows.append({"name": name, "distribution": dist, "version": version, "state": "active", "disabled": False,
                     "hooks": sorted(impl.name for impl in pm.get_hookcallers(plugin) or ())})
    for name, error in getattr(pm, "load_failures", {}).items():
        rows.append({**_entry_point_origin(name), "name": name, "hooks": [], "state": f"failed to load: {error}",
                     "disabled": False})
    return rows


def _entry_point_origin(name: str) -> dict:
    """A plugin that was never imported: its distribution comes from the entry point, if installed."""
    point = next((ep for ep in entry_points(group=GROUP) if ep.name == name), None)
    dist = point.dist if point is not None else None
    if dist is not None:
        return {"distribution": dist.name, "version": dist.version}
    if name in DEFAULT_PLUGINS:
        return {"distribution": BUILT_IN, "version": __version__}
    return {"distribution": "not installed", "version": "-"}
