import pygit2
import pytest

from alexandrie import index_path
from alexandrie.testing import IndexContract
from alexandrie_index_git import GitIndex, GitIndexSettings

CONFIG = {"dl": "http://127.0.0.1:1/api/v1/crates/{crate}/{version}/download", "api": "http://127.0.0.1:1"}


@pytest.fixture(params=["worktree", "bare"])
def index_backend(request, tmp_path):
    backend = GitIndex(GitIndexSettings(path=tmp_path / "index", bare=request.param == "bare"), config=CONFIG)
    yield backend
    backend.close()


@pytest.fixture
def read_index_file(index_backend):
    """Reads the HEAD commit through a separate repository object, as cargo would."""
    def read(name):
        repo = pygit2.Repository(str(index_backend.git_dir))
        try:
            return repo.head.peel(pygit2.Commit).tree[index_path(name)].data.decode()
        except KeyError:
            return None
    return read


class TestGitIndexContract(IndexContract):
    def test_config_json_stays_through_rebuild(self, index_backend, read_index_file):
        index_backend.rebuild([("serde", "x\n")], "Rebuild")
        repo = pygit2.Repository(str(index_backend.git_dir))
        assert b'"dl": "http://127.0.0.1:1/api' in repo.head.peel(pygit2.Commit).tree["config.json"].data
