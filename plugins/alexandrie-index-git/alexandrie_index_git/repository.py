"""The git index: a crates.io-format repository written in process with pygit2.

Every change is one commit on the branch HEAD points to (cargo fetches HEAD). A change
builds new trees only along the changed paths, so a publish costs the same whether the
index holds ten crates or a hundred thousand.
"""

import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pygit2
from pygit2.enums import CheckoutStrategy, FileMode

from alexandrie import AlexandrieError, IndexBackend, index_path

from .locking import LockTimeout, RepositoryLock
from .settings import GitIndexSettings

log = logging.getLogger(__name__)

CONFIG_PATH = "config.json"
LOCK_FILE = "alexandrie-index.lock"


class IndexWriteError(AlexandrieError):
    """The git index could not record a change; the database change is rolled back."""

    status = 503


def config_bytes(config: dict) -> bytes:
    """``config.json`` as crates.io's index writes it: indented, with a final newline."""
    return (json.dumps(config, indent=2) + "\n").encode("utf-8")


def render_message(template: str, message: str, registry: str = "") -> str:
    """Fill the commit-message template; ``Publish foo 1.2.3`` also gives action, crate and version."""
    parts = message.split(" ")
    action, crate, version = (parts + ["", "", ""])[:3] if len(parts) == 3 else ("", "", "")
    text = template.format(message=message, action=action, crate=crate, version=version, registry=registry)
    return text if text.endswith("\n") else text + "\n"


