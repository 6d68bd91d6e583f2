"""The plugin's per-app state, in ``app.extensions["alexandrie_webhooks"]``."""

from dataclasses import dataclass

from .delivery import DeliveryWorker
from .settings import WebhookSettings

EXTENSION = "alexandrie_webhooks"


@dataclass
class Webhooks:
    settings: WebhookSettings
    registry_url: str
    worker: DeliveryWorker | None = None


def webhooks_of(app) -> Webhooks | None:
    return app.extensions.get(EXTENSION)
