"""``alexandrie serve`` refusing to start: one or two lines saying what is wrong and what to change, no traceback,
a non-zero exit, and nothing created in the registry's folder.

Each case runs the installed command as a subprocess in an empty folder holding only its config file.
"""

import json
import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from alexandrie.testing import free_port, wait_until_healthy

pytestmark = pytest.mark.sqlite_only  # the databases here are named by each test, not the one under test

ALEXANDRIE = str(Path(sys.executable).with_name("alexandrie"))

# Imported by Python at start-up when its folder is on PYTHONPATH: makes the named modules fail to import, as on
# a machine where they were never installed.
IMPORT_BLOCKER = '''
import os, sys

class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in os.environ["BLOCK_IMPORTS"].split(","):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, Blocker())
'''


@pytest.fixture
def serve(tmp_path):
    """``serve(config, *args, env=...)`` runs ``alexandrie --config alexandrie.toml serve`` in an empty folder."""
    folder = tmp_path / "registry"
    folder.mkdir()

    def run(config: str, *args: str, env: dict | None = None) -> "Refusal":
        (folder / "alexandrie.toml").write_text(config)
        clean = {k: v for k, v in os.environ.items() if not k.startswith("ALEXANDRIE_")}
        result = subprocess.run([ALEXANDRIE, "--config", "alexandrie.toml", "serve", *args], cwd=folder,
                                env={**clean, **(env or {})}, capture_output=True, text=True, timeout=60)
        return Refusal(result, folder)

    return run


class Refusal:
    def __init__(self, result: subprocess.CompletedProcess, folder: Path):
        self.result, self.folder = result, folder
        self.output = (result.stdout + result.stderr).strip()

    def says(self, *needles: str) -> str:
        """Assert a refusal a user can act on, naming every needle; returns the output."""
        lines = self.output.splitlines()
        assert self.result.returncode != 0, self.output
        assert "Traceback" not in self.output and 1 <= len(lines) <= 2, self.output
        assert lines[0].startswith("Error: "), self.output
        for needle in needles:
            assert needle in self.output
        assert sorted(path.name for path in self.folder.iterdir()) == ["alexandrie.toml"], "start-up created files"
        return self.output


def test_a_port_in_use_is_refused_before_anything_is_created(serve):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        refusal = serve(f'[general]\nbind_address = "127.0.0.1:{port}"\n')
        refusal.says(f"cannot listen on 127.0.0.1:{port} ([general] bind_address): the port is already in use",
                     "pick another address with [general] bind_address")
        serve(f'[general]\nbind_address = "127.0.0.1:{free_port()}"\n', "--bind", f"127.0.0.1:{port}").says(
            f"cannot listen on 127.0.0.1:{port} (--bind)", "pick another address with --bind")


@pytest.mark.parametrize("address", ["127.0.0.1", "localhost", "[::1]"])
def test_a_bind_address_without_a_port_is_refused(serve, address):
    serve(f'[general]\nbind_address = "{address}"\n').says(
        f'[general] bind_address = "{address}" has no port; write HOST:PORT, like "127.0.0.1:3000"')
    serve("", "--bind", address).says(f"--bind {address} has no port")


@pytest.mark.parametrize("scheme", ["postgresql", "mysql"])
def test_a_database_that_cannot_be_reached_names_the_setting_with_the_password_masked(serve, scheme):
    port = free_port()  # nothing listens there
    output = serve(f'[database]\nurl = "{scheme}://alex:s3cret@127.0.0.1:{port}/registry"\n').says(
        f"cannot reach the database at {scheme}://alex:***@127.0.0.1:{port}/registry ([database] url)",
        "Connection refused", "Start the database server, or fix the host, port")
    assert "s3cret" not in output


