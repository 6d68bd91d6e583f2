"""Publish latency at two registry sizes, and the memory of the serving process.

Seeds ``--small`` crates through the publish code path (``store_versions``: rows, .crate file and
index file, as a real publish writes them), starts ``alexandrie serve``, reads every index file once
(the "loaded" registry), then times ``--publishes`` publishes of new crates over HTTP
(``PUT /api/v1/crates/new`` with cargo's frame). It stops the server, seeds up to ``--large`` crates and
measures again. Targets: the median latency does not grow with the registry; VmRSS of the serving
process at ``--large`` crates stays under 150 MB.

    .venv/bin/python benchmarks/bench_publish.py --small 1000 --large 20000 --publishes 30
"""

import argparse
import http.client
import shutil
import sys
import threading
import time

import _common as c
import click

RSS_LIMIT_MB = 150


def seed_names(start: int, stop: int):
    for i in range(start, stop):
        yield c.new_version(f"seed-{i:05d}", "1.0.0", [(f"seed-{i - 1:05d}", "^1")] if i % 10 else [])


def seed_up_to(app, have: int, want: int, via_publish: bool) -> None:
    if want <= have:
        return
    started = time.perf_counter()
    with click.progressbar(length=want - have, label=f"Seeding to {want} crates", file=sys.stderr) as bar:
        if via_publish:
            c.seed(app, seed_names(have, want), progress=bar.update)
        else:
            c.bulk_seed(app, seed_names(have, want), progress=bar.update)
            c.check_bulk_seed(app, [f"seed-{i:05d}" for i in (have, have + 1, want - 1)])
    print(f"seeded {want - have} crates in {time.perf_counter() - started:.1f}s "
          f"({'publish code path' if via_publish else 'bulk inserts'})")


def read_every_index_file(server: c.Server, count: int, clients: int = 8) -> float:
    """GET each seeded crate's index file once over ``clients`` keep-alive connections (as many as waitress has
    threads, so every pooled database connection fills its cache); returns the seconds taken."""
    from alexandrie.rules.names import index_path

    paths = [f"/index/{index_path(f'seed-{i:05d}')}" for i in range(count)]
    failures = []

    def reader(part):
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        for path in part:
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                failures.append((path, response.status))
        conn.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=reader, args=(paths[i::clients],)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise SystemExit(f"{len(failures)} index files were not served, e.g. {failures[:3]}")
    return time.perf_counter() - started


def publish_latencies(server: c.Server, token: str, label: str, count: int) -> list[float]:
    """Publish ``count`` new crates one after another (as cargo does), each on a new connection."""
    from alexandrie.testing import crate_metadata, make_crate, publish_body

    latencies = []
    for i in range(count + 1):  # the first one warms up the process and is not counted
        name = f"probe-{label}-{i:03d}"
        body = publish_body(crate_metadata(name, "0.1.0", description="a probe"), make_crate(name, "0.1.0"))
        started = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        conn.request("PUT", "/api/v1/crates/new", body=body,
                     headers={"Authorization": token, "Accept": "application/json"})
        response = conn.getresponse()
        text = response.read()
        conn.close()
        elapsed = time.perf_counter() - started
        if response.status != 200:
            raise SystemExit(f"publish of {name} failed with {response.status}: {text[:500]!r}")
        if i:
            latencies.append(elapsed)
    return latencies


def measure(config, port: int, token: str, crates: int, publishes: int) -> dict:
    with c.alexandrie_server(config, port) as server:
        rss_started = server.rss_mb()
        read_seconds = read_every_index_file(server, crates)
        rss_loaded = server.rss_mb()
        latencies = publish_latencies(server, token, str(crates), publishes)
        rss_after = server.rss_mb()
    print(f"{crates} crates: read every index file in {read_seconds:.1f}s; median publish "
          f"{c.median(latencies) * 1000:.1f} ms; RSS {rss_started:.0f} -> {rss_loaded:.0f} -> {rss_after:.0f} MB; "
          f"{c.machine_load()}")
    return {"crates": crates, "publish_s": latencies, "median_publish_s": c.median(latencies),
            "read_all_index_files_s": read_seconds, "rss_started_mb": rss_started,
            "rss_after_reading_index_mb": rss_loaded, "rss_after_publishes_mb": rss_after}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=1000, help="crates in the small registry")
    parser.add_argument("--large", type=int, default=20000, help="crates in the large registry")
    parser.add_argument("--publishes", type=int, default=30, help="timed publishes per size")
    parser.add_argument("--database-url", help="database for the registry (default: SQLite in the work folder)")
    parser.add_argument("--seed-via-publish", action="store_true",
                        help="seed through store_versions (rows, .crate files, fsyncs: ~30 ms a crate) "
                             "instead of bulk inserts")
    args = parser.parse_args()

    work = c.make_workdir("publish")
    port = c.free_port()
    config = c.registry_config(work, port, args.database_url)
    app = c.open_app(config)
    token = c.publisher_token(app)
    seed_up_to(app, 0, args.small, args.seed_via_publish)
    app.extensions["alexandrie"].database.close_all()
    small = measure(config, port, token, args.small, args.publishes)
    seed_up_to(app, args.small, args.large, args.seed_via_publish)
    app.extensions["alexandrie"].database.close_all()
    large = measure(config, port, token, args.large, args.publishes)

    ratio = large["median_publish_s"] / small["median_publish_s"]
    rows = [[f"{r['crates']} crates", r["median_publish_s"] * 1000, r["rss_after_reading_index_mb"],
             r["rss_after_publishes_mb"]] for r in (small, large)]
    rows.append([f"ratio {args.large}/{args.small}", ratio, "", ""])
    c.print_table(f"median publish latency over HTTP ({args.publishes} publishes per size) and VmRSS of "
                  "`alexandrie serve`", ["registry", "publish ms", "RSS loaded MB", "RSS after publishes MB"], rows)
    print(f"\nlatency {'does not grow' if ratio <= 1.2 else 'GROWS'} (ratio {ratio:.2f}); RSS at {args.large} "
          f"crates {large['rss_after_publishes_mb']:.0f} MB "
          f"({'under' if large['rss_after_publishes_mb'] < RSS_LIMIT_MB else 'OVER'} {RSS_LIMIT_MB} MB)")
    c.write_results("publish", {"database": args.database_url or "sqlite",
                                "seeding": "publish code path" if args.seed_via_publish else "bulk inserts",
                                "small": small, "large": large,
                                "latency_ratio": ratio, "rss_limit_mb": RSS_LIMIT_MB})
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
