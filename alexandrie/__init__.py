"""Alexandrie: a self-hosted Cargo crate registry with a pluggy plugin system.

Plugins import everything they need from here: the ``hookimpl`` marker, the
backend interfaces, the event classes and the error types.
"""

import pluggy

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("alexandrie")

from .errors import AlexandrieError, ConfigError, StorageUnavailable  # noqa: E402
from .config import get_plugin_config  # noqa: E402
from .events import Event, OwnersChangedEvent, PublishEvent, UnyankEvent, YankEvent  # noqa: E402
from .interfaces import BackendSpec, IndexBackend, Storage  # noqa: E402

__all__ = [
    "AlexandrieError",
    "BackendSpec",
    "ConfigError",
    "Event",
    "IndexBackend",
    "OwnersChangedEvent",
    "PublishEvent",
    "Storage",
    "StorageUnavailable",
    "UnyankEvent",
    "YankEvent",
    "__version__",
    "get_plugin_config",
    "hookimpl",
]
