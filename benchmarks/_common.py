"""Shared pieces of the benchmarks: a seeded registry, ``alexandrie serve`` and nginx as child processes,
medians, tables and JSON results.

Nothing here is timed by the test suite; the scripts are run by hand (see README.md).
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from alexandrie.testing import free_port, stop_process  # noqa: F401  (free_port: for the bench scripts)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
ALEXANDRIE = Path(sys.executable).with_name("alexandrie")
PUBLISHER = "bench"


def need_tool(name: str, install_hint: str) -> str:
    """The tool's path, or exit with what to install."""
    path = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)
    if path is None:
        sys.exit(f"`{name}` is not installed; install it with `{install_hint}` and run again")
    return path


def median(values) -> float:
    return statistics.median(values) if values else float("nan")


def machine_load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def make_workdir(name: str) -> Path:
    """A throwaway folder readable by nginx's workers."""
    path = Path(tempfile.mkdtemp(prefix=f"alexandrie-bench-{name}-"))
    path.chmod(0o755)
    return path


# --- The registry -------------------------------------------------------------------------------------


def registry_config(data_dir: Path, port: int, database_url: str | None = None, threads: int = 8) -> Path:
    """Write an ``alexandrie.toml`` for a registry under ``data_dir`` served on ``port``."""
    url = database_url or f"sqlite:///{data_dir}/alexandrie.db"
    path = data_dir / "alexandrie.toml"
    path.write_text(
        f'[general]\nbind_address = "127.0.0.1:{port}"\npublic_url = "http://127.0.0.1:{port}"\n'
        f'threads = {threads}\n[database]\nurl = "{url}"\n[storage]\ntype = "disk"\npath = "crate-storage"\n'
        '[index]\ntype = "sparse"\n[frontend]\nenabled = false\n'
        '[rate_limits]\nenabled = false\n')  # the publish limit (30 a minute) would cut the timed runs short
    return path


def open_app(config_path: Path):
    from alexandrie.app import create_app

    return create_app(str(config_path))


def publisher_token(app) -> str:
    """Create the ``bench`` user (if needed) and return a fresh API token."""
    from alexandrie.db import connection
    from alexandrie.errors import AlexandrieError
    from alexandrie.services.tokens import create_token
    from alexandrie.services.users import create_user, find_user

    with app.app_context(), connection():
        try:
            user = find_user(PUBLISHER)
        except AlexandrieError:
            user = create_user(PUBLISHER, email="bench@example.com", password="bench-password")
        return create_token(user, "benchmark")[1]


def new_version(name: str, vers: str, deps=()):
    """A checked publish (``NewVersion``) built like cargo's upload; ``deps`` are ``(name, req)`` pairs."""
    import hashlib

    from alexandrie.rules.metadata import read_metadata
    from alexandrie.testing import crate_metadata, dependency, make_crate

    new = read_metadata(crate_metadata(name, vers, description=f"benchmark crate {name}",
                                       deps=[dependency(d, req) for d, req in deps]))
    new.tarball = make_crate(name, vers)
    new.cksum = hashlib.sha256(new.tarball).hexdigest()
    return new


def seed(app, versions, batch: int = 500, progress=None) -> None:
    """Store versions through the one write path (``store_versions``), ``batch`` per commit.

    Each version still goes through its own change (a savepoint inside the batch), the storage
    backend and ``refresh_crate``; batching only saves one fsync per version. (The events of a batch
    reach plugins before the batch commits; no plugin listens in a benchmark.)
    """
    from alexandrie.db import connection, write_transaction
    from alexandrie.services.publishing import store_versions
    from alexandrie.services.users import find_user

    versions = list(versions)
    with app.app_context(), connection():
        owner = find_user(PUBLISHER)
        for start in range(0, len(versions), batch):
            with write_transaction():
                for new in versions[start:start + batch]:
                    store_versions([new], owner=owner, actor="benchmark")
            if progress:
                progress(min(batch, len(versions) - start))


