"""Two ``alexandrie serve`` processes sharing one server database and one S3 bucket behave as one registry."""

import http.cookiejar
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

import alexandrie_storage_minio
from alexandrie.testing import (
    Cargo,
    crate_metadata,
    create_user_with_token,
    free_port,
    make_crate,
    publish_body,
    require_tool,
    stop_process,
    write_package,
)


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


class Instance:
    """One registry process on its own port; ``url`` stands for the load balancer's address in production."""

    def __init__(self, tmp_path, name, database_url, storage):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = tmp_path / f"{name}.toml"
        lines = ["[general]", f'bind_address = "127.0.0.1:{self.port}"', f'public_url = "{self.url}"', "threads = 4",
                 "[database]", f'url = "{database_url}"', "max_conns = 4", "[storage]"]
        lines += [f"{key} = {_toml(value)}" for key, value in storage.items()]
        self.config.write_text("\n".join(lines) + "\n")
        self.log = open(tmp_path / f"{name}.log", "wb")
        self.process = None

    def start(self):
        self.process = subprocess.Popen([sys.executable, "-m", "alexandrie", "--config", str(self.config), "serve"],
                                        stdout=self.log, stderr=subprocess.STDOUT)
        return self

    def wait_ready(self):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.config.stem} exited: {self.output()}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"{self.config.stem} never became healthy: {self.output()}")

    def output(self) -> str:
        self.log.flush()
        return self.config.with_suffix(".log").read_text(errors="replace")[-3000:]

    def stop(self):
        stop_process(self.process, timeout=15)
        self.log.close()

    @property
    def index_url(self):
        return f"sparse+{self.url}/index/"


def _put(url, body, token):
    request = urllib.request.Request(url + "/api/v1/crates/new", data=body, method="PUT",
                                     headers={"Authorization": token})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _race(targets):
    """Send every (instance url, body, token) at the same moment; the statuses, sorted."""
    barrier, statuses = threading.Barrier(len(targets)), []

    def send(target):
        barrier.wait()
        statuses.append(_put(*target))

    threads = [threading.Thread(target=send, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(statuses)


def _get(url, opener=None):
    with (opener or urllib.request.build_opener()).open(url, timeout=30) as response:
        return response.status, response.read()


def _sign_in(instance, opener, login, password):
    _, page = _get(instance.url + "/account/login", opener)
    csrf = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', page)
    form = {"login": login, "password": password, **({"csrf_token": csrf.group(1).decode()} if csrf else {})}
    opener.open(urllib.request.Request(instance.url + "/account/login", method="POST",
                                       data=urllib.parse.urlencode(form).encode()), timeout=30).read()


@pytest.fixture
def shared_registry(make_app, s3_server, tmp_path):
    database_url = os.environ.get("ALEXANDRIE_TEST_DATABASE_URL")
    storage = s3_server.storage_settings()
    # Creates the schema and the bucket; its teardown empties the database.
    admin_app = make_app(plugins=[alexandrie_storage_minio], storage=storage)
    instances = [Instance(tmp_path, name, database_url, storage).start() for name in ("east", "west")]
    try:
        for instance in instances:
            instance.wait_ready()
        yield admin_app, instances
    finally:
        for instance in instances:
            instance.stop()


@pytest.mark.server_database
def test_two_instances_behave_as_one_registry(shared_registry, tmp_path):
    admin_app, (east, west) = shared_registry
    token = create_user_with_token(admin_app, "alice")

    # Published through one, resolvable and buildable through the other at once.
    require_tool("cargo")
    publisher = Cargo(tmp_path / "cargo-east", east, token)
    library = write_package(tmp_path / "src", "shared-lib", lib='pub fn answer() -> u32 { 42 }\n')
    publisher.run("publish", "--registry", "alex", "--no-verify", cwd=library)
    consumer = Cargo(tmp_path / "cargo-west", west, token)
    app_dir = write_package(tmp_path / "src", "consumer",
                            manifest_extra='[dependencies]\nshared-lib = { version = "0.1", registry = "alex" }\n',
                            main='fn main() { println!("{}", shared_lib::answer()); }\n')
    result = consumer.run("run", "--quiet", cwd=app_dir)
    assert result.stdout.strip() == "42"

    # Concurrent publishes through different instances: the same version wins once, different crates all land.
    for round_number in range(3):
        name = f"contested-{round_number}"
        body = publish_body(crate_metadata(name, "1.0.0"), make_crate(name, "1.0.0"))
        assert _race([(east.url, body, token), (west.url, body, token)]) == [200, 409]
    bodies = [(instance.url, publish_body(crate_metadata(f"fresh-{i}", "1.0.0"), make_crate(f"fresh-{i}", "1.0.0")),
               token) for i, instance in enumerate([east, west, east, west])]
    assert _race(bodies) == [200, 200, 200, 200]

    # Every instance serves the same index and the same bytes.
    for name in ("contested-0", "fresh-1", "fresh-2"):
        path = f"/index/{name[:2]}/{name[2:4]}/{name}"
        assert _get(east.url + path) == _get(west.url + path)
    tarball = make_crate("fresh-0", "1.0.0")
    assert _get(west.url + "/api/v1/crates/fresh-0/1.0.0/download") == (200, tarball)
    _, found = _get(west.url + "/api/v1/crates?q=fresh&per_page=10")
    assert sorted(c["name"] for c in json.loads(found)["crates"]) == ["fresh-0", "fresh-1", "fresh-2", "fresh-3"]

    # A browser session made on one instance is valid on the other (the secret lives in the database).
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    _sign_in(east, opener, "alice", "password-alice")
    status, page = _get(west.url + "/account/", opener)
    assert status == 200 and b"<dt>Login</dt><dd>alice</dd>" in page, page[:2000]
