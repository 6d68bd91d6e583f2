"""Parallel publishes over real HTTP: one winner per version, and the database, storage and index agree."""

import hashlib
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from alexandrie.db import connection
from alexandrie.models import Crate, Dependency, IndexFile, Version
from alexandrie.testing import crate_metadata, make_crate, publish_body

PUBLISHERS = 8


def publish_all(registry, uploads: list[tuple[str, bytes]]) -> list[tuple[int, dict]]:
    """Send every (token, body) at once: all threads wait at a barrier, then PUT together."""
    barrier = threading.Barrier(len(uploads))

    def send(upload):
        token, body = upload
        barrier.wait(timeout=30)
        status, _, raw = registry.request("PUT", "/api/v1/crates/new", body=body, headers={"Authorization": token})
        return status, json.loads(raw)

    with ThreadPoolExecutor(len(uploads)) as pool:
        return list(pool.map(send, uploads))


def distinct_upload(name: str, version: str, variant: int) -> tuple[bytes, str]:
    """A valid upload whose .crate differs per variant, so the stored file tells who won."""
    tarball = make_crate(name, version, files={"src/lib.rs": f"pub fn variant() -> u32 {{ {variant} }}\n".encode()})
    return publish_body(crate_metadata(name, version, description=f"variant {variant}"), tarball), \
        hashlib.sha256(tarball).hexdigest()


def stored(registry, name: str) -> dict:
    """What the database, storage and served index say about one crate."""
    with registry.app.app_context(), connection():
        crate = Crate.get_or_none(Crate.name == name)
        versions = list(Version.select().where(Version.crate == crate)) if crate else []
        rows = {v.num: v.cksum for v in versions}
        index_rows = IndexFile.select().where(IndexFile.crate == crate).count() if crate else 0
    storage = registry.app.extensions["alexandrie"].storage
    with registry.app.app_context():
        files = {num: hashlib.sha256(storage.read_crate(name, num)).hexdigest()
                 for num in rows if storage.crate_exists(name, num)}
    lines = registry.index_lines(name) if rows else []
    return {"rows": rows, "files": files, "index": [(line["vers"], line["cksum"]) for line in lines],
            "index_rows": index_rows}


@pytest.fixture(scope="module")
def tokens(module_registry):
    return [module_registry.user(f"racer{i}") for i in range(PUBLISHERS)]


def test_parallel_publishes_of_the_same_new_version_have_exactly_one_winner(module_registry, tokens):
    """Different users race for a new crate: one creates it, the rest are told it exists."""
    uploads = [distinct_upload("race-same", "1.0.0", i) for i in range(PUBLISHERS)]
    results = publish_all(module_registry, [(token, body) for token, (body, _) in zip(tokens, uploads)])

    winners = [i for i, (status, _) in enumerate(results) if status == 200]
    assert len(winners) == 1, results
    for i, (status, body) in enumerate(results):
        if i != winners[0]:
            assert status in (403, 409), (status, body)
            detail = body["errors"][0]["detail"]
            assert "already published" in detail or "not an owner of crate `race-same`" in detail, detail
    cksum = uploads[winners[0]][1]
    assert stored(module_registry, "race-same") == {"rows": {"1.0.0": cksum}, "files": {"1.0.0": cksum},
                                                   "index": [("1.0.0", cksum)], "index_rows": 1}
    owners = module_registry.get_json("/api/v1/crates/race-same/owners")["users"]
    assert [u["login"] for u in owners] == [f"racer{winners[0]}"]


def test_parallel_publishes_of_the_same_version_by_one_owner_have_exactly_one_winner(module_registry, tokens):
    """The crate exists and one owner uploads the same new version many times at once (a CI retry storm)."""
    owner = tokens[0]
    first, _ = distinct_upload("race-owned", "0.1.0", 0)
    assert publish_all(module_registry, [(owner, first)])[0][0] == 200
    uploads = [distinct_upload("race-owned", "0.2.0", i) for i in range(PUBLISHERS)]
    results = publish_all(module_registry, [(owner, body) for body, _ in uploads])

    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [409] * (PUBLISHERS - 1), results
    winner = next(i for i, (status, _) in enumerate(results) if status == 200)
    state = stored(module_registry, "race-owned")
    assert state["rows"]["0.2.0"] == state["files"]["0.2.0"] == uploads[winner][1]
    assert [vers for vers, _ in state["index"]] == ["0.1.0", "0.2.0"]
    assert dict(state["index"]) == state["rows"] == state["files"]


