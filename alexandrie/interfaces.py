"""Contracts for backend plugins (crate storage, additional index formats) and the machine paths plugins serve.

They follow the Rust Alexandrie's ``Store`` and ``Indexer`` traits, reshaped for a
registry whose database is the source of truth: an index backend is handed the
complete, already-rendered file of one crate and only has to persist it.
"""

import abc
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any


@dataclass(frozen=True)
class BackendSpec:
    """What a plugin returns from ``alexandrie_storage_backends``/``alexandrie_index_backends``.

    ``factory(settings, app)`` builds the backend from its config table (``[storage]``
    or ``[index]``, as a dict with paths already resolved) and the Flask app.
    """

    name: str
    factory: Callable[[dict, Any], Any]
    description: str = ""
    aliases: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class MachinePath:
    """A URL prefix a plugin serves to programs (git, cargo), not browsers; see ``alexandrie_machine_paths``.

    Under it errors are JSON and CSRF does not apply; on a private registry the gate asks for an API
    token instead of a browser sign-in. ``read_only`` paths only ever read, whatever the method (git
    fetches with POST), so every request needs the ``read`` scope. ``challenge`` is an extra
    ``WWW-Authenticate`` value sent with a 401 (git offers a password only after ``Basic``).
    """

    prefix: str
    read_only: bool = False
    challenge: str | None = None


class Storage(abc.ABC):
    """Where ``.crate`` files live. The bytes read back must be exactly the bytes stored."""

    @abc.abstractmethod
    def store_crate(self, name: str, version: str, data: bytes) -> None:
        """Store the file atomically: a reader sees all of it or none of it; replaces any old one."""

    @abc.abstractmethod
    def open_crate(self, name: str, version: str) -> IO[bytes]:
        """Open the file for reading; raises ``FileNotFoundError`` when it is absent."""

    @abc.abstractmethod
    def delete_crate(self, name: str, version: str) -> None:
        """Remove the file; does nothing when it is absent."""

    @abc.abstractmethod
    def crate_exists(self, name: str, version: str) -> bool:
        """Whether a file is stored for this version."""

    def read_crate(self, name: str, version: str) -> bytes:
        """The whole file; raises ``FileNotFoundError`` when it is absent."""
        with self.open_crate(name, version) as stream:
            return stream.read()

    def iter_crates(self) -> Iterator[tuple[str, str]]:
        """Every stored (name, version); backends that cannot list return nothing."""
        return iter(())

    def download_url(self, name: str, version: str) -> str | None:
        """A URL cargo may fetch the file from directly (presigned), or None to stream it."""
        return None

    def check(self) -> None:
        """Raise with a readable reason when the storage cannot be used right now."""


class IndexBackend(abc.ABC):
    """An additional index format kept in step with the database (the sparse index is built in).

    Calls happen inside the database transaction of the change: if one raises, the
    change is rolled back and the user sees the error.
    """

    @abc.abstractmethod
    def update_crate(self, name: str, content: str, message: str) -> None:
        """Replace the index file of crate ``name`` with ``content`` (empty: delete it)."""

    @abc.abstractmethod
    def rebuild(self, files: Iterable[tuple[str, str]], message: str) -> None:
        """Make the index hold exactly ``files`` (crate name, content) and nothing else."""

    def check(self) -> None:
        """Raise with a readable reason when the index cannot be written right now."""

    def close(self) -> None:
        """Release resources (threads, locks) when the app shuts down."""
