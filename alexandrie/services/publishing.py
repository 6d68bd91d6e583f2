"""The one write path for versions. ``cargo publish``, both imports and everything else that stores a
version go through ``store_versions``: READMEs rendered before the transaction; the crate row locked,
the rows, the files and the index written inside it; one ``PublishEvent`` per version, audited inside
the transaction and told to plugins after the commit."""

import hashlib
import logging

import peewee

from ..auth import PUBLISH_NEW, PUBLISH_UPDATE, Identity
from ..config import GeneralSettings
from ..db import locked
from ..errors import BadRequest, Conflict, PayloadTooLarge
from ..events import PublishEvent
from ..models import (
    Category,
    Crate,
    CrateCategory,
    CrateKeyword,
    CrateOwner,
    Dependency,
    Keyword,
    User,
    Version,
    utcnow,
)
from ..registry import registry
from ..rules.metadata import CATEGORY, NewVersion, read_metadata
from ..rules.names import canonical_name
from ..rules.tarball import inspect_crate
from ..rules.upload import parse_upload
from ..rules.versions import without_build
from .changes import change
from .index_files import refresh_crate
from .permissions import require_permission
from .readmes import render_readme

log = logging.getLogger(__name__)


def prepare(body: bytes, limits: GeneralSettings) -> NewVersion:
    """Everything about a publish that can be checked without the database."""
    metadata, tarball = parse_upload(body, limits.max_metadata_size)
    if len(tarball) > limits.max_crate_size:
        raise PayloadTooLarge(f"the .crate file is {len(tarball)} bytes; this registry accepts crates up to "
                              f"{limits.max_crate_size} bytes ([general] max_crate_size)")
    new = read_metadata(metadata)
    inspect_crate(tarball, new.name, new.vers, limits.max_unpacked_size)
    new.tarball, new.cksum = tarball, hashlib.sha256(tarball).hexdigest()
    return new


def publish(identity: Identity, new: NewVersion) -> dict:
    """``cargo publish``: vet, then store. Returns cargo's warnings."""
    _run_validators(identity, new)
    warnings = {"invalid_categories": [c for c in new.categories if not CATEGORY.fullmatch(c)],
                "invalid_badges": [], "other": []}
    new.categories = [c for c in new.categories if CATEGORY.fullmatch(c)]
    store_versions([new], identity=identity)
    return warnings


def _run_validators(identity: Identity, new: NewVersion) -> None:
    problems = []
    for result in registry().pm.hook.alexandrie_validate_publish(new_version=new, identity=identity):
        problems.extend([result] if isinstance(result, str) else result or [])
    if problems:
        raise BadRequest("; ".join(problems))


def store_versions(versions: list[NewVersion], *, identity: Identity | None = None, owner: User | None = None,
                   actor: str | None = None) -> bool:
    """Store checked versions of one crate as one change; True when the crate is new.

    With ``identity`` this is a publish: permissions are asked and local dependencies must exist.
    Without, an import by ``actor``, whose new crate is given to ``owner``.
    """
    readmes = [render_readme(new.readme, new.readme_file, new.repository) for new in versions]
    try:
        return _store(versions, readmes, identity, owner, actor)
    except peewee.IntegrityError:
        # Another writer created the same crate name between our look and our insert; a retry sees it.
        return _store(versions, readmes, identity, owner, actor)


def _store(versions: list[NewVersion], readmes: list, identity: Identity | None, owner: User | None,
           actor: str | None) -> bool:
    storage, stored = registry().storage, []
    name = versions[0].name
    try:
        with change() as current:
            crate, is_new = _crate_for(name, identity, owner)
            for new, readme_html in zip(versions, readmes):
                _insert_version(crate, new, readme_html, identity)
            _describe_crate(crate, versions[-1])
            for new in versions:
                storage.store_crate(crate.name, new.vers, new.tarball)
                stored.append(new.vers)
            refresh_crate(crate, f"Publish {crate.name} {', '.join(stored)}")
            who = identity.login if identity else actor
            for position, new in enumerate(versions):
                current.record(PublishEvent(actor=who, crate=crate.name, version=new.vers, cksum=new.cksum,
                                            new_crate=is_new and position == 0))
    except BaseException:
        _forget_files(storage, name, stored)
        raise
    log.info("published %s %s by %s", crate.name, ", ".join(stored), who or "import")
    return is_new


