"""Queue, claim and settle deliveries. Safe with several registry instances on one database:
a delivery is claimed with a compare-and-set UPDATE, so exactly one worker sends each attempt."""

import json
import logging
import uuid
from dataclasses import dataclass

from alexandrie import write_transaction

from .models import DELIVERED, DELIVERING, FAILED, PENDING, WebhookDelivery, later, now
from .settings import Endpoint, WebhookSettings

log = logging.getLogger(__name__)


def payload(delivery_id: str, event_name: str, data: dict, registry_url: str) -> str:
    """The JSON body: ``id`` (= X-Alexandrie-Delivery), ``event``, ``registry``, ``data`` (the event)."""
    return json.dumps({"id": delivery_id, "event": event_name, "registry": registry_url, "data": data},
                      separators=(",", ":"), sort_keys=True)


def enqueue(settings: WebhookSettings, event_name: str, data: dict, registry_url: str) -> list[WebhookDelivery]:
    """One pending row per endpoint that subscribes to ``event_name``, in one transaction."""
    wanted = [e for e in settings.endpoints if e.wants(event_name)]
    if not wanted:
        return []
    created = now()
    with write_transaction():
        return [_queue_one(endpoint, event_name, data, registry_url, created, settings) for endpoint in wanted]


def _queue_one(endpoint: Endpoint, event_name: str, data: dict, registry_url: str, created, settings):
    delivery_id = str(uuid.uuid4())
    return WebhookDelivery.create(
        delivery_id=delivery_id, endpoint_url=endpoint.url, event=event_name,
        payload=payload(delivery_id, event_name, data, registry_url), status=PENDING, created_at=created,
        expires_at=later(settings.max_age, created), next_attempt_at=created)


@dataclass(frozen=True)
class Claim:
    """A delivery this worker holds; ``attempt`` is its number (1 for the first)."""

    row_id: int
    attempt: int


def claim_due(settings: WebhookSettings, limit: int | None = None) -> list[Claim]:
    """Claim up to ``limit`` deliveries that are due, or whose worker's lease ran out (it crashed)."""
    moment = now()
    due = (WebhookDelivery.select(WebhookDelivery.id, WebhookDelivery.status, WebhookDelivery.attempts)
           .where(((WebhookDelivery.status == PENDING) & (WebhookDelivery.next_attempt_at <= moment))
                  | ((WebhookDelivery.status == DELIVERING) & (WebhookDelivery.claimed_until < moment)))
           .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
           .limit(limit or settings.batch).tuples())
    claims = []
    for row_id, status, attempts in list(due):
        if _compare_and_set_claim(row_id, status, attempts, settings.lease):
            claims.append(Claim(row_id, attempts + 1))
    return claims


def _compare_and_set_claim(row_id: int, status: str, attempts: int, lease: float) -> bool:
    """Only the worker whose UPDATE still sees the row as it read it wins (``attempts`` changes on every claim)."""
    moment = now()
    changed = (WebhookDelivery
               .update(status=DELIVERING, attempts=attempts + 1, claimed_until=later(lease, moment),
                       last_attempt_at=moment)
               .where((WebhookDelivery.id == row_id) & (WebhookDelivery.status == status)
                      & (WebhookDelivery.attempts == attempts))
               .execute())
    return changed == 1


def record_success(claim: Claim, http_status: int) -> bool:
    return _settle(claim, status=DELIVERED, delivered_at=now(), last_status=http_status, last_error=None)


def record_failure(claim: Claim, settings: WebhookSettings, http_status: int | None, error: str) -> str:
    """Schedule the next try with a doubling delay, or give up (``failed``) past either bound."""
    row = WebhookDelivery.get_by_id(claim.row_id)
    delay = min(settings.backoff * 2 ** (claim.attempt - 1), settings.max_backoff)
    retry_at = later(delay)
    if claim.attempt >= settings.max_attempts or retry_at > row.expires_at:
        why = (f"{claim.attempt} attempts" if claim.attempt >= settings.max_attempts
               else f"{(now() - row.created_at).total_seconds():.0f} s since the event")
        _settle(claim, status=FAILED, last_status=http_status, last_error=f"gave up after {why}: {error}")
        log.warning("webhook delivery %s to %s given up after %d attempts: %s",
                    row.delivery_id, row.endpoint_url, claim.attempt, error)
        return FAILED
    _settle(claim, status=PENDING, next_attempt_at=retry_at, last_status=http_status, last_error=error)
    return PENDING


def _settle(claim: Claim, **values) -> bool:
    """Write the outcome, unless the lease ran out and another worker has claimed the row since."""
    changed = (WebhookDelivery.update(claimed_until=None, **values)
               .where((WebhookDelivery.id == claim.row_id) & (WebhookDelivery.status == DELIVERING)
                      & (WebhookDelivery.attempts == claim.attempt))
               .execute())
    return changed == 1


def requeue(delivery_ids: list[str], settings: WebhookSettings) -> int:
    """Give failed deliveries a fresh set of attempts and a fresh ``max_age``, starting now."""
    moment = now()
    return (WebhookDelivery
            .update(status=PENDING, attempts=0, next_attempt_at=moment, expires_at=later(settings.max_age, moment))
            .where(WebhookDelivery.delivery_id.in_(delivery_ids) & (WebhookDelivery.status == FAILED))
            .execute())
