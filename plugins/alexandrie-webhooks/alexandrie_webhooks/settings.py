"""``[plugins.webhooks]``: endpoints, and the delivery timings, checked once at start-up."""

import re
from dataclasses import dataclass

from alexandrie import EVENT_NAMES, ConfigError

SECTION = "[plugins.webhooks]"
DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Endpoint:
    url: str
    secret: str
    events: tuple[str, ...]

    def wants(self, event_name: str) -> bool:
        return "*" in self.events or event_name in self.events

    def __repr__(self) -> str:  # never show the secret in logs or tracebacks
        return f"Endpoint(url={self.url!r}, events={self.events!r})"


@dataclass(frozen=True)
class WebhookSettings:
    endpoints: tuple[Endpoint, ...] = ()
    timeout: float = 10.0          # seconds to wait for a receiver's answer
    poll_interval: float = 5.0     # how often an idle worker looks for due deliveries
    backoff: float = 30.0          # delay before the first retry; doubles each time
    max_backoff: float = 3600.0    # the delay never grows past this
    max_attempts: int = 12         # give up after this many attempts...
    max_age: float = 86400.0       # ...or once a retry would fall this long after the event
    lease: float = 120.0           # a claimed delivery not settled by then is retried by any instance
    batch: int = 20                # deliveries claimed per round
    worker: bool = True            # false: this instance only queues (another one delivers)

    def endpoint(self, url: str) -> Endpoint | None:
        return next((e for e in self.endpoints if e.url == url), None)


def event_names() -> list[str]:
    """Every event the installed core can fire."""
    return list(EVENT_NAMES)


def parse_duration(value, key: str) -> float:
    """``30``, ``2.5``, ``"500ms"``, ``"30s"``, ``"5m"``, ``"2h"`` or ``"1d"`` to seconds."""
    if isinstance(value, bool):
        raise ConfigError(f'{SECTION} {key} = {value!r}: write seconds, or a duration like "30s", "5m", "1d"')
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*", str(value))
        if not match:
            raise ConfigError(f'{SECTION} {key} = {value!r}: write seconds, or a duration like "30s", "5m", "1d"')
        seconds = float(match.group(1)) * DURATION_UNITS[match.group(2) or "s"]
    if seconds <= 0:
        raise ConfigError(f"{SECTION} {key} = {value!r} must be more than zero")
    return seconds


def load_settings(raw: dict) -> WebhookSettings:
    """Check the table; every mistake is a ``ConfigError`` naming the key and the fix."""
    durations = {key: parse_duration(raw[key], key)
                 for key in ("timeout", "poll_interval", "backoff", "max_backoff", "max_age", "lease") if key in raw}
    counts = {key: _positive_int(raw[key], key) for key in ("max_attempts", "batch") if key in raw}
    worker = raw.get("worker", True)
    if not isinstance(worker, bool):
        raise ConfigError(f"{SECTION} worker = {worker!r}: write true or false")
    unknown = sorted(set(raw) - set(WebhookSettings.__dataclass_fields__))
    if unknown:
        raise ConfigError(f"{SECTION} has unknown keys {', '.join(unknown)}; "
                          f"known: {', '.join(sorted(WebhookSettings.__dataclass_fields__))}")
    settings = WebhookSettings(endpoints=_endpoints(raw.get("endpoints", [])), worker=worker, **durations, **counts)
    if settings.lease <= settings.timeout:
        raise ConfigError(f"{SECTION} lease ({settings.lease:g} s) must be longer than timeout "
                          f"({settings.timeout:g} s), or a slow receiver's delivery is sent twice")
    return settings


def _positive_int(value, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{SECTION} {key} = {value!r}: write a whole number of 1 or more")
    return value


def _endpoints(raw) -> tuple[Endpoint, ...]:
    if not isinstance(raw, list):
        raise ConfigError(f'{SECTION} endpoints must be a list: endpoints = [{{url = "https://...", '
                          f'secret = "...", events = ["publish"]}}]')
    endpoints = tuple(_endpoint(entry, f"endpoints[{i}]") for i, entry in enumerate(raw))
    urls = [e.url for e in endpoints]
    duplicated = sorted({u for u in urls if urls.count(u) > 1})
    if duplicated:
        raise ConfigError(f"{SECTION} lists {', '.join(duplicated)} more than once; "
                          "merge their events into one entry")
    return endpoints


def _endpoint(entry, where: str) -> Endpoint:
    if not isinstance(entry, dict):
        raise ConfigError(f"{SECTION} {where} must be a table with url, secret and events")
    url, secret = entry.get("url"), entry.get("secret")
    if not isinstance(url, str) or not re.fullmatch(r"https?://[^/\s]+(/\S*)?", url):
        raise ConfigError(f"{SECTION} {where}.url = {url!r}: write the receiver's http(s) URL")
    if not isinstance(secret, str) or len(secret) < 16:
        raise ConfigError(f"{SECTION} {where}.secret: write a shared secret of at least 16 characters "
                          "(for example the output of `openssl rand -hex 32`)")
    return Endpoint(url=url, secret=secret, events=_events(entry.get("events", ["*"]), where))


def _events(events, where: str) -> tuple[str, ...]:
    known = event_names()
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        raise ConfigError(f'{SECTION} {where}.events: write a list such as ["publish", "yank"] (or ["*"])')
    unknown = [e for e in events if e != "*" and e not in known]
    if unknown:
        raise ConfigError(f"{SECTION} {where}.events: unknown event {', '.join(unknown)}; "
                          f"use {', '.join(known)} or \"*\"")
    return tuple(dict.fromkeys(events))
