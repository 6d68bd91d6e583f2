"""What authentication and permission plugins speak: who is acting (``Identity``), from where
(``Origin``), and the names of the actions and token scopes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models import ApiToken, User

# Actions asked of ``alexandrie_permission_allowed``; each is also a token scope.
PUBLISH_NEW = "publish-new"
PUBLISH_UPDATE = "publish-update"
YANK = "yank"  # also unyank
CHANGE_OWNERS = "change-owners"
WRITE_ACTIONS = (PUBLISH_NEW, PUBLISH_UPDATE, YANK, CHANGE_OWNERS)
# The scope a token needs to read a private registry (index, downloads, search).
READ = "read"
TOKEN_SCOPES = (READ, *WRITE_ACTIONS)


@dataclass(frozen=True)
class Identity:
    """Who is making a request: a user, and the API token used, if any."""

    user: User
    token: ApiToken | None = None

    @property
    def login(self) -> str:
        return self.user.login


@dataclass(frozen=True)
class Origin:
    """Where a change came from, for the audit log: the API token used and the client's address."""

    token_id: int | None = None
    address: str | None = None
