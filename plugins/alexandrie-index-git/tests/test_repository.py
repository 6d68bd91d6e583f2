"""The repository itself: creation, commits, tree sharing, locking and readable failures."""

import json
import multiprocessing
import subprocess
import threading

import pygit2
import pytest

from alexandrie import ConfigError
from alexandrie.testing import require_tool
from alexandrie_index_git import GitIndex, GitIndexSettings, IndexWriteError, read_settings

CONFIG = {"dl": "http://reg/api/v1/crates/{crate}/{version}/download", "api": "http://reg"}


def git(*args, cwd):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def open_index(path, **settings):
    return GitIndex(GitIndexSettings(path=path, **settings), config=CONFIG)


def test_a_new_repository_holds_config_json_on_the_branch_head_points_to(tmp_path, head_file):
    require_tool("git")
    open_index(tmp_path / "index", branch="trunk", bare=False)
    assert json.loads(head_file(tmp_path / "index", "config.json")) == CONFIG
    assert git("symbolic-ref", "HEAD", cwd=tmp_path / "index").strip() == "refs/heads/trunk"
    assert git("log", "--format=%s", cwd=tmp_path / "index").splitlines() == ["Create the index"]
    assert git("status", "--porcelain", cwd=tmp_path / "index") == ""


def test_reopening_changes_nothing(tmp_path, history):
    open_index(tmp_path / "index")
    open_index(tmp_path / "index").update_crate("foo", "a\n", "Publish foo 1.0.0")
    open_index(tmp_path / "index")
    assert [c.message.strip() for c in history(tmp_path / "index")] == ["Publish foo 1.0.0", "Create the index"]


def test_a_change_rewrites_only_the_trees_on_its_path(tmp_path):
    index = open_index(tmp_path / "index")
    index.update_crate("serde", "1\n", "Publish serde 1.0.0")
    index.update_crate("tokio", "1\n", "Publish tokio 1.0.0")
    before = index.head_commit().tree
    index.update_crate("serde", "1\n2\n", "Publish serde 1.0.1")
    after = index.head_commit().tree
    assert after["to"].id == before["to"].id  # tokio's subtree is shared, not rewritten
    assert after["se"].id != before["se"].id
    assert after["config.json"].id == before["config.json"].id


def test_an_unchanged_file_makes_no_commit_and_empty_content_deletes(tmp_path, history, head_file):
    index = open_index(tmp_path / "index", bare=False)
    index.update_crate("foo", "a\n", "Publish foo 1.0.0")
    index.update_crate("foo", "a\n", "Publish foo 1.0.0")
    assert len(history(tmp_path / "index")) == 2
    index.update_crate("foo", "", "Delete foo")
    assert head_file(tmp_path / "index", "3/f/foo") is None
    assert not (tmp_path / "index" / "3").exists()  # the work tree follows, empty folders go


def test_author_and_message_template_are_configurable(tmp_path, history):
    index = open_index(tmp_path / "index", author_name="Index Bot", author_email="bot@example.com",
                       message_template="[{registry}] {action}: {crate}@{version}", registry_name="acme")
    index.update_crate("foo", "a\n", "Yank foo 1.2.3")
    commit = history(tmp_path / "index")[0]
    assert (commit.author.name, commit.author.email) == ("Index Bot", "bot@example.com")
    assert commit.message == "[acme] Yank: foo@1.2.3\n"


def test_settings_errors_name_the_fix():
    with pytest.raises(ConfigError, match="needs path"):
        read_settings({"type": "git"})
    with pytest.raises(ConfigError, match="unknown keys colour"):
        read_settings({"type": "git", "path": "x", "colour": "red"})
    with pytest.raises(ConfigError, match="message_template"):
        read_settings({"type": "git", "path": "x", "message_template": "{nope}"})
    with pytest.raises(ConfigError, match="NOT_SET_ANYWHERE"):
        read_settings({"type": "git", "path": "x", "remotes": [{"url": "https://h/i.git", "password_env": "NOT_SET_ANYWHERE"}]})


