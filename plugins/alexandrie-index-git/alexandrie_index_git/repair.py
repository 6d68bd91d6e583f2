"""Bring the git index back in step with the database, the source of truth.

The git commit of a change happens inside its database transaction, just before the
database commits. A process that dies between the two leaves git ahead (the database
rolled back) or, after a failed disk write, behind. ``repair`` compares every crate's
file in HEAD with the ``index_files`` table and writes one commit with the fixes.
"""

import logging
import time
from dataclasses import dataclass, field

import pygit2

from alexandrie import index_path, shared_index_files, write_transaction

from .repository import CONFIG_PATH, GitIndex

log = logging.getLogger(__name__)

# path -> (bytes the database wants or None, blob id in HEAD or None)
Differences = dict[str, tuple[bytes | None, str | None]]


@dataclass
class RepairReport:
    checked: int = 0
    repaired: dict[str, str] = field(default_factory=dict)  # path -> added / updated / removed
    commit: str | None = None
    worktree_refreshed: bool = False

    def summary(self) -> str:
        if not self.repaired:
            text = f"the git index matches the database ({self.checked} files checked)"
        else:
            text = (f"repaired {len(self.repaired)} of {self.checked} files from the database in commit "
                    f"{self.commit[:12] if self.commit else '(none)'}:\n" +
                    "\n".join(f"  {what:8} {path}" for path, what in sorted(self.repaired.items())))
        if self.worktree_refreshed:
            text += "\nrefreshed the checked-out files of the work tree"
        return text


def expected_files(index: GitIndex) -> dict[str, bytes]:
    """What HEAD should hold: every shared crate's stored file (not read-restricted ones), plus config.json."""
    files = {path: content.encode("utf-8") for path, content in shared_index_files().items()}
    if index.config_json is not None:
        files[CONFIG_PATH] = index.config_json
    return files


def looks_like_crate_file(path: str) -> bool:
    """Index files, including the mixed-case paths the Rust Alexandrie wrote; not README.md etc."""
    return index_path(path.rsplit("/", 1)[-1]).lower() == path.lower()


def find_differences(index: GitIndex) -> tuple[Differences, int]:
    """Compare blob ids, so no file content is read from git."""
    expected = expected_files(index)
    actual = index.head_files()
    found: Differences = {}
    for path, data in expected.items():
        if actual.get(path) != str(pygit2.hash(data)):
            found[path] = (data, actual.get(path))
    for path, blob in actual.items():
        if path not in expected and looks_like_crate_file(path):
            found[path] = (None, blob)
    return found, len(expected)


def repair(index: GitIndex, grace: float = 2.0) -> RepairReport:
    """Fix what differs in two looks ``grace`` seconds apart (a change in flight fixes itself meanwhile).

    The second look runs inside a database write transaction, taken before the git lock like
    every publish does, so nothing can change between the look and the repair commit.
    """
    first, checked = find_differences(index)
    report = RepairReport(checked=checked)
    if first:
        time.sleep(grace)
        with write_transaction():
            second, report.checked = find_differences(index)
            confirmed = {path: found for path, found in second.items() if first.get(path) == found}
            if confirmed:
                changes = {path: data for path, (data, _) in confirmed.items()}
                commit = index.commit_files(changes, f"Repair {len(changes)} index files from the database")
                report.commit = str(commit) if commit else None
                report.repaired = {path: _what(data, blob) for path, (data, blob) in confirmed.items()}
    report.worktree_refreshed = index.refresh_worktree_if_stale()
    if report.repaired:
        log.warning("the git index differed from the database; %s", report.summary())
    return report


def _what(data: bytes | None, blob: str | None) -> str:
    if data is None:
        return "removed"
    return "added" if blob is None else "updated"
