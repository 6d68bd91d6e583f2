import json
from pathlib import Path

import pygit2
import pytest
from click.testing import CliRunner

import alexandrie_index_git
from alexandrie import index_path, registry
from alexandrie.testing import crate_metadata, create_user_with_token, main, make_crate, publish_body


@pytest.fixture
def make_app(make_app):
    """The kit loads no entry points: every registry of these tests gets the git index plugin explicitly."""
    def with_git_index(plugins=(), **sections):
        return make_app(plugins=[alexandrie_index_git, *plugins], **sections)
    return with_git_index


def head_file(repo_path, path: str) -> bytes | None:
    """A file of the HEAD commit, read through a repository object of its own (what cargo sees)."""
    repo = pygit2.Repository(str(repo_path))
    try:
        return repo.head.peel(pygit2.Commit).tree[path].data
    except KeyError:
        return None


def history(repo_path) -> list[pygit2.Commit]:
    repo = pygit2.Repository(str(repo_path))
    return list(repo.walk(repo.head.target))


@pytest.fixture
def git_app(make_app, tmp_path):
    """A registry whose index backend is the git index at tmp_path/index; later calls restart it
    (same database, storage and repository)."""
    built = []

    def factory(**index_settings):
        # fsync only slows the suite down: durability across power cuts cannot be tested here.
        settings = {"type": "git", "path": str(tmp_path / "index"), "repair_grace": 0, "fsync": False,
                    **index_settings}
        shared = {}
        if built:
            first = registry(built[0]).settings
            shared = {"database": {"url": first.database.url}, "storage": dict(first.storage)}
        built.append(make_app(index=settings, rate_limits={"enabled": False}, **shared))
        return built[-1]
    return factory


class Publisher:
    """Publishes, yanks and unyanks through the API of a test client."""

    def __init__(self, app, login="alice"):
        self.app, self.client = app, app.test_client()
        self.token = create_user_with_token(app, login)

    def publish(self, name, version, **fields):
        body = publish_body(crate_metadata(name, version, **fields), make_crate(name, version))
        return self.client.put("/api/v1/crates/new", data=body, headers={"Authorization": self.token})

    def yank(self, name, version, undo=False):
        if undo:
            return self.client.put(f"/api/v1/crates/{name}/{version}/unyank", headers={"Authorization": self.token})
        return self.client.delete(f"/api/v1/crates/{name}/{version}/yank", headers={"Authorization": self.token})

    def sparse(self, name) -> bytes | None:
        """The sparse index file as this publisher (an owner) reads it."""
        response = self.client.get(f"/index/{index_path(name)}", headers={"Authorization": self.token})
        return response.data if response.status_code == 200 else None


# With --import-mode=importlib test modules cannot import conftest; they get the helpers as fixtures.

@pytest.fixture(name="head_file")
def _head_file():
    return head_file


@pytest.fixture(name="history")
def _history():
    return history


@pytest.fixture(name="publisher")
def _publisher():
    return Publisher


def run_cli(app, *args):
    """Run the command line in its own app, configured like ``app`` (same database and repository)."""
    settings = registry(app).settings
    path = Path(settings.base_dir) / "alexandrie-cli.toml"
    sections = {"general": {k: getattr(settings.general, k) for k in ("public_url", "auth_required", "registry_name")},
                "database": {"url": settings.database.url}, "storage": dict(settings.storage),
                "index": dict(settings.index)}
    path.write_text("".join(f"[{name}]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in table.items())
                            for name, table in sections.items()))
    return CliRunner().invoke(main, ["--config", str(path), *args])


def toml_value(value) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(value)


@pytest.fixture(name="cli_runner")
def _cli_runner():
    return run_cli
