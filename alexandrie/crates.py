"""Lookups and owner actions on published crates: yank, unyank, owners."""

from .auth import Identity, require_permission
from .db import locked, write_transaction
from .errors import BadRequest, NotFound
from .events import OwnersChangedEvent, UnyankEvent, YankEvent
from .index_files import refresh_crate
from .models import Crate, CrateOwner, User, Version
from .naming import canonical_name
from .notify import fire_event


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


def set_yanked(identity: Identity, name: str, num: str, yanked: bool) -> None:
    """Yank or unyank; a no-op when the version is already in that state."""
    with write_transaction():
        crate = find_crate(name, lock=True)
        require_permission(identity, "yank", crate)
        version = find_version(crate, num)
        if version.yanked == yanked:
            return
        Version.update(yanked=yanked).where(Version.id == version.id).execute()
        refresh_crate(crate, f"{'Yank' if yanked else 'Unyank'} {crate.name} {num}")
    event = YankEvent if yanked else UnyankEvent
    fire_event(event(crate=crate.name, actor=identity.login, version=num))


def owners_of(crate: Crate) -> list[User]:
    return list(User.select().join(CrateOwner).where(CrateOwner.crate == crate).order_by(CrateOwner.id))


def _users_named(logins: list[str]) -> list[User]:
    if not isinstance(logins, list) or not logins or not all(isinstance(x, str) for x in logins):
        raise BadRequest('send the owners as {"users": ["login", ...]}')
    if any("\x00" in login for login in logins):
        raise BadRequest("a login cannot contain a NUL character")
    users = {u.login: u for u in User.select().where(User.login.in_(logins))}
    unknown = [login for login in logins if login not in users]
    if unknown:
        raise BadRequest(f"no user named {', '.join(f'`{x}`' for x in unknown)} on this registry; "
                         "they need an account first")
    return [users[login] for login in dict.fromkeys(logins)]


def add_owners(identity: Identity, name: str, logins: list[str]) -> str:
    with write_transaction():
        crate = find_crate(name, lock=True)
        require_permission(identity, "change-owners", crate)
        current = {u.id for u in owners_of(crate)}
        added = [u for u in _users_named(logins) if u.id not in current]
        for user in added:
            CrateOwner.create(crate=crate, user=user)
    if added:
        fire_event(OwnersChangedEvent(crate=crate.name, actor=identity.login, added=tuple(u.login for u in added)))
    who = ", ".join(f"`{u}`" for u in logins)
    return f"{who} {'is' if len(logins) == 1 else 'are'} now an owner of crate `{crate.name}`"


def remove_owners(identity: Identity, name: str, logins: list[str]) -> str:
    with write_transaction():
        crate = find_crate(name, lock=True)
        require_permission(identity, "change-owners", crate)
        leaving = {u.id for u in _users_named(logins)}
        owners = owners_of(crate)
        if all(u.id in leaving for u in owners):
            raise BadRequest(f"crate `{crate.name}` must keep at least one owner; add the new owner first")
        removed = [u for u in owners if u.id in leaving]
        CrateOwner.delete().where((CrateOwner.crate == crate) & CrateOwner.user.in_(list(leaving))).execute()
    if removed:
        fire_event(OwnersChangedEvent(crate=crate.name, actor=identity.login, removed=tuple(u.login for u in removed)))
    return f"removed {', '.join(f'`{u}`' for u in logins)} from the owners of crate `{crate.name}`"