def test_credentials_in_a_url_are_taken_out_of_it():
    remote = read_settings({"type": "git", "path": "x", "remotes": ["https://bot:s3cret@git.example.com/index.git"]}).remotes[0]
    assert remote.url == "https://git.example.com/index.git"
    assert (remote.credentials.username, remote.credentials.password) == ("bot", "s3cret")
    assert "s3cret" not in repr(remote)


def test_an_existing_alexandrie_clone_keeps_its_branch_and_work_tree(tmp_path, history):
    """The Rust Alexandrie's [index] path: a non-bare clone on `master` with hand-written config.json."""
    require_tool("git")
    clone = tmp_path / "crate-index"
    clone.mkdir()
    git("init", "-q", "-b", "master", cwd=clone)
    (clone / "config.json").write_text('{"dl": "old", "api": "old"}')
    (clone / "README.md").write_text("index\n")
    git("add", ".", cwd=clone)
    git("-c", "user.name=x", "-c", "user.email=x@x", "commit", "-qm", "init", cwd=clone)
    index = open_index(clone)
    index.update_crate("foo", "line\n", "Publish foo 0.1.0")
    assert git("symbolic-ref", "HEAD", cwd=clone).strip() == "refs/heads/master"
    assert git("status", "--porcelain", cwd=clone) == ""
    assert (clone / "3" / "f" / "foo").read_text() == "line\n"
    assert json.loads((clone / "config.json").read_text()) == CONFIG
    assert [c.message.strip() for c in history(clone)] == ["Publish foo 0.1.0", "Update config.json", "init"]


def test_a_detached_head_or_a_foreign_folder_is_refused_with_the_fix(tmp_path):
    index = open_index(tmp_path / "index")
    repo = pygit2.Repository(str(tmp_path / "index"))
    repo.set_head(repo.head.target)
    with pytest.raises(IndexWriteError, match="detached HEAD"):
        index.check()
    with pytest.raises(IndexWriteError, match="detached HEAD"):
        index.update_crate("foo", "a\n", "Publish foo 1.0.0")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("x")
    with pytest.raises(IndexWriteError, match="not a git repository"):
        open_index(tmp_path / "other")


def test_a_failed_commit_raises_a_readable_error(tmp_path):
    index = open_index(tmp_path / "index")
    (index.git_dir / "refs" / "heads" / "main.lock").write_text("held by someone else")
    with pytest.raises(IndexWriteError, match="could not record the change"):
        index.update_crate("foo", "a\n", "Publish foo 1.0.0")


def test_threads_and_two_instances_give_a_linear_history(tmp_path, history, head_file):
    first, second = open_index(tmp_path / "index", bare=False), open_index(tmp_path / "index", bare=False)

    def writer(index, worker):
        for i in range(6):
            index.update_crate(f"crate-{worker}-{i}", f"{worker} {i}\n", f"Publish crate-{worker}-{i} 1.0.0")

    threads = [threading.Thread(target=writer, args=(first if w % 2 else second, w)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    commits = history(tmp_path / "index")
    assert len(commits) == 25 and all(len(c.parents) <= 1 for c in commits)
    assert all(head_file(tmp_path / "index", f"cr/at/crate-{w}-{i}") == f"{w} {i}\n".encode()
               for w in range(4) for i in range(6))


def _process_writer(path, worker):
    index = GitIndex(GitIndexSettings(path=path), config=None)
    for i in range(5):
        index.update_crate(f"proc-{worker}-{i}", f"{worker} {i}\n", f"Publish proc-{worker}-{i} 1.0.0")


def test_processes_sharing_the_repository_give_a_linear_history(tmp_path, history, head_file):
    open_index(tmp_path / "index")
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_process_writer, args=(tmp_path / "index", w)) for w in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    commits = history(tmp_path / "index")
    assert len(commits) == 16 and all(len(c.parents) <= 1 for c in commits)
    assert all(head_file(tmp_path / "index", f"pr/oc/proc-{w}-{i}") == f"{w} {i}\n".encode()
               for w in range(3) for i in range(5))
