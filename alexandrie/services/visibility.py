"""Who may read which crate: a read-restricted crate is absent, not forbidden, for everyone but its
owners (users, and the members of owning groups), its named readers (users or groups) and admins. The
index, the API, search and the pages all filter through ``readable_condition``."""

import peewee
from peewee import fn

from ..auth import Identity
from ..errors import NotFound
from ..models import (
    Category,
    Crate,
    CrateCategory,
    CrateGroupOwner,
    CrateKeyword,
    CrateOwner,
    CrateReader,
    CrateRestriction,
    Keyword,
    User,
    UserGroup,
    UserGroupMember,
)
from ..rules.names import canonical_name


def readable_condition(user: User | None):
    """A condition on ``Crate`` rows: the crates ``user`` (None: anonymous) may see."""
    if user is not None and user.is_admin:
        return peewee.Value(1) == 1
    unrestricted = CrateRestriction.absent()
    if user is None:
        return unrestricted
    owner = fn.EXISTS(CrateOwner.select().where((CrateOwner.crate == Crate.id) & (CrateOwner.user == user.id)))
    groups = UserGroupMember.select(UserGroupMember.group).where(UserGroupMember.user == user.id)
    reader = fn.EXISTS(CrateReader.select().where(
        (CrateReader.crate == Crate.id) & ((CrateReader.user == user.id) | CrateReader.group.in_(groups))))
    group_owner = fn.EXISTS(CrateGroupOwner.select().where(
        (CrateGroupOwner.crate == Crate.id) & CrateGroupOwner.group.in_(groups)))
    return unrestricted | owner | reader | group_owner


def reader_key(user: User | None) -> tuple:
    """What the shape of ``readable_condition(user)`` depends on, for caching its SQL."""
    return (user.id if user else None, bool(user and user.is_admin))


def visible_crates(reader: User | None):
    """``Crate.select()`` limited to what ``reader`` may see."""
    return Crate.select().where(readable_condition(reader))


def can_read(crate: Crate, user: User | None) -> bool:
    return Crate.select().where((Crate.id == crate.id) & readable_condition(user)).exists()


def find_readable_crate(name: str, reader: User | None) -> Crate:
    """The crate, or the same 404 as for a crate that does not exist, after the same one query: a
    restricted crate takes no longer to refuse than a missing one."""
    crate = Crate.select().where((Crate.canonical_name == canonical_name(name)) & readable_condition(reader)).first()
    if crate is None:
        raise NotFound(f"crate `{name}` does not exist on this registry")
    return crate


def require_visible(identity: Identity, name: str) -> None:
    """For write calls: a crate ``identity`` may not read is reported as absent, as a missing one is."""
    find_readable_crate(name, identity.user)


def is_restricted(crate: Crate) -> bool:
    return CrateRestriction.select().where(CrateRestriction.crate == crate).exists()


def is_shared(crate: Crate) -> bool:
    """Whether everyone who may use the registry may read the crate (what index backends may hold)."""
    return Crate.select().where((Crate.id == crate.id) & CrateRestriction.absent()).exists()


def readers_of(crate: Crate) -> list[str]:
    """Named readers as ``login`` or ``@group``."""
    rows = CrateReader.select(CrateReader, User, UserGroup).join(User, peewee.JOIN.LEFT_OUTER).switch(CrateReader) \
        .join(UserGroup, peewee.JOIN.LEFT_OUTER).where(CrateReader.crate == crate).order_by(CrateReader.id)
    return [row.user.login if row.user_id else f"@{row.group.name}" for row in rows]


def visible_keyword(word: str, reader: User | None) -> Keyword | None:
    """The keyword, if a crate ``reader`` may see uses it: a word only restricted crates use does not exist."""
    return (Keyword.select().join(CrateKeyword).join(Crate)
            .where((Keyword.name == word) & readable_condition(reader)).first())


def visible_categories(reader: User | None):
    """Categories with a crate ``reader`` may see, or with no crate at all (an empty one reveals nothing)."""
    used = CrateCategory.select(CrateCategory.category).join(Crate).where(readable_condition(reader))
    unused = CrateCategory.select(CrateCategory.category)
    return Category.select().where(Category.id.in_(used) | Category.id.not_in(unused))
