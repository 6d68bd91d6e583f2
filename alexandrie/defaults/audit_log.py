"""Built-in (essential): every change writes its audit row in its own transaction."""

from ..hookspecs import hookimpl
from ..services import audit


@hookimpl
def alexandrie_event_in_transaction(event):
    audit.write(event)
