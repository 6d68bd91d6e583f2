"""An append-only JSON-lines feed of what happens on an Alexandrie registry.

Configured in ``[plugins.activity-feed]``::

    path = "data/activity.jsonl"        # relative to alexandrie.toml; required to switch the feed on
    events = ["publish", "yank"]        # absent: every change to a crate

One line per committed crate event (``{"event": "publish", "crate": ..., "version": ..., "actor": ...,
"created": ...}``); account and token events stay out unless ``events`` names them. The registry also
shows the latest ones at ``/-/activity`` and ``alexandrie activity tail`` prints them.
"""

import json
import os
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import click
from flask import Blueprint, current_app, jsonify, render_template, request

from alexandrie import ConfigError, CrateEvent, get_plugin_config, hookimpl, in_app, registry

NAME = "activity-feed"


@dataclass
class Feed:
    path: Path
    events: frozenset[str] | None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def append(self, record: dict) -> None:
        """One ``write`` of one whole line on an O_APPEND file: lines from several threads or
        processes never interleave, and nothing already written is ever rewritten."""
        line = (json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n").encode("utf-8")
        with self.lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)

    def latest(self, count: int) -> list[dict]:
        if not self.path.exists():
            return []
        with open(self.path, encoding="utf-8") as lines:
            return [json.loads(line) for line in deque(lines, maxlen=count)]


def load_feed(settings: dict, base_dir: str) -> Feed | None:
    if "path" not in settings:
        return None
    if not isinstance(settings["path"], str) or not settings["path"]:
        raise ConfigError(f'[plugins.{NAME}] path: write the feed file, like path = "data/activity.jsonl"')
    events = settings.get("events")
    if events is not None and (not isinstance(events, list) or not all(isinstance(e, str) for e in events)):
        raise ConfigError(f'[plugins.{NAME}] events: write a list of event names, like ["publish", "yank"]')
    path = Path(base_dir) / Path(settings["path"]).expanduser()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"[plugins.{NAME}] path: cannot create {path.parent}: {exc}") from exc
    return Feed(path, frozenset(events) if events is not None else None)


def feed_of(app) -> Feed | None:
    return app.extensions.get(NAME)


@hookimpl
def alexandrie_startup(app):
    app.extensions[NAME] = load_feed(get_plugin_config(NAME, app), registry(app).settings.base_dir)


@hookimpl
def alexandrie_event(event):
    feed = feed_of(current_app)
    if feed is None:
        return
    wanted = event.name in feed.events if feed.events is not None else isinstance(event, CrateEvent)
    if wanted:
        feed.append(event.properties())


bp = Blueprint("activity_feed", __name__, url_prefix="/-/activity",
               template_folder=str(Path(__file__).parent / "templates"))


@bp.get("/")
def recent():
    """The latest events, newest first (JSON for ``Accept: application/json``)."""
    feed = feed_of(current_app)
    entries = list(reversed(feed.latest(50))) if feed else []
    if request.accept_mimetypes.best == "application/json":
        return jsonify({"events": entries})
    return render_template("activity_feed/recent.html", entries=entries)


@hookimpl
def alexandrie_blueprints(app):
    return [bp]


@click.group()
def activity():
    """The activity feed ([plugins.activity-feed])."""


@activity.command("tail")
@click.option("-n", "count", default=10, show_default=True, help="How many events.")
@in_app
def tail(count):
    """Print the last events, oldest first, one JSON object per line."""
    feed = feed_of(current_app)
    if feed is None:
        raise click.ClickException(f'the feed is off: set path = "..." in [plugins.{NAME}]')
    for entry in feed.latest(count):
        click.echo(json.dumps(entry, sort_keys=True))


@hookimpl
def alexandrie_commands():
    return [activity]