def bulk_seed(app, versions, batch: int = 1000, progress=None) -> None:
    """Insert new crates (one version each) with bulk inserts: crate, owner, version, dependency and
    ``index_files`` rows, the index file rendered by ``index_files.index_entry`` as a publish renders it.

    No .crate files are stored (nothing downloads them) and no per-version checks run: this is for
    building a large registry in seconds. ``check_bulk_seed`` compares the result with ``refresh_crate``.
    """
    from alexandrie.db import connection, write_transaction
    from alexandrie.models import Crate, CrateOwner, Dependency, IndexFile, Version, utcnow
    from alexandrie.rules.names import canonical_name, index_path
    from alexandrie.services.index_files import etag_of, index_entry
    from alexandrie.services.users import find_user

    versions = list(versions)
    with app.app_context(), connection():
        owner = find_user(PUBLISHER)
        for start in range(0, len(versions), batch):
            chunk, now = versions[start:start + batch], utcnow()
            with write_transaction():
                Crate.insert_many([{"name": v.name, "canonical_name": canonical_name(v.name), "license": v.license,
                                    "description": v.description, "max_version": v.vers, "created_at": now,
                                    "updated_at": now} for v in chunk]).execute()
                ids = dict(Crate.select(Crate.canonical_name, Crate.id)
                           .where(Crate.canonical_name.in_([canonical_name(v.name) for v in chunk])).tuples())
                rows = [Version(crate=ids[canonical_name(v.name)], num=v.vers, num_unique=v.vers, cksum=v.cksum,
                                deps=v.deps, features=v.features, links=v.links, rust_version=v.rust_version,
                                published_at=now, published_by=owner, size=len(v.tarball), description=v.description,
                                license=v.license) for v in chunk]
                Version.insert_many([row.__data__ for row in rows]).execute()
                version_ids = dict(Version.select(Version.crate, Version.id)
                                   .where(Version.crate.in_(list(ids.values()))).tuples())
                CrateOwner.insert_many([{"crate": i, "user": owner.id, "added_at": now}
                                        for i in ids.values()]).execute()
                deps = [{"version": version_ids[row.crate_id], "crate_name": canonical_name(d["package"] or d["name"]),
                         "req": d["req"], "kind": d["kind"], "optional": d["optional"], "target": d["target"],
                         "registry": d["registry"]} for row in rows for d in row.deps]
                if deps:
                    Dependency.insert_many(deps).execute()
                files = []
                for v, row in zip(chunk, rows):
                    content = json.dumps(index_entry(v.name, row), separators=(",", ":")) + "\n"
                    files.append({"crate": row.crate_id, "path": index_path(v.name), "content": content,
                                  "etag": etag_of(content)})
                IndexFile.insert_many(files).execute()
            if progress:
                progress(len(chunk))


def check_bulk_seed(app, names) -> None:
    """Fail unless each named crate's stored index file is what a publish would have rendered."""
    from alexandrie.db import connection
    from alexandrie.models import Crate, IndexFile
    from alexandrie.rules.names import canonical_name
    from alexandrie.services.index_files import render_index_file

    with app.app_context(), connection():
        for name in names:
            crate = Crate.get(Crate.canonical_name == canonical_name(name))
            stored = IndexFile.get(IndexFile.crate == crate).content
            if stored != render_index_file(crate):
                sys.exit(f"bulk seeding stored a different index file for {name} than a publish renders:\n{stored}")


