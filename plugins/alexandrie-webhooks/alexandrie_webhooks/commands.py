"""``alexandrie webhooks list | deliveries | test | retry``."""

import json
import sys
import uuid

import click
import peewee
from flask import current_app

from alexandrie import in_app

from . import queue
from .delivery import post
from .models import STATUSES, WebhookDelivery, now
from .state import webhooks_of


def _state():
    return webhooks_of(current_app)


def _when(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


@click.group()
def webhooks():
    """Webhook endpoints and deliveries ([plugins.webhooks])."""


@webhooks.command("list")
@in_app
def list_endpoints():
    """The configured endpoints, their events and delivery counts."""
    settings = _state().settings
    if not settings.endpoints:
        click.echo("no endpoints: add [[plugins.webhooks.endpoints]] with url, secret and events to the config")
        return
    counts = {(url, status): n for url, status, n in
              WebhookDelivery.select(WebhookDelivery.endpoint_url, WebhookDelivery.status,
                                     peewee.fn.COUNT(WebhookDelivery.id))
              .group_by(WebhookDelivery.endpoint_url, WebhookDelivery.status).tuples()}
    for endpoint in settings.endpoints:
        click.echo(endpoint.url)
        click.echo(f"    events: {', '.join(endpoint.events)}   secret: set ({len(endpoint.secret)} characters)")
        click.echo("    " + "   ".join(f"{status}: {counts.get((endpoint.url, status), 0)}" for status in STATUSES))
        last = (WebhookDelivery.select().where(WebhookDelivery.endpoint_url == endpoint.url)
                .where(WebhookDelivery.last_attempt_at.is_null(False))
                .order_by(WebhookDelivery.last_attempt_at.desc()).first())
        if last is not None:
            click.echo(f"    last attempt: {_when(last.last_attempt_at)} {last.event} -> {_result(last)}")


def _result(row: WebhookDelivery) -> str:
    if row.status == "delivered":
        return f"delivered (HTTP {row.last_status})"
    return f"{row.status}: {row.last_error or '-'}"


@webhooks.command("deliveries")
@click.option("--status", type=click.Choice(STATUSES), help="Only deliveries in this state.")
@click.option("--event", help="Only this event (publish, yank, ...).")
@click.option("--limit", default=20, show_default=True, help="How many, newest first.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@in_app
def deliveries(status, event, limit, as_json):
    """Recent deliveries: state, attempts, last answer and next attempt."""
    query = WebhookDelivery.select().order_by(WebhookDelivery.id.desc()).limit(limit)
    if status:
        query = query.where(WebhookDelivery.status == status)
    if event:
        query = query.where(WebhookDelivery.event == event)
    rows = list(query)
    if as_json:
        for row in rows:
            click.echo(json.dumps(_as_dict(row), sort_keys=True))
        return
    if not rows:
        click.echo("no deliveries")
    for row in rows:
        click.echo(f"{row.delivery_id}  {_when(row.created_at)}  {row.event}  {row.endpoint_url}")
        line = f"    {row.status}, {row.attempts} attempt{'s' if row.attempts != 1 else ''}"
        if row.last_attempt_at:
            line += f", last {_when(row.last_attempt_at)}: {row.last_error or f'HTTP {row.last_status}'}"
        if row.status == "pending":
            line += f", next {_when(row.next_attempt_at)}"
        click.echo(line)


def _as_dict(row: WebhookDelivery) -> dict:
    return {"delivery": row.delivery_id, "event": row.event, "endpoint": row.endpoint_url, "status": row.status,
            "attempts": row.attempts, "created": _when(row.created_at), "last_attempt": _when(row.last_attempt_at),
            "last_status": row.last_status, "last_error": row.last_error,
            "next_attempt": _when(row.next_attempt_at) if row.status == "pending" else None,
            "delivered": _when(row.delivered_at) if row.delivered_at else None}


@webhooks.command("test")
@click.option("--url", help="Only the endpoint with this URL (default: every endpoint).")
@in_app
def test(url):
    """Send a signed `ping` to the endpoints now and show each answer (nothing is queued)."""
    state = _state()
    endpoints = [e for e in state.settings.endpoints if url in (None, e.url)]
    if not endpoints:
        raise click.ClickException(f"no endpoint {url} in [plugins.webhooks]" if url else
                                   "no endpoints configured in [plugins.webhooks]")
    failures = 0
    for endpoint in endpoints:
        delivery_id = str(uuid.uuid4())
        body = queue.payload(delivery_id, "ping", {"message": "a test from `alexandrie webhooks test`",
                                                   "created": _when(now())}, state.registry_url)
        outcome = post(endpoint, "ping", delivery_id, body.encode(), state.settings.timeout)
        click.echo(f"{endpoint.url}: {'ok' if outcome.ok else 'FAILED'} ({outcome.describe()})")
        failures += not outcome.ok
    if failures:
        sys.exit(1)


@webhooks.command("retry")
@click.argument("delivery_ids", nargs=-1, required=True)
@in_app
def retry(delivery_ids):
    """Queue failed deliveries again (ids from `alexandrie webhooks deliveries --status failed`)."""
    count = queue.requeue(list(delivery_ids), _state().settings)
    click.echo(f"queued {count} failed deliver{'y' if count == 1 else 'ies'} again")
    if count < len(delivery_ids):
        raise click.ClickException(f"{len(delivery_ids) - count} of the ids are unknown or not failed")
