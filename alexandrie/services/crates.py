"""Changes to published crates: yank and unyank, owners, and the administrator's transfer, deletion and
read restriction. Each is one change: the crate row locked, the index refreshed inside the transaction,
the event audited with it and told to plugins after the commit.

Deletion policy (docs/private-registry.md): yanking is the normal way to retire a version. An admin
may delete a version or a whole crate, but not while another crate on this registry depends on it,
unless ``force`` is given; the files go from storage and the index.
"""

import logging

from ..auth import CHANGE_OWNERS, YANK, Identity
from ..db import locked
from ..errors import BadRequest, Conflict, NotFound
from ..events import (
    CrateDeletedEvent,
    CrateTransferredEvent,
    OwnersChangedEvent,
    ReadAccessChangedEvent,
    UnyankEvent,
    VersionDeletedEvent,
    YankEvent,
)
from ..models import (
    Crate,
    CrateCategory,
    CrateGroupOwner,
    CrateKeyword,
    CrateOwner,
    CrateReader,
    CrateRestriction,
    Dependency,
    User,
    UserGroup,
    Version,
    VersionDownload,
    login_key,
)
from ..registry import registry
from ..rules.names import canonical_name
from .changes import change
from .groups import find_group
from .index_files import refresh_crate, remove_crate
from .permissions import require_permission
from .stored_files import forget_unreferenced
from .users import find_user
from .visibility import is_restricted, readers_of

log = logging.getLogger(__name__)


def find_crate(name: str, *, lock: bool = False) -> Crate:
    """The crate called ``name`` (any case, ``-`` or ``_``); ``lock`` holds its row until the transaction ends."""
    query = Crate.select().where(Crate.canonical_name == canonical_name(name))
    crate = (locked(query) if lock else query).first()
    if crate is None:
        raise NotFound(f"crate `{name}` does not exist on this registry")
    return crate


def find_version(crate: Crate, num: str) -> Version:
    version = Version.get_or_none((Version.crate == crate) & (Version.num == num))
    if version is None:
        raise NotFound(f"crate `{crate.name}` has no version {num}")
    return version


# How cargo names a group owner (``cargo owner --add group:NAME``), as crates.io names teams ``github:org:team``.
GROUP_OWNER_PREFIX = "group:"


def version_nums(crate: Crate) -> list[str]:
    """The crate's version numbers, in publishing order."""
    return [v.num for v in Version.select(Version.num).where(Version.crate == crate).order_by(Version.id)]


def owners_of(crate: Crate) -> list[User]:
    """The user owners, who may also change the owners."""
    return list(User.select().join(CrateOwner).where(CrateOwner.crate == crate).order_by(CrateOwner.id))


def group_owners_of(crate: Crate) -> list[UserGroup]:
    """The groups owning the crate, whose members may publish and yank it."""
    return list(UserGroup.select().join(CrateGroupOwner).where(CrateGroupOwner.crate == crate)
                .order_by(CrateGroupOwner.id))


# --- Owners' changes ---------------------------------------------------------------------------------------


def set_yanked(identity: Identity, name: str, num: str, yanked: bool) -> None:
    """Yank or unyank; a no-op when the version is already in that state."""
    with change() as current:
        crate = find_crate(name, lock=True)
        require_permission(identity, YANK, crate)
        version = find_version(crate, num)
        if version.yanked == yanked:
            return
        Version.update(yanked=yanked).where(Version.id == version.id).execute()
        refresh_crate(crate, f"{'Yank' if yanked else 'Unyank'} {crate.name} {num}")
        event = YankEvent if yanked else UnyankEvent
        current.record(event(actor=identity.login, crate=crate.name, version=num))


def _split_owner_names(names: list[str]) -> tuple[list[str], list[str]]:
    """(user logins, group names) from what cargo sends: ``login`` or ``group:NAME``."""
    if not isinstance(names, list) or not names or not all(isinstance(x, str) for x in names):
        raise BadRequest('send the owners as {"users": ["login", "group:NAME", ...]}')
    if any("\x00" in name for name in names):
        raise BadRequest("a login cannot contain a NUL character")
    groups = [name.removeprefix(GROUP_OWNER_PREFIX) for name in names if name.startswith(GROUP_OWNER_PREFIX)]
    if not all(groups):
        raise BadRequest(f"name the group after `{GROUP_OWNER_PREFIX}`, as in `cargo owner --add group:NAME CRATE`")
    return [name for name in names if not name.startswith(GROUP_OWNER_PREFIX)], groups


def _groups_named(names: list[str]) -> list[UserGroup]:
    groups = {g.name: g for g in UserGroup.select().where(UserGroup.name.in_(names))} if names else {}
    unknown = [name for name in names if name not in groups]
    if unknown:
        raise BadRequest(f"no group named {', '.join(f'`{x}`' for x in unknown)} on this registry; an administrator "
                         f"creates one with `alexandrie group add {unknown[0]} LOGIN...`")
    return list({name: groups[name] for name in names}.values())


