"""Live servers: the registry served by waitress on 127.0.0.1, the real cargo pointed at it, and the
helpers for child processes and free ports."""

import os
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

from ..registry import registry
from ..web.serving import create_server


def stop_process(process: subprocess.Popen | None, timeout: float = 10) -> None:
    """Terminate a child server, killing it when it does not stop within ``timeout`` seconds."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_until_healthy(url: str, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    """Wait for a child ``alexandrie serve`` to answer ``/health``; its log tells why when it never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"alexandrie serve exited:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"alexandrie serve did not become healthy:\n{log.read_text()}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """A registry served by waitress on 127.0.0.1 in a background thread."""

    def __init__(self, app):
        self.app = app
        self.url = registry(app).public_url
        host, port = self.url.removeprefix("http://").split(":")
        self._server = create_server(app, host=host, port=int(port), threads=8)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._stopping = False

    def _serve(self):
        try:
            self._server.run()
        except OSError:
            # Closing the listening socket can break the select() the loop sits in; that is the stop.
            if not self._stopping:
                raise

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stopping = True
        self._server.close()
        self._thread.join(timeout=5)

    @property
    def index_url(self) -> str:
        return f"sparse+{self.url}/index/"


class Cargo:
    """Runs the real ``cargo`` in a throwaway ``CARGO_HOME`` that knows the registry as ``alex``."""

    def __init__(self, home: Path, server: LiveServer, token: str | None = None, replace_crates_io=False):
        self.home, self.server = home, server
        home.mkdir(parents=True, exist_ok=True)
        config = f'[registries.alex]\nindex = "{server.index_url}"\n[net]\nretry = 0\n'
        if replace_crates_io:
            config += '[source.crates-io]\nreplace-with = "alex"\n'
        (home / "config.toml").write_text(config)
        self.token = token

    def env(self, token: str | None = None) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CARGO_")}
        env.update({"CARGO_HOME": str(self.home), "CARGO_TERM_COLOR": "never",
                    "CARGO_TARGET_DIR": str(self.home / "target"), "CARGO_NET_OFFLINE": "false"})
        token = token if token is not None else self.token
        if token:
            env["CARGO_REGISTRIES_ALEX_TOKEN"] = token
        return env

    def run(self, *args, cwd: Path, token: str | None = None, check: bool = True, timeout: int = 300):
        result = subprocess.run(["cargo", *args], cwd=cwd, env=self.env(token), capture_output=True,
                                text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"cargo {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result


def write_package(root: Path, name: str, version: str = "0.1.0", *, manifest_extra: str = "",
                  lib: str = "pub fn hello() -> &'static str { \"hello\" }\n", main: str | None = None,
                  readme: str | None = None) -> Path:
    """A cargo package on disk, ready for ``cargo publish --registry alex``."""
    path = root / name
    (path / "src").mkdir(parents=True, exist_ok=True)
    manifest = (f'[package]\nname = "{name}"\nversion = "{version}"\nedition = "2021"\n'
                f'description = "The {name} crate"\nlicense = "MIT"\npublish = ["alex"]\n')
    if readme is not None:
        (path / "README.md").write_text(readme)
        manifest += 'readme = "README.md"\n'
    (path / "Cargo.toml").write_text(manifest + manifest_extra)
    if main is not None:
        (path / "src" / "main.rs").write_text(main)
    else:
        (path / "src" / "lib.rs").write_text(lib)
    return path