@pytest.mark.parametrize("scheme, modules, extra", [
    ("postgresql", "psycopg2,psycopg", "postgres"),
    ("mysql", "pymysql,MySQLdb", "mysql"),
])
def test_a_database_whose_driver_is_missing_says_what_to_install(serve, tmp_path, scheme, modules, extra):
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(IMPORT_BLOCKER)
    env = {"PYTHONPATH": str(blocker), "BLOCK_IMPORTS": modules}
    output = serve(f'[database]\nurl = "{scheme}://alex:s3cret@127.0.0.1:{free_port()}/registry"\n', env=env).says(
        f"is a {scheme} database, but its driver", f"pip install 'alexandrie[{extra}]'")
    assert "s3cret" not in output


@pytest.mark.parametrize("config, message", [
    ('[storage]\npath = 5\n', '[storage] path = 5: write a folder, in quotes'),
    ('[index]\npath = 5\ntype = "git"\n', '[index] path = 5: write a folder, in quotes'),
    ('[general]\nthreads = "8"\n', '[general] threads = "8": write a whole number'),
    ('[database]\nmax_conns = true\n', '[database] max_conns = true: write a whole number'),
    ('[frontend]\nenabled = "yes"\n', '[frontend] enabled = "yes": write true or false'),
    ('[limits]\nmax_readme = "lots"\n', '[limits] max_readme = "lots": write a byte count'),
    ('[rate_limits]\nlogin = 10\n', '[rate_limits] login = 10: write text, in quotes'),
    ('[plugins]\ndisabled = "webhooks"\nx = 1\n', '[plugins] x must be a table'),
    ('[plugins.webhooks]\nworker = "yes"\n', '[plugins.webhooks] worker = \'yes\': write true or false'),
    ('[plugins.webhooks]\nendpoints = 5\n', '[plugins.webhooks] endpoints must be a list'),
    ('[index]\ntype = "git"\npath = "index"\nfsync = "maybe"\n', '[index] fsync = "maybe": write true or false'),
    ('[index]\ntype = "git"\npath = "index"\ngc_every = "often"\n', '[index] gc_every = "often": write a whole'),
    ('[index]\ntype = "git"\npath = "index"\nremotes = [{url = 5}]\n', '[index] remotes[0] url = 5: write text'),
    ('[index]\ntype = "git"\npath = "index"\npush_ssh_key = 5\n', '[index] push_ssh_key = 5: write text'),
])
def test_a_value_of_the_wrong_type_names_the_setting_and_creates_nothing(serve, config, message):
    serve(config).says(message)


def test_a_sqlite_file_in_a_folder_that_does_not_exist_is_refused(serve):
    output = serve('[database]\nurl = "sqlite:///databse/alexandrie.db"\n').says(
        "/databse does not exist", "Create it (mkdir -p ", "or point [database] url at a file in an existing folder")
    assert "data/" not in output


def test_the_default_data_folder_next_to_the_config_is_created(tmp_path):
    """The one folder start-up creates for a SQLite file: ``data/``, where the default ``[database] url`` points."""
    (tmp_path / "alexandrie.toml").write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALEXANDRIE_")}
    result = subprocess.run([ALEXANDRIE, "--config", "alexandrie.toml", "init"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "data" / "alexandrie.db").is_file()


def test_bind_moves_the_listener_the_log_and_config_json_together(tmp_path):
    """Without a `public_url`, the one derived from the address follows `--bind`: cargo is told the real port."""
    (tmp_path / "alexandrie.toml").write_text('[general]\nbind_address = "127.0.0.1:1"\n')
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ALEXANDRIE_")}
    with open(tmp_path / "serve.log", "w") as log:
        server = subprocess.Popen([ALEXANDRIE, "--config", "alexandrie.toml", "serve", "--bind", f"127.0.0.1:{port}"],
                                  cwd=tmp_path, env=clean, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until_healthy(url, server, tmp_path / "serve.log")
            with urllib.request.urlopen(f"{url}/index/config.json", timeout=10) as response:
                config = json.load(response)
        finally:
            server.terminate()
            server.wait(timeout=30)
    assert config["api"] == url and config["dl"].startswith(f"{url}/")
    assert f"on {url} with" in (tmp_path / "serve.log").read_text()