def test_parallel_publishes_of_different_versions_all_succeed_and_each_line_appears_once(module_registry, tokens):
    """Many versions of one brand-new crate at once (the crate row itself is raced for), by one user."""
    owner = tokens[1]
    versions = [f"0.{i}.0" for i in range(PUBLISHERS)]
    uploads = [distinct_upload("race-versions", vers, i) for i, vers in enumerate(versions)]
    results = publish_all(module_registry, [(owner, body) for body, _ in uploads])

    assert [status for status, _ in results] == [200] * PUBLISHERS, results
    state = stored(module_registry, "race-versions")
    expected = {vers: cksum for vers, (_, cksum) in zip(versions, uploads)}
    assert state["rows"] == state["files"] == expected
    assert sorted(state["index"]) == sorted(expected.items()), "every version exactly once"
    assert state["index_rows"] == 1


def test_parallel_publishes_of_different_new_crates_all_succeed(module_registry, tokens):
    names = [f"race-crate-{i}" for i in range(PUBLISHERS)]
    uploads = [distinct_upload(name, "1.0.0", i) for i, name in enumerate(names)]
    results = publish_all(module_registry, [(token, body) for token, (body, _) in zip(tokens, uploads)])

    assert [status for status, _ in results] == [200] * PUBLISHERS, results
    for name, (_, cksum) in zip(names, uploads):
        assert stored(module_registry, name) == {"rows": {"1.0.0": cksum}, "files": {"1.0.0": cksum},
                                                 "index": [("1.0.0", cksum)], "index_rows": 1}


def test_parallel_publishes_with_dependencies_on_each_other_leave_consistent_rows(module_registry, tokens):
    """Versions of a crate that depends on another, published while that one gets new versions too."""
    owner = tokens[2]
    base, _ = distinct_upload("race-dep-base", "1.0.0", 0)
    assert publish_all(module_registry, [(owner, base)])[0][0] == 200
    uploads = []
    for i in range(PUBLISHERS // 2):
        uploads.append((owner, distinct_upload("race-dep-base", f"1.{i + 1}.0", i)[0]))
        meta = crate_metadata("race-dep-user", f"0.{i}.0", deps=[
            {"name": "race-dep-base", "version_req": "^1", "features": [], "optional": False,
             "default_features": True, "target": None, "kind": "normal"}])
        uploads.append((owner, publish_body(meta, make_crate("race-dep-user", f"0.{i}.0"))))
    results = publish_all(module_registry, uploads)

    assert [status for status, _ in results] == [200] * len(uploads), results
    assert len(module_registry.index_lines("race-dep-base")) == 1 + PUBLISHERS // 2
    user_lines = module_registry.index_lines("race-dep-user")
    assert sorted(line["vers"] for line in user_lines) == [f"0.{i}.0" for i in range(PUBLISHERS // 2)]
    assert all(line["deps"][0]["name"] == "race-dep-base" for line in user_lines)
    with module_registry.app.app_context(), connection():
        user_crate = Crate.get(Crate.name == "race-dep-user")
        dep_rows = (Dependency.select().join(Version).where(Version.crate == user_crate).count())
    assert dep_rows == PUBLISHERS // 2


def test_yanks_racing_publishes_leave_the_index_file_equal_to_the_database(module_registry, tokens):
    """Each write re-renders the crate's whole file: a yank must not overwrite a concurrent publish's line."""
    from alexandrie.services.index_files import render_index_file

    owner = tokens[3]
    olds = [f"1.0.{i}" for i in range(PUBLISHERS // 2)]
    for vers in olds:
        assert publish_all(module_registry, [(owner, distinct_upload("race-yank", vers, 0)[0])])[0][0] == 200
    barrier = threading.Barrier(PUBLISHERS)

    def yank(vers):
        barrier.wait(timeout=30)
        return module_registry.request("DELETE", f"/api/v1/crates/race-yank/{vers}/yank",
                                       headers={"Authorization": owner})[0]

    def publish(vers):
        body = distinct_upload("race-yank", vers, 1)[0]
        barrier.wait(timeout=30)
        return module_registry.request("PUT", "/api/v1/crates/new", body=body, headers={"Authorization": owner})[0]

    with ThreadPoolExecutor(PUBLISHERS) as pool:
        jobs = [pool.submit(yank, vers) for vers in olds]
        jobs += [pool.submit(publish, f"2.0.{i}") for i in range(PUBLISHERS // 2)]
        assert [job.result() for job in jobs] == [200] * PUBLISHERS

    lines = module_registry.index_lines("race-yank")
    assert {line["vers"]: line["yanked"] for line in lines} == {
        **{vers: True for vers in olds}, **{f"2.0.{i}": False for i in range(PUBLISHERS // 2)}}
    with module_registry.app.app_context(), connection():
        crate = Crate.get(Crate.name == "race-yank")
        assert IndexFile.get(IndexFile.crate == crate).content == render_index_file(crate)
        assert crate.max_version == "2.0.3"
