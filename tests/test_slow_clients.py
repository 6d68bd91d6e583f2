"""`alexandrie serve` under a slow-loris attack: 150 connections that send a header line every half second
and never finish their request. One address gets at most ``max_connections_per_client`` of them; every
trickling connection is cut ``header_timeout`` seconds after it opened, whatever it sends; and the real
cargo, from another address, resolves against the registry meanwhile.

Everything on 127.0.0.1: the whole of 127/8 is loopback on Linux, so binding a client socket to
127.0.0.2 (and so on) makes it a different client address.
"""

import http.client
import selectors
import socket
import subprocess
import sys
import threading
import time
from types import SimpleNamespace

import pytest

from alexandrie.testing import (
    Cargo,
    create_user_with_token,
    publish,
    require_tool,
    stop_process,
    wait_until_healthy,
    write_package,
)

# The guard lives in front of the app, whatever the database: one pass (the SQLite one) is enough.
pytestmark = [pytest.mark.cargo, pytest.mark.sqlite_only]

HEADER_TIMEOUT = 3
PER_CLIENT = 20
GUARD = {"header_timeout": HEADER_TIMEOUT, "connection_limit": 100, "max_connections_per_client": PER_CLIENT}
TICK = 0.5  # seconds between two header lines of a slow client
SLACK = 1.5  # the server checks deadlines once a second, and this machine may be busy


@pytest.fixture
def served(make_app, tmp_path):
    """``alexandrie serve`` in a child process (waitress as in production) over a registry holding one crate."""
    require_tool("cargo")
    app = make_app(general=GUARD)
    token = create_user_with_token(app, "alice")
    assert publish(app.test_client(), token, "loris-target").status_code == 200
    settings = app.extensions["alexandrie"].settings
    config = tmp_path / "serve.toml"
    config.write_text("\n".join([
        "[general]", f'bind_address = "{settings.general.bind_address}"', f'public_url = "{settings.general.public_url}"',
        "threads = 4", *(f"{key} = {value}" for key, value in GUARD.items()),
        "[database]", f'url = "{settings.database.url}"', "max_conns = 4",
        "[storage]", 'type = "disk"', f'path = "{settings.storage["path"]}"']) + "\n")
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "alexandrie", "--config", str(config), "serve"],
                                   stdout=log, stderr=subprocess.STDOUT)
    try:
        url = settings.general.public_url
        wait_until_healthy(url, process, log_path)
        yield SimpleNamespace(url=url, port=int(url.rsplit(":", 1)[1]), index_url=f"sparse+{url}/index/",
                              home=tmp_path, log=log_path)
    finally:
        stop_process(process, timeout=15)


class SlowClients:
    """Connections that send a request line, then one more header line every ``TICK`` seconds, for ever;
    each one's opening time, when the server closed it, and what it received."""

    def __init__(self, port: int, sources: list[str], count: int):
        self.opened, self.closed, self.received = {}, {}, {}
        self.selector = selectors.DefaultSelector()
        for n in range(count):
            sock = socket.socket()
            sock.bind((sources[n % len(sources)], 0))
            sock.connect(("127.0.0.1", port))
            self.opened[sock], self.received[sock] = time.monotonic(), b""
            try:
                sock.sendall(b"GET /index/config.json HTTP/1.1\r\nHost: registry\r\n")
            except OSError:
                self.closed[sock] = time.monotonic()
                continue
            sock.setblocking(False)
            self.selector.register(sock, selectors.EVENT_READ)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._trickle, daemon=True)
        self._thread.start()

    def still_open(self) -> list[socket.socket]:
        return [sock for sock in list(self.opened) if sock not in self.closed]

    def lifetimes(self) -> list[float]:
        return [self.closed[sock] - self.opened[sock] for sock in list(self.closed)]

    def _trickle(self):
        line, next_line = 0, time.monotonic() + TICK
        while not self._stop.is_set():
            for key, _ in self.selector.select(timeout=max(0.0, next_line - time.monotonic())):
                self._read(key.fileobj)
            if time.monotonic() >= next_line:
                line, next_line = line + 1, next_line + TICK
                for sock in self.still_open():
                    try:
                        sock.send(f"X-Trickle-{line}: a\r\n".encode())
                    except OSError:
                        self._close(sock)

    def _read(self, sock):
        try:
            data = sock.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self.received[sock] += data
        else:
            self._close(sock)

    def _close(self, sock):
        if sock not in self.closed:
            self.closed[sock] = time.monotonic()
            self.selector.unregister(sock)

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=5)
        for sock in self.opened:
            sock.close()


