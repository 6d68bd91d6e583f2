"""Slow: the real cargo publishes a 100-crate workspace in one ``cargo publish --workspace``, as a team's CI does,
against a registry with the default rate limits. Every crate must land: cargo gives up on a 429 after a few
seconds of retries (here, with ``net.retry = 0``, at once)."""

import time

import pytest

from alexandrie.rules.names import index_path
from alexandrie.testing import LiveServer, create_user_with_token, write_package

pytestmark = [pytest.mark.cargo, pytest.mark.slow]

CRATES = 100
NAMES = [f"ws-{n:03d}" for n in range(CRATES)]
# Path dependencies make cargo publish in three rounds, waiting for the index between them:
# ws-000 <- ws-001..ws-009 <- ws-010; the other 90 crates stand alone.
DEPENDS_ON = {**{name: ["ws-000"] for name in NAMES[1:10]}, "ws-010": NAMES[1:10]}


def write_workspace(root):
    root.mkdir()
    (root / "Cargo.toml").write_text('[workspace]\nmembers = ["ws-*"]\nresolver = "2"\n')
    for name in NAMES:
        deps = "".join(f'{dep} = {{ path = "../{dep}", version = "0.1.0", registry = "alex" }}\n'
                       for dep in DEPENDS_ON.get(name, ()))
        write_package(root, name, manifest_extra=f"\n[dependencies]\n{deps}" if deps else "", lib="")


def statuses_of(app) -> list[tuple[str, int]]:
    """Record (method, status) of every request the server answers."""
    seen = []
    inner = app.wsgi_app

    def recording(environ, start_response):
        def start(status, headers, exc_info=None):
            seen.append((environ["REQUEST_METHOD"], int(status.split()[0])))
            return start_response(status, headers, exc_info)
        return inner(environ, start)

    app.wsgi_app = recording
    return seen


def test_a_100_crate_workspace_publishes_under_the_default_rate_limits(make_app, cargo_factory, tmp_path):
    app = make_app()  # default [rate_limits]
    seen = statuses_of(app)
    server = LiveServer(app).start()
    try:
        cargo = cargo_factory(server, create_user_with_token(app, "ci-bot"))
        write_workspace(tmp_path / "workspace")
        started = time.monotonic()
        cargo.run("publish", "--workspace", "--registry", "alex", "--no-verify", cwd=tmp_path / "workspace",
                  timeout=900)
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    uploads = [status for method, status in seen if method == "PUT"]
    assert uploads == [200] * CRATES and 429 not in {status for _, status in seen}
    client = app.test_client()
    missing = [name for name in NAMES if client.get(f"/index/{index_path(name)}").status_code != 200]
    assert missing == []
    print(f"cargo publish --workspace of {CRATES} crates took {elapsed:.1f} s")


def test_rerunning_an_interrupted_workspace_publish_as_the_docs_say(make_app, cargo_factory, tmp_path):
    """docs/private-registry.md: a re-run stops at the first crate already published; `--exclude` what landed."""
    app = make_app()
    server = LiveServer(app).start()
    try:
        cargo = cargo_factory(server, create_user_with_token(app, "ci-bot"))
        root = tmp_path / "workspace"
        root.mkdir()
        (root / "Cargo.toml").write_text('[workspace]\nmembers = ["part-*"]\nresolver = "2"\n')
        for name in ("part-a", "part-b", "part-c"):
            write_package(root, name, lib="")
        cargo.run("publish", "-p", "part-a", "--registry", "alex", "--no-verify", cwd=root)  # then interrupted
        rerun = cargo.run("publish", "--workspace", "--registry", "alex", "--no-verify", cwd=root, check=False)
        assert rerun.returncode != 0 and "crate part-a@0.1.0 already exists on `alex` index" in rerun.stderr
        cargo.run("publish", "--workspace", "--exclude", "part-a", "--registry", "alex", "--no-verify", cwd=root)
    finally:
        server.stop()
    client = app.test_client()
    assert all(client.get(f"/index/{index_path(name)}").status_code == 200 for name in ("part-a", "part-b", "part-c"))
