"""One sparse index file under many concurrent clients: Alexandrie (``alexandrie serve``) vs nginx, same run.

Measures requests/s for full responses (200) and for revalidations (``If-None-Match`` with the
current ETag, 304) on each server, with ``wrk`` when installed (``apt-get install wrk``), else a
Python thread client (slower; it then measures the client as much as the servers). Runs alternate
between the servers; the table shows medians and Alexandrie's fraction of nginx's rate.

    .venv/bin/python benchmarks/bench_index_throughput.py --connections 32 --duration 5 --reps 3
"""

import argparse
import http.client
import re
import shutil
import subprocess
import threading
import time
import urllib.request

import _common as c

CRATE = "bench-hot-crate"
CASES = ("200", "304")


def etag_of(url: str) -> str:
    with urllib.request.urlopen(url) as response:
        return response.headers["ETag"]


def run_wrk(url: str, headers: dict, connections: int, duration: int, threads: int) -> dict:
    args = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s", "--latency"]
    for key, value in headers.items():
        args += ["-H", f"{key}: {value}"]
    output = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    socket_errors = re.search(r"Socket errors:.*", output)
    return {"rps": rate, "bad_responses": int(errors.group(1)) if errors else 0,
            "socket_errors": socket_errors.group(0) if socket_errors else None}


def run_threads(url: str, headers: dict, connections: int, duration: int, expected: int) -> dict:
    """A keep-alive client per thread; counts responses with the expected status."""
    host, port = url.removeprefix("http://").split("/")[0].split(":")
    path = "/" + url.removeprefix("http://").split("/", 1)[1]
    counts, bad = [0] * connections, [0] * connections
    deadline = time.monotonic() + duration

    def client(slot: int) -> None:
        conn = http.client.HTTPConnection(host, int(port))
        while time.monotonic() < deadline:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status == expected:
                counts[slot] += 1
            else:
                bad[slot] += 1
        conn.close()

    workers = [threading.Thread(target=client, args=(i,)) for i in range(connections)]
    start = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return {"rps": sum(counts) / (time.monotonic() - start), "bad_responses": sum(bad), "socket_errors": None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=32, help="concurrent keep-alive clients")
    parser.add_argument("--duration", type=int, default=5, help="seconds per measurement")
    parser.add_argument("--reps", type=int, default=3, help="measurements per server and case")
    parser.add_argument("--versions", type=int, default=30, help="versions in the hot index file")
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (the machine's cores are shared)")
    parser.add_argument("--server-threads", type=int, default=8, help="waitress threads")
    parser.add_argument("--database-url", help="database for the registry (default: SQLite in the work folder)")
    parser.add_argument("--nginx-workers", default="auto", help="nginx worker_processes (Debian's default: auto)")
    args = parser.parse_args()
    c.need_tool("nginx", "apt-get install nginx-light")
    use_wrk = shutil.which("wrk") is not None
    if not use_wrk:
        print("`wrk` is not installed (apt-get install wrk); using the slower Python thread client")

    work = c.make_workdir("throughput")
    alex_port, nginx_port = c.free_port(), c.free_port()
    config = c.registry_config(work, alex_port, args.database_url, threads=args.server_threads)
    app = c.open_app(config)
    c.publisher_token(app)
    c.seed(app, [c.new_version(CRATE, f"1.{i}.0") for i in range(args.versions)])
    c.export_static(app, work / "static", f"http://127.0.0.1:{nginx_port}")
    app.extensions["alexandrie"].database.close_all()
    from alexandrie.rules.names import index_path

    path = f"/index/{index_path(CRATE)}"
    print(f"hot file {path}: {args.versions} versions; "
          f"{'wrk' if use_wrk else 'python threads'}, {args.connections} connections; {c.machine_load()}")

    samples = {(s, case): [] for s in ("alexandrie", "nginx") for case in CASES}
    details = []
    with c.alexandrie_server(config, alex_port, args.server_threads) as alex, \
            c.nginx_server(work / "static", nginx_port, args.nginx_workers) as nginx:
        for rep in range(args.reps):
            for server in (alex, nginx) if rep % 2 == 0 else (nginx, alex):
                url = server.url + path
                for case in CASES:
                    headers = {"If-None-Match": etag_of(url)} if case == "304" else {}
                    if use_wrk:
                        result = run_wrk(url, headers, args.connections, args.duration, args.wrk_threads)
                    else:
                        result = run_threads(url, headers, args.connections, args.duration, int(case))
                    samples[(server.name, case)].append(result["rps"])
                    details.append({"server": server.name, "case": case, "rep": rep, **result})
                    if result["bad_responses"] or result["socket_errors"]:
                        print(f"  {server.name} {case}: {result['bad_responses']} unexpected responses, "
                              f"{result['socket_errors']}")
            print(f"repetition {rep + 1}/{args.reps} done; {c.machine_load()}")
        rss = {"alexandrie_mb": alex.rss_mb(), "nginx_master_mb": nginx.rss_mb()}

    rows, summary = [], {}
    for case in CASES:
        alex_rps, nginx_rps = c.median(samples[("alexandrie", case)]), c.median(samples[("nginx", case)])
        summary[case] = {"alexandrie_rps": alex_rps, "nginx_rps": nginx_rps, "fraction_of_nginx": alex_rps / nginx_rps}
        rows.append([case, alex_rps, nginx_rps, alex_rps / nginx_rps])
    c.print_table(f"{path}, {args.connections} concurrent clients, median requests/s of {args.reps} x "
                  f"{args.duration}s", ["status", "alexandrie req/s", "nginx req/s", "fraction of nginx"], rows)
    c.write_results("index-throughput", {
        "client": "wrk" if use_wrk else "python-threads", "connections": args.connections,
        "duration_s": args.duration, "reps": args.reps, "versions": args.versions,
        "server_threads": args.server_threads, "nginx_workers": args.nginx_workers,
        "database": args.database_url or "sqlite", "medians": summary, "rss_after": rss, "runs": details})
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
