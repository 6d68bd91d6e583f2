"""A crates.io-format git index for Alexandrie, written with pygit2 and served over smart HTTP.

``[index] type = "git"`` (or Alexandrie's ``"command-line"`` / ``"git2"``) with ``path``
selects it. Every publish, yank and unyank is one commit on the branch HEAD points to,
holding byte for byte what the sparse index serves.
"""

import logging

import pygit2

from alexandrie import BackendSpec, MachinePath, connection, hookimpl, index_config, registry

from .commands import index_group
from .maintenance import Packer
from .remotes import Pusher
from .repair import repair
from .repository import GitIndex, IndexWriteError
from .settings import GitIndexSettings, RemoteSpec, read_settings
from .smart_http import make_blueprint

__all__ = ["GitIndex", "GitIndexSettings", "IndexWriteError", "git_index_of", "read_settings"]

log = logging.getLogger(__name__)


def git_index_of(app) -> GitIndex | None:
    """The app's index backend when it is this plugin's, else None."""
    index = registry(app).index
    return index if isinstance(index, GitIndex) else None


def build(settings: dict, app) -> GitIndex:
    """``BackendSpec`` factory: open or create the repository and wire up the pusher."""
    parsed = read_settings(settings, registry_name=registry(app).settings.general.registry_name)
    # Process-wide in libgit2: with it, a commit acknowledged to cargo survives a power cut.
    pygit2.settings.enable_fsync_gitdir(parsed.fsync)
    with app.app_context():
        index = GitIndex(parsed, config=index_config())
    remotes = _remotes(index, parsed)
    if remotes:
        pusher = Pusher(index.git_dir, index.branch_ref, remotes, retry_base=parsed.push_retry_base,
                        retry_max=parsed.push_retry_max, poll_interval=parsed.push_poll_interval)
        index.pusher = pusher
        index.add_listener(pusher)
    if parsed.gc_every:
        index.packer = Packer(index.git_dir, index.lock, parsed.gc_every)
        index.add_listener(index.packer)
    return index


def _remotes(index: GitIndex, settings: GitIndexSettings) -> tuple[RemoteSpec, ...]:
    """No ``remotes`` key: push to ``origin`` when the repository has one, as the Rust Alexandrie did."""
    if settings.remotes is not None:
        return settings.remotes
    if "origin" in index.repo.remotes.names():
        log.info("pushing the git index to its `origin` remote (set [index] remotes = [] to stop)")
        return (RemoteSpec(name="origin", url=None),)
    return ()


@hookimpl
def alexandrie_index_backends():
    return [BackendSpec("git", build, "a crates.io-format git index (pygit2), pushed to remotes and served "
                                      "at /git/index", aliases=("command-line", "git2"))]


@hookimpl
def alexandrie_machine_paths(app):
    """Git fetches with POST, but only ever reads; it offers a password (the token) after ``Basic``."""
    if git_index_of(app) is None:
        return None
    return [MachinePath("/git/", read_only=True, challenge='Basic realm="alexandrie", charset="UTF-8"')]


@hookimpl
def alexandrie_blueprints(app):
    index = git_index_of(app)
    if index is None:
        return None
    return [make_blueprint(str(index.path))]


@hookimpl
def alexandrie_startup(app):
    index = git_index_of(app)
    if index is None:
        return
    if index.settings.check_on_start:
        _repair_on_start(app, index)
    if not registry(app).serving:
        return
    log.info("git index %s (branch %s): cargo fetches it from %s/git/index", index.path,
             index.branch_ref().removeprefix("refs/heads/"), registry(app).public_url)
    pusher = getattr(index, "pusher", None)
    if pusher is not None:
        pusher.start()


def _repair_on_start(app, index: GitIndex) -> None:
    try:
        with app.app_context(), connection():
            repair(index, grace=index.settings.repair_grace)
    except Exception:
        log.exception("could not compare the git index with the database at start-up; "
                      "run `alexandrie index check` to retry")


@hookimpl
def alexandrie_commands():
    return [index_group]
