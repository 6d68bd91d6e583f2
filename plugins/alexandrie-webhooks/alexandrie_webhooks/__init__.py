"""Signed webhooks for registry events, queued in the database and retried with back-off.

Configured in ``[plugins.webhooks]``; see this distribution's README for the settings, the
signature scheme and how a receiver verifies it.
"""

import logging

from flask import current_app

from alexandrie import ConfigError, get_plugin_config, hookimpl, registry

from .admin import bp as admin_blueprint
from .commands import webhooks
from .delivery import DeliveryWorker
from .models import WebhookDelivery
from .queue import enqueue
from .settings import load_settings
from .signing import InvalidSignature, signature_header, verify_signature
from .state import EXTENSION, Webhooks, webhooks_of

__all__ = ["InvalidSignature", "WebhookDelivery", "signature_header", "verify_signature", "webhooks_of"]

log = logging.getLogger(__name__)


@hookimpl
def alexandrie_models():
    return [WebhookDelivery]


@hookimpl
def alexandrie_check_config(settings):
    try:
        load_settings(settings.plugin_table("webhooks"))
    except ConfigError as exc:
        return str(exc)
    return None


@hookimpl
def alexandrie_startup(app):
    settings = load_settings(get_plugin_config("webhooks", app))
    state = Webhooks(settings, registry(app).public_url)
    app.extensions[EXTENSION] = state
    if settings.endpoints and settings.worker and registry(app).serving:
        state.worker = DeliveryWorker(app, settings).start()
        log.info("webhooks: delivering to %d endpoint(s)", len(settings.endpoints))


@hookimpl
def alexandrie_event_in_transaction(event):
    """Queue one delivery per subscribed endpoint in the change's own transaction: the deliveries exist
    exactly when the change does, even if the process dies right after the commit."""
    state = webhooks_of(current_app)
    if state is not None and state.settings.endpoints:
        enqueue(state.settings, event.name, event.properties(), state.registry_url)


@hookimpl
def alexandrie_event(event):
    """The change is committed, so its deliveries are visible to the worker: wake it."""
    state = webhooks_of(current_app)
    if state is not None and state.worker and any(e.wants(event.name) for e in state.settings.endpoints):
        state.worker.wake()


@hookimpl
def alexandrie_blueprints(app):
    """``/admin/webhooks`` next to the other admin pages, when the browser UI is on."""
    if not registry(app).settings.frontend.enabled:
        return None
    return [admin_blueprint]


@hookimpl
def alexandrie_admin_links(app):
    """The deliveries page in the admin navigation, next to the core's pages."""
    return [("Webhooks", "webhooks_admin.deliveries")]


@hookimpl
def alexandrie_commands():
    return [webhooks]
