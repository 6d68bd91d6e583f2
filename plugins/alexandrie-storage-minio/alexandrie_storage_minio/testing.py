"""Pytest fixtures (loaded as a ``pytest11`` plugin): an S3-compatible server on 127.0.0.1 for tests.

No MinIO binary is needed: moto's server mode speaks the S3 protocol over HTTP, and the
tests talk to it with the ``minio`` client exactly as they would to MinIO.
"""

import os
import socket
import subprocess
import sys
import time
import uuid

import pytest

from alexandrie.testing import free_port, require, stop_process

ACCESS_KEY, SECRET_KEY = "alexandrie-test", "alexandrie-test-secret"


class MotoServer:
    """``moto_server`` in a subprocess, so a test can stop it like a real outage."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.endpoint = f"127.0.0.1:{self.port}"
        self._process: subprocess.Popen | None = None

    def start(self) -> "MotoServer":
        try:
            import moto.server  # noqa: F401
        except ImportError:
            require(False, "moto[server] is not installed (pip install 'moto[server]')")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "MOTO_PORT": str(self.port)})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"moto_server exited with {self._process.returncode} on port {self.port}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"moto_server did not listen on port {self.port} within 30 s")

    def stop(self) -> None:
        stop_process(self._process)
        self._process = None

    def storage_settings(self, bucket: str | None = None, **extra) -> dict:
        """A ``[storage]`` table for this server; a new bucket unless one is named."""
        # moto answers 500 now and then when a key is read while overwritten; retries absorb it, as with S3.
        settings = {"type": "minio", "endpoint": self.endpoint, "secure": False, "region": "us-east-1",
                    "bucket": bucket or f"crates-{uuid.uuid4().hex[:12]}", "access_key": ACCESS_KEY,
                    "secret_key": SECRET_KEY, "create_bucket": True, "timeout": 5, "retries": 4}
        settings.update(extra)
        return settings


@pytest.fixture(scope="session")
def s3_server():
    """One S3-compatible server for the whole test session."""
    server = MotoServer().start()
    yield server
    server.stop()
