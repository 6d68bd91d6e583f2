"""The audit log: one append-only row per event (written inside the change's transaction), read back
by the admin pages and ``alexandrie audit export``."""

import json
from collections.abc import Iterator

from ..events import EVENT_NAMES, Event
from ..models import AuditEvent, utcnow
from ..registry import registry

ACTIONS = EVENT_NAMES
COLUMNS = ("event", "actor", "created", "crate", "version")  # properties with a column of their own


def write(event: Event) -> AuditEvent:
    """The event's row; inside a request, the token used and the client address are added."""
    origin = registry().request_origin()
    details = {key: value for key, value in event.properties().items() if key not in COLUMNS}
    return AuditEvent.create(created_at=utcnow(), action=event.name, actor=event.actor,
                             token_id=origin.token_id if origin else None, ip=origin.address if origin else None,
                             crate=getattr(event, "crate", None), version=getattr(event, "version", None),
                             details=details or None)


def as_dict(row: AuditEvent) -> dict:
    return {"id": row.id, "at": row.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"), "action": row.action,
            "actor": row.actor, "token": row.token_id, "ip": row.ip, "crate": row.crate,
            "version": row.version, "details": row.details}


def known_actions() -> list[str]:
    """Every action the log can hold: the core's events, and any a plugin has written to it."""
    written = {row.action for row in AuditEvent.select(AuditEvent.action).distinct()}
    return sorted(set(ACTIONS) | written)


def events(action: str | None = None, actor: str | None = None, crate: str | None = None,
           newest_first: bool = False):
    query = AuditEvent.select()
    if action:
        query = query.where(AuditEvent.action == action)
    if actor:
        query = query.where(AuditEvent.actor == actor)
    if crate:
        query = query.where(AuditEvent.crate == crate)
    return query.order_by(AuditEvent.id.desc() if newest_first else AuditEvent.id)


def export_lines(**filters) -> Iterator[str]:
    """Every matching event as one JSON line, oldest first."""
    for row in events(**filters).iterator():
        yield json.dumps(as_dict(row), separators=(",", ":"), sort_keys=True)