def _users_named(logins: list[str]) -> list[User]:
    if not logins:
        return []
    users = {u.login_key: u for u in User.select().where(User.login_key.in_([login_key(x) for x in logins]))}
    unknown = [login for login in logins if login_key(login) not in users]
    if unknown:
        raise BadRequest(f"no user named {', '.join(f'`{x}`' for x in unknown)} on this registry; "
                         "they need an account first")
    return list({login_key(x): users[login_key(x)] for x in logins}.values())


def can_act(user: User) -> bool:
    """Only an owner who can publish counts: a disabled or read-only account keeps no crate alive."""
    return user.is_active_account and not user.is_read_only


def _refuse_owners_who_cannot_act(users: list[User]) -> None:
    unable = [u.login for u in users if not can_act(u)]
    if unable:
        raise BadRequest(f"{', '.join(f'`{x}`' for x in unable)} cannot own crates: the account is disabled or "
                         "read-only; an administrator can enable it or lift read-only first")


def add_owners(identity: Identity, name: str, names: list[str]) -> str:
    """Add users (``login``) and groups (``group:NAME``) as owners; only a user owner may."""
    with change() as current:
        crate = find_crate(name, lock=True)
        require_permission(identity, CHANGE_OWNERS, crate)
        logins, group_names = _split_owner_names(names)
        present = {u.id for u in owners_of(crate)}
        added = [u for u in _users_named(logins) if u.id not in present]
        _refuse_owners_who_cannot_act(added)
        present_groups = {g.id for g in group_owners_of(crate)}
        added_groups = [g for g in _groups_named(group_names) if g.id not in present_groups]
        for user in added:
            CrateOwner.create(crate=crate, user=user)
        for group in added_groups:
            CrateGroupOwner.create(crate=crate, group=group)
        if added or added_groups:
            current.record(OwnersChangedEvent(actor=identity.login, crate=crate.name,
                                              added=tuple(u.login for u in added),
                                              added_groups=tuple(g.name for g in added_groups)))
    who = ", ".join(f"`{u}`" for u in names)
    return f"{who} {'is' if len(names) == 1 else 'are'} now an owner of crate `{crate.name}`"


def remove_owners(identity: Identity, name: str, names: list[str]) -> str:
    """Remove owners. A crate keeps at least one user owner who can act, even while groups own it: only user
    owners may change the owners, so a crate left to groups alone could never gain or lose an owner again."""
    with change() as current:
        crate = find_crate(name, lock=True)
        require_permission(identity, CHANGE_OWNERS, crate)
        logins, group_names = _split_owner_names(names)
        leaving = {u.id for u in _users_named(logins)}
        leaving_groups = {g.id for g in _groups_named(group_names)}
        owners = owners_of(crate)
        if not any(can_act(u) for u in owners if u.id not in leaving):
            raise BadRequest(f"crate `{crate.name}` must keep at least one owner who can publish and is a user (an "
                             "enabled account that is not read-only; groups do not count, since only user owners "
                             "may change the owners); add the new owner first")
        removed = [u for u in owners if u.id in leaving]
        removed_groups = [g for g in group_owners_of(crate) if g.id in leaving_groups]
        CrateOwner.delete().where((CrateOwner.crate == crate) & CrateOwner.user.in_(list(leaving))).execute()
        CrateGroupOwner.delete().where((CrateGroupOwner.crate == crate)
                                       & CrateGroupOwner.group.in_(list(leaving_groups))).execute()
        if removed or removed_groups:
            current.record(OwnersChangedEvent(actor=identity.login, crate=crate.name,
                                              removed=tuple(u.login for u in removed),
                                              removed_groups=tuple(g.name for g in removed_groups)))
    return f"removed {', '.join(f'`{u}`' for u in names)} from the owners of crate `{crate.name}`"


# --- Administrators' changes ------------------------------------------------------------------------------


def transfer_ownership(crate_name: str, to_login: str, actor: str | None) -> list[str]:
    """Make ``to_login`` the only owner, groups removed too; returns the previous owners (groups as ``group:NAME``)."""
    with change() as current:
        target = find_user(to_login)
        _refuse_owners_who_cannot_act([target])
        crate = find_crate(crate_name, lock=True)
        previous = [u.login for u in owners_of(crate)] + [GROUP_OWNER_PREFIX + g.name for g in group_owners_of(crate)]
        CrateOwner.delete().where(CrateOwner.crate == crate).execute()
        CrateGroupOwner.delete().where(CrateGroupOwner.crate == crate).execute()
        CrateOwner.create(crate=crate, user=target)
        current.record(CrateTransferredEvent(actor=actor, crate=crate.name, previous_owners=tuple(previous),
                                             owner=to_login))
    return previous


def change_read_access(crate_name: str, actor: str | None, *, restricted: bool | None = None,
                       add_readers=(), remove_readers=()) -> tuple[bool, list[str]]:
    """Restrict reading or open it again, and add or remove named readers (``login`` or ``@group``), as one
    change; the index backend (one copy for every reader) follows. Returns the new state and readers."""
    with change() as current:
        crate = find_crate(crate_name, lock=True)
        if restricted is not None and restricted != is_restricted(crate):
            _set_restricted(crate, restricted)
        for reader in add_readers:
            _add_reader(crate, **_reader(reader))
        for reader in remove_readers:
            _remove_reader(crate, **_reader(reader))
        state, readers = is_restricted(crate), readers_of(crate)
        current.record(ReadAccessChangedEvent(actor=actor, crate=crate.name, restricted=state, readers=tuple(readers)))
    return state, readers