class GitIndex(IndexBackend):
    """The index backend behind ``[index] type = "git"``."""

    def __init__(self, settings: GitIndexSettings, config: dict | None = None):
        self.settings = settings
        self.path = Path(settings.path)
        self.repo = self._open_or_create()
        self.git_dir = Path(self.repo.path)
        self.lock = RepositoryLock(self.git_dir / LOCK_FILE, settings.lock_timeout)
        self.config_json = config_bytes(config) if config is not None else None
        self._listeners: list[Callable[[pygit2.Oid], None]] = []
        self.pusher = None
        self.packer = None
        if self.config_json is not None:
            message = "Create the index" if self.head_commit() is None else "Update config.json"
            self.commit_files({CONFIG_PATH: self.config_json}, message)

    # --- IndexBackend ---------------------------------------------------------------------

    def update_crate(self, name: str, content: str, message: str) -> None:
        self.commit_files({index_path(name): content.encode("utf-8") if content else None}, message)

    def rebuild(self, files: Iterable[tuple[str, str]], message: str) -> None:
        entries = {index_path(name): content.encode("utf-8") for name, content in files if content}
        with self._writing():
            config = self.config_json or self._head_blob(CONFIG_PATH, self.repo)
            if config is not None:
                entries[CONFIG_PATH] = config
            with _one_sync_for_many_objects(self.settings.fsync):
                index = pygit2.Index()
                for path, data in entries.items():
                    index.add(pygit2.IndexEntry(path, self.repo.create_blob(data), FileMode.BLOB))
                tree = index.write_tree(self.repo)
            commit = self._commit_tree(tree, message)
            if commit is not None:
                self._checkout_head()
        if commit is not None:
            self._announce(commit)

    def check(self) -> None:
        self.branch_ref()
        if not os.access(self.git_dir, os.W_OK):
            raise IndexWriteError(f"the git index {self.git_dir} is not writable by this process")

    def close(self) -> None:
        for listener in self._listeners:
            close = getattr(listener, "close", None)
            if close:
                close()

    # --- Writing ----------------------------------------------------------------------------

    def commit_files(self, changes: dict[str, bytes | None], message: str) -> pygit2.Oid | None:
        """Set each path to its bytes (None: delete it) in one commit; None when nothing changed."""
        with self._writing():
            tip = self._tip(self.repo)
            tree = self._write_tree(tip.tree if tip else None, _split_paths(changes))
            commit = self._commit_tree(tree or self._empty_tree(), message)
            if commit is not None:
                self._sync_worktree(changes)
        if commit is not None:
            self._announce(commit)
        return commit

    def add_listener(self, listener: Callable[[pygit2.Oid], None]) -> None:
        """Call ``listener(commit_id)`` after every commit (the pusher uses it)."""
        self._listeners.append(listener)

    @contextmanager
    def _writing(self):
        """Hold the lock; turn libgit2 and lock failures into an error the publisher can read."""
        try:
            with self.lock.hold():
                yield
        except LockTimeout as exc:
            raise IndexWriteError(f"the git index is busy: {exc}; nothing was published, try again") from exc
        except (pygit2.GitError, OSError) as exc:
            raise IndexWriteError(f"the git index at {self.path} could not record the change ({exc}); "
                                  "nothing was published. The operator should check the repository "
                                  "(disk space, permissions, `git fsck`)") from exc

    def _commit_tree(self, tree: pygit2.Oid, message: str) -> pygit2.Oid | None:
        tip = self._tip(self.repo)
        if tip is not None and tip.tree_id == tree:
            return None
        author = pygit2.Signature(self.settings.author_name, self.settings.author_email)
        text = render_message(self.settings.message_template, message, self.settings.registry_name)
        # Naming the branch makes libgit2 refuse the commit if the tip moved under us.
        return self.repo.create_commit(self.branch_ref(self.repo), author, author, text, tree,
                                       [tip.id] if tip is not None else [])

    def _write_tree(self, tree: pygit2.Tree | None, changes: dict) -> pygit2.Oid | None:
        """Rebuild only the trees on the changed paths; None when the result is empty."""
        builder = self.repo.TreeBuilder(tree) if tree is not None else self.repo.TreeBuilder()
        for name, change in changes.items():
            if isinstance(change, dict):
                oid, mode = self._write_tree(_subtree(tree, name), change), FileMode.TREE
            else:
                oid, mode = (self.repo.create_blob(change) if change is not None else None), FileMode.BLOB
            if oid is None:
                if builder.get(name) is not None:
                    builder.remove(name)
            else:
                builder.insert(name, oid, mode)
        return builder.write() if len(builder) else None

    def _empty_tree(self) -> pygit2.Oid:
        return self.repo.TreeBuilder().write()

    def _announce(self, commit: pygit2.Oid) -> None:
        for listener in self._listeners:
            try:
                listener(commit)
            except Exception:
                log.exception("git index listener failed after commit %s", commit)

    # --- Work tree (non-bare repositories) --------------------------------------------------------

    def _sync_worktree(self, changes: dict[str, bytes | None]) -> None:
        """Keep the checked-out files in step; a failure only leaves them stale until ``index check``."""
        if self.repo.is_bare:
            return
        try:
            index = self.repo.index
            index.read(False)
            for path, data in changes.items():
                self._sync_path(index, path, data)
            index.write()
        except Exception as exc:
            log.warning("could not update the work tree of %s (%s); the commit is fine, "
                        "`alexandrie index check` refreshes the files", self.path, exc)

    def _sync_path(self, index: pygit2.Index, path: str, data: bytes | None) -> None:
        target = Path(self.repo.workdir) / path
        if data is None:
            target.unlink(missing_ok=True)
            if path in index:
                index.remove(path)
            _remove_empty_parents(target.parent, Path(self.repo.workdir))
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".{target.name}.tmp")
        temp.write_bytes(data)
        os.replace(temp, target)
        index.add(path)

    def _checkout_head(self) -> None:
        if self.repo.is_bare:
            return
        try:
            self.repo.checkout_head(strategy=CheckoutStrategy.FORCE)
        except Exception as exc:
            log.warning("could not refresh the work tree of %s: %s", self.path, exc)

    def refresh_worktree_if_stale(self) -> bool:
        """Check out HEAD when the work tree's index differs from it (after a crash or a failed sync)."""
        if self.repo.is_bare:
            return False
        with self._writing():
            tip = self._tip(self.repo)
            if tip is None:
                return False
            index = self.repo.index
            index.read(False)
            if index.write_tree() == tip.tree_id:
                return False
            self._checkout_head()
            return True

    # --- Reading ------------------------------------------------------------------------------------
    # Readers open their own Repository: libgit2 objects must not be used by two threads at once,
    # and ``self.repo`` belongs to whoever holds the lock.

    def reader(self) -> pygit2.Repository:
        return pygit2.Repository(str(self.git_dir))

    def branch_ref(self, repo: pygit2.Repository | None = None) -> str:
        """The branch HEAD points to (``refs/heads/main``), born or not."""
        head = (repo or self.reader()).references.get("HEAD")
        target = head.target if head is not None else None
        if not isinstance(target, str):
            raise IndexWriteError(f"the git index {self.path} has a detached HEAD; check out the branch "
                                  "cargo should read (git -C PATH switch main)")
        return target

    def _tip(self, repo: pygit2.Repository) -> pygit2.Commit | None:
        ref = repo.references.get(self.branch_ref(repo))
        return repo[ref.target].peel(pygit2.Commit) if ref is not None else None

    def head_commit(self) -> pygit2.Commit | None:
        return self._tip(self.reader())

    def _head_blob(self, path: str, repo: pygit2.Repository | None = None) -> bytes | None:
        tip = self._tip(repo or self.reader())
        if tip is None:
            return None
        try:
            obj = tip.tree[path]
        except KeyError:
            return None
        return obj.data if obj.type == pygit2.enums.ObjectType.BLOB else None

    def read_file(self, name: str) -> str | None:
        """The crate's file in the HEAD commit (what cargo sees), or None."""
        data = self._head_blob(index_path(name))
        return data.decode("utf-8") if data is not None else None

    def head_files(self) -> dict[str, str]:
        """Every file in the HEAD commit: {path: blob id (hex)}."""
        repo = self.reader()
        tip = self._tip(repo)
        return dict(_walk(repo, tip.tree, "")) if tip is not None else {}

    # --- Opening ------------------------------------------------------------------------------------

    def _open_or_create(self) -> pygit2.Repository:
        found = pygit2.discover_repository(str(self.path)) if self.path.exists() else None
        if found and Path(found).resolve() in (self.path.resolve(), (self.path / ".git").resolve()):
            return pygit2.Repository(found)
        if self.path.exists() and any(self.path.iterdir()):
            raise IndexWriteError(f"[index] path = {str(self.path)!r} is a folder but not a git repository; "
                                  "point it at an empty folder, an existing index clone, or a new path")
        self.path.mkdir(parents=True, exist_ok=True)
        log.info("creating the git index at %s (branch %s)", self.path, self.settings.branch)
        return pygit2.init_repository(str(self.path), bare=self.settings.bare,
                                      initial_head=self.settings.branch)


