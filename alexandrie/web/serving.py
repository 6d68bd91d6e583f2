"""waitress, set up for cargo: keep-alive connections survive 304 responses, waitress's own
refusals (a body over the upload limit, a malformed request) reach cargo as ``{"errors": [...]}``,
and slow clients cannot take every connection.

waitress 3.0 closes an HTTP/1.1 connection after every response without ``Content-Length``,
including 304 and 204, although those never have a body, so their length is already known
(RFC 9112, section 6.3). Over plain http cargo revalidates every cached index file with
``If-None-Match`` one after another on a single connection, so each 304 would cost it a
reconnect. These classes keep the connection open in that case and change nothing else.

waitress's own guard against idle clients, ``channel_timeout``, counts from the last byte received,
so a client that sends one header byte every few seconds holds its connection for ever, and about
a hundred of them (``connection_limit``) locked everyone out. Here a client has ``[general]
header_timeout`` seconds, counted from when it connected or was last sent something, to complete
its request headers, whatever it trickles; and one client address (an IPv6 one by its /64) holds
at most ``max_connections_per_client`` connections, so it cannot take all ``connection_limit``.
Cargo opens at most two connections per host at a time over HTTP/1.1 and sends each request whole.
"""

import collections
import errno
import json
import logging
import socket
import time

import waitress
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.task import ErrorTask, WSGITask

from ..errors import ConfigError
from ..registry import registry
from ..rules.addresses import address_group
from ..rules.upload import max_upload_size
from .caching import NOSNIFF

log = logging.getLogger(__name__)
REPORT_EVERY = 60.0  # seconds between two warnings about the same refused address


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
        self.response_headers.extend([("Content-Type", "application/json"), NOSNIFF])
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class KeepAliveChannel(HTTPChannel):
    task_class = KeepAliveTask
    error_task_class = CargoErrorTask


class ClientGuard:
    """One server's limits on slow clients, and how many connections each client address holds."""

    def __init__(self, header_timeout: int, per_client: int):
        self.header_timeout, self.per_client = header_timeout, per_client
        self.connections: collections.Counter = collections.Counter()
        self.reported: dict[str, float] = {}  # when each refused address was last logged: once a minute at most

    def admit(self, client: str | None) -> bool:
        """Count one more connection for ``client`` (None: a Unix socket, never capped), or refuse it."""
        if client is None:
            return True
        if self.connections[client] >= self.per_client:
            self._report(client)
            return False
        self.connections[client] += 1
        return True

    def release(self, client: str | None) -> None:
        if client is None:
            return
        self.connections[client] -= 1
        if self.connections[client] <= 0:
            del self.connections[client]

    def _report(self, client: str) -> None:
        now = time.monotonic()
        if now - self.reported.get(client, -REPORT_EVERY) < REPORT_EVERY:
            return
        if len(self.reported) > 10_000:  # many addresses at once: forget the old ones rather than grow
            self.reported.clear()
        self.reported[client] = now
        log.warning("refusing connections from %s: it holds %d, [general] max_connections_per_client",
                    client, self.per_client)


class GuardedChannel(KeepAliveChannel):
    """A ``KeepAliveChannel`` under its server's ``ClientGuard``: refused past the per-client cap, and closed
    when a request's headers are not complete ``header_timeout`` seconds after the connection opened or was
    last sent something (the end of the previous response).

    All but ``_flush_some`` run on waitress's main loop (so the guard's counts need no lock), which asks
    every channel ``readable()`` at least once a second; that is where the deadline is checked.
    """

    def __init__(self, server, sock, addr, adj, map=None):
        self.guard: ClientGuard = server.client_guard
        self.client = None if server.family == getattr(socket, "AF_UNIX", None) else client_key(addr)
        self.admitted = self.guard.admit(self.client)
        if not self.admitted:
            sock.close()  # before the channel joins the loop, so it never counts against connection_limit
            return
        self.waiting_since = time.monotonic()
        super().__init__(server, sock, addr, adj, map)

    def del_channel(self, map=None):
        super().del_channel(map)
        if self.admitted:
            self.admitted = False
            self.guard.release(self.client)

    def readable(self):
        if self._headers_overdue():
            self._drop()
            return False
        return super().readable()

    def _flush_some(self, do_close=True):
        sent = super()._flush_some(do_close)
        if sent:
            self.waiting_since = time.monotonic()
        return sent

    def _headers_overdue(self) -> bool:
        busy = self.requests or self.total_outbufs_len or self.will_close or self.close_when_flushed
        if busy or (self.request is not None and self.request.headers_finished):
            return False  # a request being answered, or whose body is arriving: not waiting for headers
        return time.monotonic() - self.waiting_since > self.guard.header_timeout

    def _drop(self) -> None:
        log.debug("closing a connection from %s: no complete request headers within %d s", self.client,
                  self.guard.header_timeout)
        if self.request is None:  # idle: nothing to answer
            self.will_close = True
            return
        detail = (f"the request headers did not arrive within {self.guard.header_timeout} s "
                  "([general] header_timeout)")
        body = json.dumps({"errors": [{"detail": detail}]}).encode()
        head = ("HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\nConnection: close\r\n"
                f"{NOSNIFF[0]}: {NOSNIFF[1]}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        with self.outbuf_lock:
            self.outbufs[-1].append(head + body)
            self.current_outbuf_count += len(head + body)
            self.total_outbufs_len += len(head + body)
        self.close_when_flushed = True


def client_key(addr) -> str:
    """Whose connection this is: the address, an IPv6 one by its /64."""
    return address_group(addr[0] if isinstance(addr, tuple) else str(addr))


def create_server(app, **options):
    """``waitress.create_server`` with connections kept alive across 304s, slow clients held to
    ``[general] header_timeout`` and ``max_connections_per_client``, and, unless told otherwise, at most
    ``connection_limit`` connections and request bodies capped at the largest publish the registry
    accepts: waitress buffers a whole body before the application sees it, so without the cap anyone
    could make it buffer a gigabyte."""
    general = registry(app).settings.general
    options.setdefault("max_request_body_size", max_upload_size(general.max_crate_size, general.max_metadata_size))
    options.setdefault("connection_limit", general.connection_limit)
    options.setdefault("asyncore_use_poll", True)  # select() cannot watch a descriptor above 1023
    server = waitress.create_server(app, **options)
    guard = ClientGuard(general.header_timeout, general.max_connections_per_client)
    for each in [server, *getattr(server, "map", {}).values()]:
        if hasattr(each, "channel_class"):
            each.channel_class = GuardedChannel
            each.client_guard = guard
    return server


LISTEN_PROBLEMS = {
    errno.EADDRINUSE: "the port is already in use (another alexandrie serve, or another program)",
    errno.EACCES: "permission denied (ports below 1024 need root)",
    errno.EADDRNOTAVAIL: "this machine has no such address",
}


def listen_on(address: str, setting: str, backlog: int = 1024) -> list[socket.socket]:
    """The listening sockets for ``HOST:PORT`` (every address the host name resolves to), bound now, so a
    port in use stops the start-up before it creates a database or a folder. ``setting`` names where the
    address came from (``[general] bind_address``, ``--bind``) for the error."""
    try:
        wanted = Adjustments(listen=address).listen
    except ValueError:
        raise ConfigError(f"cannot listen on {address} ({setting}): the host is not an address of this machine "
                          "or a name it can resolve; write HOST:PORT, like 127.0.0.1:3000") from None
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, sockaddr in wanted:
            sockets.append(_listening_socket(family, kind, proto, sockaddr, backlog))
    except OSError as exc:
        for sock in sockets:
            sock.close()
        problem = LISTEN_PROBLEMS.get(exc.errno, exc.strerror or str(exc))
        raise ConfigError(f"cannot listen on {address} ({setting}): {problem}.\n"
                          f"Stop what uses it, or pick another address with {setting}.") from None
    return sockets


def _listening_socket(family, kind, proto, sockaddr, backlog: int) -> socket.socket:
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as waitress: restart over TIME_WAIT
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(sockaddr)
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    return sock


def serve(app, **options) -> None:
    """Like ``waitress.serve``: log the addresses, then serve until interrupted."""
    server = create_server(app, **options)
    server.print_listen("Serving on http://{}:{}")
    server.run()
