"""waitress, set up for cargo: keep-alive connections survive 304 responses.

waitress 3.0 closes an HTTP/1.1 connection after every response without ``Content-Length``,
including 304 and 204, although those never have a body, so their length is already known
(RFC 9112, section 6.3). Over plain http cargo revalidates every cached index file with
``If-None-Match`` one after another on a single connection, so each 304 would cost it a
reconnect. These classes keep the connection open in that case and change nothing else.
"""

import waitress
from waitress.channel import HTTPChannel
from waitress.task import WSGITask


class KeepAliveTask(WSGITask):
    """A ``WSGITask`` that does not close the connection just because a 1xx/204/304 has no length."""

    _bodiless_keep_alive = False

    def build_response_header(self):
        self._bodiless_keep_alive = (
            not self.has_body and self.version == "1.1" and not self.close_on_finish
            and self.request.headers.get("CONNECTION", "").lower() != "close")
        try:
            return super().build_response_header()
        finally:
            self._bodiless_keep_alive = False

    def set_close_on_finish(self) -> None:
        # While building a bodiless response's header, the only caller left is the missing-length rule.
        if not self._bodiless_keep_alive:
            super().set_close_on_finish()


class KeepAliveChannel(HTTPChannel):
    task_class = KeepAliveTask


def create_server(app, **options):
    """``waitress.create_server`` with connections kept alive across 304s (and any other options)."""
    server = waitress.create_server(app, **options)
    for each in [server, *getattr(server, "map", {}).values()]:
        if hasattr(each, "channel_class"):
            each.channel_class = KeepAliveChannel
    return server


def serve(app, **options) -> None:
    """Like ``waitress.serve``: log the addresses, then serve until interrupted."""
    server = create_server(app, **options)
    server.print_listen("Serving on http://{}:{}")
    server.run()