@contextmanager
def _one_sync_for_many_objects(fsync: bool):
    """A rebuild writes one object per crate: syncing each would take minutes, so sync once at the end."""
    if not fsync:
        yield
        return
    pygit2.settings.enable_fsync_gitdir(False)
    try:
        yield
        os.sync()
    finally:
        pygit2.settings.enable_fsync_gitdir(True)


def _split_paths(changes: dict[str, bytes | None]) -> dict:
    """{"ab/cd/abcd": b"..."} to nested {"ab": {"cd": {"abcd": b"..."}}}."""
    nested: dict = {}
    for path, data in changes.items():
        *folders, leaf = path.split("/")
        node = nested
        for folder in folders:
            node = node.setdefault(folder, {})
        node[leaf] = data
    return nested


def _subtree(tree: pygit2.Tree | None, name: str) -> pygit2.Tree | None:
    if tree is None or name not in tree:
        return None
    child = tree[name]
    return child if child.type == pygit2.enums.ObjectType.TREE else None


def _walk(repo: pygit2.Repository, tree: pygit2.Tree, prefix: str) -> Iterator[tuple[str, str]]:
    for entry in tree:
        path = prefix + entry.name
        if entry.type == pygit2.enums.ObjectType.TREE:
            yield from _walk(repo, repo[entry.id], path + "/")
        elif entry.type == pygit2.enums.ObjectType.BLOB:
            yield path, str(entry.id)


def _remove_empty_parents(folder: Path, root: Path) -> None:
    while folder != root and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent
