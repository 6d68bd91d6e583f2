"""Events handed to ``alexandrie_event`` once the change they describe is committed."""

from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Event:
    """Base class: ``name`` identifies the kind, ``actor`` is the login that caused it."""

    crate: str
    actor: str | None
    created: datetime = field(default_factory=_now, kw_only=True)

    name = "event"

    def properties(self) -> dict:
        """The event as plain JSON-serialisable data."""
        data = asdict(self)
        data["created"] = self.created.strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"event": self.name, **data}


@dataclass(frozen=True)
class PublishEvent(Event):
    version: str
    cksum: str
    new_crate: bool = False

    name = "publish"


@dataclass(frozen=True)
class YankEvent(Event):
    version: str

    name = "yank"


@dataclass(frozen=True)
class UnyankEvent(Event):
    version: str

    name = "unyank"


@dataclass(frozen=True)
class OwnersChangedEvent(Event):
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

    name = "owners_changed"