def _forget_files(storage, name: str, nums: list[str]) -> None:
    for num in nums:
        try:
            storage.delete_crate(name, num)
        except Exception:
            log.exception("could not remove %s %s from storage after a failed publish", name, num)


def _crate_for(name: str, identity: Identity | None, owner: User | None) -> tuple[Crate, bool]:
    crate = locked(Crate.select().where(Crate.canonical_name == canonical_name(name))).first()
    if crate is None:
        if identity is not None:
            require_permission(identity, PUBLISH_NEW, None)
        crate = Crate.create(name=name, canonical_name=canonical_name(name))
        owner = identity.user if identity else owner
        if owner is not None:
            CrateOwner.create(crate=crate, user=owner)
        return crate, True
    if identity is not None:
        require_permission(identity, PUBLISH_UPDATE, crate)
    if crate.name != name:
        raise BadRequest(f"crate `{name}` is published here as `{crate.name}`; "
                         f"use `name = \"{crate.name}\"` in Cargo.toml")
    return crate, False


def _insert_version(crate: Crate, new: NewVersion, readme_html: str | None, identity: Identity | None) -> None:
    _refuse_duplicate(crate, new)
    if identity is not None:
        _refuse_missing_local_deps(new)
    version = Version.create(
        crate=crate, num=new.vers, num_unique=without_build(new.vers), cksum=new.cksum, deps=new.deps,
        features=new.features, links=new.links, rust_version=new.rust_version, yanked=new.yanked,
        published_at=new.published_at or utcnow(), published_by=identity.user if identity else None,
        size=len(new.tarball), description=new.description, license=new.license, license_file=new.license_file,
        homepage=new.homepage, documentation=new.documentation, repository=new.repository, authors=new.authors,
        keywords=new.keywords, categories=new.categories, badges=new.badges, readme=new.readme,
        readme_file=new.readme_file, readme_html=readme_html)
    _insert_dependencies(version, new.deps)


def _refuse_duplicate(crate: Crate, new: NewVersion) -> None:
    existing = Version.get_or_none((Version.crate == crate) & (Version.num_unique == without_build(new.vers)))
    if existing is None:
        return
    if existing.num == new.vers:
        raise Conflict(f"crate `{crate.name}` version {new.vers} is already published; "
                       "bump the version in Cargo.toml and publish again")
    raise Conflict(f"version {new.vers} differs from the published {existing.num} only by build metadata, "
                   "which cargo ignores; bump the version instead")


def _refuse_missing_local_deps(new: NewVersion) -> None:
    local = {canonical_name(d["package"] or d["name"]): d for d in new.deps if d["registry"] is None}
    if not local:
        return
    known = {c.canonical_name for c in Crate.select(Crate.canonical_name).where(Crate.canonical_name.in_(list(local)))}
    missing = sorted(set(local) - known - {canonical_name(new.name)})
    if missing:
        names = ", ".join(f"`{local[m]['package'] or local[m]['name']}`" for m in missing)
        raise BadRequest(f"dependencies {names} are not published on this registry; publish them first, "
                         "or point them at the registry they come from")


def _insert_dependencies(version: Version, deps: list[dict]) -> None:
    """Index-form dependencies; lines another registry wrote may leave out keys that have defaults."""
    rows = [{"version": version, "crate_name": canonical_name(d.get("package") or d["name"]),
             "req": d.get("req", "*"), "kind": d.get("kind") or "normal", "optional": bool(d.get("optional")),
             "target": d.get("target"), "registry": d.get("registry")} for d in deps]
    if rows:
        Dependency.insert_many(rows).execute()


def _describe_crate(crate: Crate, latest: NewVersion) -> None:
    """The crate's description, links, keywords and categories follow its latest stored version."""
    Crate.update(description=latest.description, homepage=latest.homepage, documentation=latest.documentation,
                 repository=latest.repository, license=latest.license, updated_at=utcnow()
                 ).where(Crate.id == crate.id).execute()
    CrateKeyword.delete().where(CrateKeyword.crate == crate).execute()
    for word in dict.fromkeys(latest.keywords):
        keyword = Keyword.get_or_none(Keyword.name == word) or Keyword.create(name=word)
        CrateKeyword.create(crate=crate, keyword=keyword)
    CrateCategory.delete().where(CrateCategory.crate == crate).execute()
    for slug in dict.fromkeys(latest.categories):
        category = Category.get_or_none(Category.slug == slug) or Category.create(slug=slug, name=slug)
        CrateCategory.create(crate=crate, category=category)
