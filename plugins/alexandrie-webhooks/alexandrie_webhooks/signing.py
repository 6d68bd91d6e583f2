"""Signing deliveries, and the check a receiver runs (importable by receivers written in Python).

``X-Alexandrie-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``.
The timestamp is signed with the body, so a captured request cannot be replayed once it is
older than the receiver's tolerance; each retry is signed afresh with a new timestamp.
"""

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Alexandrie-Signature"
EVENT_HEADER = "X-Alexandrie-Event"
DELIVERY_HEADER = "X-Alexandrie-Delivery"
DEFAULT_TOLERANCE = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


class InvalidSignature(ValueError):
    """The delivery is not from the registry, was altered, or is too old."""


def verify_signature(secret: str, body: bytes, header: str | None, *, tolerance: int = DEFAULT_TOLERANCE,
                     now: float | None = None) -> int:
    """Check a delivery's ``X-Alexandrie-Signature``; returns its timestamp or raises ``InvalidSignature``.

    ``body`` must be the raw request body, byte for byte, before any JSON parsing.
    """
    fields = _fields(header)
    try:
        timestamp = int(fields.get("t", [""])[0])
    except ValueError:
        raise InvalidSignature("the signature header has no t=<timestamp>") from None
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        raise InvalidSignature(f"the signature is {int(now - timestamp)} s old; the tolerance is {tolerance} s")
    expected = signature(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in fields.get("v1", [])):
        raise InvalidSignature("the signature does not match the body and secret")
    return timestamp


def _fields(header: str | None) -> dict[str, list[str]]:
    """``t=1,v1=ab`` to {"t": ["1"], "v1": ["ab"]}; any matching v1 is accepted."""
    fields: dict[str, list[str]] = {}
    for part in (header or "").split(","):
        key, _, value = part.strip().partition("=")
        if key and value:
            fields.setdefault(key, []).append(value)
    return fields
