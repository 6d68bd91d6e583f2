"""Sending one signed POST, and the worker thread that drains the queue."""

import logging
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, replace

from alexandrie import __version__ as core_version
from alexandrie import connection

from . import queue
from .models import WebhookDelivery
from .settings import Endpoint, WebhookSettings
from .signing import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, signature_header

log = logging.getLogger(__name__)

USER_AGENT = f"alexandrie-webhooks/0.1 (alexandrie {core_version})"


@dataclass(frozen=True)
class Outcome:
    ok: bool
    http_status: int | None
    error: str | None = None

    def describe(self) -> str:
        if self.ok:
            return f"HTTP {self.http_status}"
        return self.error or f"HTTP {self.http_status}"


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect would turn the POST into a GET without the body; report it as a failure instead."""

    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def post(endpoint: Endpoint, event_name: str, delivery_id: str, body: bytes, timeout: float) -> Outcome:
    """POST ``body`` signed with the endpoint's secret; any 2xx is success."""
    request = urllib.request.Request(endpoint.url, data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": USER_AGENT, EVENT_HEADER: event_name,
        DELIVERY_HEADER: delivery_id, SIGNATURE_HEADER: signature_header(endpoint.secret, body)})
    try:
        with _opener.open(request, timeout=timeout) as response:
            return Outcome(200 <= response.status < 300, response.status)
    except urllib.error.HTTPError as exc:
        return Outcome(False, exc.code, f"HTTP {exc.code} {_excerpt(exc)}".strip())
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return Outcome(False, None, f"could not reach {endpoint.url}: {reason}")


def _excerpt(exc: urllib.error.HTTPError) -> str:
    try:
        text = exc.read(200).decode("utf-8", "replace").strip()
    except Exception:
        return ""
    return text.splitlines()[0][:120] if text else ""


def deliver_due(settings: WebhookSettings) -> int:
    """Send up to ``batch`` due deliveries; returns how many. Call in an app context.

    Each is claimed just before it is sent, so a lease only has to outlast one request."""
    sent = 0
    while sent < settings.batch:
        claims = queue.claim_due(settings, limit=1)
        if not claims:
            break
        deliver_claimed(claims[0], settings)
        sent += 1
    return sent


def deliver_claimed(claim: queue.Claim, settings: WebhookSettings) -> None:
    row = WebhookDelivery.get_by_id(claim.row_id)
    endpoint = settings.endpoint(row.endpoint_url)
    if endpoint is None:
        queue.record_failure(claim, replace(settings, max_attempts=1), None,
                             f"{row.endpoint_url} is no longer configured in [plugins.webhooks]")
        return
    outcome = post(endpoint, row.event, row.delivery_id, row.payload.encode("utf-8"), settings.timeout)
    if outcome.ok:
        queue.record_success(claim, outcome.http_status)
        log.info("webhook %s %s delivered to %s (attempt %d)", row.event, row.delivery_id, row.endpoint_url,
                 claim.attempt)
    else:
        queue.record_failure(claim, settings, outcome.http_status, outcome.describe())


class DeliveryWorker:
    """A daemon thread that delivers due rows, woken at once by new events and otherwise every
    ``poll_interval``. Each registry instance runs one; they share the queue safely."""

    def __init__(self, app, settings: WebhookSettings):
        self.app, self.settings = app, settings
        self._wake, self._stopping = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._run, name="alexandrie-webhooks", daemon=True)

    def start(self) -> "DeliveryWorker":
        self._thread.start()
        return self

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 30) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            claimed = self._round()
            if claimed < self.settings.batch:
                self._wake.wait(self.settings.poll_interval)

    def _round(self) -> int:
        try:
            with self.app.app_context(), connection():
                return deliver_due(self.settings)
        except Exception:
            # The database may be restarting: the rows are safe, try again next round.
            log.exception("webhook delivery round failed; retrying in %s s", self.settings.poll_interval)
            return 0
