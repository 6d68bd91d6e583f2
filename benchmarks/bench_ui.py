"""Web UI latency with a large registry: the crate page and the search page, served by ``alexandrie serve``.

Seeds ``--crates`` crates (default 10,000) through the publish code path, each with a Markdown README
(rendered once, at publish, by the installed renderer), keywords, a category, a dependency on an earlier
crate and a few days of downloads; then times sequential GETs of crate pages (chart, versions, reverse
dependencies, stored README) and of search pages (ranked text search, keyword filter, sort by downloads).
For scale it also times one Markdown render, the cost a page would pay if it rendered per request.

    .venv/bin/python benchmarks/bench_ui.py --crates 10000 --requests 200
    .venv/bin/python benchmarks/bench_ui.py --crates 10000 --reuse /tmp/alexandrie-bench-ui-XXXX   # re-measure
"""

import argparse
import hashlib
import random
import statistics
import sys
import time
import urllib.request
from datetime import date, timedelta
from pathlib import Path

import _common as c

README = """# {name}

`{name}` does useful things for the benchmark. See [the guide](docs/guide.md).

| Option | Default |
|--------|---------|
| fast   | yes     |

```rust
fn main() {{ println!("{name}"); }}
```

- [x] rendered at publish
- [ ] rendered per request
"""
WORDS = ["async", "parser", "http", "serde", "cli", "crypto", "graph", "image", "audio", "math"]


def crate_name(i: int) -> str:
    return f"{WORDS[i % len(WORDS)]}-tool-{i:05d}"


def seed_versions(count: int):
    from alexandrie.rules.metadata import read_metadata
    from alexandrie.testing import crate_metadata, dependency, make_crate

    for i in range(count):
        name = crate_name(i)
        deps = [dependency(crate_name(i - 1 - (i % 7)), "^0.1")] if i > 7 else []
        meta = crate_metadata(name, "0.1.0", description=f"A {WORDS[i % len(WORDS)]} crate number {i}",
                              readme=README.format(name=name), readme_file="README.md",
                              repository=f"https://github.com/bench/{name}", keywords=[WORDS[i % len(WORDS)], "bench"],
                              categories=["development-tools"], deps=deps, features={"default": []})
        new = read_metadata(meta)
        new.tarball = make_crate(name, "0.1.0")
        new.cksum = hashlib.sha256(new.tarball).hexdigest()
        yield new


def add_downloads(app, count: int) -> None:
    """30 days of downloads for every tenth crate, written directly (the counter batches the same rows)."""
    from alexandrie.db import connection, write_transaction
    from alexandrie.models import Version, VersionDownload

    today = date.today()
    with app.app_context(), connection(), write_transaction():
        ids = [v.id for v in Version.select(Version.id).order_by(Version.id)][::10]
        rows = [{"version": vid, "day": today - timedelta(days=d), "count": (vid * 7 + d) % 50 + 1}
                for vid in ids for d in range(30)]
        for start in range(0, len(rows), 500):
            VersionDownload.insert_many(rows[start:start + 500]).execute()


def time_get(url: str) -> float:
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as response:
        response.read()
        if response.status != 200:
            raise SystemExit(f"GET {url} answered {response.status}")
    return (time.perf_counter() - start) * 1000


def render_cost_ms(reps: int = 50) -> float:
    from alexandrie_render_mistune import render_markdown

    samples = []
    for i in range(reps):
        start = time.perf_counter()
        render_markdown(README.format(name=crate_name(i)), "https://github.com/bench/x", "README.md")
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crates", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200, help="GETs per page kind")
    parser.add_argument("--reuse", type=Path, metavar="DIR",
                        help="a folder seeded by an earlier run (printed at its start): skip seeding")
    args = parser.parse_args()

    workdir = args.reuse or c.make_workdir("ui")
    port = c.free_port()
    config = c.registry_config(workdir, port)
    config.write_text(config.read_text().replace("[frontend]\nenabled = false", "[frontend]\nenabled = true"))
    seed_seconds = float("nan")
    if args.reuse is None:
        app = c.open_app(config)
        c.publisher_token(app)
        started = time.perf_counter()
        print(f"seeding {args.crates} crates with READMEs into {workdir}", file=sys.stderr)
        c.seed(app, seed_versions(args.crates))
        add_downloads(app, args.crates)
        seed_seconds = time.perf_counter() - started
        app.extensions["alexandrie"].database.close_all()

    rng = random.Random(4)
    kinds = {
        "crate page": lambda: f"/crates/{crate_name(rng.randrange(args.crates))}",
        "search (text, relevance)": lambda: f"/search?q={rng.choice(WORDS)}+tool",
        "search (keyword filter, by downloads)": lambda: f"/search?keyword={rng.choice(WORDS)}&sort=downloads",
        "search (page 20)": lambda: "/search?q=tool&page=20",
        "home": lambda: "/",
    }
    results = {}
    with c.alexandrie_server(config, port) as server:
        for kind, path in kinds.items():
            for _ in range(5):
                time_get(server.url + path())  # warm-up
            samples = [time_get(server.url + path()) for _ in range(args.requests)]
            results[kind] = {"median_ms": statistics.median(samples),
                             "p95_ms": sorted(samples)[int(len(samples) * 0.95) - 1], "requests": len(samples)}
        rss = server.rss_mb()
    render_ms = render_cost_ms()
    c.print_table(f"Web UI latency, {args.crates} crates, sequential requests ({c.machine_load()})",
                  ["page", "median ms", "p95 ms", "requests"],
                  [[k, v["median_ms"], v["p95_ms"], v["requests"]] for k, v in results.items()])
    print(f"\nseeding took {seed_seconds:.0f}s (nan: reused); server RSS {rss:.0f} MB; one README render (mistune+nh3) "
          f"costs {render_ms:.2f} ms and is paid once, at publish")
    c.write_results("bench_ui", {"crates": args.crates, "results": results, "render_ms": render_ms,
                                 "seed_seconds": seed_seconds, "rss_mb": rss})


if __name__ == "__main__":
    main()
