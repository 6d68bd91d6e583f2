"""Publish latency with the git index on, for registries of 1,000 and 20,000 crates.

    .venv/bin/python plugins/alexandrie-index-git/benchmarks/bench_git_publish.py [--sizes 1000 20000]
        [--publishes 40] [--worktree] [--no-fsync] [--baseline]

Each size gets a fresh registry (SQLite, disk storage, git index), seeded in bulk: rows
inserted directly, then one ``rebuild`` commit. Then it times full publishes through the
API (database transaction, storage, git commit) and, separately, the git commit alone
(``update_crate``). Both should stay flat as the index grows: a commit builds new trees
only along the changed path.
"""

import argparse
import hashlib
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from alexandrie import canonical_name, connection, index_path, registry
from alexandrie.models import Crate, CrateOwner, IndexFile, User, Version, utcnow
from alexandrie.testing import (
    crate_metadata,
    create_app,
    create_user_with_token,
    etag_of,
    get_plugin_manager,
    make_crate,
    publish_body,
)
from alexandrie.testing import test_config as registry_config


def seed(app, count: int, owner_login: str) -> float:
    """Insert ``count`` crates with one version each and commit the whole index once."""
    started = time.perf_counter()
    now = utcnow()
    names = [seed_name(i) for i in range(count)]
    with app.app_context(), connection() as db, db.atomic():
        for chunk in _chunks(names, 500):
            Crate.insert_many([{"name": n, "canonical_name": canonical_name(n), "max_version": "1.0.0",
                                "created_at": now, "updated_at": now} for n in chunk]).execute()
        ids = {c.name: c.id for c in Crate.select(Crate.id, Crate.name)}
        owner = User.get(User.login == owner_login)
        for chunk in _chunks(names, 500):
            CrateOwner.insert_many([{"crate": ids[n], "user": owner.id, "added_at": now} for n in chunk]).execute()
        files = []
        for chunk in _chunks(names, 500):
            rows, index_rows = [], []
            for name in chunk:
                cksum = f"{ids[name]:064x}"
                rows.append({"crate": ids[name], "num": "1.0.0", "num_unique": "1.0.0", "cksum": cksum, "deps": [],
                             "features": {}, "published_at": now, "authors": [], "keywords": [],
                             "categories": [], "badges": {}})
                line = json.dumps({"name": name, "vers": "1.0.0", "deps": [], "cksum": cksum, "features": {},
                                   "yanked": False, "links": None, "v": 1, "rust_version": None,
                                   "pubtime": now.strftime("%Y-%m-%dT%H:%M:%SZ")}, separators=(",", ":")) + "\n"
                index_rows.append({"crate": ids[name], "path": index_path(name), "content": line, "etag": etag_of(line)})
                files.append((name, line))
            Version.insert_many(rows).execute()
            IndexFile.insert_many(index_rows).execute()
        registry(app).index.rebuild(files, f"Seed {count} crates")
    return time.perf_counter() - started


def seed_name(i: int) -> str:
    """Names spread over the index folders like real ones (``seed-crate-N`` would put all in ``se/ed/``)."""
    digest = hashlib.sha256(str(i).encode()).hexdigest()
    return "".join(chr(97 + int(c, 16) % 26) for c in digest[:8]) + f"-{i}"


def _chunks(items, size):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def time_publishes(app, token: str, count: int, existing: int) -> list[float]:
    """Half new versions of seeded crates, half brand-new crates; milliseconds each."""
    client = app.test_client()
    timings = []
    for i in range(count):
        name, version = (seed_name((i * 7919) % existing), "1.1.0") if i % 2 else (f"bench-new-{i}", "0.1.0")
        body = publish_body(crate_metadata(name, version), make_crate(name, version))
        started = time.perf_counter()
        response = client.put("/api/v1/crates/new", data=body, headers={"Authorization": token})
        timings.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"publish of {name} {version} failed: {response.status_code} {response.data[:300]!r}")
    return timings


def time_git_commits(app, count: int, existing: int) -> list[float]:
    index = registry(app).index
    timings = []
    for i in range(count):
        name = seed_name((i * 104729) % existing)
        started = time.perf_counter()
        index.update_crate(name, f"bench line {i}\n", f"Publish {name} 9.9.{i}")
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def run(size: int, publishes: int, bare: bool, index_type: str, fsync: bool = True) -> dict:
    root = Path(tempfile.mkdtemp(prefix=f"bench-git-{size}-"))
    try:
        index = {"type": index_type}
        if index_type == "git":
            index.update({"path": str(root / "index"), "bare": bare, "check_on_start": False, "fsync": fsync})
        app = create_app(registry_config(root, index=index, limits={"enabled": False}), pm=get_plugin_manager())
        token = create_user_with_token(app, "bench")
        seconds = seed(app, size, "bench")
        publish = time_publishes(app, token, publishes, size)
        label = index_type + ("" if bare else " worktree") + ("" if fsync else " no-fsync") if index_type == "git" else index_type
        result = {"size": size, "index": label,
                  "seed_s": round(seconds, 1), "publish_median_ms": round(statistics.median(publish), 1),
                  "publish_p90_ms": round(sorted(publish)[int(len(publish) * 0.9) - 1], 1)}
        if index_type == "git":
            commits = time_git_commits(app, publishes, size)
            result.update({"git_commit_median_ms": round(statistics.median(commits), 2),
                           "git_commit_p90_ms": round(sorted(commits)[int(len(commits) * 0.9) - 1], 2)})
        registry(app).index.close()
        registry(app).database.close_all()
        return result
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 20000])
    parser.add_argument("--publishes", type=int, default=40)
    parser.add_argument("--worktree", action="store_true", help="a non-bare repository (checked-out files kept in step)")
    parser.add_argument("--no-fsync", action="store_true", help="[index] fsync = false")
    parser.add_argument("--baseline", action="store_true", help="also time the sparse-only index")
    args = parser.parse_args(argv)
    for size in args.sizes:
        kinds = ["git", "sparse"] if args.baseline else ["git"]
        for kind in kinds:
            print(json.dumps(run(size, args.publishes, not args.worktree, kind, not args.no_fsync)), flush=True)


if __name__ == "__main__":
    sys.exit(main())
