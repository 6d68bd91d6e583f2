"""A change: one write transaction whose events are recorded inside it and told to plugins after it commits.

Like datasette's ``write_wrapper``: events queued during the write are handed to
``alexandrie_event_in_transaction`` (the audit log) just before the commit, so a change cannot commit
without its audit rows, and are discarded if the write raises. Plugins hear of them through
``alexandrie_event`` only once the commit has happened. A change opened inside another joins it.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from ..db import write_transaction
from ..events import Event
from ..registry import registry

log = logging.getLogger(__name__)


class Change:
    """The events of the change in progress."""

    def __init__(self):
        self.events: list[Event] = []

    def record(self, event: Event) -> None:
        self.events.append(event)


@contextmanager
def change() -> Iterator[Change]:
    """``with change() as ch: ...; ch.record(SomeEvent(...))``: write, audit, commit, then notify."""
    state = registry().open_changes
    outer = getattr(state, "change", None)
    if outer is not None:
        yield outer
        return
    current = state.change = Change()
    try:
        with write_transaction():
            yield current
            _record_in_transaction(current)
    finally:
        state.change = None
    for event in current.events:
        fire_event(event)


def record(event: Event) -> None:
    """A change that is only its event (a failed sign-in): audited, then told to plugins."""
    with change() as current:
        current.record(event)


def _record_in_transaction(current: Change) -> None:
    hook = registry().pm.hook.alexandrie_event_in_transaction
    for event in current.events:
        hook(event=event)


def fire_event(event: Event) -> None:
    """Call every ``alexandrie_event`` implementation; log (never raise) what they throw."""
    for impl in reversed(registry().pm.hook.alexandrie_event.get_hookimpls()):
        try:
            impl.function(event=event)
        except Exception:
            log.exception("plugin %s failed handling the %s event%s", plugin_label(impl), event.name,
                          f" for {event.crate}" if hasattr(event, "crate") else "")


def plugin_label(impl) -> str:
    """The registered name, or the class of a plugin object registered without one (named by its id)."""
    name = impl.plugin_name
    return f"{name} ({type(impl.plugin).__name__})" if name.isdigit() else name
