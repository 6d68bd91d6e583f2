"""The audit log: who did what, with which token, when and from where. Append-only.

Committed crate changes arrive through ``alexandrie_event`` (this module is a built-in
plugin); token, role, deletion and sign-in events are recorded directly with ``record``.
"""

import json
from collections.abc import Iterator

from flask import g, has_request_context, request

from . import hookimpl
from .models import AuditEvent, utcnow

ACTIONS = ("publish", "yank", "unyank", "owners_changed", "token-create", "token-revoke", "role-change",
           "user-create", "user-disable", "user-enable", "password-reset", "crate-delete", "version-delete",
           "ownership-transfer", "read-access", "login-failed")


def record(action: str, *, actor: str | None = None, crate: str | None = None, version: str | None = None,
           details: dict | None = None) -> AuditEvent:
    """Append one event; inside a request, the token used and the client address are added."""
    identity = g.get("alexandrie_identity") if has_request_context() else None
    if actor is None and identity is not None:
        actor = identity.login
    token = identity.token.id if identity is not None and identity.token is not None else None
    return AuditEvent.create(created_at=utcnow(), action=action, actor=actor, token_id=token, ip=_client_address(),
                             crate=crate, version=version, details=details or None)


def _client_address() -> str | None:
    return request.remote_addr if has_request_context() else None


@hookimpl
def alexandrie_event(event):
    details = {k: v for k, v in event.properties().items()
               if k not in ("event", "crate", "actor", "version", "created")}
    record(event.name, actor=event.actor, crate=event.crate, version=getattr(event, "version", None),
           details={k: list(v) if isinstance(v, tuple) else v for k, v in details.items()})


def as_dict(row: AuditEvent) -> dict:
    return {"id": row.id, "at": row.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"), "action": row.action,
            "actor": row.actor, "token": row.token_id, "ip": row.ip, "crate": row.crate,
            "version": row.version, "details": row.details}


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