def wait_until(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def timed_get(served, path: str, source: str, timeout: float) -> tuple[int, bytes, float]:
    """A plain request from ``source``: its status, body and how long the answer took."""
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=timeout, source_address=(source, 0))
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read(), time.monotonic() - started
    finally:
        conn.close()


def cargo_resolves(served, name: str) -> float:
    """How long the real cargo takes to resolve a package depending on ``loris-target`` (fresh cache)."""
    cargo = Cargo(served.home / f"cargo-{name}", served)
    package = write_package(served.home, name, manifest_extra='[dependencies]\n'
                                                             'loris-target = { version = "0.1", registry = "alex" }\n')
    started = time.monotonic()
    cargo.run("generate-lockfile", cwd=package, timeout=20)
    assert 'name = "loris-target"' in (package / "Cargo.lock").read_text()
    return time.monotonic() - started


def test_one_address_gets_its_share_of_connections_and_cargo_is_served_meanwhile(served):
    loris = SlowClients(served.port, ["127.0.0.2"], 150)
    try:
        # All but the per-client cap are closed at once, before they could count against connection_limit.
        assert wait_until(lambda: len(loris.closed) >= 150 - PER_CLIENT, HEADER_TIMEOUT - 1), len(loris.closed)
        assert len(loris.still_open()) == PER_CLIENT
        partial = socket.create_connection(("127.0.0.1", served.port), timeout=HEADER_TIMEOUT + 5,
                                           source_address=("127.0.0.4", 0))
        partial.sendall(b"GET /index/config.json HTTP/1.1\r\nHost: registry\r\n")

        status, _, took = timed_get(served, "/index/config.json", "127.0.0.3", timeout=10)
        assert status == 200 and took < 1
        assert cargo_resolves(served, "under-attack") < 10

        # The ones kept open trickle on, and are cut at the deadline.
        assert wait_until(lambda: not loris.still_open(), HEADER_TIMEOUT + SLACK), len(loris.still_open())
        held = sorted(loris.lifetimes())[-PER_CLIENT:]
        assert all(HEADER_TIMEOUT - 0.2 < lifetime < HEADER_TIMEOUT + SLACK for lifetime in held), held
        # A client that stopped in the middle of its headers is told why.
        answer = partial.recv(4096)
        assert answer.startswith(b"HTTP/1.1 408 ") and b"header_timeout" in answer, answer
        partial.close()
        # The address's connections were counted back: it is served again.
        assert timed_get(served, "/index/config.json", "127.0.0.2", timeout=10)[0] == 200
    finally:
        loris.stop()
    assert "refusing connections from 127.0.0.2" in served.log.read_text()


def test_trickling_clients_from_many_addresses_are_cut_and_cargo_gets_in(served):
    sources = [f"127.0.0.{n}" for n in range(10, 25)]  # 15 addresses with 10 each: none reaches its cap
    loris = SlowClients(served.port, sources, 150)
    try:
        time.sleep(TICK)
        assert len(loris.still_open()) == 150  # ~98 take every slot waitress has; the rest wait to be accepted
        # A client queued behind them is answered once the first ones are cut, not never.
        status, _, took = timed_get(served, "/index/config.json", "127.0.0.1", timeout=HEADER_TIMEOUT + 10)
        assert status == 200 and took < HEADER_TIMEOUT + SLACK, took
        assert cargo_resolves(served, "after-attack") < HEADER_TIMEOUT + 10
        assert wait_until(lambda: not loris.still_open(), 2 * HEADER_TIMEOUT + SLACK), len(loris.still_open())
        # Trickling every half second bought none of them more than its deadline (from being accepted).
        assert max(loris.lifetimes()) < 2 * HEADER_TIMEOUT + SLACK
    finally:
        loris.stop()
