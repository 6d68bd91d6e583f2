"""Files only this user may read: the registry's data (its database holds the session secret) is created
0700 (folders) and 0600 (files); what exists keeps the mode its operator gave it."""

import os
from pathlib import Path


def make_private_folder(path: Path) -> None:
    """Create ``path`` and its missing parents as 0700; existing folders keep their mode.

    Public as ``alexandrie.make_private_folder``, for plugins that keep data of their own.
    """
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)


def make_private_file(path: Path) -> None:
    """Create an empty ``path`` as 0600 unless it exists."""
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