def _set_restricted(crate: Crate, restricted: bool) -> None:
    if restricted:
        CrateRestriction.create(crate=crate)
    else:
        CrateRestriction.delete().where(CrateRestriction.crate == crate).execute()
    refresh_crate(crate, _shared_index_message(crate, restricted))


def _shared_index_message(crate: Crate, restricted: bool) -> str:
    """What the shared index's history says: the words of a deletion or a publish, so its readers cannot
    tell a restriction from a deletion, nor an opened crate from one published in one go."""
    if restricted:
        return f"Delete {crate.name}"
    return f"Publish {crate.name} {', '.join(version_nums(crate))}"


def _reader(name: str) -> dict:
    """``login`` names a user, ``@name`` a group."""
    return {"group": find_group(name[1:])} if name.startswith("@") else {"user": find_user(name)}


def _reader_links(crate: Crate, *, user=None, group=None):
    return CrateReader.select().where(
        (CrateReader.crate == crate)
        & (CrateReader.user == user if user is not None else CrateReader.user.is_null())
        & (CrateReader.group == group if group is not None else CrateReader.group.is_null()))


def _add_reader(crate: Crate, *, user=None, group=None) -> None:
    if not _reader_links(crate, user=user, group=group).exists():
        CrateReader.create(crate=crate, user=user, group=group)


def _remove_reader(crate: Crate, *, user=None, group=None) -> None:
    query = CrateReader.delete().where(CrateReader.crate == crate)
    query = query.where(CrateReader.user == user) if user is not None else query.where(CrateReader.group == group)
    query.execute()


def dependents_of(crate: Crate) -> list[str]:
    """Names of other crates with a version that depends on ``crate`` (on this registry)."""
    rows = (Crate.select(Crate.name).join(Version).join(Dependency)
            .where((Dependency.crate_name == canonical_name(crate.name)) & Dependency.registry.is_null()
                   & (Crate.id != crate.id)).distinct())
    return sorted(row.name for row in rows)


def _refuse_if_depended_on(crate: Crate, force: bool) -> None:
    dependents = dependents_of(crate)
    if dependents and not force:
        raise Conflict(f"crates {', '.join(f'`{d}`' for d in dependents)} depend on `{crate.name}`; yank "
                       "instead, or pass --force to delete anyway (their builds will break)")


def delete_version(crate_name: str, num: str, actor: str | None, force: bool = False) -> None:
    """Delete one version; deleting the last one deletes the crate."""
    _flush_download_counts()
    with change() as current:
        crate = find_crate(crate_name, lock=True)
        version = find_version(crate, num)
        last = Version.select().where(Version.crate == crate).count() == 1
        if not last:
            _refuse_if_depended_on(crate, force)
            _delete_versions([version.id])
            refresh_crate(crate, f"Delete {crate.name} {num}")
            current.record(VersionDeletedEvent(actor=actor, crate=crate.name, version=num))
    if last:
        delete_crate(crate_name, actor, force)
    else:
        _forget_files(crate.name, [num])


def delete_crate(crate_name: str, actor: str | None, force: bool = False) -> list[str]:
    """Delete a crate with every version, its index file and its stored files."""
    _flush_download_counts()
    with change() as current:
        crate = find_crate(crate_name, lock=True)
        _refuse_if_depended_on(crate, force)
        versions = list(Version.select(Version.id, Version.num).where(Version.crate == crate))
        _delete_versions([v.id for v in versions])
        remove_crate(crate, f"Delete {crate.name}")
        for model in (CrateOwner, CrateGroupOwner, CrateKeyword, CrateCategory, CrateRestriction, CrateReader):
            model.delete().where(model.crate == crate).execute()
        Crate.delete().where(Crate.id == crate.id).execute()
        nums = [v.num for v in versions]
        current.record(CrateDeletedEvent(actor=actor, crate=crate.name, versions=tuple(nums)))
    _forget_files(crate.name, nums)
    return nums


def _flush_download_counts() -> None:
    """Pending counts of a version about to be deleted would fail to save later."""
    registry().downloads.flush()


def _delete_versions(ids: list[int]) -> None:
    # Explicit child deletes: every database, with or without ON DELETE CASCADE in its schema.
    # The ids are read first: MySQL refuses a DELETE whose subquery reads the same table.
    Dependency.delete().where(Dependency.version.in_(ids)).execute()
    VersionDownload.delete().where(VersionDownload.version.in_(ids)).execute()
    Version.delete().where(Version.id.in_(ids)).execute()


def _forget_files(name: str, nums: list[str]) -> None:
    """After the commit, and only the files no version references by then: a re-publish of the same version may
    have stored its file since (a file left behind costs disk space, a file deleted too early loses a version)."""
    forget_unreferenced(name, nums, after="deleting them")
