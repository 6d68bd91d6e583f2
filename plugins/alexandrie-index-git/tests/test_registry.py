"""The git index inside a registry: commits per change, byte equality with the sparse index, repair."""

import base64
import gzip
import logging
import subprocess

import pytest

from alexandrie import connection, hookimpl, index_path
from alexandrie import registry as registry_of
from alexandrie.models import IndexFile, Version
from alexandrie.testing import LiveServer, require_tool
from alexandrie_index_git import GitIndex


@pytest.fixture
def registry(git_app, publisher):
    app = git_app()
    return app, publisher(app)


def test_aliases_of_the_rust_alexandrie_select_the_git_index(git_app):
    for name in ("command-line", "git2"):
        app = git_app(type=name)
        assert isinstance(registry_of(app).index, GitIndex)


def test_every_change_is_one_commit_saying_what_happened(registry, history, tmp_path):
    app, api = registry
    assert api.publish("foo", "1.0.0").status_code == 200
    assert api.publish("foo", "1.1.0").status_code == 200
    assert api.yank("foo", "1.0.0").status_code == 200
    assert api.yank("foo", "1.0.0", undo=True).status_code == 200
    assert [c.message.strip() for c in history(tmp_path / "index")] == [
        "Unyank foo 1.0.0", "Yank foo 1.0.0", "Publish foo 1.1.0", "Publish foo 1.0.0", "Create the index"]


def test_git_files_are_byte_for_byte_the_sparse_files_after_a_mixed_run(registry, head_file, tmp_path):
    app, api = registry
    names = ["a", "ab", "abc", "Mixed-Case", "serde_json", "tokio"]
    for name in names:
        for version in ("0.1.0", "0.2.0", "1.0.0-beta.1"):
            assert api.publish(name, version, features={"std": [], "serde": ["dep:serde"]} if name == "tokio" else {}).status_code == 200
    for name in names[::2]:
        api.yank(name, "0.1.0")
    api.yank("a", "0.1.0", undo=True)
    api.yank("tokio", "0.2.0")
    with app.app_context(), connection():
        rows = {row.path: row.content for row in IndexFile.select()}
    assert len(rows) == len(names)
    for name in names:
        served = api.sparse(name)
        assert served is not None and served == head_file(tmp_path / "index", index_path(name))
        assert served == rows[index_path(name)].encode()
    assert b'"yanked":true' in head_file(tmp_path / "index", index_path("tokio"))
    assert b'"features2":{"serde":["dep:serde"]}' in head_file(tmp_path / "index", index_path("tokio"))


def test_a_failed_git_commit_fails_the_publish_and_changes_nothing(registry, tmp_path, head_file):
    app, api = registry
    api.publish("foo", "1.0.0")
    lock = registry_of(app).index.git_dir / "refs" / "heads" / "main.lock"
    lock.write_text("held")
    response = api.publish("foo", "1.1.0")
    assert response.status_code == 503
    assert "git index" in response.json["errors"][0]["detail"]
    assert "nothing was published" in response.json["errors"][0]["detail"]
    with app.app_context(), connection():
        assert [v.num for v in Version.select()] == ["1.0.0"]
    assert not registry_of(app).storage.crate_exists("foo", "1.1.0")
    assert api.sparse("foo") == head_file(tmp_path / "index", "3/f/foo")
    lock.unlink()
    assert api.publish("foo", "1.1.0").status_code == 200


def test_a_crash_between_the_git_commit_and_the_database_commit_is_repaired(cli_runner, git_app, publisher, monkeypatch,
                                                                             tmp_path, head_file, history):
    app = git_app(check_on_start=False)
    api = publisher(app)
    api.publish("foo", "1.0.0")
    api.publish("bar", "1.0.0")

    class DieBeforeTheDatabaseCommits:
        """The last step inside a change's transaction, after the git commit: a crash there."""

        @hookimpl
        def alexandrie_event_in_transaction(self, event):
            raise RuntimeError("simulated crash after the git commit")

    crash = DieBeforeTheDatabaseCommits()
    registry_of(app).pm.register(crash)
    try:
        assert api.publish("foo", "2.0.0").status_code == 500
        assert api.publish("newcrate", "1.0.0").status_code == 500
    finally:
        registry_of(app).pm.unregister(crash)
    # git is ahead: it holds versions the database rolled back
    assert b'"vers":"2.0.0"' in head_file(tmp_path / "index", "3/f/foo")
    assert head_file(tmp_path / "index", "ne/wc/newcrate") is not None
    # and behind for bar, as after a lost write
    registry_of(app).index.update_crate("bar", "", "lost")
    result = cli_runner(app, "index", "check")
    assert result.exit_code == 0, result.output
    assert "repaired 3 of 3 files" in result.output
    assert "removed  ne/wc/newcrate" in result.output and "updated  3/f/foo" in result.output
    assert "added    3/b/bar" in result.output
    assert history(tmp_path / "index")[0].message.startswith("Repair 3 index files")
    for name in ("foo", "bar"):
        assert head_file(tmp_path / "index", index_path(name)) == api.sparse(name)
    assert head_file(tmp_path / "index", "ne/wc/newcrate") is None
    again = cli_runner(app, "index", "check")
    assert "matches the database (3 files checked)" in again.output


