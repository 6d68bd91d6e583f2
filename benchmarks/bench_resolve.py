"""Cargo against Alexandrie (``alexandrie serve``) and against nginx serving the same files, in one run.

For a consumer with ``--deps`` registry dependencies, each repetition times, in a fresh CARGO_HOME:
``cargo generate-lockfile`` (cold cache), ``cargo fetch`` (downloads every .crate) and
``cargo generate-lockfile`` again after deleting Cargo.lock (warm cache: every index file revalidated, 304s).
The two servers alternate within each repetition, so machine load hits both alike. Then cargo's index
requests are replayed on one keep-alive connection (its headers, one after another) to give the
median time of one request, 200 and 304, without cargo's own CPU time in it.
Target: each median within 1.5x of nginx's.

    .venv/bin/python benchmarks/bench_resolve.py --deps 60 --reps 5
"""

import argparse
import http.client
import os
import shutil
import subprocess
import time
from pathlib import Path

import _common as c

STEPS = ("cold generate-lockfile", "fetch", "warm generate-lockfile")
TARGET_RATIO = 1.5


def dep_name(i: int) -> str:
    return f"bench-dep-{i:03d}"


def seed_versions(count: int):
    """Three versions per crate; each crate after the first depends on its predecessor, so resolution walks."""
    for i in range(count):
        deps = [(dep_name(i - 1), "^0.2")] if i else []
        for vers in ("0.1.0", "0.1.1", "0.2.0"):
            yield c.new_version(dep_name(i), vers, deps if vers == "0.2.0" else [])


def write_consumer(folder: Path, count: int) -> Path:
    (folder / "src").mkdir(parents=True, exist_ok=True)
    (folder / "src" / "lib.rs").write_text("")
    deps = "".join(f'{dep_name(i)} = {{ version = "0.2", registry = "alex" }}\n' for i in range(count))
    (folder / "Cargo.toml").write_text(
        '[package]\nname = "bench-consumer"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\n' + deps)
    return folder


