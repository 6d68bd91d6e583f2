"""Module-scoped registries for the slow end-to-end tests, built on the ``alexandrie.testing`` helpers.

The function-scoped ``make_app``/``live_server`` fixtures start a registry per test; cargo scenarios
share one server per module instead, so the whole file runs in minutes on two cores.
"""

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from alexandrie.testing import Cargo, LiveServer, create_user_with_token, require_tool, reset_database, test_config


class RunningRegistry:
    """One registry served on 127.0.0.1, with a plain HTTP client and cargo homes on demand."""

    def __init__(self, root: Path, **sections):
        from alexandrie.app import create_app

        self.root = root
        self.app = create_app(test_config(root / "registry", **sections))
        self.requests: list[tuple[str, str, int, str | None]] = []
        self.app.wsgi_app = self._recording(self.app.wsgi_app)
        self.server = LiveServer(self.app).start()
        self.url = self.server.url
        self.storage_dir = Path(self.app.extensions["alexandrie"].settings.storage["path"])

    def _recording(self, wsgi_app):
        """Keep (method, path, status, If-None-Match) of every request, to check what cargo really sent."""
        def record(environ, start_response):
            def start(status, headers, exc_info=None):
                self.requests.append((environ["REQUEST_METHOD"], environ["PATH_INFO"], int(status.split()[0]),
                                      environ.get("HTTP_IF_NONE_MATCH")))
                return start_response(status, headers, exc_info)
            return wsgi_app(environ, start)
        return record

    def stop(self) -> None:
        self.server.stop()
        reset_database(self.app)

    def user(self, login: str, *, admin: bool = False) -> str:
        """Create ``login`` and return an API token for it."""
        return create_user_with_token(self.app, login, admin=admin)

    def cargo(self, name: str, token: str | None = None, **kwargs) -> Cargo:
        require_tool("cargo")
        return SharedTargetCargo(self.root / name, self.server, token, target_dir=self.root / "target", **kwargs)

    def request(self, method: str, path: str, *, body: bytes | None = None, headers: dict | None = None):
        """(status, headers, body bytes) of one HTTP request; 4xx/5xx are answers, not exceptions."""
        req = urllib.request.Request(self.url + path, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=60) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers, exc.read()

    def get_json(self, path: str):
        status, _, body = self.request("GET", path)
        assert status == 200, (path, status, body)
        return json.loads(body)

    def index_lines(self, name: str) -> list[dict]:
        from alexandrie.rules.names import index_path

        status, _, body = self.request("GET", "/index/" + index_path(name))
        assert status == 200, (name, status, body)
        return [json.loads(line) for line in body.decode().splitlines()]


class SharedTargetCargo(Cargo):
    """A cargo home whose builds go to one target folder shared by the module (tiny crates compile once)."""

    def __init__(self, home, server, token=None, *, target_dir: Path, **kwargs):
        super().__init__(home, server, token, **kwargs)
        self.target_dir = target_dir

    def env(self, token=None) -> dict:
        env = super().env(token)
        env["CARGO_TARGET_DIR"] = str(self.target_dir)
        return env


@pytest.fixture(scope="module")
def module_registry(tmp_path_factory):
    """A registry served for the whole module (rate limits off: tests publish faster than people)."""
    registry = RunningRegistry(tmp_path_factory.mktemp("registry"), rate_limits={"enabled": False})
    yield registry
    registry.stop()
