"""waitress, set up for cargo: keep-alive connections survive 304 responses, and waitress's own
refusals (a body over the upload limit, a malformed request) reach cargo as ``{"errors": [...]}``.

waitress 3.0 closes an HTTP/1.1 connection after every response without ``Content-Length``,
including 304 and 204, although those never have a body, so their length is already known
(RFC 9112, section 6.3). Over plain http cargo revalidates every cached index file with
``If-None-Match`` one after another on a single connection, so each 304 would cost it a
reconnect. These classes keep the connection open in that case and change nothing else.
"""

import json

import waitress
from waitress.channel import HTTPChannel
from waitress.task import ErrorTask, WSGITask

from ..registry import registry
from ..rules.upload import max_upload_size


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


class CargoErrorTask(ErrorTask):
    """waitress's refusals in the body shape cargo prints: ``{"errors": [{"detail": ...}]}``."""

    def execute(self):
        error = self.request.error
        if error.code == 413:
            detail = (f"the upload is over this registry's limit of {self.channel.server.adj.max_request_body_size} "
                      "bytes: a crate of at most [general] max_crate_size plus its metadata")
        else:
            detail = f"{error.reason}: {error.body}"
        body = json.dumps({"errors": [{"detail": detail}]}).encode()
        self.status = f"{error.code} {error.reason}"
        self.response_headers.append(("Content-Type", "application/json"))
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class KeepAliveChannel(HTTPChannel):
    task_class = KeepAliveTask
    error_task_class = CargoErrorTask


def create_server(app, **options):
    """``waitress.create_server`` with connections kept alive across 304s and, unless told otherwise,
    request bodies capped at the largest publish the registry accepts: waitress buffers a whole body
    before the application sees it, so without the cap anyone could make it buffer a gigabyte."""
    general = registry(app).settings.general
    options.setdefault("max_request_body_size", max_upload_size(general.max_crate_size, general.max_metadata_size))
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
