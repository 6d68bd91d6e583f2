"""The real cargo against a live registry whose index it fetches with git (file:// and /git/index)."""

import json
import threading
import urllib.request
from types import SimpleNamespace

import pygit2
import pytest

from alexandrie import index_path
from alexandrie import testing as kit
from alexandrie.testing import (
    Cargo,
    LiveServer,
    crate_metadata,
    create_app,
    create_user_with_token,
    get_plugin_manager,
    make_crate,
    publish_body,
    require_tool,
    write_package,
)

pytestmark = pytest.mark.cargo

MODES = {
    "file": {"fetch_with_cli": False},
    "http": {"fetch_with_cli": False},
    "httpcli": {"fetch_with_cli": True},
}


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    require_tool("cargo")
    require_tool("git")
    root = tmp_path_factory.mktemp("git-registry")
    config = kit.test_config(root, index={"type": "git", "path": str(root / "index"), "repair_grace": 0,
                                          "fsync": False},
                             rate_limits={"enabled": False})
    app = create_app(config, pm=get_plugin_manager())
    server = LiveServer(app).start()
    token = create_user_with_token(app, "alice")
    yield SimpleNamespace(app=app, server=server, token=token, root=root, repo=root / "index")
    server.stop()
    from alexandrie.testing import reset_database

    reset_database(app)


def cargo_for(registry, mode: str) -> Cargo:
    url = registry.repo.as_uri() if mode == "file" else f"{registry.server.url}/git/index"
    cargo = Cargo(registry.root / f"cargo-{mode}", SimpleNamespace(index_url=url), registry.token)
    if MODES[mode]["fetch_with_cli"]:
        with open(cargo.home / "config.toml", "a") as config:
            config.write("git-fetch-with-cli = true\n")  # appended to the [net] table
    return cargo


def head_file(repo_path, name: str) -> bytes | None:
    repo = pygit2.Repository(str(repo_path))
    try:
        return repo.head.peel(pygit2.Commit).tree[index_path(name)].data
    except KeyError:
        return None


def sparse_file(registry, name: str) -> bytes | None:
    try:
        with urllib.request.urlopen(f"{registry.server.url}/index/{index_path(name)}") as response:
            return response.read()
    except urllib.error.HTTPError:
        return None


@pytest.mark.parametrize("mode", list(MODES))
def test_publish_build_yank_search(registry, mode, tmp_path):
    cargo = cargo_for(registry, mode)
    lib = f"{mode}-lib"
    write_package(tmp_path, lib, "0.1.0", lib='pub fn greet() -> &\'static str { "hi from git" }\n')
    cargo.run("publish", "--registry", "alex", "--no-verify", cwd=tmp_path / lib)
    write_package(tmp_path / "v2", lib, "0.2.0", lib='pub fn greet() -> &\'static str { "v2" }\n')
    cargo.run("publish", "--registry", "alex", "--no-verify", cwd=tmp_path / "v2" / lib)
    app = write_package(tmp_path, f"{mode}-app", manifest_extra=f'[dependencies]\n{lib} = {{ version = "0.1", registry = "alex" }}\n',
                        main=f"fn main() {{ println!(\"{{}}\", {lib.replace('-', '_')}::greet()); }}\n")
    run = cargo.run("run", "-q", cwd=app)
    assert run.stdout.strip() == "hi from git"
    assert f"registry+{registry.repo.as_uri() if mode == 'file' else registry.server.url + '/git/index'}" in \
        (app / "Cargo.lock").read_text()

    cargo.run("yank", "--registry", "alex", "--version", "0.1.0", lib, cwd=tmp_path)
    assert b'"vers":"0.1.0","deps":[],' in head_file(registry.repo, lib)
    fresh = write_package(tmp_path, f"{mode}-fresh", manifest_extra=f'[dependencies]\n{lib} = {{ version = "=0.1.0", registry = "alex" }}\n',
                          main="fn main() {}\n")
    refused = cargo.run("generate-lockfile", cwd=fresh, check=False)
    assert refused.returncode != 0 and "yanked" in refused.stderr

    found = cargo.run("search", "--registry", "alex", lib, cwd=tmp_path)
    assert f'{lib} = "0.2.0"' in found.stdout


def test_git_and_sparse_files_match_byte_for_byte_after_the_runs(registry, tmp_path):
    # a few more changes through the API: unyank, a second yank, a crate with features2
    headers = {"Authorization": registry.token}
    for name, version in (("mixed-Case", "1.0.0"), ("mixed-Case", "1.1.0")):
        body = publish_body(crate_metadata(name, version, features={"x": ["dep:y"]}), make_crate(name, version))
        _request(f"{registry.server.url}/api/v1/crates/new", "PUT", body, headers)
    _request(f"{registry.server.url}/api/v1/crates/file-lib/0.1.0/unyank", "PUT", b"", headers)
    _request(f"{registry.server.url}/api/v1/crates/mixed-Case/1.0.0/yank", "DELETE", b"", headers)
    names = [f"{mode}-lib" for mode in MODES] + ["mixed-Case"]
    for name in names:
        served = sparse_file(registry, name)
        assert served and served == head_file(registry.repo, name), name


def test_concurrent_publishes_give_a_linear_history(registry):
    headers = {"Authorization": registry.token}
    repo = pygit2.Repository(str(registry.repo))
    before = sum(1 for _ in repo.walk(repo.head.target))
    errors = []

    def publish(i):
        name, version = ("together", f"0.{i}.0") if i % 2 else (f"alone-{i}", "1.0.0")
        body = publish_body(crate_metadata(name, version), make_crate(name, version))
        status = _request(f"{registry.server.url}/api/v1/crates/new", "PUT", body, headers)
        if status != 200:
            errors.append(status)

    threads = [threading.Thread(target=publish, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    repo = pygit2.Repository(str(registry.repo))
    commits = list(repo.walk(repo.head.target))
    assert len(commits) == before + 12 and all(len(c.parents) <= 1 for c in commits)
    together = head_file(registry.repo, "together").decode().splitlines()
    assert sorted(json.loads(line)["vers"] for line in together) == sorted(f"0.{i}.0" for i in range(1, 12, 2))
    assert head_file(registry.repo, "together") == sparse_file(registry, "together")


def _request(url, method, body, headers) -> int:
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
