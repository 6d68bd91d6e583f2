"""Signed webhooks for registry events, queued in the database and retried with back-off.

Configured in ``[plugins.webhooks]``; see this distribution's README for the settings, the
signature scheme and how a receiver verifies it.
"""

import logging
from dataclasses import dataclass

import click
from flask import current_app

from alexandrie import get_plugin_config, hookimpl

from .delivery import DeliveryWorker
from .models import WebhookDelivery
from .queue import enqueue
from .settings import WebhookSettings, load_settings
from .signing import InvalidSignature, signature_header, verify_signature

__all__ = ["InvalidSignature", "WebhookDelivery", "signature_header", "verify_signature", "webhooks_of"]

log = logging.getLogger(__name__)
EXTENSION = "alexandrie_webhooks"


@dataclass
class Webhooks:
    """Per-app state in ``app.extensions["alexandrie_webhooks"]``."""

    settings: WebhookSettings
    registry_url: str
    worker: DeliveryWorker | None = None


def webhooks_of(app) -> Webhooks | None:
    return app.extensions.get(EXTENSION)


@hookimpl
def alexandrie_models():
    return [WebhookDelivery]


@hookimpl
def alexandrie_startup(app):
    settings = load_settings(get_plugin_config("webhooks", app))
    state = Webhooks(settings, app.extensions["alexandrie"].config["general"]["public_url"])
    app.extensions[EXTENSION] = state
    if settings.endpoints and settings.worker and _serving():
        state.worker = DeliveryWorker(app, settings).start()
        log.info("webhooks: delivering to %d endpoint(s)", len(settings.endpoints))


def _serving() -> bool:
    """Deliver from servers (``alexandrie serve``, any WSGI host), not from short commands like ``user create``."""
    ctx = click.get_current_context(silent=True)
    return ctx is None or ctx.info_name == "serve"


@hookimpl
def alexandrie_event(event):
    """Runs after the change is committed: queue one delivery per subscribed endpoint."""
    state = webhooks_of(current_app)
    if state is None or not state.settings.endpoints:
        return
    if enqueue(state.settings, event.name, event.properties(), state.registry_url) and state.worker:
        state.worker.wake()


@hookimpl
def alexandrie_blueprints(app):
    """``/admin/webhooks`` next to the other admin pages, when the browser UI is on."""
    if not app.extensions["alexandrie"].config.get("frontend", {}).get("enabled"):
        return None
    from .admin import bp

    return [bp]


@hookimpl
def alexandrie_commands():
    from .commands import webhooks

    return [webhooks]