def test_the_next_start_repairs_a_difference(git_app, publisher, tmp_path, head_file):
    app = git_app()
    api = publisher(app)
    api.publish("foo", "1.0.0")
    registry_of(app).index.update_crate("foo", "stale\n", "Simulated crash")
    registry_of(app).index.update_crate("ghost", "x\n", "Simulated crash")
    restarted = git_app()
    assert head_file(tmp_path / "index", "3/f/foo") == publisher.sparse(api, "foo")
    assert head_file(tmp_path / "index", "gh/os/ghost") is None
    assert restarted is not app


def test_non_crate_files_are_left_alone_and_mixed_case_paths_are_moved(cli_runner, git_app, publisher, tmp_path, head_file):
    app = git_app(check_on_start=False)
    api = publisher(app)
    api.publish("Foo-Bar", "1.0.0")
    index = registry_of(app).index
    index.commit_files({"README.md": b"hello\n", "Fo/o-/Foo-Bar": b"old layout\n"}, "Rust Alexandrie leftovers")
    result = cli_runner(app, "index", "check")
    assert "removed  Fo/o-/Foo-Bar" in result.output
    assert head_file(tmp_path / "index", "README.md") == b"hello\n"
    assert head_file(tmp_path / "index", "fo/o-/foo-bar") == api.sparse("Foo-Bar")


def test_index_rebuild_regenerates_the_repository_in_one_commit(cli_runner, git_app, publisher, tmp_path, head_file, history):
    app = git_app(check_on_start=False, bare=False)
    api = publisher(app)
    for name in ("foo", "bar", "bazz"):
        api.publish(name, "1.0.0")
    index = registry_of(app).index
    index.commit_files({"3/f/foo": b"garbage\n", "3/b/bar": None}, "Damage")
    result = cli_runner(app, "index", "rebuild")
    assert result.exit_code == 0, result.output
    assert [c.message.strip() for c in history(tmp_path / "index")[:2]] == ["Rebuild the index from the database", "Damage"]
    for name in ("foo", "bar", "bazz"):
        assert head_file(tmp_path / "index", index_path(name)) == api.sparse(name)
    assert subprocess.run(["git", "status", "--porcelain"], cwd=tmp_path / "index", capture_output=True,
                          text=True).stdout == ""


def test_index_status_without_remotes(cli_runner, registry):
    app, api = registry
    api.publish("foo", "1.0.0")
    result = cli_runner(app, "index", "status")
    assert result.exit_code == 0, result.output
    assert "branch:     main" in result.output
    assert "Publish foo 1.0.0" in result.output
    assert "remotes:    none" in result.output


def test_index_commands_explain_when_the_index_is_not_git(cli_runner, make_app):
    app = make_app()
    result = cli_runner(app, "index", "check")
    assert result.exit_code != 0 and 'type = "git"' in result.output


# --- Smart HTTP -----------------------------------------------------------------------------------------


def test_info_refs_advertises_upload_pack_and_refuses_the_rest(registry):
    app, api = registry
    client = app.test_client()
    response = client.get("/git/index/info/refs?service=git-upload-pack")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/x-git-upload-pack-advertisement"
    assert response.data.startswith(b"001e# service=git-upload-pack\n0000")
    assert b"refs/heads/main" in response.data
    assert client.get("/git/index/info/refs?service=git-receive-pack").status_code == 403
    assert client.get("/git/index/info/refs").status_code == 403
    assert client.post("/git/index/git-receive-pack", data=b"0000").status_code == 403