def cargo_env(home: Path, server: c.Server) -> dict:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(f'[registries.alex]\nindex = "{server.index_url}"\n[net]\nretry = 0\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARGO_")}
    env.update({"CARGO_HOME": str(home), "CARGO_TERM_COLOR": "never", "CARGO_NET_OFFLINE": "false"})
    return env


def timed_cargo(args, cwd: Path, env: dict) -> float:
    start = time.perf_counter()
    result = subprocess.run(["cargo", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"cargo {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return elapsed


def one_repetition(server: c.Server, consumer: Path, home: Path) -> dict:
    shutil.rmtree(home, ignore_errors=True)
    (consumer / "Cargo.lock").unlink(missing_ok=True)
    env = cargo_env(home, server)
    times = {STEPS[0]: timed_cargo(["generate-lockfile"], consumer, env),
             STEPS[1]: timed_cargo(["fetch"], consumer, env)}
    (consumer / "Cargo.lock").unlink()
    times[STEPS[2]] = timed_cargo(["generate-lockfile"], consumer, env)
    return times


CARGO_HEADERS = {"User-Agent": "cargo/1.95.0", "Accept-Encoding": "deflate, gzip", "cargo-protocol": "version=1",
                 "Connection": "Upgrade, HTTP2-Settings", "Upgrade": "h2c",
                 "HTTP2-Settings": "AAMAAABkAAQAAQAAAAIAAAAA", "accept": "text/plain"}


def replay(server: c.Server, count: int) -> dict:
    """The index requests of a cold then a warm resolve, as cargo sends them (one keep-alive connection,
    one after another): milliseconds per request, for 200s and for 304s."""
    from alexandrie.rules.names import index_path

    paths = ["/index/config.json"] + [f"/index/{index_path(dep_name(i))}" for i in range(count)]
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    times, etags = {"200": [], "304": []}, {}
    for status in ("200", "304"):
        for path in paths:
            headers = {**CARGO_HEADERS, **({"If-None-Match": etags[path]} if status == "304" else {})}
            started = time.perf_counter()
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            times[status].append((time.perf_counter() - started) * 1000)
            if str(response.status) != status:
                raise SystemExit(f"{server.name} answered {response.status} to {path}, expected {status}")
            etags[path] = response.headers["ETag"]
    conn.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deps", type=int, default=60, help="registry dependencies of the consumer")
    parser.add_argument("--reps", type=int, default=5, help="repetitions per server")
    parser.add_argument("--database-url", help="database for the registry (default: SQLite in the work folder)")
    parser.add_argument("--nginx-workers", default="auto", help="nginx worker_processes (Debian's default: auto)")
    args = parser.parse_args()
    c.need_tool("cargo", "rustup or apt-get install cargo")
    c.need_tool("nginx", "apt-get install nginx-light")

    work = c.make_workdir("resolve")
    alex_port, nginx_port = c.free_port(), c.free_port()
    config = c.registry_config(work, alex_port, args.database_url)
    app = c.open_app(config)
    c.publisher_token(app)
    c.seed(app, seed_versions(args.deps))
    exported = c.export_static(app, work / "static", f"http://127.0.0.1:{nginx_port}")
    app.extensions["alexandrie"].database.close_all()
    print(f"seeded {args.deps} crates x 3 versions; exported {exported} files for nginx; {c.machine_load()}")

    consumer = write_consumer(work / "consumer", args.deps)
    samples = {"alexandrie": {s: [] for s in STEPS}, "nginx": {s: [] for s in STEPS}}
    with c.alexandrie_server(config, alex_port) as alex, c.nginx_server(work / "static", nginx_port,
                                                                       args.nginx_workers) as nginx:
        for rep in range(args.reps):
            for server in (alex, nginx) if rep % 2 == 0 else (nginx, alex):
                for step, seconds in one_repetition(server, consumer, work / f"home-{server.name}").items():
                    samples[server.name][step].append(seconds)
            print(f"repetition {rep + 1}/{args.reps} done; {c.machine_load()}")
        per_request = {"alexandrie": {"200": [], "304": []}, "nginx": {"200": [], "304": []}}
        for rep in range(args.reps):
            for server in (alex, nginx) if rep % 2 == 0 else (nginx, alex):
                for status, values in replay(server, args.deps).items():
                    per_request[server.name][status].extend(values)

    rows, summary = [], {}
    for step in STEPS:
        alex_median, nginx_median = c.median(samples["alexandrie"][step]), c.median(samples["nginx"][step])
        ratio = alex_median / nginx_median
        summary[step] = {"alexandrie_s": alex_median, "nginx_s": nginx_median, "ratio": ratio,
                         "within_target": ratio <= TARGET_RATIO}
        rows.append([step, alex_median, nginx_median, ratio, "yes" if ratio <= TARGET_RATIO else "NO"])
    c.print_table(f"cargo with {args.deps} registry dependencies, median seconds of {args.reps} runs",
                  ["step", "alexandrie s", "nginx s", "ratio", f"<= {TARGET_RATIO}x"], rows)
    replay_rows = []
    for status in ("200", "304"):
        alex_ms, nginx_ms = c.median(per_request["alexandrie"][status]), c.median(per_request["nginx"][status])
        summary[f"index request {status}"] = {"alexandrie_ms": alex_ms, "nginx_ms": nginx_ms,
                                              "ratio": alex_ms / nginx_ms}
        replay_rows.append([status, alex_ms, nginx_ms, alex_ms / nginx_ms])
    c.print_table(f"cargo's index requests replayed on one connection, median ms per request "
                  f"({args.reps} x {args.deps + 1} requests)", ["status", "alexandrie ms", "nginx ms", "ratio"],
                  replay_rows)
    c.write_results("resolve", {"deps": args.deps, "reps": args.reps, "nginx_workers": args.nginx_workers,
                                "database": args.database_url or "sqlite", "medians": summary,
                                "samples": samples, "replay_ms": per_request})
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
