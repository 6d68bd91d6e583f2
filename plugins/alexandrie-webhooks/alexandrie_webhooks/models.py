"""The delivery queue: one row per (event, endpoint), kept after delivery as its history."""

from datetime import UTC, datetime, timedelta

import peewee

from alexandrie import BaseModel

PENDING, DELIVERING, DELIVERED, FAILED = "pending", "delivering", "delivered", "failed"
STATUSES = (PENDING, DELIVERING, DELIVERED, FAILED)


def now() -> datetime:
    """Naive UTC, as stored; sub-second, because retry delays can be that short."""
    return datetime.now(UTC).replace(tzinfo=None)


def later(seconds: float, start: datetime | None = None) -> datetime:
    return (start or now()) + timedelta(seconds=seconds)


class MomentField(peewee.DateTimeField):
    """Microsecond precision on every database (MySQL's plain DATETIME rounds to whole seconds)."""

    def get_modifiers(self):
        return [6]


class WebhookDelivery(BaseModel):
    """``pending`` (waiting for ``next_attempt_at``), ``delivering`` (claimed by a worker until
    ``claimed_until``), then ``delivered`` or ``failed`` (given up: too many attempts or too old)."""

    delivery_id = peewee.CharField(max_length=36, unique=True)  # X-Alexandrie-Delivery, the same on every retry
    endpoint_url = peewee.CharField(max_length=2048)
    event = peewee.CharField(max_length=64)
    payload = peewee.TextField()  # the exact JSON body sent
    status = peewee.CharField(max_length=16, default=PENDING, index=True)
    attempts = peewee.IntegerField(default=0)
    created_at = MomentField()
    expires_at = MomentField()  # no retry is scheduled after this
    next_attempt_at = MomentField(index=True)
    claimed_until = MomentField(null=True)
    last_attempt_at = MomentField(null=True)
    last_status = peewee.IntegerField(null=True)  # the receiver's HTTP status, None when it was unreachable
    last_error = peewee.TextField(null=True)
    delivered_at = MomentField(null=True)

    class Meta:
        table_name = "webhook_delivery"