def test_upload_pack_accepts_gzip_bodies(registry):
    app, api = registry
    client = app.test_client()
    head = registry_of(app).index.head_commit().id
    want = f"want {head} ofs-delta\n".encode()
    request = f"{len(want) + 4:04x}".encode() + want + b"0000" + b"0009done\n"
    for body, headers in ((request, {}), (gzip.compress(request), {"Content-Encoding": "gzip"})):
        response = client.post("/git/index/git-upload-pack", data=body,
                               headers={"Content-Type": "application/x-git-upload-pack-request", **headers})
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "application/x-git-upload-pack-result"
        assert b"PACK" in response.get_data()
    broken = client.post("/git/index/git-upload-pack", data=b"not gzip", headers={"Content-Encoding": "gzip"})
    assert broken.status_code == 400


def test_git_clones_over_smart_http_with_the_token_on_a_private_registry(make_app, tmp_path, publisher, head_file,
                                                                        cli_runner):
    require_tool("git")
    app = make_app(index={"type": "git", "path": str(tmp_path / "index"), "repair_grace": 0},
                   general={"auth_required": True})
    api = publisher(app)
    api.publish("foo", "1.0.0")
    server = LiveServer(app).start()
    try:
        env = {"GIT_TERMINAL_PROMPT": "0", "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
        url = server.url.replace("http://", "http://anyone:{}@") + "/git/index"
        refused = subprocess.run(["git", "clone", "-q", server.url + "/git/index", str(tmp_path / "anon")],
                                 capture_output=True, text=True, env=env)
        assert refused.returncode != 0
        bad = subprocess.run(["git", "clone", "-q", url.format("alx_wrong"), str(tmp_path / "bad")],
                             capture_output=True, text=True, env=env)
        assert bad.returncode != 0
        subprocess.run(["git", "clone", "-q", url.format(api.token), str(tmp_path / "clone")], check=True,
                       capture_output=True, env=env)
        assert (tmp_path / "clone" / "3" / "f" / "foo").read_bytes() == head_file(tmp_path / "index", "3/f/foo")
        basic = base64.b64encode(f"x:{api.token}".encode()).decode()
        assert app.test_client().get("/git/index/info/refs?service=git-upload-pack",
                                     headers={"Authorization": f"Basic {basic}"}).status_code == 200
        challenge = app.test_client().get("/git/index/info/refs?service=git-upload-pack")
        assert challenge.status_code == 401
        assert 'Basic realm="alexandrie"' in challenge.headers.get_all("WWW-Authenticate")[-1]
        # A fetch is a read, POST or not: a token without the read scope gets nothing.
        scoped = cli_runner(app, "token", "create", "alice", "--scope", "publish-update").stdout.splitlines()[-1]
        basic = base64.b64encode(f"x:{scoped}".encode()).decode()
        refused = app.test_client().post("/git/index/git-upload-pack", data=b"0000",
                                         headers={"Authorization": f"Basic {basic}"})
        assert refused.status_code == 403 and "lacks the `read` scope" in refused.get_json()["errors"][0]["detail"]
        advert = app.test_client().get("/git/index/info/refs?service=git-upload-pack",
                                       headers={"Authorization": f"Basic {basic}"})
        assert advert.status_code == 403
        clone = subprocess.run(["git", "clone", "-q", url.format(scoped), str(tmp_path / "scoped")],
                               capture_output=True, text=True, env=env)
        assert clone.returncode != 0 and not (tmp_path / "scoped" / "3").exists()
    finally:
        server.stop()


def test_a_read_restricted_crate_is_left_out_of_the_git_index(cli_runner, git_app, publisher, tmp_path, head_file,
                                                               history):

    app = git_app()
    api = publisher(app)
    api.publish("secret", "1.0.0")
    api.publish("open", "1.0.0")
    assert head_file(tmp_path / "index", index_path("secret")) is not None

    assert cli_runner(app, "crate", "restrict", "secret").exit_code == 0
    # The history reads as a deletion: nothing tells the repository's readers that the crate lives on.
    assert history(tmp_path / "index")[0].message.strip() == "Delete secret"
    assert head_file(tmp_path / "index", index_path("secret")) is None
    assert head_file(tmp_path / "index", index_path("open")) == api.sparse("open")
    assert api.sparse("secret") is not None  # its owner still reads it from the sparse index
    assert app.test_client().get(f"/index/{index_path('secret')}").status_code == 404
    # so anyone who may read the registry may fetch the repository
    assert app.test_client().get("/git/index/info/refs?service=git-upload-pack").status_code == 200

    commits = len(history(tmp_path / "index"))
    assert api.publish("secret", "1.1.0").status_code == 200
    assert len(history(tmp_path / "index")) == commits  # nothing to commit: no trace of the new version
    assert "matches the database (2 files checked)" in cli_runner(app, "index", "check").output
    assert cli_runner(app, "index", "rebuild").exit_code == 0
    assert head_file(tmp_path / "index", index_path("secret")) is None

    assert cli_runner(app, "crate", "restrict", "secret", "--off").exit_code == 0
    assert history(tmp_path / "index")[0].message.strip() == "Publish secret 1.0.0, 1.1.0"
    assert head_file(tmp_path / "index", index_path("secret")) == api.sparse("secret")
    assert b'"vers":"1.1.0"' in head_file(tmp_path / "index", index_path("secret"))


def _is_loose(git_dir, oid) -> bool:
    text = str(oid)
    return (git_dir / "objects" / text[:2] / text[2:]).exists()


def test_commits_pack_their_loose_objects_in_the_background(git_app, publisher, head_file, tmp_path):
    app = git_app(gc_every=3)
    index = registry_of(app).index
    # `git gc --auto` estimates the loose objects from the folder objects/17: with gc.auto = 256 it
    # packs once that folder holds two. Unreachable blobs get it there without touching the index.
    subprocess.run(["git", "config", "gc.auto", "256"], cwd=index.git_dir, check=True)
    seed = 0
    while len(list((index.git_dir / "objects" / "17").glob("*"))) < 2:
        seed += 1
        index.repo.create_blob(f"unreachable {seed}".encode())
    api = publisher(app)
    for i in range(3):
        assert api.publish(f"packed-{i}", "1.0.0").status_code == 200
    index.packer.wait(60)
    head = index.head_commit()
    assert not _is_loose(index.git_dir, head.id) and list((index.git_dir / "objects" / "pack").glob("*.pack"))
    assert head_file(tmp_path / "index", index_path("packed-2")) == api.sparse("packed-2")
    assert api.publish("after-gc", "1.0.0").status_code == 200  # libgit2 finds the packed objects
    assert head_file(tmp_path / "index", index_path("after-gc")) == api.sparse("after-gc")
    assert subprocess.run(["git", "fsck", "--no-progress"], cwd=index.git_dir, capture_output=True).returncode == 0


def test_index_gc_packs_everything_now_and_status_counts_loose_objects(cli_runner, git_app, publisher, tmp_path,
                                                                        head_file):
    app = git_app(gc_every=0)
    api = publisher(app)
    for name in ("foo", "bar"):
        api.publish(name, "1.0.0")
    index = registry_of(app).index
    status = cli_runner(app, "index", "status").output
    assert "loose; automatic packing off ([index] gc_every = 0)" in status
    loose = int(status.split("objects:")[1].split()[0])
    assert loose >= 10 and _is_loose(index.git_dir, index.head_commit().id)
    result = cli_runner(app, "index", "gc")
    assert result.exit_code == 0, result.output
    assert f"packed the git index: {loose} loose objects before, 0 after" in result.output
    assert not _is_loose(index.git_dir, index.head_commit().id)
    assert head_file(tmp_path / "index", index_path("foo")) == api.sparse("foo")


def test_the_start_up_log_line_gives_the_git_index_url(git_app, caplog):
    with caplog.at_level(logging.INFO, logger="alexandrie_index_git"):
        app = git_app()
    url = f"{registry_of(app).public_url}/git/index"
    assert any(record.levelno == logging.INFO and record.getMessage().endswith(f"cargo fetches it from {url}")
               for record in caplog.records), caplog.text
    assert registry_of(app).public_url.startswith("http://127.0.0.1:")


def test_the_first_start_on_an_existing_registry_adds_every_file_with_a_warning(make_app, publisher, tmp_path,
                                                                               head_file, caplog):
    """Documented in the README: a new, empty repository differs from every crate in the database."""
    sparse = make_app()
    api = publisher(sparse)
    assert api.publish("foo", "1.0.0").status_code == 200 and api.publish("bar", "1.0.0").status_code == 200
    settings = registry_of(sparse).settings
    with caplog.at_level(logging.INFO, logger="alexandrie_index_git"):
        make_app(index={"type": "git", "path": str(tmp_path / "index"), "repair_grace": 0, "fsync": False},
                 database={"url": settings.database.url}, storage=dict(settings.storage))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "repaired 2 of 3 files" in warnings[0], caplog.text
    assert "added    3/b/bar" in warnings[0] and "added    3/f/foo" in warnings[0]
    assert head_file(tmp_path / "index", "3/f/foo") == publisher.sparse(api, "foo")
