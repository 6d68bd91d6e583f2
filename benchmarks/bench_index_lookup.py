"""One index request in-process, through the WSGI fast path and through the Flask view, in one run.

Both doors answer from the same ``services.index_files.lookup``; the fast path skips Flask's request
machinery. Calls the WSGI callables directly (no sockets, no HTTP parsing), alternating between the
two doors, for a 200 (full file) and a 304 (``If-None-Match`` with the current ETag). Prints the
median microseconds per request of each door and the view's cost as a multiple of the fast path's.

    .venv/bin/python benchmarks/bench_index_lookup.py --calls 3000 --reps 7
"""

import argparse
import io
import time

import _common as c

CRATE = "bench-hot-crate"
PATH = "/index/be/nc/bench-hot-crate"


def environ(if_none_match: str | None) -> dict:
    env = {"REQUEST_METHOD": "GET", "PATH_INFO": PATH, "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80",
           "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(),
           "wsgi.errors": io.StringIO(), "REMOTE_ADDR": "127.0.0.1"}
    if if_none_match:
        env["HTTP_IF_NONE_MATCH"] = if_none_match
    return env


def per_request(wsgi_app, if_none_match: str | None, calls: int, expected: str) -> float:
    """Microseconds per request over ``calls`` requests; every answer must have the expected status."""
    seen = []

    def start_response(status, headers, exc_info=None):
        seen.append(status)

    started = time.perf_counter()
    for _ in range(calls):
        b"".join(wsgi_app(environ(if_none_match), start_response))
    elapsed = time.perf_counter() - started
    assert {status.split()[0] for status in seen} == {expected}, set(seen)
    return elapsed / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000, help="requests per measurement")
    parser.add_argument("--reps", type=int, default=7, help="measurements per door and case")
    parser.add_argument("--versions", type=int, default=30, help="versions in the index file")
    args = parser.parse_args()
    work = c.make_workdir("index-lookup")
    app = c.open_app(c.registry_config(work, c.free_port()))
    c.publisher_token(app)
    c.seed(app, [c.new_version(CRATE, f"0.{n}.0") for n in range(args.versions)])
    fast_path = app.wsgi_app
    flask_view = fast_path.wsgi_app
    etag = next(value for name, value in _headers(flask_view) if name == "ETag")
    results = {}
    for case, tag in (("200", None), ("304", etag)):
        timings = {"fast path": [], "flask view": []}
        for _ in range(args.reps):  # alternate, so machine load hits both doors alike
            timings["fast path"].append(per_request(fast_path, tag, args.calls, case))
            timings["flask view"].append(per_request(flask_view, tag, args.calls, case))
        results[case] = {door: c.median(values) for door, values in timings.items()}
    app.extensions["alexandrie"].database.close_all()
    print(f"\n{c.machine_load()}; {args.reps} x {args.calls} calls per door and case\n")
    print(f"{'case':6}{'fast path (us)':>16}{'flask view (us)':>17}{'view / fast':>13}")
    for case, medians in results.items():
        ratio = medians["flask view"] / medians["fast path"]
        print(f"{case:6}{medians['fast path']:16.1f}{medians['flask view']:17.1f}{ratio:13.2f}")
        medians["view_over_fast"] = ratio
    c.write_results("index-lookup", {"calls": args.calls, "reps": args.reps, "versions": args.versions,
                                     "median_us": results})


def _headers(wsgi_app) -> list:
    captured = []
    b"".join(wsgi_app(environ(None), lambda status, headers, exc_info=None: captured.extend(headers)))
    return captured


if __name__ == "__main__":
    main()
