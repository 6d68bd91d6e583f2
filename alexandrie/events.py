"""One event class per kind of state change. Each is recorded inside the change's transaction
(``alexandrie_event_in_transaction``: the audit log) and handed to plugins after it commits
(``alexandrie_event``)."""

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base class: ``name`` identifies the kind (and is the audit log's action), ``actor`` the login
    that caused it (``cli`` for the command line)."""

    actor: str | None
    created: datetime = field(default_factory=_now)

    name = "event"

    def properties(self) -> dict:
        """The event as plain JSON-serialisable data."""
        data = {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()}
        data["created"] = self.created.strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"event": self.name, **data}


# --- Crates ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CrateEvent(Event):
    """A change to one crate."""

    crate: str


@dataclass(frozen=True, kw_only=True)
class PublishEvent(CrateEvent):
    version: str
    cksum: str
    new_crate: bool = False

    name = "publish"


@dataclass(frozen=True, kw_only=True)
class YankEvent(CrateEvent):
    version: str

    name = "yank"


@dataclass(frozen=True, kw_only=True)
class UnyankEvent(CrateEvent):
    version: str

    name = "unyank"


@dataclass(frozen=True, kw_only=True)
class OwnersChangedEvent(CrateEvent):
    """Owners added or removed: users by login, groups (``group:NAME`` to cargo) by name."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    added_groups: tuple[str, ...] = ()
    removed_groups: tuple[str, ...] = ()

    name = "owners_changed"


@dataclass(frozen=True, kw_only=True)
class CrateTransferredEvent(CrateEvent):
    """An administrator made ``owner`` the crate's only owner (``previous_owners`` lists groups as ``group:NAME``)."""

    previous_owners: tuple[str, ...]
    owner: str

    name = "ownership-transfer"


@dataclass(frozen=True, kw_only=True)
class VersionDeletedEvent(CrateEvent):
    version: str

    name = "version-delete"


@dataclass(frozen=True, kw_only=True)
class CrateDeletedEvent(CrateEvent):
    versions: tuple[str, ...]

    name = "crate-delete"


@dataclass(frozen=True, kw_only=True)
class ReadAccessChangedEvent(CrateEvent):
    """Who may read the crate changed: restricted or opened, readers added or removed."""

    restricted: bool
    readers: tuple[str, ...] = ()

    name = "read-access"


@dataclass(frozen=True, kw_only=True)
class CrateLimitsChangedEvent(CrateEvent):
    """An administrator set the crate's own publish limits (``limits``: setting -> value; none left: defaults)."""

    limits: dict[str, int]

    name = "crate-limits"


# --- Users, groups and tokens -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class UserEvent(Event):
    """A change to one account."""

    user: str


@dataclass(frozen=True, kw_only=True)
class UserCreatedEvent(UserEvent):
    """An account was created, by any route (command line, registration, an identity plugin)."""

    is_admin: bool = False
    is_read_only: bool = False

    name = "user-create"


@dataclass(frozen=True, kw_only=True)
class UserDisabledEvent(UserEvent):
    name = "user-disable"


@dataclass(frozen=True, kw_only=True)
class UserEnabledEvent(UserEvent):
    name = "user-enable"


@dataclass(frozen=True, kw_only=True)
class RolesChangedEvent(UserEvent):
    """The roles that changed; a role left as None did not."""

    is_admin: bool | None = None
    is_read_only: bool | None = None

    name = "role-change"

    def properties(self) -> dict:
        return {key: value for key, value in super().properties().items() if value is not None}


@dataclass(frozen=True, kw_only=True)
class PasswordResetEvent(UserEvent):
    """An administrator set the user's password."""

    name = "password-reset"


@dataclass(frozen=True, kw_only=True)
class PasswordChangedEvent(UserEvent):
    """The user changed their own password."""

    name = "password-change"


@dataclass(frozen=True, kw_only=True)
class GroupMembersChangedEvent(Event):
    """Users joined or left a group (a role: groups read restricted crates, and publish and yank the crates
    they own, ``owned_crates``, whose publishers changed with the members)."""

    group: str
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    owned_crates: tuple[str, ...] = ()

    name = "role-change"


@dataclass(frozen=True, kw_only=True)
class TokenCreatedEvent(Event):
    token: int
    owner: str
    label: str
    scopes: tuple[str, ...] | None = None
    crates: tuple[str, ...] | None = None
    expires_at: str | None = None

    name = "token-create"


@dataclass(frozen=True, kw_only=True)
class TokenRevokedEvent(Event):
    token: int
    owner: str
    label: str

    name = "token-revoke"


@dataclass(frozen=True, kw_only=True)
class ImportEvent(Event):
    """One run of ``alexandrie import`` (``source``: ``files`` or ``index``) that stored versions: one event for
    the whole run, so a migration of 100,000 versions writes one audit row and sends one webhook, not 100,000.
    ``versions`` maps each crate to the versions imported; ``skipped`` were already present, ``failed`` not
    imported (the command's output says why); ``owner`` was given the new crates."""

    source: str
    versions: dict[str, list[str]]
    skipped: int = 0
    failed: int = 0
    owner: str | None = None

    name = "import"


@dataclass(frozen=True, kw_only=True)
class LoginFailedEvent(Event):
    """A browser sign-in was refused; ``actor`` is the login that was tried."""

    name = "login-failed"


ALL_EVENTS = (PublishEvent, YankEvent, UnyankEvent, OwnersChangedEvent, CrateTransferredEvent, VersionDeletedEvent,
              CrateDeletedEvent, ReadAccessChangedEvent, CrateLimitsChangedEvent, UserCreatedEvent,
              UserDisabledEvent, UserEnabledEvent, RolesChangedEvent, PasswordResetEvent, PasswordChangedEvent,
              GroupMembersChangedEvent, TokenCreatedEvent, TokenRevokedEvent, ImportEvent, LoginFailedEvent)
EVENT_NAMES = tuple(sorted({event.name for event in ALL_EVENTS}))
