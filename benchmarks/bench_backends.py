#!/usr/bin/env python3
"""Publish and index-fetch throughput per database and storage backend, with one or two instances.

    .venv/bin/python benchmarks/bench_backends.py [--crates 1000] [--fetches 3000] [--clients 8]
        [--only sqlite-disk-1,postgresql-s3-2]

Each configuration starts real ``alexandrie serve`` processes (waitress, 8 threads), loads
``--crates`` crates through the publish API (that phase is the publish figure), then fetches
random index files (the index figure), with ``--clients`` concurrent HTTP clients spread
round-robin over the instances, as a load balancer would. PostgreSQL and MySQL get a
throwaway database on the servers named by ALEXANDRIE_TEST_POSTGRESQL_URL /
ALEXANDRIE_TEST_MYSQL_URL (default: the local test servers); S3 is moto's server.
Figures are medians of per-request latency and overall requests per second.
"""

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

from alexandrie.testing import (
    crate_metadata,
    create_server_database,
    drop_server_database,
    free_port,
    make_crate,
    publish_body,
)

SERVERS = {"postgresql": os.environ.get("ALEXANDRIE_TEST_POSTGRESQL_URL", "postgresql://postgres@127.0.0.1:5432/test"),
           "mysql": os.environ.get("ALEXANDRIE_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")}
CONFIGS = ["sqlite-disk-1", "postgresql-disk-1", "mysql-disk-1", "postgresql-s3-1", "postgresql-s3-2",
           "sqlite-disk-2"]


def toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return f'"{value}"' if isinstance(value, str) else str(value)


def start_instances(work: Path, count: int, database_url: str, storage: dict) -> list:
    instances = []
    for number in range(count):
        port = free_port()
        config = work / f"instance{number}.toml"
        lines = ["[general]", f'bind_address = "127.0.0.1:{port}"', f'public_url = "http://127.0.0.1:{port}"',
                 "threads = 8", "[rate_limits]", "enabled = false", "[database]", f'url = "{database_url}"', "max_conns = 8", "[storage]",
                 *(f"{k} = {toml_value(v)}" for k, v in storage.items())]
        config.write_text("\n".join(lines) + "\n")
        log = open(work / f"instance{number}.log", "wb")
        process = subprocess.Popen([sys.executable, "-m", "alexandrie", "--config", str(config), "serve"],
                                   stdout=log, stderr=subprocess.STDOUT)
        instances.append((f"http://127.0.0.1:{port}", process, config))
        wait_healthy(instances[-1][0], process)  # one at a time: the first creates the schema
    return instances


def wait_healthy(url: str, process) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the instance at {url} exited; see its log")
        try:
            if requests.get(url + "/health", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not become healthy")


def make_token(config: Path) -> str:
    subprocess.run([sys.executable, "-m", "alexandrie", "--config", str(config), "user", "create", "bench",
                    "--email", "bench@example.com"], check=True, capture_output=True)
    result = subprocess.run([sys.executable, "-m", "alexandrie", "--config", str(config), "token", "create", "bench"],
                            check=True, capture_output=True, text=True)
    return result.stdout.strip().splitlines()[-1]


def run_parallel(jobs: list, clients: int, urls: list[str], send) -> tuple[float, float]:
    """Run ``send(session, url, job)`` over ``clients`` threads; (requests per second, median latency ms)."""
    latencies, failures, lock, cursor = [], [], threading.Lock(), iter(range(len(jobs)))

    def worker(worker_number):
        session = requests.Session()
        while not failures:
            with lock:
                index = next(cursor, None)
            if index is None:
                return
            started = time.perf_counter()
            try:
                send(session, urls[(worker_number + index) % len(urls)], jobs[index])
            except Exception as exc:  # noqa: BLE001 - reported by the main thread
                failures.append(exc)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit(f"requests failed: {failures[0]}")
    return len(jobs) / elapsed, statistics.median(latencies) * 1000


def bench(name: str, args, s3) -> dict:
    database, storage_kind, count = name.split("-")
    with tempfile.TemporaryDirectory(prefix="alexandrie-bench-") as folder:
        work = Path(folder)
        scratch = None
        if database == "sqlite":
            database_url = f"sqlite:///{work}/registry.db"
        else:
            scratch = f"alexandrie_bench_{os.getpid()}_{random.randrange(1 << 24):06x}"
            database_url = create_server_database(SERVERS[database], scratch)
        storage = ({"type": "disk", "path": str(work / "crates")} if storage_kind == "disk"
                   else s3.storage_settings(retries=2))
        instances = start_instances(work, int(count), database_url, storage)
        try:
            token = make_token(instances[0][2])
            urls = [url for url, _, _ in instances]
            bodies = [publish_body(crate_metadata(f"bench-{i}", "1.0.0", description=f"crate {i}"),
                                   make_crate(f"bench-{i}", "1.0.0")) for i in range(args.crates)]

            def publish(session, url, body):
                response = session.put(url + "/api/v1/crates/new", data=body, headers={"Authorization": token})
                if response.status_code != 200:
                    raise RuntimeError(f"publish failed: {response.status_code} {response.text[:300]}")

            def fetch(session, url, number):
                response = session.get(f"{url}/index/be/nc/bench-{number}")
                if response.status_code != 200:
                    raise RuntimeError(f"index fetch failed: {response.status_code} {response.text[:200]}")

            publish_rate, publish_ms = run_parallel(bodies, args.clients, urls, publish)
            picks = [random.randrange(args.crates) for _ in range(args.fetches)]
            fetch_rate, fetch_ms = run_parallel(picks, args.clients, urls, fetch)
        finally:
            for _, process, _ in instances:
                process.terminate()
                process.wait(timeout=30)
            if scratch:
                drop_server_database(SERVERS[database], scratch)
    return {"config": name, "publish/s": publish_rate, "publish p50 ms": publish_ms,
            "index/s": fetch_rate, "index p50 ms": fetch_ms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--crates", type=int, default=1000)
    parser.add_argument("--fetches", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--only", default=",".join(CONFIGS), help="comma-separated configurations")
    args = parser.parse_args()
    from alexandrie_storage_minio.testing import MotoServer

    s3 = MotoServer().start()
    try:
        rows = []
        for name in args.only.split(","):
            print(f"running {name} ...", file=sys.stderr, flush=True)
            rows.append(bench(name, args, s3))
            print(format_row(rows[-1]), flush=True)
    finally:
        s3.stop()
    base = rows[0]
    print(f"\nratios against {base['config']} (publish/s, index/s):")
    for row in rows:
        print(f"  {row['config']:<20} {row['publish/s'] / base['publish/s']:.2f}x  {row['index/s'] / base['index/s']:.2f}x")


def format_row(row: dict) -> str:
    return (f"{row['config']:<20} publish {row['publish/s']:7.1f}/s (p50 {row['publish p50 ms']:6.1f} ms)   "
            f"index {row['index/s']:7.1f}/s (p50 {row['index p50 ms']:6.1f} ms)")


if __name__ == "__main__":
    main()
