"""Alexandrie: a self-hosted Cargo crate registry with a pluggy plugin system.

Plugins import everything they need from here (and their tests from ``alexandrie.testing``), nothing
else from the core: ``tests/test_public_api.py`` holds every distribution under ``plugins/`` and
``examples/`` to that. The paths documented before this API existed (``alexandrie.db.BaseModel``,
``alexandrie.cli.in_app``, ``alexandrie.errors.Forbidden``, ``alexandrie.auth.Identity``) keep working.
"""

from . import models
from .auth import CHANGE_OWNERS, PUBLISH_NEW, PUBLISH_UPDATE, READ, TOKEN_SCOPES, WRITE_ACTIONS, YANK, Identity
from .cli import in_app
from .config import Settings
from .db import BaseModel, connection, write_transaction
from .errors import (
                     AlexandrieError,
                     BadRequest,
                     ConfigError,
                     Conflict,
                     Forbidden,
                     NotFound,
                     PayloadTooLarge,
                     StorageUnavailable,
                     Unauthorized,
)
from .events import (
                     ALL_EVENTS,
                     EVENT_NAMES,
                     CrateDeletedEvent,
                     CrateEvent,
                     CrateLimitsChangedEvent,
                     CrateTransferredEvent,
                     Event,
                     GroupMembersChangedEvent,
                     ImportEvent,
                     LoginFailedEvent,
                     OwnersChangedEvent,
                     PasswordChangedEvent,
                     PasswordResetEvent,
                     PublishEvent,
                     ReadAccessChangedEvent,
                     RolesChangedEvent,
                     TokenCreatedEvent,
                     TokenRevokedEvent,
                     UnyankEvent,
                     UserCreatedEvent,
                     UserDisabledEvent,
                     UserEnabledEvent,
                     UserEvent,
                     VersionDeletedEvent,
                     YankEvent,
)
from .files import make_private_folder
from .hookspecs import hookimpl
from .interfaces import BackendSpec, IndexBackend, MachinePath, Storage
from .registry import Registry, get_plugin_config, registry
from .rules.metadata import NewVersion
from .rules.names import canonical_name, index_path
from .services.index_files import config_json as index_config
from .services.index_files import shared_files as shared_index_files
from .services.users import create_user, find_user
from .version import __version__
from .web.identity import current_identity

__all__ = [
    # marking hook implementations, and the per-app state and settings
    "hookimpl", "registry", "Registry", "Settings", "get_plugin_config", "__version__",
    # refusing with a message the user sees
    "AlexandrieError", "BadRequest", "ConfigError", "Conflict", "Forbidden", "NotFound", "PayloadTooLarge",
    "StorageUnavailable", "Unauthorized",
    # what hooks receive
    "Identity", "NewVersion", "current_identity",
    "PUBLISH_NEW", "PUBLISH_UPDATE", "YANK", "CHANGE_OWNERS", "READ", "WRITE_ACTIONS", "TOKEN_SCOPES",
    "Event", "CrateEvent", "UserEvent", "ALL_EVENTS", "EVENT_NAMES",
    "PublishEvent", "YankEvent", "UnyankEvent", "OwnersChangedEvent", "CrateTransferredEvent",
    "VersionDeletedEvent", "CrateDeletedEvent", "ReadAccessChangedEvent", "CrateLimitsChangedEvent",
    "UserCreatedEvent", "UserDisabledEvent",
    "UserEnabledEvent", "RolesChangedEvent", "PasswordResetEvent", "PasswordChangedEvent",
    "GroupMembersChangedEvent", "TokenCreatedEvent", "TokenRevokedEvent", "ImportEvent", "LoginFailedEvent",
    # backends
    "BackendSpec", "Storage", "IndexBackend", "MachinePath", "index_path", "canonical_name", "index_config",
    "shared_index_files",
    # tables, transactions, commands
    "BaseModel", "models", "connection", "write_transaction", "in_app", "create_user", "find_user",
    # files only this user may read
    "make_private_folder",
]