def export_static(app, target: Path, dl_base: str) -> int:
    """Copy every ``index_files`` row and every .crate file into ``target`` for nginx; returns the file count.

    Layout: ``index/config.json``, ``index/<path>`` and ``dl/<crate>/<version>``; the config's ``dl`` points
    at ``dl_base`` (nginx), ``api`` at the registry.
    """
    from alexandrie.db import connection
    from alexandrie.models import Crate, IndexFile, Version
    from alexandrie.services.index_files import config_json

    state = app.extensions["alexandrie"]
    count = 0
    with app.app_context(), connection():
        config = {**config_json(), "dl": f"{dl_base}/dl/{{crate}}/{{version}}"}
        _write(target / "index" / "config.json", json.dumps(config, separators=(",", ":")).encode())
        for row in IndexFile.select(IndexFile.path, IndexFile.content):
            _write(target / "index" / row.path, row.content.encode("utf-8"))
            count += 1
        for crate_name, num in Version.select(Crate.name, Version.num).join(Crate).tuples():
            _write(target / "dl" / crate_name / num, state.storage.read_crate(crate_name, num))
            count += 1
    for folder, _, _ in os.walk(target):
        os.chmod(folder, 0o755)
    return count


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(0o644)


# --- Servers --------------------------------------------------------------------------------------------


class Server:
    """A child process serving HTTP on 127.0.0.1:port."""

    def __init__(self, name: str, process: subprocess.Popen, port: int, log_path: Path):
        self.name, self.process, self.port, self.log_path = name, process, port, log_path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def index_url(self) -> str:
        return f"sparse+{self.url}/index/"

    def rss_mb(self) -> float:
        """Resident memory of the serving process (VmRSS), in MB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def wait_ready(self, path: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}; see {self.log_path}:\n"
                                   + self.log_path.read_text()[-2000:])
            try:
                with urllib.request.urlopen(self.url + path, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer {path} within {timeout}s; see {self.log_path}")

    def stop(self) -> None:
        stop_process(self.process)


@contextmanager
def alexandrie_server(config_path: Path, port: int, threads: int | None = None):
    """``alexandrie serve`` (waitress) as a child process."""
    log_path = config_path.parent / "serve.log"
    args = [str(ALEXANDRIE), "--config", str(config_path), "serve", "--bind", f"127.0.0.1:{port}"]
    if threads:
        args += ["--threads", str(threads)]
    with open(log_path, "ab") as log:
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=config_path.parent)
    server = Server("alexandrie", process, port, log_path)
    try:
        server.wait_ready("/index/config.json")
        yield server
    finally:
        server.stop()


NGINX_CONF = """\
daemon off;
master_process on;
worker_processes {workers};
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
{user}
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    types {{ application/json json; }}
    server {{
        listen 127.0.0.1:{port};
        location /index/ {{
            alias {root}/index/;
            default_type "text/plain; charset=utf-8";
            add_header Cache-Control no-cache;
        }}
        location /dl/ {{
            alias {root}/dl/;
            default_type application/octet-stream;
        }}
    }}
}}
"""


@contextmanager
def nginx_server(root: Path, port: int, workers: str = "auto"):
    """Debian's nginx serving ``root`` (see ``export_static``) as a non-daemon child with its own paths."""
    binary = need_tool("nginx", "apt-get install nginx-light")
    tmp = make_workdir("nginx")
    user = "user root;" if os.geteuid() == 0 else ""
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(workers=workers, tmp=tmp, user=user, port=port, root=root))
    log_path = tmp / "error.log"
    process = subprocess.Popen([binary, "-p", str(tmp), "-c", str(conf)], stdout=subprocess.DEVNULL,
                               stderr=open(tmp / "stderr.log", "wb"))
    server = Server("nginx", process, port, log_path)
    try:
        server.wait_ready("/index/config.json")
        yield server
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


# --- Output -------------------------------------------------------------------------------------------------


def print_table(title: str, header: list[str], rows: list[list]) -> None:
    cells = [[_cell(c) for c in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    print(f"\n{title}")
    for n, row in enumerate(cells):
        print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if n == 0:
            print("  ".join("-" * w for w in widths))


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def write_results(name: str, data: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    data = {"benchmark": name, "finished": stamp, "load": machine_load(), "argv": sys.argv, **data}
    path = RESULTS / f"{name}-{stamp}.json"
    path.write_text(json.dumps(data, indent=2) + "\n")
    print(f"\nresults: {path}")
    return path
