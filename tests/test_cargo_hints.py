"""What the real cargo prints when it is set up wrong: an index URL without ``sparse+`` makes cargo speak git
to the sparse index, and the one thing a git client prints from a server is the protocol's own error line."""

import pytest

from alexandrie.testing import LiveServer, write_package

pytestmark = [pytest.mark.cargo, pytest.mark.sqlite_only]

DEPENDENT = '\n[dependencies]\nsomething = { version = "0.1", registry = "alex" }\n'


@pytest.fixture(params=[False, True], ids=["public", "private"])
def server(request, make_app):
    app = make_app(general={"registry_name": "acme", "auth_required": request.param})
    live = LiveServer(app).start()
    yield live
    live.stop()


@pytest.mark.parametrize("git_fetch_with_cli", [False, True], ids=["libgit2", "git-cli"])
def test_an_index_url_without_sparse_gets_the_line_to_write(server, cargo_factory, tmp_path, git_fetch_with_cli):
    cargo = cargo_factory(server)
    (cargo.home / "config.toml").write_text(
        f'[registries.alex]\nindex = "{server.url}/index/"\n[net]\nretry = 0\n'
        f"git-fetch-with-cli = {'true' if git_fetch_with_cli else 'false'}\n")
    package = write_package(tmp_path / "src", "dependent", manifest_extra=DEPENDENT)
    result = cargo.run("generate-lockfile", cwd=package, check=False, timeout=120)
    assert result.returncode != 0
    expected = (f'remote error: this is a sparse index: write `index = "sparse+{server.url}/index/"` under '
                "[registries.acme] in .cargo/config.toml")
    assert expected in result.stderr, result.stderr


def test_the_hint_is_answered_below_any_crate_named_info(make_app):
    """``info/refs`` cannot be a crate's index file (those sit under two-letter folders), so nothing is hidden."""
    client = make_app().test_client()
    response = client.get("/index/info/refs?service=git-upload-pack")
    assert response.status_code == 200
    assert response.content_type == "application/x-git-upload-pack-advertisement"
    assert response.data.startswith(b"001e# service=git-upload-pack\n0000")
    assert b"ERR this is a sparse index" in response.data
