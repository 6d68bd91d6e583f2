"""Deliver committed-change events to plugins, isolating one plugin's failure from the rest."""

import logging

from flask import current_app

log = logging.getLogger(__name__)


def fire_event(event) -> None:
    """Call every ``alexandrie_event`` implementation; log (never raise) what they throw."""
    pm = current_app.extensions["alexandrie"].pm
    for impl in reversed(pm.hook.alexandrie_event.get_hookimpls()):
        try:
            impl.function(event=event)
        except Exception:
            log.exception("plugin %s failed handling the %s event for %s", plugin_label(impl), event.name,
                          event.crate)


def plugin_label(impl) -> str:
    """The registered name, or the class of a plugin object registered without one (named by its id)."""
    name = impl.plugin_name
    return f"{name} ({type(impl.plugin).__name__})" if name.isdigit() else name
