"""Administrator actions shared by the CLI and the admin pages; each one is written to the audit log.

Deletion policy (docs/private-registry.md): yanking is the normal way to retire a version.
An admin may delete a version or a whole crate, but not while another crate on this
registry depends on it, unless ``force`` is given; the files go from storage and the
index, and the deletion is audited.
"""

import logging

from flask import current_app

from .audit import record
from .auth import hash_password
from .accounts import MIN_PASSWORD, find_user
from .crates import find_crate, find_version, owners_of
from .db import write_transaction
from .errors import BadRequest, Conflict
from .index_files import refresh_crate
from .models import (Crate, CrateCategory, CrateKeyword, CrateOwner, CrateReader, CrateRestriction, Dependency,
                     IndexFile, User, Version, VersionDownload)
from .naming import canonical_name

log = logging.getLogger(__name__)


def set_active(login: str, active: bool, actor: str | None) -> User:
    user = find_user(login)
    User.update(is_active_account=active).where(User.id == user.id).execute()
    record("user-enable" if active else "user-disable", actor=actor, details={"user": login})
    return user


def set_roles(login: str, actor: str | None, *, admin: bool | None = None, read_only: bool | None = None) -> User:
    user = find_user(login)
    changes = {}
    if admin is not None and admin != user.is_admin:
        changes["is_admin"] = admin
    if read_only is not None and read_only != user.is_read_only:
        changes["is_read_only"] = read_only
    if changes:
        if changes.get("is_admin") is False and _last_admin(user):
            raise Conflict(f"`{login}` is the last active admin; make another admin first")
        User.update(**changes).where(User.id == user.id).execute()
        record("role-change", actor=actor, details={"user": login, **changes})
    return User.get_by_id(user.id)


def _last_admin(user: User) -> bool:
    others = User.select().where(User.is_admin & User.is_active_account & (User.id != user.id))
    return not others.exists()


def reset_password(login: str, password: str, actor: str | None) -> None:
    if len(password) < MIN_PASSWORD:
        raise BadRequest(f"the password must have at least {MIN_PASSWORD} characters")
    user = find_user(login)
    User.update(password_hash=hash_password(password)).where(User.id == user.id).execute()
    record("password-reset", actor=actor, details={"user": login})


def transfer_ownership(crate_name: str, to_login: str, actor: str | None) -> list[str]:
    """Make ``to_login`` the only owner; returns the previous owners."""
    target = find_user(to_login)
    with write_transaction():
        crate = find_crate(crate_name)
        previous = [u.login for u in owners_of(crate)]
        CrateOwner.delete().where(CrateOwner.crate == crate).execute()
        CrateOwner.create(crate=crate, user=target)
    record("ownership-transfer", actor=actor, crate=crate.name, details={"from": previous, "to": to_login})
    return previous


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
    crate = find_crate(crate_name)
    version = find_version(crate, num)
    if Version.select().where(Version.crate == crate).count() == 1:
        delete_crate(crate_name, actor, force)
        return
    _refuse_if_depended_on(crate, force)
    _flush_download_counts()
    with write_transaction():
        _delete_versions(Version.select(Version.id).where(Version.id == version.id))
        refresh_crate(crate, f"Delete {crate.name} {num}")
    _forget_files(crate.name, [num])
    record("version-delete", actor=actor, crate=crate.name, version=num)


def delete_crate(crate_name: str, actor: str | None, force: bool = False) -> list[str]:
    """Delete a crate with every version, its index file and its stored files."""
    crate = find_crate(crate_name)
    _refuse_if_depended_on(crate, force)
    nums = [v.num for v in Version.select(Version.num).where(Version.crate == crate)]
    _flush_download_counts()
    with write_transaction():
        _delete_versions(Version.select(Version.id).where(Version.crate == crate))
        for model in (IndexFile, CrateOwner, CrateKeyword, CrateCategory, CrateRestriction, CrateReader):
            model.delete().where(model.crate == crate).execute()
        Crate.delete().where(Crate.id == crate.id).execute()
        current_app.extensions["alexandrie"].index.update_crate(crate.name, "", f"Delete {crate.name}")
    _forget_files(crate.name, nums)
    record("crate-delete", actor=actor, crate=crate.name, details={"versions": nums})
    return nums


def _flush_download_counts() -> None:
    """Pending counts of a version about to be deleted would fail to save later."""
    current_app.extensions["alexandrie"].downloads.flush()


def _delete_versions(ids) -> None:
    # Explicit child deletes: every database, with or without ON DELETE CASCADE in its schema.
    # The ids are read first: MySQL refuses a DELETE whose subquery reads the same table.
    ids = [row.id for row in ids]
    Dependency.delete().where(Dependency.version.in_(ids)).execute()
    VersionDownload.delete().where(VersionDownload.version.in_(ids)).execute()
    Version.delete().where(Version.id.in_(ids)).execute()


def _forget_files(name: str, nums: list[str]) -> None:
    storage = current_app.extensions["alexandrie"].storage
    for num in nums:
        try:
            storage.delete_crate(name, num)
        except Exception:
            log.exception("could not remove %s %s from storage; delete the file by hand", name, num)
